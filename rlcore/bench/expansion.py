"""A suite becomes runs: one ``RunSpec`` per (seed index, cell), each with its own seed and id.

Seeds. Run ``(agent, env, i)`` gets ``derive_seed(base_seed, env.label, i)``: every agent sees the
same seed on a given env and seed index (common random numbers: the env's start states and
stochastic outcomes draw from the same stream, so agents are compared on equal terms), and a
seed never depends on which other agents or envs the suite holds, so adding a cell leaves every
other run's numbers unchanged and ``--seeds 3`` is a prefix of ``--seeds 10``.

Run ids are ``{agent label}__{env label}__s{i:03d}``: unique because a suite's cells are, and
they name the run directories, so two runs never share one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from rlcore.bench.suite import AgentSpec, Budget, EnvSpec, EvalProtocol, Suite
from rlcore.validation import check_int


def derive_seed(base_seed: int, env_label: str, seed_index: int) -> int:
    """A 32-bit run seed from the suite's base seed, the env label and the seed index.

    ``SeedSequence([base_seed, h(env_label), seed_index])`` with ``h`` the first 4 bytes of the
    label's SHA-256 (stable across processes and Python versions, unlike ``hash``).
    """
    check_int("base_seed", base_seed, 0)
    check_int("seed_index", seed_index, 0)
    env_key = int.from_bytes(hashlib.sha256(env_label.encode()).digest()[:4], "little")
    state = np.random.SeedSequence([base_seed, env_key, seed_index]).generate_state(1)
    return int(state[0])


@dataclass(frozen=True)
class RunSpec:
    """One run of a suite: everything a worker needs, as plain data."""

    index: int
    run_id: str
    agent: AgentSpec
    env: EnvSpec
    budget: Budget
    protocol: EvalProtocol
    seed_index: int
    seed: int
    suite_name: str
    suite_hash: str
    imports: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "run_id": self.run_id,
            "agent": self.agent.to_dict(),
            "env": self.env.to_dict(),
            "budget": self.budget.to_dict(),
            "protocol": self.protocol.to_dict(),
            "seed_index": self.seed_index,
            "seed": self.seed,
            "suite_name": self.suite_name,
            "suite_hash": self.suite_hash,
            "imports": list(self.imports),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunSpec:
        env = dict(data["env"])
        if env.get("score_range") is not None:
            env["score_range"] = tuple(env["score_range"])
        return cls(
            index=data["index"],
            run_id=data["run_id"],
            agent=AgentSpec(**data["agent"]),
            env=EnvSpec(**env),
            budget=Budget(**data["budget"]),
            protocol=EvalProtocol(**data["protocol"]),
            seed_index=data["seed_index"],
            seed=data["seed"],
            suite_name=data["suite_name"],
            suite_hash=data["suite_hash"],
            imports=tuple(data.get("imports", ())),
        )


def run_id(agent_label: str, env_label: str, seed_index: int) -> str:
    return f"{agent_label}__{env_label}__s{seed_index:03d}"


def expand(suite: Suite) -> tuple[RunSpec, ...]:
    """All runs of ``suite``, seed-major (every cell's seed 0 first), so a sweep cut short
    still covers every cell."""
    if not isinstance(suite, Suite):
        raise TypeError(f"expand() needs a Suite, got {type(suite).__name__}")
    suite_hash = suite.hash
    runs = []
    for i in range(suite.seeds):
        for agent, env, grid in suite.cells:
            runs.append(
                RunSpec(
                    index=len(runs),
                    run_id=run_id(agent.label, env.label, i),
                    agent=agent,
                    env=env,
                    budget=grid.budget,
                    protocol=grid.protocol,
                    seed_index=i,
                    seed=derive_seed(suite.base_seed, env.label, i),
                    suite_name=suite.name,
                    suite_hash=suite_hash,
                    imports=suite.imports,
                )
            )
    return tuple(runs)
