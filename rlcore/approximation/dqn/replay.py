"""Experience replay in NumPy: a preallocated ring buffer, a sum tree, prioritized replay, and the
n-step windows that turn a stream of one-step transitions into n-step ones.

A stored transition is (S_{t-1}, A_{t-1}, R_t, discount_t, S_t) in ``rlcore.returns`` names; for
n-step learning ``r_t`` is the discounted reward sum R_t + gamma R_{t+1} + ... over the window,
``discount_t`` the product of the window's discounts (gamma^n, or 0 once the episode terminated)
and ``obs_t`` the state to bootstrap from (Sutton & Barto (2018) §7.1; Hessel et al. 2018, the
"multi-step" component of Rainbow). Both sums come from ``rlcore.returns`` (a window holds at
most n steps, so its n-step returns are its discounted returns).

- ``ReplayBuffer``: the storage (one implementation), uniform sampling with replacement, as in
  Mnih et al. (2015); oldest entries are overwritten once ``capacity`` is reached.
- ``SumTree``: a binary tree whose nodes hold the sum of their leaves, so a leaf is found by its
  prefix sum in O(log N) (Schaul et al. 2016, Appendix B.2.1).
- ``PrioritizedReplay``: proportional prioritization over a ``ReplayBuffer``,
  P(i) = p_i^alpha / sum_k p_k^alpha with p_i = |delta_i| + eps, new transitions at the largest
  priority seen so far, stratified sampling (one draw per 1/B of the total mass) and importance
  weights w_i = (N P(i))^(-beta) / max_batch w (Schaul et al. 2016, Algorithm 1; the batch
  maximum normalises as in Dopamine's implementation).
"""

from __future__ import annotations

from collections import deque
from typing import Any, NamedTuple

import numpy as np

from rlcore.returns import discounted_returns
from rlcore.validation import check_int, check_range

__all__ = ["Batch", "NStepWindows", "PrioritizedReplay", "ReplayBuffer", "SumTree"]


class Batch(NamedTuple):
    """Sampled transitions; every field has the leading sample shape (e.g. (B,) or (G, B)).

    ``weights`` are the importance weights of prioritized replay (None for uniform replay);
    ``indices`` the buffer slots, for ``PrioritizedReplay.update_priorities``; ``masks`` the
    stored bootstrap masks (..., mask_size) of a buffer built with ``mask_size`` (else None).
    """

    obs_tm1: np.ndarray
    a_tm1: np.ndarray
    r_t: np.ndarray
    discount_t: np.ndarray
    obs_t: np.ndarray
    weights: np.ndarray | None
    indices: np.ndarray
    masks: np.ndarray | None = None


