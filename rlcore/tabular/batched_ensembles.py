"""Batched Maxmin Q-learning: N tables per run for the batched engine (``run_batched``).

The learner behind ``run_batched("maxmin_q_learning", env, runs=R, n=N, ...)`` and the
maximization-bias figure of Lan et al. (2020) (``figures.maxmin_bias``). Per run it does what the
scalar ``agents.maxmin_q_learning`` does (``rlcore.tabular.ensembles``): a member i drawn
uniformly per step learns

    Q_i(S, A) <- Q_i(S, A) + alpha [R + gamma max_a Q_min(S', a) - Q_i(S, A)],
    Q_min(s, a) = min_k Q_k(s, a)                           (Lan et al. 2020, Algorithm 1)

and behaviour is epsilon-greedy in Q_min over the actions each state offers. The reduction is
``ensembles.min`` over the member axis of the gathered rows (N, k, A); targets and epsilon-greedy
draws are the same pure functions the batched Q-learning learner calls, and with N = 1 no member
draw is made, so it gives batched Q-learning's numbers exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, final

import numpy as np

from rlcore.ensemble.reductions import Min
from rlcore.returns import q_learning_target
from rlcore.tabular.base import check_epsilon, check_gamma, check_initial
from rlcore.tabular.batched_learners import (
    ActionValues,
    check_alpha_setting,
    masked_epsilon_greedy,
    per_run_alpha,
    take_runs,
)
from rlcore.types import Transition
from rlcore.validation import check_int

__all__ = ["MaxminQ", "MaxminQConfig"]


@dataclass(frozen=True, eq=False)
class MaxminQConfig:
    """Settings of batched Maxmin Q-learning: ``n`` members and the batched TD settings."""

    n: int = 2
    alpha: Any = 0.1
    epsilon: float = 0.1
    gamma: float = 1.0
    initial_value: float = 0.0

    def __post_init__(self) -> None:
        check_int("n", self.n, 1, hint="n is the number of members; n=1 is Q-learning.")
        check_alpha_setting(self.alpha)
        check_epsilon(self.epsilon)
        check_gamma(self.gamma)
        check_initial(self.initial_value)


@final
class MaxminQ:
    """Batched Maxmin Q-learning (module docstring).

    Attributes:
        tables: the N ``ActionValues``; ``q`` is Q_min (R, S, A), ``q_members`` (N, R, S, A).
    """

    Config = MaxminQConfig

    def __init__(self, env: Any, runs: int, config: MaxminQConfig) -> None:
        self.config = config
        self.tables = [
            ActionValues(runs, env.n_states, env.n_actions, config.initial_value)
            for _ in range(config.n)
        ]
        self.alpha = per_run_alpha(config.alpha, runs)
        mask = np.asarray(env.action_mask, dtype=bool)
        self.mask = None if mask.all() else mask
        self._min = Min()

    @property
    def q_members(self) -> np.ndarray:
        return np.stack([t.q for t in self.tables])

    @property
    def q(self) -> np.ndarray:
        return self._min(self.q_members)

    def _rows(self, runs: np.ndarray, s: np.ndarray) -> np.ndarray:
        """Q_min(s_i, .) of run runs_i, (k, A)."""
        if len(self.tables) == 1:
            return self.tables[0].rows(runs, s)
        return self._min(np.stack([t.rows(runs, s) for t in self.tables]))  # (N, k, A) -> (k, A)

    def begin(self, runs: np.ndarray, s_0: np.ndarray, rng: np.random.Generator) -> None:
        """Nothing at the start of an episode."""

    def act(self, runs: np.ndarray, s_t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        mask_s = None if self.mask is None else self.mask[s_t]
        return masked_epsilon_greedy(self._rows(runs, s_t), self.config.epsilon, mask_s, rng)

    def observe(self, runs: np.ndarray, step: Transition, rng: np.random.Generator) -> None:
        s, a, r_t, s2, terminated = step[:5]
        n = len(self.tables)
        q_t = self._rows(runs, s2)  # (k, A)
        if self.mask is not None:
            q_t = np.where(self.mask[s2], q_t, -np.inf)
        target = q_learning_target(r_t, self.config.gamma * ~terminated, q_t)
        alpha = take_runs(self.alpha, runs)
        if n == 1:
            self.tables[0].update(runs, s, a, target, alpha)
            return
        member = np.minimum((rng.random(len(runs)) * n).astype(np.int64), n - 1)  # (k,)
        for i, table in enumerate(self.tables):
            sel = member == i
            if sel.any():
                table.update(runs[sel], s[sel], a[sel], target[sel], alpha[sel])

    def end(self, runs: np.ndarray, rng: np.random.Generator) -> None:
        """Nothing at the end of an episode."""
