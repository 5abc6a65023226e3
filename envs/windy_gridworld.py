"""Windy gridworld (Example 6.5) with the king's-moves and stochastic-wind exercises."""

from __future__ import annotations

import numpy as np

from rlcore.envs._finite import FiniteModelEnv, Model
from rlcore.envs._grid import COMPASS, COMPASS_NAMES, DIAGONAL, DIAGONAL_NAMES, render_grid
from rlcore.registry import export

N_ROWS, N_COLS = 7, 10
WIND: tuple[int, ...] = (0, 0, 0, 1, 1, 1, 2, 2, 1, 0)
START: tuple[int, int] = (3, 0)
GOAL: tuple[int, int] = (3, 7)


@export("envs.windy_gridworld")
class WindyGridworldEnv(FiniteModelEnv):
    """Windy gridworld (Sutton & Barto (2018) Example 6.5; Exercises 6.9 and 6.10).

    A 7 x 10 grid, state ``s = 10 * row + col`` (row 0 at the top). Start (3, 0), goal (3, 7);
    every step gives -1 and reaching the goal ends the episode. The wind of the column the agent
    is in (0 0 0 1 1 1 2 2 1 0, left to right) pushes it that many cells up in addition to its
    move; the result is clipped to the grid (the wind cannot push it off the top).

    Actions: 0 up, 1 right, 2 down, 3 left; with ``king_moves`` also 4 up-right, 5 down-right,
    6 down-left, 7 up-left (Exercise 6.9); with ``stay`` a last action that moves only with the
    wind (index 4, or 8 with king's moves; the ninth action of Exercise 6.9).

    With ``stochastic_wind`` (Exercise 6.10), in every column with wind the push is the mean
    value, one more, or one less, each with probability 1/3; windless columns stay calm.

    Without stochastic wind the shortest episode takes 15 steps (Figure 6.3), 7 with king's moves.

    Args:
        king_moves: add the four diagonal moves.
        stay: add the action that does not move.
        stochastic_wind: make the wind vary by one either way.
        render_mode: ``None`` or ``"ansi"``.
    """

    def __init__(
        self,
        king_moves: bool = False,
        stay: bool = False,
        stochastic_wind: bool = False,
        render_mode: str | None = None,
    ) -> None:
        for name, value in (
            ("king_moves", king_moves),
            ("stay", stay),
            ("stochastic_wind", stochastic_wind),
        ):
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{name} must be True or False, got {value!r}.")
        self.king_moves, self.stay, self.stochastic_wind = (
            bool(king_moves),
            bool(stay),
            bool(stochastic_wind),
        )
        moves = list(COMPASS) + (list(DIAGONAL) if king_moves else []) + ([(0, 0)] if stay else [])
        self.action_names: tuple[str, ...] = (
            COMPASS_NAMES + (DIAGONAL_NAMES if king_moves else ()) + (("stay",) if stay else ())
        )
        self.moves: tuple[tuple[int, int], ...] = tuple(moves)
        self.wind = np.array(WIND)
        self.start_state = self.to_state(*START)
        self.goal_state = self.to_state(*GOAL)
        self.grid = np.full((N_ROWS, N_COLS), ".")
        self.grid[START] = "S"
        self.grid[GOAL] = "G"
        P: Model = {}
        for s in range(N_ROWS * N_COLS):
            if s == self.goal_state:
                P[s] = {a: [(1.0, s, 0.0, True)] for a in range(len(moves))}
                continue
            row, col = self.to_cell(s)
            pushes = self._pushes(col)
            P[s] = {}
            for a, (d_row, d_col) in enumerate(moves):
                probs: dict[int, float] = {}
                for push, p in pushes:
                    r2 = min(max(row + d_row - push, 0), N_ROWS - 1)
                    c2 = min(max(col + d_col, 0), N_COLS - 1)
                    s2 = self.to_state(r2, c2)
                    probs[s2] = probs.get(s2, 0.0) + p
                P[s][a] = [(p, s2, -1.0, s2 == self.goal_state) for s2, p in probs.items()]
        isd = np.zeros(N_ROWS * N_COLS)
        isd[self.start_state] = 1.0
        super().__init__(P, isd, render_mode)

    def _pushes(self, col: int) -> list[tuple[int, float]]:
        """(upward push, probability) pairs of the wind in a column."""
        w = WIND[col]
        if self.stochastic_wind and w > 0:
            return [(w - 1, 1 / 3), (w, 1 / 3), (w + 1, 1 / 3)]
        return [(w, 1.0)]

    @staticmethod
    def to_state(row: int, col: int) -> int:
        """State index of cell (row, col)."""
        return row * N_COLS + col

    @staticmethod
    def to_cell(s: int) -> tuple[int, int]:
        """(row, col) of state s."""
        return divmod(int(s), N_COLS)

    def _render_text(self) -> str:
        return render_grid(self.grid, self.to_cell(self.s), footer="".join(map(str, WIND)))
