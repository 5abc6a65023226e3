"""Trajectory planners on ``rlcore.generative``: Diffuser and Decision Diffuser.

- ``planners.diffuser`` (Janner et al. 2022, "Planning with diffusion for flexible behavior
  synthesis"): a diffusion model over state-action trajectories tau = (s_0, a_0, ..., s_{H-1},
  a_{H-1}); the start state (and optionally a goal) are imposed by inpainting (§3.4,
  ``guidance.inpaint``); an optional learned return model J(tau_t, t) guides sampling by its
  gradient (§3.3, ``guidance.classifier``); the plan's actions are executed with a receding
  horizon (replan every ``replan_every`` steps).
- ``planners.decision_diffuser`` (Ajay et al. 2023, "Is conditional generative modeling all you
  need for decision making?"): a diffusion model over state sequences conditioned on a return
  or a goal by classifier-free guidance (§3.1, condition dropout 0.25), start state inpainted,
  and an inverse-dynamics model a_t = f(s_t, s_{t+1}) for the actions (§3.2).

Both cut training windows of H steps from every step of every episode (``chunk_indices``, padded
by repeating an episode's last row; rewards after an episode's end count as 0) and normalise
states and actions to [-1, 1] by the data's min/max. Networks are MLP denoisers on the flattened
trajectory (the 1-D U-Net of the papers is ``networks.unet1d``; at rlcore's horizons the MLP is
several times cheaper on a CPU).
"""

from __future__ import annotations

import copy
import dataclasses
import warnings
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from rlcore.diffusion_policy.chunking import MinMaxNormalizer, chunk_indices
from rlcore.diffusion_policy.offline import (
    OfflineCheckpoint,
    adam,
    config_from_dict,
    transition_arrays,
)
from rlcore.generative.diffusion import Diffusion, q_sample
from rlcore.generative.ema import EMA
from rlcore.generative.guidance import ClassifierGuidance, Inpaint
from rlcore.generative.networks import MLPDenoiser, sinusoidal_embedding
from rlcore.registry import export
from rlcore.validation import check_choice, check_int, check_range


# ---------------------------------------------------------------------------- data
def trajectory_windows(
    dataset: Any, horizon: int, gamma: float, what: str, stride: int = 1
) -> dict[str, Any]:
    """H-point windows from every step of every episode, with their discounted returns.

    Window n starting at step t holds the rows t, t + stride, ..., t + (H - 1) stride of its
    episode (an episode's last row repeats past its end). The return counts every in-episode
    step the window spans, sum_{k < (H - 1) stride + 1} gamma^k r_{t+k}.

    Returns a dict with states (N, H, obs_dim), actions (N, H, action_dim) (the action taken at
    each kept row), returns (N,), and the two normalisers.
    """
    arrays = transition_arrays(dataset, what)
    lengths = getattr(dataset, "episode_lengths", None)
    if lengths is None:
        raise ValueError(f"{what}: the dataset needs episode_lengths to cut trajectories.")
    check_int("horizon", horizon, 2)
    span = (horizon - 1) * check_int("stride", stride, 1) + 1  # env steps a window covers
    _, rows = chunk_indices(np.asarray(lengths), 1, span)
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    t = np.arange(len(rows)) - starts
    valid = (t[:, None] + np.arange(span)) < np.repeat(lengths, lengths)[:, None]  # (N, span)
    rewards = np.where(valid, arrays["rewards"][rows], 0.0)
    returns = (rewards * gamma ** np.arange(span)).sum(axis=1)
    rows = rows[:, ::stride]  # (N, H)
    obs_norm = MinMaxNormalizer.fit(arrays["observations"])
    act_norm = MinMaxNormalizer.fit(arrays["actions"])
    return {
        "states": obs_norm.normalize(arrays["observations"][rows]),
        "actions": act_norm.normalize(arrays["actions"][rows]),
        "returns": returns,
        "obs_normalizer": obs_norm,
        "action_normalizer": act_norm,
    }


