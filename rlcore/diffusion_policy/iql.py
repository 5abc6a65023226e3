"""IQL: implicit Q-learning with advantage-weighted regression (Kostrikov et al. 2022).

The offline baseline that never queries an action outside the data. Per minibatch:

    L_V  = E[ |tau - 1(u < 0)| u^2 ],  u = min_j Q'_j(s, a) - V(s)            (eq. 5)
    L_Q  = sum_j E[ (Q_j(s, a) - r - gamma (1 - d) V(s'))^2 ]                    (eq. 6)
    L_pi = -E[ min(exp(beta (min_j Q'_j(s, a) - V(s))), w_max) log pi(a | s) ]    (eq. 7)

The critics are IDQL's (``offline.iql_critic_losses``, one implementation); the policy is a
Gaussian over normalised actions with a tanh-bounded mean and a state-independent log standard
deviation, as in the authors' code and d3rlpy's ``IQL``, acting by its mean. With ``beta = 0``
every weight is 1 and the actor is maximum-likelihood behaviour cloning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rlcore.diffusion_policy.offline import (
    OfflineCheckpoint,
    TransitionTensors,
    adam,
    check_gamma,
    check_tau,
    iql_critic_losses,
    iql_critics,
    joint_step,
)
from rlcore.ensemble.members import Ensemble
from rlcore.registry import export
from rlcore.validation import check_int, check_range

# The range of the actor's log standard deviation (the authors' code and d3rlpy): bounds the
# parameter, a design choice of the network, not a coercion of user input.
LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0
_LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True)
class IQLConfig:
    """Hyper-parameters (defaults: Kostrikov et al. 2022, D4RL locomotion, as d3rlpy's ``IQL``).

    Attributes:
        tau: expectile in (0, 1).
        beta: inverse temperature of the advantage weights, >= 0 (0: behaviour cloning).
        max_weight: the weights' upper clip, > 0.
        gamma: discount in [0, 1].
        critics: number of Q members (twin: 2).
        hidden, depth: MLP size of V, Q and the actor.
        lr: Adam step size of every network.
        batch_size: minibatch size.
        polyak: target-critic update rate in (0, 1].
    """

    tau: float = 0.7
    beta: float = 3.0
    max_weight: float = 100.0
    gamma: float = 0.99
    critics: int = 2
    hidden: int = 256
    depth: int = 2
    lr: float = 3e-4
    batch_size: int = 256
    polyak: float = 0.005

    def __post_init__(self) -> None:
        check_tau(self.tau)
        check_range("beta", self.beta, 0.0, hint="3 for D4RL locomotion, 10 for AntMaze; 0 = BC.")
        check_range("max_weight", self.max_weight, 0.0, low_open=True, hint="IQL clips at 100.")
        check_gamma(self.gamma)
        check_int("critics", self.critics, 1)
        check_int("hidden", self.hidden, 1)
        check_int("depth", self.depth, 1)
        check_range("lr", self.lr, 0.0, low_open=True)
        check_int("batch_size", self.batch_size, 1)
        check_range("polyak", self.polyak, 0.0, 1.0, low_open=True)


class GaussianActor(nn.Module):
    """pi(a | s) = N(tanh(mu(s)), diag(sigma^2)) over actions normalised to [-1, 1]^A, with
    log sigma a parameter (not a function of s) kept in [LOG_STD_MIN, LOG_STD_MAX].

    Shapes: ``forward(s (B, obs_dim))`` -> (mean, log_std), each (B, A) and (A,);
    ``log_prob(s, a (B, A))`` -> (B,).
    """

    def __init__(self, obs_dim: int, action_dim: int, hidden: int, depth: int, seed: int) -> None:
        super().__init__()
        self.mu = Ensemble(1, obs_dim, action_dim, hidden=(hidden,) * depth, seed=seed)  # one MLP
        self.log_std = nn.Parameter(torch.zeros(action_dim))

    def forward(self, s: Tensor) -> tuple[Tensor, Tensor]:
        return torch.tanh(self.mu(s)[0]), self.log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)

    def log_prob(self, s: Tensor, a: Tensor) -> Tensor:
        mean, log_std = self(s)
        z = (a - mean) * torch.exp(-log_std)
        return (-0.5 * z.square() - log_std - 0.5 * _LOG_2PI).sum(dim=-1)


def advantage_weighted_loss(
    log_prob: Tensor, advantage: Tensor, beta: float, max_weight: float
) -> Tensor:
    """-mean_b min(exp(beta A_b), w_max) log pi(a_b | s_b): advantage-weighted regression
    (Peng et al. 2019) as IQL extracts its policy (eq. 7); ``advantage`` carries no graph."""
    weights = torch.exp(beta * advantage).clamp(max=max_weight)
    return -(weights * log_prob).mean()


@export("agents.iql")
class IQL(OfflineCheckpoint):
    """IQL on an offline dataset: ``fit(steps)``, then a Policy (``act``) for ``rlcore.run``.
    ``save(dir)`` / ``rlcore.load(dir)`` round-trip it (``OfflineCheckpoint``).

    Args:
        dataset: an ``EpisodeDataset`` (or mapping) with observations, actions, rewards,
            next_observations, terminations.
        config: hyper-parameters.
        seed: seeds initialisation, minibatches and exploratory action noise.
    """

    def __init__(self, dataset: Any, config: IQLConfig = IQLConfig(), *, seed: int = 0) -> None:
        if not isinstance(config, IQLConfig):
            raise TypeError(
                f"agents.iql: config must be an IQLConfig, got {type(config).__name__}."
            )
        self.config = config
        self.data = TransitionTensors.from_dataset(dataset, "agents.iql")
        self._remember(dataset, "agents.iql", seed)
        obs_dim, action_dim = self.data.s_tm1.shape[1], self.data.a_tm1.shape[1]
        self.actor = GaussianActor(obs_dim, action_dim, config.hidden, config.depth, seed=seed)
        self.q, self.v, self.q_target = iql_critics(
            obs_dim, action_dim, config.critics, config.hidden, config.depth, seed
        )
        # V, Q and the actor touch disjoint parameters (the actor's weights see only the
        # advantage, which has no graph): one backward of the summed losses and one fused Adam
        # give each network its own loss's update, as in IDQL.
        self.optimizer = adam(
            [*self.v.parameters(), *self.q.parameters(), *self.actor.parameters()], config.lr
        )
        self._train_generator = torch.Generator().manual_seed(seed)
        self._policy_generator = torch.Generator().manual_seed(seed + 3)
        self.trained_steps = 0
        obs_norm, action_norm = self.data.obs_normalizer, self.data.action_normalizer
        self._s_low = torch.as_tensor(obs_norm.low, dtype=torch.float32)
        self._s_scale = torch.as_tensor(obs_norm.scale, dtype=torch.float32)
        self._a_low = torch.as_tensor(action_norm.low, dtype=torch.float32)
        self._a_scale = torch.as_tensor(action_norm.scale, dtype=torch.float32)

    @classmethod
    def _config_type(cls) -> type:
        return IQLConfig

    def _modules(self) -> dict[str, nn.Module]:
        return {"actor": self.actor, "q": self.q, "v": self.v, "q_target": self.q_target}

    def _generators(self) -> dict[str, torch.Generator]:
        return {"train": self._train_generator, "policy": self._policy_generator}

    # -- training -----------------------------------------------------------------------------
    def update(self) -> dict[str, float]:
        """One gradient step of V, Q and the actor; returns the three losses."""
        c = self.config
        batch = self.data.batch(c.batch_size, self._train_generator)
        v_loss, q_loss, advantage = iql_critic_losses(
            self.q, self.v, self.q_target, batch, c.tau, c.gamma
        )
        log_prob = self.actor.log_prob(batch[0], batch[1])
        actor_loss = advantage_weighted_loss(log_prob, advantage, c.beta, c.max_weight)
        self.trained_steps += 1
        losses = {"v": v_loss, "q": q_loss, "actor": actor_loss}
        return joint_step(self.optimizer, losses, self.q, self.q_target, c.polyak)

    def fit(self, steps: int) -> list[dict[str, float]]:
        """``steps`` gradient steps; returns the losses of each."""
        check_int("steps", steps, 1)
        return [self.update() for _ in range(steps)]

    # -- acting -------------------------------------------------------------------------------
    @torch.no_grad()
    def choose(self, s: Tensor, *, explore: bool = False) -> Tensor:
        """Actions (B, action_dim) in the env's units for raw states s (B, obs_dim): the mean
        tanh(mu(s)), or with ``explore`` a draw from pi(. | s) clipped to the data's action box."""
        mean, log_std = self.actor((s.float() - self._s_low) / self._s_scale - 1.0)
        a = mean
        if explore:
            noise = torch.randn(mean.shape, generator=self._policy_generator)
            a = (mean + log_std.exp() * noise).clamp(-1.0, 1.0)
        return (a + 1.0) * self._a_scale + self._a_low

    def act(self, obs: Any, *, explore: bool = False) -> np.ndarray:
        s = torch.as_tensor(np.asarray(obs, dtype=np.float32)).reshape(1, -1)
        return self.choose(s, explore=explore)[0].numpy().astype(np.float32)

    def seed(self, seed: int | None) -> None:
        """Reseed the exploratory action noise (None: from the OS, as ``torch.Generator.seed``)."""
        if seed is None:
            self._policy_generator.seed()
        else:
            self._policy_generator.manual_seed(int(seed))

    def reset(self) -> None:
        """Stateless between steps."""
