"""IDQL: implicit Q-learning critics with a diffusion behaviour model (Hansen-Estruch et al. 2023).

Training (on a fixed dataset, no environment interaction), per minibatch:

    L_V = E[ |tau - 1(u < 0)| u^2 ],  u = min_j Q'_j(s, a) - V(s)          (IQL, eq. 5)
    L_Q = sum_j E[ (Q_j(s, a) - r - gamma (1 - d) V(s'))^2 ]                  (IQL, eq. 6)
    L_pi = the diffusion behaviour-cloning loss of a ~ p(a | s)              (DDPM, eq. 14)

with target critics Q' a Polyak average of Q. The behaviour model is trained independently of
the critic (IDQL §4: "the actor is the behaviour policy").

Acting: draw N = 64 candidates from the behaviour model and choose by the critic
(``policies.propose_and_rank``): "argmax" of min_j Q_j, or "expectile": resample in proportion
to w = |tau - 1(Q(s, a) - V(s) < 0)| (IDQL §4.2, the implicit policy of the expectile loss).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from rlcore.diffusion_policy.offline import (
    ActionModel,
    ActionModelConfig,
    OfflineCheckpoint,
    TransitionTensors,
    adam,
    check_gamma,
    check_tau,
    env_unit_io,
    expectile_weights,
    iql_critic_losses,
    iql_critics,
    joint_step,
)
from rlcore.diffusion_policy.propose_and_rank import ProposeAndRank, Reduction
from rlcore.registry import export
from rlcore.validation import check_choice, check_int, check_range


@dataclass(frozen=True)
class IDQLConfig:
    """Hyper-parameters (defaults: Hansen-Estruch et al. 2023, Table 5, where they apply).

    Attributes:
        tau: expectile in (0, 1).
        gamma: discount in [0, 1].
        n_candidates: N actions drawn per decision, >= 1.
        select: "argmax" or "expectile" (weight resampling).
        critics: number of Q members (twin: 2).
        hidden, depth: critic MLP size.
        lr: Adam step size of every network.
        batch_size: minibatch size.
        polyak: target-critic update rate in (0, 1].
        actor: the behaviour model.
    """

    tau: float = 0.7
    gamma: float = 0.99
    n_candidates: int = 64
    select: Literal["argmax", "expectile"] = "argmax"
    critics: int = 2
    hidden: int = 256
    depth: int = 2
    lr: float = 3e-4
    batch_size: int = 256
    polyak: float = 0.005
    actor: ActionModelConfig = field(default_factory=ActionModelConfig)

    def __post_init__(self) -> None:
        check_tau(self.tau)
        check_gamma(self.gamma)
        check_int("n_candidates", self.n_candidates, 1, hint="N = 64 in IDQL; 1 = no ranking.")
        check_choice("select", self.select, ("argmax", "expectile"))
        check_int("critics", self.critics, 1)
        check_range("lr", self.lr, 0.0, low_open=True)
        check_int("batch_size", self.batch_size, 1)
        check_range("polyak", self.polyak, 0.0, 1.0, low_open=True)


@export("agents.idql")
class IDQL(OfflineCheckpoint):
    """IDQL on an offline dataset: ``fit(steps)``, then a Policy (``act``) for ``rlcore.run``.
    ``save(dir)`` / ``rlcore.load(dir)`` round-trip it (``OfflineCheckpoint``).

    Args:
        dataset: an ``EpisodeDataset`` (or mapping) with observations, actions, rewards,
            next_observations, terminations.
        config: hyper-parameters.
        reduction: how the Q members are combined for ranking (callable over axis 0 or an
            ``ensembles.*`` name); default: the minimum (IQL's twin-Q minimum).
        seed: seeds initialisation, minibatches and action sampling.
    """

    def __init__(
        self,
        dataset: Any,
        config: IDQLConfig = IDQLConfig(),
        *,
        reduction: str | Reduction | None = None,
        seed: int = 0,
    ) -> None:
        self.config = config
        self.data = TransitionTensors.from_dataset(dataset, "agents.idql")
        self._remember(dataset, "agents.idql", seed, reduction=reduction)
        obs_dim, action_dim = self.data.s_tm1.shape[1], self.data.a_tm1.shape[1]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.actor = ActionModel(obs_dim, action_dim, config.actor)
        self.q, self.v, self.q_target = iql_critics(
            obs_dim, action_dim, config.critics, config.hidden, config.depth, seed
        )
        # One fused Adam over V, Q and the actor: their losses touch disjoint parameters, so
        # one backward of their sum and one step give each parameter exactly the gradient and
        # the Adam update of its own loss (parameters without a gradient, the actor's in
        # ``fit_critic``, are skipped), in one autograd pass and one optimizer kernel.
        self.optimizer = adam(
            [*self.v.parameters(), *self.q.parameters(), *self.actor.parameters()], config.lr
        )
        self._train_generator = torch.Generator().manual_seed(seed)
        self.trained_steps = 0
        propose, value = env_unit_io(self.actor, self.q, self.data)
        select: Any = "argmax"
        if config.select == "expectile":
            select = self._expectile_select
        self._last_v: torch.Tensor | None = None
        self.policy = ProposeAndRank(
            propose,
            value,
            reduction if reduction is not None else "ensembles.min",
            config.n_candidates,
            select=select,
            seed=seed,
        )
        self.propose, self.value = propose, value  # env units, for other rankers/generators

    @classmethod
    def _config_type(cls) -> type:
        return IDQLConfig

    def _modules(self) -> dict[str, torch.nn.Module]:
        return {"actor": self.actor, "q": self.q, "v": self.v, "q_target": self.q_target}

    def _generators(self) -> dict[str, torch.Generator]:
        return {"train": self._train_generator, "policy": self.policy.generator}

    # -- training -----------------------------------------------------------------------------
    def update(self, *, actor: bool = True) -> dict[str, float]:
        """One gradient step of V, Q and (unless ``actor=False``) the behaviour model."""
        c = self.config
        batch = self.data.batch(c.batch_size, self._train_generator)
        v_loss, q_loss, _ = iql_critic_losses(self.q, self.v, self.q_target, batch, c.tau, c.gamma)
        losses = {"v": v_loss, "q": q_loss}  # the IQL critics (module docstring)
        # Behaviour model: the generative loss.
        if actor:
            losses["actor"] = self.actor.loss(batch[0], batch[1], self._train_generator)
        self.trained_steps += 1
        return joint_step(self.optimizer, losses, self.q, self.q_target, c.polyak)

    def fit(self, steps: int) -> list[dict[str, float]]:
        """``steps`` gradient steps of critics and behaviour model; returns the losses."""
        check_int("steps", steps, 1)
        return [self.update() for _ in range(steps)]

    def fit_critic(self, steps: int) -> list[dict[str, float]]:
        """``steps`` gradient steps of the IQL critics alone (to rank another generator)."""
        check_int("steps", steps, 1)
        return [self.update(actor=False) for _ in range(steps)]

    def actor_sample(self, s: torch.Tensor) -> torch.Tensor:
        """One behaviour-model action per raw state (B, obs_dim): diffusion BC; (B, action_dim)."""
        with torch.no_grad():
            return self.propose(s, 1, self.policy.generator)[:, 0]

    # -- acting -------------------------------------------------------------------------------
    def _expectile_select(self, scores: torch.Tensor) -> torch.Tensor:
        assert self._last_v is not None
        return expectile_weights(scores, self._last_v[:, None], self.config.tau)

    @torch.no_grad()
    def choose(self, s: torch.Tensor) -> torch.Tensor:
        """Actions (B, action_dim) for raw states s (B, obs_dim)."""
        if self.config.select == "expectile":
            low = torch.as_tensor(self.data.obs_normalizer.low, dtype=torch.float32)
            scale = torch.as_tensor(self.data.obs_normalizer.scale, dtype=torch.float32)
            self._last_v = self.v((s.float() - low) / scale - 1.0)[0, :, 0]
        return self.policy.choose(s)

    def act(self, obs: Any, *, explore: bool = False) -> np.ndarray:
        s = torch.as_tensor(np.asarray(obs, dtype=np.float32)).reshape(1, -1)
        return self.choose(s)[0].numpy().astype(np.float32)

    def seed(self, seed: int | None) -> None:
        self.policy.seed(seed)

    def reset(self) -> None:
        """Stateless between steps."""
