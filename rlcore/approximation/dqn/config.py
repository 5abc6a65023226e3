"""Settings of ``agents.dqn`` as one frozen dataclass, and named presets.

The presets:

- ``"cartpole_zoo"``: rl-baselines3-zoo's ``hyperparams/dqn.yml`` entry for CartPole-v1 (n_timesteps
  5e4, learning_rate 2.3e-3, batch_size 64, buffer_size 100000, learning_starts 1000, gamma 0.99,
  target_update_interval 10, train_freq 256, gradient_steps 128, exploration_fraction 0.16,
  exploration_final_eps 0.04, net_arch [256, 256]) with SB3's DQN defaults for the rest (tau 1,
  exploration_initial_eps 1, max_grad_norm 10, Huber loss, Adam). SB3 decays epsilon over
  ``exploration_fraction`` of the training budget: 0.16 * 50000 = 8000 steps here.
- ``"cartpole_fast"``: rlcore's own CartPole-v1 setting, chosen for training time on a small CPU:
  the zoo's schedule with a (64, 64) network, half the gradient steps (64 per 256 env steps),
  Double DQN targets and 3-step returns. In a 4-seed pilot on a 2-core box it reached 475 after
  22k-31k steps (31k-43k without the n-step returns); with 32 gradient steps, or with 16 env
  steps between phases of 4 gradient steps, only half the seeds reached 475 in 50k steps. See
  ``benchmarks/dqn_vs_sb3.py`` for the comparison with SB3.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from rlcore.tabular.base import check_epsilon, check_gamma
from rlcore.validation import check_bool, check_int, check_range

__all__ = ["PRESETS", "DQNConfig"]


@dataclass(frozen=True)
class DQNConfig:
    """Settings of the deep Q-network agent (``agents.dqn``). Steps count environment transitions
    (a vector env step of N envs counts N), as in SB3 and CleanRL.

    Attributes:
        learning_rate: Adam's step size.
        batch_size: transitions per gradient step.
        buffer_size: replay capacity (transitions).
        learning_starts: steps of uniformly random actions before the first training phase.
        gamma: discount in [0, 1].
        train_freq: steps between training phases.
        gradient_steps: gradient steps per training phase.
        target_update_interval: steps between target-network updates.
        tau: target update theta' <- tau theta + (1 - tau) theta'; 1 is the hard copy of Mnih
            et al. (2015), < 1 the soft (Polyak) update.
        epsilon_start, epsilon_end, epsilon_decay_steps: epsilon decays linearly from start to
            end over the first ``epsilon_decay_steps`` steps (then stays at end).
        hidden: hidden layer sizes of the Q-network MLP.
        double: Double DQN targets (van Hasselt et al. 2016).
        dueling: dueling head (Wang et al. 2016).
        n_step: steps per return (1: one-step Q-learning targets; Sutton & Barto (2018) §7.1).
        prioritized: proportional prioritized replay (Schaul et al. 2016).
        priority_alpha: prioritization exponent alpha in [0, 1].
        priority_beta_start, priority_beta_steps: importance-sampling exponent beta, annealed
            linearly from ``priority_beta_start`` to 1 over ``priority_beta_steps`` steps.
        priority_eps: added to |delta| in the priorities.
        huber_delta: threshold of the Huber loss (its gradient clips the TD error there).
        max_grad_norm: clip the gradient's global norm to this (None: no clipping; SB3 uses 10).
        device: "auto" (CUDA when present, else CPU), "cpu" or "cuda[:i]".
        torch_threads: on the CPU, ``torch.set_num_threads(torch_threads)`` when the agent is
            built (process-wide; None leaves torch's setting). One thread is the default because
            small networks run many times slower with oversubscribed threads on small machines.
        log_every: steps between the metrics ``observe`` returns (losses/td_loss,
            charts/q_values, charts/epsilon, charts/sps), to keep a run's History small.
    """

    learning_rate: float = 1e-3
    batch_size: int = 64
    buffer_size: int = 100_000
    learning_starts: int = 1000
    gamma: float = 0.99
    train_freq: int = 4
    gradient_steps: int = 1
    target_update_interval: int = 1000
    tau: float = 1.0
    epsilon_start: float = 1.0
    epsilon_end: float = 0.05
    epsilon_decay_steps: int = 10_000
    hidden: tuple[int, ...] = (64, 64)
    double: bool = False
    dueling: bool = False
    n_step: int = 1
    prioritized: bool = False
    priority_alpha: float = 0.6
    priority_beta_start: float = 0.4
    priority_beta_steps: int = 100_000
    priority_eps: float = 1e-6
    huber_delta: float = 1.0
    max_grad_norm: float | None = 10.0
    device: str = "auto"
    torch_threads: int | None = 1
    log_every: int = 1000

    def __post_init__(self) -> None:
        check_range("learning_rate", self.learning_rate, 0.0, low_open=True, hint="e.g. 1e-3.")
        check_int("batch_size", self.batch_size, 1)
        check_int(
            "buffer_size",
            self.buffer_size,
            self.batch_size,
            hint="The replay must be able to hold at least one batch.",
        )
        check_int("learning_starts", self.learning_starts, 0)
        check_gamma(self.gamma)
        check_int("train_freq", self.train_freq, 1)
        check_int("gradient_steps", self.gradient_steps, 1)
        check_int("target_update_interval", self.target_update_interval, 1)
        check_range("tau", self.tau, 0.0, 1.0, low_open=True, hint="1 is the hard copy.")
        check_epsilon(self.epsilon_start, "epsilon_start")
        check_epsilon(self.epsilon_end, "epsilon_end")
        check_int("epsilon_decay_steps", self.epsilon_decay_steps, 0)
        if isinstance(self.hidden, str) or not isinstance(self.hidden, (tuple, list)):
            raise TypeError(f"hidden must be a sequence of layer sizes, got {self.hidden!r}.")
        object.__setattr__(self, "hidden", tuple(check_int("hidden", h, 1) for h in self.hidden))
        for flag in ("double", "dueling", "prioritized"):
            check_bool(flag, getattr(self, flag))
        check_int("n_step", self.n_step, 1, hint="1 gives one-step Q-learning targets.")
        check_range("priority_alpha", self.priority_alpha, 0.0, 1.0)
        check_range("priority_beta_start", self.priority_beta_start, 0.0, 1.0)
        check_int("priority_beta_steps", self.priority_beta_steps, 0)
        check_range("priority_eps", self.priority_eps, 0.0, low_open=True)
        check_range("huber_delta", self.huber_delta, 0.0, low_open=True)
        if self.max_grad_norm is not None:
            check_range("max_grad_norm", self.max_grad_norm, 0.0, low_open=True)
        if not isinstance(self.device, str):
            raise TypeError(f"device must be a string such as 'auto', got {self.device!r}.")
        if self.torch_threads is not None:
            check_int("torch_threads", self.torch_threads, 1)
        check_int("log_every", self.log_every, 1)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> DQNConfig:
        """A named preset (``PRESETS``), with optional field overrides."""
        if name not in PRESETS:
            raise ValueError(f"unknown DQN preset {name!r}; known: {', '.join(sorted(PRESETS))}.")
        return dataclasses.replace(PRESETS[name], **overrides)


PRESETS: dict[str, DQNConfig] = {
    "cartpole_zoo": DQNConfig(
        learning_rate=2.3e-3,
        batch_size=64,
        buffer_size=100_000,
        learning_starts=1000,
        gamma=0.99,
        train_freq=256,
        gradient_steps=128,
        target_update_interval=10,
        tau=1.0,
        epsilon_start=1.0,
        epsilon_end=0.04,
        epsilon_decay_steps=8000,
        hidden=(256, 256),
        max_grad_norm=10.0,
    ),
    "cartpole_fast": DQNConfig(
        learning_rate=2.3e-3,
        batch_size=64,
        buffer_size=100_000,
        learning_starts=1000,
        gamma=0.99,
        train_freq=256,
        gradient_steps=64,
        target_update_interval=10,
        epsilon_end=0.04,
        epsilon_decay_steps=8000,
        hidden=(64, 64),
        double=True,
        n_step=3,
    ),
}
