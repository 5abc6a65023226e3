"""Offline Pendulum-v1 datasets in four tiers from one SAC run, and D4RL's normalised score.

The tiers, in D4RL's sense (Fu et al. 2020, section 5), each an ``rlcore.data.EpisodeDataset``:

- ``random``: uniformly random actions;
- ``medium``: the stochastic policy of the SAC snapshot (one per training episode) whose own
  evaluation scores closest to a third of the way from random to expert (normalised score 33);
- ``expert``: the stochastic policy of the best snapshot (by its own evaluation);
- ``medium-replay``: SAC's replay buffer up to the medium snapshot (the random warm-up included).

``random``, ``medium`` and ``expert`` hold ``steps`` transitions each (500 episodes of 200 steps
at the default 100k); ``medium-replay`` holds what the run had collected when it reached medium.
The reference returns of the normalised score are the random and expert tiers' mean episode
returns, written to ``tiers.json`` beside the datasets.

    rlcore data pendulum-tiers --out data/pendulum        # or
    paths = rlcore.actor_critic.datasets.pendulum_tiers("data/pendulum")
    dataset = rlcore.data.load_dataset(paths["medium"])
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from rlcore.loop import Callback
from rlcore.registry import export
from rlcore.validation import check_int

__all__ = ["TIERS", "normalized_score", "pendulum_tiers"]

TIERS: tuple[str, ...] = ("random", "medium", "expert", "medium-replay")
ENV_ID = "Pendulum-v1"


@export("datasets.normalized_score")
def normalized_score(returns: Any, random_return: float, expert_return: float) -> np.ndarray:
    """D4RL's normalised score 100 (R - R_random) / (R_expert - R_random) (Fu et al. 2020).

    Args:
        returns: episode returns (any shape).
        random_return, expert_return: the reference returns (expert > random).
    """
    if not expert_return > random_return:
        raise ValueError(
            f"expert_return={expert_return} must exceed random_return={random_return}; pass the "
            "references in that order (tiers.json holds them for the Pendulum tiers)."
        )
    returns = np.asarray(returns, dtype=np.float64)
    return 100.0 * (returns - random_return) / (expert_return - random_return)


class _SampledPolicy:
    """The stochastic policy of a frozen actor-critic agent (a Policy for ``rlcore.run``)."""

    def __init__(self, agent: Any) -> None:
        self.agent = agent

    def seed(self, seed: int | None) -> None:
        self.agent.seed(seed)

    def reset(self) -> None:
        """Nothing to clear."""

    def act(self, obs: Any, *, explore: bool = False) -> np.ndarray:
        """A sample of pi(. | obs) in the env's bounds (``explore`` is ignored: always sampled)."""
        return self.agent.act(obs, explore=True)


class _UniformPolicy:
    """Uniformly random actions in a Box (a Policy with its own generator)."""

    def __init__(self, action_space: Any) -> None:
        self.low, self.high = action_space.low, action_space.high
        self.seed(None)

    def seed(self, seed: int | None) -> None:
        self._rng = np.random.default_rng(seed)

    def reset(self) -> None:
        """Nothing to clear."""

    def act(self, obs: Any, *, explore: bool = False) -> np.ndarray:
        return self._rng.uniform(self.low, self.high).astype(np.float32)


class _Snapshots(Callback):
    """Keeps the actor's weights and the episode return at the end of every training episode."""

    def __init__(self, agent: Any) -> None:
        self.agent = agent
        self.items: list[tuple[int, float, dict[str, Any]]] = []  # (step, return, weights)

    def on_episode_end(self, episode: int, history: Any) -> None:
        state = {k: v.detach().clone() for k, v in self.agent.actor.state_dict().items()}
        self.items.append((int(sum(history.lengths)), history.returns[-1], state))


