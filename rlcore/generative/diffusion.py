"""DDPM training objective (epsilon-, x0- or v-prediction) and its samplers, DDPM and DDIM.

Forward process (Ho et al. 2020, eq. 4), t = 0 data and t = 1 noise, K training steps
k = 0 .. K - 1 at t_k = (k + 1) / K:

    x_k = sqrt(alpha_bar_k) x_0 + sqrt(1 - alpha_bar_k) eps,   eps ~ N(0, I).

The network sees (x_k, t_k, cond) and predicts one of (Salimans & Ho 2022, §4 for v):

    "epsilon": eps      "x0": x_0      "v": sqrt(alpha_bar_k) eps - sqrt(1 - alpha_bar_k) x_0

and is trained by the mean squared error to that target, k uniform (Ho et al. 2020, eq. 14).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal

import torch
from torch import Tensor

from rlcore import registry
from rlcore.generative import _checks, schedules
from rlcore.generative.dpm_solver import DPMSolverPPSampler
from rlcore.generative.guidance import (
    ClassifierFree,
    ClassifierGuidance,
    Inpaint,
    drop_condition,
    null_condition,
)
from rlcore.generative.protocols import DenoiserFn, DiffusionSampler
from rlcore.generative.samplers import DDIMSampler, DDPMSampler
from rlcore.registry import export
from rlcore.validation import check_choice, check_int, check_range

__all__ = ["Diffusion", "Prediction", "prediction_target", "q_sample", "split_prediction"]

Prediction = Literal["epsilon", "x0", "v"]
PREDICTIONS = ("epsilon", "x0", "v")
SAMPLERS = ("ddpm", "ddim", "dpm_solver_pp")


def _bcast(alpha_bar_t: Tensor, x: Tensor) -> Tensor:
    """(B,) -> (B, 1, ..., 1) in x's dtype, to broadcast over x (B, ...)."""
    return alpha_bar_t.to(x.dtype).reshape(-1, *([1] * (x.dim() - 1)))


def q_sample(x0: Tensor, eps: Tensor, alpha_bar_t: Tensor) -> Tensor:
    """x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps; x0, eps (B, ...), alpha_bar_t (B,)."""
    ab = _bcast(alpha_bar_t, x0)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * eps


def prediction_target(x0: Tensor, eps: Tensor, alpha_bar_t: Tensor, prediction: Prediction):
    """The regression target for ``prediction`` ("epsilon", "x0" or "v"); shape of x0."""
    ab = _bcast(alpha_bar_t, x0)
    if prediction == "epsilon":
        return eps
    if prediction == "x0":
        return x0
    return ab.sqrt() * eps - (1 - ab).sqrt() * x0


def split_prediction(
    out: Tensor, x_t: Tensor, alpha_bar_t: float | Tensor, prediction: Prediction
) -> tuple[Tensor, Tensor]:
    """(x0_hat, eps_hat) from a network output, inverting x_t = sqrt(ab) x0 + sqrt(1 - ab) eps.

    "epsilon": x0 = (x_t - sqrt(1 - ab) eps) / sqrt(ab)
    "x0":      eps = (x_t - sqrt(ab) x0) / sqrt(1 - ab)
    "v":       x0 = sqrt(ab) x_t - sqrt(1 - ab) v,  eps = sqrt(1 - ab) x_t + sqrt(ab) v

    ``alpha_bar_t`` is one float (a sampler step) or a (B,) tensor, one value per row (training,
    where every row has its own k).
    """
    if torch.is_tensor(alpha_bar_t):
        ab = _bcast(alpha_bar_t, x_t)
        a, s = ab.sqrt(), (1 - ab).sqrt()
    else:
        a, s = math.sqrt(alpha_bar_t), math.sqrt(1.0 - alpha_bar_t)
    if prediction == "epsilon":
        return (x_t - s * out) / a, out
    if prediction == "x0":
        return out, (x_t - a * out) / s
    return a * x_t - s * out, s * x_t + a * out


def _schedule_from(schedule: str | schedules.NoiseSchedule) -> schedules.NoiseSchedule:
    if isinstance(schedule, str):
        return schedules.NOISE_SCHEDULES[
            check_choice("schedule", schedule, schedules.NOISE_SCHEDULES)
        ]()
    if not isinstance(schedule, schedules.NoiseSchedule):
        raise TypeError(
            f"schedule must be a name ({', '.join(schedules.NOISE_SCHEDULES)}) or a "
            f"NoiseSchedule object such as schedules.CosineSchedule(), got {schedule!r}."
        )
    return schedule


