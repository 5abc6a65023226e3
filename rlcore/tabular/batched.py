"""The batched multi-run engine: R independent runs of a tabular method at once, in NumPy.

Book figures average 100 to 10,000 independent runs. Instead of one Python loop per run, the
engine keeps every run's tables in arrays with a leading run axis (``q`` of shape (R, S, A), ``v``
of shape (R, S)), steps all runs' environments together from the env's model
(``rlcore.tabular.batched_envs``), and applies the same pure update functions as the scalar agents
(``rlcore.returns``, ``rlcore.tabular.policies``) to whole batches of transitions.

One loop serves every method (``run_batched``):

1. each live run picks A_t (``learner.act``), its env copy returns (S_{t+1}, R_{t+1},
   terminated), and the learner learns from the batch of transitions (``learner.observe``);
2. a run whose episode ended (terminated, or cut by ``max_episode_steps``) restarts at once
   (its env is reset before ``observe``, which is told where each run acts next), then has its
   return, length and metrics recorded and the learner's end-of-episode update applied
   (``learner.end``: Monte Carlo, offline lambda-return, the rest of an n-step window): runs
   advance independently, not in lock-step episodes, so no run waits for a slower one;
3. with ``episodes=E`` a run stops after E episodes; with ``steps=T`` every run takes exactly T
   steps (the x-axis of the chapter-8 mazes and of Example 6.5).

Randomness comes from one Generator seeded by ``seed``: the same seed and number of runs give the
same numbers. Runs are statistically independent; run i's numbers depend on R (they share the
stream), which is why the differential test compares statistics, not single runs.

A learner is a thin object holding (R, ...) tables (``rlcore.tabular.batched_control`` and
``batched_prediction``); ``make_learner`` builds the book's methods by the names listed by
``learner_names()``.
"""

from __future__ import annotations

import dataclasses
import difflib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

from rlcore.tabular import batched_control, batched_ensembles, batched_prediction
from rlcore.tabular.base import make_config
from rlcore.tabular.batched_envs import (
    BatchedEnv,
    ModelBatchEnv,
    SwitchingModelEnv,
)
from rlcore.tabular.mdp import FiniteMDP
from rlcore.types import Transition
from rlcore.validation import as_generator, check_int

Metric = Callable[[Any, np.ndarray], np.ndarray]  # (learner, runs (k,)) -> values (k,)


@runtime_checkable
class BatchedLearner(Protocol):
    """A tabular method for R runs at once. ``runs`` (k,) names the runs each call concerns,
    in increasing order without repeats (so k = R means every run, in order).

    ``begin`` starts episodes (S_0 given); ``act`` returns A_t for states S_t; ``observe`` learns
    from the batch of transitions (S_t, A_t, R_{t+1}, S_{t+1}, terminated, truncated) as
    ``rlcore.types.Transition`` of (k,) arrays, whose ``info`` is None or, when some episodes
    ended, ``{"next_obs": (k,)}``: the state each run acts in next (S_{t+1}, or S_0 of the
    episode a finished run starts next); ``end`` follows the last ``observe`` of episodes, and
    ``begin`` of the next episode follows ``end``.
    """

    def begin(self, runs: np.ndarray, s_0: np.ndarray, rng: np.random.Generator) -> None: ...

    def act(self, runs: np.ndarray, s_t: np.ndarray, rng: np.random.Generator) -> np.ndarray: ...

    def observe(self, runs: np.ndarray, step: Transition, rng: np.random.Generator) -> None: ...

    def end(self, runs: np.ndarray, rng: np.random.Generator) -> None: ...


