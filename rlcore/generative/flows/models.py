"""RealNVP, MAF and NSF: stacks of coupling or autoregressive layers with permutations between.

Each constructor returns a :class:`~rlcore.generative.flows.core.Flow` (zuko's shape): a module
for ``features``-dim data with an optional ``context``; ``flow(c).log_prob(x)``,
``flow(c).rsample()``. Between consecutive layers the features are reversed (or randomly
permuted with ``randperm=True``, seeded), so every feature is transformed.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from rlcore.generative.flows.core import Flow, Permutation
from rlcore.generative.flows.layers import Coupling, MaskedAutoregressive, Univariate
from rlcore.registry import export
from rlcore.validation import check_int, check_range

__all__ = ["maf", "nsf", "realnvp"]


def _check(features: int, context: int, transforms: int, hidden: Sequence[int]) -> tuple:
    features = check_int("features", features, 1)
    context = check_int("context", context, 0)
    transforms = check_int("transforms", transforms, 1)
    hidden = tuple(check_int("hidden width", h, 1) for h in hidden)
    return features, context, transforms, hidden


def _stack(layers: list[nn.Module], features: int, randperm: bool, seed: int) -> list[nn.Module]:
    """Insert a permutation between consecutive layers (reverse, or random from ``seed``)."""
    g = torch.Generator().manual_seed(seed)
    out: list[nn.Module] = []
    for i, layer in enumerate(layers):
        if i > 0:
            perm = (
                torch.randperm(features, generator=g)
                if randperm
                else torch.arange(features).flip(0)
            )
            out.append(Permutation(perm))
        out.append(layer)
    return out


@export("flows.realnvp")
def realnvp(
    features: int,
    context: int = 0,
    transforms: int = 4,
    hidden: Sequence[int] = (64, 64),
    randperm: bool = False,
    seed: int = 0,
) -> Flow:
    """RealNVP (Dinh et al. 2017): affine coupling layers, z_b = x_b exp(s(x_a)) + t(x_a).

    Args:
        features: D (>= 1); context: C (0 unconditional).
        transforms: number of coupling layers; hidden: conditioner MLP widths.
        randperm: random permutations between layers instead of reversals; seed: for them.
    """
    features, context, transforms, hidden = _check(features, context, transforms, hidden)
    layers = [Coupling(features, context, Univariate("affine"), hidden) for _ in range(transforms)]
    config = dict(
        features=features,
        context=context,
        transforms=transforms,
        hidden=list(hidden),
        randperm=randperm,
        seed=seed,
    )
    return Flow(
        _stack(layers, features, randperm, seed),
        features,
        context,
        name="flows.realnvp",
        config=config,
    )


@export("flows.maf")
def maf(
    features: int,
    context: int = 0,
    transforms: int = 3,
    hidden: Sequence[int] = (64, 64),
    randperm: bool = False,
    seed: int = 0,
) -> Flow:
    """Masked autoregressive flow (Papamakarios et al. 2017): affine MADE layers,
    z_i = x_i exp(a_i(x_{<i})) + b_i(x_{<i}); density in one pass, sampling in D passes.

    Args: as :func:`realnvp`, with ``hidden`` the MADE widths.
    """
    features, context, transforms, hidden = _check(features, context, transforms, hidden)
    order = torch.arange(features)
    layers = [
        MaskedAutoregressive(features, context, Univariate("affine"), hidden, order)
        for _ in range(transforms)
    ]
    config = dict(
        features=features,
        context=context,
        transforms=transforms,
        hidden=list(hidden),
        randperm=randperm,
        seed=seed,
    )
    return Flow(
        _stack(layers, features, randperm, seed), features, context, name="flows.maf", config=config
    )


@export("flows.nsf")
def nsf(
    features: int,
    context: int = 0,
    transforms: int = 3,
    hidden: Sequence[int] = (64, 64),
    bins: int = 8,
    bound: float = 5.0,
    coupling: bool = False,
    randperm: bool = False,
    seed: int = 0,
) -> Flow:
    """Neural spline flow (Durkan et al. 2019): monotonic rational-quadratic splines with K
    ``bins`` on [-bound, bound] (identity outside), autoregressive (default, as zuko's NSF) or
    coupling (``coupling=True``, one-pass sampling).

    ``log_prob`` refuses data outside [-bound, bound] (the splines would not model it); the
    error reports the data's range.

    Args: as :func:`realnvp`, plus ``bins`` (K >= 2), ``bound`` (B > 0) and ``coupling``.
    """
    features, context, transforms, hidden = _check(features, context, transforms, hidden)
    bins = check_int("bins", bins, 2)
    bound = check_range("bound", bound, 0.0, low_open=True)
    spline = Univariate("rqs", bins=bins, bound=bound)
    order = torch.arange(features)
    if coupling:
        layers = [Coupling(features, context, spline, hidden) for _ in range(transforms)]
    else:
        layers = [
            MaskedAutoregressive(features, context, spline, hidden, order)
            for _ in range(transforms)
        ]
    config = dict(
        features=features,
        context=context,
        transforms=transforms,
        hidden=list(hidden),
        bins=bins,
        bound=bound,
        coupling=coupling,
        randperm=randperm,
        seed=seed,
    )
    return Flow(
        _stack(layers, features, randperm, seed),
        features,
        context,
        bound=bound,
        name="flows.nsf",
        config=config,
    )
