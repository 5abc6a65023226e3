"""The mazes of chapter 8: the Dyna maze and the blocking and shortcut mazes whose wall moves."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from rlcore.envs._finite import FiniteModelEnv, Model
from rlcore.envs._grid import COMPASS, blocked_move, find, parse_layout, render_grid
from rlcore.registry import export
from rlcore.validation import check_choice, check_int

# Layouts as text: '#' wall, 'S' start, 'G' goal, '.' free. Row 0 is the top of the figure.
LAYOUTS: dict[str, dict[str, tuple[str, ...]]] = {
    # Figure 8.2: start (2, 0), goal (0, 8); the shortest path takes 14 steps.
    "dyna": {
        "before": (
            ".......#G",
            "..#....#.",
            "S.#....#.",
            "..#......",
            ".....#...",
            ".........",
        ),
    },
    # Figure 8.4: the gap at the right end of the wall closes, one opens at the left end.
    "blocking": {
        "before": (
            "........G",
            ".........",
            ".........",
            "########.",
            ".........",
            "...S.....",
        ),
        "after": (
            "........G",
            ".........",
            ".........",
            ".########",
            ".........",
            "...S.....",
        ),
    },
    # Figure 8.5: a second, shorter gap opens at the right end of the wall.
    "shortcut": {
        "before": (
            "........G",
            ".........",
            ".........",
            ".########",
            ".........",
            "...S.....",
        ),
        "after": (
            "........G",
            ".........",
            ".........",
            ".#######.",
            ".........",
            "...S.....",
        ),
    },
}

# Total steps after which the wall moves in the book's experiments.
BOOK_SWITCH_STEP: dict[str, int] = {"blocking": 1000, "shortcut": 3000}

MazeName = Literal["dyna", "blocking", "shortcut"]
Layout = Literal["before", "after"]


def maze_model(grid: np.ndarray) -> Model:
    """``P`` of a maze layout: compass moves, blocked by walls and edges, +1 on reaching G.

    Every cell is a state, wall cells included: a wall cell is unreachable except when the wall
    appears under the agent (the layout switch), and it moves like a free cell so that the agent
    can step out of it.
    """
    n_rows, n_cols = grid.shape
    goal = find(grid, "G")[0]
    goal_state = goal[0] * n_cols + goal[1]
    P: Model = {}
    for row in range(n_rows):
        for col in range(n_cols):
            s = row * n_cols + col
            if s == goal_state:
                P[s] = {a: [(1.0, s, 0.0, True)] for a in range(len(COMPASS))}
                continue
            P[s] = {}
            for a, (d_row, d_col) in enumerate(COMPASS):
                r2, c2 = blocked_move(grid, row, col, d_row, d_col)
                s2 = r2 * n_cols + c2
                P[s][a] = [(1.0, s2, 1.0 if s2 == goal_state else 0.0, s2 == goal_state)]
    return P


@export("envs.maze")
class MazeEnv(FiniteModelEnv):
    """The chapter-8 mazes: Dyna maze (Sutton & Barto (2018) Example 8.1, Figure 8.2),
    blocking maze (Example 8.2, Figure 8.4) and shortcut maze (Example 8.3, Figure 8.5).

    A 6 x 9 grid, state ``s = 9 * row + col`` (row 0 at the top; every cell is a state, walls
    included, see ``maze_model``). Actions: 0 up, 1 right, 2 down, 3 left; a move into a wall or
    off the grid leaves the agent put. Reaching the goal gives +1 and ends the episode, every
    other step 0 (the book discounts with gamma = 0.95). Dyna maze: start (2, 0), goal (0, 8);
    blocking and shortcut mazes: start (5, 3), goal (0, 8).

    The blocking and shortcut mazes change over time. ``layout`` picks the wall to start with;
    with ``switch_step`` the env swaps to the "after" layout once it has taken that many steps in
    total, across episodes (by default the book's 1000 for the blocking maze and 3000 for the
    shortcut maze). ``P`` is always the model of the current layout (it is replaced at the
    switch, so re-read ``env.unwrapped.P``); ``models`` holds both layouts' models and
    ``layout`` / ``total_steps`` say where the env stands. The step counter survives ``reset``; a
    new env starts afresh. For a fixed wall, pass ``switch_step=None`` (or ``layout="after"``).

    Args:
        maze: ``"dyna"``, ``"blocking"`` or ``"shortcut"``.
        layout: ``"before"`` or ``"after"`` (the Dyna maze has only ``"before"``).
        switch_step: total steps after which the layout becomes ``"after"``; ``None``: never.
            The default ``"book"`` means ``BOOK_SWITCH_STEP[maze]`` when the maze starts in
            the ``"before"`` layout and never otherwise (the Dyna maze, or ``layout="after"``).
            An explicit number needs ``layout="before"`` and a maze with two layouts.
        render_mode: ``None`` or ``"ansi"``.
    """

    def __init__(
        self,
        maze: MazeName = "dyna",
        layout: Layout = "before",
        switch_step: int | Literal["book"] | None = "book",
        render_mode: str | None = None,
    ) -> None:
        check_choice("maze", maze, tuple(LAYOUTS))
        check_choice("layout", layout, tuple(LAYOUTS[maze]))
        if switch_step == "book":
            switch_step = BOOK_SWITCH_STEP.get(maze) if layout == "before" else None
        if switch_step is not None:
            if maze == "dyna":
                raise ValueError(
                    "switch_step is for the blocking and shortcut mazes; the Dyna maze has one "
                    "layout. Pass switch_step=None."
                )
            check_int(
                "switch_step",
                switch_step,
                1,
                hint="The book uses 1000 (blocking), 3000 (shortcut).",
            )
            if layout != "before":
                raise ValueError(
                    f"layout={layout!r} with switch_step={switch_step}: the switch goes from "
                    "'before' to 'after'. To use the 'after' wall from the start, pass "
                    "switch_step=None."
                )
        self.maze = maze
        self.layout = layout
        self.switch_step = switch_step
        self.total_steps = 0
        self.grids = {name: parse_layout(lines) for name, lines in LAYOUTS[maze].items()}
        self.models: dict[str, Model] = {name: maze_model(g) for name, g in self.grids.items()}
        self.n_rows, self.n_cols = self.grids[layout].shape
        start = find(self.grids[layout], "S")[0]
        self.start_state = self.to_state(*start)
        self.goal_state = self.to_state(*find(self.grids[layout], "G")[0])
        isd = np.zeros(self.n_rows * self.n_cols)
        isd[self.start_state] = 1.0
        super().__init__(self.models[layout], isd, render_mode)

    def step(self, action: Any) -> tuple[int, float, bool, bool, dict[str, Any]]:
        out = super().step(action)
        self.total_steps += 1
        if self.total_steps == self.switch_step:
            self.layout = "after"
            self._set_model(self.models["after"])
        return out

    def to_state(self, row: int, col: int) -> int:
        """State index of cell (row, col)."""
        return row * self.n_cols + col

    def to_cell(self, s: int) -> tuple[int, int]:
        """(row, col) of state s."""
        return divmod(int(s), self.n_cols)

    def _render_text(self) -> str:
        return render_grid(self.grids[self.layout], self.to_cell(self.s))
