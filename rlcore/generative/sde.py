"""Score SDEs (Song et al. 2021, "Score-Based Generative Modeling through SDEs"), on rlcore's clock.

Time convention (the whole package): t in [0, T] with T <= 1, **t = 0 is data, t = T noise**.
Every SDE here is a forward diffusion

    dx = f(x, t) dt + g(t) dw                                          (Song et al. 2021, eq. 5)

whose transition from the data is Gaussian, x_t = m(t) x_0 + s(t) eps with eps ~ N(0, I), so a
network that predicts eps gives the score, grad log p_t(x) = -eps_hat / s(t). Its reverse-time
SDE and its probability-flow ODE (eqs. 6 and 13) are

    dx = [f(x, t) - g(t)^2 score(x, t)] dt + g(t) dw_bar,      dx/dt = f(x, t) - g(t)^2 score / 2.

- ``sdes.vp`` (variance preserving, eq. 11): f = -beta(t) x / 2, g = sqrt(beta(t)), m = sqrt(ab),
  s = sqrt(1 - ab), with ab(t) = alpha_bar(t) **taken from a noise schedule of
  ``rlcore.generative.schedules``** and beta(t) = -d log alpha_bar / dt (autograd). The discrete
  DDPM of the same schedule has alpha_bar_k = alpha_bar(t_k) at its step times t_k = (k + 1) / K
  (``schedules.discretize`` telescopes the betas), so DDPM/DDIM and this SDE share marginals.
- ``sdes.sub_vp`` (eq. 17): the VP drift with g^2 = beta(t) (1 - ab(t)^2); s = 1 - ab.
- ``sdes.ve`` (variance exploding, eq. 9 / App. C): f = 0, sigma(t) = sigma_min (sigma_max /
  sigma_min)^t, g = sigma(t) sqrt(2 log(sigma_max / sigma_min)); m = 1 and s(t) =
  sqrt(sigma(t)^2 - sigma_min^2) (exact: zero noise at t = 0).

Shapes: x is (B, ...); t is a float, a 0-d tensor or (B,); coefficients come back as (B,) or 0-d
and broadcast against x through :func:`bcast`.
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from rlcore.generative import schedules
from rlcore.registry import export
from rlcore.validation import check_range

__all__ = [
    "SDE",
    "SubVPSDE",
    "VESDE",
    "VPSDE",
    "bcast",
    "probability_flow",
    "standard_normal_log_prob",
]


MIN_ALPHA_BAR = 1e-12
"""Smallest alpha_bar(T) a schedule-built SDE accepts (cosine and sigmoid reach ~0 at t = 1)."""


def bcast(c: Tensor, x: Tensor) -> Tensor:
    """A (B,) or 0-d coefficient reshaped to broadcast over x (B, ...), in x's dtype."""
    c = c.to(dtype=x.dtype, device=x.device)
    return c if c.dim() == 0 else c.reshape(-1, *([1] * (x.dim() - 1)))


def standard_normal_log_prob(z: Tensor, scale: float = 1.0) -> Tensor:
    """log N(z; 0, scale^2 I) summed over all but the batch axis; z (B, ...) -> (B,)."""
    d = z[0].numel()
    sq = z.pow(2).reshape(z.shape[0], -1).sum(-1)
    return -0.5 * sq / scale**2 - 0.5 * d * math.log(2 * math.pi * scale**2)


@runtime_checkable
class SDE(Protocol):
    """A forward SDE dx = f(x, t) dt + g(t) dw on [0, T] with Gaussian transitions from data."""

    T: float

    def drift(self, x: Tensor, t: Tensor | float) -> Tensor:
        """f(x, t), shaped like x."""
        ...

    def diffusion(self, t: Tensor | float) -> Tensor:
        """g(t), shaped like t."""
        ...

    def marginal(self, t: Tensor | float) -> tuple[Tensor, Tensor]:
        """(m(t), s(t)) of x_t = m(t) x_0 + s(t) eps."""
        ...

    def discretize(self, x: Tensor, t: Tensor | float, t_next: Tensor | float):
        """(f_i, G_i) of the forward step from t_next to t > t_next: x_t = x + f_i + G_i z."""
        ...

    def prior_sample(self, shape, *, generator=None, dtype=torch.float32, device=None) -> Tensor:
        """Draws from the prior p_T; shape (B, ...)."""
        ...

    def prior_log_prob(self, z: Tensor) -> Tensor:
        """log p_T(z) summed per row; (B, ...) -> (B,)."""
        ...


