"""Check an agent class against the rlcore Agent contract, and that it learns (for coursework).

``check_agent(cls)`` builds the agent on tiny MDPs whose exact solution dynamic programming
gives, runs it through ``rlcore.run`` and returns a report of plain-language pass / fail / skip
items:

- protocol: ``act(obs, *, explore=False)``, ``observe(transition)``, ``seed(seed)``, ``reset()``;
- actions: ``act`` returns an integer action inside the action space, in every state;
- observe: a short run works and ``observe`` returns None or a mapping of metric floats;
- seeding: the same seed gives the same actions and the same learning run; ``seed`` resets;
- save / load: ``rlcore.save`` then ``rlcore.load`` rebuilds the same tables and behaviour;
- learning: a control agent (one with a ``q`` table) learns the optimal greedy policy of a small
  chain whose "right" action alternates between states; a prediction agent (one with ``v``)
  estimates the values of the uniform random policy on a five-state walk.

``check_agent_main("module:Class")`` (or ``"path/to/file.py:Class"``) prints the report; the
``rlcore check-agent`` command calls it. The contract test of the package runs ``check_agent``
over every tabular agent in the registry.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import tempfile
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from rlcore.envs._finite import FiniteModelEnv
from rlcore.protocols import Agent, Checkpointable

Status = Literal["pass", "fail", "skip"]

CHAIN_LENGTH = 5  # non-terminal states of the control chain


@dataclass(frozen=True)
class CheckItem:
    """One check: its name, its status and an explanation in plain words."""

    name: str
    status: Status
    detail: str

    def __str__(self) -> str:
        return f"  {self.status.upper():4s}  {self.name}: {self.detail}"


@dataclass
class AgentReport:
    """What ``check_agent`` found; ``ok`` is True when no item failed."""

    agent: str
    items: list[CheckItem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(item.status != "fail" for item in self.items)

    def failures(self) -> list[CheckItem]:
        return [item for item in self.items if item.status == "fail"]

    def __str__(self) -> str:
        counts = {s: sum(i.status == s for i in self.items) for s in ("pass", "fail", "skip")}
        lines = [f"check-agent report for {self.agent}", *map(str, self.items)]
        lines.append(
            f"{counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped: "
            + ("the agent honours the contract." if self.ok else "see the FAIL lines above.")
        )
        return "\n".join(lines)


# -- the tiny MDPs -----------------------------------------------------------------------------
class AlternatingChainEnv(FiniteModelEnv):
    """States 0..n-1 in a row and a terminal state n on the right; every step costs -1.

    In even states action 0 moves right and action 1 left; in odd states the other way round,
    so no constant action (and no "argmax picks the first action" rule) is optimal. Moving left
    from state 0 stays there. Episodes start in state 0. The optimal policy moves right.
    """

    def __init__(self, n: int = CHAIN_LENGTH) -> None:
        P: dict[int, dict[int, list[tuple[float, int, float, bool]]]] = {}
        for s in range(n):
            right = s % 2  # the action that moves right: 0 in even states, 1 in odd ones
            P[s] = {
                right: [(1.0, s + 1, -1.0, s + 1 == n)],
                1 - right: [(1.0, max(s - 1, 0), -1.0, False)],
            }
        P[n] = {0: [(1.0, n, 0.0, True)], 1: [(1.0, n, 0.0, True)]}
        isd = np.zeros(n + 1)
        isd[0] = 1.0
        super().__init__(P, isd)


class TwoActionWalkEnv(FiniteModelEnv):
    """The five-state random walk with two actions: 0 moves left, 1 moves right.

    States 0 and 6 are terminal; episodes start in 3; exiting right gives +1. Under the uniform
    random policy the values of states 1..5 are 1/6..5/6 (Sutton & Barto Example 6.2).
    """

    def __init__(self, n: int = 5) -> None:
        P: dict[int, dict[int, list[tuple[float, int, float, bool]]]] = {}
        for s in range(n + 2):
            if s in (0, n + 1):
                P[s] = {a: [(1.0, s, 0.0, True)] for a in (0, 1)}
                continue
            P[s] = {
                0: [(1.0, s - 1, 0.0, s - 1 == 0)],
                1: [(1.0, s + 1, 1.0 if s == n else 0.0, s == n)],
            }
        isd = np.zeros(n + 2)
        isd[(n + 1) // 2] = 1.0
        super().__init__(P, isd)


# -- the checks --------------------------------------------------------------------------------
def check_agent(
    cls: Callable[..., Any],
    *,
    kind: Literal["control", "prediction"] | None = None,
    episodes: int = 300,
    seed: int = 0,
    **kwargs: Any,
) -> AgentReport:
    """Run the contract and learning checks on an agent class (or a factory ``f(env)``).

    Args:
        cls: the agent class, built as ``cls(env, **kwargs)``.
        kind: "control" (compare the greedy policy of ``agent.q`` with the optimal one) or
            "prediction" (compare ``agent.v`` with v_pi of the uniform policy); default: control
            if the agent has ``q``, prediction if it has only ``v``.
        episodes: learning budget on each tiny MDP.
        seed: the seed of every run.
        **kwargs: constructor keywords (e.g. ``alpha=0.5``).

    Returns:
        An ``AgentReport``; ``print`` it for the explanation, ``report.ok`` for the verdict.
    """
    from rlcore.registry import UnknownNameError, name_of

    try:
        title = f"{name_of(cls)} ({cls.__module__}.{cls.__qualname__})"
    except UnknownNameError:
        title = f"{getattr(cls, '__module__', '?')}.{getattr(cls, '__qualname__', cls)}"
    report = AgentReport(title)

    def build(env: Any) -> Any:
        return cls(env, **kwargs)

    chain = AlternatingChainEnv()
    agent = _run_check(report, "construct", lambda: _check_construct(build, chain))
    if agent is None:
        return report
    if not _run_check(report, "protocol", lambda: _check_protocol(agent)):
        return report
    _run_check(report, "actions", lambda: _check_actions(build, chain))
    _run_check(report, "observe", lambda: _check_observe(build, chain, seed))
    _run_check(report, "seeding", lambda: _check_seeding(build, chain, seed))
    _run_check(report, "save/load", lambda: _check_save_load(build, chain, seed))
    if kind is None:
        kind = "control" if _has(agent, "q") else "prediction" if _has(agent, "v") else None
    if kind == "control":
        _run_check(report, "learning", lambda: _check_control(build, episodes, seed))
    elif kind == "prediction":
        _run_check(report, "learning", lambda: _check_prediction(build, episodes, seed))
    else:
        report.items.append(
            CheckItem(
                "learning",
                "skip",
                "the agent exposes neither q (a states x actions table) nor v (a table of state "
                "values), so its learning cannot be compared with dynamic programming; add a "
                "`q` or `v` attribute (a NumPy array) to enable this check.",
            )
        )
    return report


class _Fail(Exception):
    """A check failed; the message says why in plain words."""


class _Skip(Exception):
    """A check does not apply; the message says why."""


def _run_check(report: AgentReport, name: str, check: Callable[[], Any]) -> Any:
    try:
        result, detail = check()
    except _Fail as fail:
        report.items.append(CheckItem(name, "fail", str(fail)))
        return None
    except _Skip as skip:
        report.items.append(CheckItem(name, "skip", str(skip)))
        return None
    except Exception as err:  # the student's code raised: say where
        frame = traceback.extract_tb(err.__traceback__)[-1]
        report.items.append(
            CheckItem(
                name,
                "fail",
                f"raised {type(err).__name__}: {err} (at {Path(frame.filename).name}:"
                f"{frame.lineno}, in {frame.name}).",
            )
        )
        return None
    report.items.append(CheckItem(name, "pass", detail))
    return result if result is not None else True


def _has(agent: Any, attr: str) -> bool:
    try:
        getattr(agent, attr)
    except AttributeError:
        return False
    return True


def _check_construct(build: Callable, env: Any) -> tuple[Any, str]:
    agent = build(env)
    return agent, f"{type(agent).__name__}(env) builds on a Discrete(6) x Discrete(2) env."


def _check_protocol(agent: Any) -> tuple[bool, str]:
    missing = [m for m in ("act", "observe", "seed", "reset") if not callable(getattr(agent, m, 0))]
    if missing or not isinstance(agent, Agent):
        raise _Fail(
            f"missing method(s) {', '.join(missing) or '?'}; an Agent needs act(obs, *, "
            "explore=False) -> action, observe(transition), seed(seed) and reset() "
            "(rlcore.protocols.Agent). rlcore.run calls reset() before every episode."
        )
    return True, "act, observe, seed and reset are present."


def _check_actions(build: Callable, env: Any) -> tuple[None, str]:
    agent = build(env)
    agent.seed(0)
    n_actions = int(env.action_space.n)
    for s in range(int(env.observation_space.n) - 1):
        for explore in (False, True):
            agent.reset()
            a = agent.act(s, explore=explore)
            if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
                raise _Fail(
                    f"act({s}, explore={explore}) returned {a!r} of type {type(a).__name__}; "
                    "return a Python int (e.g. int(np.argmax(q[s])))."
                )
            if not 0 <= int(a) < n_actions:
                raise _Fail(
                    f"act({s}, explore={explore}) returned {a}, outside the action space "
                    f"0..{n_actions - 1}."
                )
    return None, "act returns an integer action in the action space in every state."


def _check_observe(build: Callable, env: Any, seed: int) -> tuple[None, str]:
    import rlcore

    agent = build(env)
    seen: list[Any] = []

    class Spy(rlcore.Callback):
        def on_step(self, step, transition, metrics):
            seen.append(metrics)

    rlcore.run(agent, env, episodes=3, seed=seed, max_episode_steps=50, callbacks=[Spy()])
    for metrics in seen:
        if metrics is None:
            continue
        if not isinstance(metrics, Mapping) or not all(
            isinstance(k, str) and isinstance(v, (int, float, np.number))
            for k, v in metrics.items()
        ):
            raise _Fail(
                f"observe returned {metrics!r}; return None or a dict of metric name -> number "
                "such as {'losses/td_error': 0.3}."
            )
    return None, f"three episodes ran through rlcore.run ({len(seen)} transitions observed)."


def _tables(agent: Any) -> dict[str, np.ndarray]:
    out = {}
    for attr in ("q", "v"):
        if _has(agent, attr):
            out[attr] = np.asarray(getattr(agent, attr), dtype=np.float64)
    return out


def _check_seeding(build: Callable, env: Any, seed: int) -> tuple[None, str]:
    import rlcore

    runs = []
    for _ in range(2):
        agent = build(env)
        history = rlcore.run(agent, env, episodes=20, seed=seed, max_episode_steps=50)
        runs.append((history.returns, history.lengths, _tables(agent), agent))
    if runs[0][:2] != runs[1][:2]:
        raise _Fail(
            "two runs with the same seed gave different episode returns; draw every random "
            "number from a generator created in seed(seed) (np.random.default_rng(seed)), "
            "never from np.random.* or random.*."
        )
    for key, table in runs[0][2].items():
        if not np.array_equal(table, runs[1][2][key]):
            raise _Fail(f"two runs with the same seed learned different {key} tables.")
    agent = runs[0][3]
    sequences = []
    for _ in range(2):
        agent.seed(seed + 1)
        agent.reset()
        sequences.append([int(agent.act(s % 5, explore=True)) for s in range(60)])
    if sequences[0] != sequences[1]:
        raise _Fail(
            "after seed(s) the same calls to act(explore=True) gave different actions; seed() "
            "must reset the agent's random generator."
        )
    return None, "the same seed gives the same run, and seed() resets the random numbers."


def _check_save_load(build: Callable, env: Any, seed: int) -> tuple[None, str]:
    import rlcore
    from rlcore.registry import UnknownNameError, name_of

    agent = build(env)
    if not isinstance(agent, Checkpointable):
        raise _Skip(
            "the agent has no state() / from_state(), so rlcore.save cannot store it "
            "(optional for coursework; see rlcore.protocols.Checkpointable)."
        )
    try:
        name_of(agent)
    except UnknownNameError as err:
        raise _Skip(
            "the class has no public name, so rlcore.load could not find it again; decorate it "
            "with @rlcore.export('agents.my_agent') to enable saving."
        ) from err
    rlcore.run(agent, env, episodes=10, seed=seed, max_episode_steps=50)
    with tempfile.TemporaryDirectory() as tmp:
        rlcore.save(agent, tmp)
        loaded = rlcore.load(tmp)
    if type(loaded) is not type(agent):
        raise _Fail(
            f"rlcore.load returned a {type(loaded).__name__}, not a {type(agent).__name__}."
        )
    before, after = agent.state()[1], loaded.state()[1]
    for key, value in before.items():
        if key not in after or not np.array_equal(np.asarray(value), np.asarray(after[key])):
            raise _Fail(f"array {key!r} differs after save and load; from_state must restore it.")
    for s in range(int(env.observation_space.n) - 1):
        agent.seed(seed)
        loaded.seed(seed)
        agent.reset()
        loaded.reset()
        if agent.act(s, explore=False) != loaded.act(s, explore=False):
            raise _Fail(f"the loaded agent acts differently from the saved one in state {s}.")
    return None, "rlcore.save then rlcore.load restores the same arrays and greedy actions."


def _check_control(build: Callable, episodes: int, seed: int) -> tuple[None, str]:
    import rlcore
    from rlcore.tabular.planning import value_iteration

    env = AlternatingChainEnv()
    n = CHAIN_LENGTH
    optimal = value_iteration(env, 1.0)
    agent = build(env)
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported below
        rlcore.run(agent, env, episodes=episodes, seed=seed, max_episode_steps=1000)
    q = np.asarray(agent.q, dtype=np.float64)
    if q.shape != (n + 1, 2):
        raise _Fail(f"agent.q has shape {q.shape}; expected (states, actions) = ({n + 1}, 2).")
    _check_finite("q", q)
    for s in range(n):
        best = int(np.argmax(optimal.q[s]))
        if not q[s, best] > q[s, 1 - best]:
            raise _Fail(
                f"after {episodes} episodes on the alternating chain (optimal: always move "
                f"right, return {optimal.v[0]:g}) the learned q[{s}] = {np.round(q[s], 3)} does "
                f"not prefer action {best}, the one that moves right (DP q*[{s}] = "
                f"{np.round(optimal.q[s], 3)}). Check the update target and that acting explores."
            )
    history = rlcore.run(agent, env, episodes=1, seed=seed, learn=False, max_episode_steps=100)
    if history.returns[0] != optimal.v[0]:
        raise _Fail(
            f"q prefers the right actions, but act(obs, explore=False) earned "
            f"{history.returns[0]:g} instead of the optimal {optimal.v[0]:g}: act must be greedy "
            "in q when explore=False."
        )
    return None, (
        f"after {episodes} episodes the greedy policy of q is the DP-optimal one on the "
        f"{n}-state alternating chain (return {optimal.v[0]:g})."
    )


def _check_finite(name: str, table: np.ndarray) -> None:
    if not np.all(np.isfinite(table)):
        raise _Fail(
            f"{name} holds non-finite values (inf or nan): the updates diverged. Check the sign "
            "of the update, value += alpha * (target - value), and that alpha is in (0, 1]."
        )


def _check_prediction(build: Callable, episodes: int, seed: int) -> tuple[None, str]:
    import rlcore
    from rlcore.tabular.planning import policy_evaluation

    env = TwoActionWalkEnv()
    uniform = np.full((7, 2), 0.5)
    v_pi = policy_evaluation(env, uniform, 1.0, method="exact").v
    agent = build(env)
    # Average v over the second half of learning to judge the estimate, not its noise.
    chunk = max(1, episodes // 20)
    snapshots = []
    for i in range(20):
        with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported below
            rlcore.run(agent, env, episodes=chunk, seed=seed + i, max_episode_steps=200)
        if i >= 10:
            snapshots.append(np.asarray(agent.v, dtype=np.float64))
    v = np.mean(snapshots, axis=0)
    if v.shape != (7,):
        raise _Fail(f"agent.v has shape {v.shape}; expected ({7},) (one value per state).")
    _check_finite("v", v)
    err = np.abs(v[1:6] - v_pi[1:6])
    rms = float(np.sqrt(np.mean(err**2)))
    if rms > 0.08 or err.max() > 0.15:
        raise _Fail(
            f"after {20 * chunk} episodes of the uniform random policy on the five-state walk, "
            f"v[1:6] averages {np.round(v[1:6], 3)}, but DP gives v_pi = "
            f"{np.round(v_pi[1:6], 3)} (RMS error {rms:.3f} > 0.08). Check the target (reward "
            "plus discounted next value, zero after termination) and that the agent follows "
            "its policy (default: uniform random)."
        )
    return None, (
        f"v approaches the DP values of the uniform policy on the five-state walk (RMS error "
        f"{rms:.3f})."
    )


# -- the command line --------------------------------------------------------------------------
def load_class(spec: str) -> Any:
    """The object named by ``"package.module:Name"`` or ``"path/to/file.py:Name"``."""
    if ":" not in spec:
        raise ValueError(
            f"{spec!r} does not name a class: use module:Class (e.g. my_agents:MyQLearning) or "
            "path/to/file.py:Class."
        )
    target, _, attr = spec.rpartition(":")
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise FileNotFoundError(f"no file {path} (from {spec!r}).")
        mod_name = f"_rlcore_check_{path.stem}"
        module_spec = importlib.util.spec_from_file_location(mod_name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[mod_name] = module
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    if not hasattr(module, attr):
        raise AttributeError(f"{target} defines no {attr!r}.")
    return getattr(module, attr)


def check_agent_main(spec: str, **kwargs: Any) -> int:
    """Print ``check_agent``'s report for ``spec`` ("module:Class" or "file.py:Class").

    Returns:
        0 if every check passed or was skipped, 1 if one failed, 2 if the class could not be
        loaded.
    """
    try:
        cls = load_class(spec)
    except Exception as err:
        print(f"check-agent: cannot load {spec!r}: {type(err).__name__}: {err}")
        return 2
    report = check_agent(cls, **kwargs)
    print(report)
    return 0 if report.ok else 1


__all__ = [
    "AgentReport",
    "AlternatingChainEnv",
    "CheckItem",
    "TwoActionWalkEnv",
    "check_agent",
    "check_agent_main",
    "load_class",
]
