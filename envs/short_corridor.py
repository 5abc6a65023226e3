"""The short corridor with switched actions (Example 13.1): where a stochastic policy wins."""

from __future__ import annotations

import numpy as np

from rlcore.envs._finite import FiniteModelEnv, Model
from rlcore.registry import export

LEFT, RIGHT = 0, 1
GOAL = 3


@export("envs.short_corridor")
class ShortCorridorEnv(FiniteModelEnv):
    """Short corridor with switched actions (Sutton & Barto (2018) Example 13.1).

    States 0, 1, 2 are the non-terminal cells from left to right, 3 the terminal goal. Actions:
    0 left, 1 right. In state 0 left does not move; in state 1 the actions are reversed (left
    moves right, right moves left); in state 2 they act normally. Every step gives -1 and
    episodes start in state 0. Undiscounted.

    All states look alike under the book's function approximation (x(s, right) = [1, 0],
    x(s, left) = [0, 1]), so the best policy is stochastic: right with probability
    p* = 2 - sqrt(2) (about 0.59), giving v(0) = -(6 + 4 sqrt(2)) (about -11.66). For a policy
    choosing right with probability p, v(0) = (2p - 4) / (p (1 - p)).
    """

    def __init__(self, render_mode: str | None = None) -> None:
        moves = {0: {LEFT: 0, RIGHT: 1}, 1: {LEFT: 2, RIGHT: 0}, 2: {LEFT: 1, RIGHT: GOAL}}
        P: Model = {
            s: {a: [(1.0, s2, -1.0, s2 == GOAL)] for a, s2 in row.items()}
            for s, row in moves.items()
        }
        P[GOAL] = {a: [(1.0, GOAL, 0.0, True)] for a in (LEFT, RIGHT)}
        isd = np.zeros(4)
        isd[0] = 1.0
        super().__init__(P, isd, render_mode)

    def _render_text(self) -> str:
        cells = [".", ".", ".", "G"]
        cells[self.s] = "@"
        return " ".join(cells) + "\n"