@export("datasets.pendulum_tiers")
def pendulum_tiers(
    out_dir: str | Path,
    *,
    steps: int = 100_000,
    train_steps: int = 10_000,
    seed: int = 0,
    eval_episodes: int = 3,
    agent_kwargs: dict[str, Any] | None = None,
) -> dict[str, Path]:
    """Train SAC on Pendulum-v1 and write the four tiers (module docstring) to ``out_dir``.

    Args:
        out_dir: the directory for ``<tier>.npz`` and ``tiers.json``.
        steps: transitions in each of the random, medium and expert tiers (a multiple of the
            200-step episode is kept whole).
        train_steps: SAC's training budget (its final policy is the expert).
        seed: seeds the training and the collection.
        eval_episodes: episodes that score each snapshot (to choose the expert and the medium).
        agent_kwargs: overrides of ``agents.sac``'s defaults.

    Returns:
        tier name -> dataset path, plus ``"info"`` -> the ``tiers.json`` path.
    """
    import gymnasium as gym

    from rlcore.actor_critic.agent import SAC
    from rlcore.loop import run

    check_int("steps", steps, 200, hint="At least one 200-step Pendulum episode.")
    check_int("train_steps", train_steps, 400)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    env = gym.make(ENV_ID)
    agent = SAC(env, seed=seed, **dict(agent_kwargs or {}))
    snapshots = _Snapshots(agent)
    # 1. one SAC run, an actor snapshot at every episode end
    history = run(agent, env, steps=train_steps, seed=seed, callbacks=[snapshots], progress=False)
    episodes = steps // 200
    # 2. every snapshot's own return (``eval_episodes`` episodes of its stochastic policy):
    #    training-episode returns are too noisy to rank them (Pendulum's return jumps from random
    #    to expert within a few episodes, and a late update can spoil the final policy)
    probe = SAC(env, seed=seed, **dict(agent_kwargs or {}))
    probe.steps = probe.config.learning_starts  # sample the actor, not uniform actions
    snapshot_returns = _snapshot_returns(probe, snapshots.items, eval_episodes, seed)
    # 3. random and expert (the best snapshot) tiers; their mean returns are the references
    expert_index = int(np.argmax(snapshot_returns))
    random_ds, expert_ds = _reference_tiers(
        env, probe, snapshots.items[expert_index][2], episodes, out, seed, train_steps
    )
    r_random, r_expert = _mean_return(random_ds), _mean_return(expert_ds)
    scores = [float(normalized_score(r, r_random, r_expert)) for r in snapshot_returns]
    best, medium_ds = _medium_tier(probe, snapshots.items, scores, episodes, out, seed)
    step, ret, _ = snapshots.items[best]
    # 4. medium-replay: the replay buffer's first `step` transitions, in 200-step episodes
    ends_at = [s for s, _, _ in snapshots.items if s <= step]
    replay_ds = _replay_dataset(agent, np.diff(np.r_[0, ends_at]).astype(np.int64))
    replay_ds.save(out / "medium-replay.npz")
    tiers = {"random": random_ds, "medium": medium_ds, "expert": expert_ds}
    tiers["medium-replay"] = replay_ds
    info = {
        "env_id": ENV_ID,
        "seed": seed,
        "train_steps": train_steps,
        "expert_snapshot_step": int(snapshots.items[expert_index][0]),
        "medium_snapshot_step": int(step),
        "medium_snapshot_episode_return": float(ret),
        "medium_snapshot_score": scores[best],
        "snapshot_scores": scores,
        "random_return": r_random,
        "expert_return": r_expert,
        "tiers": _tier_summary(tiers, r_random, r_expert),
        "training_returns": [float(r) for r in history.returns],
    }
    paths = {name: out / f"{name}.npz" for name in tiers}
    paths["info"] = out / "tiers.json"
    paths["info"].write_text(json.dumps(info, indent=1))
    return paths


