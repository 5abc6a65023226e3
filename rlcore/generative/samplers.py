"""Samplers: the reverse-time steppers of diffusion (DDPM, DDIM) and flow matching (Euler, Heun).

Each sampler is a small object with the diffusers scheduler shape: ``set_timesteps(steps)``
materialises the grid it walks, then ``step(i, ...)`` moves from grid point i to i + 1. The
previous timestep is always read from the materialised array, never computed with a stride
formula (the source of off-by-one bugs in popular schedulers).

Time convention: t = 0 is data, t = 1 noise. A diffusion with K training steps has steps
k = 0 .. K - 1 at t_k = (k + 1) / K (``schedules.step_times``); "k = -1" is the data, with
alpha_bar_{-1} = 1. Diffusion samplers start from x ~ N(0, I) at k = K - 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor

from rlcore.registry import export
from rlcore.validation import check_choice, check_int, check_range

__all__ = [
    "DDIMSampler",
    "DDPMSampler",
    "EulerSampler",
    "FLOW_GRIDS",
    "HeunSampler",
    "ddim_sigma",
    "ddim_step",
    "ddpm_posterior",
    "flow_times",
    "shift_time",
    "trailing_timesteps",
]


# ---------------------------------------------------------------------------- pure functions
def trailing_timesteps(num_train_steps: int, steps: int) -> Tensor:
    """Descending step indices k_i = round(K (S - i) / S) - 1, i = 0 .. S - 1 ("trailing").

    Always starts at K - 1 (pure noise) and, for S = K, visits every step (Lin et al. 2024,
    "Common diffusion noise schedules and sample steps are flawed", Table 2). Rounding is half
    up in integer arithmetic; consecutive indices differ by K / S >= 1, so they are distinct.

    Returns:
        (S,) int64 tensor, strictly decreasing, in [0, K - 1].
    """
    k = check_int("num_train_steps", num_train_steps, 1)
    s = check_int(
        "steps", steps, 1, k, hint=f"Inference steps must lie in [1, num_train_steps={k}]."
    )
    i = torch.arange(s, dtype=torch.int64)
    return (2 * k * (s - i) + s) // (2 * s) - 1


def ddpm_posterior(
    x_t: Tensor, x0_hat: Tensor, alpha_bar_t: float, alpha_bar_prev: float
) -> tuple[Tensor, float]:
    """Mean and variance of q(x_prev | x_t, x_0) between two (possibly strided) steps.

    With beta = 1 - alpha_bar_t / alpha_bar_prev (Ho et al. 2020, eqs. 6-7):
        mean = sqrt(alpha_bar_prev) beta / (1 - alpha_bar_t) x_0
               + sqrt(1 - beta) (1 - alpha_bar_prev) / (1 - alpha_bar_t) x_t
        var  = beta (1 - alpha_bar_prev) / (1 - alpha_bar_t)

    Args:
        x_t, x0_hat: (B, ...) the current sample and the predicted data.
        alpha_bar_t, alpha_bar_prev: signal fractions at the current and previous step.
    """
    beta = 1.0 - alpha_bar_t / alpha_bar_prev
    c0 = math.sqrt(alpha_bar_prev) * beta / (1.0 - alpha_bar_t)
    ct = math.sqrt(1.0 - beta) * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar_t)
    return c0 * x0_hat + ct * x_t, beta * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar_t)


def ddim_sigma(alpha_bar_t: float, alpha_bar_prev: float, eta: float) -> float:
    """sigma = eta sqrt((1 - ab_prev) / (1 - ab_t)) sqrt(1 - ab_t / ab_prev) (Song et al. 2021a, eq. 16).

    With eta = 1 its square is DDPM's posterior variance.
    """
    return (
        eta
        * math.sqrt((1.0 - alpha_bar_prev) / (1.0 - alpha_bar_t))
        * math.sqrt(1.0 - alpha_bar_t / alpha_bar_prev)
    )


def ddim_step(
    x0_hat: Tensor,
    eps_hat: Tensor,
    alpha_bar_prev: float,
    sigma: float,
    noise: Tensor | None,
) -> Tensor:
    """x_prev = sqrt(ab_prev) x0_hat + sqrt(1 - ab_prev - sigma^2) eps_hat + sigma z.

    Song et al. (2021a), "Denoising Diffusion Implicit Models", eq. 12.
    """
    x_prev = math.sqrt(alpha_bar_prev) * x0_hat
    x_prev = x_prev + math.sqrt(max(1.0 - alpha_bar_prev - sigma**2, 0.0)) * eps_hat
    return x_prev if noise is None else x_prev + sigma * noise


def shift_time(t: Tensor, shift: float) -> Tensor:
    """t' = shift t / (1 + (shift - 1) t): SD3's timestep shift (Esser et al. 2024, eq. 23).

    ``shift > 1`` spends more time near noise; 0 and 1 are fixed points; shift = 1 is identity.
    """
    return shift * t / (1.0 + (shift - 1.0) * t)


FLOW_GRIDS = ("uniform", "sd3")


def flow_times(
    steps: int,
    shift: float = 1.0,
    grid: Literal["uniform", "sd3"] = "uniform",
    num_train_steps: int = 1000,
) -> Tensor:
    """Time grid 1 = t_0 > t_1 > ... > t_S = 0 of S = ``steps`` flow steps. Shape (S + 1,), float64.

    - ``"uniform"`` (the default): the uniform grid shifted once, t_i = shift(1 - i / S). It is
      the continuous-time ODE's interval [1, 0] in S equal steps of the time the model was
      trained on (the same shift as the training times, Esser et al. 2024, eq. 23), and needs no
      number of training steps.
    - ``"sd3"``: diffusers' ``FlowMatchEulerDiscreteScheduler(shift=shift,
      num_train_timesteps=K)`` grid, for SD3 configs and checkpoints: S points
      t_i = shift(u_i), u = linspace(1, sigma_min, S) with sigma_min = shift(1 / K) already
      shifted (so the lowest point is shifted twice), then 0. At shift 3 and 5 steps it differs
      from "uniform" by up to 0.42 (measured, tests/generative/test_peer_grids.py); it equals
      diffusers' sigmas to float32 precision.
    """
    steps = check_int("steps", steps, 1, hint="Flow samplers take any number of steps >= 1.")
    check_choice("grid", grid, FLOW_GRIDS)
    if grid == "uniform":
        return shift_time(torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64), shift)
    k = check_int("num_train_steps", num_train_steps, 1)
    sigma_min = float(shift_time(torch.tensor(1.0 / k, dtype=torch.float64), shift))
    u = torch.linspace(1.0, sigma_min, steps, dtype=torch.float64)  # (S,)
    return torch.cat([shift_time(u, shift), torch.zeros(1, dtype=torch.float64)])


# ---------------------------------------------------------------------------- diffusion samplers
def _check_alpha_bar(alpha_bar: Tensor) -> Tensor:
    alpha_bar = torch.as_tensor(alpha_bar, dtype=torch.float64).detach().cpu()
    if alpha_bar.dim() != 1 or alpha_bar.numel() < 1:
        raise ValueError(
            f"alpha_bar must be the materialised schedule of shape (K,), got shape "
            f"{tuple(alpha_bar.shape)}; build it with schedules.discretize(schedule, K)."
        )
    if not (alpha_bar > 0).all() or not (alpha_bar < 1).all():
        raise ValueError("alpha_bar values must lie in (0, 1); cap the betas with max_beta < 1.")
    if alpha_bar.numel() > 1 and not (alpha_bar[1:] < alpha_bar[:-1]).all():
        raise ValueError("alpha_bar must be strictly decreasing in k (more noise at later steps).")
    return alpha_bar


def _check_clip(clip_sample: float | None) -> float | None:
    if clip_sample is None:
        return None
    return check_range("clip_sample", clip_sample, 0.0, low_open=True, hint="or None for no clip")


class _DiffusionSamplerBase:
    """set_timesteps, the (current, previous) lookup and clipping shared by DDPM and DDIM."""

    def __init__(self, alpha_bar: Tensor, clip_sample: float | None = None) -> None:
        self.alpha_bar = _check_alpha_bar(alpha_bar)
        self.num_train_steps = int(self.alpha_bar.numel())
        self.clip_sample = _check_clip(clip_sample)
        self.timesteps = trailing_timesteps(self.num_train_steps, self.num_train_steps)

    def set_timesteps(self, steps: int) -> Tensor:
        self.timesteps = trailing_timesteps(self.num_train_steps, steps)
        return self.timesteps

    def _alphas(self, i: int) -> tuple[float, float, bool]:
        """(alpha_bar at k_i, alpha_bar at k_{i+1} (1.0 for the data), whether i is last)."""
        n = int(self.timesteps.numel())
        check_int("i", i, 0, n - 1, hint="call set_timesteps(steps) first, then step i < steps.")
        last = i == n - 1
        prev = 1.0 if last else float(self.alpha_bar[self.timesteps[i + 1]])
        return float(self.alpha_bar[self.timesteps[i]]), prev, last

    def _clip(self, x_t: Tensor, x0_hat: Tensor, eps_hat: Tensor, ab_t: float):
        """Clip x0_hat to [-c, c] and recompute eps_hat from it (diffusers' clip_sample)."""
        if self.clip_sample is None:
            return x0_hat, eps_hat
        x0_hat = x0_hat.clamp(-self.clip_sample, self.clip_sample)
        return x0_hat, (x_t - math.sqrt(ab_t) * x0_hat) / math.sqrt(1.0 - ab_t)


def _noise_like(x: Tensor, generator: torch.Generator | None) -> Tensor:
    return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)


