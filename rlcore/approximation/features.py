"""Feature maps for linear function approximation (Sutton & Barto (2018) §9.5), each written once.

A feature map turns a state (or a batch of states along leading axes) into features, in one of two
forms that every linear learner accepts:

- binary, sparse (``sparse = True``): the integer indices of the active features, shape
  (..., n_active): ``OneHot``, ``StateAggregation`` (one active feature) and ``TileCoding``
  (one per tiling); such maps also have the attribute ``n_active``;
- dense (``sparse = False``): float vectors of shape (..., n_features): ``Polynomial``,
  ``Fourier``, ``RadialBasis``, and ``MatrixFeatures`` (a given feature matrix, e.g. Baird's).

``linear_value(w, x)`` and ``add_gradient_(w, x, scale)`` work for both forms (the dtype tells
them apart: integer arrays are index sets, float arrays dense vectors), so a learner is written
once. ``StateActionFeatures`` stacks one copy of a state map per action for control (q(s, a) =
w_a . x(s)). ``features_for_space`` picks a default map for a gymnasium observation space.

Bounds. Every map declares the box its states live in (``low``/``high``, per dimension) and
raises ``ValueError`` for a state outside it: nothing is clamped. Continuous states are
normalised to u = (s - low) / (high - low) in [0, 1]. With ``discrete=True`` the states are the
integers low..high and state s is the centre of the cell [s - 1/2, s + 1/2], so
u = (s - low + 1/2) / (high - low + 1) (the 1000-state walk's 100-state groups come out exact).

States of a map with scalar bounds are scalars (``state_shape == ()``); with bounds given as
sequences of length d they are vectors (``state_shape == (d,)``). Inputs must have shape
batch + state_shape.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from rlcore.approximation._box import Bound, Box, Configured, json_ints, per_dim, ravel_coords
from rlcore.approximation.tile_coding import TileCoding
from rlcore.registry import export
from rlcore.validation import check_int, check_range


@runtime_checkable
class FeatureMap(Protocol):
    """x(s): a state (batch + state_shape) to active indices (sparse) or a dense vector."""

    n_features: int
    sparse: bool
    state_shape: tuple[int, ...]

    def __call__(self, state: Any) -> np.ndarray: ...


# -- features in either form: values and gradients ------------------------------------------------
def is_sparse(x: np.ndarray) -> bool:
    """True for index sets (integer dtype), False for dense float feature vectors."""
    return np.issubdtype(np.asarray(x).dtype, np.integer)


def linear_value(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """v(s, w) = w . x(s) (Sutton & Barto (2018) eq. 9.8).

    Args:
        w: weights, (d,) or (R, d) for R independent runs.
        x: features, (..., k) active indices or (..., d) dense; with (R, d) weights the leading
            axis of x is the run axis.

    Returns:
        Values, shape x.shape[:-1].
    """
    x = np.asarray(x)
    if is_sparse(x):
        if w.ndim == 1:
            return w[x].sum(axis=-1)
        rows = np.arange(w.shape[0]).reshape((-1,) + (1,) * (x.ndim - 1))
        return w[rows, x].sum(axis=-1)
    return np.einsum("...d,...d->...", w, x) if w.ndim > 1 else x @ w


def add_gradient_(w: np.ndarray, x: np.ndarray, scale: Any) -> None:
    """In place: w <- w + scale * grad_w v(s, w), with grad_w (w . x) = x (eq. 9.7's update).

    For index sets the gradient is 1 on the active features; repeated indices add up.

    Args:
        w: (d,) or (R, d) weights, modified in place.
        x: one state's features ((k,) or (d,)) for (d,) weights; (R, k) or (R, d) for (R, d).
        scale: scalar, or (R,) per run (e.g. alpha * delta).
    """
    x = np.asarray(x)
    scale = np.asarray(scale, dtype=np.float64)
    if is_sparse(x):
        if w.ndim == 1:
            np.add.at(w, x, scale)
        else:
            rows = np.broadcast_to(np.arange(w.shape[0])[:, None], x.shape)
            np.add.at(w, (rows, x), np.broadcast_to(scale[..., None], x.shape))
    else:
        w += scale[..., None] * x if scale.ndim else scale * x


def dense_features(x: np.ndarray, n_features: int) -> np.ndarray:
    """Features as dense float vectors (..., n_features): index sets become 0/1 vectors."""
    x = np.asarray(x)
    if not is_sparse(x):
        return x.astype(np.float64, copy=False)
    flat_x = x.reshape(-1, x.shape[-1])
    out = np.zeros((flat_x.shape[0], n_features))
    rows = np.repeat(np.arange(flat_x.shape[0]), flat_x.shape[1])
    np.add.at(out, (rows, flat_x.ravel()), 1.0)  # repeated indices add up, as in add_gradient_
    return out.reshape(x.shape[:-1] + (n_features,))


# -- sparse binary maps -------------------------------------------------------------------------
@export("features.one_hot")
class OneHot(Configured):
    """Tabular features: x_i(s) = 1 if i == s - low (Sutton & Barto (2018) §9.4: the tabular case
    is linear approximation with one-hot features). Sparse, one active index.

    Args:
        n_states: number of states; states are the integers low..low + n_states - 1.
        low: the first state (0 for a gymnasium Discrete space).
    """

    sparse = True

    def __init__(self, n_states: int, low: int = 0) -> None:
        n = check_int("n_states", n_states, 1)
        low = check_int("low", low)
        self._config = {"n_states": n, "low": low}
        self.box = Box.make(low, low + n - 1, True, "OneHot")
        self.n_features = n
        self.n_active = 1
        self.state_shape: tuple[int, ...] = ()

    def __call__(self, state: Any) -> np.ndarray:
        self.box.normalize(state, "OneHot")  # checks shape, bounds and integrality
        return (np.asarray(state, dtype=np.int64) - self._config["low"])[..., None]


@export("features.state_aggregation")
class StateAggregation(Configured):
    """State aggregation: the box is cut into a grid of groups, one active feature per state
    (Sutton & Barto (2018) §9.3, Example 9.1: the 1000-state walk in 10 groups of 100).

    Group of state s in dimension j: floor(n_j u_j) with u the normalised state (u_j = 1 falls in
    the last group); the feature index is the grid cell's flat index.

    Args:
        low, high: the box (scalars for scalar states, sequences for vectors).
        n_groups: groups per dimension (int or one per dimension).
        discrete: states are the integers low..high.
    """

    sparse = True

    def __init__(
        self, low: Bound, high: Bound, n_groups: int | Sequence[int], *, discrete: bool = False
    ) -> None:
        self.box = Box.make(low, high, discrete, "StateAggregation")
        self.n_groups = per_dim("n_groups", n_groups, self.box.dim, 1)
        self._config = {**self.box.config(), "n_groups": json_ints(n_groups)}
        self.n_features = int(np.prod(self.n_groups))
        self.n_active = 1
        self.state_shape = self.box.state_shape

    def __call__(self, state: Any) -> np.ndarray:
        u = self.box.normalize(state, "StateAggregation")
        n = np.asarray(self.n_groups)
        cell = np.minimum(np.floor(u * n).astype(np.int64), n - 1)
        return ravel_coords(cell, self.n_groups)[..., None]


# -- dense maps ---------------------------------------------------------------------------------
def _exponents(order: int, dim: int, max_terms: int = 100_000) -> np.ndarray:
    n_terms = (order + 1) ** dim
    if n_terms > max_terms:
        raise ValueError(
            f"order {order} in {dim} dimensions gives {n_terms} features (more than "
            f"{max_terms}); use a lower order or tile coding."
        )
    return np.asarray(list(itertools.product(range(order + 1), repeat=dim)), dtype=np.float64)


@export("features.polynomial")
class Polynomial(Configured):
    """Polynomial basis: x_i(s) = prod_j u_j^{c_ij}, c_ij in {0, ..., n} (S&B (2018) §9.5.1).

    u is the state normalised to [0, 1]; there are (n + 1)^k features (k dimensions), the first
    being the constant 1.

    Args:
        low, high: the box. order: n >= 0. discrete: integer states.
    """

    sparse = False

    def __init__(self, low: Bound, high: Bound, order: int, *, discrete: bool = False) -> None:
        self.box = Box.make(low, high, discrete, "Polynomial")
        self.order = check_int("order", order, 0)
        self._config = {**self.box.config(), "order": self.order}
        self.exponents = _exponents(self.order, self.box.dim)  # (n_features, k)
        self.n_features = self.exponents.shape[0]
        self.state_shape = self.box.state_shape

    def __call__(self, state: Any) -> np.ndarray:
        u = self.box.normalize(state, "Polynomial")  # (..., k)
        return np.prod(u[..., None, :] ** self.exponents, axis=-1)  # (..., n_features)


@export("features.fourier")
class Fourier(Configured):
    """Fourier cosine basis: x_i(s) = cos(pi u . c_i), c_i in {0, ..., n}^k (S&B (2018) §9.5.2,
    Konidaris et al. 2011).

    u is the state normalised to [0, 1]; (n + 1)^k features, the first constant. Konidaris et al.
    suggest per-feature step sizes alpha / ||c_i|| (alpha for c_i = 0): ``alpha_scale`` holds
    1 / ||c_i|| for that use.

    Args:
        low, high: the box. order: n >= 0. discrete: integer states.
    """

    sparse = False

    def __init__(self, low: Bound, high: Bound, order: int, *, discrete: bool = False) -> None:
        self.box = Box.make(low, high, discrete, "Fourier")
        self.order = check_int("order", order, 0)
        self._config = {**self.box.config(), "order": self.order}
        self.coefficients = _exponents(self.order, self.box.dim)  # (n_features, k)
        self.n_features = self.coefficients.shape[0]
        self.state_shape = self.box.state_shape
        norms = np.linalg.norm(self.coefficients, axis=1)
        self.alpha_scale = np.where(norms > 0, 1.0 / np.maximum(norms, 1e-300), 1.0)

    def __call__(self, state: Any) -> np.ndarray:
        u = self.box.normalize(state, "Fourier")
        return np.cos(np.pi * (u @ self.coefficients.T))


@export("features.radial_basis")
class RadialBasis(Configured):
    """Gaussian radial basis functions x_i(s) = exp(-||u - c_i||^2 / (2 sigma^2)) (S&B (2018)
    §9.5.5), with centres c_i on a regular grid over the normalised box [0, 1]^k (grid points at
    (m + 1/2) / centers_per_dim).

    Args:
        low, high: the box. centers_per_dim: centres per dimension (int or per dimension).
        sigma: width in normalised units (> 0); default 1 / centers_per_dim (of the first dim).
        discrete: integer states.
    """

    sparse = False

    def __init__(
        self,
        low: Bound,
        high: Bound,
        centers_per_dim: int | Sequence[int],
        *,
        sigma: float | None = None,
        discrete: bool = False,
    ) -> None:
        self.box = Box.make(low, high, discrete, "RadialBasis")
        per = per_dim("centers_per_dim", centers_per_dim, self.box.dim, 1)
        self.sigma = (
            1.0 / per[0] if sigma is None else check_range("sigma", sigma, 0.0, low_open=True)
        )
        self._config = {
            **self.box.config(),
            "centers_per_dim": json_ints(centers_per_dim),
            "sigma": sigma,
        }
        axes = [(np.arange(n) + 0.5) / n for n in per]
        self.centers = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(per))
        self.n_features = self.centers.shape[0]
        self.state_shape = self.box.state_shape

    def __call__(self, state: Any) -> np.ndarray:
        u = self.box.normalize(state, "RadialBasis")
        d2 = np.sum((u[..., None, :] - self.centers) ** 2, axis=-1)
        return np.exp(-d2 / (2.0 * self.sigma**2))


@export("features.matrix")
class MatrixFeatures:
    """Given feature vectors of a finite state set: x(s) = X[s - low] (dense).

    For examples that define their features by hand, such as Baird's counterexample (S&B (2018)
    Example 11.1: x(s) = 2 e_s + e_8 for the upper states).

    Args:
        matrix: (n_states, d) feature matrix, finite.
        low: the first state (0 for a gymnasium Discrete space).
    """

    sparse = False

    def __init__(self, matrix: Any, low: int = 0) -> None:
        X = np.array(matrix, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1 or not np.all(np.isfinite(X)):
            raise ValueError(f"matrix must be a finite (n_states, d) array, got shape {X.shape}")
        X.setflags(write=False)
        self.matrix = X
        self.low = check_int("low", low)
        self.box = Box.make(self.low, self.low + X.shape[0] - 1, True, "MatrixFeatures")
        self.n_features = X.shape[1]
        self.state_shape: tuple[int, ...] = ()

    def __call__(self, state: Any) -> np.ndarray:
        self.box.normalize(state, "MatrixFeatures")  # checks shape, bounds and integrality
        return self.matrix[np.asarray(state, dtype=np.int64) - self.low]

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return {"low": self.low}, {"matrix": self.matrix}

    @classmethod
    def from_state(cls, config: dict[str, Any], arrays: dict[str, Any]) -> MatrixFeatures:
        return cls(arrays["matrix"], int(config["low"]))

    def __repr__(self) -> str:
        return f"MatrixFeatures(shape={self.matrix.shape}, low={self.low})"


# -- state-action features -----------------------------------------------------------------------
@export("features.state_action")
@dataclass(eq=False)
class StateActionFeatures:
    """x(s, a): one copy of a state map per action, stacked (S&B (2018) §10.1).

    The weights split into A blocks, w = (w_0, ..., w_{A-1}), and q(s, a) = w_a . x(s). For a
    sparse map the active indices are x(s) + a * n; for a dense map x(s) sits in block a of an
    A * n vector. (``tiles3`` instead hashes the action into the same table; with enough room the
    two are the same function.)

    Args:
        base: the state feature map.
        n_actions: number of discrete actions A.
    """

    base: Any
    n_actions: int
    n_features: int = field(init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.base, FeatureMap):
            raise TypeError(
                f"base must be a feature map (rlcore.names('features.')), got {self.base!r}"
            )
        check_int("n_actions", self.n_actions, 1)
        self.n_features = self.n_actions * self.base.n_features

    @property
    def sparse(self) -> bool:
        return self.base.sparse

    @property
    def state_shape(self) -> tuple[int, ...]:
        return self.base.state_shape

    def _check_action(self, action: Any) -> np.ndarray:
        a = np.asarray(action)
        if not np.issubdtype(a.dtype, np.integer) or np.any((a < 0) | (a >= self.n_actions)):
            raise ValueError(
                f"action {action!r} is not an integer in [0, {self.n_actions - 1}] "
                f"(this map has {self.n_actions} actions)."
            )
        return a.astype(np.int64)

    def __call__(self, state: Any, action: Any) -> np.ndarray:
        """x(s, a): indices (..., k) or dense (..., A * n)."""
        a = self._check_action(action)
        x = self.base(state)
        n = self.base.n_features
        if self.sparse:
            return x + (a * n)[..., None]
        out = np.zeros(x.shape[:-1] + (self.n_actions, n))
        np.put_along_axis(out, a[..., None, None], x[..., None, :], axis=-2)
        return out.reshape(x.shape[:-1] + (self.n_features,))

    def values(self, w: np.ndarray, state_features: np.ndarray) -> np.ndarray:
        """q(s, .) = (w_a . x(s))_a from the *state* features x(s): shape (..., A).

        Args:
            w: (A * n,) weights with features of any batch shape, or (R, A * n) weights of R
                runs with features of shape (R, k) or (R, n).
            state_features: ``base(state)``.
        """
        x = np.asarray(state_features)
        blocks = w.reshape(w.shape[:-1] + (self.n_actions, self.base.n_features))  # (.., A, n)
        if not is_sparse(x):
            return np.einsum("...an,...n->...a", blocks, x)
        if w.ndim == 1:
            return np.moveaxis(blocks[:, x].sum(axis=-1), 0, -1)  # (A, ..., k) -> (..., A)
        return np.take_along_axis(blocks, x[:, None, :], axis=-1).sum(axis=-1)  # (R, A)

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        from rlcore.registry import name_of

        config, arrays = self.base.state()
        return {
            "base": {"name": name_of(self.base), "config": config},
            "n_actions": self.n_actions,
        }, arrays

    @classmethod
    def from_state(cls, config: dict[str, Any], arrays: dict[str, Any]) -> StateActionFeatures:
        return cls(feature_map_from_config(config["base"], arrays), int(config["n_actions"]))


# -- configs and defaults --------------------------------------------------------------------------
def feature_map_config(fmap: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """({"name": registry name, "config": {...}}, arrays) of a feature map, for checkpoints."""
    from rlcore.registry import name_of

    config, arrays = fmap.state()
    return {"name": name_of(fmap), "config": config}, arrays


def feature_map_from_config(spec: dict[str, Any], arrays: dict[str, Any] | None = None) -> Any:
    """Rebuild a feature map from ``feature_map_config``'s output (no pickle)."""
    from rlcore.registry import get

    return get(spec["name"]).from_state(spec["config"], dict(arrays or {}))


