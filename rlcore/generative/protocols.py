"""The short protocols of ``rlcore.generative`` (models of x given an optional condition).

Time convention: continuous ``t`` in [0, 1], ``t = 0`` is data and ``t = 1`` is noise.

- ``Denoiser``: a network ``net(x_t, t, cond) -> output shaped like x_t`` with ``t`` of shape
  (B,), ``cond`` of shape (B, cond_dim) or None, and attributes ``x_dim``, ``cond_dim`` and
  ``null_cond`` (the "no condition" vector used by classifier-free guidance, or None).
  For sampling alone any callable ``(x_t, t, cond) -> Tensor`` will do.
- ``GenerativeModel``: an objective plus its sampler, ``loss(net, x0, cond)`` and
  ``sample(net, shape, cond)``; implemented by ``objectives.diffusion`` and
  ``objectives.flow_matching``. The model holds no network, optimizer or EMA: those stay
  outside, so each can be swapped.
- ``DiffusionSampler`` (``samplers.ddpm``, ``samplers.ddim``): ``set_timesteps(steps)`` then
  ``step(i, x_t, x0_hat, eps_hat)`` for i = 0 .. steps - 1, the diffusers scheduler shape.
- ``FlowSampler`` (``samplers.euler``, ``samplers.heun``): ``set_timesteps(steps)`` then
  ``step(i, velocity, x_t)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

__all__ = ["Denoiser", "DenoiserFn", "DiffusionSampler", "FlowSampler", "GenerativeModel"]

DenoiserFn = Callable[[Tensor, Tensor, "Tensor | None"], Tensor]
"""Any callable (x_t, t, cond) -> Tensor shaped like x_t: what the samplers evaluate."""


@runtime_checkable
class Denoiser(Protocol):
    """A network f(x_t, t, cond) with its sizes and null condition."""

    x_dim: int
    cond_dim: int
    null_cond: Tensor | None

    def __call__(self, x_t: Tensor, t: Tensor, cond: Tensor | None = None) -> Tensor: ...


@runtime_checkable
class GenerativeModel(Protocol):
    """A training objective and its sampler for a model of x given an optional condition."""

    def loss(
        self,
        net: DenoiserFn,
        x0: Tensor,
        cond: Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        cond_dropout: float = 0.0,
    ) -> Tensor:
        """Scalar training loss on a batch of data x0 (B, ...) with optional cond (B, cond_dim)."""
        ...

    def sample(
        self,
        net: DenoiserFn,
        shape: tuple[int, ...],
        cond: Tensor | None = None,
        *,
        steps: int | None = None,
        generator: torch.Generator | None = None,
        guidance_scale: float | None = None,
    ) -> Tensor:
        """Draw samples of ``shape`` (B, ...) from noise at t = 1 to data at t = 0."""
        ...


@runtime_checkable
class DiffusionSampler(Protocol):
    """Reverse process of a discrete diffusion, stepped over a materialised timestep array."""

    timesteps: Tensor

    def set_timesteps(self, steps: int) -> Tensor:
        """Materialise the descending training-step indices k_0 > ... > k_{S-1}; shape (S,)."""
        ...

    def step(
        self,
        i: int,
        x_t: Tensor,
        x0_hat: Tensor,
        eps_hat: Tensor,
        *,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """x at the previous timestep k_{i+1} (data, k = -1, after the last) from x at k_i."""
        ...


@runtime_checkable
class FlowSampler(Protocol):
    """ODE solver of dx/dt = v(x, t) from t = 1 to t = 0 over a materialised time grid."""

    times: Tensor

    def set_timesteps(self, steps: int) -> Tensor:
        """Materialise the time grid 1 = t_0 > ... > t_S = 0; shape (S + 1,)."""
        ...

    def step(self, i: int, velocity: Callable[[Tensor, Tensor], Tensor], x_t: Tensor) -> Tensor:
        """x at t_{i+1} from x at t_i; ``velocity(x, t)`` takes t of shape (B,)."""
        ...
