"""Environments stepped for many independent runs at once, in NumPy (the batched engine's side).

A ``BatchedEnv`` holds the per-run state of R independent copies of one environment and advances
any subset of them (run indices in increasing order, without repeats) with one call::

    env.start(R, rng)                       # allocate per-run state (step counters, hands, ...)
    s_0 = env.reset(runs, rng)              # new episodes for the runs in ``runs`` (k,)
    s_1, r_1, terminated = env.step(runs, a_0, rng)   # each (k,)

Observations are integer state indices in ``[0, n_states)``; ``action_mask`` is an (S, A) bool
array of the actions each state offers (all True for most envs).

- ``ModelBatchEnv``: any ``FiniteMDP`` (``FiniteMDP.sample`` draws all runs' outcomes at once), with
  optional Gaussian reward noise around the model's mean reward (the maximization-bias MDP).
- ``SwitchingModelEnv``: a model that changes after a number of steps of each run (the blocking
  and shortcut mazes, Sutton & Barto (2018) Examples 8.2 and 8.3).
- ``BlackjackBatchEnv``: a vectorised simulator of gymnasium's ``Blackjack-v1`` with ``sab=True``
  (Sutton & Barto (2018) Example 5.1), which has no finite model ``P``.

``as_batched_env`` turns an env id, a gymnasium env, a ``FiniteMDP`` or a ``BatchedEnv`` into one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from rlcore.tabular.mdp import FiniteMDP
from rlcore.validation import check_int


@runtime_checkable
class BatchedEnv(Protocol):
    """R independent copies of one environment with integer states, stepped together."""

    n_states: int
    n_actions: int
    action_mask: np.ndarray  # (S, A) bool: the actions each state offers

    def start(self, runs: int, rng: np.random.Generator) -> None:
        """Allocate the per-run state of ``runs`` fresh runs (step counters start at zero)."""
        ...

    def reset(self, runs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Start new episodes for the runs ``runs`` (k,); returns S_0 of each, (k,)."""
        ...

    def step(
        self, runs: np.ndarray, a_t: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Apply actions ``a_t`` (k,) in the runs ``runs``; returns (S_{t+1}, R_{t+1}, terminated)."""
        ...


class _ModelStepper:
    """Draws outcomes of a ``FiniteMDP``; a deterministic model is a plain table lookup."""

    def __init__(self, mdp: FiniteMDP) -> None:
        self.mdp = mdp
        self.deterministic = bool(np.all(np.diff(mdp.indptr) == 1))
        first = mdp.indptr[:-1]
        self.next_state = mdp.next_state[first]  # (S*A,), valid when deterministic
        self.reward = mdp.reward[first]
        self.terminated = mdp.terminated[first]

    def sample(
        self, s: np.ndarray, a: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.deterministic:
            row = s * self.mdp.n_actions + a
            return self.next_state[row], self.reward[row], self.terminated[row]
        return self.mdp.sample(s, a, rng)


def _sample_initial(mdp: FiniteMDP, k: int, rng: np.random.Generator) -> np.ndarray:
    start = _single_start(mdp)
    if start is not None:  # one start state: no random draw
        return np.full(k, start, dtype=np.int64)
    return mdp.sample_initial(k, rng).astype(np.int64)


def _single_start(mdp: FiniteMDP) -> int | None:
    if "single_start" not in mdp._cache:
        support = np.flatnonzero(mdp.initial > 0)
        mdp._cache["single_start"] = int(support[0]) if support.size == 1 else None
    return mdp._cache["single_start"]


class ModelBatchEnv:
    """R runs of a finite MDP, stepped by sampling its outcome table.

    Args:
        mdp: the model.
        reward_std: optional (S, A) standard deviations; the emitted reward is
            ``R = r(s, a, s') + reward_std[s, a] * N(0, 1)``, so the model keeps the mean reward
            (used for the maximization-bias MDP, Sutton & Barto (2018) Example 6.7).
        action_mask: optional (S, A) bool, the actions each state offers; default all.
    """

    def __init__(
        self,
        mdp: FiniteMDP,
        *,
        reward_std: np.ndarray | None = None,
        action_mask: np.ndarray | None = None,
    ) -> None:
        if not isinstance(mdp, FiniteMDP):
            raise TypeError(f"ModelBatchEnv needs a FiniteMDP, got {type(mdp).__name__}")
        self.mdp = mdp
        self.n_states, self.n_actions = mdp.n_states, mdp.n_actions
        shape = (self.n_states, self.n_actions)
        self.reward_std = None
        if reward_std is not None:
            std = np.asarray(reward_std, dtype=np.float64)
            if std.shape != shape or np.any(std < 0) or not np.all(np.isfinite(std)):
                raise ValueError(f"reward_std must be finite, >= 0 and of shape {shape}")
            self.reward_std = std.reshape(-1) if np.any(std > 0) else None
        self.action_mask = _check_mask(action_mask, shape)
        self._stepper = _ModelStepper(mdp)
        self.s = np.zeros(0, dtype=np.int64)

    def start(self, runs: int, rng: np.random.Generator) -> None:
        self.s = np.zeros(check_int("runs", runs, 1), dtype=np.int64)

    def reset(self, runs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        s_0 = _sample_initial(self.mdp, len(runs), rng)
        self.s[runs] = s_0
        return s_0

    def step(
        self, runs: np.ndarray, a_t: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        every = len(runs) == len(self.s)  # runs are increasing and distinct: all of them
        s_t = self.s if every else self.s[runs]
        s_tp1, r_tp1, term = self._stepper.sample(s_t, a_t, rng)
        if self.reward_std is not None:
            std = self.reward_std[s_t * self.n_actions + a_t]
            r_tp1 = r_tp1 + std * rng.standard_normal(len(std))
        if every:
            self.s = np.array(s_tp1, dtype=np.int64)
        else:
            self.s[runs] = s_tp1
        return s_tp1, r_tp1, term


class SwitchingModelEnv:
    """R runs of a finite MDP whose model changes after a number of steps of each run.

    Run ``i`` samples from ``models[j]`` once it has taken ``switch_steps[j - 1]`` steps in total
    (across episodes); the step counters start at zero in ``start``. This is the blocking and
    shortcut mazes' wall that moves after 1000 and 3000 steps (Sutton & Barto (2018) Examples 8.2
    and 8.3). Episodes start from the initial distribution of the model in force.

    Args:
        models: the successive models, all with the same numbers of states and actions.
        switch_steps: increasing step counts at which the next model takes over
            (``len(models) - 1`` of them).
    """

    def __init__(self, models: Sequence[FiniteMDP], switch_steps: Sequence[int]) -> None:
        if len(models) < 1 or len(switch_steps) != len(models) - 1:
            raise ValueError(
                f"got {len(models)} models and {len(switch_steps)} switch steps; pass one switch "
                "step fewer than models"
            )
        shapes = {(m.n_states, m.n_actions) for m in models}
        if len(shapes) != 1:
            raise ValueError(f"all models need the same (n_states, n_actions), got {shapes}")
        steps = [check_int("switch_step", k, 1) for k in switch_steps]
        if steps != sorted(set(steps)):
            raise ValueError(f"switch_steps must be strictly increasing, got {steps}")
        self.models = tuple(models)
        self.switch_steps = np.asarray(steps, dtype=np.int64)
        self.n_states, self.n_actions = shapes.pop()
        self.action_mask = np.ones((self.n_states, self.n_actions), dtype=bool)
        self._steppers = [_ModelStepper(m) for m in self.models]
        self.s = np.zeros(0, dtype=np.int64)
        self.t = np.zeros(0, dtype=np.int64)  # steps taken by each run

    def start(self, runs: int, rng: np.random.Generator) -> None:
        runs = check_int("runs", runs, 1)
        self.s = np.zeros(runs, dtype=np.int64)
        self.t = np.zeros(runs, dtype=np.int64)

    def model_index(self, runs: np.ndarray) -> np.ndarray:
        """Which model each run samples from now, (k,)."""
        return np.searchsorted(self.switch_steps, self.t[runs], side="right")

    def reset(self, runs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        which = self.model_index(runs)
        s_0 = np.empty(len(runs), dtype=np.int64)
        for j in np.unique(which):
            sel = which == j
            s_0[sel] = _sample_initial(self.models[j], int(sel.sum()), rng)
        self.s[runs] = s_0
        return s_0

    def step(
        self, runs: np.ndarray, a_t: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        which = self.model_index(runs)
        s_t = self.s[runs]
        j0 = which[0]
        if np.all(which == j0):
            s_tp1, r_tp1, term = self._steppers[j0].sample(s_t, a_t, rng)
        else:
            s_tp1 = np.empty_like(s_t)
            r_tp1 = np.empty(len(s_t))
            term = np.empty(len(s_t), dtype=bool)
            for j in np.unique(which):
                sel = which == j
                s_tp1[sel], r_tp1[sel], term[sel] = self._steppers[j].sample(
                    s_t[sel], a_t[sel], rng
                )
        self.s[runs] = s_tp1
        self.t[runs] += 1
        return s_tp1, r_tp1, term


def _check_mask(mask: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    if mask is None:
        return np.ones(shape, dtype=bool)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != shape:
        raise ValueError(f"action_mask must have shape {shape}, got {mask.shape}")
    if not np.all(mask.any(axis=1)):
        raise ValueError("action_mask leaves a state with no action; every state needs one")
    return mask
