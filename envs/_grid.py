"""Shared pieces of the book's gridworlds: moves, layouts as text, and the ansi rendering.

Cells are (row, col) with row 0 at the top; a cell's state index is ``row * n_cols + col``. The
four compass moves are numbered as in gymnasium's CliffWalking: 0 up, 1 right, 2 down, 3 left.
"""

from __future__ import annotations

import numpy as np

# (d_row, d_col) of each move, by action index.
COMPASS: tuple[tuple[int, int], ...] = ((-1, 0), (0, 1), (1, 0), (0, -1))
COMPASS_NAMES: tuple[str, ...] = ("up", "right", "down", "left")
# King's moves (Exercise 6.9) continue the numbering: 4 up-right, 5 down-right, 6 down-left,
# 7 up-left.
DIAGONAL: tuple[tuple[int, int], ...] = ((-1, 1), (1, 1), (1, -1), (-1, -1))
DIAGONAL_NAMES: tuple[str, ...] = ("up-right", "down-right", "down-left", "up-left")

AGENT = "@"


def parse_layout(lines: tuple[str, ...] | list[str]) -> np.ndarray:
    """A layout given as equal-length text rows -> (n_rows, n_cols) array of single characters."""
    widths = {len(line) for line in lines}
    if len(widths) != 1:
        raise ValueError(f"layout rows must have equal lengths, got lengths {sorted(widths)}")
    return np.array([list(line) for line in lines])


def find(grid: np.ndarray, char: str) -> list[tuple[int, int]]:
    """Cells of ``grid`` holding ``char``, in row-major order."""
    return [(int(r), int(c)) for r, c in zip(*np.nonzero(grid == char))]


def blocked_move(
    grid: np.ndarray, row: int, col: int, d_row: int, d_col: int, wall: str = "#"
) -> tuple[int, int]:
    """The cell reached by one move; a move off the grid or into a wall leaves the agent put."""
    r, c = row + d_row, col + d_col
    n_rows, n_cols = grid.shape
    if not (0 <= r < n_rows and 0 <= c < n_cols) or grid[r, c] == wall:
        return row, col
    return r, c


def render_grid(grid: np.ndarray, agent: tuple[int, int] | None, footer: str = "") -> str:
    """The grid as text, one character per cell, the agent drawn as ``@``."""
    chars = grid.copy()
    if agent is not None:
        chars[agent] = AGENT
    text = "\n".join("".join(row) for row in chars) + "\n"
    return text + (footer + "\n" if footer else "")
