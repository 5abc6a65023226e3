"""Datasets for the batch estimators drawn from a finite model (ground truth comes from DP).

- ``uniform_transitions``: N independent (s, a) pairs drawn uniformly, one outcome each, every
  row its own one-step episode (truncated unless the outcome terminates): the "uniform dataset"
  of fitted Q-iteration's convergence results.
- ``policy_episodes``: whole episodes of a fixed behaviour policy from the model's initial
  distribution (``rlcore.tabular.sample_episodes``, all episodes at once), for prediction and
  off-policy evaluation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rlcore.data import EpisodeDataset
from rlcore.registry import export
from rlcore.tabular.batched import sample_episodes
from rlcore.tabular.mdp import FiniteMDP
from rlcore.validation import as_generator, check_int


@export("datasets.uniform_transitions")
def uniform_transitions(
    mdp: FiniteMDP, n_samples: int, seed: int | np.random.Generator | None = None
) -> EpisodeDataset:
    """``n_samples`` transitions with S_t, A_t uniform over all pairs and one sampled outcome.

    Args:
        mdp: a ``FiniteMDP`` (``FiniteMDP.from_env(env)`` for a finite env).
        n_samples: N >= 1.
        seed: an int, a Generator or None.

    Returns:
        An ``EpisodeDataset`` of N one-step episodes.
    """
    if not isinstance(mdp, FiniteMDP):
        raise TypeError(
            f"mdp must be a FiniteMDP, got {type(mdp).__name__}; build one with "
            "rlcore.tabular.FiniteMDP.from_env(env)."
        )
    n = check_int("n_samples", n_samples, 1)
    rng = as_generator(seed)
    s = rng.integers(mdp.n_states, size=n)
    a = rng.integers(mdp.n_actions, size=n)
    s2, r, term = mdp.sample(s, a, rng)
    term = np.asarray(term, dtype=bool)
    return EpisodeDataset(s, a, np.asarray(r, dtype=np.float64), s2, term, ~term, np.ones(n, int))


@export("datasets.policy_episodes")
def policy_episodes(
    model: Any,
    policy: Any,
    n_episodes: int,
    seed: int | np.random.Generator | None = None,
    *,
    max_steps: int = 100_000,
) -> EpisodeDataset:
    """``n_episodes`` episodes of a fixed policy on a finite model, as an ``EpisodeDataset``.

    Args:
        model: a ``FiniteMDP``, an env id or env with a finite model (``as_batched_env``).
        policy: (S, A) behaviour probabilities.
        n_episodes: E >= 1.
        seed: an int, a Generator or None.
        max_steps: an episode still running after this many steps raises.
    """
    eps = sample_episodes(model, policy, n_episodes, as_generator(seed), max_steps=max_steps)
    lengths = eps["lengths"]
    live = np.arange(eps["states"].shape[1])[None, :] < lengths[:, None]  # (E, L)
    ends = np.zeros_like(live)
    ends[np.arange(lengths.size), lengths - 1] = True
    return EpisodeDataset(
        eps["states"][live],
        eps["actions"][live],
        eps["rewards"][live].astype(np.float64),
        eps["next_states"][live],
        ends[live],
        np.zeros(int(lengths.sum()), dtype=bool),
        lengths,
    )


__all__ = ["policy_episodes", "uniform_transitions"]
