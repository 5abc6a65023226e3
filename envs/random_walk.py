"""The book's random walks: Markov reward processes used to compare prediction methods.

Both walks have a single action (0): the walk moves by itself, so every policy an agent might
follow gives the process of the book. States include the two terminal ends, so a value table
indexed by the observation has zeros at both ends and needs no offset.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from rlcore.envs._finite import FiniteModelEnv, Model
from rlcore.registry import export
from rlcore.validation import check_int, check_range


def _left_reward(n_states: int, left_reward: float | None) -> float:
    """The given left reward, or the book's for the size: 0 for 5 states, -1 otherwise."""
    if left_reward is None:
        return 0.0 if n_states == 5 else -1.0
    return check_range("left_reward", left_reward)


@export("envs.random_walk_true_values")
def random_walk_true_values(
    n_states: int = 5, left_reward: float | None = None, right_reward: float = 1.0
) -> np.ndarray:
    """Exact undiscounted values of the n-state random walk, terminal ends included.

    With gamma = 1 and equal chances of moving left or right, v is linear in the position
    (the gambler's-ruin identity): v(i) = left + (right - left) * i / (n + 1) for the
    non-terminal states i = 1..n, and v = 0 at the terminal ends 0 and n + 1. The 5-state walk
    (Sutton & Barto (2018) Example 6.2) gives 1/6, 2/6, ..., 5/6; the 19-state walk of chapter 7
    (left reward -1) gives -0.9, -0.8, ..., 0.9.

    Args:
        n_states: number of non-terminal states n (odd, >= 3).
        left_reward: reward on exiting left; ``None``: the book's value (0 for n = 5, else -1).
        right_reward: reward on exiting right.

    Returns:
        (n + 2,) values indexed by the env's observation.
    """
    n = _check_n_states(n_states)
    left = _left_reward(n, left_reward)
    right = check_range("right_reward", right_reward)
    v = np.zeros(n + 2)
    v[1:-1] = left + (right - left) * np.arange(1, n + 1) / (n + 1)
    return v


def _check_n_states(n_states: int) -> int:
    n = check_int("n_states", n_states, 3, hint="The book uses 5 (Example 6.2) and 19 (ch. 7).")
    if n % 2 == 0:
        raise ValueError(
            f"n_states={n} is even; the walk starts in the centre state, so use an odd number "
            "(5 as in Example 6.2, 19 as in chapter 7)."
        )
    return n


@export("envs.random_walk")
class RandomWalkEnv(FiniteModelEnv):
    """The n-state random walk (Sutton & Barto (2018) Example 6.2, n = 5; §7.1, n = 19).

    Observations 0..n+1: 0 is the left terminal end, 1..n the non-terminal states (A..E for
    n = 5), n + 1 the right terminal end. Every episode starts in the centre state (n + 1) / 2
    (C for n = 5) and moves one state left or right with probability 1/2 each. Exiting right gives
    ``right_reward`` (+1), exiting left ``left_reward``, every other step 0. Undiscounted.

    There is one action (0): the walk is a Markov reward process. ``true_values`` holds the exact
    values (``random_walk_true_values``), e.g. 1/6..5/6 for the 5-state walk.

    Args:
        n_states: number of non-terminal states (odd, >= 3); 5 by default.
        left_reward: reward for exiting left. Default ``None`` is the book's choice for the size:
            0 for the 5-state walk (Example 6.2), -1 for any other size (the 19-state walk of
            chapters 7 and 12).
        right_reward: reward for exiting right (+1 in the book).
        render_mode: ``None`` or ``"ansi"``.
    """

    def __init__(
        self,
        n_states: int = 5,
        left_reward: float | None = None,
        right_reward: float = 1.0,
        render_mode: str | None = None,
    ) -> None:
        n = _check_n_states(n_states)
        left = _left_reward(n, left_reward)
        right = check_range("right_reward", right_reward)
        self.n_states = n
        self.left_reward = left
        self.right_reward = right
        self.start_state = (n + 1) // 2
        P: Model = {}
        for s in range(n + 2):
            if s in (0, n + 1):
                P[s] = {0: [(1.0, s, 0.0, True)]}
                continue
            left_outcome = (0.5, s - 1, left if s == 1 else 0.0, s == 1)
            right_outcome = (0.5, s + 1, right if s == n else 0.0, s == n)
            P[s] = {0: [left_outcome, right_outcome]}
        isd = np.zeros(n + 2)
        isd[self.start_state] = 1.0
        super().__init__(P, isd, render_mode)

    @property
    def true_values(self) -> np.ndarray:
        """(n + 2,) exact state values, zero at the terminal ends (a fresh array)."""
        return random_walk_true_values(self.n_states, self.left_reward, self.right_reward)

    def _render_text(self) -> str:
        cells = ["T"] + [
            chr(ord("A") + i) if self.n_states <= 26 else "." for i in range(self.n_states)
        ]
        cells.append("T")
        cells[self.s] = "@"
        return " ".join(cells) + "\n"


