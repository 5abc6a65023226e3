"""Episode datasets on disk: one documented ``.npz`` layout, validated on load, and ``collect``.

Layout (``np.savez``, read with ``allow_pickle=False``; N steps in E episodes, stored flat, episode
after episode; time index as in ``rlcore.types``: row i is the transition (S_t, A_t, R_{t+1},
S_{t+1})):

    observations       (N, *obs_shape)   S_t
    actions            (N, *action_shape) A_t
    rewards            (N,) float        R_{t+1}
    next_observations  (N, *obs_shape)   S_{t+1}
    terminations       (N,) bool         S_{t+1} is terminal; only on an episode's last row
    truncations        (N,) bool         the episode was cut after this row; only on a last row
    episode_lengths    (E,) int          steps per episode, all >= 1, summing to N
    format             ()   str          "rlcore-episodes"
    version            ()   int          1
    env_id             ()   str          the gymnasium id the data came from ("" if unknown)

Every episode ends with exactly one of ``terminations`` / ``truncations`` set on its last row (an
episode cut by the collection budget counts as truncated). This is D4RL's flat layout plus
explicit episode boundaries; Minari stores the same episodes per group with T + 1 observations
(``observations[:-1]`` = our ``observations``, ``observations[1:]`` = ``next_observations``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rlcore.loop import Callback
from rlcore.registry import export
from rlcore.types import STEP_KEYS, EpisodeRows
from rlcore.validation import check_int

FORMAT = "rlcore-episodes"
VERSION = 1
REQUIRED_KEYS: tuple[str, ...] = (*STEP_KEYS, "episode_lengths")


class DatasetError(ValueError):
    """A dataset file or array set does not follow the ``rlcore.data`` layout."""


@export("datasets.episodes")
@dataclass(frozen=True, eq=False)
class EpisodeDataset(EpisodeRows):
    """Episodes stored flat (see the module docstring for the layout); validated on creation.

    Build one with :func:`collect`, :func:`load_dataset` or ``EpisodeDataset.from_episodes``.
    """

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_observations: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray
    episode_lengths: np.ndarray
    env_id: str = ""

    def __post_init__(self) -> None:
        validate(self._arrays(), source="EpisodeDataset")

    def _arrays(self) -> dict[str, np.ndarray]:
        return {key: getattr(self, key) for key in REQUIRED_KEYS}

    def episode(self, i: int) -> dict[str, np.ndarray]:
        """The rows of episode ``i`` as a dict of the step arrays."""
        check_int("episode index", i, 0, self.n_episodes - 1)
        start = int(self.episode_starts[i])
        rows = slice(start, start + int(self.episode_lengths[i]))
        return {key: getattr(self, key)[rows] for key in STEP_KEYS}

    def episodes(self) -> Iterator[dict[str, np.ndarray]]:
        for i in range(self.n_episodes):
            yield self.episode(i)

    def save(self, path: str | Path) -> Path:
        """Write the ``.npz`` file atomically (the suffix ``.npz`` is added if missing)."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".npz", dir=path.parent)
        os.close(fd)
        try:
            np.savez(
                tmp,
                **self._arrays(),
                format=np.asarray(FORMAT),
                version=np.asarray(VERSION),
                env_id=np.asarray(self.env_id),
            )
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def from_episodes(cls, episodes: list[dict[str, Any]], env_id: str = "") -> EpisodeDataset:
        """Concatenate per-episode dicts holding the six step arrays (see ``STEP_KEYS``)."""
        if not episodes:
            raise DatasetError("from_episodes needs at least one episode.")
        for i, ep in enumerate(episodes):
            missing = [k for k in STEP_KEYS if k not in ep]
            if missing:
                raise DatasetError(f"episode {i} lacks keys {missing}; each needs {STEP_KEYS}.")
        arrays = {k: np.concatenate([np.asarray(ep[k]) for ep in episodes]) for k in STEP_KEYS}
        lengths = np.asarray([len(ep["rewards"]) for ep in episodes], dtype=np.int64)
        return cls(**arrays, episode_lengths=lengths, env_id=env_id)


