"""Value ensembles on the DQN trainer: bootstrapped DQN (with randomized priors), Averaged-DQN,
Maxmin DQN.

Each agent is ``agents.dqn``'s trainer (replay, schedules, optimizer, counters, checkpoints) with
a ``QModel`` plugged in (``rlcore.approximation.dqn.agent.QModel``) that owns what differs: the
networks (``rlcore.ensemble.Ensemble`` stacked members), the values acting maximises, the loss
and the target update. Settings are the ``DQNConfig`` fields plus the ensemble's own.

- ``agents.bootstrapped_dqn`` (Osband et al. 2016, "Deep Exploration via Bootstrapped DQN"): K
  heads on a shared torso, Q_k(s, .) = head_k(torso(s)) (+ beta p_k(s), a fixed random prior
  network of the same shape: Osband et al. 2018, "Randomized Prior Functions", eq. 6). Each
  transition stores masks m ~ Bernoulli(p)^K (or Poisson(1)) drawn when it enters the replay;
  head k learns on it with weight m_k toward its own target y_k = r + discount max_a
  Q_k^-(S', a) (Double DQN: the online head k picks a). The loss is
  sum_k (1/B) sum_b m_{b,k} huber(y_{k,b} - Q_k(S_b, A_b)), and the torso's gradient is
  scaled by 1/K (§3: "normalise the gradients of the shared network by 1/K"). Acting follows
  one head for a whole episode, sampled uniformly at every episode start (per env with vector
  envs); greedy evaluation uses the heads' mean, or their majority vote (§5).
- ``agents.averaged_dqn`` (Anschel, Baram & Shimkin 2017, eq. 2): one online network; the
  target is the mean of the last K snapshots of it, y = r + discount max_a (1/K) sum_k
  Q(S', a; theta_{-k}), a snapshot taken every ``target_update_interval`` steps (into the
  oldest of K slots of a stacked ensemble).
- ``agents.maxmin_dqn`` (Lan et al. 2020, Algorithm 1): N networks and their targets; the shared
  target y = r + discount max_a min_k Q_k^-(S', a); each member learns on its own minibatch per
  gradient step (the random-subset update of Algorithm 1 with |S| = N, one minibatch per member,
  batched); acting is epsilon-greedy in min_k Q_k.

Usage::

    agent = rlcore.make("agents.bootstrapped_dqn", env, n_heads=10, prior_scale=3.0, seed=0)
    rlcore.run(agent, env, episodes=500, seed=0)
    agent.save(directory); rlcore.load(directory)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path
from typing import Any, ClassVar, final

import numpy as np
import torch
import torch.nn.functional as F
from gymnasium import spaces
from torch import Tensor, nn

from rlcore.approximation.dqn.agent import DQN, GreedyQPolicy
from rlcore.approximation.dqn.config import DQNConfig
from rlcore.approximation.dqn.targets import huber_loss, td_loss
from rlcore.ensemble.bagging import (
    MASK_DISTRIBUTIONS,
    check_mask_p,
    draw_masks,
    masked_member_loss,
)
from rlcore.ensemble.members import Ensemble
from rlcore.ensemble.reductions import Mean, Min, Vote
from rlcore.registry import export
from rlcore.returns import td_target
from rlcore.tabular.base import make_config
from rlcore.types import Transition
from rlcore.validation import check_choice, check_int, check_range

__all__ = [
    "AveragedDQN",
    "AveragedDQNConfig",
    "BootstrappedDQN",
    "BootstrappedDQNConfig",
    "BootstrappedQNetwork",
    "MaxminDQN",
    "MaxminDQNConfig",
]


def _member_targets(r_t: Tensor, discount_t: Tensor, q_t: Tensor, q_t_selector: Tensor | None):
    """y = r + discount Q(S', a*) per member: q_t (..., B, A) -> (..., B); a* = argmax of
    ``q_t_selector`` (Double DQN) or of q_t itself."""
    if q_t_selector is None:
        return td_target(r_t, discount_t, q_t.amax(dim=-1))
    a_star = q_t_selector.argmax(dim=-1, keepdim=True)
    return td_target(r_t, discount_t, q_t.gather(-1, a_star).squeeze(-1))


def _no_priority(config: DQNConfig, what: str) -> None:
    if config.prioritized or config.dueling:
        raise ValueError(
            f"{what} supports neither prioritized replay nor dueling heads (got prioritized="
            f"{config.prioritized}, dueling={config.dueling}); use prioritized=False, "
            "dueling=False."
        )


# -- bootstrapped DQN ----------------------------------------------------------------------------
class BootstrappedQNetwork(nn.Module):
    """K heads on a shared torso, with an optional fixed random prior network (same shape).

    Q_k(s, .) = head_k(torso(s)) + beta prior_k(s); the torso is the hidden layers but the last,
    each head one hidden layer (the last size) and the output, as in Osband et al. (2016) §6.1.
    The torso's output passes its value unchanged but its gradient divided by K.

    Args:
        obs_dim, n_actions: sizes.
        n_heads: K.
        hidden: hidden sizes (at least one).
        prior_scale: beta >= 0 (0: no prior network).
    """

    def __init__(
        self,
        obs_dim: int,
        n_actions: int,
        n_heads: int,
        hidden: tuple[int, ...],
        prior_scale: float = 0.0,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if not hidden:
            raise ValueError("bootstrapped DQN needs at least one hidden layer (hidden=(64, 64)).")
        self.n_heads, self.prior_scale = n_heads, float(prior_scale)
        gen = torch.Generator().manual_seed(
            int(torch.randint(0, 2**62, (1,))) if seed is None else int(seed)
        )
        seeds = torch.randint(0, 2**62, (2,), generator=gen).tolist()
        self.torso = _mlp(obs_dim, hidden[:-1])
        width = hidden[-2] if len(hidden) > 1 else obs_dim
        self.heads = Ensemble(n_heads, width, n_actions, hidden[-1:], seed=seeds[0])
        self.prior: nn.Module | None = None
        if self.prior_scale > 0:
            prior = BootstrappedQNetwork(obs_dim, n_actions, n_heads, hidden, 0.0, seeds[1])
            self.prior = prior.requires_grad_(False)

    def forward(self, obs: Tensor) -> Tensor:
        """(B, *obs_shape) -> (K, B, n_actions)."""
        h = self.torso(obs.flatten(1))
        if self.n_heads > 1 and h.requires_grad:
            h = h / self.n_heads + (h - h / self.n_heads).detach()  # value h, gradient h'/K
        q = self.heads(h)
        if self.prior is not None:
            q = q + self.prior_scale * self.prior(obs)
        return q


def _mlp(in_dim: int, hidden: tuple[int, ...]) -> nn.Module:
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(in_dim, h), nn.ReLU()]
        in_dim = h
    return nn.Sequential(*layers)


@dataclass(frozen=True)
class BootstrappedDQNConfig:
    """Ensemble settings of ``agents.bootstrapped_dqn`` (the rest is ``DQNConfig``).

    Attributes:
        n_heads: K >= 1 (Osband et al. use 10).
        mask_p: Bernoulli mask probability p in (0, 1] (the paper's 0.5; 1 shares all data).
        mask_distribution: "bernoulli" or "poisson" (Poisson(1) weights).
        prior_scale: beta >= 0 of the randomized prior network (Osband et al. 2018 use 3 on
            Deep Sea; 0: no prior).
        evaluation: greedy policy of ``act(explore=False)``: "mean" of the heads or "vote".
    """

    n_heads: int = 10
    mask_p: float = 0.5
    mask_distribution: str = "bernoulli"
    prior_scale: float = 0.0
    evaluation: str = "mean"

    def __post_init__(self) -> None:
        check_int("n_heads", self.n_heads, 1, hint="Osband et al. use 10 heads.")
        check_mask_p(self.mask_p)
        check_choice("mask_distribution", self.mask_distribution, MASK_DISTRIBUTIONS)
        check_range("prior_scale", self.prior_scale, 0.0, hint="0 disables the prior network.")
        check_choice("evaluation", self.evaluation, ("mean", "vote"))


class _BootstrappedModel:
    batch_shape: tuple[int, ...] = ()

    def __init__(self, config: BootstrappedDQNConfig) -> None:
        self.config = config
        self.mask_size = config.n_heads
        self.active = np.zeros(1, dtype=np.int64)  # the head each env follows

    def network(self, obs_dim: int, n_actions: int, config: DQNConfig) -> nn.Module:
        return BootstrappedQNetwork(
            obs_dim, n_actions, self.config.n_heads, config.hidden, self.config.prior_scale
        )

    def values(self, net: nn.Module, obs: Tensor, explore: bool) -> Tensor:
        q = net(obs)  # (K, B, A)
        b = q.shape[1]
        if explore:
            if len(self.active) < b:
                self.active = np.resize(self.active, b)  # new envs follow head of env 0
            return q[torch.as_tensor(self.active[:b]), torch.arange(b)]  # (B, A)
        if self.config.evaluation == "mean":
            return Mean()(q)
        return F.one_hot(Vote()(q.argmax(dim=-1)), q.shape[-1]).to(q.dtype)  # the vote's action

    def loss(self, net, target, batch, weights, masks, config):
        obs_tm1, a_tm1, r_t, discount_t, obs_t = batch
        with torch.no_grad():
            q_t = target(obs_t)  # (K, B, A)
            y = _member_targets(r_t, discount_t, q_t, net(obs_t) if config.double else None)
        q_tm1 = net(obs_tm1)  # (K, B, A)
        q_sa = q_tm1.gather(-1, a_tm1.expand(q_tm1.shape[0], -1).unsqueeze(-1)).squeeze(-1)
        losses = huber_loss(y - q_sa, config.huber_delta)  # (K, B)
        loss = masked_member_loss(losses, masks)
        return loss, q_sa.detach().mean(), y.mean(), (y - q_sa).detach().mean(0)

    def update_target(self, net: nn.Module, target: nn.Module, tau: float) -> None:
        from rlcore.torch_utils import polyak_update_

        polyak_update_(target.parameters(), net.parameters(), tau)

    def clip_grad_norm_(self, net: nn.Module, max_norm: float) -> None:
        torch.nn.utils.clip_grad_norm_([p for p in net.parameters() if p.requires_grad], max_norm)

    def draw_masks(self, rng: np.random.Generator, k: int) -> np.ndarray:
        c = self.config
        return draw_masks(rng, k, c.n_heads, distribution=c.mask_distribution, p=c.mask_p)

    def reset(self, rng: np.random.Generator) -> None:
        self.active = rng.integers(self.config.n_heads, size=len(self.active))

    def resume_state(self) -> dict[str, Any]:
        """Per-episode state a resumed run needs: the head each env follows."""
        return {"active": self.active.tolist()}

    def load_resume_state(self, state: dict[str, Any]) -> None:
        self.active = np.asarray(state["active"], dtype=np.int64)

    def end_episodes(self, done: np.ndarray, rng: np.random.Generator) -> None:
        ended = np.flatnonzero(done)
        if ended.size:
            if len(self.active) < len(done):
                self.active = np.resize(self.active, len(done))
            self.active[ended] = rng.integers(self.config.n_heads, size=ended.size)


# -- Averaged-DQN --------------------------------------------------------------------------------
@dataclass(frozen=True)
class AveragedDQNConfig:
    """Ensemble settings of ``agents.averaged_dqn``: ``n_snapshots`` K >= 1 target snapshots
    (Anschel et al. use K = 5-15; K = 1 is DQN with an MLP of stacked weights)."""

    n_snapshots: int = 5

    def __post_init__(self) -> None:
        check_int("n_snapshots", self.n_snapshots, 1, hint="K = 1 is DQN; Anschel et al. use 5.")


class _AveragedModel:
    batch_shape: tuple[int, ...] = ()
    mask_size = 0

    def __init__(self, config: AveragedDQNConfig) -> None:
        self.config = config
        self.snapshots = 0  # snapshots taken (the next slot is snapshots % K)

    def network(self, obs_dim: int, n_actions: int, config: DQNConfig) -> nn.Module:
        _no_priority(config, "agents.averaged_dqn")
        return _Snapshots(Ensemble(1, obs_dim, n_actions, config.hidden), self.config.n_snapshots)

    def values(self, net: nn.Module, obs: Tensor, explore: bool) -> Tensor:
        return net.online(obs.flatten(1))[0]

    def loss(self, net, target, batch, weights, masks, config):
        obs_tm1, a_tm1, r_t, discount_t, obs_t = batch
        with torch.no_grad():
            q_t = Mean()(target.snapshot(obs_t.flatten(1)))  # (B, A): mean of K snapshots
            selector = net.online(obs_t.flatten(1))[0] if config.double else None
            y = _member_targets(r_t, discount_t, q_t, selector)
        q_tm1 = net.online(obs_tm1.flatten(1))[0]  # (B, A)
        loss, td = td_loss(q_tm1, a_tm1, y, weights, config.huber_delta)
        return loss, (y - td).mean(), y.mean(), td

    @torch.no_grad()
    def update_target(self, net: nn.Module, target: nn.Module, tau: float) -> None:
        slot = self.snapshots % self.config.n_snapshots
        for t, o in zip(target.snapshot.parameters(), net.online.parameters()):
            t[slot].lerp_(o[0], tau)
        self.snapshots += 1

    def clip_grad_norm_(self, net: nn.Module, max_norm: float) -> None:
        torch.nn.utils.clip_grad_norm_(net.online.parameters(), max_norm)

    def draw_masks(self, rng: np.random.Generator, k: int) -> np.ndarray:
        raise NotImplementedError  # mask_size is 0: never called

    def reset(self, rng: np.random.Generator) -> None:
        """Nothing per episode."""

    def resume_state(self) -> dict[str, Any]:
        """Nothing beyond the trainer's state (the snapshots are weights of the target)."""
        return {}

    def load_resume_state(self, state: dict[str, Any]) -> None:
        """Nothing to restore."""

    def end_episodes(self, done: np.ndarray, rng: np.random.Generator) -> None:
        """Nothing per episode."""


class _Snapshots(nn.Module):
    """The online network (a 1-member ensemble) and K snapshots of it (a K-member ensemble,
    every member starting as the initial online weights); the trainer's target copy of this
    module holds the snapshots the targets use."""

    def __init__(self, online: Ensemble, k: int) -> None:
        super().__init__()
        self.online = online
        self.snapshot = Ensemble(k, online.in_dim, online.out_dim, online.hidden)
        with torch.no_grad():
            for t, o in zip(self.snapshot.parameters(), online.parameters()):
                t.copy_(o.expand_as(t))
        self.snapshot.requires_grad_(False)


# -- Maxmin DQN ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class MaxminDQNConfig:
    """Ensemble settings of ``agents.maxmin_dqn``: ``n_members`` N >= 1 (Lan et al. use 2-8; N = 1
    is DQN with every member on its own minibatch)."""

    n_members: int = 2

    def __post_init__(self) -> None:
        check_int("n_members", self.n_members, 1, hint="Lan et al. use 2-8 members.")


class _MaxminModel:
    mask_size = 0

    def __init__(self, config: MaxminDQNConfig) -> None:
        self.config = config
        self.batch_shape = (config.n_members,)

    def network(self, obs_dim: int, n_actions: int, config: DQNConfig) -> nn.Module:
        _no_priority(config, "agents.maxmin_dqn")
        return Ensemble(self.config.n_members, obs_dim, n_actions, config.hidden)

    def values(self, net: nn.Module, obs: Tensor, explore: bool) -> Tensor:
        return Min()(net(obs.flatten(1)))  # (B, A)

    def loss(self, net, target, batch, weights, masks, config):
        obs_tm1, a_tm1, r_t, discount_t, obs_t = batch  # each (N, B, ...): a batch per member
        n, b = a_tm1.shape
        with torch.no_grad():
            flat = obs_t.flatten(2).reshape(n * b, -1)  # every member's S' ...
            q_t = Min()(target(flat)).reshape(n, b, -1)  # ... under min_k Q_k^-: (N, B, A)
            selector = Min()(net(flat)).reshape(n, b, -1) if config.double else None
            y = _member_targets(r_t, discount_t, q_t, selector)  # (N, B)
        q_tm1 = net(obs_tm1.flatten(2))  # per-member inputs: (N, B, A)
        q_sa = q_tm1.gather(-1, a_tm1.unsqueeze(-1)).squeeze(-1)  # (N, B)
        loss = huber_loss(y - q_sa, config.huber_delta).mean(dim=1).sum()
        return loss, q_sa.detach().mean(), y.mean(), (y - q_sa).detach()[0]

    def update_target(self, net: Ensemble, target: Ensemble, tau: float) -> None:
        target.polyak_update_(net, tau)

    def clip_grad_norm_(self, net: Ensemble, max_norm: float) -> None:
        net.clip_grad_norm_per_member_(max_norm)

    def draw_masks(self, rng: np.random.Generator, k: int) -> np.ndarray:
        raise NotImplementedError  # mask_size is 0: never called

    def reset(self, rng: np.random.Generator) -> None:
        """Nothing per episode."""

    def resume_state(self) -> dict[str, Any]:
        """Nothing beyond the trainer's state (the snapshots are weights of the target)."""
        return {}

    def load_resume_state(self, state: dict[str, Any]) -> None:
        """Nothing to restore."""

    def end_episodes(self, done: np.ndarray, rng: np.random.Generator) -> None:
        """Nothing per episode."""


# -- the agents ----------------------------------------------------------------------------------
class _EnsembleDQN:
    """An agent = the DQN trainer + one ensemble model; the three public classes set the name,
    the ensemble config and the model (and DQN defaults of their own, e.g. no epsilon)."""

    name: ClassVar[str]
    EnsembleConfig: ClassVar[type]
    Model: ClassVar[type]
    dqn_defaults: ClassVar[dict[str, Any]] = {}

    def __init__(
        self,
        env: Any,
        config: DQNConfig | str | None = None,
        *,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        ens_fields = [f.name for f in dataclasses.fields(self.EnsembleConfig)]
        known = ens_fields + [f.name for f in dataclasses.fields(DQNConfig)]
        unknown = [k for k in kwargs if k not in known]
        if unknown:
            hints = [
                f"{k!r}"
                + "".join(f" (did you mean {c!r}?)" for c in get_close_matches(k, known, 1))
                for k in unknown
            ]
            raise TypeError(
                f"{self.name} got unknown keyword argument(s) {', '.join(hints)}; its ensemble "
                f"settings are {', '.join(ens_fields)} ({self.EnsembleConfig.__name__}), the "
                "others are DQNConfig fields."
            )
        ens_kwargs = {k: v for k, v in kwargs.items() if k in ens_fields}
        dqn_kwargs = {k: v for k, v in kwargs.items() if k not in ens_fields}
        if isinstance(config, str):
            config = DQNConfig.preset(config)
        base = DQNConfig(**self.dqn_defaults) if config is None else config
        config = make_config(DQNConfig, base, dqn_kwargs, self.name)
        self.ensemble_config = make_config(self.EnsembleConfig, None, ens_kwargs, self.name)
        self.model = self.Model(self.ensemble_config)
        self.trainer = DQN(env, config, seed=seed, model=self.model)
        self.observation_space = self.trainer.observation_space
        self.action_space = self.trainer.action_space

    @property
    def config(self) -> DQNConfig:
        return self.trainer.config

    def seed(self, seed: int | None) -> None:
        self.trainer.seed(seed)

    def reset(self) -> None:
        self.trainer.reset()

    def act(self, obs: Any, *, explore: bool = False) -> Any:
        return self.trainer.act(obs, explore=explore)

    def observe(self, transition: Transition) -> dict[str, float] | None:
        return self.trainer.observe(transition)

    def q_values(self, obs: Any) -> np.ndarray:
        """The values greedy acting maximises, (N, n_actions)."""
        return self.trainer.q_values(obs)

    def greedy_policy(self) -> GreedyQPolicy:
        return self.trainer.greedy_policy()

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        config, arrays = self.trainer.state()
        config["ensemble"] = dataclasses.asdict(self.ensemble_config)
        return config, arrays

    @classmethod
    def from_state(cls, config: dict[str, Any], arrays: dict[str, Any]) -> _EnsembleDQN:
        obs_space = spaces.Box(-np.inf, np.inf, shape=tuple(config["obs_shape"]), dtype=np.float32)
        spaces_ = (obs_space, spaces.Discrete(config["n_actions"]))
        agent = cls(spaces_, DQNConfig(**config["config"]), **config["ensemble"])
        agent.trainer.load_arrays(config, arrays)
        agent._restored()
        return agent

    def _restored(self) -> None:
        """After loading: rebuild model state that follows from the counters."""

    def training_state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Everything training needs to continue bit for bit (``rlcore.protocols.Resumable``):
        the DQN trainer's state plus the ensemble model's per-episode state."""
        config, arrays = self.trainer.training_state()
        config["model"] = self.model.resume_state()
        return config, arrays

    def load_training_state(self, config: dict[str, Any], arrays: dict[str, Any]) -> None:
        """Restore ``training_state()`` in place (the agent must have the saved config)."""
        config = dict(config)
        model_state = config.pop("model")
        self.trainer.load_training_state(config, arrays)
        self.model.load_resume_state(model_state)
        self._restored()

    def save(self, directory: str | Path) -> Path:
        """Write a checkpoint (JSON config + safetensors); ``rlcore.load(directory)`` reads it."""
        from rlcore.checkpoint import save

        return save(self, directory)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.ensemble_config}, {self.config})"


@final
@export("agents.bootstrapped_dqn")
class BootstrappedDQN(_EnsembleDQN):
    """Bootstrapped DQN with optional randomized priors (module docstring).

    Args:
        env: a gymnasium Env, a vector env or (observation_space, action_space).
        config: a ``DQNConfig`` (or preset name); default: DQN's defaults without epsilon
            exploration (epsilon_start = epsilon_end = 0: the heads explore).
        seed: seeds the weights (heads, priors) and the generator (masks, heads, replay).
        **kwargs: ``BootstrappedDQNConfig`` fields (``n_heads``, ``mask_p``,
            ``mask_distribution``, ``prior_scale``, ``evaluation``) and ``DQNConfig`` fields.
    """

    name = "agents.bootstrapped_dqn"
    EnsembleConfig = BootstrappedDQNConfig
    Model = _BootstrappedModel
    dqn_defaults: ClassVar[dict[str, Any]] = {"epsilon_start": 0.0, "epsilon_end": 0.0}

    @property
    def active_heads(self) -> np.ndarray:
        """The head each env follows in its current episode."""
        return self.model.active.copy()


@final
@export("agents.averaged_dqn")
class AveragedDQN(_EnsembleDQN):
    """Averaged-DQN: targets from the mean of the last K snapshots (module docstring).

    Args: as ``BootstrappedDQN``; ensemble field ``n_snapshots``; DQN's defaults otherwise.
    """

    name = "agents.averaged_dqn"
    EnsembleConfig = AveragedDQNConfig
    Model = _AveragedModel

    def _restored(self) -> None:
        cfg = self.config
        self.model.snapshots = self.trainer.steps // cfg.target_update_interval


@final
@export("agents.maxmin_dqn")
class MaxminDQN(_EnsembleDQN):
    """Maxmin DQN: targets and actions from min over N networks (module docstring).

    Args: as ``BootstrappedDQN``; ensemble field ``n_members``; DQN's defaults otherwise.
    """

    name = "agents.maxmin_dqn"
    EnsembleConfig = MaxminDQNConfig
    Model = _MaxminModel