# -- the 1000-state walk (chapter 9) -----------------------------------------------------------

N_1000 = 1000
MAX_JUMP = 100


@export("envs.random_walk_1000")
class RandomWalk1000Env(FiniteModelEnv):
    """The 1000-state random walk with jumps (Sutton & Barto (2018) Example 9.1).

    Observations 0..1001: 0 is the left terminal end, 1..1000 the non-terminal states, 1001 the
    right terminal end. Episodes start in state 500. Each step jumps to one of the 100 states to
    the left or the 100 states to the right, all 200 equally likely. Where fewer than 100 states
    lie on one side, the probability of the missing ones goes to terminating on that side
    (state 1 terminates left with probability 1/2, state 950 right with probability 1/4).
    Terminating left gives -1, right +1, every other step 0. Undiscounted; one action (0).

    ``true_values`` holds the exact values by solving the Bellman equation (Figure 9.1's
    "true value" curve).
    """

    def __init__(self, render_mode: str | None = None) -> None:
        n = N_1000
        p = 1.0 / (2 * MAX_JUMP)
        # Shared outcome tuples: a jump into state s2 has the same outcome from every state.
        inner = [(p, s2, 0.0, False) for s2 in range(n + 2)]
        P: Model = {0: {0: [(1.0, 0, 0.0, True)]}, n + 1: {0: [(1.0, n + 1, 0.0, True)]}}
        for s in range(1, n + 1):
            lo, hi = max(1, s - MAX_JUMP), min(n, s + MAX_JUMP)
            outcomes = []
            n_past_left = MAX_JUMP - (s - lo)
            if n_past_left:
                outcomes.append((n_past_left * p, 0, -1.0, True))
            outcomes.extend(inner[lo:s])
            outcomes.extend(inner[s + 1 : hi + 1])
            n_past_right = MAX_JUMP - (hi - s)
            if n_past_right:
                outcomes.append((n_past_right * p, n + 1, 1.0, True))
            P[s] = {0: outcomes}
        P = dict(sorted(P.items()))
        isd = np.zeros(n + 2)
        isd[n // 2] = 1.0
        self.start_state = n // 2
        super().__init__(P, isd, render_mode)

    @property
    def true_values(self) -> np.ndarray:
        """(1002,) exact state values, zero at the terminal ends (a fresh array)."""
        return random_walk_1000_true_values()

    def _render_text(self) -> str:
        return f"state {self.s} of 1..{N_1000} (0 and {N_1000 + 1} are the terminal ends)\n"


@export("envs.random_walk_1000_true_values")
def random_walk_1000_true_values() -> np.ndarray:
    """Exact values of the 1000-state walk (Example 9.1), terminal ends included; (1002,).

    Solves v = r + P v on the non-terminal states (gamma = 1), with P and r the expected one-step
    reward and continuation matrix of the walk.
    """
    return _true_values_1000().copy()


@lru_cache(maxsize=1)
def _true_values_1000() -> np.ndarray:
    n = N_1000
    s = np.arange(1, n + 1)
    d = s[:, None] - s[None, :]  # (n, n) distance between source and target
    P = ((d != 0) & (np.abs(d) <= MAX_JUMP)) / (2.0 * MAX_JUMP)
    p_left = np.maximum(0, MAX_JUMP - (s - 1)) / (2.0 * MAX_JUMP)
    p_right = np.maximum(0, MAX_JUMP - (n - s)) / (2.0 * MAX_JUMP)
    r = p_right - p_left
    v = np.zeros(n + 2)
    v[1:-1] = np.linalg.solve(np.eye(n) - P, r)
    v.setflags(write=False)
    return v
