"""The deep Q-network agent (``agents.dqn``): DQN and its common extensions, one class.

    y = r_t + discount_t max_a Q_target(S_t, a)                         (Mnih et al. 2015)
    y = r_t + discount_t Q_target(S_t, argmax_a Q(S_t, a))               (Double DQN, 2016)
    L = mean_b w_b huber(y_b - Q(S_{t-1,b}, A_{t-1,b}))                  (w = 1 unless PER)

with experience replay (uniform, or proportional prioritized, Schaul et al. 2016), a target
network updated every ``target_update_interval`` steps (hard copy, or Polyak with tau < 1), a
linearly decaying epsilon-greedy behaviour, an optional dueling head (Wang et al. 2016) and n-step
returns. Every step of the math is a pure function: targets and loss in ``targets``, epsilon-
greedy choice in ``rlcore.tabular.policies``, n-step sums in ``rlcore.returns``.

Each call of ``observe`` (one env step, or one vector-env step of N transitions):

1. stores the transitions (through the n-step windows when ``n_step > 1``);
2. updates the target network when the step count crosses a multiple of
   ``target_update_interval``;
3. when it crosses a multiple of ``train_freq`` after ``learning_starts`` (and the replay holds a
   batch), runs ``gradient_steps`` gradient steps on replayed batches (SB3's and rl-zoo's
   schedule, so their hyper-parameters mean the same here); non-finite losses, Q-values or
   targets stop learning with ``FloatingPointError`` naming the step and the quantity;
4. every ``log_every`` steps returns metrics: ``losses/td_loss``, ``charts/q_values`` (mean
   Q(S, A) of the replayed batches), ``charts/epsilon`` and ``charts/sps`` (steps per second
   since the last report), which ``rlcore.run`` records and writes to TensorBoard.

Speed on small CPUs: one torch thread (``torch_threads``), acting under ``torch.inference_mode``
and skipping the network when every env explores, all uniform batches of a training phase drawn
in one NumPy call, and no host synchronisation per gradient step (statistics are gathered once
per phase).

Checkpoints (``agent.save(dir)`` / ``rlcore.load(dir)``): the config, the online and target
weights, Adam's moments and the step and update counters, as JSON plus safetensors; enough to
act and to fine-tune. Full training checkpoints (``rlcore.run(..., checkpoint_dir=D)``, then
``rlcore.run(..., resume=D)``, or ``rlcore train --resume``) add the replay contents (priorities
and sum tree included), the pending n-step windows, the generator and the loss sums
(``training_state`` / ``load_training_state``, through ``rlcore.training_state.pack``), so the
resumed run is the uninterrupted one bit for bit on CPU; the epsilon and beta schedules are
functions of the restored step counter.

Usage::

    env = rlcore.make_vector_env("CartPole-v1", 4)      # or gymnasium.make("CartPole-v1")
    agent = rlcore.make("agents.dqn", env, config=DQNConfig.preset("cartpole_zoo"), seed=0)
    rlcore.run(agent, env, steps=50_000, seed=0)
    rlcore.run(agent.greedy_policy(), "CartPole-v1", episodes=10, seed=1)
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any, Protocol, final

import numpy as np
import torch
from gymnasium import spaces
from torch import Tensor

from rlcore.approximation.dqn.config import DQNConfig
from rlcore.approximation.dqn.networks import QNetwork, resolve_device
from rlcore.approximation.dqn.replay import NStepWindows, PrioritizedReplay, ReplayBuffer
from rlcore.approximation.dqn.targets import (
    double_q_learning_targets,
    linear_schedule,
    polyak_update_,
    q_learning_targets,
    td_loss,
)
from rlcore.registry import export
from rlcore.tabular.base import make_config
from rlcore.tabular.policies import epsilon_greedy_action, greedy_action
from rlcore.training_state import pack, unpack
from rlcore.types import Transition
from rlcore.validation import as_generator, discrete_size, env_spaces

__all__ = ["DQN", "GreedyQPolicy", "QModel"]

_STATS = ("TD loss", "Q-values", "TD targets")  # the columns of the per-update statistics


def _spaces(env: Any, what: str) -> tuple[spaces.Box, int]:
    """(observation Box, number of actions) of an env, a vector env or a pair of spaces."""
    obs_space, act_space = env_spaces(env, what)
    if not isinstance(obs_space, spaces.Box):
        raise TypeError(
            f"{what} needs Box (vector) observations, got {obs_space!r}. For Discrete states "
            "use a tabular or linear agent, or one-hot encode them with a wrapper."
        )
    return obs_space, discrete_size(act_space, what, role="action")


class QModel(Protocol):
    """What a value ensemble plugs into the DQN trainer (``DQN(..., model=...)``); the trainer
    keeps the replay, the schedules, the optimizer, the counters and the checkpoints.

    ``batch_shape`` is prepended to every replayed batch (``(N,)``: one minibatch per member);
    ``mask_size`` > 0 stores that many bootstrap masks with every transition (drawn by
    ``draw_masks`` when it enters the replay). ``batch`` is (obs_tm1, a_tm1, r_t, discount_t,
    obs_t); ``loss`` returns (loss, mean Q(S, A), mean target, TD errors (B,)) with the loss
    carrying the gradient.
    """

    batch_shape: tuple[int, ...]
    mask_size: int

    def network(self, obs_dim: int, n_actions: int, config: DQNConfig) -> torch.nn.Module: ...

    def values(self, net: torch.nn.Module, obs: Tensor, explore: bool) -> Tensor: ...

    def loss(
        self,
        net: torch.nn.Module,
        target: torch.nn.Module,
        batch: tuple[Tensor, ...],
        weights: Tensor | None,
        masks: Tensor | None,
        config: DQNConfig,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]: ...

    def update_target(self, net: torch.nn.Module, target: torch.nn.Module, tau: float) -> None: ...

    def clip_grad_norm_(self, net: torch.nn.Module, max_norm: float) -> None: ...

    def draw_masks(self, rng: np.random.Generator, k: int) -> np.ndarray: ...

    def reset(self, rng: np.random.Generator) -> None: ...

    def end_episodes(self, done: np.ndarray, rng: np.random.Generator) -> None: ...


@final
@export("agents.dqn")
class DQN:
    """Deep Q-network agent for Box observations and Discrete actions (see the module docstring).

    Args:
        env: a gymnasium Env, a SAME_STEP vector env (``rlcore.make_vector_env``) or a pair
            (observation_space, action_space); only its spaces are used.
        config: a ``DQNConfig`` or the name of a preset (``"cartpole_zoo"``, ``"cartpole_fast"``;
            from the CLI: ``--set config='"cartpole_fast"'``); keyword arguments override fields.
        seed: seeds the network initialisation and the agent's generator (exploration, replay
            sampling); ``rlcore.run(..., seed=)`` re-seeds the generator only.
        model: the hook the value ensembles of ``rlcore.approximation.dqn.ensembles`` plug in
            (``QModel``: their networks, acting values, loss, target update and bootstrap masks);
            None (the default) is DQN itself.
    """

    name = "agents.dqn"

    def __init__(
        self,
        env: Any,
        config: DQNConfig | str | None = None,
        *,
        seed: int | None = None,
        model: QModel | None = None,
        **kwargs: Any,
    ) -> None:
        obs_space, self.n_actions = _spaces(env, self.name)
        self.model = model
        if isinstance(config, str):
            config = DQNConfig.preset(config)
        self.config = cfg = make_config(DQNConfig, config, kwargs, self.name)
        self.obs_shape = tuple(int(d) for d in obs_space.shape)
        self.observation_space = obs_space
        self.action_space = spaces.Discrete(self.n_actions)
        self.device = resolve_device(cfg.device)
        if self.device.type == "cpu" and cfg.torch_threads is not None:
            torch.set_num_threads(cfg.torch_threads)
        init_seed = int(np.random.SeedSequence(seed).generate_state(1)[0])
        with torch.random.fork_rng(devices=[]):  # the initial weights come from the seed only
            torch.manual_seed(init_seed)
            obs_dim = math.prod(self.obs_shape)
            if model is None:
                net = QNetwork(obs_dim, self.n_actions, cfg.hidden, cfg.dueling)
            else:
                net = model.network(obs_dim, self.n_actions, cfg)
        self.q_net = net.to(self.device)
        self.target_net = copy.deepcopy(self.q_net).requires_grad_(False)
        # The fused kernel updates each tensor in one pass (same maths): on a small CPU it took a
        # tiny network's gradient step from about 1.5 ms to 0.8 ms. (Fixed tensors, such as the
        # randomized priors of an ensemble, have requires_grad False and are left out.)
        trained = [p for p in self.q_net.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(trained, lr=cfg.learning_rate, fused=True)
        mask_size = 0 if model is None else model.mask_size
        if cfg.prioritized:
            self.replay: ReplayBuffer | PrioritizedReplay = PrioritizedReplay(
                cfg.buffer_size,
                self.obs_shape,
                cfg.priority_alpha,
                cfg.priority_eps,
                mask_size=mask_size,
            )
        else:
            self.replay = ReplayBuffer(cfg.buffer_size, self.obs_shape, mask_size=mask_size)
        self.windows = NStepWindows(cfg.n_step) if cfg.n_step > 1 else None
        self.steps = 0  # transitions observed
        self.updates = 0  # gradient steps taken
        self._sums = [0.0, 0.0, 0]  # loss and Q sums, updates, since the last report
        self._clock = (time.perf_counter(), 0)  # (time, steps) of the last report
        self.seed(seed)

    # -- the Policy protocol ------------------------------------------------------------------
    def seed(self, seed: int | None) -> None:
        """Reset the generator of exploration and replay sampling (not the weights)."""
        self._rng = as_generator(seed)

    def reset(self) -> None:
        """Start of an episode or run: pending n-step windows go to the replay as truncated."""
        if self.windows is not None:
            pending = self.windows.flush()
            if pending is not None:
                self._store(pending)
        if self.model is not None:
            self.model.reset(self._rng)

    @property
    def epsilon(self) -> float:
        """The exploration probability now: 1 before ``learning_starts``, then the schedule."""
        cfg = self.config
        if self.steps < cfg.learning_starts:
            return 1.0
        return linear_schedule(
            self.steps, cfg.epsilon_start, cfg.epsilon_end, cfg.epsilon_decay_steps
        )

    def act(self, obs: Any, *, explore: bool = False) -> Any:
        """Epsilon-greedy (``explore``) or greedy actions, ties broken at random.

        Args:
            obs: one observation of shape ``obs_shape`` or a batch (N, *obs_shape).

        Returns:
            An int for one observation, an int64 array (N,) for a batch.
        """
        batch, single = self._as_batch(obs, "obs")
        n = batch.shape[0]
        if not explore:
            return self._greedy(batch, single, self._rng)
        eps = self.epsilon
        u = self._rng.random((2, n))  # (explore?, which action)
        if single:  # the list fast path of the shared epsilon-greedy rule
            q = [0.0] * self.n_actions if u[0, 0] < eps else self._values(batch, True)[0].tolist()
            return epsilon_greedy_action(q, eps, float(u[0, 0]), float(u[1, 0]))
        if np.all(u[0] < eps):  # every env explores: the values are not needed
            q = np.zeros((n, self.n_actions))
        else:
            q = self._values(batch, True)
        return epsilon_greedy_action(q, eps, u[0], u[1])

    def greedy_policy(self) -> GreedyQPolicy:
        """A greedy Policy sharing this agent's network, with its own generator: evaluating it
        (``rlcore.run(agent.greedy_policy(), env, episodes=10)``) never touches training."""
        return GreedyQPolicy(self)

    def q_values(self, obs: Any) -> np.ndarray:
        """Q(s, .) of the online network for a batch (N, *obs_shape) -> (N, n_actions)."""
        batch, _ = self._as_batch(obs, "obs")
        return self._values(batch, False)

    def _values(self, batch: np.ndarray, explore: bool) -> np.ndarray:
        """The values acting maximises (N, n_actions): Q(s, .), or an ensemble's (``QModel``)."""
        with torch.inference_mode():
            x = torch.from_numpy(batch).to(self.device)
            q = self.q_net(x) if self.model is None else self.model.values(self.q_net, x, explore)
        return q.cpu().numpy()

    def _greedy(self, batch: np.ndarray, single: bool, rng: np.random.Generator) -> Any:
        q = self._values(batch, False)
        if single:
            return greedy_action(q[0].tolist(), float(rng.random()))
        return greedy_action(q, rng.random(batch.shape[0]))

    def _as_batch(self, obs: Any, what: str) -> tuple[np.ndarray, bool]:
        """float32 (N, *obs_shape) and whether ``obs`` was a single observation."""
        x = np.asarray(obs, dtype=np.float32)
        if x.shape == self.obs_shape:
            return x[None], True
        if x.shape[1:] != self.obs_shape or x.ndim != len(self.obs_shape) + 1:
            raise ValueError(
                f"{self.name}: {what} has shape {x.shape}, but the network takes observations "
                f"of shape {self.obs_shape} (or a batch (N, {', '.join(map(str, self.obs_shape))}"
                ")); pass the env the agent was built for."
            )
        return x, False

    # -- learning ---------------------------------------------------------------------------------
    def observe(self, transition: Transition) -> dict[str, float] | None:
        """Store the transition(s), update the target network, train on schedule (module doc)."""
        cfg = self.config
        obs, single = self._as_batch(transition.obs, "transition.obs")
        next_obs, next_single = self._as_batch(transition.next_obs, "transition.next_obs")
        n = obs.shape[0]
        if next_single != single or next_obs.shape[0] != n:
            raise ValueError(
                f"{self.name}: transition.obs has shape {np.shape(transition.obs)} but next_obs "
                f"{np.shape(transition.next_obs)}; both must be one observation or batches of "
                "the same size."
            )
        action = np.asarray(transition.action, dtype=np.int64).reshape(n)
        reward = np.asarray(transition.reward, dtype=np.float32).reshape(n)
        terminated = np.asarray(transition.terminated, dtype=bool).reshape(n)
        discount = np.where(terminated, 0.0, cfg.gamma).astype(np.float32)
        done = terminated | np.asarray(transition.truncated, dtype=bool).reshape(n)
        if self.windows is None:
            self._store((obs, action, reward, discount, next_obs))
        else:
            ready = self.windows.push(obs, action, reward, discount, next_obs, done)
            if ready is not None:
                self._store(ready)
        if self.model is not None and not single:  # vector envs: per-env episode starts
            self.model.end_episodes(done, self._rng)
        before, self.steps = self.steps, self.steps + n
        if self.steps // cfg.target_update_interval > before // cfg.target_update_interval:
            if self.model is None:
                polyak_update_(self.target_net.parameters(), self.q_net.parameters(), cfg.tau)
            else:
                self.model.update_target(self.q_net, self.target_net, cfg.tau)
        phases = self.steps // cfg.train_freq - before // cfg.train_freq
        if phases and self.steps > cfg.learning_starts and len(self.replay) >= cfg.batch_size:
            self._train(phases * cfg.gradient_steps)
        if self.steps // cfg.log_every > before // cfg.log_every:
            return self._report()
        return None

    def _store(self, transitions: tuple[np.ndarray, ...]) -> None:
        """Add k transitions to the replay, with bootstrap masks drawn now for an ensemble."""
        if self.model is not None and self.model.mask_size:
            transitions = (*transitions, self.model.draw_masks(self._rng, len(transitions[1])))
        self.replay.add(*transitions)

    def _train(self, n_updates: int) -> None:
        """``n_updates`` gradient steps; checks the statistics once at the end."""
        cfg = self.config
        first = self.updates
        stats = []
        if isinstance(self.replay, ReplayBuffer):  # every batch of the phase in one draw
            shape = (n_updates, *(() if self.model is None else self.model.batch_shape))
            batch = self.replay.sample(cfg.batch_size, self._rng, shape=shape)
            tensors = [self._tensor(x) for x in batch[:5]]  # each (G, B, ...)
            masks = self._tensor(batch.masks)
            for g in range(n_updates):
                mask_g = None if masks is None else masks[g]
                stats.append(self._update(*(x[g] for x in tensors), None, masks=mask_g))
        else:
            for _ in range(n_updates):
                beta = linear_schedule(
                    self.steps, cfg.priority_beta_start, 1.0, cfg.priority_beta_steps
                )
                batch = self.replay.sample(cfg.batch_size, self._rng, beta)
                row, td = self._update(
                    *(self._tensor(x) for x in batch[:6]),
                    with_td=True,
                    masks=self._tensor(batch.masks),
                )
                self.replay.update_priorities(batch.indices, td.cpu().numpy())
                stats.append(row)
        self.updates += n_updates
        table = torch.stack(stats)  # (G, 3): loss, mean Q(S, A), mean target
        sums = table.sum(dim=0).tolist()
        if not all(math.isfinite(s) for s in sums):
            self._non_finite(table, first)
        self._sums = [self._sums[0] + sums[0], self._sums[1] + sums[1], self._sums[2] + n_updates]

    def _update(
        self,
        obs_tm1: Tensor,
        a_tm1: Tensor,
        r_t: Tensor,
        discount_t: Tensor,
        obs_t: Tensor,
        weights: Tensor | None,
        with_td: bool = False,
        masks: Tensor | None = None,
    ) -> Any:
        """One gradient step on a batch; returns the detached (loss, mean Q, mean y) row."""
        cfg = self.config
        if self.model is not None:
            batch = (obs_tm1, a_tm1, r_t, discount_t, obs_t)
            loss, q_mean, y_mean, td = self.model.loss(
                self.q_net, self.target_net, batch, weights, masks, cfg
            )
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.max_grad_norm is not None:
                self.model.clip_grad_norm_(self.q_net, cfg.max_grad_norm)
            self.optimizer.step()
            row = torch.stack((loss.detach(), q_mean, y_mean))
            return (row, td) if with_td else row
        with torch.no_grad():
            q_t = self.target_net(obs_t)  # (B, A)
            if cfg.double:
                y = double_q_learning_targets(r_t, discount_t, q_t, self.q_net(obs_t))
            else:
                y = q_learning_targets(r_t, discount_t, q_t)  # (B,)
        q_tm1 = self.q_net(obs_tm1)  # (B, A)
        loss, td = td_loss(q_tm1, a_tm1, y, weights, cfg.huber_delta)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.q_net.parameters(), cfg.max_grad_norm)
        self.optimizer.step()
        row = torch.stack((loss.detach(), (y - td).mean(), y.mean()))
        return (row, td) if with_td else row

    def _tensor(self, x: np.ndarray | None) -> Tensor | None:
        return None if x is None else torch.from_numpy(x).to(self.device, non_blocking=True)

    def _non_finite(self, table: Tensor, first: int) -> None:
        bad = ~torch.isfinite(table)  # (G, 3)
        g = int(bad.any(dim=1).nonzero()[0])  # the first bad gradient step of the phase
        column = next(c for c in (2, 1, 0) if bad[g, c])  # causes first: targets, Q, loss
        raise FloatingPointError(
            f"{self.name}: at environment step {self.steps} (gradient step {first + g + 1}) the "
            f"{_STATS[column]} went non-finite ({float(table[g, column])}); learning stopped. "
            "Usual causes: a learning rate too large (try 1e-4), rewards that are NaN/inf or "
            "very large (scale them), or unnormalised observations."
        )

    def _report(self) -> dict[str, float]:
        now = time.perf_counter()
        then, steps_then = self._clock
        metrics = {
            "charts/epsilon": self.epsilon,
            "charts/sps": (self.steps - steps_then) / max(now - then, 1e-9),
        }
        loss_sum, q_sum, count = self._sums
        if count:
            metrics["losses/td_loss"] = loss_sum / count
            metrics["charts/q_values"] = q_sum / count
        self._sums = [0.0, 0.0, 0]
        self._clock = (now, self.steps)
        return metrics

    # -- checkpoints -----------------------------------------------------------------------------
    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(config, tensors): settings, spaces, counters; weights, target weights, Adam state."""
        config = {
            "config": dataclasses.asdict(self.config),
            "obs_shape": list(self.obs_shape),
            "n_actions": self.n_actions,
            "steps": self.steps,
            "updates": self.updates,
        }
        arrays: dict[str, Any] = {}
        for prefix, net in (("q_net", self.q_net), ("target_net", self.target_net)):
            arrays.update({f"{prefix}.{k}": v for k, v in net.state_dict().items()})
        for i, slot in self.optimizer.state_dict()["state"].items():
            arrays.update({f"optimizer.{i}.{k}": v for k, v in slot.items()})
        return config, arrays

    @classmethod
    def from_state(cls, config: dict[str, Any], arrays: dict[str, Any]) -> DQN:
        obs_space = spaces.Box(-np.inf, np.inf, shape=tuple(config["obs_shape"]), dtype=np.float32)
        spaces_ = (obs_space, spaces.Discrete(config["n_actions"]))
        agent = cls(spaces_, config=DQNConfig(**config["config"]))
        agent.load_arrays(config, arrays)
        return agent

    def load_arrays(self, config: dict[str, Any], arrays: dict[str, Any]) -> None:
        """Restore the weights, Adam's state and the counters of ``state()`` into this agent
        (built with the same settings; ``from_state`` and the ensembles' loaders call it)."""
        agent = self
        for prefix, net in (("q_net", agent.q_net), ("target_net", agent.target_net)):
            net.load_state_dict(
                {k[len(prefix) + 1 :]: v for k, v in arrays.items() if k.startswith(prefix + ".")}
            )
        optim_state: dict[int, dict[str, Tensor]] = {}
        for key, value in arrays.items():
            if key.startswith("optimizer."):
                _, i, name = key.split(".", 2)
                optim_state.setdefault(int(i), {})[name] = value
        if optim_state:
            groups = agent.optimizer.state_dict()["param_groups"]
            agent.optimizer.load_state_dict({"state": optim_state, "param_groups": groups})
        agent.steps, agent.updates = int(config["steps"]), int(config["updates"])

    def _training_parts(self) -> dict[str, Any]:
        return {
            "q_net": self.q_net,
            "target_net": self.target_net,
            "optimizer": self.optimizer,
            "replay": self.replay,
            "windows": self.windows,
            "rng": self._rng,
            "counters": {"steps": self.steps, "updates": self.updates, "sums": self._sums},
            "config": _resume_config(self.config),
        }

    def training_state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Everything training needs to continue bit for bit (``rlcore.protocols.Resumable``):
        weights, Adam state, replay, n-step windows, generator, counters and loss sums."""
        return pack(self._training_parts())

    def load_training_state(self, config: dict[str, Any], arrays: dict[str, Any]) -> None:
        """Restore ``training_state()`` in place (the agent must have the saved config)."""
        values = unpack(self._training_parts(), config, arrays)
        if values["config"] != _resume_config(self.config):
            differ = sorted(
                k for k, v in values["config"].items() if v != _resume_config(self.config).get(k)
            )
            raise ValueError(
                f"{self.name}: the training state was written with other settings ({differ}); "
                "build the agent with the config of the run that wrote it."
            )
        counters = values["counters"]
        self.steps, self.updates = int(counters["steps"]), int(counters["updates"])
        self._sums = [
            float(counters["sums"][0]),
            float(counters["sums"][1]),
            int(counters["sums"][2]),
        ]

    def save(self, directory: str | Path) -> Path:
        """Write a checkpoint (JSON config + safetensors); ``rlcore.load(directory)`` reads it."""
        from rlcore.checkpoint import save

        return save(self, directory)

    def __repr__(self) -> str:
        return f"DQN(obs_shape={self.obs_shape}, n_actions={self.n_actions}, {self.config})"


def _resume_config(config: DQNConfig) -> dict[str, Any]:
    """The settings a resumed run must share (as JSON values); device, threads and logging may
    change between the two halves of a run."""
    settings = json.loads(json.dumps(dataclasses.asdict(config)))
    for free in ("device", "torch_threads", "log_every"):
        settings.pop(free, None)
    return settings


@final
class GreedyQPolicy:
    """The greedy policy of a DQN's online network (a Policy; ties broken at random).

    It reads the agent's current weights, so it follows training, and owns its generator.
    """

    def __init__(self, agent: DQN) -> None:
        self.agent = agent
        self.seed(None)

    def seed(self, seed: int | None) -> None:
        self._rng = as_generator(seed)

    def reset(self) -> None:
        """Nothing to clear between episodes."""

    def act(self, obs: Any, *, explore: bool = False) -> Any:
        """argmax_a Q(obs, a); ``explore`` is ignored (the policy is greedy)."""
        batch, single = self.agent._as_batch(obs, "obs")
        return self.agent._greedy(batch, single, self._rng)
