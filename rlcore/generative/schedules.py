"""Noise schedules for variance-preserving diffusion, in continuous time.

Time convention for all of ``rlcore.generative``: ``t`` in [0, 1], ``t = 0`` is data and
``t = 1`` is noise. A schedule gives ``alpha_bar(t)``, the signal fraction of

    x_t = sqrt(alpha_bar(t)) * x_0 + sqrt(1 - alpha_bar(t)) * eps,   eps ~ N(0, I)

(Ho et al. 2020, eq. 4), with ``alpha_bar(0) = 1`` and ``alpha_bar`` decreasing in ``t``;
``sigma(t) = sqrt(1 - alpha_bar(t))`` and ``snr(t) = alpha_bar(t) / (1 - alpha_bar(t))``
(Kingma et al. 2021, eq. 3).

Discrete DDPM with K training steps uses steps ``k = 0, ..., K - 1`` at times
``t_k = (k + 1) / K`` (:func:`step_times`), so step ``K - 1`` is ``t = 1`` and the clean data is
``k = -1`` (``t = 0``). :func:`discretize` materialises ``alpha_bar_k`` through the betas
``beta_k = 1 - alpha_bar(t_k) / alpha_bar(t_{k-1})`` capped at the schedule's ``max_beta``
(Nichol & Dhariwal 2021, eq. 17 and the 0.999 cap that keeps the last step invertible).

A *discrete* schedule (``DiscreteNoiseSchedule``: ``schedules.ddpm_linear``) is defined by its
betas on the K steps themselves; :func:`discretize` then takes its alpha_bar_k as they are,
for whatever K it is asked (as diffusers' ``DDPMScheduler(num_train_timesteps=K)`` does).

The math is in pure functions (``linear_alpha_bar`` etc., tensors in, tensors out, any shape);
the exported schedule objects are frozen dataclasses that hold their parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import torch
from torch import Tensor

from rlcore.registry import export
from rlcore.validation import check_choice, check_int, check_range

__all__ = [
    "CosineSchedule",
    "DDPMLinearSchedule",
    "DiscreteNoiseSchedule",
    "LinearSchedule",
    "NOISE_SCHEDULES",
    "NoiseSchedule",
    "SigmoidSchedule",
    "cosine_alpha_bar",
    "ddpm_linear_alpha_bar",
    "discretize",
    "linear_alpha_bar",
    "sigma_from_alpha_bar",
    "sigmoid_alpha_bar",
    "snr_from_alpha_bar",
    "step_times",
    "vp_short",
]


# ---------------------------------------------------------------------------- pure functions
def linear_alpha_bar(t: Tensor, beta_min: float = 0.1, beta_max: float = 20.0) -> Tensor:
    """alpha_bar(t) = exp(-(beta_min t + (beta_max - beta_min) t^2 / 2)).

    The variance-preserving SDE with linear beta(t) (Song et al. 2021, eq. 33). With K = 1000
    steps its betas are DDPM's linear 1e-4 ... 0.02 (Ho et al. 2020, §4) only to first order:
    its alpha_bar_k differ from DDPM's discrete product by up to 8.1e-4 (see
    :func:`ddpm_linear_alpha_bar` / ``schedules.ddpm_linear`` for the exact discrete one).
    """
    return torch.exp(-(beta_min * t + 0.5 * (beta_max - beta_min) * t**2))


def ddpm_linear_alpha_bar(
    num_steps: int,
    beta_start: float = 1e-4,
    beta_end: float = 0.02,
    dtype: Literal["float32", "float64"] = "float32",
) -> Tensor:
    """alpha_bar_k = prod_{j <= k} (1 - beta_j), beta_j = linspace(beta_start, beta_end, K)[j].

    DDPM's discrete linear schedule (Ho et al. 2020, §4: K = 1000, betas 1e-4 to 0.02), the
    ``beta_schedule="linear"`` of diffusers' ``DDPMScheduler``. ``dtype`` is the arithmetic of the
    betas and the product: "float32" is diffusers' (it stores float32 betas and takes the
    cumulative product in float32: identical values), "float64" is the DDPM authors' reference
    code (NumPy float64); the two differ by up to 2.5e-7 at K = 1000 (float32 rounding
    accumulated over the product).

    Returns:
        (K,) float64 tensor of alpha_bar_0 .. alpha_bar_{K-1}.
    """
    num_steps = check_int("num_steps", num_steps, 1)
    check_choice("dtype", dtype, ("float32", "float64"))
    torch_dtype = torch.float32 if dtype == "float32" else torch.float64
    betas = torch.linspace(beta_start, beta_end, num_steps, dtype=torch_dtype)  # (K,)
    return torch.cumprod(1.0 - betas, dim=0).to(torch.float64)


def cosine_alpha_bar(t: Tensor, s: float = 0.008) -> Tensor:
    """alpha_bar(t) = f(t) / f(0) with f(t) = cos^2(pi/2 (t + s) / (1 + s)).

    Nichol & Dhariwal (2021), eq. 17. ``alpha_bar(1) = 0`` exactly.
    """
    f_t = torch.cos(0.5 * math.pi * (t + s) / (1 + s)) ** 2
    f_0 = math.cos(0.5 * math.pi * s / (1 + s)) ** 2
    return f_t / f_0


def sigmoid_alpha_bar(t: Tensor, start: float = -3.0, end: float = 3.0, tau: float = 1.0) -> Tensor:
    """alpha_bar(t) = (sig(end/tau) - sig((t (end - start) + start)/tau)) / (sig(end/tau) - sig(start/tau)).

    Chen (2023), "On the importance of noise scheduling", Algorithm 1 (without its clip):
    ``alpha_bar(0) = 1`` and ``alpha_bar(1) = 0``.
    """
    v_start = 1.0 / (1.0 + math.exp(-start / tau))
    v_end = 1.0 / (1.0 + math.exp(-end / tau))
    v_t = torch.sigmoid((t * (end - start) + start) / tau)
    return (v_end - v_t) / (v_end - v_start)


def sigma_from_alpha_bar(alpha_bar_t: Tensor) -> Tensor:
    """sigma_t = sqrt(1 - alpha_bar_t): the noise scale of x_t."""
    return torch.sqrt(1.0 - alpha_bar_t)


def snr_from_alpha_bar(alpha_bar_t: Tensor) -> Tensor:
    """SNR_t = alpha_bar_t / (1 - alpha_bar_t) (Kingma et al. 2021, eq. 3); inf at alpha_bar = 1."""
    return alpha_bar_t / (1.0 - alpha_bar_t)


def step_times(num_steps: int, *, dtype: torch.dtype = torch.float64) -> Tensor:
    """Times of the K discrete steps: t_k = (k + 1) / K for k = 0, ..., K - 1. Shape (K,)."""
    num_steps = check_int("num_steps", num_steps, 1)
    return torch.arange(1, num_steps + 1, dtype=dtype) / num_steps


# ---------------------------------------------------------------------------- protocol
@runtime_checkable
class NoiseSchedule(Protocol):
    """A variance-preserving noise schedule in continuous time (t = 0 data, t = 1 noise)."""

    max_beta: float

    def alpha_bar(self, t: Tensor) -> Tensor:
        """Signal fraction alpha_bar(t), same shape as ``t``; 1 at t = 0, decreasing."""
        ...


@runtime_checkable
class DiscreteNoiseSchedule(NoiseSchedule, Protocol):
    """A schedule defined by its betas on K discrete steps; :func:`discretize` uses them as is."""

    def discrete_alpha_bar(self, num_steps: int) -> Tensor:
        """alpha_bar_k for k = 0 .. K - 1, shape (K,), float64."""
        ...


def _as_time(t: Tensor | float) -> Tensor:
    t = torch.as_tensor(t, dtype=torch.get_default_dtype() if not torch.is_tensor(t) else None)
    if not torch.is_floating_point(t):
        raise TypeError(f"t must be a float tensor in [0, 1], got dtype {t.dtype}.")
    if t.numel() and (t.min() < 0 or t.max() > 1):
        raise ValueError(
            f"t must lie in [0, 1] (t = 0 data, t = 1 noise), got values in "
            f"[{t.min().item():g}, {t.max().item():g}]."
        )
    return t


class _ScheduleMethods:
    """sigma(t) and snr(t) from alpha_bar(t); shared by the schedule dataclasses (no state)."""

    def sigma(self, t: Tensor | float) -> Tensor:
        """sigma(t) = sqrt(1 - alpha_bar(t))."""
        return sigma_from_alpha_bar(self.alpha_bar(t))  # type: ignore[attr-defined]

    def snr(self, t: Tensor | float) -> Tensor:
        """SNR(t) = alpha_bar(t) / (1 - alpha_bar(t))."""
        return snr_from_alpha_bar(self.alpha_bar(t))  # type: ignore[attr-defined]


def _check_max_beta(max_beta: float) -> None:
    check_range("max_beta", max_beta, 0.0, 1.0, low_open=True, hint="0.999 is the usual cap.")


@export("schedules.linear")
@dataclass(frozen=True)
class LinearSchedule(_ScheduleMethods):
    """Linear beta(t) from ``beta_min`` to ``beta_max`` in continuous time (Song et al. 2021).

    This is the continuous-time VP schedule, *not* DDPM's discrete linear betas: discretised at
    K = 1000 its alpha_bar_k differ from Ho et al.'s (and diffusers' ``"linear"``) by up to
    8.1e-4. To port a DDPM / diffusers config use ``schedules.ddpm_linear``.
    """

    beta_min: float = 0.1
    beta_max: float = 20.0
    max_beta: float = 0.999

    def __post_init__(self) -> None:
        check_range("beta_min", self.beta_min, 0.0)
        check_range("beta_max", self.beta_max, self.beta_min, hint="need beta_max >= beta_min.")
        _check_max_beta(self.max_beta)

    def alpha_bar(self, t: Tensor | float) -> Tensor:
        return linear_alpha_bar(_as_time(t), self.beta_min, self.beta_max)


@export("schedules.cosine")
@dataclass(frozen=True)
class CosineSchedule(_ScheduleMethods):
    """Cosine schedule of Nichol & Dhariwal (2021) with offset ``s``."""

    s: float = 0.008
    max_beta: float = 0.999

    def __post_init__(self) -> None:
        check_range("s", self.s, 0.0, 1.0)
        _check_max_beta(self.max_beta)

    def alpha_bar(self, t: Tensor | float) -> Tensor:
        return cosine_alpha_bar(_as_time(t), self.s)


@export("schedules.sigmoid")
@dataclass(frozen=True)
class SigmoidSchedule(_ScheduleMethods):
    """Sigmoid schedule of Chen (2023) (Jabri et al. 2022) on [start, end] with temperature tau."""

    start: float = -3.0
    end: float = 3.0
    tau: float = 1.0
    max_beta: float = 0.999

    def __post_init__(self) -> None:
        check_range("tau", self.tau, 0.0, low_open=True)
        check_range("end", self.end, self.start, low_open=True, hint="need end > start.")
        _check_max_beta(self.max_beta)

    def alpha_bar(self, t: Tensor | float) -> Tensor:
        return sigmoid_alpha_bar(_as_time(t), self.start, self.end, self.tau)


@export("schedules.ddpm_linear")
@dataclass(frozen=True)
class DDPMLinearSchedule(_ScheduleMethods):
    """DDPM's exact discrete linear schedule: beta_k = linspace(beta_start, beta_end, K)[k].

    Ho et al. (2020), §4 (K = 1000, 1e-4 to 0.02); diffusers' ``DDPMScheduler(beta_schedule=
    "linear")``. Unlike ``schedules.linear`` (the continuous VP schedule whose discretisation
    matches these betas only to first order, 8.1e-4 off in alpha_bar at K = 1000), it is defined
    on the steps: :func:`discretize` with K steps returns :func:`ddpm_linear_alpha_bar` for that
    K, equal to ``DDPMScheduler(num_train_timesteps=K).alphas_cumprod`` (``dtype="float32"``,
    the default) or to the DDPM reference code's float64 product (``dtype="float64"``).

    ``alpha_bar(t)`` in continuous time interpolates log alpha_bar linearly between the step
    times t_k = (k + 1) / K of ``num_train_steps`` (exact at those times, 1 at t = 0), for code
    that asks for a continuous schedule.

    Args:
        beta_start, beta_end: first and last beta, 0 < beta_start <= beta_end < 1.
        num_train_steps: the K that ``alpha_bar(t)`` interpolates (1000 in DDPM).
        dtype: arithmetic of the betas and their product, "float32" (diffusers) or "float64".
        max_beta: unused by the discrete betas (they are below 1); kept for the protocol.
    """

    beta_start: float = 1e-4
    beta_end: float = 0.02
    num_train_steps: int = 1000
    dtype: Literal["float32", "float64"] = "float32"
    max_beta: float = 0.999

    def __post_init__(self) -> None:
        check_range("beta_start", self.beta_start, 0.0, 1.0, low_open=True, high_open=True)
        check_range(
            "beta_end",
            self.beta_end,
            self.beta_start,
            1.0,
            high_open=True,
            hint="need beta_start <= beta_end < 1.",
        )
        check_int("num_train_steps", self.num_train_steps, 1)
        check_choice("dtype", self.dtype, ("float32", "float64"))
        _check_max_beta(self.max_beta)

    def discrete_alpha_bar(self, num_steps: int) -> Tensor:
        """alpha_bar_k of the K = ``num_steps`` linear betas, (K,) float64."""
        return ddpm_linear_alpha_bar(num_steps, self.beta_start, self.beta_end, self.dtype)

    def alpha_bar(self, t: Tensor | float) -> Tensor:
        t = _as_time(t)
        k = self.num_train_steps
        log_ab = torch.cat(  # (K + 1,) at times 0, 1/K, ..., 1
            [torch.zeros(1, dtype=torch.float64), self.discrete_alpha_bar(k).log()]
        )
        x = t.detach().to(torch.float64).cpu() * k  # position on the grid of step times
        lo = x.floor().clamp(max=k - 1).long()
        w = x - lo
        out = torch.exp((1 - w) * log_ab[lo] + w * log_ab[lo + 1])
        return out.to(device=t.device, dtype=t.dtype)


@export("schedules.vp_short")
def vp_short(beta_min: float = 0.1, beta_max: float = 10.0) -> LinearSchedule:
    """The short variance-preserving schedule of Diffusion-QL and IDQL, used with K = 5 steps.

    Wang et al. (2023), Diffusion-QL ``vp_beta_schedule``: ``alpha_k = exp(-b_min/K -
    (b_max - b_min)(2k - 1) / (2 K^2))`` for k = 1..K, b_min = 0.1, b_max = 10. Its product is
    exactly ``linear_alpha_bar(k / K, 0.1, 10)``, i.e. a :class:`LinearSchedule` with
    ``beta_max = 10`` sampled at rlcore's step times ``t_k = (k + 1) / K``.
    """
    return LinearSchedule(beta_min=beta_min, beta_max=beta_max)


NOISE_SCHEDULES = {
    "linear": LinearSchedule,
    "ddpm_linear": DDPMLinearSchedule,
    "cosine": CosineSchedule,
    "sigmoid": SigmoidSchedule,
    "vp_short": vp_short,
}
"""Short names of the noise schedules, as accepted by ``objectives.diffusion(schedule=...)``."""


def discretize(schedule: NoiseSchedule, num_steps: int) -> Tensor:
    """alpha_bar_k for the K = ``num_steps`` training steps, k = 0 .. K - 1. Shape (K,), float64.

    beta_k = min(1 - alpha_bar(t_k) / alpha_bar(t_{k-1}), max_beta) with t_{-1} = 0, then
    alpha_bar_k = prod_{j <= k} (1 - beta_j) (Nichol & Dhariwal 2021, §3.2). A
    ``DiscreteNoiseSchedule`` (``schedules.ddpm_linear``) gives its alpha_bar_k directly.
    """
    num_steps = check_int("num_steps", num_steps, 1)
    if isinstance(schedule, DiscreteNoiseSchedule):
        return schedule.discrete_alpha_bar(num_steps)
    t = torch.cat([torch.zeros(1, dtype=torch.float64), step_times(num_steps)])
    alpha_bar = schedule.alpha_bar(t)  # (K + 1,)
    betas = (1.0 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=schedule.max_beta)
    return torch.cumprod(1.0 - betas, dim=0)
