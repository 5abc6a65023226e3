"""A normalizing-flow actor for the soft actor-critic family, with an exact log-density.

The squashed-Gaussian actor's u ~ N(mu(s), sigma(s)^2) is replaced by a conditional neural spline
flow (``flows.nsf``, Durkan et al. 2019, autoregressive, context = the observation):

    z ~ N(0, I),   u = T^{-1}(z; s),   a = tanh(u) in [-1, 1]^A,

    log pi(a | s) = log N(z; 0, I) - log |det du/dz| - sum_i log(1 - tanh(u_i)^2),

the first two terms the flow's exact change of variables (Papamakarios et al. 2021, eq. 2) and
the last the tanh squashing's (Haarnoja et al. 2018b, appendix C, eq. 21). The SAC losses
(``losses.actor_loss``, ``entropy_coef_loss``, the soft targets) take this log pi unchanged, so
the entropy term is exact for a multi-modal policy too (Mazoure et al. 2020, "Leveraging
exploration in off-policy algorithms via normalizing flows", use the same construction).

``agents.sac(env, actor="flow")`` (and redq / sac_n / edac) builds it; see ``ActorCriticConfig``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rlcore.generative.flows import nsf
from rlcore.generative.flows.core import base_log_prob
from rlcore.registry import export
from rlcore.validation import check_int

__all__ = ["FlowActor", "flow_action", "tanh_log_det"]

_LOG_2 = math.log(2.0)


def tanh_log_det(u: Tensor) -> Tensor:
    """sum_i log(1 - tanh(u_i)^2) = sum_i 2 (log 2 - u_i - softplus(-2 u_i)) (finite where tanh
    rounds to +-1; the same expression as ``losses.squashed_gaussian_log_prob``); (..., A) ->
    (...)."""
    return (2.0 * (_LOG_2 - u - F.softplus(-2.0 * u))).sum(dim=-1)


@export("networks.flow_actor")
class FlowActor(nn.Module):
    """pi(. | s): a = tanh(T^{-1}(z; s)), z ~ N(0, I), T a conditional NSF (module docstring).

    Args:
        obs_dim: input features (the flow's context size).
        action_dim: |A| (the flow's features).
        hidden: the MADE conditioners' hidden widths.
        transforms: spline layers; bins, bound: the splines' K bins on [-bound, bound] of u
            (identity outside; tanh(5) = 0.9999).

    Same interface as ``SquashedGaussianActor`` where the agent uses it: ``sample(obs, noise)``,
    ``mode(obs)``, plus ``log_prob(obs, a)``.
    """

    def __init__(
        self,
        obs_dim: int,
        action_dim: int,
        hidden: Sequence[int] = (256, 256),
        transforms: int = 2,
        bins: int = 8,
        bound: float = 5.0,
    ) -> None:
        super().__init__()
        self.obs_dim = check_int("obs_dim", obs_dim, 1)
        self.action_dim = check_int("action_dim", action_dim, 1)
        self.flow = nsf(
            self.action_dim,
            context=self.obs_dim,
            transforms=transforms,
            hidden=hidden,
            bins=bins,
            bound=bound,
        )

    def sample(self, obs: Tensor, noise: Tensor) -> tuple[Tensor, Tensor]:
        """Reparameterised a = tanh(T^{-1}(noise; obs)) and its exact log pi(a | s).

        Args:
            obs: (B, obs_dim).
            noise: (B, A) standard normal draws z (the caller owns the generator).

        Returns:
            a (B, A) in [-1, 1], log_pi (B,).
        """
        u, log_det_u = self.flow.inverse(noise, obs)  # log |det du/dz|
        return torch.tanh(u), base_log_prob(noise) - log_det_u - tanh_log_det(u)

    def mode(self, obs: Tensor) -> Tensor:
        """tanh(T^{-1}(0; s)) (B, A): the image of the base's mode, for greedy evaluation."""
        z = obs.new_zeros(obs.shape[0], self.action_dim)
        return torch.tanh(self.flow.inverse(z, obs)[0])

    def log_prob(self, obs: Tensor, a: Tensor) -> Tensor:
        """log pi(a | s) of actions a (B, A) in (-1, 1) (clamped to 1 - 1e-5, as the Gaussian
        actor's behaviour cloning does), through the flow's forward direction."""
        u = torch.atanh(a.clamp(-1 + 1e-5, 1 - 1e-5))
        z, log_det_z = self.flow.transform(u, obs)  # log |det dz/du|
        return base_log_prob(z) + log_det_z - tanh_log_det(u)


def flow_action(
    actor: FlowActor, batch: np.ndarray, rng: np.random.Generator | None, device: torch.device
) -> np.ndarray:
    """The agent's action in [-1, 1]^A for a float32 batch (N, obs_dim): a sample with base noise
    from ``rng`` (exploration), or :meth:`FlowActor.mode` when ``rng`` is None."""
    obs = torch.from_numpy(batch).to(device)
    if rng is None:
        return actor.mode(obs).cpu().numpy()
    noise = rng.standard_normal((batch.shape[0], actor.action_dim), dtype=np.float32)
    return actor.sample(obs, torch.from_numpy(noise).to(device))[0].cpu().numpy()
