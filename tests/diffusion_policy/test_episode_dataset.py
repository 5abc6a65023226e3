"""The .npz episode layout: round trip, collection, and errors that name the bad keys."""

from __future__ import annotations

import numpy as np
import pytest

import rlcore
from rlcore.data import REQUIRED_KEYS, DatasetError, EpisodeDataset, collect, load_dataset

ENV_ID = "rlcore/Navigation2D-v0"


@pytest.fixture(scope="module")
def dataset() -> EpisodeDataset:
    return collect(ENV_ID, 6, seed=0)


def _arrays(dataset: EpisodeDataset) -> dict[str, np.ndarray]:
    return {k: getattr(dataset, k) for k in REQUIRED_KEYS}


def test_collect_matches_a_plain_rollout_loop(dataset):
    # Independent reconstruction: replay the recorded actions in a fresh env with the same seed
    # stream and compare observations, rewards and flags.
    import gymnasium as gym

    env = gym.make(ENV_ID)
    env_seed = int(np.random.SeedSequence(0).generate_state(3, dtype=np.uint32)[0])
    obs, _ = env.reset(seed=env_seed)
    for i, episode in enumerate(dataset.episodes()):
        if i > 0:
            obs, _ = env.reset()
        for t, action in enumerate(episode["actions"]):
            np.testing.assert_array_equal(obs, episode["observations"][t])
            obs, reward, terminated, truncated, _ = env.step(action)
            np.testing.assert_array_equal(obs, episode["next_observations"][t])
            assert reward == episode["rewards"][t]
            assert terminated == episode["terminations"][t]
    assert dataset.n_episodes == 6 and dataset.terminations.sum() == 6
    assert dataset.episode_lengths.sum() == dataset.n_steps


def test_collect_is_deterministic_and_round_trips(dataset, tmp_path):
    path = tmp_path / "nav.npz"
    again = collect(ENV_ID, 6, path, seed=0)
    loaded = load_dataset(path)
    assert loaded.env_id == ENV_ID
    for key in REQUIRED_KEYS:
        np.testing.assert_array_equal(getattr(again, key), getattr(dataset, key))
        np.testing.assert_array_equal(getattr(loaded, key), getattr(dataset, key))
    assert rlcore.get("datasets.load") is load_dataset
    other = collect(ENV_ID, 6, seed=1)
    assert not np.array_equal(other.actions[:5], dataset.actions[:5])


def test_missing_keys_are_named(dataset, tmp_path):
    arrays = _arrays(dataset)
    del arrays["rewards"], arrays["episode_lengths"]
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DatasetError, match=r"missing keys \['rewards', 'episode_lengths'\]"):
        load_dataset(tmp_path / "bad.npz")


def test_mismatched_lengths_are_named(dataset, tmp_path):
    arrays = _arrays(dataset)
    arrays["actions"] = arrays["actions"][:-1]
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DatasetError, match=r"mismatched lengths.*actions: \d+"):
        load_dataset(tmp_path / "bad.npz")


def test_episode_lengths_must_match_the_steps(dataset):
    arrays = _arrays(dataset)
    arrays["episode_lengths"] = arrays["episode_lengths"] + 1
    with pytest.raises(DatasetError, match="episode_lengths sum to"):
        EpisodeDataset(**arrays)
    arrays = _arrays(dataset)
    lengths = arrays["episode_lengths"].copy()
    lengths[0] -= 1
    lengths[1] += 1
    with pytest.raises(DatasetError, match="inside an episode"):
        EpisodeDataset(**{**arrays, "episode_lengths": lengths})


def test_flags_and_pickles_are_refused(dataset, tmp_path):
    arrays = _arrays(dataset)
    arrays["terminations"] = np.zeros_like(arrays["terminations"])
    with pytest.raises(DatasetError, match="exactly one of terminations / truncations"):
        EpisodeDataset(**arrays)
    arrays = _arrays(dataset)
    np.savez(tmp_path / "pickled.npz", **arrays, junk=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DatasetError, match="never unpickles.*from_episodes"):
        load_dataset(tmp_path / "pickled.npz")
    with pytest.raises(FileNotFoundError, match="rlcore data collect"):
        load_dataset(tmp_path / "absent.npz")


def test_unknown_expert_is_explained():
    with pytest.raises(ValueError, match="no scripted expert"):
        collect("CartPole-v1", 1)
