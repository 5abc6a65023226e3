"""Flow matching / rectified flow on the straight path between data and noise.

With t = 0 data and t = 1 noise (Lipman et al. 2023; Liu et al. 2023; Esser et al. 2024, §2):

    x_t = (1 - t) x_0 + t eps,     eps ~ N(0, I),
    u_t = dx_t/dt = eps - x_0      (the velocity target),

and the network v(x_t, t, cond) is regressed on u_t by mean squared error. Sampling integrates
dx/dt = v from t = 1 (noise) to t = 0 (data) with ``samplers.euler`` or ``samplers.heun``.

Training times are uniform or logit-normal, t = sigmoid(m + s n) with n ~ N(0, 1) (Esser et al.
2024, §3.1; SD3 uses m = 0, s = 1), then shifted by t' = shift t / (1 + (shift - 1) t)
(eq. 23). The same shift is applied once to the sampling grid (``grid="uniform"``, the
default), or the grid is diffusers' ``FlowMatchEulerDiscreteScheduler``'s (``grid="sd3"``,
for SD3 configs; ``samplers.flow_times`` documents both).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor

from rlcore.generative import _checks
from rlcore.generative.guidance import (
    ClassifierFree,
    ClassifierGuidance,
    Inpaint,
    drop_condition,
    null_condition,
)
from rlcore.generative.protocols import DenoiserFn, FlowSampler
from rlcore.generative.samplers import FLOW_GRIDS, EulerSampler, HeunSampler, shift_time
from rlcore.registry import export
from rlcore.validation import check_choice, check_int, check_range

__all__ = ["FlowMatching", "interpolate", "sample_times", "velocity_target"]

TIMESTEP_SAMPLING = ("uniform", "logit_normal")
SOLVERS = ("euler", "heun")


def _bcast(t: Tensor, x: Tensor) -> Tensor:
    return t.to(x.dtype).reshape(-1, *([1] * (x.dim() - 1)))


def interpolate(x0: Tensor, eps: Tensor, t: Tensor) -> Tensor:
    """x_t = (1 - t) x0 + t eps; x0, eps (B, ...), t (B,)."""
    t = _bcast(t, x0)
    return (1 - t) * x0 + t * eps


def velocity_target(x0: Tensor, eps: Tensor) -> Tensor:
    """u_t = eps - x0, the time derivative of the straight path (independent of t)."""
    return eps - x0


def sample_times(
    batch: int,
    sampling: Literal["uniform", "logit_normal"] = "uniform",
    *,
    mean: float = 0.0,
    std: float = 1.0,
    shift: float = 1.0,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Training times (B,) in [0, 1]: U(0, 1) or sigmoid(mean + std n), then the SD3 shift."""
    if sampling == "uniform":
        t = torch.rand(batch, generator=generator, device=device)
    else:
        t = torch.sigmoid(mean + std * torch.randn(batch, generator=generator, device=device))
    return shift_time(t, shift)


