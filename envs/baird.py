"""Baird's counterexample (Example 11.1): off-policy semi-gradient TD diverges."""

from __future__ import annotations

import numpy as np

from rlcore.envs._finite import FiniteModelEnv, Model
from rlcore.registry import export

N_STATES = 7
LOWER = 6  # the seventh state, below the six upper ones
DASHED, SOLID = 0, 1
GAMMA = 0.99


@export("envs.baird_behavior_policy")
def baird_behavior_policy() -> np.ndarray:
    """b(a | s) of Example 11.1, shape (7, 2): dashed with probability 6/7, solid 1/7."""
    b = np.empty((N_STATES, 2))
    b[:, DASHED], b[:, SOLID] = 6 / 7, 1 / 7
    return b


@export("envs.baird_target_policy")
def baird_target_policy() -> np.ndarray:
    """pi(a | s) of Example 11.1, shape (7, 2): always solid."""
    pi = np.zeros((N_STATES, 2))
    pi[:, SOLID] = 1.0
    return pi


@export("envs.baird_features")
def baird_features() -> np.ndarray:
    """The book's feature vectors x(s), shape (7, 8) (Figure 11.1).

    v(s) = 2 w_i + w_8 for the upper state i = 1..6 (rows 0..5) and v = w_7 + 2 w_8 for the
    lower state (row 6); column j holds the coefficient of w_{j+1}.
    """
    x = np.zeros((N_STATES, 8))
    x[np.arange(6), np.arange(6)] = 2.0
    x[:6, 7] = 1.0
    x[LOWER, 6], x[LOWER, 7] = 1.0, 2.0
    return x


@export("envs.baird_initial_weights")
def baird_initial_weights() -> np.ndarray:
    """The book's initial weights w = (1, 1, 1, 1, 1, 1, 10, 1), shape (8,)."""
    w = np.ones(8)
    w[6] = 10.0
    return w


@export("envs.baird")
class BairdEnv(FiniteModelEnv):
    """Baird's counterexample (Sutton & Barto (2018) Example 11.1, Figures 11.1 and 11.2).

    States 0..5 are the six upper states, 6 the lower state. Action 0 (dashed) moves to one of
    the six upper states with equal probability; action 1 (solid) moves to the lower state. All
    rewards are 0 and the task is continuing: nothing terminates. The registered id adds a time
    limit of 1000 steps (truncation, not termination), so episodic loops end; the book's figures
    instead run one long stream of transitions. Episodes start in one of the 7 states uniformly
    (the stationary distribution of the behaviour policy). The book's discount is ``GAMMA`` =
    0.99 (an attribute here: the env itself does not discount).

    For the experiments: ``behavior_policy`` (6/7 dashed, 1/7 solid, so the next state is uniform
    over all 7), ``target_policy`` (always solid), ``features`` (7, 8) and ``initial_weights``,
    all fresh arrays from the functions of the same names.
    """

    gamma: float = GAMMA

    def __init__(self, render_mode: str | None = None) -> None:
        dashed = [(1 / 6, s2, 0.0, False) for s2 in range(6)]
        solid = [(1.0, LOWER, 0.0, False)]
        P: Model = {s: {DASHED: list(dashed), SOLID: list(solid)} for s in range(N_STATES)}
        super().__init__(P, np.full(N_STATES, 1 / N_STATES), render_mode)

    @property
    def behavior_policy(self) -> np.ndarray:
        """b(a | s), (7, 2)."""
        return baird_behavior_policy()

    @property
    def target_policy(self) -> np.ndarray:
        """pi(a | s), (7, 2)."""
        return baird_target_policy()

    @property
    def features(self) -> np.ndarray:
        """x(s), (7, 8)."""
        return baird_features()

    @property
    def initial_weights(self) -> np.ndarray:
        """w_0, (8,)."""
        return baird_initial_weights()

    def _render_text(self) -> str:
        where = "lower state" if self.s == LOWER else f"upper state {self.s}"
        return f"{where} (last action {self.lastaction})\n"
