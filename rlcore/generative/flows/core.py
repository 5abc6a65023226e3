"""The flow and its distribution: zuko's shape (Rozet et al., probabilists/zuko ``zuko/flows``).

A ``Flow`` is an ``nn.Module`` built for ``features`` (and an optional ``context`` size). Called
with a context (or none) it returns a :class:`FlowDistribution` with ``log_prob``, ``sample``,
``rsample``, ``sample_and_log_prob`` and ``rsample_and_log_prob``::

    flow = rlcore.make("flows.nsf", features=2, context=3)
    log_p = flow(c).log_prob(x)          # c (B, 3), x (B, 2) -> (B,)
    a, log_p = flow(c).rsample_and_log_prob()

Transforms map data to the base, z = T(x), composed T = T_L o ... o T_1 (``Transform``
protocol: ``forward(x, context) -> (z, log |det dz/dx|)`` and ``inverse(z, context) -> (x,
log |det dx/dz|)``), so that (Papamakarios et al. 2021, "Normalizing Flows for Probabilistic
Modeling and Inference", eq. 2)

    log p(x) = log N(T(x); 0, I) + sum_l log |det J_{T_l}|.

Shapes: a context (*batch, C) gives the distribution the batch shape ``batch``; samples have shape
(*sample_shape, *batch, D) and ``log_prob`` takes x (..., *batch, D) and returns (..., *batch).
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from rlcore.registry import export
from rlcore.validation import check_int

__all__ = ["Flow", "FlowDistribution", "MaximumLikelihood", "Permutation", "Transform"]


@runtime_checkable
class Transform(Protocol):
    """A bijection with its exact log |det J| in both directions (rows independent)."""

    def forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        """(z, log |det dz/dx|) for x (N, D), context (N, C) or None; log-det (N,)."""
        ...

    def inverse(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        """(x, log |det dx/dz|)."""
        ...


class Permutation(nn.Module):
    """z = x[:, perm]: reorders the features between layers; log |det J| = 0.

    Args:
        perm: a permutation of range(D) (e.g. ``torch.arange(D).flip(0)`` or ``randperm``).
    """

    def __init__(self, perm: Tensor) -> None:
        super().__init__()
        perm = torch.as_tensor(perm, dtype=torch.long)
        if sorted(perm.tolist()) != list(range(perm.numel())):
            raise ValueError(f"perm must be a permutation of range({perm.numel()}), got {perm}.")
        self.register_buffer("perm", perm)
        self.register_buffer("inv_perm", torch.argsort(perm))

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return x[:, self.perm], x.new_zeros(x.shape[0])

    def inverse(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return z[:, self.inv_perm], z.new_zeros(z.shape[0])


class Flow(nn.Module):
    """A composition of transforms onto a standard normal base, for ``features``-dim data.

    Built by ``flows.realnvp``, ``flows.maf``, ``flows.nsf`` and ``flows.cnf``; calling it with a
    context returns the distribution.

    Args:
        transforms: the layers T_1 .. T_L (data to base order).
        features: D, the data size.
        context: C, the context size (0 for an unconditional flow).
        bound: when set, ``log_prob`` requires data inside [-bound, bound] (a spline's domain).
        name: the registry name that built it (for messages and checkpoints).
        config: the constructor's keyword arguments (to rebuild it from a checkpoint).
    """

    def __init__(
        self,
        transforms: list[nn.Module],
        features: int,
        context: int = 0,
        *,
        bound: float | None = None,
        name: str = "flow",
        config: dict | None = None,
    ) -> None:
        super().__init__()
        self.transforms = nn.ModuleList(transforms)
        self.features = check_int("features", features, 1)
        self.context = check_int("context", context, 0)
        self.bound = bound
        self.name = name
        self.config = dict(config or {})

    def forward(self, context: Tensor | None = None) -> FlowDistribution:
        """The distribution p(x | context); context (*batch, C) or None."""
        if self.context == 0 and context is not None:
            raise ValueError(
                f"{self.name} was built unconditional (context=0) but got a context of shape "
                f"{tuple(context.shape)}; call flow() without one, or build it with "
                f"context={context.shape[-1]}."
            )
        if self.context > 0:
            if context is None:
                raise ValueError(
                    f"{self.name} was built with context={self.context} but was called without "
                    f"one; call flow(c) with c of shape (..., {self.context})."
                )
            if (
                not torch.is_tensor(context)
                or context.dim() < 1
                or context.shape[-1] != self.context
            ):
                shape = tuple(context.shape) if torch.is_tensor(context) else type(context).__name__
                raise ValueError(
                    f"{self.name} expects a context of shape (..., {self.context}), got {shape}."
                )
        return FlowDistribution(self, context)

    def transform(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        """z = T(x) and log |det dz/dx| for x (N, D), context (N, C) or None."""
        ladj = x.new_zeros(x.shape[0])
        for t in self.transforms:
            x, ladj_t = t.forward(x, context)
            ladj = ladj + ladj_t
        return x, ladj

    def inverse(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        """x = T^{-1}(z) and log |det dx/dz|."""
        ladj = z.new_zeros(z.shape[0])
        for t in reversed(self.transforms):
            z, ladj_t = t.inverse(z, context)
            ladj = ladj + ladj_t
        return z, ladj


def base_log_prob(z: Tensor) -> Tensor:
    """log N(z; 0, I) over the last axis."""
    return -0.5 * (z.pow(2).sum(-1) + z.shape[-1] * math.log(2 * math.pi))


class FlowDistribution:
    """p(x | context) of a :class:`Flow`: log_prob, (r)sample, (r)sample_and_log_prob."""

    def __init__(self, flow: Flow, context: Tensor | None) -> None:
        self.flow = flow
        self.context = context
        self.batch_shape = () if context is None else tuple(context.shape[:-1])
        self.event_shape = (flow.features,)

    def _context_rows(self, lead: tuple[int, ...]) -> Tensor | None:
        """The context expanded to (*lead, *batch, C) and flattened to rows."""
        if self.context is None:
            return None
        c = self.context.expand(*lead, *self.context.shape)
        return c.reshape(-1, self.context.shape[-1])

    def _check_x(self, x: Tensor) -> tuple[int, ...]:
        d, batch, name = self.flow.features, self.batch_shape, self.flow.name
        if not torch.is_tensor(x) or not torch.is_floating_point(x) or x.dim() < 1 + len(batch):
            shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
            raise ValueError(
                f"{name}.log_prob expects a float tensor (..., *{batch}, {d}), got {shape}."
            )
        if x.shape[-1] != d:
            raise ValueError(
                f"{name} was built for features={d} but log_prob got x of shape {tuple(x.shape)} "
                f"({x.shape[-1]} features); build the flow with features={x.shape[-1]}."
            )
        if tuple(x.shape[x.dim() - 1 - len(batch) : -1]) != batch:
            raise ValueError(
                f"x of shape {tuple(x.shape)} does not end with the context's batch shape {batch} "
                f"and {d} features."
            )
        if not torch.isfinite(x).all():
            raise ValueError(
                f"{name}.log_prob got {int((~torch.isfinite(x)).sum())} non-finite values (nan or "
                "inf) in x; densities are defined for finite data only."
            )
        bound = self.flow.bound
        if bound is not None and x.numel() and x.abs().max() > bound:
            raise ValueError(
                f"{name}'s splines act on [-{bound:g}, {bound:g}] but the data range is "
                f"[{x.min().item():.4g}, {x.max().item():.4g}]; standardise the data or build "
                f"the flow with bound >= {x.abs().max().item():.4g}."
            )
        return tuple(x.shape[: x.dim() - 1 - len(batch)])

    def log_prob(self, x: Tensor) -> Tensor:
        """log p(x | context): x (..., *batch, D) -> (..., *batch)."""
        lead = self._check_x(x)
        rows = x.reshape(-1, self.flow.features)
        z, ladj = self.flow.transform(rows, self._context_rows(lead))
        return (base_log_prob(z) + ladj).reshape(x.shape[:-1])

    def rsample_and_log_prob(
        self, shape: tuple[int, ...] = (), *, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """Reparameterised x = T^{-1}(z), z ~ N(0, I), and log p(x) = log N(z) - log |det dx/dz|.

        Returns x (*shape, *batch, D) and log p (*shape, *batch)."""
        shape = tuple(shape)
        out = (*shape, *self.batch_shape)
        ref = next(self.flow.parameters(), None)
        dtype = ref.dtype if ref is not None else torch.float32
        device = ref.device if ref is not None else None
        n = math.prod(out)
        z = torch.randn(n, self.flow.features, generator=generator, dtype=dtype, device=device)
        x, ladj = self.flow.inverse(z, self._context_rows(shape))
        return x.reshape(*out, -1), (base_log_prob(z) - ladj).reshape(out)

    def rsample(self, shape: tuple[int, ...] = (), *, generator: torch.Generator | None = None):
        """Reparameterised samples (*shape, *batch, D)."""
        return self.rsample_and_log_prob(shape, generator=generator)[0]

    def sample(self, shape: tuple[int, ...] = (), *, generator: torch.Generator | None = None):
        """Samples (*shape, *batch, D) without a graph."""
        with torch.no_grad():
            return self.rsample(shape, generator=generator)

    def sample_and_log_prob(
        self, shape: tuple[int, ...] = (), *, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """Samples and their log-densities without a graph."""
        with torch.no_grad():
            return self.rsample_and_log_prob(shape, generator=generator)


@export("objectives.maximum_likelihood")
class MaximumLikelihood:
    """Maximum likelihood for a flow: loss = -mean log p(x0 | cond); a ``GenerativeModel``, so
    ``rlcore.generative.train`` fits flows with the loop, optimiser and EMA of the other models.
    The "net" passed to ``loss`` and ``sample`` is the :class:`Flow`."""

    def loss(
        self,
        net: Flow,
        x0: Tensor,
        cond: Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        cond_dropout: float = 0.0,
    ) -> Tensor:
        """-mean_i log p(x0_i | cond_i); x0 (B, D), cond (B, C) or None."""
        if cond_dropout != 0.0:
            raise ValueError(
                f"cond_dropout={cond_dropout}: a flow's exact likelihood has no guidance; pass 0."
            )
        return -net(cond).log_prob(x0).mean()

    def sample(
        self,
        net: Flow,
        shape: tuple[int, ...],
        cond: Tensor | None = None,
        *,
        steps: int | None = None,
        generator: torch.Generator | None = None,
        guidance_scale: float | None = None,
    ) -> Tensor:
        """x (B, D) ~ p(x | cond): one inverse pass (``steps`` and guidance do not apply)."""
        if steps is not None or guidance_scale is not None:
            raise ValueError("a flow samples in one inverse pass: pass steps=None and no guidance.")
        shape = tuple(shape)
        if len(shape) != 2 or shape[1] != net.features:
            raise ValueError(f"shape must be (B, {net.features}), got {shape}.")
        if cond is None:
            return net().sample((shape[0],), generator=generator)
        if cond.shape[0] != shape[0]:
            raise ValueError(f"cond has {cond.shape[0]} rows but shape asks for {shape[0]}.")
        return net(cond).sample(generator=generator)
