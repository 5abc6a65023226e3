"""The batched engine's learners by name, and the pieces they share.

``make_learner(name, env, runs, **settings)`` builds one of

    control:     sarsa, expected_sarsa, q_learning, double_q_learning, dyna_q, dyna_q_plus,
                 mc_es (Monte Carlo with exploring starts)
    prediction:  td0, mc (constant-alpha), n_step_td, offline_lambda_return, td_lambda,
                 true_online_td_lambda, batch_td, batch_mc

(``rlcore.tabular.batched_control`` and ``rlcore.tabular.batched_prediction``). Each keeps its
tables with a leading run axis and calls the pure functions of ``rlcore.returns`` and
``rlcore.tabular.policies``, the same ones the scalar agents call.

Shared here: per-run step sizes (a step size may be an (R,) array, so one call sweeps alpha
across runs), epsilon-greedy acting restricted to the actions a state offers (the
maximization-bias MDP offers two actions in A and ten in B), and ``EpisodeBuffer``, each run's
current episode for the methods that update at its end.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from rlcore.tabular.base import check_alpha, make_config
from rlcore.tabular.policies import (
    epsilon_greedy_action,
    epsilon_greedy_probs,
    greedy_probs,
)


def take_runs(x: np.ndarray, runs: np.ndarray) -> np.ndarray:
    """x[runs] as a new array. The engine passes increasing, distinct run indices, so when
    there are as many as runs in x they are every run, and a plain copy replaces the gather."""
    return x.copy() if len(runs) == len(x) else x[runs]


def put_runs(x: np.ndarray, runs: np.ndarray, values: Any) -> None:
    """x[runs] = values, a whole-array assignment when ``runs`` is every run (``take_runs``)."""
    if len(runs) == len(x):
        x[...] = values
    else:
        x[runs] = values


def per_run_alpha(alpha: Any, runs: int) -> np.ndarray:
    """A step size for each run, (R,): a scalar in (0, 1] or an (R,) array of them."""
    if np.ndim(alpha) == 0:
        return np.full(runs, check_alpha(alpha))
    a = np.asarray(alpha, dtype=np.float64)
    if a.shape != (runs,):
        raise ValueError(f"alpha must be a scalar or an array of shape ({runs},), got {a.shape}")
    if not np.all(np.isfinite(a) & (a > 0) & (a <= 1)):
        raise ValueError(f"every alpha must lie in (0, 1], got range [{a.min():g}, {a.max():g}]")
    return a


def check_alpha_setting(alpha: Any) -> None:
    """Config-time check of ``alpha`` (a scalar or a 1-D array of step sizes in (0, 1])."""
    if np.ndim(alpha) == 0:
        check_alpha(alpha)
    else:
        per_run_alpha(alpha, int(np.size(alpha)))


def masked_epsilon_greedy(
    q_s: np.ndarray, epsilon: float, mask_s: np.ndarray | None, rng: np.random.Generator
) -> np.ndarray:
    """Epsilon-greedy actions for a batch of states, (k, A) values -> (k,) actions, drawn with
    ``policies.epsilon_greedy_action``; with ``mask_s`` (k, A) bool, the greedy choice and the
    exploring draw range over the offered actions only."""
    u = rng.random((2, len(q_s)))
    return epsilon_greedy_action(q_s, epsilon, u[0], u[1], mask=mask_s)


def masked_epsilon_greedy_probs(
    q_s: np.ndarray, epsilon: float, mask_s: np.ndarray | None
) -> np.ndarray:
    """pi(. | s) of ``masked_epsilon_greedy``, (k, A)."""
    if mask_s is None:
        return epsilon_greedy_probs(q_s, epsilon)
    offered = mask_s / mask_s.sum(axis=-1, keepdims=True)
    return epsilon * offered + (1 - epsilon) * greedy_probs(np.where(mask_s, q_s, -np.inf))


class ActionValues:
    """Q(s, a) of R runs, stored action-major as (A, R, S) for speed.

    The learners read whole rows Q(S_t, .) of k runs at a time; gathered from this layout they
    come out as (k, A) arrays whose action axis is the slow one, so the reductions over actions
    in ``returns`` and ``policies`` (max, sum) run across the k runs at once instead of row by
    row (about 10x faster for k = 1000, A = 4). ``q`` is the usual (R, S, A) view.
    """

    def __init__(self, runs: int, n_states: int, n_actions: int, initial_value: float) -> None:
        self.n_states = n_states
        self.qa = np.full((n_actions, runs, n_states), float(initial_value))
        self._flat = self.qa.reshape(n_actions, runs * n_states)  # a view: (A, R * S)
        self._cells = self.qa.reshape(-1)  # a view: (A * R * S,)

    @property
    def q(self) -> np.ndarray:
        """(R, S, A) view of the action values."""
        return np.moveaxis(self.qa, 0, -1)

    def rows(self, runs: np.ndarray, s: np.ndarray) -> np.ndarray:
        """Q(s_i, .) of run runs_i for each i, (k, A)."""
        return self._flat.take(runs * self.n_states + s, axis=1).T

    def update(self, runs, s, a, target, alpha) -> None:
        """Q(s, a) += alpha (target - Q(s, a)) for each run (runs are distinct)."""
        cell = (a * self._flat.shape[1] + runs * self.n_states) + s
        q_tm1 = self._cells[cell]
        self._cells[cell] = q_tm1 + alpha * (target - q_tm1)


class EpisodeBuffer:
    """Each run's current episode: S_t, A_t, R_{t+1} and terminated flags, padded to (R, L).

    ``push`` appends one step for some runs; ``clear`` empties runs' episodes; the arrays grow
    (doubling) when an episode outgrows them. Entries at or past a run's length are stale:
    ``episode`` returns the lengths, and every reader masks by them.
    """

    def __init__(self, runs: int, capacity: int = 64) -> None:
        self.t = np.zeros(runs, dtype=np.int64)  # steps stored per run
        self.states = np.zeros((runs, capacity), dtype=np.int64)
        self.actions = np.zeros((runs, capacity), dtype=np.int64)
        self.rewards = np.zeros((runs, capacity))
        self.next_states = np.zeros((runs, capacity), dtype=np.int64)
        self.terminated = np.zeros((runs, capacity), dtype=bool)

    def push(self, runs: np.ndarray, s, a, r, s2, terminated) -> np.ndarray:
        """Append a step for ``runs``; returns the time index each was stored at, (k,)."""
        t = self.t[runs]
        if t.max() >= self.states.shape[1]:
            self._grow()
        self.states[runs, t] = s
        self.actions[runs, t] = a
        self.rewards[runs, t] = r
        self.next_states[runs, t] = s2
        self.terminated[runs, t] = terminated
        self.t[runs] = t + 1
        return t

    def _grow(self) -> None:
        for name in ("states", "actions", "rewards", "next_states", "terminated"):
            x = getattr(self, name)
            setattr(self, name, np.concatenate([x, np.zeros_like(x)], axis=1))

    def clear(self, runs: np.ndarray) -> None:
        """Empty runs' episodes (stale entries past ``t`` are never read: readers mask them)."""
        self.t[runs] = 0

    def episode(self, runs: np.ndarray) -> tuple[np.ndarray, ...]:
        """(states, actions, rewards, next_states, terminated, lengths) of runs, (k, L) each."""
        lengths = self.t[runs]
        L = int(lengths.max(initial=0))
        return (
            self.states[runs, :L],
            self.actions[runs, :L],
            self.rewards[runs, :L],
            self.next_states[runs, :L],
            self.terminated[runs, :L],
            lengths,
        )