def _medium_tier(
    probe: Any, items: list, scores: list[float], episodes: int, out: Path, seed: int
) -> tuple[int, Any]:
    """(index, dataset): the snapshot whose own evaluation scores closest to 100/3, and the
    ``episodes`` of its stochastic policy written to ``out/medium.npz``."""
    from rlcore.data import collect

    best = int(np.argmin(np.abs(np.asarray(scores) - 100.0 / 3.0)))
    probe.actor.load_state_dict(items[best][2])
    return best, collect(
        ENV_ID, episodes, out / "medium.npz", seed + 3, policy=_SampledPolicy(probe)
    )


def _reference_tiers(
    env: Any, probe: Any, expert_weights: Any, episodes: int, out: Path, seed: int, train_steps: int
) -> tuple[Any, Any]:
    """The random tier (uniform actions) and the expert tier (``probe`` with the best snapshot's
    actor), written to ``out``; refused when the expert is no better than random."""
    from rlcore.data import collect

    random_ds = collect(
        ENV_ID, episodes, out / "random.npz", seed + 1, policy=_UniformPolicy(env.action_space)
    )
    probe.actor.load_state_dict(expert_weights)
    expert_ds = collect(
        ENV_ID, episodes, out / "expert.npz", seed + 2, policy=_SampledPolicy(probe)
    )
    r_random, r_expert = _mean_return(random_ds), _mean_return(expert_ds)
    if r_expert <= r_random:
        raise ValueError(
            f"after train_steps={train_steps} SAC's best policy returns {r_expert:.1f}, no better "
            f"than random ({r_random:.1f}), so there is no expert tier; raise train_steps "
            "(10,000 reaches about -150)."
        )
    return random_ds, expert_ds


def _snapshot_returns(probe: Any, items: list, eval_episodes: int, seed: int) -> list[float]:
    """Each actor snapshot's mean return over ``eval_episodes`` episodes of its stochastic
    policy, run through ``probe`` (an agent whose actor takes each snapshot's weights)."""
    from rlcore.loop import run

    means = []
    for i, (_, _, weights) in enumerate(items):
        probe.actor.load_state_dict(weights)
        policy = _SampledPolicy(probe)
        returns = run(policy, ENV_ID, episodes=eval_episodes, seed=seed + 10 + i, progress=False)
        means.append(float(np.mean(returns.returns)))
    return means


def _tier_summary(datasets: dict[str, Any], r_random: float, r_expert: float) -> dict[str, Any]:
    """Steps, episodes, mean return and D4RL normalised score of each tier."""
    return {
        name: {
            "steps": ds.n_steps,
            "episodes": ds.n_episodes,
            "mean_return": _mean_return(ds),
            "normalized_score": float(normalized_score(_mean_return(ds), r_random, r_expert)),
        }
        for name, ds in datasets.items()
    }


def _replay_dataset(agent: Any, lengths: np.ndarray) -> Any:
    """The replay buffer's first sum(lengths) transitions as an ``EpisodeDataset`` of episodes
    with these lengths (actions back in the env's units; an episode ends terminated where its
    stored discount is 0, else truncated)."""
    from rlcore.data import EpisodeDataset

    replay = agent.replay
    n = int(lengths.sum())
    ends = np.cumsum(lengths) - 1
    terminations = np.zeros(n, dtype=bool)
    terminations[ends] = replay.discount_t[ends] == 0.0
    truncations = np.zeros(n, dtype=bool)
    truncations[ends] = ~terminations[ends]
    return EpisodeDataset(
        observations=replay.obs_tm1[:n].copy(),
        actions=agent.action_center + agent.action_half * replay.a_tm1[:n],
        rewards=replay.r_t[:n].astype(np.float64),
        next_observations=replay.obs_t[:n].copy(),
        terminations=terminations,
        truncations=truncations,
        episode_lengths=lengths,
        env_id=ENV_ID,
    )


def _mean_return(dataset: Any) -> float:
    starts = dataset.episode_starts
    return float(np.add.reduceat(dataset.rewards, starts).mean())
