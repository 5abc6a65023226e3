"""Data types shared by every layer: one transition, the history of a run, and the episode
structure of flat step arrays.

Time-index convention (used across rlcore, after rlax): a transition is observed at time ``t``:
``obs`` is S_t, ``action`` A_t, ``reward`` R_{t+1}, ``next_obs`` S_{t+1}. ``terminated`` means
S_{t+1} is terminal (its value is zero: bootstrap with ``gamma * (1 - terminated)``);
``truncated`` means the episode was cut by a time limit (S_{t+1} is *not* terminal, bootstrap
from it). Pure math functions name these ``q_tm1, a_tm1, r_t, discount_t, q_t``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

# The step arrays of a flat episode layout (``rlcore.data``), row i = (S_t, A_t, R_{t+1}, S_{t+1}).
STEP_KEYS: tuple[str, ...] = (
    "observations",
    "actions",
    "rewards",
    "next_observations",
    "terminations",
    "truncations",
)


class EpisodeRows:
    """The episode structure of flat step arrays stored episode after episode: a mixin for
    classes with ``rewards`` (N,) and ``episode_lengths`` (E,) attributes (``rlcore.data.
    EpisodeDataset`` and the batch estimators' ``Steps``)."""

    rewards: np.ndarray
    episode_lengths: np.ndarray

    @property
    def n_steps(self) -> int:
        return int(self.rewards.shape[0])

    @property
    def n_episodes(self) -> int:
        return int(self.episode_lengths.shape[0])

    @property
    def episode_starts(self) -> np.ndarray:
        """(E,) index of each episode's first row."""
        return np.concatenate([[0], np.cumsum(self.episode_lengths)[:-1]]).astype(np.int64)

    @property
    def episode_ids(self) -> np.ndarray:
        """(N,) the episode of each row."""
        return np.repeat(np.arange(self.n_episodes), self.episode_lengths)

    def padded_rows(self) -> np.ndarray:
        """(E, L) row index of step t of episode i, -1 past the episode's end (L = longest)."""
        lengths = self.episode_lengths
        t = np.arange(int(lengths.max()))
        rows = self.episode_starts[:, None] + t[None, :]
        return np.where(t[None, :] < lengths[:, None], rows, -1)


class Transition(NamedTuple):
    """One step of interaction, (S_t, A_t, R_{t+1}, S_{t+1}) with the episode-end flags.

    For a vector env every field carries a leading ``(num_envs,)`` axis.
    """

    obs: Any
    action: Any
    reward: float
    next_obs: Any
    terminated: bool
    truncated: bool
    info: dict | None = None

    @property
    def done(self) -> bool:
        """The episode ended here (terminated or truncated)."""
        return self.terminated or self.truncated


@dataclass
class History:
    """What one call of ``rlcore.run`` produced.

    Attributes:
        returns: undiscounted return of each finished episode.
        lengths: steps of each finished episode.
        wall_times: seconds since the start of the run at the end of each episode.
        terminated: whether each episode ended in a terminal state (False: truncated / cut).
        metrics: tag -> list of (global step, value) reported by the agent or by callbacks.
        steps: total environment steps taken.
        config: free-form description of the run (agent and env names, seed, budget).
    """

    returns: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    wall_times: list[float] = field(default_factory=list)
    terminated: list[bool] = field(default_factory=list)
    metrics: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    steps: int = 0
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def episodes(self) -> int:
        return len(self.returns)

    def returns_array(self) -> np.ndarray:
        return np.asarray(self.returns, dtype=np.float64)

    def metric(self, tag: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) arrays for one metric tag."""
        if tag not in self.metrics:
            raise KeyError(f"no metric {tag!r}; recorded tags: {sorted(self.metrics) or 'none'}")
        pairs = self.metrics[tag]
        return (
            np.asarray([s for s, _ in pairs], dtype=np.int64),
            np.asarray([v for _, v in pairs], dtype=np.float64),
        )

    def log(self, tag: str, step: int, value: float) -> None:
        self.metrics.setdefault(tag, []).append((int(step), float(value)))

    # -- serialisation (JSON and CSV; no pickle) ---------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "returns": [float(r) for r in self.returns],
            "lengths": [int(n) for n in self.lengths],
            "wall_times": [float(w) for w in self.wall_times],
            "terminated": [bool(t) for t in self.terminated],
            "metrics": {
                k: [[int(s), _json_float(v)] for s, v in v_] for k, v_ in self.metrics.items()
            },
            "steps": int(self.steps),
            "config": self.config,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        missing = {"returns", "lengths", "wall_times"} - set(data)
        if missing:
            raise ValueError(f"history data lacks keys {sorted(missing)}")
        return cls(
            returns=[float(r) for r in data["returns"]],
            lengths=[int(n) for n in data["lengths"]],
            wall_times=[float(w) for w in data["wall_times"]],
            terminated=[bool(t) for t in data.get("terminated", [])],
            metrics={
                k: [(int(s), float(v)) for s, v in pairs]
                for k, pairs in data.get("metrics", {}).items()
            },
            steps=int(data.get("steps", sum(int(n) for n in data["lengths"]))),
            config=dict(data.get("config", {})),
        )

    def save(self, path: str | Path) -> None:
        """Write ``history.json`` and ``episodes.csv`` into the directory ``path``."""
        from rlcore.checkpoint import atomic_write_text

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path / "history.json", json.dumps(self.to_dict(), indent=1))
        rows = ["episode,return,length,wall_time,terminated"]
        for i, (r, n, w) in enumerate(zip(self.returns, self.lengths, self.wall_times)):
            term = self.terminated[i] if i < len(self.terminated) else ""
            rows.append(f"{i},{r!r},{n},{w:.6f},{term}")
        atomic_write_text(path / "episodes.csv", "\n".join(rows) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> History:
        path = Path(path)
        file = path / "history.json" if path.is_dir() else path
        return cls.from_dict(json.loads(file.read_text()))


def _json_float(v: float) -> float | str:
    v = float(v)
    return v if math.isfinite(v) else repr(v)