@export("features.for_space")
def features_for_space(space: Any, *, n_tilings: int = 8, tiles_per_dim: int = 8) -> Any:
    """A default state feature map for a gymnasium observation space.

    ``Discrete(n)``: ``OneHot`` (tabular). A bounded ``Box``: ``TileCoding`` with ``n_tilings``
    tilings of ``tiles_per_dim`` tiles per dimension over the space's bounds (the book's Mountain
    Car choice, §10.1). Anything else: a TypeError asking for an explicit feature map.
    """
    from gymnasium import spaces

    if isinstance(space, spaces.Discrete):
        return OneHot(int(space.n), int(space.start))
    if isinstance(space, spaces.Box) and len(space.shape) <= 1:
        low = np.asarray(space.low, dtype=np.float64)
        high = np.asarray(space.high, dtype=np.float64)
        if np.all(np.isfinite(low)) and np.all(np.isfinite(high)):
            as_bound = (lambda a: float(a)) if space.shape == () else (lambda a: a.tolist())
            return TileCoding(
                as_bound(low), as_bound(high), n_tilings=n_tilings, tiles_per_dim=tiles_per_dim
            )
    raise TypeError(
        f"no default feature map for the observation space {space!r}: pass features= explicitly, "
        "e.g. rlcore.make('features.tile_coding', low, high) with finite bounds, or "
        "features.fourier / features.radial_basis for a flat bounded Box."
    )


__all__ = [
    "Box",
    "FeatureMap",
    "Fourier",
    "MatrixFeatures",
    "OneHot",
    "Polynomial",
    "RadialBasis",
    "StateActionFeatures",
    "StateAggregation",
    "TileCoding",
    "add_gradient_",
    "dense_features",
    "feature_map_config",
    "feature_map_from_config",
    "features_for_space",
    "is_sparse",
    "linear_value",
]
