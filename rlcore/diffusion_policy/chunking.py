"""Training windows and normalisation for action-chunk policies (NumPy, pure functions).

An action-chunk policy (Chi et al. 2023, "Diffusion Policy", §3.1) sees the last ``n_obs_steps``
observations O_{t-To+1..t} and predicts ``horizon`` actions A_{t-To+1..t-To+H}; at run time it
executes A_{t..t+Ta-1} (``n_action_steps`` = Ta) and then plans again (receding horizon).

Windows are cut from flat episode data with index arithmetic: for every step t of every episode,
the observation rows t-To+1..t and the action rows t-To+1..t-To+H, each clamped to the episode,
so the window repeats the first observation / first action before the start and the last
action after the end (Diffusion Policy's ``SequenceSampler`` padding).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rlcore.validation import check_int


def chunk_indices(
    episode_lengths: np.ndarray, n_obs_steps: int, horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the observation history and the action chunk of every step.

    For step t (flat row r = start + t of an episode of length L), clamp(i) = start +
    min(max(i, 0), L - 1):

        obs_idx[r, j] = clamp(t - To + 1 + j),  j = 0 .. To - 1
        act_idx[r, k] = clamp(t - To + 1 + k),  k = 0 .. H - 1

    Args:
        episode_lengths: (E,) positive lengths; the data rows are the episodes back to back.
        n_obs_steps: To >= 1.
        horizon: H >= To.

    Returns:
        obs_idx (N, To) and act_idx (N, H), int64, N = sum(episode_lengths).
    """
    n_obs_steps = check_int("n_obs_steps", n_obs_steps, 1)
    horizon = check_int("horizon", horizon, n_obs_steps)
    lengths = np.asarray(episode_lengths, dtype=np.int64)
    if lengths.ndim != 1 or np.any(lengths < 1):
        raise ValueError(f"episode_lengths must be 1-D positive integers, got {lengths!r}.")
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)  # (N,) episode start of each row
    ends = np.repeat(lengths, lengths)  # (N,) episode length of each row
    t = np.arange(lengths.sum()) - starts  # (N,) step within the episode
    offsets = np.arange(horizon) - n_obs_steps + 1  # (H,)
    within = np.clip(t[:, None] + offsets[None, :], 0, ends[:, None] - 1)  # (N, H)
    rows = starts[:, None] + within
    return rows[:, :n_obs_steps], rows


@dataclass(frozen=True, eq=False)
class MinMaxNormalizer:
    """Affine map of each coordinate from [low, high] to [-1, 1].

    y = 2 (x - low) / (high - low) - 1.
    A coordinate with high == low (constant in the data) gets a unit range, so it maps to -1
    there and stays finite. Diffusion Policy normalises observations and actions this way.

    Attributes:
        low: (D,) per-coordinate minimum.
        high: (D,) per-coordinate maximum.
    """

    low: np.ndarray
    high: np.ndarray

    def __post_init__(self) -> None:
        low = np.asarray(self.low, dtype=np.float64)
        high = np.asarray(self.high, dtype=np.float64)
        if low.shape != high.shape or low.ndim != 1:
            raise ValueError(f"low {low.shape} and high {high.shape} must be equal 1-D shapes.")
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high)) and np.all(high >= low)):
            raise ValueError("low and high must be finite with high >= low in every coordinate.")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    @classmethod
    def fit(cls, x: np.ndarray) -> MinMaxNormalizer:
        """The normaliser of data ``x`` of shape (N, D)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] == 0:
            raise ValueError(f"fit needs data of shape (N, D) with N >= 1, got {x.shape}.")
        return cls(x.min(axis=0), x.max(axis=0))

    @property
    def scale(self) -> np.ndarray:
        """(D,) half-range (high - low) / 2, with 1/2 where the range is zero."""
        span = self.high - self.low
        return np.where(span > 0, span, 1.0) / 2.0

    def normalize(self, x: np.ndarray) -> np.ndarray:
        """(..., D) -> (..., D) in [-1, 1] on the fitted range."""
        return (np.asarray(x, dtype=np.float64) - self.low) / self.scale - 1.0

    def unnormalize(self, y: np.ndarray) -> np.ndarray:
        """Inverse of ``normalize``."""
        return (np.asarray(y, dtype=np.float64) + 1.0) * self.scale + self.low
