"""The 4x4 gridworld of Example 4.1, the book's first dynamic-programming example."""

from __future__ import annotations

import numpy as np

from rlcore.envs._finite import FiniteModelEnv, Model
from rlcore.envs._grid import COMPASS, blocked_move, render_grid
from rlcore.registry import export

SIZE = 4


@export("envs.gridworld_4x4")
class Gridworld4x4Env(FiniteModelEnv):
    """The 4x4 gridworld (Sutton & Barto (2018) Example 4.1, Figure 4.1).

    State ``s = 4 * row + col`` (row 0 at the top), so the book's numbering 1..14 of the
    non-terminal cells is the state index itself; states 0 (top left) and 15 (bottom right) are
    the terminal corner (the book draws both as one shaded terminal state). Actions: 0 up,
    1 right, 2 down, 3 left. Every transition gives -1; a move off the grid leaves the state
    unchanged. Undiscounted. The book does not fix a start state: episodes start uniformly at
    random in one of the 14 non-terminal states.

    Under the equiprobable random policy v_pi is Figure 4.1's last grid (0, -14, -20, -22, ...).
    """

    terminal_states: tuple[int, ...] = (0, SIZE * SIZE - 1)

    def __init__(self, render_mode: str | None = None) -> None:
        self.grid = np.full((SIZE, SIZE), ".")
        for s in self.terminal_states:
            self.grid[self.to_cell(s)] = "T"
        P: Model = {}
        for s in range(SIZE * SIZE):
            if s in self.terminal_states:
                P[s] = {a: [(1.0, s, 0.0, True)] for a in range(len(COMPASS))}
                continue
            row, col = self.to_cell(s)
            P[s] = {}
            for a, (d_row, d_col) in enumerate(COMPASS):
                s2 = self.to_state(*blocked_move(self.grid, row, col, d_row, d_col))
                P[s][a] = [(1.0, s2, -1.0, s2 in self.terminal_states)]
        isd = np.ones(SIZE * SIZE)
        isd[list(self.terminal_states)] = 0.0
        super().__init__(P, isd / isd.sum(), render_mode)

    @staticmethod
    def to_state(row: int, col: int) -> int:
        """State index of cell (row, col)."""
        return row * SIZE + col

    @staticmethod
    def to_cell(s: int) -> tuple[int, int]:
        """(row, col) of state s."""
        return divmod(int(s), SIZE)

    def _render_text(self) -> str:
        return render_grid(self.grid, self.to_cell(self.s))
