"""Tile coding, Sutton's ``tiles3`` design with an index hash table (S&B (2018) §9.5.4).

Exported as ``features.tile_coding`` and re-exported by ``rlcore.approximation.features``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from rlcore.approximation._box import Bound, Box, json_ints, per_dim, ravel_coords
from rlcore.registry import export
from rlcore.validation import check_int, check_range


@export("features.tile_coding")
class TileCoding:
    """Tile coding with asymmetric offsets and an index hash table (S&B (2018) §9.5.4).

    ``n_tilings`` grids of ``tiles_per_dim`` tiles each cover the box; tiling t is shifted by
    (t * d_j mod n_tilings) / n_tilings of a tile width in dimension j, with the displacement
    vector d = (1, 3, 5, ..., 2k - 1) that the book recommends after Miller and Glanz (1996)
    (n_tilings should then be a power of 2 at least 4k). This is Sutton's ``tiles3`` design: each
    state activates exactly one tile per tiling, so ``x(s)`` is n_tilings indices and a step size
    alpha moves v(s) by n_tilings * alpha * delta; the book therefore writes alpha = a /
    n_tilings (e.g. 0.5/8), and learners take alpha already divided.

    Tiles are numbered by tiling and grid coordinates (each shifted grid has tiles_per_dim + 1
    cells per dimension). When ``size`` (the table) holds them all, a tile's index is that
    number. A smaller table is an index hash table (``tiles3.IHT``): tiles get consecutive indices
    in the order they are first seen (so indices depend on the order of queries, deterministically)
    until the table is full; later tiles hash (a fixed integer hash, never Python's ``hash``) onto
    taken indices and collide. When the distinct colliding tiles exceed ``collision_tolerance`` of
    the distinct tiles seen, a ``RuntimeWarning`` with the fill ratio is issued, once.

    Args:
        low, high: the box (scalars for scalar states, sequences for vectors).
        n_tilings: number of tilings (>= 1).
        tiles_per_dim: tiles across the box per dimension (int or one per dimension).
        size: index-table size = ``n_features``; default: every tile gets its own index.
        discrete: states are the integers low..high.
        displacement: offsets per dimension in units of tile_width / n_tilings; default
            (1, 3, 5, ...).
        collision_tolerance: fraction in [0, 1) of colliding tiles tolerated before warning.
    """

    sparse = True

    def __init__(
        self,
        low: Bound,
        high: Bound,
        *,
        n_tilings: int = 8,
        tiles_per_dim: int | Sequence[int] = 8,
        size: int | None = None,
        discrete: bool = False,
        displacement: Sequence[int] | None = None,
        collision_tolerance: float = 0.01,
    ) -> None:
        self.box = Box.make(low, high, discrete, "TileCoding")
        k = self.box.dim
        self.n_tilings = check_int("n_tilings", n_tilings, 1)
        self.tiles_per_dim = per_dim("tiles_per_dim", tiles_per_dim, k, 1)
        disp = tuple(range(1, 2 * k, 2)) if displacement is None else tuple(displacement)
        if len(disp) != k:
            raise ValueError(f"displacement needs {k} entries (one per dimension), got {disp}")
        self.displacement = tuple(check_int("displacement", d, 0) for d in disp)
        self.collision_tolerance = check_range(
            "collision_tolerance", collision_tolerance, 0.0, 1.0, high_open=True
        )
        cells = tuple(n + 1 for n in self.tiles_per_dim)
        self._cells = cells
        self.n_tiles = self.n_tilings * int(np.prod(cells))
        if self.n_tiles >= 2**62:
            raise ValueError(f"{self.n_tiles} tiles cannot be numbered in 64 bits; use fewer tiles")
        self.size = self.n_tiles if size is None else check_int("size", size, 1)
        self.n_features = self.size
        self.n_active = self.n_tilings  # one tile per tiling
        self.state_shape = self.box.state_shape
        # offsets[t, j] = (t * d_j mod n) / n of a tile width
        t = np.arange(self.n_tilings)[:, None]
        self._offsets = (t * np.asarray(self.displacement)) % self.n_tilings / self.n_tilings
        self._config = {
            **self.box.config(),
            "n_tilings": self.n_tilings,
            "tiles_per_dim": json_ints(tiles_per_dim),
            "size": size,
            "displacement": list(self.displacement),
            "collision_tolerance": self.collision_tolerance,
        }
        # index hash table (used only when size < n_tiles)
        self._keys = np.empty(0, dtype=np.int64)  # sorted tile numbers with their own index
        self._slots = np.empty(0, dtype=np.int64)  # their indices, aligned with _keys
        self._overflow = np.empty(0, dtype=np.int64)  # sorted distinct tiles that collided
        self._warned = False

    @property
    def hashing(self) -> bool:
        """Whether the table is smaller than the number of tiles (an index hash table)."""
        return self.size < self.n_tiles

    @property
    def fill_ratio(self) -> float:
        """Distinct tiles seen / table size (above 1: collisions). 0 when not hashing."""
        return (self._keys.size + self._overflow.size) / self.size if self.hashing else 0.0

    def tile_numbers(self, state: Any) -> np.ndarray:
        """The tile of each tiling as a number in [0, n_tiles), shape batch + (n_tilings,)."""
        u = self.box.normalize(state, "TileCoding")  # (..., k)
        f = u * np.asarray(self.tiles_per_dim)  # position in tile widths
        coords = np.floor(f[..., None, :] + self._offsets).astype(np.int64)  # (..., n, k)
        tiling = np.arange(self.n_tilings)
        return tiling * int(np.prod(self._cells)) + ravel_coords(coords, self._cells)

    def __call__(self, state: Any) -> np.ndarray:
        """Active indices, shape batch + (n_tilings,), one per tiling."""
        tiles = self.tile_numbers(state)
        return self._index(tiles) if self.hashing else tiles

    # -- the index hash table ----------------------------------------------------------------
    def _index(self, tiles: np.ndarray) -> np.ndarray:
        flat = tiles.ravel()
        slots, known = self._lookup(flat)
        if not known.all():
            self._insert(flat[~known])
            slots, known = self._lookup(flat)
            hashed = _mix64(flat[~known]) % np.uint64(self.size)
            slots[~known] = hashed.astype(np.int64)
        return slots.reshape(tiles.shape)

    def _lookup(self, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pos = np.minimum(np.searchsorted(self._keys, flat), max(self._keys.size - 1, 0))
        known = self._keys[pos] == flat if self._keys.size else np.zeros(flat.shape, bool)
        slots = np.where(known, self._slots[pos] if self._keys.size else 0, -1)
        return slots.astype(np.int64), known

    def _insert(self, new: np.ndarray) -> None:
        uniq, first = np.unique(new, return_index=True)
        uniq = uniq[np.argsort(first, kind="stable")]  # first-seen order
        free = self.size - self._keys.size
        take, rest = uniq[:free], uniq[free:]
        if take.size:
            keys = np.concatenate([self._keys, take])
            slots = np.concatenate([self._slots, self._keys.size + np.arange(take.size)])
            order = np.argsort(keys, kind="stable")
            self._keys, self._slots = keys[order], slots[order]
        if rest.size:
            self._overflow = np.union1d(self._overflow, rest)
            seen = self._keys.size + self._overflow.size
            share = self._overflow.size / seen
            if share > self.collision_tolerance and not self._warned:
                self._warned = True
                warnings.warn(
                    f"TileCoding index table is too small: size={self.size} but "
                    f"{seen} distinct tiles were seen (fill ratio {seen / self.size:.2f}); "
                    f"{share:.1%} of them share an index with another tile (tolerance "
                    f"{self.collision_tolerance:.1%}). Use size >= {self.n_tiles} (every tile its "
                    "own index) or fewer tiles; collisions blur the learned values.",
                    RuntimeWarning,
                    stacklevel=4,
                )

    # -- checkpoints -----------------------------------------------------------------------------
    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        arrays = {"keys": self._keys, "slots": self._slots, "overflow": self._overflow}
        return dict(self._config), arrays if self.hashing else {}

    @classmethod
    def from_state(cls, config: dict[str, Any], arrays: dict[str, Any]) -> TileCoding:
        coder = cls(**config)
        if "keys" in arrays:
            coder._keys = np.asarray(arrays["keys"], dtype=np.int64)
            coder._slots = np.asarray(arrays["slots"], dtype=np.int64)
            coder._overflow = np.asarray(arrays["overflow"], dtype=np.int64)
            coder._warned = coder._overflow.size > 0
        return coder

    def __repr__(self) -> str:
        return f"TileCoding({', '.join(f'{k}={v!r}' for k, v in self._config.items())})"


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a fixed, well-mixing hash of 64-bit integers (uint64 out)."""
    z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


__all__ = ["TileCoding"]
