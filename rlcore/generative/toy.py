"""Two-dimensional toy densities for generative-model tests and benchmarks.

Each sampler ``f(n, generator) -> Tensor (n, 2)`` (float32) draws n points; ``generator`` is a
``torch.Generator``, a ``numpy.random.Generator`` or an int seed, and the same seed gives the same
points. The shapes follow the FFJORD / flow-matching toy sets (Grathwohl et al. 2019), rescaled so
that every density lies roughly in [-3, 3]^2 with unit-order spread.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from rlcore.validation import check_choice, check_int

__all__ = [
    "DENSITIES",
    "checkerboard",
    "eight_gaussians",
    "rings",
    "sample",
    "swiss_roll",
    "two_moons",
]

Seed = torch.Generator | np.random.Generator | int


def _torch_generator(generator: Seed) -> torch.Generator:
    if isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, np.random.Generator):
        return torch.Generator().manual_seed(int(generator.integers(2**62)))
    if isinstance(generator, bool) or not isinstance(generator, (int, np.integer)):
        raise TypeError(
            f"generator must be a torch.Generator, a numpy Generator or an int seed, got "
            f"{generator!r}."
        )
    return torch.Generator().manual_seed(int(generator))


def _start(n: int, generator: Seed) -> tuple[int, torch.Generator]:
    return check_int("n", n, 1), _torch_generator(generator)


def eight_gaussians(n: int, generator: Seed) -> Tensor:
    """Eight isotropic Gaussians (std 0.1) at radius 2, angles k pi / 4, equal weights."""
    n, g = _start(n, generator)
    k = torch.randint(8, (n,), generator=g)
    angle = k.to(torch.float32) * (math.pi / 4)
    centers = 2.0 * torch.stack([angle.cos(), angle.sin()], dim=1)  # (n, 2)
    return centers + 0.1 * torch.randn(n, 2, generator=g)


def two_moons(n: int, generator: Seed) -> Tensor:
    """Two interleaved half circles (scikit-learn's make_moons, noise 0.05), centred, x1.5."""
    n, g = _start(n, generator)
    upper = torch.rand(n, generator=g) < 0.5
    theta = math.pi * torch.rand(n, generator=g)
    outer = torch.stack([theta.cos(), theta.sin()], dim=1)
    inner = torch.stack([1.0 - theta.cos(), 0.5 - theta.sin()], dim=1)
    x = torch.where(upper[:, None], outer, inner) + 0.05 * torch.randn(n, 2, generator=g)
    return 1.5 * (x - torch.tensor([0.5, 0.25]))


def rings(n: int, generator: Seed) -> Tensor:
    """Four concentric circles of radii 0.75, 1.5, 2.25, 3 (equal mass), radial noise 0.08."""
    n, g = _start(n, generator)
    radius = 0.75 * (1 + torch.randint(4, (n,), generator=g)).to(torch.float32)
    theta = 2 * math.pi * torch.rand(n, generator=g)
    x = radius[:, None] * torch.stack([theta.cos(), theta.sin()], dim=1)
    return x + 0.08 * torch.randn(n, 2, generator=g)


def swiss_roll(n: int, generator: Seed) -> Tensor:
    """Swiss roll (scikit-learn's make_swiss_roll, x and z axes) / 5, noise 0.1 after scaling."""
    n, g = _start(n, generator)
    t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=g))
    x = torch.stack([t * t.cos(), t * t.sin()], dim=1) / 5.0
    return x + 0.1 * torch.randn(n, 2, generator=g)


def checkerboard(n: int, generator: Seed) -> Tensor:
    """Uniform on the 8 black cells of a 4 x 4 checkerboard of unit cells over [-2, 2]^2."""
    n, g = _start(n, generator)
    x1 = 4 * torch.rand(n, generator=g) - 2
    column = torch.floor(x1) + 2  # 0..3
    row = 2 * torch.randint(2, (n,), generator=g) + (column.long() % 2)  # a black cell's row 0..3
    x2 = row.to(torch.float32) + torch.rand(n, generator=g) - 2
    return torch.stack([x1, x2], dim=1)


DENSITIES: dict[str, Callable[[int, Seed], Tensor]] = {
    "eight_gaussians": eight_gaussians,
    "two_moons": two_moons,
    "rings": rings,
    "swiss_roll": swiss_roll,
    "checkerboard": checkerboard,
}


def sample(name: str, n: int, generator: Seed) -> Tensor:
    """``DENSITIES[name](n, generator)`` with a clear error for an unknown name."""
    return DENSITIES[check_choice("density", name, DENSITIES)](n, generator)
