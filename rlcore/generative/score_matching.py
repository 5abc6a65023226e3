"""Denoising score matching for a score SDE, in continuous time, with the SDE samplers.

The network predicts the noise of x_t = m(t) x_0 + s(t) eps, so its score estimate is
-eps_hat / s(t); the loss

    E_{t ~ U(t_min, T), x_0, eps} || eps_hat(x_t, t, cond) - eps ||^2

is denoising score matching (Vincent 2011) with Song et al.'s weighting lambda(t) = s(t)^2
(Song et al. 2021, eq. 7): lambda(t) || score_hat - grad log p(x_t | x_0) ||^2 =
|| eps_hat - eps ||^2. For the VP SDE this is DDPM's epsilon-prediction loss (Ho et al. 2020,
eq. 14) with t drawn from an interval instead of the K step times, so a network trained by
``objectives.diffusion(prediction="epsilon")`` on the same schedule is a valid score model for
``sdes.vp`` too (same alpha_bar, same time convention, same input (x_t, t, cond)).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor

from rlcore import registry
from rlcore.generative import _checks
from rlcore.generative.guidance import ClassifierFree, drop_condition, null_condition
from rlcore.generative.likelihood import LogLikelihood, sde_log_likelihood
from rlcore.generative.protocols import DenoiserFn
from rlcore.generative.sde import SDE, VESDE, VPSDE
from rlcore.generative.sde_samplers import (
    EulerMaruyama,
    PredictorCorrector,
    ProbabilityFlowSampler,
)
from rlcore.registry import export
from rlcore.validation import check_choice, check_range

__all__ = ["ScoreMatching"]

SAMPLERS = ("euler_maruyama", "predictor_corrector", "probability_flow")


@export("objectives.score_matching")
class ScoreMatching:
    """Denoising score matching on a score SDE (epsilon parameterisation): a ``GenerativeModel``.

    Args:
        sde: an SDE object (``sdes.vp``, ``sdes.sub_vp``, ``sdes.ve``); default ``VPSDE()``.
        t_min: smallest training and sampling time (> 0; Song et al.: 1e-5 train, 1e-3 sample).
        sampler: "euler_maruyama", "predictor_corrector" or "probability_flow".
        sample_steps: grid steps of the SDE samplers and of a fixed-step ODE method.
        snr: the Langevin corrector's signal-to-noise ratio.
        ode_method: torchdiffeq method of the probability-flow sampler.
        cond_dropout_trained: whether the net was trained with condition dropout.
    """

    def __init__(
        self,
        sde: SDE | None = None,
        t_min: float = 1e-3,
        sampler: Literal["euler_maruyama", "predictor_corrector", "probability_flow"] = (
            "euler_maruyama"
        ),
        sample_steps: int = 100,
        snr: float = 0.16,
        ode_method: str = "dopri5",
        cond_dropout_trained: bool = False,
    ) -> None:
        self.sde = VPSDE() if sde is None else sde
        if not isinstance(self.sde, SDE):
            raise TypeError(f"sde must be an SDE object such as sdes.vp(), got {self.sde!r}.")
        self.t_min = check_range("t_min", t_min, 0.0, self.sde.T, low_open=True, high_open=True)
        self.sampler = check_choice("sampler", sampler, SAMPLERS)
        self.sample_steps = _checks.check_steps(sample_steps, 1, None, "ScoreMatching")
        self.snr = check_range("snr", snr, 0.0, low_open=True)
        self.ode_method = ode_method
        self.cond_dropout_trained = bool(cond_dropout_trained)
        self.make_sampler()  # validates ode_method

    def make_sampler(self, sampler: str | None = None):
        name = check_choice("sampler", self.sampler if sampler is None else sampler, SAMPLERS)
        if name == "euler_maruyama":
            return EulerMaruyama(self.sde, self.t_min)
        if name == "predictor_corrector":
            return PredictorCorrector(self.sde, self.snr, t_min=self.t_min)
        return ProbabilityFlowSampler(self.sde, self.ode_method, t_min=self.t_min)

    def score_fn(self, net: DenoiserFn, cond: Tensor | None = None, guidance_scale=None):
        """(x, t) -> -eps_hat(x, t, cond) / s(t), optionally classifier-free guided."""
        guided = ClassifierFree(guidance_scale) if guidance_scale is not None else None

        def score(x: Tensor, t: Tensor) -> Tensor:
            eps_hat = net(x, t, cond) if guided is None else guided(net, x, t, cond)
            return self.sde.score_from_eps(eps_hat, t)

        return score

    def loss(
        self,
        net: DenoiserFn,
        x0: Tensor,
        cond: Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        cond_dropout: float = 0.0,
    ) -> Tensor:
        """Mean of || eps_hat(x_t, t, cond) - eps ||^2, t ~ U(t_min, T).

        Draws, in this order from ``generator``: t (B,), eps like x0, then the dropout uniforms.
        """
        p = _checks.check_data(x0, cond, cond_dropout)
        u = torch.rand(x0.shape[0], generator=generator, device=x0.device, dtype=x0.dtype)
        t = self.t_min + (self.sde.T - self.t_min) * u  # (B,)
        eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
        x_t = self.sde.perturb(x0, eps, t)
        if p > 0:
            cond = drop_condition(cond, null_condition(net, cond), p, generator)
            self.cond_dropout_trained = True
        return torch.mean((net(x_t, t, cond) - eps) ** 2)

    def sample(
        self,
        net: DenoiserFn,
        shape: tuple[int, ...],
        cond: Tensor | None = None,
        *,
        steps: int | None = None,
        generator: torch.Generator | None = None,
        guidance_scale: float | None = None,
        sampler: str | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """From x_T ~ prior to t_min with the chosen sampler; runs in the caller's grad mode."""
        shape = _checks.check_shape(shape)
        _checks.check_cond(cond, shape[0])
        steps = _checks.check_steps(
            self.sample_steps if steps is None else steps, 1, None, "ScoreMatching"
        )
        w = _checks.check_guidance(guidance_scale, cond, self.cond_dropout_trained, "ScoreMatching")
        score = self.score_fn(net, cond, w)
        stepper = self.make_sampler(sampler)
        stepper.set_timesteps(steps)
        device = _checks.default_device(device, cond, generator)
        x = self.sde.prior_sample(shape, generator=generator, dtype=dtype, device=device)
        if isinstance(stepper, ProbabilityFlowSampler):
            return stepper.solve(score, x)
        for i in range(steps):
            x = stepper.step(i, score, x, generator=generator)
        return x

    def log_likelihood(
        self, net: DenoiserFn, x: Tensor, cond: Tensor | None = None, **options
    ) -> LogLikelihood:
        """log p(x) through the probability-flow ODE (see ``likelihood.sde_log_likelihood``)."""
        return sde_log_likelihood(self.sde, self.score_fn(net, cond), x, **options)

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(JSON config, no arrays); the SDE by registry name and constructor fields."""
        sde_config = (
            {"sigma_min": self.sde.sigma_min, "sigma_max": self.sde.sigma_max, "T": self.sde.T}
            if isinstance(self.sde, VESDE)
            else {
                "schedule": registry.name_of(self.sde.schedule),
                "schedule_config": dict(vars(self.sde.schedule)),
                "T": self.sde.T,
            }
        )
        config = {
            "sde": registry.name_of(self.sde),
            "sde_config": sde_config,
            "t_min": self.t_min,
            "sampler": self.sampler,
            "sample_steps": self.sample_steps,
            "snr": self.snr,
            "ode_method": self.ode_method,
            "cond_dropout_trained": self.cond_dropout_trained,
        }
        return config, {}

    @classmethod
    def from_state(cls, config: dict[str, Any], arrays: dict[str, Any]) -> ScoreMatching:
        config = dict(config)
        sde_config = dict(config.pop("sde_config"))
        if "schedule" in sde_config:
            sde_config["schedule"] = registry.make(
                sde_config["schedule"], **sde_config.pop("schedule_config")
            )
        return cls(sde=registry.make(config.pop("sde"), **sde_config), **config)

    def __repr__(self) -> str:
        return f"ScoreMatching(sde={self.sde!r}, sampler={self.sampler!r})"
