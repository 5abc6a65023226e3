"""Continuous control with the soft actor-critic family over critic ensembles (torch).

- ``agent``: ``SAC`` (``agents.sac``), ``REDQ`` (``agents.redq``), ``SACN`` (``agents.sac_n``),
  ``EDAC`` (``agents.edac``): one implementation, online (``rlcore.run``) and offline
  (``learn_offline(dataset)``); ``GreedyActorPolicy`` for evaluation;
- ``config``: ``ActorCriticConfig`` and each agent's ``DEFAULTS``;
- ``losses``: the pure math (squashed-Gaussian log-density, soft targets, critic / actor /
  entropy-coefficient losses, EDAC's gradient-diversity penalty);
- ``networks``: ``SquashedGaussianActor`` (``networks.squashed_gaussian_actor``);
- ``datasets``: the Pendulum-v1 offline tiers (random, medium, expert, medium-replay).

Transition names as in ``rlcore.returns``: (S_{t-1}, A_{t-1}, R_t, discount_t, S_t) ->
``obs_tm1, a_tm1, r_t, discount_t, obs_t``; member values carry a leading axis N.
"""

from rlcore.actor_critic.agent import EDAC, REDQ, SAC, SACN, GreedyActorPolicy
from rlcore.actor_critic.config import DEFAULTS, ActorCriticConfig
from rlcore.actor_critic.losses import (
    actor_loss,
    critic_loss,
    entropy_coef_loss,
    gradient_diversity_penalty,
    soft_q_targets,
    squashed_gaussian_log_prob,
)
from rlcore.actor_critic.networks import SquashedGaussianActor

__all__ = [
    "DEFAULTS",
    "EDAC",
    "REDQ",
    "SAC",
    "SACN",
    "ActorCriticConfig",
    "GreedyActorPolicy",
    "SquashedGaussianActor",
    "actor_loss",
    "critic_loss",
    "entropy_coef_loss",
    "gradient_diversity_penalty",
    "soft_q_targets",
    "squashed_gaussian_log_prob",
]