class _SDEMethods:
    """Time checks and the Gaussian pieces shared by the SDE classes (no state of its own)."""

    T: float

    def _time(self, t: Tensor | float) -> Tensor:
        """t as a float64 tensor, checked to lie in [0, T]."""
        t = torch.as_tensor(t, dtype=torch.float64) if not torch.is_tensor(t) else t
        if not torch.is_floating_point(t):
            raise TypeError(f"t must be a float tensor in [0, {self.T}], got dtype {t.dtype}.")
        if t.numel() and (not torch.isfinite(t).all() or t.min() < 0 or t.max() > self.T):
            raise ValueError(
                f"{type(self).__name__} is defined for t in [0, T={self.T:g}] (t = 0 data, t = T "
                f"noise), got values in [{t.min().item():g}, {t.max().item():g}]."
            )
        return t

    def score_from_eps(self, eps_hat: Tensor, t: Tensor | float) -> Tensor:
        """grad log p_t(x) = -eps_hat / s(t); eps_hat (B, ...), t (B,) or scalar."""
        return -eps_hat / bcast(self.marginal(t)[1], eps_hat)  # type: ignore[attr-defined]

    def perturb(self, x0: Tensor, eps: Tensor, t: Tensor | float) -> Tensor:
        """x_t = m(t) x0 + s(t) eps (the forward marginal, sampled)."""
        m, s = self.marginal(t)  # type: ignore[attr-defined]
        return bcast(m, x0) * x0 + bcast(s, x0) * eps

    def prior_std(self) -> float:
        return 1.0

    def prior_sample(
        self,
        shape: tuple[int, ...],
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """z ~ N(0, prior_std^2 I) of ``shape`` (B, ...)."""
        z = torch.randn(tuple(shape), generator=generator, dtype=dtype, device=device)
        return self.prior_std() * z

    def prior_log_prob(self, z: Tensor) -> Tensor:
        """log N(z; 0, prior_std^2 I) per row: (B, ...) -> (B,)."""
        return standard_normal_log_prob(z, self.prior_std())

    def reverse_drift(self, x: Tensor, t: Tensor, score: Tensor) -> Tensor:
        """f(x, t) - g(t)^2 score: the drift of the reverse-time SDE (Song et al. 2021, eq. 6)."""
        return self.drift(x, t) - bcast(self.diffusion(t) ** 2, x) * score  # type: ignore[attr-defined]


def _check_T(T: float) -> float:
    return check_range("T", T, 0.0, 1.0, low_open=True, hint="rlcore's clock ends at t = 1.")


def _schedule(schedule: str | schedules.NoiseSchedule) -> schedules.NoiseSchedule:
    if isinstance(schedule, str):
        from rlcore.validation import check_choice

        return schedules.NOISE_SCHEDULES[
            check_choice("schedule", schedule, schedules.NOISE_SCHEDULES)
        ]()
    if not isinstance(schedule, schedules.NoiseSchedule):
        raise TypeError(
            f"schedule must be a name ({', '.join(schedules.NOISE_SCHEDULES)}) or a NoiseSchedule "
            f"object such as schedules.LinearSchedule(), got {schedule!r}."
        )
    return schedule


class _FromSchedule(_SDEMethods):
    """alpha_bar(t) and beta(t) = -d log alpha_bar(t) / dt from a noise schedule."""

    def __init__(self, schedule: str | schedules.NoiseSchedule = "linear", T: float = 1.0) -> None:
        self.schedule = _schedule(schedule)
        self.T = _check_T(T)
        ab_T = float(self.schedule.alpha_bar(torch.tensor(self.T, dtype=torch.float64)))
        if not ab_T >= MIN_ALPHA_BAR:
            raise ValueError(
                f"{type(self).__name__}: the schedule {self.schedule!r} has alpha_bar(T={self.T:g}) "
                f"= {ab_T:g} < {MIN_ALPHA_BAR:g}, so beta(t) = -d log alpha_bar/dt blows up at T; "
                "pass T < 1 (e.g. T=0.995 for the cosine schedule)."
            )

    def alpha_bar(self, t: Tensor | float) -> Tensor:
        """The schedule's alpha_bar(t), float64 (or t's dtype)."""
        return self.schedule.alpha_bar(self._time(t))

    def beta(self, t: Tensor | float) -> Tensor:
        """beta(t) = -d log alpha_bar(t) / dt, by automatic differentiation of the schedule."""
        t = self._time(t).detach()
        with torch.enable_grad():
            t_ = t.clone().requires_grad_(True)
            log_ab = torch.log(self.schedule.alpha_bar(t_))
            (d_log_ab,) = torch.autograd.grad(log_ab.sum(), t_)
        return -d_log_ab

    def drift(self, x: Tensor, t: Tensor | float) -> Tensor:
        """f(x, t) = -beta(t) x / 2."""
        return -0.5 * bcast(self.beta(t), x) * x


@export("sdes.vp")
class VPSDE(_FromSchedule):
    """Variance-preserving SDE dx = -beta(t) x / 2 dt + sqrt(beta(t)) dw (Song et al. 2021, eq. 11).

    The continuous limit of DDPM: with the same schedule, alpha_bar(t_k) is DDPM's alpha_bar_k.

    Args:
        schedule: a schedule name ("linear", "cosine", "sigmoid", "vp_short") or object;
            "linear" is Song et al.'s beta_min = 0.1, beta_max = 20.
        T: end time (<= 1); a schedule with alpha_bar(1) = 0 (cosine, sigmoid) needs T < 1.
    """

    def diffusion(self, t: Tensor | float) -> Tensor:
        """g(t) = sqrt(beta(t))."""
        return self.beta(t).sqrt()

    def marginal(self, t: Tensor | float) -> tuple[Tensor, Tensor]:
        """m(t) = sqrt(alpha_bar(t)), s(t) = sqrt(1 - alpha_bar(t))."""
        ab = self.alpha_bar(t)
        return ab.sqrt(), (1.0 - ab).sqrt()

    def discretize(self, x: Tensor, t: Tensor | float, t_next: Tensor | float):
        """DDPM's step from t_next to t: x_t = sqrt(1 - beta) x + sqrt(beta) z, with 1 - beta =
        alpha_bar(t) / alpha_bar(t_next) (Ho et al. 2020, eq. 2); returns (f_i, G_i) =
        ((sqrt(1 - beta) - 1) x, sqrt(beta))."""
        one_minus_beta = self.alpha_bar(t) / self.alpha_bar(t_next)
        return (bcast(one_minus_beta.sqrt(), x) - 1.0) * x, (1.0 - one_minus_beta).sqrt()

    def __repr__(self) -> str:
        return f"VPSDE(schedule={self.schedule!r}, T={self.T})"


@export("sdes.sub_vp")
class SubVPSDE(_FromSchedule):
    """Sub-VP SDE dx = -beta x / 2 dt + sqrt(beta (1 - alpha_bar^2)) dw (Song et al. 2021, eq. 17).

    Same mean as the VP SDE, smaller variance: s(t) = 1 - alpha_bar(t).

    Args:
        schedule: a schedule name or object (see :class:`VPSDE`).
        T: end time (<= 1).
    """

    def diffusion(self, t: Tensor | float) -> Tensor:
        """g(t) = sqrt(beta(t) (1 - alpha_bar(t)^2))."""
        return (self.beta(t) * (1.0 - self.alpha_bar(t) ** 2)).sqrt()

    def marginal(self, t: Tensor | float) -> tuple[Tensor, Tensor]:
        """m(t) = sqrt(alpha_bar(t)), s(t) = 1 - alpha_bar(t)."""
        ab = self.alpha_bar(t)
        return ab.sqrt(), 1.0 - ab

    def discretize(self, x: Tensor, t: Tensor | float, t_next: Tensor | float):
        """Euler-Maruyama: f_i = f(x, t) dt, G_i = g(t) sqrt(dt) with dt = t - t_next."""
        dt = self._time(t) - self._time(t_next)
        return self.drift(x, t) * bcast(dt, x), self.diffusion(t) * dt.sqrt()

    def __repr__(self) -> str:
        return f"SubVPSDE(schedule={self.schedule!r}, T={self.T})"


@export("sdes.ve")
class VESDE(_SDEMethods):
    """Variance-exploding SDE dx = sqrt(d sigma^2(t) / dt) dw, sigma(t) = sigma_min (sigma_max /
    sigma_min)^t (Song et al. 2021, eq. 9 and App. C; the continuous NCSN).

    Args:
        sigma_min: noise scale at t = 0 (> 0).
        sigma_max: noise scale at t = T (> sigma_min); the prior is N(0, sigma(T)^2 I).
        T: end time (<= 1).
    """

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 10.0, T: float = 1.0) -> None:
        self.sigma_min = check_range("sigma_min", sigma_min, 0.0, low_open=True)
        self.sigma_max = check_range(
            "sigma_max",
            sigma_max,
            self.sigma_min,
            low_open=True,
            hint="need sigma_max > sigma_min.",
        )
        self.T = _check_T(T)

    def sigma(self, t: Tensor | float) -> Tensor:
        """sigma(t) = sigma_min (sigma_max / sigma_min)^t."""
        return self.sigma_min * (self.sigma_max / self.sigma_min) ** self._time(t)

    def drift(self, x: Tensor, t: Tensor | float) -> Tensor:
        """f = 0."""
        self._time(t)
        return torch.zeros_like(x)

    def diffusion(self, t: Tensor | float) -> Tensor:
        """g(t) = sigma(t) sqrt(2 log(sigma_max / sigma_min))."""
        return self.sigma(t) * math.sqrt(2.0 * math.log(self.sigma_max / self.sigma_min))

    def marginal(self, t: Tensor | float) -> tuple[Tensor, Tensor]:
        """m = 1, s(t) = sqrt(sigma(t)^2 - sigma_min^2)."""
        sigma = self.sigma(t)
        return torch.ones_like(sigma), (sigma**2 - self.sigma_min**2).clamp(min=0.0).sqrt()

    def discretize(self, x: Tensor, t: Tensor | float, t_next: Tensor | float):
        """NCSN's step: f_i = 0, G_i = sqrt(sigma(t)^2 - sigma(t_next)^2) (Song et al. eq. 47)."""
        return torch.zeros_like(x), (self.sigma(t) ** 2 - self.sigma(t_next) ** 2).sqrt()

    def prior_std(self) -> float:
        return float(self.sigma(self.T))

    def __repr__(self) -> str:
        return f"VESDE(sigma_min={self.sigma_min}, sigma_max={self.sigma_max}, T={self.T})"


def probability_flow(sde: SDE, score):
    """The probability-flow ODE's velocity v(x, t) = f(x, t) - g(t)^2 score(x, t) / 2.

    Song et al. (2021), eq. 13: its solutions have the SDE's marginals p_t at every t.

    Args:
        sde: the forward SDE.
        score: callable (x (B, ...), t (B,)) -> grad log p_t(x), shaped like x.

    Returns:
        A callable (x, t) -> dx/dt, the ``Velocity`` shape of ``samplers.euler`` / ``heun``.
    """

    def velocity(x: Tensor, t: Tensor) -> Tensor:
        return sde.drift(x, t) - 0.5 * bcast(sde.diffusion(t) ** 2, x) * score(x, t)

    return velocity