def validate(arrays: dict[str, np.ndarray], *, source: str) -> None:
    """Check the layout of a set of arrays; raise ``DatasetError`` naming the offending keys.

    Checks: every required key present; the step arrays share their first dimension N;
    observations and next_observations have the same shape; rewards, terminations and truncations
    are 1-D; ``episode_lengths`` is a 1-D array of positive integers summing to N; the end flags
    sit exactly on the episode ends.
    """
    missing = [k for k in REQUIRED_KEYS if k not in arrays]
    if missing:
        raise DatasetError(
            f"{source}: missing keys {missing}. An rlcore episode dataset needs "
            f"{list(REQUIRED_KEYS)} (layout in rlcore.data); regenerate it with "
            "`rlcore data collect`."
        )
    lengths = {k: np.shape(arrays[k])[0] if np.ndim(arrays[k]) else None for k in STEP_KEYS}
    if len(set(lengths.values())) != 1 or None in lengths.values():
        detail = ", ".join(f"{k}: {n}" for k, n in lengths.items())
        raise DatasetError(
            f"{source}: the per-step arrays have mismatched lengths ({detail}); all of "
            f"{list(STEP_KEYS)} need one row per step."
        )
    n = lengths["rewards"]
    if np.shape(arrays["observations"]) != np.shape(arrays["next_observations"]):
        raise DatasetError(
            f"{source}: observations {np.shape(arrays['observations'])} and next_observations "
            f"{np.shape(arrays['next_observations'])} differ in shape."
        )
    for key in ("rewards", "terminations", "truncations"):
        if np.ndim(arrays[key]) != 1:
            raise DatasetError(f"{source}: {key} must be 1-D (N,), got {np.shape(arrays[key])}.")
    for key in ("terminations", "truncations"):
        if np.asarray(arrays[key]).dtype != np.bool_:
            dtype = np.asarray(arrays[key]).dtype
            raise DatasetError(f"{source}: {key} must be bool, got {dtype}.")
    episode_lengths = np.asarray(arrays["episode_lengths"])
    if (
        episode_lengths.ndim != 1
        or not np.issubdtype(episode_lengths.dtype, np.integer)
        or np.any(episode_lengths < 1)
    ):
        raise DatasetError(
            f"{source}: episode_lengths must be a 1-D integer array of positive lengths, got "
            f"shape {episode_lengths.shape}, dtype {episode_lengths.dtype}."
        )
    if int(episode_lengths.sum()) != n:
        raise DatasetError(
            f"{source}: episode_lengths sum to {int(episode_lengths.sum())} but the per-step "
            f"arrays have {n} rows; the lengths and the step arrays do not match."
        )
    ends = np.zeros(n, dtype=bool)
    ends[np.cumsum(episode_lengths) - 1] = True
    term, trunc = np.asarray(arrays["terminations"]), np.asarray(arrays["truncations"])
    if np.any((term | trunc) & ~ends):
        raise DatasetError(
            f"{source}: terminations/truncations are set inside an episode (row "
            f"{int(np.flatnonzero((term | trunc) & ~ends)[0])}); they may only mark the last row "
            "of an episode, so episode_lengths and the end flags disagree."
        )
    if np.any(ends & (term == trunc)):
        raise DatasetError(
            f"{source}: episode ending at row {int(np.flatnonzero(ends & (term == trunc))[0])} "
            "needs exactly one of terminations / truncations set on its last row."
        )


@export("datasets.load")
def load_dataset(path: str | Path) -> EpisodeDataset:
    """Read and validate an ``.npz`` episode dataset (never unpickles).

    Raises:
        FileNotFoundError: no such file.
        DatasetError: missing keys, mismatched lengths or bad episode boundaries (named).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no dataset at {path}; create one with `rlcore data collect` or rlcore.data.collect."
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except ValueError as err:  # a pickle file, or an .npz holding object arrays
        raise DatasetError(
            f"{path} holds pickled data (a pickle file or object arrays), and rlcore never "
            "unpickles: a pickle can run code when it is read. Instead, in a session you trust, "
            "load it yourself and write its episodes as numeric arrays with "
            "rlcore.data.EpisodeDataset.from_episodes(...).save(path), or record them again with "
            "`rlcore data collect ENV_ID -n EPISODES -o FILE.npz`."
        ) from err
    if "format" in arrays and str(arrays["format"]) != FORMAT:
        raise DatasetError(f"{path}: format is {str(arrays['format'])!r}, expected {FORMAT!r}.")
    if "version" in arrays and int(arrays["version"]) != VERSION:
        raise DatasetError(
            f"{path}: layout version {int(arrays['version'])}; this rlcore reads {VERSION}."
        )
    validate(arrays, source=str(path))
    return EpisodeDataset(
        **{k: arrays[k] for k in REQUIRED_KEYS}, env_id=str(arrays.get("env_id", ""))
    )


@export("datasets.collect")
def collect(
    env_id: str,
    n_episodes: int,
    out_path: str | Path | None = None,
    seed: int = 0,
    *,
    policy: Any = None,
    env_kwargs: dict[str, Any] | None = None,
) -> EpisodeDataset:
    """Roll out ``policy`` (default: the env's scripted expert) and store the episodes.

    The episodes are run by ``rlcore.run`` (the one loop), recorded by a callback.

    Args:
        env_id: a gymnasium id, e.g. ``"rlcore/Navigation2D-v0"``.
        n_episodes: episodes to record.
        out_path: if given, the dataset is also written there (``.npz``).
        seed: seeds the env and the policy (same seed, same dataset).
        policy: a Policy; None takes ``rlcore.envs.experts.expert_for(env_id)``.
        env_kwargs: passed to ``gymnasium.make``.

    Returns:
        The dataset.
    """
    from rlcore.envs.experts import expert_for
    from rlcore.loop import run

    check_int("n_episodes", n_episodes, 1)
    if policy is None:
        policy = expert_for(env_id)
    recorder = _Recorder()
    run(
        policy,
        env_id,
        episodes=n_episodes,
        seed=seed,
        callbacks=[recorder],
        env_kwargs=env_kwargs,
        progress=False,
    )
    dataset = EpisodeDataset.from_episodes(recorder.episodes, env_id=env_id)
    if out_path is not None:
        dataset.save(out_path)
    return dataset


class _Recorder(Callback):
    """A run callback that keeps every transition, grouped by episode."""

    def __init__(self) -> None:
        self.episodes: list[dict[str, Any]] = []
        self._rows: list[Any] = []

    def on_step(self, step, transition, metrics):
        self._rows.append(transition)
        if transition.terminated or transition.truncated:
            rows, self._rows = self._rows, []
            self.episodes.append(
                {
                    "observations": np.stack([np.asarray(r.obs) for r in rows]),
                    "actions": np.stack([np.asarray(r.action) for r in rows]),
                    "rewards": np.asarray([r.reward for r in rows], dtype=np.float64),
                    "next_observations": np.stack([np.asarray(r.next_obs) for r in rows]),
                    "terminations": np.asarray([r.terminated for r in rows], dtype=bool),
                    "truncations": np.asarray(
                        [r.truncated and not r.terminated for r in rows], dtype=bool
                    ),
                }
            )
        return None
