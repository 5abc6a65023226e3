"""The protocols every rlcore component honours.

- ``Policy``: ``act(obs, *, explore=False) -> action``; ``seed(seed)`` resets its randomness;
  ``reset()`` starts an episode (clears per-episode state such as an action queue).
- ``TabularPolicy``: a Policy over a finite state space that also gives action probabilities.
- ``Agent``: a Policy that learns from ``observe(transition)``; whatever it needs (an episode
  buffer for Monte Carlo, an n-step window, a replay buffer) is its own business. ``observe`` may
  return a mapping of metrics (``{"losses/td": 0.3}``) that ``rlcore.run`` logs.
- ``Checkpointable``: ``state() -> (config, arrays)`` and ``from_state(config, arrays)``, which
  ``rlcore.save`` / ``rlcore.load`` turn into a JSON file plus ``.npz`` or safetensors arrays.
- ``Resumable``: ``training_state()`` / ``load_training_state(config, arrays)``, everything a
  training run needs beyond the checkpoint (replay, generators, windows), for
  ``rlcore.run(..., checkpoint_dir=, resume=)`` (``rlcore.training_state``).

The generative protocols (schedule, sampler, flow) live with ``rlcore.generative``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np

from rlcore.types import Transition


@runtime_checkable
class Policy(Protocol):
    """Maps an observation to an action.

    ``explore=True`` asks for the behaviour used while learning (e.g. epsilon-greedy);
    ``explore=False`` for the evaluation behaviour (e.g. greedy).
    """

    def act(self, obs: Any, *, explore: bool = False) -> Any: ...

    def seed(self, seed: int | None) -> None:
        """Reset the policy's random generator from ``seed`` (None: fresh entropy)."""
        ...

    def reset(self) -> None:
        """Start a new episode: clear per-episode state (an action queue, eligibility traces,
        an n-step window). Learned values are kept. ``rlcore.run`` calls it before each episode."""
        ...


@runtime_checkable
class TabularPolicy(Policy, Protocol):
    """A policy over ``n_states`` discrete states and ``n_actions`` discrete actions."""

    def probs(self, obs: int, *, explore: bool = False) -> np.ndarray:
        """pi(. | obs) as an array of shape (n_actions,) summing to one."""
        ...


@runtime_checkable
class Agent(Policy, Protocol):
    """A Policy that learns from the transitions it is shown."""

    def observe(self, transition: Transition) -> Mapping[str, float] | None:
        """Learn from one transition (S_t, A_t, R_{t+1}, S_{t+1}); optionally return metrics."""
        ...


@runtime_checkable
class Checkpointable(Protocol):
    """An object ``rlcore.save`` can write and ``rlcore.load`` can rebuild without pickle."""

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(JSON-serialisable config, name -> numpy array or torch tensor)."""
        ...

    @classmethod
    def from_state(cls, config: dict[str, Any], arrays: dict[str, Any]) -> Any: ...


@runtime_checkable
class Resumable(Protocol):
    """An agent whose training can stop and continue bit for bit (``rlcore.training_state``).

    ``training_state`` returns every piece of learning state (weights, optimizer moments, replay
    contents, n-step windows, generators, counters) as (JSON config, arrays or tensors);
    ``load_training_state`` restores it in place into an agent built with the same
    configuration. ``rlcore.training_state.pack`` / ``unpack`` implement both from a dict of
    named parts.
    """

    def training_state(self) -> tuple[dict[str, Any], dict[str, Any]]: ...

    def load_training_state(self, config: dict[str, Any], arrays: dict[str, Any]) -> None: ...
