"""Continuous normalizing flow (FFJORD, Grathwohl et al. 2019): the transform is an ODE.

dx/dt = v_theta(x, t, context) carries the data at t = 0 to the base N(0, I) at t = 1, and

    log p(x) = log N(x(1); 0, I) + int_0^1 tr(dv/dx)(x(t), t) dt        (Chen et al. 2018, Thm. 1)

is solved by ``rlcore.generative.likelihood`` with torchdiffeq. In training mode the trace is
Hutchinson's estimator (one Rademacher probe per point, fixed along the solve; FFJORD §3.1); in
evaluation mode it is exact (D backward passes; meant for small D). The time convention is the
package's (t = 0 data, t = 1 noise), so a flow-matching velocity is the same kind of object.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from rlcore.generative.flows.core import Flow
from rlcore.generative.likelihood import solve_with_divergence
from rlcore.generative.sde_samplers import ODE_METHODS, check_tolerance, integrate
from rlcore.registry import export
from rlcore.validation import check_choice, check_int

__all__ = ["ConcatSquash", "ContinuousTransform", "VelocityMLP", "cnf"]


ACTIVATIONS = {"tanh": nn.Tanh, "softplus": nn.Softplus}
TIME_INPUTS = ("concatsquash", "concat")


class ConcatSquash(nn.Module):
    """FFJORD's time-conditioned layer: h' = (W h + b) * sigmoid(w_g t + b_g) + w_b t, with the
    context concatenated to h (Grathwohl et al. 2019, code ``ConcatSquashLinear``)."""

    def __init__(self, inputs: int, outputs: int) -> None:
        super().__init__()
        self.linear = nn.Linear(inputs, outputs)
        self.gate = nn.Linear(1, outputs)
        self.shift = nn.Linear(1, outputs, bias=False)

    def forward(self, h: Tensor, t: Tensor) -> Tensor:
        return self.linear(h) * torch.sigmoid(self.gate(t)) + self.shift(t)


class VelocityMLP(nn.Module):
    """v(x, t, context): an MLP with smooth activations (FFJORD's toy nets: tanh or softplus; a
    smooth field keeps the adaptive solver's steps few) and the time t fed to every layer.

    Args:
        features: D; context: C (0 unconditional); hidden: the widths.
        activation: "tanh" or "softplus".
        time_input: "concatsquash" (every layer gated and shifted by t, FFJORD's default) or
            "concat" (t and the context concatenated to the input only).
    """

    def __init__(
        self,
        features: int,
        context: int,
        hidden: Sequence[int],
        activation: str = "softplus",
        time_input: str = "concat",
    ) -> None:
        super().__init__()
        self.activation = check_choice("activation", activation, ACTIVATIONS)
        self.time_input = check_choice("time_input", time_input, TIME_INPUTS)
        if self.time_input == "concat":
            sizes = [features + 1 + context, *hidden, features]
        else:
            sizes = [features + context, *hidden, features]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(a, b) if self.time_input == "concat" else ConcatSquash(a, b))
            if i < len(sizes) - 2:
                layers.append(ACTIVATIONS[self.activation]())
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor, t: Tensor, context: Tensor | None = None) -> Tensor:
        t = t.to(x.dtype)[:, None]
        cond = [] if context is None else [context.to(x.dtype)]
        if self.time_input == "concat":
            return self.net(torch.cat([x, t, *cond], dim=-1))
        h = torch.cat([x, *cond], dim=-1)
        for layer in self.net:
            h = layer(h, t) if isinstance(layer, ConcatSquash) else layer(h)
        return h


class ContinuousTransform(nn.Module):
    """z = x(1) from x(0) = x under dx/dt = v(x, t, context); log |det dz/dx| = int_0^1 tr(dv/dx).

    Args:
        velocity: the network v(x, t, context).
        method, rtol, atol, steps: the torchdiffeq solver (``steps`` for a fixed method).
        train_divergence: "hutchinson" (default) or "exact" in training mode; evaluation is exact.
        generator: draws the Hutchinson probes (None: torch's global generator).
    """

    def __init__(
        self,
        velocity: nn.Module,
        method: str = "dopri5",
        rtol: float = 1e-5,
        atol: float = 1e-5,
        steps: int = 20,
        train_divergence: Literal["exact", "hutchinson"] = "hutchinson",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.velocity = velocity
        self.method = check_choice("method", method, ODE_METHODS)
        self.rtol, self.atol = check_tolerance("rtol", rtol), check_tolerance("atol", atol)
        self.steps = check_int("steps", steps, 1)
        self.train_divergence = check_choice(
            "train_divergence", train_divergence, ("exact", "hutchinson")
        )
        self.generator = generator
        self.nfe = 0

    def _field(self, context: Tensor | None):
        return lambda x, t: self.velocity(x, t, context)

    def _solve(self, x: Tensor, context: Tensor | None, t_start: float, t_end: float):
        divergence = self.train_divergence if self.training else "exact"
        x_end, integral, self.nfe = solve_with_divergence(
            self._field(context),
            x,
            t_start,
            t_end,
            divergence=divergence,
            method=self.method,
            rtol=self.rtol,
            atol=self.atol,
            steps=self.steps,
            generator=self.generator,
            create_graph=torch.is_grad_enabled(),
        )
        return x_end, integral

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self._solve(x, context, 0.0, 1.0)

    def inverse(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self._solve(z, context, 1.0, 0.0)

    def sample_only(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        """x(0) from z = x(1) without the divergence (cheaper sampling)."""
        if self.method in ODE_METHODS[:3]:
            grid = torch.linspace(1.0, 0.0, self.steps + 1, dtype=torch.float64)
        else:
            grid = torch.tensor([1.0, 0.0], dtype=torch.float64)
        x, self.nfe = integrate(self._field(context), z, grid, self.method, self.rtol, self.atol)
        return x


@export("flows.cnf")
def cnf(
    features: int,
    context: int = 0,
    hidden: Sequence[int] = (64, 64, 64),
    method: str = "dopri5",
    rtol: float = 1e-5,
    atol: float = 1e-5,
    steps: int = 20,
    train_divergence: Literal["exact", "hutchinson"] = "hutchinson",
    activation: str = "softplus",
    time_input: str = "concat",
) -> Flow:
    """FFJORD-style continuous normalizing flow (Grathwohl et al. 2019) with a
    :class:`VelocityMLP` field, solved by torchdiffeq.

    Args:
        features: D; context: C (0 unconditional); hidden: the field's widths.
        method: torchdiffeq method ("dopri5" adaptive by default; "rk4" etc. use ``steps``).
        rtol, atol: adaptive tolerances (> 0).
        train_divergence: the trace in training mode ("hutchinson" or "exact"); eval is exact.
            In 2-D the exact trace costs two backward passes: affordable, and free of the
            estimator's variance (the 2-D benchmark trains with it).
        activation, time_input: of :class:`VelocityMLP` ("tanh" with "concatsquash" is
            FFJORD's toy configuration).
    """
    features = check_int("features", features, 1)
    context = check_int("context", context, 0)
    hidden = tuple(check_int("hidden width", h, 1) for h in hidden)
    transform = ContinuousTransform(
        VelocityMLP(features, context, hidden, activation, time_input),
        method,
        rtol,
        atol,
        steps,
        train_divergence,
    )
    config = dict(
        features=features,
        context=context,
        hidden=list(hidden),
        method=method,
        rtol=rtol,
        atol=atol,
        steps=steps,
        train_divergence=train_divergence,
        activation=activation,
        time_input=time_input,
    )
    return Flow([transform], features, context, name="flows.cnf", config=config)