@dataclass(frozen=True, eq=False)
class BatchedResult:
    """What ``run_batched`` produced.

    Attributes:
        returns: (R, E) undiscounted return of each run's episodes; with ``steps=T`` the runs
            finish different numbers of episodes and missing entries are NaN.
        lengths: (R, E) steps of each episode (0 where missing).
        metrics: name -> (R, E + 1) array: column 0 before any learning, column e + 1 after
            episode e of that run (NaN where missing).
        step_rewards: (R, T) reward of every step with ``steps=T``, else None.
        step_done: (R, T) bool, an episode ended at that step, with ``steps=T``, else None.
        learner: the learner after the run (its tables: ``learner.q`` / ``learner.v``).
        wall_time: seconds the loop took.
        config: algorithm, hyperparameters, runs, budget and seed.
    """

    returns: np.ndarray
    lengths: np.ndarray
    metrics: dict[str, np.ndarray]
    step_rewards: np.ndarray | None
    step_done: np.ndarray | None
    learner: Any
    wall_time: float
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def episodes_completed(self) -> np.ndarray:
        """(R,) number of finished episodes of each run."""
        return np.sum(self.lengths > 0, axis=1)


def as_batched_env(env: Any) -> BatchedEnv:
    """A ``BatchedEnv`` from an env id, a gymnasium env, a ``FiniteMDP`` or a ``BatchedEnv``.

    Gymnasium envs need a finite model ``P`` (``FiniteMDP.from_env``), with three special cases:
    ``Blackjack-v1`` becomes ``BlackjackBatchEnv`` (it has no ``P``; ``sab=True`` is required),
    the maximization-bias MDP keeps its Gaussian rewards and action mask, and a blocking or
    shortcut maze with ``switch_step`` becomes a ``SwitchingModelEnv``.
    """
    if isinstance(env, BatchedEnv):
        return env
    if isinstance(env, FiniteMDP):
        return ModelBatchEnv(env)
    if isinstance(env, str):
        from rlcore.loop import make_env

        made = make_env(env)
        try:
            return as_batched_env(made)
        finally:
            made.close()
    if not isinstance(env, gym.Env):
        raise TypeError(
            f"the batched engine needs an env id, a gymnasium Env with a finite model, a "
            f"FiniteMDP or a BatchedEnv, got {type(env).__name__}"
        )
    base = env.unwrapped
    from gymnasium.envs.toy_text.blackjack import BlackjackEnv

    from rlcore.envs.maximization_bias import MaximizationBiasEnv
    from rlcore.envs.maze import MazeEnv

    if isinstance(base, BlackjackEnv):
        if not base.sab:
            raise ValueError(
                "the batched blackjack simulator follows Blackjack-v1 with sab=True (the book's "
                "rules); make the env with gymnasium.make('Blackjack-v1', sab=True)."
            )
        from rlcore.tabular.blackjack import BlackjackBatchEnv

        return BlackjackBatchEnv()
    if isinstance(base, MaximizationBiasEnv):
        n_s, n_a = base.observation_space.n, base.action_space.n
        std = np.zeros((n_s, n_a))
        std[1, : base.n_actions_b] = base.std_reward_b  # state B
        mask = np.zeros((n_s, n_a), dtype=bool)
        for s in range(n_s):
            mask[s, base.valid_actions(s)] = True
        return ModelBatchEnv(FiniteMDP.from_env(base), reward_std=std, action_mask=mask)
    if isinstance(base, MazeEnv) and base.switch_step is not None:
        isd = base.initial_state_distrib
        models = [FiniteMDP.from_P(base.models[k], initial=isd) for k in ("before", "after")]
        return SwitchingModelEnv(models, [base.switch_step])
    return ModelBatchEnv(FiniteMDP.from_env(base))


