"""EDM (Karras et al. 2022, "Elucidating the Design Space of Diffusion-Based Generative Models"):
the sigma grid, Euler and Heun samplers with optional stochastic churn, and the objective with
the preconditioning (c_skip, c_out, c_in, c_noise).

EDM works in the variance-exploding form x_sigma = x_0 + sigma eps (a VP sample x_t relates to
it by x_sigma = x_t / sqrt(alpha_bar), sigma = sqrt((1 - alpha_bar) / alpha_bar)). The
probability-flow ODE is dx/dsigma = (x - D(x; sigma)) / sigma with D the denoiser (x0_hat).

Samplers follow ``DiffusionSampler`` (``set_timesteps(steps)`` then ``step(i, x_t, x0_hat,
eps_hat)``) the way diffusers' ``HeunDiscreteScheduler`` does: ``timesteps`` holds the sigma at
which each call evaluates the denoiser (float64, not training-step indices), so Heun's
correction is one more entry, and ``init_noise_sigma`` is the scale of the starting noise.
A sampler with ``steps`` = N takes N Euler steps on the grid (N network calls) or N Heun steps
(2N - 1 calls: the step to sigma = 0 is an Euler step, Algorithm 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import torch
from torch import Tensor

from rlcore.generative import _checks
from rlcore.generative.guidance import drop_condition, null_condition
from rlcore.generative.protocols import DenoiserFn
from rlcore.registry import export
from rlcore.validation import check_choice, check_int, check_range

__all__ = [
    "EDM",
    "EDMEulerSampler",
    "EDMHeunSampler",
    "edm_preconditioning",
    "karras_sigmas",
    "sigma_to_time",
]


def karras_sigmas(steps: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> Tensor:
    """sigma_i = (s_max^(1/rho) + i / (N - 1) (s_min^(1/rho) - s_max^(1/rho)))^rho, sigma_N = 0.

    Karras et al. (2022), eq. 5. Returns (N + 1,) float64, decreasing, ending with 0.
    """
    steps = check_int("steps", steps, 1, hint="The EDM grid needs at least one step.")
    check_range("rho", rho, 0.0, low_open=True, hint="Karras et al. use rho = 7; rho > 0.")
    check_range("sigma_min", sigma_min, 0.0, low_open=True)
    check_range(
        "sigma_max", sigma_max, sigma_min, low_open=True, hint="need sigma_max > sigma_min."
    )
    if steps == 1:
        return torch.tensor([sigma_max, 0.0], dtype=torch.float64)
    ramp = torch.linspace(0.0, 1.0, steps, dtype=torch.float64)
    lo, hi = sigma_min ** (1.0 / rho), sigma_max ** (1.0 / rho)
    return torch.cat([(hi + ramp * (lo - hi)) ** rho, torch.zeros(1, dtype=torch.float64)])


def edm_preconditioning(sigma: Tensor, sigma_data: float) -> tuple[Tensor, Tensor, Tensor]:
    """(c_skip, c_out, c_in) of Karras et al. (2022), Table 1: D = c_skip x + c_out F(c_in x, .).

    c_skip = sd^2 / (sigma^2 + sd^2), c_out = sigma sd / sqrt(sigma^2 + sd^2),
    c_in = 1 / sqrt(sigma^2 + sd^2); any shape of sigma.
    """
    total = sigma**2 + sigma_data**2
    return sigma_data**2 / total, sigma * sigma_data / total.sqrt(), total.rsqrt()


def sigma_to_time(sigma: Tensor, sigma_min: float, sigma_max: float) -> Tensor:
    """c_noise as a time in [0, 1]: t = log(sigma / sigma_min) / log(sigma_max / sigma_min).

    Karras et al. feed c_noise = ln(sigma) / 4; rlcore's networks embed a time t in [0, 1]
    (t = 0 data, t = 1 noise), so the same log-sigma is mapped affinely onto [0, 1].
    """
    return torch.log(sigma / sigma_min) / math.log(sigma_max / sigma_min)


class _EDMSamplerBase:
    """The sigma grid, churn (Algorithm 2) and the order of the denoiser evaluations."""

    heun: bool = False

    def __init__(
        self,
        sigma_min: float = 0.002,
        sigma_max: float = 80.0,
        rho: float = 7.0,
        churn: float = 0.0,
        churn_min: float = 0.0,
        churn_max: float = math.inf,
        noise_scale: float = 1.0,
    ) -> None:
        self.rho = check_range("rho", rho, 0.0, low_open=True, hint="Karras et al. use rho = 7.")
        self.sigma_min = check_range("sigma_min", sigma_min, 0.0, low_open=True)
        self.sigma_max = check_range("sigma_max", sigma_max, sigma_min, low_open=True)
        self.churn = check_range("churn", churn, 0.0, hint="S_churn; 0 is the deterministic ODE.")
        self.churn_min = check_range("churn_min", churn_min, 0.0)
        if not churn_max > churn_min:
            raise ValueError(f"churn_max={churn_max} must exceed churn_min={churn_min}.")
        self.churn_max = float(churn_max)
        self.noise_scale = check_range("noise_scale", noise_scale, 0.0)
        self.set_timesteps(10)

    def set_timesteps(self, steps: int) -> Tensor:
        """Materialise the grid sigma_0 > ... > sigma_N = 0 and the evaluation sigmas."""
        steps = check_int("steps", steps, 1)
        self.sigmas = karras_sigmas(steps, self.sigma_min, self.sigma_max, self.rho)  # (N + 1,)
        gamma = min(self.churn / steps, math.sqrt(2.0) - 1.0)
        inside = (self.sigmas[:-1] >= self.churn_min) & (self.sigmas[:-1] <= self.churn_max)
        self.sigma_hats = self.sigmas[:-1] * (1.0 + gamma * inside.double())  # (N,)
        plan: list[tuple[int, bool]] = []  # (grid index j, whether a Heun correction)
        evals: list[float] = []
        for j in range(steps):
            plan.append((j, False))
            evals.append(float(self.sigma_hats[j]))
            if self.heun and j < steps - 1:
                plan.append((j, True))
                evals.append(float(self.sigmas[j + 1]))
        self._plan = plan
        self.timesteps = torch.tensor(evals, dtype=torch.float64)
        self.init_noise_sigma = float(self.sigma_hats[0])
        self._saved: tuple[Tensor, Tensor] | None = None
        return self.timesteps

    def _churned(self, j: int, x: Tensor, generator: torch.Generator | None) -> Tensor:
        """x at sigma_j raised to sigma_hat_j by fresh noise (Algorithm 2, lines 5-6)."""
        if j >= len(self.sigma_hats):
            return x
        extra = float(self.sigma_hats[j]) ** 2 - float(self.sigmas[j]) ** 2
        if extra <= 0.0 or self.noise_scale == 0.0:
            return x
        z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        return x + math.sqrt(extra) * self.noise_scale * z

    def step(
        self,
        i: int,
        x_t: Tensor,
        x0_hat: Tensor,
        eps_hat: Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Advance one denoiser evaluation; x_t is at sigma = timesteps[i].

        The slope is d = (x_t - x0_hat) / sigma (``eps_hat`` is unused: in the VE form it
        equals d). Returns the next point to evaluate at (or the data after the last call).
        """
        n = len(self._plan)
        check_int("i", i, 0, n - 1, hint="call set_timesteps(steps) first, then step i < len.")
        j, correction = self._plan[i]
        sigma = float(self.timesteps[i])
        d = (x_t - x0_hat) / sigma
        sigma_next = float(self.sigmas[j + 1])
        if not correction:
            sigma_hat = float(self.sigma_hats[j])
            x_next = x_t + (sigma_next - sigma_hat) * d
            if self.heun and sigma_next > 0.0:
                self._saved = (x_t, d)
                return x_next  # evaluated next at sigma_{j+1}
        else:
            if self._saved is None:
                raise ValueError("a Heun correction needs the Euler step before it; step in order.")
            x_hat, d_hat = self._saved
            self._saved = None
            x_next = x_hat + (sigma_next - float(self.sigma_hats[j])) * 0.5 * (d_hat + d)
        return self._churned(j + 1, x_next, generator)