@export("samplers.ddpm")
class DDPMSampler(_DiffusionSamplerBase):
    """DDPM ancestral sampling (Ho et al. 2020, Algorithm 2), also on a strided timestep array.

    x_prev ~ N(mean, var) of :func:`ddpm_posterior` between k_i and k_{i+1}; the last step
    returns the posterior mean, which equals x0_hat.

    Args:
        alpha_bar: (K,) materialised schedule (``schedules.discretize``).
        clip_sample: clip x0_hat to [-clip_sample, clip_sample]; None for no clipping.
    """

    def step(
        self,
        i: int,
        x_t: Tensor,
        x0_hat: Tensor,
        eps_hat: Tensor,
        *,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        ab_t, ab_prev, last = self._alphas(i)
        x0_hat, _ = self._clip(x_t, x0_hat, eps_hat, ab_t)
        mean, var = ddpm_posterior(x_t, x0_hat, ab_t, ab_prev)
        if last:
            return mean
        return mean + math.sqrt(var) * _noise_like(x_t, generator)


@export("samplers.ddim")
class DDIMSampler(_DiffusionSamplerBase):
    """DDIM (Song et al. 2021a, eq. 12): deterministic at eta = 0, DDPM's variance at eta = 1.

    Args:
        alpha_bar: (K,) materialised schedule (``schedules.discretize``).
        eta: stochasticity in [0, 1].
        clip_sample: clip x0_hat to [-clip_sample, clip_sample]; None for no clipping.
    """

    def __init__(self, alpha_bar: Tensor, eta: float = 0.0, clip_sample: float | None = None):
        super().__init__(alpha_bar, clip_sample)
        self.eta = check_range("eta", eta, 0.0, 1.0)

    def step(
        self,
        i: int,
        x_t: Tensor,
        x0_hat: Tensor,
        eps_hat: Tensor,
        *,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        ab_t, ab_prev, last = self._alphas(i)
        x0_hat, eps_hat = self._clip(x_t, x0_hat, eps_hat, ab_t)
        sigma = ddim_sigma(ab_t, ab_prev, self.eta)
        noise = _noise_like(x_t, generator) if sigma > 0 and not last else None
        return ddim_step(x0_hat, eps_hat, ab_prev, sigma, noise)


# ---------------------------------------------------------------------------- flow samplers
Velocity = Callable[[Tensor, Tensor], Tensor]


class _FlowSamplerBase:
    def __init__(
        self,
        shift: float = 1.0,
        grid: Literal["uniform", "sd3"] = "uniform",
        num_train_steps: int = 1000,
    ) -> None:
        self.shift = check_range("shift", shift, 0.0, low_open=True, hint="SD3 uses 3.0.")
        self.grid = check_choice("grid", grid, FLOW_GRIDS)
        self.num_train_steps = check_int("num_train_steps", num_train_steps, 1)
        self.times = self._grid(1)

    def _grid(self, steps: int) -> Tensor:
        return flow_times(steps, self.shift, self.grid, self.num_train_steps)

    def set_timesteps(self, steps: int) -> Tensor:
        self.times = self._grid(steps)
        return self.times

    def _times(self, i: int, x_t: Tensor) -> tuple[Tensor, Tensor, float]:
        n = int(self.times.numel()) - 1
        check_int("i", i, 0, n - 1, hint="call set_timesteps(steps) first, then step i < steps.")
        t, t_next = float(self.times[i]), float(self.times[i + 1])
        batch = x_t.shape[0]
        t_b = torch.full((batch,), t, dtype=x_t.dtype, device=x_t.device)
        t_next_b = torch.full((batch,), t_next, dtype=x_t.dtype, device=x_t.device)
        return t_b, t_next_b, t_next - t


@export("samplers.euler")
class EulerSampler(_FlowSamplerBase):
    """Euler steps of dx/dt = v(x, t) from t = 1 to 0: x_{i+1} = x_i + (t_{i+1} - t_i) v(x_i, t_i).

    Args:
        shift: SD3 timestep shift (:func:`flow_times`).
        grid: "uniform" (default: the uniform grid shifted once) or "sd3" (diffusers'
            ``FlowMatchEulerDiscreteScheduler`` grid); see :func:`flow_times`.
        num_train_steps: K of the "sd3" grid (its lowest nonzero point is shift(1 / K)).
    """

    def step(self, i: int, velocity: Velocity, x_t: Tensor) -> Tensor:
        t, _, dt = self._times(i, x_t)
        return x_t + dt * velocity(x_t, t)


@export("samplers.heun")
class HeunSampler(_FlowSamplerBase):
    """Heun's second-order method (Karras et al. 2022, Algorithm 1).

    x' = x_i + dt v(x_i, t_i);  x_{i+1} = x_i + dt (v(x_i, t_i) + v(x', t_{i+1})) / 2, except
    the step that lands on t = 0, which is an Euler step as in Karras et al. (so one Heun step
    equals one Euler step, and steps S cost 2S - 1 network calls).

    Args:
        shift, grid, num_train_steps: the time grid, as for ``samplers.euler``.
    """

    def step(self, i: int, velocity: Velocity, x_t: Tensor) -> Tensor:
        t, t_next, dt = self._times(i, x_t)
        v = velocity(x_t, t)
        x_euler = x_t + dt * v
        if float(self.times[i + 1]) == 0.0:  # the grid lives on the CPU: no device sync
            return x_euler
        return x_t + dt * 0.5 * (v + velocity(x_euler, t_next))