@dataclass(frozen=True)
class PlannerConfig:
    """Model and training settings shared by both planners.

    Attributes:
        horizon: H, planned steps (>= 2).
        num_train_steps: K diffusion steps (DDPM, cosine schedule, x0 prediction, clip 1).
        sample_steps: DDPM steps used for planning (<= K).
        hidden, depth: MLP denoiser size.
        steps, batch_size, lr, ema_decay: training.
        gamma: discount of the window returns.
        replan_every: execute this many planned actions before planning again (>= 1; used
            when the plan's actions are executed, see ``StateTracker`` for tracking).
        stride: env steps between consecutive planned points (1: every step, as in the
            papers; > 1 plans a coarser path covering (H - 1) stride + 1 steps, whose actions
            are then not executable: use it with a ``StateTracker``).
    """

    horizon: int = 32
    num_train_steps: int = 20
    sample_steps: int = 20
    hidden: int = 256
    depth: int = 3
    steps: int = 2000
    batch_size: int = 256
    lr: float = 1e-3
    ema_decay: float = 0.995
    gamma: float = 0.99
    replan_every: int = 4
    stride: int = 1

    def __post_init__(self) -> None:
        check_int("horizon", self.horizon, 2)
        check_int("num_train_steps", self.num_train_steps, 1)
        check_int("sample_steps", self.sample_steps, 1, self.num_train_steps)
        check_int("steps", self.steps, 1)
        check_int("batch_size", self.batch_size, 1)
        check_range("lr", self.lr, 0.0, low_open=True)
        check_range("ema_decay", self.ema_decay, 0.0, 1.0, high_open=True)
        check_range("gamma", self.gamma, 0.0, 1.0)
        check_int("replan_every", self.replan_every, 1, self.horizon - 1)
        check_int("stride", self.stride, 1)

    def objective(self) -> Diffusion:
        return Diffusion(
            "cosine",
            self.num_train_steps,
            prediction="x0",
            sampler="ddpm",
            clip_sample=1.0,
            sample_steps=self.sample_steps,
        )


