"""The soft actor-critic family over a critic ensemble: ``agents.sac``, ``agents.redq``,
``agents.sac_n`` and ``agents.edac`` (one implementation; the names differ in their defaults, see
``rlcore.actor_critic.config``).

Per gradient step on a replayed batch (S_{t-1}, A_{t-1}, R_t, discount_t, S_t), with N critics
Q_k, their Polyak targets Q'_k, the squashed-Gaussian actor pi and alpha = exp(log_alpha):

1. A'_t ~ pi(. | S_t);  y = R_t + discount_t (red_k Q'_k(S_t, A'_t) - alpha log pi(A'_t | S_t)),
   red = min over all N (SAC, SAC-N, EDAC) or over a random M-subset drawn once per minibatch
   (REDQ, ``ensembles.subset_min``; only those M target critics are evaluated,
   ``Ensemble.forward_members``);                               (``losses.soft_q_targets``)
2. L_Q = sum_k mean_b w_b (Q_k(S_{t-1}, A_{t-1}) - y)^2 + eta ES (EDAC's diversity penalty);
   w = 1, or SUNRISE's weights sigma(-std_k Q'_k T) + 0.5 (``sunrise_temperature``);
   all N critics in one stacked forward/backward;
3. every ``policy_delay`` critic steps: A ~ pi(. | S_{t-1}) reparameterised,
   L_pi = mean_b (alpha log pi(A | S) - red_k Q_k(S, A)), red = min (SAC, SAC-N, EDAC) or mean
   (REDQ); then J(alpha) = -log_alpha mean_b (log pi + target_entropy) when ``ent_coef="auto"``;
4. Q'_k <- tau Q_k + (1 - tau) Q'_k (one foreach lerp over the stacked tensors).

(Haarnoja et al. 2018b, Algorithm 1; Chen et al. 2021, Algorithm 1; An et al. 2021, Algorithm 1.)

Online, ``observe`` stores each transition and runs ``utd`` gradient steps per env step after
``learning_starts`` random steps. Offline, ``learn_offline(dataset, gradient_steps)`` fills the
replay from an ``EpisodeDataset`` and trains without an env. Actions are stored in the actor's
[-1, 1]^A coordinates: env action = center + scale * tanh(u), from the Box bounds (or
``action_scale`` for unbounded boxes).

Speed on a small CPU: one torch thread, fused Adam, the G batches of a phase and their noise
drawn in one call each, tensors made from the replay's arrays without copies, and the statistics
synchronised once per phase.

Checkpoints (``agent.save(dir)`` / ``rlcore.load(dir)``) hold everything training depends on: the
config, the networks and their targets, log alpha, the three Adam states, the counters, the
replay contents and both generators' states, so a run continued from a checkpoint is the
uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from gymnasium import spaces
from torch import Tensor

from rlcore.actor_critic.config import DEFAULTS, ActorCriticConfig
from rlcore.actor_critic.flow_actor import FlowActor, flow_action
from rlcore.actor_critic.losses import (
    actor_loss,
    critic_loss,
    entropy_coef_loss,
    gradient_diversity_penalty,
    soft_q_targets,
)
from rlcore.actor_critic.networks import SquashedGaussianActor
from rlcore.approximation.dqn.networks import resolve_device
from rlcore.approximation.dqn.replay import ReplayBuffer
from rlcore.ensemble import uncertainty
from rlcore.ensemble.members import Ensemble
from rlcore.ensemble.reductions import Mean, Min, SubsetMin
from rlcore.registry import export
from rlcore.tabular.base import make_config
from rlcore.training_state import pack, unpack
from rlcore.types import Transition
from rlcore.validation import as_generator, env_spaces

__all__ = ["EDAC", "REDQ", "SAC", "SACN", "GreedyActorPolicy"]

DISCRETE_AGENTS = "agents.dqn (and the tabular and linear agents: rlcore.names('agents.'))"
_STATS = ("critic loss", "actor loss", "entropy coefficient", "Q-values", "Q std", "Q min")


def _box_spaces(env: Any, what: str) -> tuple[spaces.Box, spaces.Box]:
    """(observation Box, action Box) of an env, a vector env or a pair of spaces."""
    obs_space, act_space = env_spaces(env, what)
    if not isinstance(act_space, spaces.Box):
        raise TypeError(
            f"{what} needs a continuous (Box) action space, got {act_space!r}: its actor is a "
            f"squashed Gaussian over real-valued actions. For discrete actions use {DISCRETE_AGENTS}."
        )
    if len(act_space.shape) != 1:
        raise ValueError(
            f"{what} needs a 1-D Box action space (|A|,), got shape {act_space.shape}; flatten "
            "the actions with gymnasium.wrappers.FlattenObservation-style wrapping."
        )
    if not isinstance(obs_space, spaces.Box):
        raise TypeError(
            f"{what} needs Box (vector) observations, got {obs_space!r}; one-hot encode or "
            "flatten them with a wrapper."
        )
    return obs_space, act_space


def _action_affine(
    act_space: spaces.Box, scale: float | tuple[float, ...] | None, what: str
) -> tuple[np.ndarray, np.ndarray]:
    """(center, half-width) of the env's actions: env action = center + half-width * tanh(u)."""
    low, high = act_space.low.astype(np.float64), act_space.high.astype(np.float64)
    finite = np.isfinite(low) & np.isfinite(high)
    if scale is None:
        if not finite.all():
            raise ValueError(
                f"{what}: the action space {act_space!r} has infinite bounds, so the squashed "
                "actor cannot be scaled to it; pass action_scale=s (actions are s * tanh(u), a "
                "float or one per dimension) or wrap the env with gymnasium.wrappers.RescaleAction."
            )
        return ((high + low) / 2).astype(np.float32), ((high - low) / 2).astype(np.float32)
    if finite.all():
        raise ValueError(
            f"{what}: action_scale={scale!r} is for unbounded Box actions, but {act_space!r} has "
            "finite bounds, which already fix the scale; drop action_scale."
        )
    half = np.broadcast_to(np.asarray(scale, dtype=np.float64), low.shape)
    center = np.zeros_like(low)
    center[finite] = (high[finite] + low[finite]) / 2
    return center.astype(np.float32), half.astype(np.float32).copy()