@export("samplers.edm_euler")
class EDMEulerSampler(_EDMSamplerBase):
    """Euler steps of the EDM ODE on the Karras grid (Karras et al. 2022, Algorithm 2 without
    the correction): x_{j+1} = x_hat_j + (sigma_{j+1} - sigma_hat_j) d_j.

    Args:
        sigma_min, sigma_max: ends of the grid (EDM: 0.002 and 80).
        rho: grid exponent (> 0; EDM: 7).
        churn: S_churn (0: deterministic); churn_min, churn_max: S_tmin, S_tmax.
        noise_scale: S_noise.
    """


@export("samplers.edm_heun")
class EDMHeunSampler(_EDMSamplerBase):
    """Heun's second-order EDM sampler (Karras et al. 2022, Algorithms 1-2), optional churn.

    x' = x_hat_j + (sigma_{j+1} - sigma_hat_j) d_j,  d' = (x' - D(x'; sigma_{j+1})) / sigma_{j+1},
    x_{j+1} = x_hat_j + (sigma_{j+1} - sigma_hat_j) (d_j + d') / 2; Euler on the step to 0.

    Args: as :class:`EDMEulerSampler`.
    """

    heun = True


@export("objectives.edm")
class EDM:
    """The EDM training objective and sampler: a ``GenerativeModel`` (Karras et al. 2022, §5).

    Training draws ln sigma ~ N(p_mean, p_std^2), x = x0 + sigma eps, and minimises
    lambda(sigma) || D(x; sigma) - x0 ||^2 with lambda = (sigma^2 + sd^2) / (sigma sd)^2.
    With ``precondition=True`` D(x; sigma) = c_skip x + c_out F(c_in x, t(sigma), cond)
    (Table 1); with False the network predicts x0 directly, D = F(x, t(sigma), cond).
    t(sigma) is :func:`sigma_to_time`.

    Args:
        sigma_data: data standard deviation sd (0.5 for data normalised to [-1, 1]).
        precondition: use the EDM preconditioning.
        p_mean, p_std: log-normal training sigmas (EDM: -1.2, 1.2).
        sigma_min, sigma_max, rho: the sampling grid.
        solver: "heun" or "euler".
        churn: S_churn of the sampler.
        sample_steps: default number of grid steps N.
        cond_dropout_trained: trained with condition dropout (set by ``loss``).
    """

    def __init__(
        self,
        sigma_data: float = 0.5,
        precondition: bool = True,
        p_mean: float = -1.2,
        p_std: float = 1.2,
        sigma_min: float = 0.002,
        sigma_max: float = 80.0,
        rho: float = 7.0,
        solver: Literal["heun", "euler"] = "heun",
        churn: float = 0.0,
        sample_steps: int = 10,
        cond_dropout_trained: bool = False,
    ) -> None:
        self.sigma_data = check_range("sigma_data", sigma_data, 0.0, low_open=True)
        self.precondition = bool(precondition)
        self.p_mean = check_range("p_mean", p_mean)
        self.p_std = check_range("p_std", p_std, 0.0, low_open=True)
        self.solver = check_choice("solver", solver, ("heun", "euler"))
        self.sample_steps = check_int("sample_steps", sample_steps, 1)
        self.cond_dropout_trained = bool(cond_dropout_trained)
        self._sampler_kwargs = {
            "sigma_min": sigma_min,
            "sigma_max": sigma_max,
            "rho": rho,
            "churn": churn,
        }
        self.make_sampler()  # validates the grid

    @property
    def sigma_min(self) -> float:
        return float(self._sampler_kwargs["sigma_min"])

    @property
    def sigma_max(self) -> float:
        return float(self._sampler_kwargs["sigma_max"])

    def make_sampler(self, solver: Literal["heun", "euler"] | None = None) -> _EDMSamplerBase:
        name = check_choice("solver", self.solver if solver is None else solver, ("heun", "euler"))
        cls = EDMHeunSampler if name == "heun" else EDMEulerSampler
        return cls(**self._sampler_kwargs)

    def denoise(self, net: DenoiserFn, x: Tensor, sigma: Tensor, cond: Tensor | None) -> Tensor:
        """D(x; sigma): x (B, ...), sigma (B,) -> x0_hat (B, ...)."""
        t = sigma_to_time(sigma, self.sigma_min, self.sigma_max).to(x.dtype)
        if not self.precondition:
            return net(x, t, cond)
        s = sigma.to(x.dtype).reshape(-1, *([1] * (x.dim() - 1)))
        c_skip, c_out, c_in = edm_preconditioning(s, self.sigma_data)
        return c_skip * x + c_out * net(c_in * x, t, cond)

    def loss(
        self,
        net: DenoiserFn,
        x0: Tensor,
        cond: Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        cond_dropout: float = 0.0,
    ) -> Tensor:
        """E lambda(sigma) || D(x0 + sigma eps; sigma) - x0 ||^2 (Karras et al. 2022, eq. 8).

        Draws, in order from ``generator``: n (B,) for ln sigma, eps like x0, then the dropout.
        """
        p = _checks.check_data(x0, cond, cond_dropout)
        n = torch.randn(x0.shape[0], generator=generator, device=x0.device, dtype=x0.dtype)
        sigma = (self.p_mean + self.p_std * n).exp()  # (B,)
        eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
        s = sigma.reshape(-1, *([1] * (x0.dim() - 1)))
        if p > 0:
            cond = drop_condition(cond, null_condition(net, cond), p, generator)
            self.cond_dropout_trained = True
        weight = (s**2 + self.sigma_data**2) / (s * self.sigma_data) ** 2
        return torch.mean(weight * (self.denoise(net, x0 + s * eps, sigma, cond) - x0) ** 2)

    def sample(
        self,
        net: DenoiserFn,
        shape: tuple[int, ...],
        cond: Tensor | None = None,
        *,
        steps: int | None = None,
        generator: torch.Generator | None = None,
        guidance_scale: float | None = None,
        solver: Literal["heun", "euler"] | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """x ~ N(0, sigma_hat_0^2 I), then the sampler's steps down to sigma = 0."""
        shape = _checks.check_shape(shape)
        _checks.check_cond(cond, shape[0])
        if guidance_scale is not None:
            raise ValueError("objectives.edm has no guidance; pass guidance_scale=None.")
        stepper = self.make_sampler(solver)
        sigmas = stepper.set_timesteps(self.sample_steps if steps is None else steps)
        device = _checks.default_device(device, cond, generator)
        x = stepper.init_noise_sigma * torch.randn(
            shape, generator=generator, dtype=dtype, device=device
        )
        return run_sampler(
            stepper, sigmas, lambda x_i, s: self.denoise(net, x_i, s, cond), x, generator
        )

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        config = {
            "sigma_data": self.sigma_data,
            "precondition": self.precondition,
            "p_mean": self.p_mean,
            "p_std": self.p_std,
            "solver": self.solver,
            "sample_steps": self.sample_steps,
            "cond_dropout_trained": self.cond_dropout_trained,
            **self._sampler_kwargs,
        }
        return config, {}

    @classmethod
    def from_state(cls, config: dict[str, Any], arrays: dict[str, Any]) -> EDM:
        return cls(**config)

    def __repr__(self) -> str:
        return (
            f"EDM(sigma_data={self.sigma_data}, precondition={self.precondition}, "
            f"solver={self.solver!r})"
        )


def run_sampler(
    stepper: _EDMSamplerBase,
    sigmas: Tensor,
    denoise: Callable[[Tensor, Tensor], Tensor],
    x: Tensor,
    generator: torch.Generator | None = None,
) -> Tensor:
    """The EDM sampling loop: x0_hat = denoise(x, sigma (B,)), then ``stepper.step``."""
    for i, sigma in enumerate(sigmas.tolist()):
        s = torch.full((x.shape[0],), sigma, dtype=x.dtype, device=x.device)
        x0_hat = denoise(x, s)
        x = stepper.step(i, x, x0_hat, generator=generator)
    return x
