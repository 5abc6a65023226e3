"""Deep Sea (Osband et al. 2019, bsuite ``deep_sea``): a test of deep exploration.

An N x N grid; the agent starts in the top-left cell and falls one row per step, moving one
column left or right, so every episode lasts exactly N steps. Moving right costs 0.01 / N;
moving right from the last column (which only the always-right path reaches at the last row)
earns +1. The optimal return is 1 - 0.01 = 0.99; every other policy earns at most 0. Which
action means "right" is drawn per cell from ``mapping_seed`` (a fixed coin flip per cell, as in
bsuite), so no constant action and no tie-breaking rule finds the treasure: a random policy does
with probability 2^-N, and dithering (epsilon-greedy) exploration needs about 2^N episodes.

Observations: ``one_hot=True`` (default) gives bsuite's N x N float32 image with a 1 in the
agent's cell (all zeros after the last step); ``one_hot=False`` gives the cell index
row * N + column as a ``Discrete(N * N + 1)`` state (N * N is the terminal state), for tabular
agents and for dynamic programming on ``P``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from rlcore.envs._finite import FiniteModelEnv, Model
from rlcore.registry import export
from rlcore.validation import check_int, check_range

MOVE_COST = 0.01


@export("envs.deep_sea")
class DeepSeaEnv(FiniteModelEnv):
    """The Deep Sea exploration task (see the module docstring; deterministic bsuite version).

    Args:
        size: N >= 1, the grid side and the episode length.
        mapping_seed: seed of the per-cell action meaning (action_right[row, col] in {0, 1}).
        one_hot: N x N one-hot image observations (True) or cell indices (False).
        move_cost: total cost of the always-right path (0.01 in bsuite), >= 0.
        render_mode: ``None`` or ``"ansi"``.

    Attributes:
        action_right: (N, N) int array, the action that moves right in each cell.
    """

    def __init__(
        self,
        size: int = 10,
        mapping_seed: int = 0,
        one_hot: bool = True,
        move_cost: float = MOVE_COST,
        render_mode: str | None = None,
    ) -> None:
        n = self.size = check_int("size", size, 1, hint="size is the grid side, e.g. 10.")
        check_int("mapping_seed", mapping_seed, 0)
        self.move_cost = check_range("move_cost", move_cost, 0.0)
        self.one_hot = bool(one_hot)
        self.action_right = np.random.default_rng(mapping_seed).integers(0, 2, size=(n, n))
        terminal = n * n
        P: Model = {}
        for row in range(n):
            for col in range(n):
                s = row * n + col
                last = row == n - 1
                right, left = int(self.action_right[row, col]), 1 - int(self.action_right[row, col])
                r_right = (1.0 if col == n - 1 else 0.0) - self.move_cost / n
                s_right = terminal if last else (row + 1) * n + min(col + 1, n - 1)
                s_left = terminal if last else (row + 1) * n + max(col - 1, 0)
                P[s] = {
                    right: [(1.0, s_right, r_right, last)],
                    left: [(1.0, s_left, 0.0, last)],
                }
        P[terminal] = {a: [(1.0, terminal, 0.0, True)] for a in (0, 1)}
        isd = np.zeros(terminal + 1)
        isd[0] = 1.0
        super().__init__(P, isd, render_mode)
        if self.one_hot:
            self.observation_space = spaces.Box(0.0, 1.0, shape=(n, n), dtype=np.float32)

    @property
    def optimal_return(self) -> float:
        """The return of the always-right path, 1 - move_cost."""
        return 1.0 - self.move_cost

    def _observation(self, s: int) -> Any:
        if not self.one_hot:
            return s
        obs = np.zeros((self.size, self.size), dtype=np.float32)
        if s < self.size * self.size:
            obs[divmod(s, self.size)] = 1.0
        return obs

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        s, info = super().reset(seed=seed, options=options)
        return self._observation(s), info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        s2, r, terminated, truncated, info = super().step(action)
        return self._observation(s2), r, terminated, truncated, info

    def _render_text(self) -> str:
        grid = [["."] * self.size for _ in range(self.size)]
        if self.s < self.size * self.size:
            row, col = divmod(self.s, self.size)
            grid[row][col] = "x"
        return "\n".join("".join(line) for line in grid) + "\n"