class _SoftActorCritic:
    """The shared implementation; use ``SAC``, ``REDQ``, ``SACN`` or ``EDAC`` (module doc).

    Args:
        env: a gymnasium Env, a SAME_STEP vector env or a pair (observation_space, action_space)
            with a Box action space; only its spaces are used.
        config: an ``ActorCriticConfig`` (default: this agent's ``DEFAULTS``); keyword arguments
            override its fields (``agents.redq`` with ``utd=5``).
        seed: seeds the initial weights and the agent's generators (exploration, replay and
            subset draws, the policy noise of updates); ``rlcore.run(..., seed=)`` re-seeds the
            generators only.
    """

    name: ClassVar[str]

    def __init__(
        self,
        env: Any,
        config: ActorCriticConfig | None = None,
        *,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        obs_space, act_space = _box_spaces(env, self.name)
        if config is None:
            config = DEFAULTS[self.name]
        self.config = cfg = make_config(ActorCriticConfig, config, kwargs, self.name)
        self.observation_space, self.action_space = obs_space, act_space
        self.obs_shape = tuple(int(d) for d in obs_space.shape)
        self.action_dim = int(act_space.shape[0])
        self.action_center, self.action_half = _action_affine(
            act_space, cfg.action_scale, self.name
        )
        self.device = resolve_device(cfg.device)
        if self.device.type == "cpu" and cfg.torch_threads is not None:
            torch.set_num_threads(cfg.torch_threads)
        obs_dim = math.prod(self.obs_shape)
        init_seed = int(np.random.SeedSequence(seed).generate_state(1)[0])
        with torch.random.fork_rng(devices=[]):  # the initial weights come from the seed only
            torch.manual_seed(init_seed)
            actor_class = FlowActor if cfg.actor == "flow" else SquashedGaussianActor
            actor = actor_class(obs_dim, self.action_dim, cfg.hidden)
        critics = Ensemble(
            cfg.n_critics,
            obs_dim + self.action_dim,
            1,
            cfg.hidden,
            layer_norm=cfg.critic_layer_norm,
            backend=cfg.backend,
            seed=init_seed + 1,
        )  # Q_k(s, a) -> (N, B, 1); members differ at initialisation
        self.actor = actor.to(self.device)
        self.critics = critics.to(self.device)
        self.target_critics = self.critics.target_copy()
        self.target_entropy = (
            -float(self.action_dim) if cfg.target_entropy is None else float(cfg.target_entropy)
        )
        init_alpha = cfg.ent_coef_init if cfg.ent_coef == "auto" else float(cfg.ent_coef)
        self.log_alpha = torch.tensor(math.log(init_alpha), device=self.device)
        self.log_alpha.requires_grad_(cfg.ent_coef == "auto")
        lr = cfg.learning_rate
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=lr, fused=True)
        self.critic_optimizer = torch.optim.Adam(self.critics.parameters(), lr=lr, fused=True)
        self.alpha_optimizer = (
            torch.optim.Adam([self.log_alpha], lr=lr, fused=True)
            if cfg.ent_coef == "auto"
            else None
        )
        self.replay = ReplayBuffer(
            cfg.buffer_size,
            self.obs_shape,
            action_shape=(self.action_dim,),
            action_dtype=np.float32,
        )
        self.target_reduction = Min() if cfg.subset_size is None else SubsetMin(cfg.subset_size)
        self.actor_reduction = Min() if cfg.actor_reduction == "min" else Mean()
        # M < N without SUNRISE (whose weights read all N): evaluate only the drawn subset
        self._target_subset_only = (
            cfg.subset_size is not None
            and cfg.subset_size < cfg.n_critics
            and cfg.sunrise_temperature is None
        )
        self.steps = 0  # transitions observed
        self.updates = 0  # critic gradient steps taken
        self._sums = np.zeros(len(_STATS))
        self._count = 0
        self._clock = (time.perf_counter(), 0)
        self.seed(seed)

    # -- the Policy protocol ------------------------------------------------------------------
    def seed(self, seed: int | None) -> None:
        """Reset the generators (exploration, replay and subset draws, update noise); not the
        weights."""
        if seed is not None:
            as_generator(seed)  # the checks: an int >= 0 or None
        exploration, subsets, noise = np.random.SeedSequence(seed).spawn(3)
        self._rng = np.random.default_rng(exploration)  # exploration and replay draws
        # REDQ's subsets have their own stream, so that the subset draws do not shift the replay
        # draws: with M = N = 2 REDQ is SAC, number for number.
        self._subset_rng = np.random.default_rng(subsets)
        self._torch_rng = torch.Generator(device=self.device)
        self._torch_rng.manual_seed(int(noise.generate_state(1, dtype=np.uint64)[0] >> 1))

    def reset(self) -> None:
        """Nothing to clear between episodes."""

    @property
    def alpha(self) -> float:
        """The entropy coefficient now."""
        return float(self.log_alpha.detach().exp())

    def act(self, obs: Any, *, explore: bool = False) -> np.ndarray:
        """Sampled (``explore``) or deterministic tanh(mu(s)) actions in the env's bounds.

        Before ``learning_starts`` exploring actions are uniform over the action box.

        Args:
            obs: one observation (obs_shape) or a batch (N, *obs_shape).

        Returns:
            float32 (|A|,) for one observation, (N, |A|) for a batch.
        """
        batch, single = self._as_batch(obs, "obs")
        n = batch.shape[0]
        if explore and self.steps < self.config.learning_starts:
            a = self._rng.uniform(-1.0, 1.0, size=(n, self.action_dim)).astype(np.float32)
        else:
            a = self._policy_action(batch, explore)
        action = self.action_center + self.action_half * a
        return action[0] if single else action

    def _policy_action(self, batch: np.ndarray, explore: bool) -> np.ndarray:
        """tanh of a sample (or of the mean) of the actor for a float32 batch -> (N, |A|)."""
        with torch.inference_mode():
            if self.config.actor == "flow":  # rlcore.actor_critic.flow_actor
                return flow_action(self.actor, batch, self._rng if explore else None, self.device)
            mean, log_std = self.actor(torch.from_numpy(batch).to(self.device))
            if not explore:
                return torch.tanh(mean).cpu().numpy()
            k = max(1, self.config.ucb_candidates)
            noise = self._rng.standard_normal((k, *mean.shape), dtype=np.float32)  # (K, N, A)
            a = torch.tanh(mean + log_std.exp() * torch.from_numpy(noise).to(self.device))
            if k == 1:
                return a[0].cpu().numpy()
            obs = torch.from_numpy(batch).to(self.device).expand(k, *batch.shape)
            q = self.critics(obs.reshape(-1, obs.shape[-1]), a.reshape(-1, a.shape[-1]))
            q = q.reshape(-1, k, batch.shape[0]).transpose(1, 2)  # (members, N, K)
            j = uncertainty.ucb_select(q, self.config.ucb_lambda)  # (N,)
            return a[j, torch.arange(batch.shape[0])].cpu().numpy()

    def greedy_policy(self) -> GreedyActorPolicy:
        """A deterministic Policy (tanh of the actor's mean) sharing this agent's actor."""
        return GreedyActorPolicy(self)

    def q_values(self, obs: Any, action: Any) -> np.ndarray:
        """Every critic's Q_k(s, a) for a batch: obs (B, *obs_shape), env actions (B, |A|) ->
        (N, B)."""
        batch, _ = self._as_batch(obs, "obs")
        a = np.asarray(action, dtype=np.float32).reshape(batch.shape[0], -1) - self.action_center
        a = a / self.action_half
        with torch.inference_mode():
            q = self.critics(torch.from_numpy(np.concatenate([batch, a], axis=1)).to(self.device))
        return q.squeeze(-1).cpu().numpy()

    def _as_batch(self, obs: Any, what: str) -> tuple[np.ndarray, bool]:
        """float32 (N, obs_dim) and whether ``obs`` was a single observation."""
        x = np.asarray(obs, dtype=np.float32)
        if x.shape == self.obs_shape:
            return x.reshape(1, -1), True
        if x.shape[1:] != self.obs_shape or x.ndim != len(self.obs_shape) + 1:
            raise ValueError(
                f"{self.name}: {what} has shape {x.shape}, but the agent takes observations of "
                f"shape {self.obs_shape} (or a batch (N, {', '.join(map(str, self.obs_shape))}))"
                "; pass the env the agent was built for."
            )
        return x.reshape(x.shape[0], -1), False

    # -- learning online ------------------------------------------------------------------------
    def observe(self, transition: Transition) -> dict[str, float] | None:
        """Store the transition(s); after ``learning_starts``, ``utd`` gradient steps per step."""
        cfg = self.config
        obs, single = self._as_batch(transition.obs, "transition.obs")
        next_obs, _ = self._as_batch(transition.next_obs, "transition.next_obs")
        n = obs.shape[0]
        action = np.asarray(transition.action, dtype=np.float32).reshape(n, self.action_dim)
        reward = np.asarray(transition.reward, dtype=np.float32).reshape(n)
        if not np.isfinite(reward).all() or not np.isfinite(obs).all():
            raise FloatingPointError(
                f"{self.name}: at environment step {self.steps + 1} the env returned a "
                f"non-finite reward or observation (reward {reward.tolist()}); learning stopped. "
                "Check the env (or wrap it to sanitise its outputs)."
            )
        terminated = np.asarray(transition.terminated, dtype=bool).reshape(n)
        discount = np.where(terminated, 0.0, cfg.gamma).astype(np.float32)
        a = (action - self.action_center) / self.action_half  # the actor's [-1, 1] coordinates
        self.replay.add(obs, a, reward, discount, next_obs)
        before, self.steps = self.steps, self.steps + n
        if self.steps > cfg.learning_starts and len(self.replay) >= cfg.batch_size:
            self._train(n * cfg.utd)
        if self.steps // cfg.log_every > before // cfg.log_every:
            return self._report()
        return None

    # -- learning offline -----------------------------------------------------------------------
    def load_dataset(self, dataset: Any) -> None:
        """Put an ``EpisodeDataset``'s transitions into the replay (checked against the spaces).

        Raises:
            ValueError: the dataset's observation or action shape differs from the agent's, its
                actions leave the action bounds, or it holds more steps than ``buffer_size``.
        """
        obs = np.asarray(dataset.observations, dtype=np.float32)
        next_obs = np.asarray(dataset.next_observations, dtype=np.float32)
        actions = np.asarray(dataset.actions, dtype=np.float32)
        n = len(obs)
        if obs.shape[1:] != self.obs_shape:
            raise ValueError(
                f"{self.name}: the dataset's observations have shape {obs.shape[1:]}, the agent's "
                f"env {self.obs_shape}; evaluate on the env the data came from "
                f"({getattr(dataset, 'env_id', '') or 'unknown'})."
            )
        if actions.shape != (n, self.action_dim):
            raise ValueError(
                f"{self.name}: the dataset's actions have shape {actions.shape[1:]}, the agent's "
                f"action space ({self.action_dim},); evaluate on the env the data came from "
                f"({getattr(dataset, 'env_id', '') or 'unknown'})."
            )
        a = (actions - self.action_center) / self.action_half
        if not np.isfinite(a).all() or np.abs(a).max() > 1.0 + 1e-5:
            raise ValueError(
                f"{self.name}: the dataset's actions span [{actions.min():g}, {actions.max():g}], "
                f"outside the action bounds [{self.action_space.low}, {self.action_space.high}] "
                "of the env the agent was built for; build it for the env the data came from."
            )
        if n > self.config.buffer_size:
            raise ValueError(
                f"{self.name}: the dataset holds {n} steps but buffer_size="
                f"{self.config.buffer_size}; pass buffer_size >= {n}."
            )
        rewards = np.asarray(dataset.rewards, dtype=np.float32)
        discount = np.where(dataset.terminations, 0.0, self.config.gamma).astype(np.float32)
        self.replay.add(obs, np.clip(a, -1.0, 1.0), rewards, discount, next_obs)

    def learn_offline(
        self, dataset: Any = None, gradient_steps: int = 10_000, chunk: int = 1000
    ) -> list[dict[str, float]]:
        """Train from a fixed dataset (no env): ``load_dataset`` (if given), then
        ``gradient_steps`` updates on replayed batches, in phases of ``chunk``.

        Returns:
            One metrics dict per ``chunk`` updates (the ``train/*`` tags of ``observe``).
        """
        from rlcore.validation import check_int

        check_int("gradient_steps", gradient_steps, 1)
        check_int("chunk", chunk, 1)
        if dataset is not None:
            self.load_dataset(dataset)
        if len(self.replay) < self.config.batch_size:
            raise ValueError(
                f"{self.name}: offline training needs at least batch_size="
                f"{self.config.batch_size} transitions in the replay, it has {len(self.replay)}; "
                "pass a dataset."
            )
        log = []
        done = 0
        while done < gradient_steps:
            k = min(chunk, gradient_steps - done)
            self._train(k)
            done += k
            log.append({"gradient_steps": float(self.updates), **self._report()})
        return log

    def behaviour_cloning(
        self, dataset: Any = None, gradient_steps: int = 5000, chunk: int = 1000
    ) -> list[float]:
        """Fit only the actor to the replayed (dataset) actions by maximum likelihood,
        max_pi mean_b log pi(A_b | S_b) with the squashed-Gaussian density (the BC baseline of
        offline RL; Fu et al. 2020). The critics are not touched.

        Returns:
            The mean negative log-likelihood of each ``chunk`` of steps.
        """
        from rlcore.actor_critic.losses import squashed_gaussian_log_prob
        from rlcore.validation import check_int

        check_int("gradient_steps", gradient_steps, 1)
        if dataset is not None:
            self.load_dataset(dataset)
        cfg = self.config
        nll, log = 0.0, []
        for i in range(gradient_steps):
            idx = self._rng.integers(0, len(self.replay), size=cfg.batch_size)
            obs = torch.from_numpy(self.replay.obs_tm1[idx]).to(self.device)
            a = torch.from_numpy(self.replay.a_tm1[idx]).to(self.device)
            if cfg.actor == "flow":  # the flow actor's exact log pi
                loss = -self.actor.log_prob(obs, a).mean()
            else:
                u = torch.atanh(a.clamp(-1 + 1e-5, 1 - 1e-5))  # the pre-squash action
                mean, log_std = self.actor(obs)
                loss = -squashed_gaussian_log_prob(u, mean, log_std).mean()
            self.actor_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.actor_optimizer.step()
            nll += float(loss.detach())
            if (i + 1) % chunk == 0 or i + 1 == gradient_steps:
                log.append(nll / (i % chunk + 1))
                nll = 0.0
        return log

    # -- the update -----------------------------------------------------------------------------
    def _train(self, n_updates: int) -> None:
        """``n_updates`` gradient steps on uniform batches; checks statistics once at the end."""
        cfg = self.config
        first = self.updates
        batch = self.replay.sample(cfg.batch_size, self._rng, shape=(n_updates,))
        obs_tm1, a_tm1, r_t, discount_t, obs_t = (
            torch.from_numpy(x).to(self.device) for x in batch[:5]
        )  # each (G, B, ...)
        noise = torch.randn(
            (n_updates, 2, cfg.batch_size, self.action_dim),
            generator=self._torch_rng,
            device=self.device,
        )  # (G, 2, B, A): next actions, actor actions
        rows = []
        for g in range(n_updates):
            self.updates += 1
            update_actor = self.updates % cfg.policy_delay == 0 or g == n_updates - 1
            rows.append(
                self._update(
                    obs_tm1[g], a_tm1[g], r_t[g], discount_t[g], obs_t[g], noise[g], update_actor
                )
            )
        table = torch.stack(rows)  # (G, len(_STATS))
        sums = table.sum(dim=0).cpu().numpy()
        if not np.isfinite(sums).all():
            self._non_finite(table, first)
        self._sums += sums
        self._count += n_updates

    def _update(
        self,
        obs_tm1: Tensor,
        a_tm1: Tensor,
        r_t: Tensor,
        discount_t: Tensor,
        obs_t: Tensor,
        noise: Tensor,
        update_actor: bool,
    ) -> Tensor:
        """One critic step (and an actor / alpha step when ``update_actor``); returns the
        detached statistics row (see ``_STATS``)."""
        cfg = self.config
        alpha = self.log_alpha.detach().exp()
        # 1. targets
        with torch.no_grad():
            a_t, log_pi_t = self.actor.sample(obs_t, noise[0])
            w = None
            if self._target_subset_only:
                # REDQ: only the M drawn target critics are evaluated (M/N of the cost; the same
                # draw from the same stream as ``SubsetMin.__call__``)
                idx = self.target_reduction.subset(cfg.n_critics, self._subset_rng)
                q_t = self.target_critics.forward_members(idx, obs_t, a_t).squeeze(-1).amin(0)
            else:
                q_t_all = self.target_critics(obs_t, a_t).squeeze(-1)  # (N, B)
                q_t = self.target_reduction(q_t_all, generator=self._subset_rng)  # (B,)
                if cfg.sunrise_temperature is not None:
                    w = uncertainty.sunrise_weights(q_t_all, cfg.sunrise_temperature)  # (B,)
            y = soft_q_targets(r_t, discount_t, q_t, log_pi_t, alpha)  # (B,)
        # 2. critics, one stacked forward / backward
        if cfg.eta > 0:
            # one action copy per member, so that each member's action gradient is its own
            a_rep = a_tm1.expand(cfg.n_critics, *a_tm1.shape).clone().requires_grad_(True)
            q_tm1 = self.critics(obs_tm1, a_rep).squeeze(-1)  # (N, B)
            (grad_a,) = torch.autograd.grad(q_tm1.sum(), a_rep, create_graph=True)
            loss_q = critic_loss(q_tm1, y, w) + cfg.eta * gradient_diversity_penalty(grad_a)
        else:
            q_tm1 = self.critics(obs_tm1, a_tm1).squeeze(-1)  # (N, B)
            loss_q = critic_loss(q_tm1, y, w)
        self.critic_optimizer.zero_grad(set_to_none=True)
        loss_q.backward()
        self.critic_optimizer.step()
        # 3. actor and entropy coefficient
        if update_actor:
            a_pi, log_pi = self.actor.sample(obs_tm1, noise[1])
            self.critics.requires_grad_(False)
            q_pi = self.actor_reduction(self.critics(obs_tm1, a_pi).squeeze(-1))  # (B,)
            self.critics.requires_grad_(True)
            loss_pi = actor_loss(q_pi, log_pi, alpha)
            self.actor_optimizer.zero_grad(set_to_none=True)
            loss_pi.backward()
            self.actor_optimizer.step()
            if self.alpha_optimizer is not None:
                loss_alpha = entropy_coef_loss(self.log_alpha, log_pi, self.target_entropy)
                self.alpha_optimizer.zero_grad(set_to_none=True)
                loss_alpha.backward()
                self.alpha_optimizer.step()
            loss_pi = loss_pi.detach()
        else:
            loss_pi = torch.zeros((), device=self.device)
        # 4. targets
        self.target_critics.polyak_update_(self.critics, cfg.tau)
        q_d = q_tm1.detach()
        return torch.stack(
            (loss_q.detach(), loss_pi, alpha, q_d.mean(), q_d.std(dim=0).mean(), q_d.amin(0).mean())
        )

    def _non_finite(self, table: Tensor, first: int) -> None:
        bad = ~torch.isfinite(table)
        g = int(bad.any(dim=1).nonzero()[0])
        column = next(c for c in (3, 0, 1, 2, 4, 5) if bad[g, c])
        raise FloatingPointError(
            f"{self.name}: at environment step {self.steps} (gradient step {first + g + 1}) the "
            f"{_STATS[column]} went non-finite ({float(table[g, column])}); learning stopped. "
            "Usual causes: a learning rate too large (try 3e-4), rewards that are NaN/inf or very "
            "large (scale them), or unnormalised observations."
        )

    def _report(self) -> dict[str, float]:
        now = time.perf_counter()
        then, steps_then = self._clock
        metrics = {"time/fps": (self.steps - steps_then) / max(now - then, 1e-9)}
        if self._count:
            mean = self._sums / self._count
            metrics.update(
                {
                    "train/critic_loss": float(mean[0]),
                    "train/actor_loss": float(mean[1]),
                    "train/ent_coef": float(mean[2]),
                    "train/q_mean": float(mean[3]),
                    "train/q_std": float(mean[4]),
                    "train/q_min": float(mean[5]),
                }
            )
        self._sums[:] = 0.0
        self._count = 0
        self._clock = (now, self.steps)
        return metrics

    # -- checkpoints -----------------------------------------------------------------------------
    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(config, arrays): settings, spaces, counters, generator states; networks, targets,
        log alpha, Adam states, replay contents."""
        config = {
            "config": dataclasses.asdict(self.config),
            "obs_shape": list(self.obs_shape),
            "action_low": self.action_space.low.tolist(),
            "action_high": self.action_space.high.tolist(),
            "steps": self.steps,
            "updates": self.updates,
            "replay_pos": self.replay.pos,
            "replay_size": self.replay.size,
            "rng_state": json.dumps(self._rng.bit_generator.state),
            "subset_rng_state": json.dumps(self._subset_rng.bit_generator.state),
        }
        arrays: dict[str, Any] = {"log_alpha": self.log_alpha.detach().reshape(1)}
        for prefix, module in self._modules().items():
            arrays.update({f"{prefix}.{k}": v for k, v in module.state_dict().items()})
        for prefix, opt in self._optimizers().items():
            for i, slot in opt.state_dict()["state"].items():
                arrays.update({f"{prefix}.{i}.{k}": v for k, v in slot.items()})
        arrays["torch_rng"] = self._torch_rng.get_state()
        size = self.replay.size
        for key in ("obs_tm1", "a_tm1", "r_t", "discount_t", "obs_t"):
            arrays[f"replay.{key}"] = getattr(self.replay, key)[:size]
        return config, arrays

    # -- full training checkpoints (rlcore.protocols.Resumable) ---------------------------------
    def _training_parts(self) -> dict[str, Any]:
        return {
            **self._modules(),
            "actor_optimizer": self.actor_optimizer,
            "critic_optimizer": self.critic_optimizer,
            "alpha_optimizer": self.alpha_optimizer,  # None with a fixed entropy coefficient
            "replay": self.replay,
            "rng": self._rng,
            "subset_rng": self._subset_rng,
            "torch_rng": self._torch_rng,
            "counters": {
                "steps": self.steps,
                "updates": self.updates,
                "count": self._count,
                "sums": self._sums.tolist(),
                # float32 -> double -> float32 is exact
                "log_alpha": float(self.log_alpha.detach()),
            },
            "config": json.loads(json.dumps(dataclasses.asdict(self.config))),
        }

    def training_state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Everything training needs to continue bit for bit (``rlcore.protocols.Resumable``):
        networks, targets, Adam states, log alpha, replay, every generator and the counters."""
        return pack(self._training_parts())

    def load_training_state(self, config: dict[str, Any], arrays: dict[str, Any]) -> None:
        """Restore ``training_state()`` in place (the agent must have the saved config)."""
        parts = self._training_parts()
        values = unpack(parts, config, arrays)
        if values["config"] != parts["config"]:
            differ = sorted(k for k, v in values["config"].items() if v != parts["config"].get(k))
            raise ValueError(
                f"{self.name}: the training state was written with other settings ({differ}); "
                "build the agent with the config of the run that wrote it."
            )
        counters = values["counters"]
        self.steps, self.updates = int(counters["steps"]), int(counters["updates"])
        self._count = int(counters["count"])
        self._sums = np.asarray(counters["sums"], dtype=self._sums.dtype)
        with torch.no_grad():
            self.log_alpha.fill_(float(counters["log_alpha"]))

    def _modules(self) -> dict[str, torch.nn.Module]:
        return {"actor": self.actor, "critics": self.critics, "target_critics": self.target_critics}

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        opts = {"actor_optimizer": self.actor_optimizer, "critic_optimizer": self.critic_optimizer}
        if self.alpha_optimizer is not None:
            opts["alpha_optimizer"] = self.alpha_optimizer
        return opts

    @classmethod
    def from_state(cls, config: dict[str, Any], arrays: dict[str, Any]) -> _SoftActorCritic:
        obs_space = spaces.Box(-np.inf, np.inf, shape=tuple(config["obs_shape"]), dtype=np.float32)
        act_space = spaces.Box(
            np.asarray(config["action_low"], dtype=np.float32),
            np.asarray(config["action_high"], dtype=np.float32),
        )
        settings = dict(config["config"])
        settings["hidden"] = tuple(settings["hidden"])
        if isinstance(settings.get("action_scale"), list):
            settings["action_scale"] = tuple(settings["action_scale"])
        agent = cls((obs_space, act_space), config=ActorCriticConfig(**settings))
        for prefix, module in agent._modules().items():
            module.load_state_dict(
                {k[len(prefix) + 1 :]: v for k, v in arrays.items() if k.startswith(prefix + ".")}
            )
        with torch.no_grad():
            agent.log_alpha.copy_(arrays["log_alpha"].reshape(()))
        for prefix, opt in agent._optimizers().items():
            state: dict[int, dict[str, Tensor]] = {}
            for key, value in arrays.items():
                if key.startswith(prefix + "."):
                    _, i, name = key.split(".", 2)
                    state.setdefault(int(i), {})[name] = value
            if state:
                groups = opt.state_dict()["param_groups"]
                opt.load_state_dict({"state": state, "param_groups": groups})
        agent.steps, agent.updates = int(config["steps"]), int(config["updates"])
        size = int(config["replay_size"])
        for key in ("obs_tm1", "a_tm1", "r_t", "discount_t", "obs_t"):
            value = arrays[f"replay.{key}"]
            getattr(agent.replay, key)[:size] = value.numpy() if hasattr(value, "numpy") else value
        agent.replay.size, agent.replay.pos = size, int(config["replay_pos"])
        agent._rng.bit_generator.state = json.loads(config["rng_state"])
        agent._subset_rng.bit_generator.state = json.loads(config["subset_rng_state"])
        agent._torch_rng.set_state(arrays["torch_rng"])
        return agent

    def save(self, directory: str | Path) -> Path:
        """Write a checkpoint (JSON config + safetensors); ``rlcore.load(directory)`` reads it."""
        from rlcore.checkpoint import save

        return save(self, directory)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(obs_shape={self.obs_shape}, action_dim={self.action_dim}, {self.config})"


