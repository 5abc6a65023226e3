"""Finite MDPs as arrays: the ground-truth model behind dynamic programming and batched runs.

A finite env exposes its model as gymnasium's FrozenLake does::

    env.unwrapped.P[s][a] -> [(prob, next_state, reward, terminated), ...]

``FiniteMDP`` stores that list of outcomes as flat arrays, one row per (s, a) pair (a CSR layout):
outcome ``k`` of row ``s * n_actions + a`` lives at ``indptr[row] <= k < indptr[row + 1]``. From it:

- ``expected_reward``  r(s, a) = sum_k p_k r_k                                   (S, A)
- ``continuation``     P_c[(s, a), s'] = sum_{k: s'_k = s', not term_k} p_k     sparse (S*A, S)

so the Bellman backup is ``q = r + gamma * (P_c @ v).reshape(S, A)`` (Sutton & Barto (2018) eq.
4.6 with terminal outcomes contributing no bootstrap). ``sample`` draws outcomes for a batch of
(s, a) pairs at once, which is what the batched multi-run engine steps with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp

PROB_TOLERANCE = 1e-9


@runtime_checkable
class ExposesFiniteMDP(Protocol):
    """An env that hands out its model as a FiniteMDP directly, skipping the list-of-tuples
    ``P`` (for models too large to walk in Python, e.g. Jack's car rental)."""

    def finite_mdp(self) -> FiniteMDP: ...


@dataclass(frozen=True, eq=False)
class FiniteMDP:
    """A finite MDP given by its outcome table.

    Attributes:
        n_states: S.
        n_actions: A.
        indptr: (S*A + 1,) row pointers into the outcome arrays.
        next_state: (K,) next state of each outcome.
        prob: (K,) probability of each outcome; each row sums to one.
        reward: (K,) reward of each outcome (its mean, where the env's reward is random).
        terminated: (K,) whether the outcome ends the episode (no bootstrap from next_state).
        initial: (S,) initial-state distribution (uniform where the env does not say).
    """

    n_states: int
    n_actions: int
    indptr: np.ndarray
    next_state: np.ndarray
    prob: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    initial: np.ndarray
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        S, A = self.n_states, self.n_actions
        if S < 1 or A < 1:
            raise ValueError(f"a finite MDP needs at least one state and action, got S={S}, A={A}")
        if self.indptr.shape != (S * A + 1,):
            raise ValueError(f"indptr has shape {self.indptr.shape}, expected ({S * A + 1},)")
        K = self.indptr[-1]
        for name in ("next_state", "prob", "reward", "terminated"):
            if getattr(self, name).shape != (K,):
                raise ValueError(f"{name} has shape {getattr(self, name).shape}, expected ({K},)")
        if np.any(np.diff(self.indptr) == 0):
            row = int(np.flatnonzero(np.diff(self.indptr) == 0)[0])
            raise ValueError(
                f"state {row // A}, action {row % A} has no outcomes; every (s, a) needs at least "
                "one (a terminal state loops to itself with terminated=True)."
            )
        if np.any((self.next_state < 0) | (self.next_state >= S)):
            raise ValueError(f"a next state lies outside [0, {S - 1}]")
        if np.any(self.prob < 0) or not np.all(np.isfinite(self.prob)):
            raise ValueError("outcome probabilities must be finite and non-negative")
        sums = np.add.reduceat(self.prob, self.indptr[:-1])
        bad = np.flatnonzero(np.abs(sums - 1.0) > 1e-6)
        if bad.size:
            row = int(bad[0])
            raise ValueError(
                f"outcome probabilities of state {row // A}, action {row % A} sum to "
                f"{sums[row]:.9g}, not 1 (tolerance 1e-6); fix the env's model P."
            )
        if self.initial.shape != (S,) or abs(float(self.initial.sum()) - 1.0) > 1e-6:
            raise ValueError("initial must be a distribution over the S states")

    # -- constructors ---------------------------------------------------------------------------
    @classmethod
    def from_P(
        cls,
        P: dict | list,
        n_states: int | None = None,
        n_actions: int | None = None,
        initial: np.ndarray | None = None,
    ) -> FiniteMDP:
        """Build from a FrozenLake-style ``P[s][a] -> [(prob, next_state, reward, terminated)]``."""
        S = len(P) if n_states is None else n_states
        A = len(P[0]) if n_actions is None else n_actions
        indptr = [0]
        ns, pr, rw, tm = [], [], [], []
        for s in range(S):
            if not _has_key(P, s):
                raise ValueError(f"model P has no entry for state {s} (expected states 0..{S - 1})")
            row = P[s]
            for a in range(A):
                if not _has_key(row, a):
                    raise ValueError(f"model P[{s}] has no entry for action {a}")
                for outcome in row[a]:
                    p, s2, r, done = outcome[:4]
                    ns.append(int(s2))
                    pr.append(float(p))
                    rw.append(float(r))
                    tm.append(bool(done))
                indptr.append(len(ns))
        if initial is None:
            initial = np.full(S, 1.0 / S)
        return cls(
            S,
            A,
            np.asarray(indptr, dtype=np.int64),
            np.asarray(ns, dtype=np.int64),
            np.asarray(pr, dtype=np.float64),
            np.asarray(rw, dtype=np.float64),
            np.asarray(tm, dtype=bool),
            np.asarray(initial, dtype=np.float64),
        )

    @classmethod
    def from_arrays(
        cls,
        P: np.ndarray,
        R: np.ndarray,
        terminal: np.ndarray | None = None,
        initial: np.ndarray | None = None,
    ) -> FiniteMDP:
        """Build from dense arrays.

        Args:
            P: (S, A, S) transition probabilities p(s' | s, a).
            R: (S, A) expected rewards, or (S, A, S) reward of each transition.
            terminal: (S,) bool; entering a terminal state ends the episode. Default: none.
            initial: (S,) initial-state distribution; default uniform.
        """
        P = np.asarray(P, dtype=np.float64)
        if P.ndim != 3 or P.shape[0] != P.shape[2]:
            raise ValueError(f"P must have shape (S, A, S), got {P.shape}")
        S, A, _ = P.shape
        R = np.asarray(R, dtype=np.float64)
        if R.shape == (S, A):
            R = np.broadcast_to(R[:, :, None], (S, A, S))
        elif R.shape != (S, A, S):
            raise ValueError(f"R must have shape ({S}, {A}) or ({S}, {A}, {S}), got {R.shape}")
        term = np.zeros(S, bool) if terminal is None else np.asarray(terminal, dtype=bool)
        if term.shape != (S,):
            raise ValueError(f"terminal must have shape ({S},), got {term.shape}")
        rows, cols = np.nonzero(P.reshape(S * A, S))
        counts = np.bincount(rows, minlength=S * A)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        initial = np.full(S, 1.0 / S) if initial is None else np.asarray(initial, np.float64)
        return cls(
            S,
            A,
            indptr,
            cols.astype(np.int64),
            P.reshape(S * A, S)[rows, cols],
            R.reshape(S * A, S)[rows, cols],
            term[cols],
            initial,
        )

    @classmethod
    def from_env(cls, env: Any) -> FiniteMDP:
        """Build from an env (or wrapper) whose unwrapped env exposes the model: its
        ``finite_mdp()`` method (``ExposesFiniteMDP``) if it has one, else ``P``."""
        from gymnasium import spaces

        base = getattr(env, "unwrapped", env)
        if isinstance(base, ExposesFiniteMDP):
            return base.finite_mdp()
        P = getattr(base, "P", None)
        if P is None:
            raise TypeError(
                f"{type(base).__name__} exposes no finite model: dynamic programming needs "
                "env.unwrapped.P[s][a] -> [(prob, next_state, reward, terminated)], as gymnasium's "
                "FrozenLake, CliffWalking and Taxi and the rlcore/ book envs provide. For other "
                "envs, build a FiniteMDP from arrays with FiniteMDP.from_arrays(P, R)."
            )
        obs_space, act_space = base.observation_space, base.action_space
        for role, space in (("observation", obs_space), ("action", act_space)):
            if not isinstance(space, spaces.Discrete):
                raise TypeError(f"a finite model needs a Discrete {role} space, got {space!r}")
        initial = getattr(base, "initial_state_distrib", None)
        if initial is None:
            initial = getattr(base, "isd", None)
        return cls.from_P(P, int(obs_space.n), int(act_space.n), initial)

    # -- derived arrays -------------------------------------------------------------------------
    @property
    def expected_reward(self) -> np.ndarray:
        """r(s, a) = E[R_{t+1} | S_t = s, A_t = a], shape (S, A)."""
        if "r" not in self._cache:
            r = np.add.reduceat(self.prob * self.reward, self.indptr[:-1])
            self._cache["r"] = r.reshape(self.n_states, self.n_actions)
        return self._cache["r"]

    @property
    def continuation(self) -> sp.csr_matrix:
        """Sparse (S*A, S): probability of moving to s' without terminating."""
        if "pc" not in self._cache:
            data = np.where(self.terminated, 0.0, self.prob)
            m = sp.csr_matrix(
                (data, self.next_state, self.indptr),
                shape=(self.n_states * self.n_actions, self.n_states),
            )
            m.sum_duplicates()
            m.eliminate_zeros()
            self._cache["pc"] = m
        return self._cache["pc"]

    def transition_matrix(self) -> np.ndarray:
        """Dense p(s' | s, a) of shape (S, A, S), terminal outcomes included. For small MDPs."""
        m = sp.csr_matrix(
            (self.prob, self.next_state, self.indptr),
            shape=(self.n_states * self.n_actions, self.n_states),
        )
        return m.toarray().reshape(self.n_states, self.n_actions, self.n_states)

    def q_from_v(self, v: np.ndarray, gamma: float) -> np.ndarray:
        """One-step lookahead q(s, a) = r(s, a) + gamma * sum_s' P_c(s' | s, a) v(s'); (S, A)."""
        pv = self.continuation @ v
        return self.expected_reward + gamma * pv.reshape(self.n_states, self.n_actions)

    def policy_matrices(self, pi: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
        """(P_pi, r_pi) for a policy pi of shape (S, A): P_pi (S, S) sparse, r_pi (S,)."""
        S, A = self.n_states, self.n_actions
        rows = np.arange(S * A)
        weights = sp.csr_matrix((pi.reshape(-1), (rows // A, rows)), shape=(S, S * A))
        return (weights @ self.continuation).tocsr(), (pi * self.expected_reward).sum(axis=1)

    # -- sampling (used by the batched engine) ----------------------------------------------------
    def sample(
        self, s: np.ndarray, a: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Draw one outcome for each (s, a) pair: (next_state, reward, terminated), each like s."""
        if "cum" not in self._cache:
            # Cumulative probabilities shifted by the row index: one searchsorted serves all rows.
            counts = np.diff(self.indptr)
            rows = np.repeat(np.arange(self.n_states * self.n_actions), counts)
            cum = np.cumsum(self.prob)
            before_row = cum[self.indptr[:-1]] - self.prob[self.indptr[:-1]]
            within = cum - np.repeat(before_row, counts)
            within[self.indptr[1:] - 1] = 1.0  # guard against rounding at the end of each row
            self._cache["cum"] = rows + within
        row = np.asarray(s) * self.n_actions + np.asarray(a)
        u = rng.random(row.shape)
        k = np.searchsorted(self._cache["cum"], row + u, side="right")
        k = np.minimum(k, self.indptr[row + 1] - 1)
        return self.next_state[k], self.reward[k], self.terminated[k]

    def sample_initial(self, size: int | tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        """Draw initial states from ``initial``."""
        return rng.choice(self.n_states, size=size, p=self.initial)


def _has_key(container: dict | list, key: int) -> bool:
    return key in container if isinstance(container, dict) else 0 <= key < len(container)


def random_mdp(
    n_states: int,
    n_actions: int,
    rng: np.random.Generator,
    *,
    branching: int = 3,
    terminal_prob: float = 0.1,
) -> FiniteMDP:
    """A random MDP for property tests: each (s, a) has ``branching`` outcomes with random
    probabilities and rewards in [-1, 1], each outcome terminating with ``terminal_prob``."""
    S, A = n_states, n_actions
    b = min(branching, S)
    K = S * A * b
    next_state = np.concatenate([rng.choice(S, size=b, replace=False) for _ in range(S * A)])
    prob = rng.dirichlet(np.ones(b), size=S * A).reshape(K)
    return FiniteMDP(
        S,
        A,
        np.arange(0, K + 1, b, dtype=np.int64),
        next_state.astype(np.int64),
        prob,
        rng.uniform(-1, 1, K),
        rng.random(K) < terminal_prob,
        np.full(S, 1.0 / S),
    )