@export("objectives.diffusion")
class Diffusion:
    """DDPM objective with DDPM / DDIM sampling: a ``GenerativeModel``.

    Args:
        schedule: a schedule name ("linear", "cosine", "sigmoid", "vp_short") or object.
        num_train_steps: K, the number of discrete training steps.
        prediction: what the network predicts: "epsilon", "x0" or "v".
        sampler: "ddpm" (ancestral), "ddim" or "dpm_solver_pp" (``samplers.dpm_solver_pp``).
        eta: DDIM stochasticity in [0, 1] (ignored by "ddpm").
        clip_sample: clip x0_hat to [-c, c] while sampling; None for no clipping.
        sample_steps: default number of sampling steps (None: num_train_steps).
        cond_dropout_trained: whether the net was trained with condition dropout (set by
            ``loss(..., cond_dropout > 0)``; pass True when sampling a net trained elsewhere).

    Attributes:
        alpha_bar: (K,) float64 materialised schedule; ``times``: (K,) step times t_k.

    Note: at the noisiest step epsilon-prediction gives x0_hat = (x_t - sigma eps_hat) /
    sqrt(alpha_bar_{K-1}), which amplifies the network's error by 1 / sqrt(alpha_bar_{K-1}):
    about 1,000 for the cosine schedule at K = 50 and 2,000 at K = 100 (its last beta is capped
    at 0.999, as in diffusers' "squaredcos_cap_v2"), 150 for the linear one. With few sampling
    steps that error is not corrected later: use ``clip_sample`` (Diffusion Policy clips
    normalised actions to 1.0) or ``prediction="v"``.
    """

    def __init__(
        self,
        schedule: str | schedules.NoiseSchedule = "cosine",
        num_train_steps: int = 100,
        prediction: Prediction = "epsilon",
        sampler: Literal["ddpm", "ddim"] = "ddim",
        eta: float = 0.0,
        clip_sample: float | None = None,
        sample_steps: int | None = None,
        cond_dropout_trained: bool = False,
    ) -> None:
        self.schedule = _schedule_from(schedule)
        self.num_train_steps = check_int("num_train_steps", num_train_steps, 1)
        self.prediction = check_choice("prediction", prediction, PREDICTIONS)
        self.sampler = check_choice("sampler", sampler, SAMPLERS)
        self.eta = check_range("eta", eta, 0.0, 1.0)
        self.clip_sample = clip_sample
        self.sample_steps = _checks.check_steps(
            self.num_train_steps if sample_steps is None else sample_steps,
            1,
            self.num_train_steps,
            "Diffusion.sample",
        )
        self.cond_dropout_trained = bool(cond_dropout_trained)
        self.alpha_bar = schedules.discretize(self.schedule, self.num_train_steps)  # (K,)
        self.times = schedules.step_times(self.num_train_steps)  # (K,)
        self.make_sampler()  # validates clip_sample

    def make_sampler(
        self,
        sampler: Literal["ddpm", "ddim", "dpm_solver_pp"] | None = None,
        eta: float | None = None,
    ) -> DiffusionSampler:
        """A fresh sampler object over this model's materialised schedule."""
        name = check_choice("sampler", self.sampler if sampler is None else sampler, SAMPLERS)
        if name == "ddpm":
            return DDPMSampler(self.alpha_bar, clip_sample=self.clip_sample)
        if name == "dpm_solver_pp":  # samplers.dpm_solver_pp, second order, logSNR grid
            return DPMSolverPPSampler(self.alpha_bar, clip_sample=self.clip_sample)
        return DDIMSampler(
            self.alpha_bar, eta=self.eta if eta is None else eta, clip_sample=self.clip_sample
        )

    def loss(
        self,
        net: DenoiserFn,
        x0: Tensor,
        cond: Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        cond_dropout: float = 0.0,
    ) -> Tensor:
        """Mean squared error of net(x_k, t_k, cond) to the prediction target.

        Draws, in this order from ``generator``: k (B,) uniform in {0..K-1}, eps like x0, and
        (when cond_dropout > 0) one uniform per row for the dropout.

        Args:
            net: the denoiser.
            x0: (B, ...) data.
            cond: (B, cond_dim) condition or None.
            cond_dropout: probability of replacing a row's cond by the net's null_cond.
        """
        out, target, _, _ = self._regression(net, x0, cond, generator, cond_dropout)
        return torch.mean((out - target) ** 2)

    def loss_and_x0_hat(
        self,
        net: DenoiserFn,
        x0: Tensor,
        cond: Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        cond_dropout: float = 0.0,
    ) -> tuple[Tensor, Tensor]:
        """``loss`` and, from the same network call, the one-step data estimate of every row:

            x0_hat = split_prediction(net(x_k, t_k, cond), x_k, alpha_bar_k)
                   = (x_k - sqrt(1 - alpha_bar_k) eps_hat) / sqrt(alpha_bar_k)   (epsilon)

        at the row's own k and eps (Ho et al. 2020, eq. 15; EDP's action approximation, Kang
        et al. 2023, eq. 7, uses it with the loss's noised sample, so one forward and one
        backward serve both). Same draws as ``loss``; x0_hat (B, ...) is not clipped and
        carries the gradient of the network's output.
        """
        out, target, x_t, alpha_bar_t = self._regression(net, x0, cond, generator, cond_dropout)
        x0_hat = split_prediction(out, x_t, alpha_bar_t, self.prediction)[0]
        return torch.mean((out - target) ** 2), x0_hat

    def _regression(
        self,
        net: DenoiserFn,
        x0: Tensor,
        cond: Tensor | None,
        generator: torch.Generator | None,
        cond_dropout: float,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(net output, target, x_k, alpha_bar_k (B,)) of one training draw (see ``loss``)."""
        p = _checks.check_data(x0, cond, cond_dropout)
        batch = x0.shape[0]
        # 1. k ~ U{0..K-1}, eps ~ N(0, I) and x_k by the forward process.
        k = torch.randint(self.num_train_steps, (batch,), generator=generator, device=x0.device)
        eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
        alpha_bar_t = self.alpha_bar.to(x0.device)[k]  # (B,)
        x_t = q_sample(x0, eps, alpha_bar_t)
        t = self.times.to(device=x0.device, dtype=x0.dtype)[k]  # (B,)
        # 2. Classifier-free guidance: drop the condition with probability p.
        if p > 0:
            cond = drop_condition(cond, null_condition(net, cond), p, generator)
            self.cond_dropout_trained = True
        # 3. The network's prediction and its regression target.
        target = prediction_target(x0, eps, alpha_bar_t, self.prediction)
        return net(x_t, t, cond), target, x_t, alpha_bar_t

    def sample(
        self,
        net: DenoiserFn,
        shape: tuple[int, ...],
        cond: Tensor | None = None,
        *,
        steps: int | None = None,
        generator: torch.Generator | None = None,
        guidance_scale: float | None = None,
        sampler: Literal["ddpm", "ddim", "dpm_solver_pp"] | None = None,
        eta: float | None = None,
        classifier: ClassifierGuidance | None = None,
        inpaint: Inpaint | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """Reverse process from x ~ N(0, I) at k = K - 1 to data, over ``steps`` steps.

        Runs in the caller's grad mode (Diffusion-QL differentiates through sampling); wrap it
        in ``torch.no_grad()`` for inference.

        Args:
            net: the denoiser.
            shape: (B, ...) of the samples.
            cond: (B, cond_dim) or None.
            steps: in [1, num_train_steps]; default ``sample_steps``.
            generator: the only source of randomness (its device is used by default).
            guidance_scale: classifier-free guidance w (needs cond-dropout training).
            sampler, eta: override the model's sampler and DDIM eta.
            classifier: classifier guidance (``guidance.classifier``) applied to eps_hat.
            inpaint: known coordinates (``guidance.inpaint``) fixed on the noise and after
                every step.

        Returns:
            Samples of ``shape``.
        """
        shape = _checks.check_shape(shape)
        _checks.check_cond(cond, shape[0])
        steps = _checks.check_steps(
            self.sample_steps if steps is None else steps, 1, self.num_train_steps, "Diffusion"
        )
        w = _checks.check_guidance(guidance_scale, cond, self.cond_dropout_trained, "Diffusion")
        guided = ClassifierFree(w) if w is not None else None
        stepper = self.make_sampler(sampler, eta)
        timesteps = stepper.set_timesteps(steps)
        device = _checks.default_device(device, cond, generator)
        x = torch.randn(shape, generator=generator, dtype=dtype, device=device)
        x = x if inpaint is None else inpaint(x)
        for i, k in enumerate(timesteps.tolist()):
            t = torch.full((shape[0],), float(self.times[k]), dtype=dtype, device=x.device)
            out = net(x, t, cond) if guided is None else guided(net, x, t, cond)
            alpha_bar_t = float(self.alpha_bar[k])
            x0_hat, eps_hat = split_prediction(out, x, alpha_bar_t, self.prediction)
            if classifier is not None:
                x0_hat, eps_hat = classifier.diffusion(x, t, x0_hat, eps_hat, alpha_bar_t)
            x = stepper.step(i, x, x0_hat, eps_hat, generator=generator)
            x = x if inpaint is None else inpaint(x)
        return x

    # -- checkpoints (rlcore.save / rlcore.load) --
    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(JSON config, no arrays): the schedule by registry name and fields."""
        config = {
            "schedule": registry.name_of(self.schedule),
            "schedule_config": dataclasses.asdict(self.schedule),
            "num_train_steps": self.num_train_steps,
            "prediction": self.prediction,
            "sampler": self.sampler,
            "eta": self.eta,
            "clip_sample": self.clip_sample,
            "sample_steps": self.sample_steps,
            "cond_dropout_trained": self.cond_dropout_trained,
        }
        return config, {}

    @classmethod
    def from_state(cls, config: dict[str, Any], arrays: dict[str, Any]) -> Diffusion:
        config = dict(config)
        schedule = registry.make(config.pop("schedule"), **config.pop("schedule_config"))
        return cls(schedule=schedule, **config)

    def __repr__(self) -> str:
        return (
            f"Diffusion(schedule={self.schedule!r}, num_train_steps={self.num_train_steps}, "
            f"prediction={self.prediction!r}, sampler={self.sampler!r}, eta={self.eta})"
        )