def _classes() -> dict[str, Any]:
    """Learner name -> class (in the batched control, ensemble and prediction modules)."""
    c, p = batched_control, batched_prediction
    return {
        "sarsa": c.TDControl,
        "expected_sarsa": c.TDControl,
        "q_learning": c.TDControl,
        "double_q_learning": c.DoubleQ,
        "dyna_q": c.DynaQ,
        "dyna_q_plus": c.DynaQ,
        "mc_es": c.MonteCarloES,
        "maxmin_q_learning": batched_ensembles.MaxminQ,
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


def run_batched(
    algorithm: str | BatchedLearner,
    env: Any,
    *,
    runs: int,
    episodes: int | None = None,
    steps: int | None = None,
    seed: int | np.random.Generator | None = 0,
    max_episode_steps: int | None = None,
    metrics: Mapping[str, Metric] | None = None,
    **hyper: Any,
) -> BatchedResult:
    """Run R independent runs of a tabular method at once.

    Args:
        algorithm: a learner name (``learner_names()``, e.g. ``"q_learning"``, ``"td0"``,
            ``"dyna_q"``) built with ``**hyper`` for this env and R runs, or a learner instance
            already built for ``runs`` runs.
        env: an env id, gymnasium env, FiniteMDP or BatchedEnv (``as_batched_env``).
        runs: R, the number of independent runs.
        episodes: E, episodes per run. Exactly one of ``episodes`` / ``steps`` is required.
        steps: T, steps per run (episodes restart as they end; records ``step_rewards``).
        seed: seed or Generator of the one random stream of the whole batch.
        max_episode_steps: cut episodes at this length (truncated: the learner bootstraps);
            default: the time limit of the env's gymnasium registration, if any, as
            ``rlcore.run`` would meet it through gymnasium's ``TimeLimit`` wrapper.
        metrics: name -> ``f(learner, runs) -> (k,)`` evaluated before learning and at the end of
            every episode, e.g. the RMS error of ``learner.v[runs]`` against true values.
        **hyper: the learner's settings (``alpha``, ``epsilon``, ``gamma``, ``n``, ``lambda_``, ...);
            a step size may be an (R,) array to sweep it across runs in one call.

    Returns:
        BatchedResult.
    """
    runs = check_int("runs", runs, 1, hint="Pass the number of independent runs, e.g. 100.")
    if (episodes is None) == (steps is None):
        raise ValueError("run_batched needs exactly one budget: episodes=E or steps=T.")
    if episodes is not None:
        check_int("episodes", episodes, 1)
    if steps is not None:
        check_int("steps", steps, 1)
    if max_episode_steps is None:
        max_episode_steps = _registered_time_limit(env)
    else:
        check_int("max_episode_steps", max_episode_steps, 1)
    benv = as_batched_env(env)
    learner, name = _learner(algorithm, benv, runs, hyper)
    rng = as_generator(seed)
    t0 = time.perf_counter()
    rec = _Recorder(runs, episodes if episodes is not None else 16, dict(metrics or {}), steps)
    _loop(benv, learner, runs, episodes, steps, max_episode_steps, rec, rng)
    return BatchedResult(
        returns=rec.returns[:, : rec.width()],
        lengths=rec.lengths[:, : rec.width()],
        metrics={k: v[:, : rec.width() + 1] for k, v in rec.metric_values.items()},
        step_rewards=None if rec.step_rewards is None else np.ascontiguousarray(rec.step_rewards.T),
        step_done=None if rec.step_done is None else np.ascontiguousarray(rec.step_done.T),
        learner=learner,
        wall_time=time.perf_counter() - t0,
        config={
            "algorithm": name,
            "hyper": {k: _jsonable(v) for k, v in hyper.items()},
            "runs": runs,
            "episodes": episodes,
            "steps": steps,
            "max_episode_steps": max_episode_steps,
            "seed": seed if not isinstance(seed, np.random.Generator) else "generator",
        },
    )


def _learner(
    algorithm: str | BatchedLearner, benv: Any, runs: int, hyper: dict[str, Any]
) -> tuple[BatchedLearner, str]:
    """(learner, its name): built from a name with ``hyper``, or an instance passed through."""
    if isinstance(algorithm, str):
        return make_learner(algorithm, benv, runs, **hyper), algorithm
    if hyper:
        raise TypeError(
            f"hyperparameters {sorted(hyper)} are only used with a learner name; a learner "
            "instance carries its own settings"
        )
    if not isinstance(algorithm, BatchedLearner):
        raise TypeError(
            f"algorithm must be a learner name or a BatchedLearner, got {type(algorithm).__name__}"
        )
    return algorithm, type(algorithm).__name__


def _registered_time_limit(env: Any) -> int | None:
    """``max_episode_steps`` of an env id's or a gymnasium env's registration (None: none)."""
    if isinstance(env, str):
        spec = gym.spec(env) if env in gym.registry else None
    elif isinstance(env, gym.Env):
        spec = env.spec
    else:
        return None
    return None if spec is None else spec.max_episode_steps


def _jsonable(value: Any) -> Any:
    return value.tolist() if isinstance(value, np.ndarray) else value


class _Recorder:
    """Per-run per-episode returns, lengths and metrics, grown as needed in step mode."""

    def __init__(self, runs: int, width: int, metrics: dict[str, Metric], steps: int | None):
        self.metrics = metrics
        self.count = np.zeros(runs, dtype=np.int64)  # finished episodes per run
        self.returns = np.full((runs, width), np.nan)
        self.lengths = np.zeros((runs, width), dtype=np.int64)
        self.metric_values = {k: np.full((runs, width + 1), np.nan) for k in metrics}
        # Step mode records every step time-major, (T, R): step t writes one contiguous row.
        self.step_rewards = None if steps is None else np.zeros((steps, runs))
        self.step_done = None if steps is None else np.zeros((steps, runs), dtype=bool)

    def width(self) -> int:
        return (
            int(self.count.max(initial=0))
            if self.step_rewards is not None
            else self.returns.shape[1]
        )

    def measure(self, learner: Any, runs: np.ndarray, column: np.ndarray) -> None:
        for name, f in self.metrics.items():
            self.metric_values[name][runs, column] = f(learner, runs)

    def episode_end(self, learner, runs, ep_return, ep_len) -> None:
        e = self.count[runs]
        if self.step_rewards is not None and e.max() >= self.returns.shape[1]:
            # step mode: grow the episode axis (with episodes=E no run records more than E)
            grow = self.returns.shape[1]
            self.returns = np.pad(self.returns, ((0, 0), (0, grow)), constant_values=np.nan)
            self.lengths = np.pad(self.lengths, ((0, 0), (0, grow)))
            for k, v in self.metric_values.items():
                self.metric_values[k] = np.pad(v, ((0, 0), (0, grow)), constant_values=np.nan)
        self.returns[runs, e] = ep_return
        self.lengths[runs, e] = ep_len
        self.count[runs] = e + 1
        if self.metrics:
            self.measure(learner, runs, e + 1)


def _loop(env, learner, R, episodes, steps, max_len, rec: _Recorder, rng) -> None:
    env.start(R, rng)
    live = np.arange(R)
    s = np.asarray(env.reset(live, rng), dtype=np.int64)  # S_t of every run, (R,)
    learner.begin(live, s, rng)
    rec.measure(learner, live, np.zeros(R, dtype=np.int64))
    ep_return = np.zeros(R)
    ep_start = np.zeros(R, dtype=np.int64)  # the step t at which each run's episode began
    never = np.zeros(R, dtype=bool)
    t = 0
    while live.size:
        # 1. act, step every live run's env, learn from the batch of transitions. While every
        #    run is live (most of the time) the per-run arrays are updated whole, not indexed.
        full = live.size == R
        s_t = s if full else s[live]
        a_t = learner.act(live, s_t, rng)
        s_tp1, r_tp1, terminated = env.step(live, a_t, rng)
        if full:
            ep_return += r_tp1
        else:
            ep_return[live] += r_tp1
        if max_len is None:
            truncated = never if full else never[: live.size]
            done = terminated
        else:
            lengths = t + 1 - (ep_start if full else ep_start[live])
            truncated = (lengths >= max_len) & ~terminated
            done = terminated | truncated
        # 2. runs whose episode ended and goes on restart now, before ``observe``: the
        #    transition's info["next_obs"] is where each run acts next (S_{t+1}, or S_0 of its
        #    next episode), so a learner that picks its next action in observe (Sarsa) can
        #    pick every run's in one batch.
        any_done = bool(done.any())
        s_next, info = s_tp1, None
        if any_done:
            done_at = done.nonzero()[0]
            ended = live[done_at]
            if episodes is None:
                restart, restart_at = ended, done_at
            else:
                goes_on = rec.count[ended] + 1 < episodes
                restart, restart_at = ended[goes_on], done_at[goes_on]
            if restart.size:
                s_next = np.array(s_tp1, dtype=np.int64)
                s_next[restart_at] = env.reset(restart, rng)
            info = {"next_obs": s_next}
        step = Transition(s_t, a_t, r_tp1, s_tp1, terminated, truncated, info)
        learner.observe(live, step, rng)
        if full:  # a fresh array: the learner may keep the transition's
            s = s_next if s_next is not s_tp1 else np.array(s_tp1, dtype=np.int64)
        else:
            s[live] = s_next
        if rec.step_rewards is not None:  # step mode: every run is live
            rec.step_rewards[t] = r_tp1
            rec.step_done[t] = done
        t += 1
        # 3. finished episodes: end-of-episode updates, records, restarted learners.
        if any_done:
            learner.end(ended, rng)
            rec.episode_end(learner, ended, ep_return[ended], t - ep_start[ended])
            ep_return[ended] = 0.0
            ep_start[ended] = t
            if restart.size < ended.size:
                live = live[rec.count[live] < episodes]
            if restart.size:
                learner.begin(restart, s[restart], rng)
        # 4. a step budget stops every run at once.
        if steps is not None and t >= steps:
            break


def sample_episodes(
    env: Any,
    policy: np.ndarray,
    n_episodes: int,
    rng: np.random.Generator,
    *,
    max_steps: int = 10_000,
) -> dict[str, np.ndarray]:
    """Sample independent episodes of a fixed policy, all at once (padded arrays).

    For prediction and off-policy evaluation the behaviour never changes, so the episodes are
    independent of what is learned and can be generated in one batch: each episode is a run of
    the batched env.

    Args:
        env: anything ``as_batched_env`` accepts.
        policy: (S, A) action probabilities of the behaviour policy.
        n_episodes: N.
        rng: the random stream.
        max_steps: episodes still running after this many steps raise (no silent cut).

    Returns:
        dict with ``states`` (N, L) S_t, ``actions`` (N, L) A_t, ``rewards`` (N, L) R_{t+1},
        ``next_states`` (N, L) S_{t+1}, ``lengths`` (N,); entries past an episode's length are
        0. L is the longest episode.
    """
    from rlcore.tabular.policies import check_probability_table, sample_action

    benv = as_batched_env(env)
    n = check_int("n_episodes", n_episodes, 1)
    pi = check_probability_table(policy, "policy")
    if pi.shape != (benv.n_states, benv.n_actions):
        raise ValueError(
            f"policy has shape {pi.shape}, the env ({benv.n_states}, {benv.n_actions})"
        )
    benv.start(n, rng)
    live = np.arange(n)
    s = benv.reset(live, rng)
    states, actions, rewards, next_states = [], [], [], []
    lengths = np.zeros(n, dtype=np.int64)
    t = 0
    while live.size:
        if t >= max_steps:
            raise RuntimeError(
                f"{live.size} episodes were still running after max_steps={max_steps}; raise "
                "max_steps or check that the policy reaches a terminal state."
            )
        a = sample_action(pi[s], rng.random(live.size)) if pi.shape[1] > 1 else np.zeros_like(s)
        s2, r, term = benv.step(live, a, rng)
        for store, x in ((states, s), (actions, a), (rewards, r), (next_states, s2)):
            row = np.zeros(n, dtype=np.asarray(x).dtype)
            row[live] = x
            store.append(row)
        lengths[live] += 1
        live, s = live[~term], s2[~term]
        t += 1
    return {
        "states": np.stack(states, axis=1),
        "actions": np.stack(actions, axis=1),
        "rewards": np.stack(rewards, axis=1),
        "next_states": np.stack(next_states, axis=1),
        "lengths": lengths,
    }
