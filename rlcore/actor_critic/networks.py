"""The actor of the soft actor-critic family: a tanh-squashed Gaussian policy, and the affine map
from its [-1, 1]^A output to an env's Box bounds.

``nn.Module`` holds the layers; the log-density is ``losses.squashed_gaussian_log_prob``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rlcore.actor_critic.losses import squashed_gaussian_log_prob
from rlcore.registry import export
from rlcore.validation import check_int

__all__ = ["LOG_STD_MAX", "LOG_STD_MIN", "SquashedGaussianActor", "mlp_forward"]

# The range of the policy's log standard deviation, as in SB3 and the authors' code: a network
# design choice (it bounds the output layer), not a coercion of user input.
LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0


def mlp_forward(x: Tensor, layers: nn.ModuleList) -> Tensor:
    """ReLU hidden layers via ``F.linear`` on the parameters (no per-call module hooks: cheaper at
    batch 1, the same maths as calling the ``nn.Linear`` modules)."""
    for layer in layers:
        x = F.relu(F.linear(x, layer.weight, layer.bias))
    return x


@export("networks.squashed_gaussian_actor")
class SquashedGaussianActor(nn.Module):
    """pi(. | s): u ~ N(mu(s), sigma(s)^2), a = tanh(u) in [-1, 1]^A (Haarnoja et al. 2018b, app. C).

    An MLP torso with ReLU layers, then two linear heads for mu and log sigma (clamped to
    [LOG_STD_MIN, LOG_STD_MAX]); SB3's SAC actor with ``net_arch=hidden``.

    Args:
        obs_dim: input features.
        action_dim: |A|.
        hidden: hidden layer sizes.
    """

    def __init__(self, obs_dim: int, action_dim: int, hidden: Sequence[int] = (256, 256)) -> None:
        super().__init__()
        self.obs_dim = check_int("obs_dim", obs_dim, 1)
        self.action_dim = check_int("action_dim", action_dim, 1)
        sizes = (self.obs_dim, *(check_int("hidden layer size", h, 1) for h in hidden))
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.mu = nn.Linear(sizes[-1], self.action_dim)
        self.log_std = nn.Linear(sizes[-1], self.action_dim)

    def forward(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        """(mean, log_std) of u for observations (B, obs_dim), each (B, A)."""
        h = mlp_forward(obs, self.layers)
        mean = F.linear(h, self.mu.weight, self.mu.bias)
        log_std = F.linear(h, self.log_std.weight, self.log_std.bias)
        return mean, log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)

    def sample(self, obs: Tensor, noise: Tensor) -> tuple[Tensor, Tensor]:
        """Reparameterised a = tanh(mu + sigma noise) and log pi(a | s).

        Args:
            obs: (B, obs_dim).
            noise: (B, A) standard normal draws (passed in: the caller owns the generator).

        Returns:
            a (B, A) in [-1, 1], log_pi (B,).
        """
        mean, log_std = self(obs)
        u = mean + log_std.exp() * noise
        return torch.tanh(u), squashed_gaussian_log_prob(u, mean, log_std)

    def mode(self, obs: Tensor) -> Tensor:
        """The deterministic action tanh(mu(s)) (B, A), used for greedy evaluation."""
        return torch.tanh(self(obs)[0])
