"""Samplers of score SDEs: Euler-Maruyama, predictor-corrector, and the probability-flow ODE.

Same shape as ``rlcore.generative.samplers``: ``set_timesteps(steps)`` materialises the grid
T = t_0 > t_1 > ... > t_S = t_min, and ``step(i, score, x_t, generator=...)`` moves from t_i to
t_{i+1}. ``score(x, t)`` takes x (B, ...) and t (B,) and returns grad log p_t(x) (for a network
that predicts eps: ``sde.score_from_eps(net(x, t, cond), t)``). The SDE samplers add no noise on
the last step (Song et al.'s "noise removal"). The grid stops at t_min > 0 because the score of
the data (t = 0) is unbounded; Song et al. (2021) use t_min = 1e-3 for sampling.

The probability-flow ODE (Song et al. 2021, eq. 13) is integrated by torchdiffeq (Chen et al.
2018): fixed-step ("euler", "midpoint", "rk4") on the same grid, or adaptive ("dopri5",
Dormand-Prince 5(4)) with relative and absolute tolerances. torchdiffeq is a maintained library
with adjoint support; rlcore does not write its own Runge-Kutta.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor

from rlcore.generative.sde import SDE, VPSDE, bcast, probability_flow
from rlcore.registry import export
from rlcore.validation import check_choice, check_int, check_range

__all__ = [
    "EulerMaruyama",
    "ODE_METHODS",
    "PredictorCorrector",
    "ProbabilityFlowSampler",
    "check_tolerance",
    "langevin_step",
    "sde_times",
]

Score = Callable[[Tensor, Tensor], Tensor]
FIXED_METHODS = ("euler", "midpoint", "rk4")
ADAPTIVE_METHODS = ("dopri5", "bosh3", "adaptive_heun")
ODE_METHODS = FIXED_METHODS + ADAPTIVE_METHODS


def sde_times(T: float, t_min: float, steps: int) -> Tensor:
    """Uniform grid T = t_0 > ... > t_S = t_min, float64, shape (S + 1,)."""
    steps = check_int("steps", steps, 1, hint="SDE samplers take steps >= 1.")
    return torch.linspace(T, t_min, steps + 1, dtype=torch.float64)


def check_tolerance(name: str, value: float) -> float:
    """A solver tolerance: a finite number > 0."""
    return check_range(name, value, 0.0, low_open=True, hint="Tolerances must be > 0, e.g. 1e-5.")


def _check_t_min(t_min: float, T: float) -> float:
    return check_range(
        "t_min",
        t_min,
        0.0,
        T,
        low_open=True,
        high_open=True,
        hint="The score is unbounded at t = 0; Song et al. use 1e-3 to sample, 1e-5 for NLL.",
    )


def _noise(x: Tensor, generator: torch.Generator | None) -> Tensor:
    return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)


class _GridSampler:
    """The time grid and its lookup, shared by the SDE samplers."""

    def __init__(self, sde: SDE | None, t_min: float) -> None:
        sde = VPSDE() if sde is None else sde
        if not isinstance(sde, SDE):
            raise TypeError(f"sde must be an SDE (sdes.vp, sdes.sub_vp, sdes.ve), got {sde!r}.")
        self.sde = sde
        self.t_min = _check_t_min(t_min, sde.T)
        self.times = sde_times(sde.T, self.t_min, 1)

    def set_timesteps(self, steps: int) -> Tensor:
        """Materialise the grid T = t_0 > ... > t_S = t_min; shape (S + 1,)."""
        self.times = sde_times(self.sde.T, self.t_min, steps)
        return self.times

    def _times(self, i: int, x: Tensor) -> tuple[Tensor, Tensor, Tensor, bool]:
        """(t_i as (B,) for the network, t_i and t_{i+1} as 0-d for the SDE, whether last)."""
        n = int(self.times.numel()) - 1
        check_int("i", i, 0, n - 1, hint="call set_timesteps(steps) first, then step i < steps.")
        t_b = torch.full((x.shape[0],), float(self.times[i]), dtype=x.dtype, device=x.device)
        return t_b, self.times[i], self.times[i + 1], i == n - 1


@export("samplers.euler_maruyama")
class EulerMaruyama(_GridSampler):
    """Euler-Maruyama on the reverse-time SDE (Song et al. 2021, eq. 6; Kloeden & Platen 1992):

        x_{i+1} = x_i + [f(x_i, t_i) - g(t_i)^2 score(x_i, t_i)] dt + g(t_i) sqrt(-dt) z,

    dt = t_{i+1} - t_i < 0, z ~ N(0, I) (none on the last step).

    Args:
        sde: the forward SDE (None: ``sdes.vp()``, the linear schedule).
        t_min: the last grid time (> 0).
    """

    def __init__(self, sde: SDE | None = None, t_min: float = 1e-3) -> None:
        super().__init__(sde, t_min)

    def step(
        self, i: int, score: Score, x_t: Tensor, *, generator: torch.Generator | None = None
    ) -> Tensor:
        t_b, t, t_next, last = self._times(i, x_t)
        dt = float(t_next - t)
        x_mean = x_t + self.sde.reverse_drift(x_t, t, score(x_t, t_b)) * dt
        if last:
            return x_mean
        return x_mean + bcast(self.sde.diffusion(t), x_t) * math.sqrt(-dt) * _noise(x_t, generator)


def langevin_step(
    x: Tensor, score_x: Tensor, snr: float, generator: torch.Generator | None = None
) -> Tensor:
    """One step of Langevin dynamics with the step size set by a signal-to-noise ratio.

    eps = 2 (snr ||z|| / ||score||)^2 (norms averaged over the batch), then
    x <- x + eps score + sqrt(2 eps) z (Song et al. 2021, Algorithm 5 with alpha = 1).

    Args:
        x, score_x: (B, ...) the sample and the score at it.
        snr: the signal-to-noise ratio r > 0 (Song et al.: 0.16 for VE on CIFAR-10).
    """
    z = _noise(x, generator)
    grad_norm = score_x.reshape(x.shape[0], -1).norm(dim=-1).mean()
    noise_norm = z.reshape(x.shape[0], -1).norm(dim=-1).mean()
    step = 2.0 * (snr * noise_norm / grad_norm) ** 2
    return x + step * score_x + (2.0 * step).sqrt() * z


@export("samplers.predictor_corrector")
class PredictorCorrector(_GridSampler):
    """Predictor-corrector sampling (Song et al. 2021, §4.2, Algorithms 2-3).

    At each grid time t_i: ``corrector_steps`` Langevin steps (:func:`langevin_step`) at t_i,
    then the predictor to t_{i+1}. Predictors:

    - "reverse_diffusion": x_{i+1} = x_i - f_i + G_i^2 score(x_i, t_i) + G_i z with (f_i, G_i) the
      SDE's own discretisation (``sde.discretize``; DDPM's betas for VP, NCSN's for VE),
      Song et al. eq. 46;
    - "euler_maruyama": the step of :class:`EulerMaruyama`.

    Args:
        sde: the forward SDE (None: ``sdes.vp()``, the linear schedule).
        snr: signal-to-noise ratio of the Langevin corrector (> 0).
        corrector_steps: Langevin steps per grid time (0 gives the predictor alone).
        predictor: "reverse_diffusion" or "euler_maruyama".
        t_min: the last grid time (> 0).
    """

    def __init__(
        self,
        sde: SDE | None = None,
        snr: float = 0.16,
        corrector_steps: int = 1,
        predictor: Literal["reverse_diffusion", "euler_maruyama"] = "reverse_diffusion",
        t_min: float = 1e-3,
    ) -> None:
        super().__init__(sde, t_min)
        sde = self.sde
        self.snr = check_range("snr", snr, 0.0, low_open=True, hint="Song et al. use 0.01-0.2.")
        self.corrector_steps = check_int("corrector_steps", corrector_steps, 0)
        self.predictor = check_choice(
            "predictor", predictor, ("reverse_diffusion", "euler_maruyama")
        )
        self._em = EulerMaruyama(sde, t_min)

    def set_timesteps(self, steps: int) -> Tensor:
        self._em.set_timesteps(steps)
        return super().set_timesteps(steps)

    def step(
        self, i: int, score: Score, x_t: Tensor, *, generator: torch.Generator | None = None
    ) -> Tensor:
        t_b, t, t_next, last = self._times(i, x_t)
        # 1. Corrector: Langevin MCMC towards p_{t_i}.
        for _ in range(self.corrector_steps):
            x_t = langevin_step(x_t, score(x_t, t_b), self.snr, generator)
        # 2. Predictor: one step of the reverse SDE to t_{i+1}.
        if self.predictor == "euler_maruyama":
            return self._em.step(i, score, x_t, generator=generator)
        f, g = self.sde.discretize(x_t, t, t_next)
        g = bcast(g, x_t)
        x_mean = x_t - f + g**2 * score(x_t, t_b)
        return x_mean if last else x_mean + g * _noise(x_t, generator)


@export("samplers.probability_flow")
class ProbabilityFlowSampler(_GridSampler):
    """Samples by integrating the probability-flow ODE dx/dt = f - g^2 score / 2 from T to t_min.

    Song et al. (2021), §4.3. ``method`` is a torchdiffeq solver: fixed-step "euler", "midpoint"
    or "rk4" on the ``steps``-point grid, or adaptive "dopri5" (default), "bosh3",
    "adaptive_heun" with tolerances ``rtol`` and ``atol``. ``solve`` runs the whole integration
    (an adaptive solver has no grid to ``step`` along); ``nfe`` holds the number of score
    evaluations of the last solve.

    Args:
        sde: the forward SDE (None: ``sdes.vp()``, the linear schedule).
        method: the torchdiffeq method.
        rtol, atol: tolerances of an adaptive method (> 0).
        t_min: the final time (> 0).
    """

    def __init__(
        self,
        sde: SDE | None = None,
        method: str = "dopri5",
        rtol: float = 1e-5,
        atol: float = 1e-5,
        t_min: float = 1e-3,
    ) -> None:
        super().__init__(sde, t_min)
        self.method = check_choice("method", method, ODE_METHODS)
        self.rtol = check_tolerance("rtol", rtol)
        self.atol = check_tolerance("atol", atol)
        self.nfe = 0

    def step(
        self, i: int, score: Score, x_t: Tensor, *, generator: torch.Generator | None = None
    ) -> Tensor:
        """x at t_{i+1} from x at t_i: one step of a fixed method, or an adaptive solve between
        the two grid points (``generator`` is unused: the ODE is deterministic)."""
        self._times(i, x_t)  # checks i
        velocity = probability_flow(self.sde, score)
        x, self.nfe = integrate(
            velocity, x_t, self.times[i : i + 2], self.method, self.rtol, self.atol
        )
        return x

    def solve(self, score: Score, x_T: Tensor) -> Tensor:
        """x at t_min from x_T (B, ...) at T; a fixed method uses the grid of ``set_timesteps``."""
        velocity = probability_flow(self.sde, score)
        if self.method in FIXED_METHODS:
            grid = self.times
        else:
            grid = torch.tensor([self.sde.T, self.t_min], dtype=torch.float64)
        x, self.nfe = integrate(velocity, x_T, grid, self.method, self.rtol, self.atol)
        return x


def integrate(
    velocity: Callable[[Tensor, Tensor], Tensor],
    x: Tensor,
    grid: Tensor,
    method: str,
    rtol: float = 1e-5,
    atol: float = 1e-5,
) -> tuple[Tensor, int]:
    """x(grid[-1]) from x(grid[0]) under dx/dt = velocity(x, t (B,)), by torchdiffeq.

    Returns the end state and the number of velocity evaluations.
    """
    from torchdiffeq import odeint

    nfe = 0

    def f(t: Tensor, x_: Tensor) -> Tensor:
        nonlocal nfe
        nfe += 1
        return velocity(x_, t.to(x_.dtype).expand(x_.shape[0]))

    grid = grid.to(dtype=x.dtype, device=x.device)
    out = odeint(f, x, grid, method=method, rtol=rtol, atol=atol, options=ode_options(grid, method))
    return out[-1], nfe


def ode_options(grid: Tensor, method: str) -> dict:
    """torchdiffeq options: an adaptive method must land on the end time instead of stepping past
    it and interpolating back, so that the velocity is never asked for a time outside the grid
    (the SDEs reject times outside [0, T])."""
    return {"step_t": grid[-1:]} if method in ADAPTIVE_METHODS else {}
