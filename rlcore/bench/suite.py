"""What a benchmark is: frozen, typed descriptions of agents, envs, budgets and the protocol.

A ``Suite`` is a set of ``Grid`` s; a grid crosses its agents with its envs under one ``Budget``
and ``EvalProtocol`` (a tabular agent does not go on CartPole, so a suite is a union of grids, not
one big cross product). Agents and envs are referred to by name only (registry name, gymnasium
id) with JSON configs, so a suite is plain data: it has a stable hash, goes into every run's
config file, and travels to worker processes or Ray nodes as a dict.

    suite = Suite(
        name="my_suite",
        grids=(Grid(agents=(AgentSpec("agents.q_learning", {"alpha": 0.5}),),
                    envs=(EnvSpec("CliffWalking-v1", max_episode_steps=1000),),
                    budget=Budget(episodes=200)),),
        seeds=5,
    )
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Literal

from rlcore.validation import check_choice, check_int

_LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")


def _frozen_json(what: str, config: Mapping[str, Any]) -> Mapping[str, Any]:
    """A read-only copy of a JSON-serialisable mapping with string keys (else a clear error)."""
    if not isinstance(config, Mapping):
        raise TypeError(f"{what} must be a mapping of option -> JSON value, got {config!r}")
    for key in config:
        if not isinstance(key, str) or not key.isidentifier():
            raise ValueError(f"{what} keys must be Python identifiers, got {key!r}")
    try:
        json.dumps(dict(config), allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"{what} must hold only JSON values (numbers, strings, bools, None, lists, dicts) so "
            f"that runs can be recorded and sent to workers; {dict(config)!r}: {err}"
        ) from None
    return MappingProxyType(json.loads(json.dumps(dict(config))))


def _label(label: str, default: str, what: str) -> str:
    label = label or _UNSAFE.sub("-", default).strip("-").replace("__", "_")
    if not isinstance(label, str) or not _LABEL_RE.match(label) or "__" in label:
        raise ValueError(
            f"{what} label {label!r} must start with a letter or digit and contain only letters, "
            "digits, '_', '.', '-', without '__' (it names run directories, joined by '__')."
        )
    return label


def _to_json(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    return value


@dataclass(frozen=True)
class AgentSpec:
    """An agent by registry name with its constructor options.

    Built in each run as ``rlcore.make(name, env, seed=run_seed, **config)``.

    Attributes:
        name: registry name, e.g. ``"agents.q_learning"`` or ``"policies.random"``.
        config: constructor options (JSON values); ``seed`` is not allowed, the suite sets it.
        label: short name in run ids, tables and plots; default: the name without namespace.
    """

    name: str
    config: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or "." not in self.name:
            raise ValueError(
                f"agent name must be a registry name such as 'agents.sarsa', got {self.name!r}"
            )
        config = _frozen_json(f"config of {self.name}", self.config)
        if "seed" in config:
            raise ValueError(
                f"config of {self.name} sets 'seed'; seeds come from the suite (Suite.seeds, "
                "Suite.base_seed), one per run: remove it."
            )
        object.__setattr__(self, "config", config)
        object.__setattr__(self, "label", _label(self.label, self.name.split(".", 1)[1], "agent"))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "config": _to_json(self.config), "label": self.label}


@dataclass(frozen=True)
class EnvSpec:
    """An environment by gymnasium id.

    Attributes:
        id: gymnasium id, e.g. ``"CliffWalking-v1"`` or ``"rlcore/WindyGridworld-v0"``.
        kwargs: options for ``gymnasium.make`` (JSON values), e.g. ``{"is_slippery": False}``.
        max_episode_steps: cut episodes at this length (``rlcore.run``'s option); None: the env's
            own limit only.
        label: short name in run ids, tables and plots; default: the id with '/' as '-'.
        score_range: (reference low, reference high) scores, e.g. (random policy, optimal), used
            to normalise scores to ``(score - low) / (high - low)`` for aggregates over envs;
            envs without it are left out of those aggregates.
    """

    id: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    max_episode_steps: int | None = None
    label: str = ""
    score_range: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(
                f"env id must be a gymnasium id such as 'FrozenLake-v1', got {self.id!r}"
            )
        object.__setattr__(self, "kwargs", _frozen_json(f"kwargs of {self.id}", self.kwargs))
        if self.max_episode_steps is not None:
            check_int("max_episode_steps", self.max_episode_steps, 1)
        if self.score_range is not None:
            low, high = (float(v) for v in self.score_range)
            if not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise ValueError(
                    f"score_range of {self.id} must be finite (low, high) with low < high, got "
                    f"{self.score_range!r}"
                )
            object.__setattr__(self, "score_range", (low, high))
        object.__setattr__(self, "label", _label(self.label, self.id, "env"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kwargs": _to_json(self.kwargs),
            "max_episode_steps": self.max_episode_steps,
            "label": self.label,
            "score_range": None if self.score_range is None else list(self.score_range),
        }


@dataclass(frozen=True)
class Budget:
    """How long each run trains: ``episodes`` and/or ``steps`` (the first reached ends it)."""

    episodes: int | None = None
    steps: int | None = None

    def __post_init__(self) -> None:
        if self.episodes is None and self.steps is None:
            raise ValueError("a Budget needs episodes=N and/or steps=N (positive integers)")
        if self.episodes is not None:
            check_int("budget episodes", self.episodes, 1)
        if self.steps is not None:
            check_int("budget steps", self.steps, 1)

    def to_dict(self) -> dict[str, Any]:
        return {"episodes": self.episodes, "steps": self.steps}


@dataclass(frozen=True)
class EvalProtocol:
    """How a run is scored, and how learning curves are drawn.

    Attributes:
        score: ``"last_episodes"``: the final score is the mean return of the last
            ``last_episodes`` training episodes (the book's and rliable's usual choice for
            tabular learners); ``"evaluation"``: the mean return of ``eval_episodes`` episodes run
            after training with ``explore=False, learn=False`` (greedy evaluation).
        last_episodes: training episodes averaged for ``"last_episodes"`` (fewer if the run had
            fewer; a run with no finished episode has no score).
        eval_episodes: greedy evaluation episodes after training (0: none).
        curve_points: points of the learning curve (returns averaged in equal windows of
            episodes, or of steps for a step budget).
    """

    score: Literal["last_episodes", "evaluation"] = "last_episodes"
    last_episodes: int = 10
    eval_episodes: int = 0
    curve_points: int = 50

    def __post_init__(self) -> None:
        check_choice("score", self.score, ("last_episodes", "evaluation"))
        check_int("last_episodes", self.last_episodes, 1)
        check_int("eval_episodes", self.eval_episodes, 0)
        check_int("curve_points", self.curve_points, 2)
        if self.score == "evaluation" and self.eval_episodes < 1:
            raise ValueError(
                "score='evaluation' needs eval_episodes >= 1 (greedy episodes after training)"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "last_episodes": self.last_episodes,
            "eval_episodes": self.eval_episodes,
            "curve_points": self.curve_points,
        }


@dataclass(frozen=True)
class Grid:
    """Every agent of ``agents`` on every env of ``envs``, under one budget and protocol."""

    agents: tuple[AgentSpec, ...]
    envs: tuple[EnvSpec, ...]
    budget: Budget
    protocol: EvalProtocol = EvalProtocol()

    def __post_init__(self) -> None:
        object.__setattr__(self, "agents", tuple(self.agents))
        object.__setattr__(self, "envs", tuple(self.envs))
        if not self.agents or not self.envs:
            raise ValueError("a Grid needs at least one agent and one env")
        for a in self.agents:
            if not isinstance(a, AgentSpec):
                raise TypeError(f"Grid.agents holds AgentSpec objects, got {a!r}")
        for e in self.envs:
            if not isinstance(e, EnvSpec):
                raise TypeError(f"Grid.envs holds EnvSpec objects, got {e!r}")
        if not isinstance(self.budget, Budget) or not isinstance(self.protocol, EvalProtocol):
            raise TypeError("Grid.budget must be a Budget and Grid.protocol an EvalProtocol")

    def to_dict(self) -> dict[str, Any]:
        return {
            "agents": [a.to_dict() for a in self.agents],
            "envs": [e.to_dict() for e in self.envs],
            "budget": self.budget.to_dict(),
            "protocol": self.protocol.to_dict(),
        }


@dataclass(frozen=True)
class Suite:
    """A benchmark: grids of (agent, env) cells, each run with ``seeds`` seeds.

    Attributes:
        name: the suite's name (also its registry name's tail, e.g. "smoke").
        grids: the (agents x envs) blocks; each (agent label, env label) cell appears once.
        seeds: runs per cell (``rlcore bench --seeds N`` overrides it).
        base_seed: root of every run's seed (see ``rlcore.bench.expansion.derive_seed``).
        imports: modules (or ``.py`` files) that workers import before building agents, for
            agents exported outside rlcore (not part of the hash: where code lives does not
            change results).
        description: free text for the report (not part of the hash).
    """

    name: str
    grids: tuple[Grid, ...]
    seeds: int = 5
    base_seed: int = 0
    imports: tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        _label(self.name, self.name, "suite")
        object.__setattr__(self, "grids", tuple(self.grids))
        object.__setattr__(self, "imports", tuple(self.imports))
        if not self.grids:
            raise ValueError(f"suite {self.name!r} has no grids")
        check_int("seeds", self.seeds, 1, hint="A suite needs at least one seed per cell.")
        check_int("base_seed", self.base_seed, 0)
        seen: dict[tuple[str, str], int] = {}
        agent_names: dict[str, str] = {}
        for g, grid in enumerate(self.grids):
            if not isinstance(grid, Grid):
                raise TypeError(f"Suite.grids holds Grid objects, got {grid!r}")
            for agent in grid.agents:
                # One label, one algorithm (its config may differ between grids: per-env tuning).
                other = agent_names.setdefault(agent.label, agent.name)
                if other != agent.name:
                    raise ValueError(
                        f"suite {self.name!r}: agent label {agent.label!r} names both {other!r} "
                        f"and {agent.name!r}; give them different labels."
                    )
                for env in grid.envs:
                    cell = (agent.label, env.label)
                    if cell in seen:
                        raise ValueError(
                            f"suite {self.name!r}: cell {cell} appears in grid {seen[cell]} and "
                            f"grid {g}; each (agent, env) pair must appear once (use labels to "
                            "run one agent with two configs)."
                        )
                    seen[cell] = g

    @property
    def cells(self) -> list[tuple[AgentSpec, EnvSpec, Grid]]:
        """(agent, env, grid) for every cell, in suite order."""
        return [(a, e, g) for g in self.grids for e in g.envs for a in g.agents]

    @property
    def hash(self) -> str:
        """16 hex digits of SHA-256 over the canonical JSON of everything that affects results
        (all fields but ``description`` and ``imports``)."""
        data = self.to_dict()
        data.pop("description")
        data.pop("imports")
        text = json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def with_seeds(self, seeds: int) -> Suite:
        """The same suite with another number of seeds per cell (a different hash)."""
        check_int("seeds", seeds, 1, hint="Run at least one seed per (agent, env) cell.")
        return replace(self, seeds=seeds)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "grids": [g.to_dict() for g in self.grids],
            "seeds": self.seeds,
            "base_seed": self.base_seed,
            "imports": list(self.imports),
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Suite:
        grids = tuple(
            Grid(
                agents=tuple(AgentSpec(**a) for a in g["agents"]),
                envs=tuple(
                    EnvSpec(**{**e, "score_range": _pair(e.get("score_range"))}) for e in g["envs"]
                ),
                budget=Budget(**g["budget"]),
                protocol=EvalProtocol(**g["protocol"]),
            )
            for g in data["grids"]
        )
        return cls(
            name=data["name"],
            grids=grids,
            seeds=data["seeds"],
            base_seed=data["base_seed"],
            imports=tuple(data.get("imports", ())),
            description=data.get("description", ""),
        )


def _pair(value: Any) -> tuple[float, float] | None:
    return None if value is None else (float(value[0]), float(value[1]))
