"""The gambler's problem of Example 4.3 (Sutton & Barto (2018) §4.4, Figure 4.3)."""

from __future__ import annotations

import numpy as np

from rlcore.envs._finite import FiniteModelEnv, Model
from rlcore.registry import export
from rlcore.validation import check_int, check_range


@export("envs.gamblers_problem")
class GamblersProblemEnv(FiniteModelEnv):
    """Bet on coin flips until the capital reaches ``goal`` (a win) or 0 (a loss).

    State: the capital s in 0..goal (0 and ``goal`` are terminal). Action: the stake a in
    0..goal // 2 (``Discrete(goal // 2 + 1)``). A legal stake, 1 <= a <= min(s, goal - s), wins
    a with probability ``p_h`` and loses it otherwise. The reward is +1 on reaching the goal and
    0 on every other transition; undiscounted, so v_pi(s) is the probability of winning from s.

    Any other stake (0, or more than min(s, goal - s)) is not a bet: the gambler walks away and
    the episode ends with capital s and reward 0. Why this choice: the book allows stake 0, which
    leaves s unchanged; a policy that stakes 0 at s stays there forever and wins with probability
    0, exactly as a policy that walks away. So every stationary policy has the same value as in
    the book's formulation, and v* and the set of optimal policies are the book's. What changes
    is q(s, 0): 0 here instead of the book's q*(s, 0) = v*(s), a tie that would make "stake 0" look
    optimal under gamma = 1 although no policy that uses it where v*(s) > 0 is. Walking away also
    makes every policy proper, so policy iteration can start from any policy.

    Args:
        p_h: probability that the coin comes up heads (the gambler wins the stake); 0.4 in the
            book's Figure 4.3.
        goal: the capital that wins (100 in the book); states are 0..goal.
        initial_capital: the start state; None draws it uniformly from 1..goal-1.
        render_mode: None or "ansi".
    """

    def __init__(
        self,
        p_h: float = 0.4,
        goal: int = 100,
        initial_capital: int | None = None,
        render_mode: str | None = None,
    ) -> None:
        self.p_h = check_range("p_h", p_h, 0.0, 1.0, hint="p_h is a probability.")
        self.goal = check_int("goal", goal, 2, hint="The goal must leave room for a bet.")
        isd = np.zeros(self.goal + 1)
        if initial_capital is None:
            isd[1 : self.goal] = 1.0 / (self.goal - 1)
        else:
            isd[check_int("initial_capital", initial_capital, 1, self.goal - 1)] = 1.0
        super().__init__(gamblers_model(self.p_h, self.goal), isd, render_mode)

    def _render_text(self) -> str:
        return f"capital {self.s} of {self.goal} (last stake {self.lastaction})\n"


def gamblers_model(p_h: float, goal: int) -> Model:
    """P[s][a] -> [(prob, s', reward, terminated)] for the gambler's problem (see the env)."""
    n_stakes = goal // 2 + 1
    P: Model = {}
    for s in range(goal + 1):
        P[s] = {}
        for stake in range(n_stakes):
            if s in (0, goal):  # terminal: absorbing, as FrozenLake's holes
                P[s][stake] = [(1.0, s, 0.0, True)]
            elif 1 <= stake <= min(s, goal - s):
                win, lose = s + stake, s - stake
                outcomes = [
                    (p_h, win, float(win == goal), win == goal),
                    (1.0 - p_h, lose, 0.0, lose == 0),
                ]
                P[s][stake] = [o for o in outcomes if o[0] > 0.0]  # p_h in {0, 1}: one
            else:  # not a legal bet: walk away with the capital
                P[s][stake] = [(1.0, s, 0.0, True)]
    return P
