"""rlcore.generative: generative models of x given an optional condition, in torch.

Nothing here knows about RL; the diffusion-policy and ensemble modules compose these pieces.

Time convention (the whole package): continuous t in [0, 1], **t = 0 is data, t = 1 is noise**.
Networks take (x_t, t, cond) with t of shape (B,). A diffusion with K training steps uses steps
k = 0 .. K - 1 at t_k = (k + 1) / K; the data is "k = -1" (t = 0, alpha_bar = 1).

Modules (public names in the registry):
- ``schedules``: noise schedules ``schedules.linear``, ``.ddpm_linear``, ``.cosine``, ``.sigmoid``, ``.vp_short``;
  pure functions for alpha_bar(t), sigma, SNR, and ``discretize``.
- ``samplers``: ``samplers.ddpm``, ``samplers.ddim`` (diffusion) and ``samplers.euler``,
  ``samplers.heun`` (flow ODE); ``set_timesteps`` + ``step``.
- ``diffusion``: ``objectives.diffusion`` (``Diffusion``: epsilon / x0 / v prediction).
- ``flow_matching``: ``objectives.flow_matching`` (``FlowMatching``: rectified flow).
- ``guidance``: ``guidance.classifier_free`` (with condition dropout), ``guidance.classifier``.
- ``networks``: ``networks.mlp_denoiser``, ``networks.unet1d``; ``ema``: ``networks.ema``.
- ``train``: the training loop; ``toy``: 2-D densities; ``metrics``: MMD and sliced Wasserstein.
- ``dit`` (``networks.dit1d``), ``adapters`` (``networks.controlnet``), ``latent``
  (``networks.chunk_autoencoder``), ``dpm_solver`` (``samplers.dpm_solver_pp``), ``edm``
  (``samplers.edm_euler``, ``.edm_heun``, ``objectives.edm``), ``consistency``
  (``objectives.consistency``), ``capture`` (a capture-safe static sampling loop).
- ``sde``: score SDEs ``sdes.vp`` (built on the schedules), ``sdes.sub_vp``, ``sdes.ve``;
  ``sde_samplers``: ``samplers.euler_maruyama``, ``samplers.predictor_corrector``,
  ``samplers.probability_flow`` (torchdiffeq); ``score_matching``: ``objectives.score_matching``;
  ``likelihood``: log p(x) through an ODE (score SDEs, flow matching, CNFs), exact or Hutchinson.
- ``flows``: normalizing flows ``flows.realnvp``, ``flows.maf``, ``flows.nsf``, ``flows.cnf`` in
  zuko's shape, and ``objectives.maximum_likelihood``.
"""

from rlcore.generative import (
    flows,
    guidance,
    likelihood,
    metrics,
    networks,
    samplers,
    schedules,
    sde,
    sde_samplers,
    toy,
)
from rlcore.generative.diffusion import Diffusion
from rlcore.generative.ema import EMA
from rlcore.generative.flow_matching import FlowMatching
from rlcore.generative.guidance import ClassifierFree, ClassifierGuidance
from rlcore.generative.networks import MLPDenoiser, UNet1D
from rlcore.generative.protocols import (
    Denoiser,
    DiffusionSampler,
    FlowSampler,
    GenerativeModel,
)
from rlcore.generative.samplers import DDIMSampler, DDPMSampler, EulerSampler, HeunSampler
from rlcore.generative.schedules import (
    CosineSchedule,
    LinearSchedule,
    NoiseSchedule,
    SigmoidSchedule,
    vp_short,
)
from rlcore.generative.score_matching import ScoreMatching
from rlcore.generative.sde import VESDE, VPSDE, SubVPSDE
from rlcore.generative.sde_samplers import (
    EulerMaruyama,
    PredictorCorrector,
    ProbabilityFlowSampler,
)
from rlcore.generative.train import train

__all__ = [
    "ClassifierFree",
    "ClassifierGuidance",
    "CosineSchedule",
    "DDIMSampler",
    "DDPMSampler",
    "Denoiser",
    "Diffusion",
    "DiffusionSampler",
    "EMA",
    "EulerSampler",
    "FlowMatching",
    "FlowSampler",
    "GenerativeModel",
    "HeunSampler",
    "LinearSchedule",
    "MLPDenoiser",
    "NoiseSchedule",
    "SigmoidSchedule",
    "UNet1D",
    "guidance",
    "metrics",
    "networks",
    "samplers",
    "schedules",
    "toy",
    "train",
    "vp_short",
    "EulerMaruyama",
    "PredictorCorrector",
    "ProbabilityFlowSampler",
    "ScoreMatching",
    "SubVPSDE",
    "VESDE",
    "VPSDE",
    "flows",
    "likelihood",
    "sde",
    "sde_samplers",
]
