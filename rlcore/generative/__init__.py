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
"""

from rlcore.generative import guidance, metrics, networks, samplers, schedules, toy
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
]
