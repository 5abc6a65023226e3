"""The declared state box of a feature map, and the small helpers every map shares.

A feature map declares the box its states live in (``low``/``high`` per dimension) and refuses
states outside it; ``Box.normalize`` maps states to u in [0, 1]^d (integers in cells centred on
them when ``discrete``). See ``rlcore.approximation.features``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rlcore.validation import check_int

Bound = float | Sequence[float]


@dataclass(frozen=True)
class Box:
    """The declared state box: per-dimension ``low``/``high``; integers when ``discrete``."""

    low: tuple[float, ...]
    high: tuple[float, ...]
    discrete: bool
    state_shape: tuple[int, ...]

    @classmethod
    def make(cls, low: Bound, high: Bound, discrete: bool, what: str) -> Box:
        scalar = np.ndim(low) == 0 and np.ndim(high) == 0
        lo = np.atleast_1d(np.asarray(low, dtype=np.float64))
        hi = np.atleast_1d(np.asarray(high, dtype=np.float64))
        if lo.ndim != 1 or hi.ndim != 1 or (lo.shape != hi.shape and 1 not in (lo.size, hi.size)):
            raise ValueError(
                f"{what}: low and high must be scalars or sequences of equal length, got "
                f"{low!r} and {high!r}."
            )
        lo, hi = np.broadcast_arrays(lo, hi)
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))) or np.any(hi <= lo):
            raise ValueError(
                f"{what}: bounds need finite low < high in every dimension, got low={lo.tolist()}, "
                f"high={hi.tolist()}. Declare the box the states live in (e.g. an env's "
                "observation_space.low/high); unbounded spaces need explicit bounds."
            )
        if discrete and not (np.all(lo == np.round(lo)) and np.all(hi == np.round(hi))):
            raise ValueError(f"{what}: discrete states need integer bounds, got {lo}, {hi}")
        shape = () if scalar else (lo.size,)
        return cls(tuple(lo.tolist()), tuple(hi.tolist()), bool(discrete), shape)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_lo", np.asarray(self.low, dtype=np.float64))
        object.__setattr__(self, "_hi", np.asarray(self.high, dtype=np.float64))

    @property
    def dim(self) -> int:
        return len(self.low)

    def normalize(self, state: Any, what: str) -> np.ndarray:
        """u in [0, 1], shape batch + (d,); raises for a wrong shape or a state outside the box."""
        s = np.asarray(state, dtype=np.float64)
        k = len(self.state_shape)
        if s.shape[s.ndim - k :] != self.state_shape or s.ndim < k:
            raise ValueError(
                f"{what} expects states of shape {self.state_shape} (with any leading batch "
                f"axes), got an array of shape {s.shape}. Pass one observation or a stack of them."
            )
        s = s.reshape(s.shape + (1,)) if k == 0 else s
        lo, hi = self._lo, self._hi
        if not ((s >= lo).all() and (s <= hi).all()):  # NaN fails both comparisons
            i = np.argwhere(~((s >= lo) & (s <= hi)))[0]
            raise ValueError(
                f"{what}: state component {float(s[tuple(i)]):g} (dimension {int(i[-1])}) lies "
                "outside "
                f"the declared bounds [{lo[i[-1]]:g}, {hi[i[-1]]:g}]. Feature maps never clamp: "
                "declare wider bounds, or check the observation (a terminal state's features "
                "are never needed: its value is 0)."
            )
        if self.discrete:
            if (s != np.round(s)).any():
                raise ValueError(f"{what}: discrete states must be integers, got {state!r}")
            return (s - lo + 0.5) / (hi - lo + 1.0)
        return (s - lo) / (hi - lo)

    def config(self) -> dict[str, Any]:
        scalar = self.state_shape == ()
        return {
            "low": self.low[0] if scalar else list(self.low),
            "high": self.high[0] if scalar else list(self.high),
            "discrete": self.discrete,
        }


class Configured:
    """Shared checkpoint plumbing for the stateless maps: JSON config, no arrays."""

    _config: dict[str, Any]

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return dict(self._config), {}

    @classmethod
    def from_state(cls, config: dict[str, Any], arrays: dict[str, Any]) -> Any:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._config.items())
        return f"{type(self).__name__}({args})"


def ravel_coords(coords: np.ndarray, dims: Sequence[int]) -> np.ndarray:
    """Flat index of integer coordinates (..., d) in a grid of shape dims (row-major)."""
    out = np.zeros(coords.shape[:-1], dtype=np.int64)
    for j, n in enumerate(dims):
        out = out * int(n) + coords[..., j]
    return out


def per_dim(name: str, value: int | Sequence[int], dim: int, low: int) -> tuple[int, ...]:
    values = [value] * dim if np.ndim(value) == 0 else list(value)
    if len(values) != dim:
        raise ValueError(f"{name} has {len(values)} entries but the states have {dim} dimensions")
    return tuple(check_int(name, v, low) for v in values)


def json_ints(value: int | Sequence[int]) -> int | list[int]:
    return int(value) if np.ndim(value) == 0 else [int(v) for v in value]