@export("objectives.flow_matching")
class FlowMatching:
    """Conditional flow matching with straight paths: a ``GenerativeModel``.

    Args:
        timestep_sampling: "uniform" or "logit_normal" training times.
        shift: SD3 timestep shift (> 0; 1 = none), for training times and the sampling grid.
        solver: "euler" or "heun".
        logit_mean, logit_std: m and s of the logit-normal (SD3: 0 and 1).
        sample_steps: default number of sampling steps.
        grid: sampling time grid, "uniform" (default: the uniform grid shifted once, the same
            shift as training) or "sd3" (diffusers' SD3 grid; see ``samplers.flow_times``).
        cond_dropout_trained: whether the net was trained with condition dropout (set by
            ``loss(..., cond_dropout > 0)``).
    """

    def __init__(
        self,
        timestep_sampling: Literal["uniform", "logit_normal"] = "uniform",
        shift: float = 1.0,
        solver: Literal["euler", "heun"] = "euler",
        logit_mean: float = 0.0,
        logit_std: float = 1.0,
        sample_steps: int = 10,
        cond_dropout_trained: bool = False,
        grid: Literal["uniform", "sd3"] = "uniform",
    ) -> None:
        self.timestep_sampling = check_choice(
            "timestep_sampling", timestep_sampling, TIMESTEP_SAMPLING
        )
        self.shift = check_range("shift", shift, 0.0, low_open=True, hint="SD3 uses 3.0.")
        self.solver = check_choice("solver", solver, SOLVERS)
        self.logit_mean = check_range("logit_mean", logit_mean)
        self.logit_std = check_range("logit_std", logit_std, 0.0, low_open=True)
        self.sample_steps = check_int("sample_steps", sample_steps, 1)
        self.cond_dropout_trained = bool(cond_dropout_trained)
        self.grid = check_choice("grid", grid, FLOW_GRIDS)

    def make_sampler(self, solver: Literal["euler", "heun"] | None = None) -> FlowSampler:
        """A fresh ODE solver with this model's shift and grid."""
        name = check_choice("solver", self.solver if solver is None else solver, SOLVERS)
        cls = EulerSampler if name == "euler" else HeunSampler
        return cls(self.shift, self.grid)

    def loss(
        self,
        net: DenoiserFn,
        x0: Tensor,
        cond: Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        cond_dropout: float = 0.0,
    ) -> Tensor:
        """Mean squared error || v(x_t, t, cond) - (eps - x0) ||^2.

        Draws, in this order from ``generator``: t (B,), eps like x0, and (when cond_dropout > 0)
        one uniform per row for the dropout.
        """
        p = _checks.check_data(x0, cond, cond_dropout)
        t = sample_times(
            x0.shape[0],
            self.timestep_sampling,
            mean=self.logit_mean,
            std=self.logit_std,
            shift=self.shift,
            generator=generator,
            device=x0.device,
        ).to(x0.dtype)
        eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
        x_t = interpolate(x0, eps, t)
        if p > 0:
            cond = drop_condition(cond, null_condition(net, cond), p, generator)
            self.cond_dropout_trained = True
        return torch.mean((net(x_t, t, cond) - velocity_target(x0, eps)) ** 2)

    def sample(
        self,
        net: DenoiserFn,
        shape: tuple[int, ...],
        cond: Tensor | None = None,
        *,
        steps: int | None = None,
        generator: torch.Generator | None = None,
        guidance_scale: float | None = None,
        solver: Literal["euler", "heun"] | None = None,
        classifier: ClassifierGuidance | None = None,
        inpaint: Inpaint | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """Integrate dx/dt = v(x, t, cond) from x ~ N(0, I) at t = 1 to t = 0.

        Runs in the caller's grad mode. ``steps`` >= 1 (default ``sample_steps``); the generator
        draws only the initial noise. ``classifier`` guides the velocity
        (``guidance.classifier``); ``inpaint`` fixes known coordinates on the noise and after
        every step (``guidance.inpaint``).
        """
        shape = _checks.check_shape(shape)
        _checks.check_cond(cond, shape[0])
        steps = _checks.check_steps(
            self.sample_steps if steps is None else steps, 1, None, "FlowMatching"
        )
        w = _checks.check_guidance(guidance_scale, cond, self.cond_dropout_trained, "FlowMatching")
        guided = ClassifierFree(w) if w is not None else None

        def velocity(x_t: Tensor, t: Tensor) -> Tensor:
            v = net(x_t, t, cond) if guided is None else guided(net, x_t, t, cond)
            return v if classifier is None else classifier.velocity(x_t, t, v)

        stepper = self.make_sampler(solver)
        stepper.set_timesteps(steps)
        device = _checks.default_device(device, cond, generator)
        x = torch.randn(shape, generator=generator, dtype=dtype, device=device)
        x = x if inpaint is None else inpaint(x)
        for i in range(steps):
            x = stepper.step(i, velocity, x)
            x = x if inpaint is None else inpaint(x)
        return x

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(JSON config, no arrays)."""
        config = {
            "timestep_sampling": self.timestep_sampling,
            "shift": self.shift,
            "solver": self.solver,
            "logit_mean": self.logit_mean,
            "logit_std": self.logit_std,
            "sample_steps": self.sample_steps,
            "cond_dropout_trained": self.cond_dropout_trained,
            "grid": self.grid,
        }
        return config, {}

    @classmethod
    def from_state(cls, config: dict[str, Any], arrays: dict[str, Any]) -> FlowMatching:
        return cls(**config)

    def __repr__(self) -> str:
        return (
            f"FlowMatching(timestep_sampling={self.timestep_sampling!r}, shift={self.shift}, "
            f"solver={self.solver!r})"
        )