class GreedyActorPolicy:
    """The deterministic policy tanh(mu(s)) of an actor-critic agent, scaled to the env's bounds
    (a Policy; it follows the agent's training and never changes it)."""

    def __init__(self, agent: _SoftActorCritic) -> None:
        self.agent = agent

    def seed(self, seed: int | None) -> None:
        """Deterministic: nothing to seed."""

    def reset(self) -> None:
        """Nothing to clear between episodes."""

    def act(self, obs: Any, *, explore: bool = False) -> np.ndarray:
        """center + half-width * tanh(mu(obs)); ``explore`` is ignored."""
        return self.agent.act(obs, explore=False)


@export("agents.sac")
class SAC(_SoftActorCritic):
    """Soft actor-critic (Haarnoja et al. 2018b): twin critics, clipped double-Q targets,
    automatic entropy tuning with target -|A|. See ``rlcore.actor_critic.agent``."""

    name = "agents.sac"


@export("agents.redq")
class REDQ(_SoftActorCritic):
    """Randomized ensembled double Q-learning (Chen et al. 2021): N = 10 critics, targets from the
    min of a random M = 2 subset, actor on the mean of all N, utd G = 20."""

    name = "agents.redq"


@export("agents.sac_n")
class SACN(_SoftActorCritic):
    """SAC-N (An et al. 2021): N critics, min over all N in the target and the actor loss."""

    name = "agents.sac_n"


@export("agents.edac")
class EDAC(_SoftActorCritic):
    """EDAC (An et al. 2021): SAC-N plus the ensemble gradient-diversity penalty eta."""

    name = "agents.edac"