def _fit_denoiser(
    objective: Diffusion,
    net: nn.Module,
    x0: Tensor,
    cond: Tensor | None,
    config: PlannerConfig,
    generator: torch.Generator,
    cond_dropout: float = 0.0,
    extra: Any = None,
) -> EMA:
    """Adam on ``objective.loss`` (plus ``extra(idx)`` if given) over random minibatches."""
    params = list(net.parameters()) + (list(extra.parameters()) if extra is not None else [])
    optimizer = adam(params, config.lr)
    ema = EMA(net, decay=config.ema_decay)
    net.train()
    for _ in range(config.steps):
        idx = torch.randint(x0.shape[0], (config.batch_size,), generator=generator)
        c = None if cond is None else cond[idx]
        loss = objective.loss(net, x0[idx], c, generator=generator, cond_dropout=cond_dropout)
        if extra is not None:
            loss = loss + extra.loss(idx, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        ema.update(net)
    net.eval()
    return ema


class ReturnModel(nn.Module):
    """J(tau_t, t): the discounted return of a window predicted from its noised version
    (Janner et al. 2022, §3.3); ``forward(x_t (B, D), t (B,))`` -> (B,)."""

    def __init__(self, x_dim: int, hidden: int = 256, time_dim: int = 32) -> None:
        super().__init__()
        self.time_dim = time_dim
        self.mlp = nn.Sequential(
            nn.Linear(x_dim + time_dim, hidden),
            nn.Mish(),
            nn.Linear(hidden, hidden),
            nn.Mish(),
            nn.Linear(hidden, 1),
        )

    def forward(self, x_t: Tensor, t: Tensor) -> Tensor:
        emb = sinusoidal_embedding(t.to(x_t.dtype), self.time_dim)
        return self.mlp(torch.cat([x_t, emb], dim=-1)).squeeze(-1)


@dataclass(frozen=True)
class StateTracker:
    """Execute a plan by following its STATES with PD control (Diffuser's maze2d execution).

    Janner et al. (2022, §5.1 and their maze2d script) plan a state trajectory from the start to
    the inpainted goal once and steer a point mass along it with a simple controller instead of
    replaying the plan's actions. Here the controller follows the planned positions as a path
    (pure pursuit, independent of the plan's timing): with P_0 .. P_{H-1} the planned positions
    and i the progress index (0 after planning),

        i <- argmin_{k in [i, i + lookahead + 1]} |P_k - p_t|     (never moves backwards)
        aim = P_{min(i + lookahead, H - 1)}
        a_t = clip(kp (aim - p_t) - kd v_t, -1, 1)

    so the mass runs along the plan at the speed the gains allow and, past the plan's end,
    settles on its last point (the goal). The gains default to the maze expert's.

    Replanning: a plan is drawn at the episode's first step and kept (the paper's choice;
    replanning on a schedule from the goal draws plans that leave it again, as the data's
    windows do). If the mass is stuck, its speed |v| below ``stuck_speed`` for ``stuck_steps``
    consecutive steps while farther than ``settle_radius`` from the plan's last point (a
    sampled plan that cuts through a wall), a new plan is drawn from where it stands.

    With ``n_plans`` > 1 the planner draws that many plans and keeps the shortest feasible one
    (a trajectory-level propose-and-rank with an analytic cost): cost = path length
    sum_k |P_{k+1} - P_k| + 100 sum_k max(0, |P_{k+1} - P_k| - d_max), where d_max is the
    longest step between consecutive planned points seen in the data's windows (a plan that
    jumps farther, e.g. through a wall, is all but ruled out).

    Attributes:
        kp, kd: PD gains (kp > 0, kd >= 0).
        lookahead: planned points between the nearest one and the aim (>= 1).
        n_plans: plans drawn per planning call (>= 1); the shortest feasible is followed.
        position_dims, velocity_dims: where position and velocity sit in the observation.
        replan_every: env steps between plans; 0 plans once (plus the stuck rule).
        stuck_steps: consecutive stuck steps that trigger a new plan; 0 disables the rule.
        stuck_speed, settle_radius: the stuck rule's thresholds (env units).
    """

    kp: float = 10.0
    kd: float = 1.0
    lookahead: int = 1
    n_plans: int = 1
    position_dims: tuple[int, ...] = (0, 1)
    velocity_dims: tuple[int, ...] = (2, 3)
    replan_every: int = 0
    stuck_steps: int = 5
    stuck_speed: float = 0.05
    settle_radius: float = 0.5

    def __post_init__(self) -> None:
        check_int("stuck_steps", self.stuck_steps, 0)
        check_range("stuck_speed", self.stuck_speed, 0.0)
        check_range("settle_radius", self.settle_radius, 0.0)
        check_range("kp", self.kp, 0.0, low_open=True)
        check_range("kd", self.kd, 0.0)
        check_int("lookahead", self.lookahead, 1)
        check_int("n_plans", self.n_plans, 1)
        check_int("replan_every", self.replan_every, 0)
        if len(self.position_dims) != len(self.velocity_dims) or not self.position_dims:
            raise ValueError(
                f"position_dims {self.position_dims} and velocity_dims {self.velocity_dims} "
                "must be non-empty and of equal length (one velocity per position coordinate)."
            )

    def action(self, positions: np.ndarray, progress: int, obs: np.ndarray) -> tuple[Any, int]:
        """(a_t, new progress) for planned positions (H, P) and an observation (obs_dim,)."""
        p = obs[list(self.position_dims)]
        v = obs[list(self.velocity_dims)]
        last = len(positions) - 1
        window = positions[progress : min(progress + self.lookahead + 1, last) + 1]
        progress += int(np.argmin(np.linalg.norm(window - p, axis=1)))
        aim = positions[min(progress + self.lookahead, last)]
        return np.clip(self.kp * (aim - p) - self.kd * v, -1.0, 1.0), progress

    def plan_cost(self, positions: np.ndarray, max_step: float) -> np.ndarray:
        """Costs (n,) of plans' positions (n, H, P): length plus 100 x the excess of each step
        over ``max_step``."""
        steps = np.linalg.norm(np.diff(positions, axis=1), axis=-1)  # (n, H - 1)
        return steps.sum(axis=1) + 100.0 * np.maximum(steps - max_step, 0.0).sum(axis=1)

    def is_stuck(self, positions: np.ndarray, obs: np.ndarray) -> bool:
        """Slower than ``stuck_speed`` and farther than ``settle_radius`` from the plan's end."""
        p = obs[list(self.position_dims)]
        v = obs[list(self.velocity_dims)]
        far = np.linalg.norm(positions[-1] - p) > self.settle_radius
        return bool(far and np.linalg.norm(v) < self.stuck_speed)


def _check_controller(controller: Any, config: PlannerConfig) -> StateTracker | None:
    if controller is not None and not isinstance(controller, StateTracker):
        raise TypeError(f"controller must be a StateTracker or None, got {type(controller)}.")
    if controller is None and config.stride > 1:
        raise ValueError(
            f"stride={config.stride} plans points {config.stride} env steps apart, whose actions "
            "cannot be replayed step by step; pass controller=StateTracker() or use stride=1."
        )
    return controller


class _Planner(OfflineCheckpoint):
    """Execution shared by both planners: a receding-horizon queue of planned actions, or, with
    a ``StateTracker``, a state plan followed by the tracker. ``save(dir)`` / ``rlcore.load``
    round-trip either planner (``OfflineCheckpoint``)."""

    replan_every: int
    controller: StateTracker | None = None

    def __init__(self, seed: int | None) -> None:
        self._generator = torch.Generator()
        self.seed(seed)
        self._queue: deque[np.ndarray] = deque()
        self._track: dict[str, Any] = {}
        self.plans_drawn = 0  # tracker plans since construction (diagnostics)

    def seed(self, seed: int | None) -> None:
        if seed is None:
            self._generator.seed()
        else:
            self._generator.manual_seed(int(seed))

    def reset(self) -> None:
        """Forget the current plan."""
        self._queue.clear()
        self._track = {}

    def act(self, obs: Any, *, explore: bool = False) -> np.ndarray:
        """The next action (float32): a planned action, or the tracker's action toward the
        planned states; plans when the queue is empty or the tracker's plan is due."""
        obs = np.asarray(obs, dtype=np.float64)
        if self.controller is not None:
            return self._track_step(obs)
        if not self._queue:
            actions = self.plan(obs[None])[0]  # (H - 1, A)
            self._queue.extend(actions[: self.replan_every])
        return np.clip(self._queue.popleft(), -1.0, 1.0).astype(np.float32)

    def _track_step(self, obs: np.ndarray) -> np.ndarray:
        c, track = self.controller, self._track
        due = not track
        if track:
            track["stuck"] = track["stuck"] + 1 if c.is_stuck(track["positions"], obs) else 0
            due = (c.replan_every and track["age"] >= c.replan_every) or (
                c.stuck_steps and track["stuck"] >= c.stuck_steps
            )
        if due:
            states = self.planned_states(np.repeat(obs[None], c.n_plans, axis=0))  # (n, H, obs)
            positions = states[..., list(c.position_dims)]
            best = int(np.argmin(c.plan_cost(positions, self._max_step(c.position_dims))))
            track.update(positions=positions[best], progress=0, age=0, stuck=0)
            self.plans_drawn += 1
        a, track["progress"] = c.action(track["positions"], track["progress"], obs)
        track["age"] += 1
        return a.astype(np.float32)

    @classmethod
    def _config_type(cls) -> type:
        return PlannerConfig

    def _generators(self) -> dict[str, torch.Generator]:
        return {"plan": self._generator}

    def _extra_state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        fitted = {"cond_dropout_trained": self.objective.cond_dropout_trained}
        return {"fitted": self.ema_net is not self.net, **fitted}, {}

    def _restore_extra(self, config: dict[str, Any], arrays: dict[str, Any]) -> None:
        self.objective.cond_dropout_trained = bool(config["cond_dropout_trained"])
        if config["fitted"]:
            self.ema_net = copy.deepcopy(self.net).eval().requires_grad_(False)
            self.net.eval()

    @classmethod
    def _options_from_state(cls, options: dict[str, Any]) -> dict[str, Any]:
        options = dict(options)
        if options.get("controller") is not None:
            options["controller"] = config_from_dict(StateTracker, options["controller"])
        options["goal_dims"] = tuple(options["goal_dims"])
        return options

    def _remember_planner(self, dataset: Any, what: str, seed: int, **options: Any) -> None:
        controller = options.get("controller")
        if controller is not None:
            options["controller"] = dataclasses.asdict(controller)
        options["goal_dims"] = list(options["goal_dims"])
        self._remember(dataset, what, seed, **options)

    def _max_step(self, dims: tuple[int, ...]) -> float:
        """The longest step between consecutive window points of the data, in ``dims``."""
        seg = self._window_segments[..., list(dims)]  # (N, H - 1, P), env units
        return float(np.linalg.norm(seg, axis=-1).max())

    def _keep_segments(self, states: np.ndarray, obs_normalizer: MinMaxNormalizer) -> None:
        raw = obs_normalizer.unnormalize(states.astype(np.float64))
        self._window_segments = np.diff(raw, axis=1).astype(np.float32)  # (N, H - 1, obs_dim)

    def plan(self, obs: np.ndarray) -> np.ndarray:  # pragma: no cover - overridden
        raise NotImplementedError

    def planned_states(self, obs: np.ndarray) -> np.ndarray:  # pragma: no cover - overridden
        raise NotImplementedError


# ---------------------------------------------------------------------------- Diffuser
@export("planners.diffuser")
class Diffuser(_Planner):
    """Diffuser: trajectory diffusion, inpainting, optional return guidance, receding horizon.

    Args:
        dataset: an ``EpisodeDataset`` (observations, actions, rewards, ... episode_lengths).
        config: model, training and execution settings.
        goal: optional goal values for ``goal_dims`` of the last planned state (maze2d: the
            goal position), imposed by inpainting.
        goal_dims: which observation coordinates ``goal`` fixes.
        guidance_scale: s of the return guidance; 0 disables it (no return model is trained).
        controller: None executes the plan's actions (receding horizon, ``replan_every``); a
            ``StateTracker`` follows the plan's states instead (Janner et al.'s maze2d mode).
        seed: seeds training and planning.

    ``fit()`` trains; ``act`` plans (1, H, obs + action) trajectories and executes them.
    """

    def __init__(
        self,
        dataset: Any,
        config: PlannerConfig = PlannerConfig(),
        *,
        goal: np.ndarray | None = None,
        goal_dims: tuple[int, ...] = (0, 1),
        guidance_scale: float = 0.0,
        controller: StateTracker | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(seed)
        self.config, self.replan_every = config, config.replan_every
        self.controller = _check_controller(controller, config)
        self._remember_planner(
            dataset,
            "planners.diffuser",
            seed,
            goal=None if goal is None else np.asarray(goal, dtype=np.float64).tolist(),
            goal_dims=goal_dims,
            guidance_scale=guidance_scale,
            controller=controller,
        )
        data = trajectory_windows(
            dataset, config.horizon, config.gamma, "planners.diffuser", config.stride
        )
        self.obs_normalizer, self.action_normalizer = (
            data["obs_normalizer"],
            data["action_normalizer"],
        )
        self.obs_dim = data["states"].shape[2]
        self.action_dim = data["actions"].shape[2]
        self._keep_segments(data["states"], self.obs_normalizer)
        x0 = np.concatenate([data["states"], data["actions"]], axis=2)  # (N, H, D)
        self._x0 = torch.as_tensor(x0.reshape(len(x0), -1), dtype=torch.float32)
        self._returns = torch.as_tensor(data["returns"], dtype=torch.float32)
        self.guidance_scale = check_range("guidance_scale", guidance_scale, 0.0)
        self.goal_dims = tuple(check_int("goal dim", d, 0, self.obs_dim - 1) for d in goal_dims)
        self.goal = None if goal is None else np.asarray(goal, dtype=np.float64)
        if self.goal is not None and self.goal.shape != (len(self.goal_dims),):
            raise ValueError(
                f"goal must have shape ({len(self.goal_dims)},) for goal_dims "
                f"{self.goal_dims}, got {self.goal.shape}."
            )
        self.objective = config.objective()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = MLPDenoiser(self._x0.shape[1], 0, hidden=config.hidden, depth=config.depth)
            self.return_model = ReturnModel(self._x0.shape[1]) if self.guidance_scale > 0 else None
        self.ema_net: nn.Module = self.net
        self._fit_seed = seed

    def _modules(self) -> dict[str, nn.Module]:
        modules = {"net": self.net, "ema_net": self.ema_net}
        if self.return_model is not None:
            modules["return_model"] = self.return_model
        return modules

    @property
    def transition_dim(self) -> int:
        return self.obs_dim + self.action_dim

    def fit(self) -> Diffuser:
        """Train the trajectory model (and the return model when guided)."""
        generator = torch.Generator().manual_seed(self._fit_seed)
        self.ema_net = _fit_denoiser(
            self.objective, self.net, self._x0, None, self.config, generator
        ).averaged
        if self.return_model is not None:
            self._fit_return_model(generator)
        return self

    def _fit_return_model(self, generator: torch.Generator) -> None:
        model, obj, c = self.return_model, self.objective, self.config
        optimizer = adam(model.parameters(), c.lr)
        for _ in range(c.steps):
            idx = torch.randint(self._x0.shape[0], (c.batch_size,), generator=generator)
            x0 = self._x0[idx]
            k = torch.randint(obj.num_train_steps, (c.batch_size,), generator=generator)
            eps = torch.randn(x0.shape, generator=generator)
            x_t = q_sample(x0, eps, obj.alpha_bar.float()[k])
            loss = ((model(x_t, obj.times.float()[k]) - self._returns[idx]) ** 2).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        model.eval()

    def inpaint_for(self, obs: np.ndarray) -> Inpaint:
        """The start state (B, obs_dim) at step 0 and the goal at step H - 1, as an Inpaint."""
        h, d = self.config.horizon, self.transition_dim
        batch = obs.shape[0]
        mask = torch.zeros(h, d, dtype=torch.bool)
        values = torch.zeros(batch, h, d)
        mask[0, : self.obs_dim] = True
        values[:, 0, : self.obs_dim] = torch.as_tensor(self.obs_normalizer.normalize(obs))
        if self.goal is not None:
            full = np.zeros(self.obs_dim)
            full[list(self.goal_dims)] = self.goal
            goal_n = self.obs_normalizer.normalize(full)[list(self.goal_dims)]
            mask[h - 1, list(self.goal_dims)] = True
            values[:, h - 1, list(self.goal_dims)] = torch.as_tensor(goal_n, dtype=torch.float32)
        return Inpaint(mask.reshape(1, -1), values.reshape(batch, -1))

    def plan_trajectories(self, obs: np.ndarray) -> np.ndarray:
        """Sampled trajectories (B, H, obs_dim + action_dim) in env units from states (B, obs)."""
        classifier = None
        if self.return_model is not None:
            model = self.return_model
            classifier = ClassifierGuidance(lambda x, t: model(x, t), self.guidance_scale)
        with torch.no_grad():
            x = self.objective.sample(
                self.ema_net,
                (obs.shape[0], self._x0.shape[1]),
                generator=self._generator,
                classifier=classifier,
                inpaint=self.inpaint_for(obs),
            )
        x = x.reshape(obs.shape[0], self.config.horizon, self.transition_dim).double().numpy()
        states = self.obs_normalizer.unnormalize(x[..., : self.obs_dim])
        actions = self.action_normalizer.unnormalize(x[..., self.obs_dim :])
        return np.concatenate([states, actions], axis=-1)

    def plan(self, obs: np.ndarray) -> np.ndarray:
        """Planned actions (B, H, action_dim) from states (B, obs_dim)."""
        return self.plan_trajectories(obs)[..., self.obs_dim :]

    def planned_states(self, obs: np.ndarray) -> np.ndarray:
        """Planned states (B, H, obs_dim) in env units from states (B, obs_dim)."""
        return self.plan_trajectories(obs)[..., : self.obs_dim]


# ---------------------------------------------------------------------------- Decision Diffuser
@export("planners.decision_diffuser")
class DecisionDiffuser(_Planner):
    """Decision Diffuser: state sequences conditioned on a return or a goal by classifier-free
    guidance, with an inverse-dynamics model for the actions.

    Args:
        dataset: an ``EpisodeDataset``.
        config: model, training and execution settings.
        condition: "return" (the window's discounted return) or "goal" (the window's last state
            in ``goal_dims``, hindsight relabelling).
        goal_dims: observation coordinates of a goal.
        guidance_scale: w of classifier-free guidance (Ajay et al. use 1.2 to 1.8).
        cond_dropout: training-time condition dropout (0.25 in the paper).
        controller: None executes the inverse-dynamics actions; a ``StateTracker`` follows the
            planned states instead.
        seed: seeds training and planning.

    Set the condition with ``set_target(value)`` (a return, or a goal of len(goal_dims)).
    A return outside the range seen in training warns with that range (it is not clamped).
    """

    def __init__(
        self,
        dataset: Any,
        config: PlannerConfig = PlannerConfig(),
        *,
        condition: Literal["return", "goal"] = "return",
        goal_dims: tuple[int, ...] = (0, 1),
        guidance_scale: float = 1.2,
        cond_dropout: float = 0.25,
        controller: StateTracker | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(seed)
        self.config, self.replan_every = config, config.replan_every
        self.controller = _check_controller(controller, config)
        self._remember_planner(
            dataset,
            "planners.decision_diffuser",
            seed,
            condition=condition,
            goal_dims=goal_dims,
            guidance_scale=guidance_scale,
            cond_dropout=cond_dropout,
            controller=controller,
        )
        self.condition = check_choice("condition", condition, ("return", "goal"))
        self.guidance_scale = check_range("guidance_scale", guidance_scale, 0.0)
        self.cond_dropout = check_range("cond_dropout", cond_dropout, 0.0, 1.0, high_open=True)
        data = trajectory_windows(
            dataset, config.horizon, config.gamma, "planners.decision_diffuser", config.stride
        )
        self.obs_normalizer, self.action_normalizer = (
            data["obs_normalizer"],
            data["action_normalizer"],
        )
        states, actions = data["states"], data["actions"]  # (N, H, obs), (N, H, A)
        self._keep_segments(states, self.obs_normalizer)
        self.obs_dim, self.action_dim = states.shape[2], actions.shape[2]
        self.goal_dims = tuple(check_int("goal dim", d, 0, self.obs_dim - 1) for d in goal_dims)
        if condition == "return":
            self.return_range = (float(data["returns"].min()), float(data["returns"].max()))
            cond = self._scale_return(data["returns"])[:, None]
        else:
            self.return_range = None
            cond = states[:, -1][:, list(self.goal_dims)]
        self._x0 = torch.as_tensor(states.reshape(len(states), -1), dtype=torch.float32)
        self._cond = torch.as_tensor(cond, dtype=torch.float32)
        self._pairs = (
            torch.as_tensor(states[:, 0], dtype=torch.float32),
            torch.as_tensor(states[:, 1], dtype=torch.float32),
            torch.as_tensor(actions[:, 0], dtype=torch.float32),
        )
        self.objective = config.objective()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = MLPDenoiser(
                self._x0.shape[1], self._cond.shape[1], hidden=config.hidden, depth=config.depth
            )
            self.inverse = _InverseDynamics(self.obs_dim, self.action_dim, self._pairs)
        self.ema_net: nn.Module = self.net
        self._target = self._cond.max(dim=0).values[None]  # default: the best seen
        self._fit_seed = seed

    def _modules(self) -> dict[str, nn.Module]:
        return {"net": self.net, "ema_net": self.ema_net, "inverse": self.inverse}

    def _extra_state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        config, _ = super()._extra_state()
        return config, {"target": self._target}

    def _restore_extra(self, config: dict[str, Any], arrays: dict[str, Any]) -> None:
        super()._restore_extra(config, arrays)
        self._target = arrays["target"].clone()
        self.inverse.eval()

    def _scale_return(self, r: np.ndarray) -> np.ndarray:
        low, high = self.return_range
        return (np.asarray(r, dtype=np.float64) - low) / max(high - low, 1e-12) * 2.0 - 1.0

    def set_target(self, value: Any) -> None:
        """The condition of the next plans: a return (scalar) or a goal (len(goal_dims),)."""
        if self.condition == "return":
            r = float(check_range("target return", value))
            low, high = self.return_range
            if not low <= r <= high:
                warnings.warn(
                    f"target return {r} lies outside the range seen in training [{low}, {high}]; "
                    "the model extrapolates (the value is used as given, not clamped).",
                    stacklevel=2,
                )
            cond = self._scale_return(np.array([r]))
        else:
            goal = np.asarray(value, dtype=np.float64)
            if goal.shape != (len(self.goal_dims),):
                raise ValueError(
                    f"goal must have shape ({len(self.goal_dims)},), got {goal.shape}."
                )
            full = np.zeros(self.obs_dim)
            full[list(self.goal_dims)] = goal
            cond = self.obs_normalizer.normalize(full)[list(self.goal_dims)]
        self._target = torch.as_tensor(cond, dtype=torch.float32)[None]
        self.reset()

    def fit(self) -> DecisionDiffuser:
        """Train the conditional state model (with condition dropout) and the inverse dynamics."""
        generator = torch.Generator().manual_seed(self._fit_seed)
        self.ema_net = _fit_denoiser(
            self.objective,
            self.net,
            self._x0,
            self._cond,
            self.config,
            generator,
            self.cond_dropout,
            extra=self.inverse,
        ).averaged
        self.inverse.eval()
        return self

    def plan_states(self, obs: np.ndarray) -> np.ndarray:
        """Planned normalised states (B, H, obs_dim) from raw states (B, obs_dim)."""
        batch, h = obs.shape[0], self.config.horizon
        mask = torch.zeros(h, self.obs_dim, dtype=torch.bool)
        mask[0] = True
        values = torch.zeros(batch, h, self.obs_dim)
        values[:, 0] = torch.as_tensor(self.obs_normalizer.normalize(obs))
        with torch.no_grad():
            x = self.objective.sample(
                self.ema_net,
                (batch, h * self.obs_dim),
                self._target.expand(batch, -1),
                generator=self._generator,
                guidance_scale=self.guidance_scale,
                inpaint=Inpaint(mask.reshape(1, -1), values.reshape(batch, -1)),
            )
        return x.reshape(batch, h, self.obs_dim).numpy()

    def planned_states(self, obs: np.ndarray) -> np.ndarray:
        """Planned states (B, H, obs_dim) in env units from states (B, obs_dim)."""
        return self.obs_normalizer.unnormalize(self.plan_states(obs).astype(np.float64))

    def plan(self, obs: np.ndarray) -> np.ndarray:
        """Actions (B, H - 1, action_dim) = inverse dynamics of consecutive planned states."""
        s = torch.as_tensor(self.plan_states(obs))
        with torch.no_grad():
            a = self.inverse(s[:, :-1], s[:, 1:])
        return self.action_normalizer.unnormalize(a.double().numpy())


class _InverseDynamics(nn.Module):
    """a_t = f(s_t, s_{t+1}) on normalised data, tanh output in [-1, 1]; trained by MSE."""

    def __init__(self, obs_dim: int, action_dim: int, pairs: tuple[Tensor, Tensor, Tensor]):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(2 * obs_dim, 256),
            nn.Mish(),
            nn.Linear(256, 256),
            nn.Mish(),
            nn.Linear(256, action_dim),
            nn.Tanh(),
        )
        self._pairs = pairs

    def forward(self, s_t: Tensor, s_next: Tensor) -> Tensor:
        return self.mlp(torch.cat([s_t, s_next], dim=-1))

    def loss(self, idx: Tensor, generator: torch.Generator) -> Tensor:
        s_t, s_next, a_t = (x[idx] for x in self._pairs)
        return ((self(s_t, s_next) - a_t) ** 2).mean()
