"""Policies that generate actions with ``rlcore.generative`` (Chi et al. 2023, Diffusion Policy).

- ``policies.diffusion`` / ``policies.flow`` / ``policies.gaussian_bc``: constructors of an
  ``ActionChunkPolicy`` (``policies.action_chunk``) with a diffusion, flow-matching or MSE
  objective; ``fit(dataset)`` trains it by behaviour cloning, ``rlcore.run`` evaluates it.
- ``policies.edm`` / ``policies.consistency`` (``consistency``): EDM training and its one- or
  two-step consistency distillation; ``policies.latent_diffusion`` (``latent``): diffusion in a
  chunk autoencoder's latent.
- ``policies.normalizing_flow``: an action-chunk policy from a conditional normalizing flow
  (exact log-likelihood behaviour cloning; ``rsample_and_log_prob`` for actors).
- ``objectives.mse_regression``: the MSE baseline as a ``GenerativeModel``.
- ``chunk_indices``, ``MinMaxNormalizer``: training windows and [-1, 1] normalisation.
- Offline RL (``offline``, ``propose_and_rank``, ``iql``, ``idql``, ``diffusion_ql``):
  ``policies.propose_and_rank`` (a generator proposes n actions, a value ensemble ranks them
  with any ``ensembles.*`` reduction), ``agents.iql`` (IQL critics + a Gaussian actor by
  advantage-weighted regression: the non-generative baseline), ``agents.idql`` (the same
  critics + a diffusion behaviour model), ``agents.diffusion_ql`` (BC + Q, with EDP's action
  approximation).
- ``planners``: ``planners.diffuser`` and ``planners.decision_diffuser`` (trajectory diffusion
  with inpainting, return guidance, classifier-free return/goal conditioning).
"""

from rlcore.diffusion_policy.chunking import MinMaxNormalizer, chunk_indices
from rlcore.diffusion_policy.consistency import consistency_policy, edm_policy
from rlcore.diffusion_policy.diffusion_ql import DiffusionQL, DiffusionQLConfig
from rlcore.diffusion_policy.idql import IDQL, IDQLConfig
from rlcore.diffusion_policy.iql import IQL, IQLConfig
from rlcore.diffusion_policy.latent import LatentDiffusionPolicy, latent_diffusion_policy
from rlcore.diffusion_policy.normalizing_flow import NormalizingFlowPolicy, normalizing_flow_policy
from rlcore.diffusion_policy.offline import ActionModel, ActionModelConfig
from rlcore.diffusion_policy.planners import DecisionDiffuser, Diffuser, PlannerConfig, StateTracker
from rlcore.diffusion_policy.policy import (
    ActionChunkPolicy,
    ChunkConfig,
    NetworkConfig,
    SamplingConfig,
    TrainConfig,
    diffusion_policy,
    flow_policy,
    gaussian_bc_policy,
)
from rlcore.diffusion_policy.propose_and_rank import ProposeAndRank
from rlcore.diffusion_policy.regression import MSERegression

__all__ = [
    "ActionChunkPolicy",
    "ActionModel",
    "ActionModelConfig",
    "ChunkConfig",
    "LatentDiffusionPolicy",
    "DecisionDiffuser",
    "Diffuser",
    "DiffusionQL",
    "DiffusionQLConfig",
    "IDQL",
    "IDQLConfig",
    "IQL",
    "IQLConfig",
    "MSERegression",
    "MinMaxNormalizer",
    "NormalizingFlowPolicy",
    "NetworkConfig",
    "PlannerConfig",
    "StateTracker",
    "ProposeAndRank",
    "SamplingConfig",
    "TrainConfig",
    "chunk_indices",
    "consistency_policy",
    "diffusion_policy",
    "edm_policy",
    "flow_policy",
    "gaussian_bc_policy",
    "latent_diffusion_policy",
    "normalizing_flow_policy",
]
