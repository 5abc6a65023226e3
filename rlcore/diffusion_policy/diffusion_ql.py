"""Diffusion-QL: a diffusion actor trained by behaviour cloning plus Q maximisation (Wang et al.
2023, "Diffusion policies as an expressive policy class for offline RL"), with EDP's action
approximation as an option (Kang et al. 2023, "Efficient diffusion policies for offline RL").

Per minibatch (normalised actions in [-1, 1]):

    critic:  L_Q = sum_j E[(Q_j(s, a) - y)^2],  y = r + gamma (1 - d) min_j Q'_j(s', a'),
             a' ~ pi'(. | s') from the EMA (target) actor                 (Wang et al., eq. 4)
             (``backup_samples`` = n > 1: y = r + gamma (1 - d) min_j max_i Q'_j(s', a'_i) over
             n draws a'_i, the "max Q backup" of their AntMaze runs, after Kumar et al. 2020)
    actor:   L_pi = L_BC(theta) - alpha E[Q(s, a_pi)],  alpha = eta / E|Q(s, a_pi)|  (eq. 3;
             the normalisation of their code), with a_pi the K-step reverse chain run with
             gradients (the short VP schedule, K = 5), and Q = min_j Q_j.
    (``grad_norm``: both gradients clipped before their Adam steps, as in Wang et al.'s code.)

EDP (``action_approx="edp"``, Kang et al. 2023, §4.1) makes both halves cheap:

- the action approximation: the BC loss already noises the data action,
  a^k = sqrt(ab_k) a + sqrt(1 - ab_k) eps with k uniform, and predicts eps_theta(a^k, k, s);
  the same prediction gives a_pi ~= x0_hat = (a^k - sqrt(1 - ab_k) eps_theta) / sqrt(ab_k)
  (eq. 7), clipped to [-1, 1]. ONE actor forward and backward per step serve L_BC and the Q
  term (``Diffusion.loss_and_x0_hat``), instead of a K-step chain with gradients;
- the target action a' ~ pi'(. | s') by DPM-Solver (Lu et al. 2022) in a few steps instead of
  the K-step ancestral chain (``target_sampler``, ``target_steps``).

Acting: ``policies.propose_and_rank`` over N samples of the EMA actor ranked by min_j Q_j
(N = 1: the actor's own sample), through the actor's own K-step chain in both modes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from rlcore.diffusion_policy.offline import (
    ActionModel,
    ActionModelConfig,
    OfflineCheckpoint,
    TransitionTensors,
    adam,
    check_gamma,
    critic_ensemble,
    env_unit_io,
    td_target,
)
from rlcore.diffusion_policy.propose_and_rank import ProposeAndRank, Reduction
from rlcore.generative.diffusion import SAMPLERS
from rlcore.generative.ema import EMA
from rlcore.registry import export
from rlcore.validation import check_bool, check_choice, check_int, check_range

EDP_TARGET_STEPS = 3  # DPM-Solver++ steps of EDP's target action (see DiffusionQLConfig)


@dataclass(frozen=True)
class DiffusionQLConfig:
    """Hyper-parameters (defaults: Wang et al. 2023, §5 and their code, where they apply).

    Attributes:
        eta: weight of the Q term, >= 0 (0: diffusion behaviour cloning).
        gamma: discount in [0, 1].
        action_approx: "chain" (the K-step reverse chain with gradients) or "edp" (EDP's
            one-step approximation from the BC loss's own forward).
        target_sampler: how the critic target's a' ~ pi'(. | s') is drawn: "ddpm" (the
            ancestral chain), "ddim" or "dpm_solver_pp" (``samplers.dpm_solver_pp``, second
            order, logSNR grid). None: the method's default, "ddpm" for "chain" (Wang et al.)
            and "dpm_solver_pp" for "edp" (Kang et al. sample with DPM-Solver; with K = 1,
            which DPM-Solver++ cannot take, the one-step chain).
        target_steps: sampling steps of that draw; None: K for "chain"; for "edp",
            ``EDP_TARGET_STEPS`` = 3 (capped at K). EDP's code draws with 15 DPM-Solver steps
            from a K = 100 chain (``dpm_steps = 15``); on the short K = 5 schedule used here we
            take 3, the fewest at which DPM-Solver++ (2M) makes a second-order step (step 1 of
            3; step 0 is DDIM's, the last returns the data prediction). On the bandit's
            diffusion BC model, 3 steps reproduced the chain's four mode weights (within 0.03)
            while 2 steps (one DDIM jump) moved up to 0.23 of the mass between modes. The
            sampler must be able to take them: 1 <= steps <= K (DPM-Solver++: 2 <= steps <= K).
        backup_samples: next actions a'_i drawn per s' for the critic target; 1 (default, the
            paper's locomotion setting): y uses the one draw; n > 1: each target critic takes
            the max over the n draws, then the min over critics (Wang et al.'s ``max_q_backup``,
            n = 10, on the sparse-reward AntMaze tasks: the value of a goal spreads back faster).
        n_candidates: actions drawn per state when acting, ranked by the critics (1: the
            actor's own sample; Wang et al. evaluate with 50).
        critic_layer_norm: layer normalisation in every hidden layer of the critics (not in
            Wang et al.; it limits the critics' extrapolation to actions the data lacks).
        grad_norm: clip each critic's gradient (each member on its own, the ensemble's rule,
            ``Ensemble.clip_grad_norm_per_member_``) and the actor's to this L2 norm before
            the Adam steps; None: no clipping. Wang et al.'s code clips on every task with a
            per-task bound (1 to 10; 2.0 on AntMaze U-maze), there over the two critics'
            joint norm, which per member is up to sqrt(2) tighter than here.
    """

    eta: float = 1.0
    gamma: float = 0.99
    action_approx: Literal["chain", "edp"] = "chain"
    target_sampler: Literal["ddpm", "ddim", "dpm_solver_pp"] | None = None
    target_steps: int | None = None
    backup_samples: int = 1
    n_candidates: int = 1
    critic_layer_norm: bool = False
    grad_norm: float | None = None
    critics: int = 2
    hidden: int = 256
    depth: int = 2
    lr: float = 3e-4
    batch_size: int = 256
    polyak: float = 0.005
    ema_decay: float = 0.995
    actor: ActionModelConfig = field(default_factory=ActionModelConfig)

    def __post_init__(self) -> None:
        check_range("eta", self.eta, 0.0, hint="the Q weight; 0 is behaviour cloning.")
        check_gamma(self.gamma)
        check_choice("action_approx", self.action_approx, ("chain", "edp"))
        check_int(
            "backup_samples", self.backup_samples, 1, hint="1 = one next action; 10 = max Q backup."
        )
        check_int("n_candidates", self.n_candidates, 1)
        check_bool("critic_layer_norm", self.critic_layer_norm)
        if self.grad_norm is not None:
            check_range(
                "grad_norm", self.grad_norm, 0.0, low_open=True, hint="None switches clipping off."
            )
        check_int("critics", self.critics, 1)
        check_range("lr", self.lr, 0.0, low_open=True)
        check_int("batch_size", self.batch_size, 1)
        check_range("polyak", self.polyak, 0.0, 1.0, low_open=True)
        check_range("ema_decay", self.ema_decay, 0.0, 1.0, high_open=True)
        if self.actor.objective != "objectives.diffusion":
            raise ValueError(
                f"Diffusion-QL's actor must be objectives.diffusion, got {self.actor.objective!r}."
            )
        if self.target_sampler is not None:
            check_choice("target_sampler", self.target_sampler, SAMPLERS)
        if self.target_steps is not None:
            check_int("target_steps", self.target_steps, 1)
        sampler, steps = self.target()
        try:  # the sampler itself decides which step counts it can take
            self.actor.build_objective().make_sampler(sampler).set_timesteps(steps)
        except ValueError as err:
            raise ValueError(
                f"target_steps={steps} cannot be taken by target_sampler={sampler!r} on the "
                f"actor's K={self.actor.steps} training steps: {err}"
            ) from None

    def target(self) -> tuple[str, int]:
        """(sampler, steps) of the critic target's action draw, defaults resolved."""
        edp = self.action_approx == "edp" and self.actor.steps >= 2  # K = 1: one step anyway
        sampler = self.target_sampler or ("dpm_solver_pp" if edp else "ddpm")
        steps = self.target_steps
        if steps is None:
            steps = min(EDP_TARGET_STEPS, self.actor.steps) if edp else self.actor.steps
        return sampler, steps


def edp_loss_and_action(
    actor: ActionModel, s: Tensor, a0: Tensor, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """(L_BC, a_pi): the diffusion loss and EDP's action approximation from ONE actor forward.

    Draws k ~ U{0..K-1} and eps ~ N(0, I) once (``Diffusion.loss``'s draws), noises a0 to
    a^k and returns the loss and x0_hat(a^k, k, s) clipped to [-1, 1] (Kang et al. 2023, §4.1,
    eq. 7). Shapes: s (B, obs_dim), a0 (B, action_dim) -> (scalar, (B, action_dim)).
    """
    bc_loss, x0_hat = actor.loss_and_x0_hat(s, a0, generator)
    return bc_loss, x0_hat.clamp(-1.0, 1.0)


def backup_value(critics: torch.nn.Module, s: Tensor, a: Tensor) -> Tensor:
    """min_j max_i Q_j(s, a_i): the critic target's value of n next actions per state.

    Shapes: s (B, obs_dim), a (B, n, action_dim) -> (B,). With n = 1 it is min_j Q_j(s, a);
    with n > 1 it is Wang et al.'s max Q backup (each critic's max over the draws, then the
    min over critics). ``critics`` maps (s, a) to (M, B', 1).
    """
    n = a.shape[1]
    q = critics(s.repeat_interleave(n, dim=0), a.flatten(0, 1))[..., 0]  # (M, B n)
    return q.unflatten(1, (-1, n)).amax(dim=2).amin(dim=0)


@export("agents.diffusion_ql")
class DiffusionQL(OfflineCheckpoint):
    """Diffusion-QL on an offline dataset: ``fit(steps)``, then a Policy (``act``).
    ``save(dir)`` / ``rlcore.load(dir)`` round-trip it (``OfflineCheckpoint``).

    Args:
        dataset: an ``EpisodeDataset`` (or mapping) with the transition keys.
        config: hyper-parameters.
        reduction: how Q members rank candidates (callable or ``ensembles.*`` name; default min).
        seed: seeds initialisation, minibatches and action sampling.
    """

    def __init__(
        self,
        dataset: Any,
        config: DiffusionQLConfig = DiffusionQLConfig(),
        *,
        reduction: str | Reduction | None = None,
        seed: int = 0,
    ) -> None:
        self.config = config
        self.data = TransitionTensors.from_dataset(dataset, "agents.diffusion_ql")
        self._remember(dataset, "agents.diffusion_ql", seed, reduction=reduction)
        obs_dim, action_dim = self.data.s_tm1.shape[1], self.data.a_tm1.shape[1]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.actor = ActionModel(obs_dim, action_dim, config.actor)
        self.ema = EMA(self.actor, decay=config.ema_decay)
        self.q = critic_ensemble(
            obs_dim + action_dim,
            config.critics,
            config.hidden,
            config.depth,
            seed=seed + 1,
            layer_norm=config.critic_layer_norm,
        )
        self.q_target = self.q.target_copy()
        self.actor_optimizer = adam(self.actor.parameters(), config.lr)
        self.q_optimizer = adam(self.q.parameters(), config.lr)
        self._train_generator = torch.Generator().manual_seed(seed)
        self.trained_steps = 0
        self._target = config.target()
        propose, value = env_unit_io(self.ema.averaged, self.q, self.data)
        self.policy = ProposeAndRank(
            propose,
            value,
            reduction if reduction is not None else "ensembles.min",
            config.n_candidates,
            seed=seed,
        )

    @classmethod
    def _config_type(cls) -> type:
        return DiffusionQLConfig

    def _modules(self) -> dict[str, torch.nn.Module]:
        return {
            "actor": self.actor,
            "ema_actor": self.ema.averaged,
            "q": self.q,
            "q_target": self.q_target,
        }

    def _generators(self) -> dict[str, torch.Generator]:
        return {"train": self._train_generator, "policy": self.policy.generator}

    def _extra_state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return {"ema_updates": self.ema.num_updates}, {}

    def _restore_extra(self, config: dict[str, Any], arrays: dict[str, Any]) -> None:
        self.ema.num_updates = int(config["ema_updates"])

    def _q_min(self, critic: torch.nn.Module, s: Tensor, a: Tensor) -> Tensor:
        return critic(s, a)[..., 0].min(dim=0).values  # (B,)

    def update(self) -> dict[str, float]:
        """One gradient step of the critics and the actor; returns the losses."""
        c, g = self.config, self._train_generator
        sampler, steps = self._target
        s_tm1, a_tm1, r_t, s_t, d_t = self.data.batch(c.batch_size, g)
        # 1. Critics: TD regression on the EMA actor's next action(s) and the target minimum.
        with torch.no_grad():
            n = c.backup_samples
            a_t = self.ema.averaged.sample(s_t, n, g, sampler=sampler, steps=steps)  # (B, n, A)
            y = td_target(r_t, d_t, c.gamma, backup_value(self.q_target, s_t, a_t))
        q_loss = ((self.q(s_tm1, a_tm1)[..., 0] - y) ** 2).mean(dim=1).sum()  # sum: members
        self.q_optimizer.zero_grad(set_to_none=True)
        q_loss.backward()
        if c.grad_norm is not None:
            self.q.clip_grad_norm_per_member_(c.grad_norm)
        self.q_optimizer.step()
        # 2. Actor: behaviour cloning minus the normalised Q of its own (approximate) action.
        if c.eta > 0 and c.action_approx == "edp":
            bc_loss, a_pi = edp_loss_and_action(self.actor, s_tm1, a_tm1, g)
        else:
            bc_loss = self.actor.loss(s_tm1, a_tm1, g)
            a_pi = self.actor.sample(s_tm1, 1, g)[:, 0] if c.eta > 0 else None
        if a_pi is not None:
            self.q.requires_grad_(False)  # the actor's gradient flows through Q to a_pi only
            q_pi = self._q_min(self.q, s_tm1, a_pi)
            self.q.requires_grad_(True)
            actor_loss = bc_loss - c.eta * q_pi.mean() / q_pi.abs().mean().detach().clamp_min(1e-6)
        else:
            actor_loss = bc_loss
        self.actor_optimizer.zero_grad(set_to_none=True)
        actor_loss.backward()
        if c.grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.actor.parameters(), c.grad_norm)
        self.actor_optimizer.step()
        self.ema.update(self.actor)
        self.q_target.polyak_update_(self.q, c.polyak)
        self.trained_steps += 1
        return {
            "train/critic_loss": q_loss.item(),
            "train/bc_loss": bc_loss.item(),
            "train/actor_loss": actor_loss.item(),
        }

    def fit(self, steps: int) -> list[dict[str, float]]:
        """``steps`` gradient steps; returns the losses of each."""
        check_int("steps", steps, 1)
        return [self.update() for _ in range(steps)]

    @torch.no_grad()
    def choose(self, s: Tensor) -> Tensor:
        """Actions (B, action_dim) for raw states s (B, obs_dim)."""
        return self.policy.choose(s)

    def act(self, obs: Any, *, explore: bool = False) -> np.ndarray:
        s = torch.as_tensor(np.asarray(obs, dtype=np.float32)).reshape(1, -1)
        return self.choose(s)[0].numpy().astype(np.float32)

    def seed(self, seed: int | None) -> None:
        self.policy.seed(seed)

    def reset(self) -> None:
        """Stateless between steps."""
