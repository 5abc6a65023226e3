"""Deep Q-networks in torch (imported only when used: ``rlcore.approximation`` stays NumPy-only).

- ``agent``: ``DQN`` (``agents.dqn``) with replay, target network (hard or Polyak), Huber loss,
  epsilon schedule, Double DQN, dueling heads, n-step returns and prioritized replay as options;
  ``GreedyQPolicy`` for evaluation;
- ``config``: ``DQNConfig`` and its presets (``DQNConfig.preset("cartpole_zoo")``);
- ``targets``: the pure math (Q-learning and double-Q targets, Huber / TD loss, dueling
  aggregation, Polyak update, linear schedule);
- ``replay``: NumPy replay buffer, sum tree, proportional prioritized replay, n-step windows;
- ``networks``: ``QNetwork`` (``networks.q_network``) and ``resolve_device``.
"""

from rlcore.approximation.dqn.agent import DQN, GreedyQPolicy
from rlcore.approximation.dqn.config import PRESETS, DQNConfig
from rlcore.approximation.dqn.networks import QNetwork, resolve_device
from rlcore.approximation.dqn.replay import (
    Batch,
    NStepWindows,
    PrioritizedReplay,
    ReplayBuffer,
    SumTree,
)
from rlcore.approximation.dqn.targets import (
    double_q_learning_targets,
    dueling_aggregate,
    huber_loss,
    linear_schedule,
    polyak_update_,
    q_learning_targets,
    select_actions,
    td_loss,
)

__all__ = [
    "DQN",
    "PRESETS",
    "Batch",
    "DQNConfig",
    "GreedyQPolicy",
    "NStepWindows",
    "PrioritizedReplay",
    "QNetwork",
    "ReplayBuffer",
    "SumTree",
    "double_q_learning_targets",
    "dueling_aggregate",
    "huber_loss",
    "linear_schedule",
    "polyak_update_",
    "q_learning_targets",
    "resolve_device",
    "select_actions",
    "td_loss",
]