class ReplayBuffer:
    """A preallocated ring buffer of transitions with uniform sampling.

    Args:
        capacity: the number of transitions kept (the oldest are overwritten).
        obs_shape: shape of one observation.
        obs_dtype: storage dtype of observations (float32 feeds the network without a copy).
        mask_size: when > 0, every transition also stores a float32 row of this many bootstrap
            masks (one per ensemble member, drawn once by the caller when the transition is
            added: ``rlcore.ensemble.bagging.draw_masks``); batches carry them as ``masks``.
    """

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        obs_dtype: Any = np.float32,
        mask_size: int = 0,
    ) -> None:
        self.capacity = check_int("capacity", capacity, 1, hint="Use a positive buffer size.")
        self.obs_shape = tuple(int(d) for d in obs_shape)
        self.obs_tm1 = np.zeros((self.capacity, *self.obs_shape), dtype=obs_dtype)
        self.obs_t = np.zeros((self.capacity, *self.obs_shape), dtype=obs_dtype)
        self.a_tm1 = np.zeros(self.capacity, dtype=np.int64)
        self.r_t = np.zeros(self.capacity, dtype=np.float32)
        self.discount_t = np.zeros(self.capacity, dtype=np.float32)
        self.mask_size = check_int("mask_size", mask_size, 0, hint="0 stores no masks.")
        self.masks = np.zeros((self.capacity, self.mask_size), dtype=np.float32)
        self.size = 0  # transitions held
        self.pos = 0  # next slot to write

    def __len__(self) -> int:
        return self.size

    def add(
        self,
        obs_tm1: np.ndarray,
        a_tm1: np.ndarray,
        r_t: np.ndarray,
        discount_t: np.ndarray,
        obs_t: np.ndarray,
        masks: np.ndarray | None = None,
    ) -> np.ndarray:
        """Store k transitions (every argument has a leading axis k); returns their slots (k,).

        ``masks`` (k, mask_size) is required by, and only accepted by, a buffer with masks.
        """
        k = len(a_tm1)
        if (masks is None) != (self.mask_size == 0) or (
            masks is not None and np.shape(masks) != (k, self.mask_size)
        ):
            raise ValueError(
                f"this replay buffer stores {self.mask_size} bootstrap mask(s) per transition; "
                f"got masks of shape {None if masks is None else np.shape(masks)} for {k} "
                f"transitions (expected {(k, self.mask_size) if self.mask_size else None}). "
                "Build the buffer with mask_size=N to store masks, and pass one row per "
                "transition."
            )
        if k > self.capacity:
            raise ValueError(
                f"cannot add {k} transitions at once to a replay buffer of capacity "
                f"{self.capacity}; use a larger buffer_size."
            )
        if np.shape(obs_tm1) != (k, *self.obs_shape) or np.shape(obs_t) != (k, *self.obs_shape):
            raise ValueError(
                f"replay buffer stores observations of shape {self.obs_shape}; got a batch of "
                f"{k} transitions with obs_tm1 {np.shape(obs_tm1)} and obs_t {np.shape(obs_t)} "
                f"(expected {(k, *self.obs_shape)})."
            )
        if self.pos + k <= self.capacity:  # a contiguous run: slice assignment is cheaper
            slots = slice(self.pos, self.pos + k)
        else:
            slots = (self.pos + np.arange(k)) % self.capacity
        self.obs_tm1[slots] = obs_tm1
        self.a_tm1[slots] = a_tm1
        self.r_t[slots] = r_t
        self.discount_t[slots] = discount_t
        self.obs_t[slots] = obs_t
        if masks is not None:
            self.masks[slots] = masks
        self.pos = (self.pos + k) % self.capacity
        self.size = min(self.size + k, self.capacity)
        return np.arange(slots.start, slots.stop) if isinstance(slots, slice) else slots

    def _check_batch(self, batch_size: int) -> int:
        batch_size = check_int("batch_size", batch_size, 1)
        if self.size < batch_size:
            raise ValueError(
                f"replay buffer sampled before it holds a batch: it has {self.size} "
                f"transition(s), the batch needs {batch_size}. Collect more first (raise "
                "learning_starts to at least batch_size) or sample a smaller batch."
            )
        return batch_size

    def sample(
        self, batch_size: int, rng: np.random.Generator, shape: tuple[int, ...] = ()
    ) -> Batch:
        """Uniform draws with replacement; fields have shape ``(*shape, batch_size, ...)``.

        ``shape=(G,)`` draws G independent batches in one call (G gradient steps).

        Raises:
            ValueError: fewer than ``batch_size`` transitions are stored.
        """
        batch_size = self._check_batch(batch_size)
        return self.gather(rng.integers(0, self.size, size=(*shape, batch_size)))

    def gather(self, indices: np.ndarray, weights: np.ndarray | None = None) -> Batch:
        """The transitions in slots ``indices`` (any integer shape)."""
        return Batch(
            self.obs_tm1[indices],
            self.a_tm1[indices],
            self.r_t[indices],
            self.discount_t[indices],
            self.obs_t[indices],
            weights,
            indices,
            self.masks[indices] if self.mask_size else None,
        )