def _classes() -> dict[str, Any]:
    from rlcore.tabular import batched_control as c
    from rlcore.tabular import batched_ensembles as ens
    from rlcore.tabular import batched_prediction as p

    return {
        "sarsa": c.TDControl,
        "expected_sarsa": c.TDControl,
        "q_learning": c.TDControl,
        "double_q_learning": c.DoubleQ,
        "dyna_q": c.DynaQ,
        "dyna_q_plus": c.DynaQ,
        "mc_es": c.MonteCarloES,
        "maxmin_q_learning": ens.MaxminQ,
        "td0": p.TD0,
        "mc": p.ConstantAlphaMC,
        "n_step_td": p.NStepTD,
        "offline_lambda_return": p.OfflineLambdaReturn,
        "td_lambda": p.TDLambda,
        "true_online_td_lambda": p.TrueOnlineTDLambda,
        "batch_td": p.BatchTD,
        "batch_mc": p.BatchMC,
    }


def learner_names() -> list[str]:
    """The names ``run_batched`` and ``make_learner`` accept, sorted."""
    return sorted(_classes())


def make_learner(name: str, env: Any, runs: int, **settings: Any) -> Any:
    """Build the learner ``name`` for R = ``runs`` runs of the batched env ``env``.

    Args:
        name: one of ``learner_names()``.
        env: a ``BatchedEnv`` (its sizes and action mask are used).
        runs: R.
        **settings: fields of the learner's config (its ``Config`` dataclass), e.g. ``alpha``,
            ``epsilon``, ``gamma``, ``n``, ``lambda_``, ``planning_steps``, ``kappa``, ``policy``.
    """
    classes = _classes()
    if name not in classes:
        import difflib

        close = difflib.get_close_matches(name, list(classes), n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(
            f"unknown batched learner {name!r}.{hint} Known: {', '.join(sorted(classes))}."
        )
    cls = classes[name]
    method_field = {f.name for f in dataclasses.fields(cls.Config)} & {"method"}
    if method_field:
        settings = {"method": name, **settings}
    config = make_config(cls.Config, None, settings, f"batched {name}")
    return cls(env, runs, config)