class SumTree:
    """Leaves hold non-negative values; each inner node the sum of its two children.

    Stored as an array ``nodes`` of size 2L (L = capacity rounded up to a power of two): node 1 is
    the root, node i has children 2i and 2i + 1, leaf j is node L + j. Sums are float64 and
    recomputed from the children (never updated by differences), so they do not drift.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = check_int("capacity", capacity, 1)
        self.leaves = 1 << max(0, (self.capacity - 1).bit_length())
        self.nodes = np.zeros(2 * self.leaves, dtype=np.float64)

    @property
    def total(self) -> float:
        """The sum of all leaves."""
        return float(self.nodes[1])

    def get(self, indices: np.ndarray) -> np.ndarray:
        """Leaf values at ``indices``."""
        return self.nodes[self.leaves + np.asarray(indices)]

    def update(self, indices: np.ndarray, values: np.ndarray) -> None:
        """Set leaves ``indices`` (k,) to ``values`` (k,) and refresh their ancestors."""
        values = np.asarray(values, dtype=np.float64)
        if np.any(~np.isfinite(values) | (values < 0)):
            raise ValueError(
                "sum-tree values must be finite and non-negative, got range "
                f"[{values.min():g}, {values.max():g}]."
            )
        node = self.leaves + np.asarray(indices, dtype=np.int64)
        self.nodes[node] = values
        node = np.unique(node // 2)
        while node[0] >= 1:
            self.nodes[node] = self.nodes[2 * node] + self.nodes[2 * node + 1]
            node = np.unique(node // 2)

    def find(self, mass: np.ndarray) -> np.ndarray:
        """For each prefix mass u in [0, total), the leaf j with sum_{i<j} v_i <= u < sum_{i<=j} v_i.

        The descent only enters subtrees of positive mass, so a leaf of value 0 is never returned
        (even when rounding puts u at the very top of the range).
        """
        u = np.array(mass, dtype=np.float64)
        node = np.ones(u.shape, dtype=np.int64)
        for _ in range(self.leaves.bit_length() - 1):  # one level per pass, root to leaves
            left = 2 * node
            left_mass = self.nodes[left]
            right = (u >= left_mass) & (self.nodes[left + 1] > 0)
            u = np.where(right, u - left_mass, u)
            node = left + right
        return node - self.leaves


class PrioritizedReplay:
    """Proportional prioritized replay (Schaul et al. 2016) over a ``ReplayBuffer``.

    Args:
        capacity, obs_shape, obs_dtype, mask_size: as ``ReplayBuffer``.
        alpha: prioritization exponent in [0, 1] (0: uniform); the paper's 0.6.
        eps: added to |delta| so no transition gets priority 0.
    """

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        alpha: float = 0.6,
        eps: float = 1e-6,
        obs_dtype: Any = np.float32,
        mask_size: int = 0,
    ) -> None:
        self.storage = ReplayBuffer(capacity, obs_shape, obs_dtype, mask_size)
        self.tree = SumTree(capacity)
        self.alpha = check_range("alpha", alpha, 0.0, 1.0)
        self.eps = check_range("eps", eps, 0.0, low_open=True)
        self.max_priority = 1.0  # largest p = |delta| + eps seen, given to new transitions

    def __len__(self) -> int:
        return len(self.storage)

    def add(self, *transitions: np.ndarray) -> np.ndarray:
        """Store k transitions (as ``ReplayBuffer.add``) at the maximal priority so far."""
        slots = self.storage.add(*transitions)
        self.tree.update(slots, np.full(len(slots), self.max_priority**self.alpha))
        return slots

    def probabilities(self, indices: np.ndarray) -> np.ndarray:
        """P(i) = p_i^alpha / sum_k p_k^alpha for the slots ``indices``."""
        return self.tree.get(indices) / self.tree.total

    def sample(self, batch_size: int, rng: np.random.Generator, beta: float) -> Batch:
        """B draws, one in each 1/B stratum of the priority mass, with importance weights.

        Args:
            batch_size: B.
            rng: the randomness.
            beta: importance-sampling exponent in [0, 1] (annealed to 1 over training).

        Raises:
            ValueError: fewer than ``batch_size`` transitions are stored.
        """
        batch_size = self.storage._check_batch(batch_size)
        beta = check_range("beta", beta, 0.0, 1.0)
        total = self.tree.total
        mass = (np.arange(batch_size) + rng.random(batch_size)) * (total / batch_size)
        indices = self.tree.find(mass)
        weights = (len(self.storage) * self.probabilities(indices)) ** (-beta)
        weights = (weights / weights.max()).astype(np.float32)
        return self.storage.gather(indices, weights)

    def update_priorities(self, indices: np.ndarray, td_errors: np.ndarray) -> None:
        """p_i <- |delta_i| + eps for the sampled slots (the last write wins for repeats)."""
        p = np.abs(np.asarray(td_errors, dtype=np.float64)) + self.eps
        if not np.all(np.isfinite(p)):
            raise FloatingPointError(
                "prioritized replay got non-finite TD errors; the value estimates diverged "
                "(lower the learning rate or check the rewards)."
            )
        self.tree.update(indices, p**self.alpha)
        self.max_priority = max(self.max_priority, float(p.max()))


class NStepWindows:
    """One window of the last n one-step transitions per environment.

    ``push`` takes a batch of one-step transitions (one per env) and returns the n-step
    transitions that became complete: the oldest entry of every full window, and every entry of
    a window whose episode just ended (cut at the end: shorter sums, as in
    ``rlcore.returns.n_step_returns``). ``flush`` empties all windows, bootstrapping from each
    window's last state (for a run that stops mid-episode: a truncation).

    Args:
        n: steps per return, >= 1.
    """

    def __init__(self, n: int) -> None:
        self.n = check_int("n_step", n, 1)
        self.windows: list[deque] = []

    def __len__(self) -> int:
        return sum(len(w) for w in self.windows)

    def push(
        self,
        obs_tm1: np.ndarray,
        a_tm1: np.ndarray,
        r_t: np.ndarray,
        discount_t: np.ndarray,
        obs_t: np.ndarray,
        done: np.ndarray,
    ) -> tuple[np.ndarray, ...] | None:
        """Add one transition per env (leading axis N); return completed n-step transitions
        (obs_tm1, a_tm1, r_t, discount_t, obs_t) with a leading axis k, or None if none."""
        while len(self.windows) < len(a_tm1):
            self.windows.append(deque())
        full, ended = [], []
        for i, window in enumerate(self.windows[: len(a_tm1)]):
            window.append((obs_tm1[i], a_tm1[i], r_t[i], discount_t[i], obs_t[i]))
            if done[i]:
                ended.append(i)
            elif len(window) == self.n:
                full.append(i)
        parts = []
        if full:  # all windows of length n: one vectorised call, keep the first start
            parts.append(self._emit([self.windows[i] for i in full], first_only=True))
            for i in full:
                self.windows[i].popleft()
        for i in ended:
            parts.append(self._emit([self.windows[i]], first_only=False))
            self.windows[i].clear()
        return _concat(parts)

    def flush(self) -> tuple[np.ndarray, ...] | None:
        """Emit every pending entry (bootstrapping from each window's last state) and clear."""
        parts = [self._emit([w], first_only=False) for w in self.windows if w]
        for w in self.windows:
            w.clear()
        return _concat(parts)

    def _emit(self, windows: list[deque], first_only: bool) -> tuple[np.ndarray, ...]:
        """n-step transitions of windows of equal length L: starts 0 (first_only) or 0..L-1."""
        columns = [list(zip(*w)) for w in windows]  # per window: (obs, a, r, d, next_obs)
        k = len(columns)
        r = np.array([c[2] for c in columns], dtype=np.float64)  # (k, L)
        d = np.array([c[3] for c in columns], dtype=np.float64)  # (k, L)
        # A window is never longer than n, so its n-step returns (cut at its end) are its
        # discounted returns (n_step_returns with n >= L); one call gives the reward sums
        # (rewards r, bootstrap 0) and the discount products (rewards 0, bootstrap 1).
        both = discounted_returns(
            np.concatenate([r, np.zeros_like(r)]),
            np.concatenate([d, d]),
            np.repeat([0.0, 1.0], k),
        )  # (2k, L)
        g, d_prod = both[:k], both[k:]
        starts = 1 if first_only else r.shape[1]
        obs_tm1 = np.stack([c[0][s] for c in columns for s in range(starts)])
        a_tm1 = np.array([c[1][s] for c in columns for s in range(starts)])
        obs_t = np.stack([c[4][-1] for c in columns for _ in range(starts)])
        return obs_tm1, a_tm1, g[:, :starts].ravel(), d_prod[:, :starts].ravel(), obs_t


def _concat(parts: list[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...] | None:
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return tuple(np.concatenate(column) for column in zip(*parts))
