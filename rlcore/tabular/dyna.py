"""Planning and learning: Dyna-Q, Dyna-Q+ and prioritized sweeping (S&B (2018) chapter 8).

Each agent learns a deterministic table model (S, A) -> (R, S', terminated) from the last
outcome seen, takes a Q-learning step on every real transition, and then ``n`` planning steps,
each a Q-learning update on a transition simulated from the model:

    Dyna-Q                 (S, A) uniform among the pairs seen so far (a seen state, then one of
                           its tried actions), §8.2
    Dyna-Q+                the same, every action of a seen state allowed (untried ones lead back
                           to the state with reward 0), with bonus reward kappa sqrt(tau), tau the
                           number of steps since (S, A) was last tried for real, §8.3
    prioritized sweeping   (S, A) of largest |TD error| first, then its predecessors, §8.4

In a stochastic env the model keeps the latest outcome of each pair (as the book's Dyna-Q does).
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Any, final

import numpy as np

from rlcore.registry import export
from rlcore.returns import q_learning_target
from rlcore.tabular.base import (
    ControlAgent,
    check_alpha,
    check_epsilon,
    check_gamma,
    check_initial,
)
from rlcore.types import Transition
from rlcore.validation import check_int, check_range


@dataclass(frozen=True)
class DynaConfig:
    """Settings of Dyna-Q, Dyna-Q+ and prioritized sweeping.

    Attributes:
        n: planning steps per real step, >= 0 (the book's n; 0 is its direct-RL curve in
            Figure 8.2: one-step tabular Q-learning, the same numbers as ``agents.q_learning``
            with the same seed).
        alpha: step size in (0, 1].
        epsilon: exploration probability in [0, 1] (epsilon-greedy in Q).
        gamma: discount in [0, 1].
        initial_value: initial value of every Q(s, a).
        kappa: Dyna-Q+ exploration bonus weight (>= 0); ignored by the other agents.
        theta: prioritized sweeping's priority threshold (>= 0); ignored by the others.
    """

    n: int = 5
    alpha: float = 0.1
    epsilon: float = 0.1
    gamma: float = 0.95
    initial_value: float = 0.0
    kappa: float = 1e-3
    theta: float = 1e-4

    def __post_init__(self) -> None:
        check_int(
            "n",
            self.n,
            0,
            hint="n counts planning steps per real step: 0 (direct RL only, Q-learning) or more.",
        )
        check_alpha(self.alpha)
        check_epsilon(self.epsilon)
        check_gamma(self.gamma)
        check_initial(self.initial_value)
        check_range("kappa", self.kappa, 0.0, hint="The bonus weight kappa must be >= 0.")
        check_range("theta", self.theta, 0.0, hint="The priority threshold theta must be >= 0.")


class _Model:
    """A deterministic table model: the last (R, S', terminated) seen for each (S, A)."""

    def __init__(self, n_states: int, n_actions: int) -> None:
        self.reward = [[0.0] * n_actions for _ in range(n_states)]
        self.next_state = [[0] * n_actions for _ in range(n_states)]
        self.terminated = [[False] * n_actions for _ in range(n_states)]
        self.known = [[False] * n_actions for _ in range(n_states)]
        self.states: list[int] = []  # seen states, in the order first seen
        self.actions: dict[int, list[int]] = {}  # state -> known actions, in the order first seen
        self.order: list[tuple[int, int]] = []  # known pairs, in the order first stored

    def store(self, s: int, a: int, r: float, s2: int, terminated: bool) -> None:
        if s not in self.actions:
            self.states.append(s)
            self.actions[s] = []
        if not self.known[s][a]:
            self.known[s][a] = True
            self.actions[s].append(a)
            self.order.append((s, a))
        self.reward[s][a] = float(r)
        self.next_state[s][a] = int(s2)
        self.terminated[s][a] = bool(terminated)

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "model_reward": np.asarray(self.reward, dtype=np.float64),
            "model_next_state": np.asarray(self.next_state, dtype=np.int64),
            "model_terminated": np.asarray(self.terminated, dtype=bool),
            "model_order": np.asarray(self.order, dtype=np.int64).reshape(-1, 2),
        }

    def load(self, arrays: dict[str, Any]) -> None:
        for s, a in np.asarray(arrays["model_order"]).tolist():
            self.store(
                s,
                a,
                float(arrays["model_reward"][s, a]),
                int(arrays["model_next_state"][s, a]),
                bool(arrays["model_terminated"][s, a]),
            )


class _DynaBase(ControlAgent):
    """The real-experience half shared by the three agents: act, Q-learning step, model."""

    Config = DynaConfig

    def __init__(self, env: Any, config=None, *, seed=None, **kwargs) -> None:
        super().__init__(env, config, kwargs, seed)
        self.model = _Model(self.n_states, self.n_actions)
        self.steps = 0  # real steps so far

    def _q_update(self, s: int, a: int, r: float, s2: int, terminated: bool) -> float:
        """One Q-learning update; returns the TD error before it."""
        c = self.config
        target = r if terminated else q_learning_target(r, c.gamma, self._row(s2))
        delta = target - self._q[s][a]
        self._q[s][a] += c.alpha * delta
        return delta

    def _pick(self) -> tuple[int, int]:
        """A seen state uniformly, then one of its known actions uniformly."""
        m = self.model
        s = m.states[int(self._uniform() * len(m.states))]
        acts = m.actions[s]
        return s, acts[int(self._uniform() * len(acts))]

    def _arrays(self) -> dict[str, np.ndarray]:
        return {**super()._arrays(), **self.model.arrays(), "steps": np.asarray(self.steps)}

    def _load_arrays(self, arrays: dict[str, Any]) -> None:
        super()._load_arrays(arrays)
        self.model.load(arrays)
        self.steps = int(arrays["steps"])


@final
@export("agents.dyna_q")
class DynaQ(_DynaBase):
    """Tabular Dyna-Q (Sutton & Barto (2018) §8.2): Q-learning on each real step, then ``n``
    Q-learning steps on transitions replayed from the learned model.

    Args:
        env: the env, or a pair (observation_space, action_space); both Discrete.
        config: a ``DynaConfig``, or its fields as keywords (``n``, ``alpha``, ``epsilon``,
            ``gamma``, ``initial_value``).
        seed: seed of the agent's generator.
    """

    name = "agents.dyna_q"

    def observe(self, transition: Transition) -> None:
        s, a, r, s2, terminated = transition[:5]
        if self._offered is not None:
            self._see_next(transition)
        self.steps += 1
        self._q_update(s, a, r, s2, terminated)  # (d) direct RL
        m = self.model
        m.store(s, a, r, s2, terminated)  # (e) model learning
        for _ in range(self.config.n):  # (f) planning
            ps, pa = self._pick()
            self._q_update(ps, pa, m.reward[ps][pa], m.next_state[ps][pa], m.terminated[ps][pa])


@final
@export("agents.dyna_q_plus")
class DynaQPlus(_DynaBase):
    """Dyna-Q+ (Sutton & Barto (2018) §8.3): Dyna-Q whose planning rewards carry the bonus
    kappa sqrt(tau), tau the steps since the pair was last tried; every action of a seen
    state may be planned, an untried one modelled as a zero-reward self-loop.

    Args: as ``DynaQ``, plus ``kappa``.
    """

    name = "agents.dyna_q_plus"

    def __init__(self, env: Any, config=None, *, seed=None, **kwargs) -> None:
        super().__init__(env, config, seed=seed, **kwargs)
        self.last_tried = [[0] * self.n_actions for _ in range(self.n_states)]

    def observe(self, transition: Transition) -> None:
        s, a, r, s2, terminated = transition[:5]
        if self._offered is not None:
            self._see_next(transition)
        m, c = self.model, self.config
        self.steps += 1
        self._q_update(s, a, r, s2, terminated)
        for state in (s, s2):
            if state not in m.actions and not (state == s2 and terminated):
                offered = self._mask(state)
                for b in range(self.n_actions):  # untried actions: back to the state, reward 0
                    if offered is None or offered[b]:
                        m.store(state, b, 0.0, state, False)
        m.store(s, a, r, s2, terminated)
        self.last_tried[s][a] = self.steps
        for _ in range(c.n):
            ps, pa = self._pick()
            tau = self.steps - self.last_tried[ps][pa]
            bonus = c.kappa * math.sqrt(tau)
            self._q_update(
                ps, pa, m.reward[ps][pa] + bonus, m.next_state[ps][pa], m.terminated[ps][pa]
            )

    def _arrays(self) -> dict[str, np.ndarray]:
        return {**super()._arrays(), "last_tried": np.asarray(self.last_tried, dtype=np.int64)}

    def _load_arrays(self, arrays: dict[str, Any]) -> None:
        super()._load_arrays(arrays)
        self.last_tried = np.asarray(arrays["last_tried"]).tolist()


@final
@export("agents.prioritized_sweeping")
class PrioritizedSweeping(_DynaBase):
    """Prioritized sweeping for a deterministic environment (Sutton & Barto (2018) §8.4).

    After each real step the pair's priority P = |R + gamma max_a Q(S', a) - Q(S, A)| enters a
    max-priority queue if P > theta; then up to ``n`` times the top pair is updated from the
    model and each predecessor (S-bar, A-bar) of its state is queued with its own priority.
    A pair already queued keeps the larger priority.

    Args: as ``DynaQ``, plus ``theta``.
    """

    name = "agents.prioritized_sweeping"

    def __init__(self, env: Any, config=None, *, seed=None, **kwargs) -> None:
        super().__init__(env, config, seed=seed, **kwargs)
        self._heap: list[tuple[float, int, int, int]] = []  # (-P, insertion count, S, A)
        self._queued: dict[tuple[int, int], float] = {}  # pair -> its current priority
        self._count = 0
        self._predecessors: dict[int, dict[tuple[int, int], None]] = {}  # S' -> ordered pairs

    def _push(self, s: int, a: int, priority: float) -> None:
        if priority <= self.config.theta or priority <= self._queued.get((s, a), -1.0):
            return
        self._queued[(s, a)] = priority
        self._count += 1
        heapq.heappush(self._heap, (-priority, self._count, s, a))

    def _pop(self) -> tuple[int, int] | None:
        while self._heap:
            neg_p, _, s, a = heapq.heappop(self._heap)
            if self._queued.get((s, a)) == -neg_p:  # skip entries superseded by a higher P
                del self._queued[(s, a)]
                return s, a
        return None

    def _store(self, s: int, a: int, r: float, s2: int, terminated: bool) -> None:
        m = self.model
        if m.known[s][a]:
            self._predecessors.get(m.next_state[s][a], {}).pop((s, a), None)
        m.store(s, a, r, s2, terminated)
        self._predecessors.setdefault(int(s2), {})[(s, a)] = None

    def _priority(self, s: int, a: int) -> float:
        m, c = self.model, self.config
        s2 = m.next_state[s][a]
        r = m.reward[s][a]
        target = r if m.terminated[s][a] else q_learning_target(r, c.gamma, self._row(s2))
        return abs(target - self._q[s][a])

    def observe(self, transition: Transition) -> None:
        s, a, r, s2, terminated = transition[:5]
        if self._offered is not None:
            self._see_next(transition)
        m = self.model
        self.steps += 1
        self._store(s, a, r, s2, terminated)
        self._push(s, a, self._priority(s, a))
        for _ in range(self.config.n):
            pair = self._pop()
            if pair is None:
                break
            ps, pa = pair
            self._q_update(ps, pa, m.reward[ps][pa], m.next_state[ps][pa], m.terminated[ps][pa])
            for bs, ba in list(self._predecessors.get(ps, {})):
                self._push(bs, ba, self._priority(bs, ba))

    def _arrays(self) -> dict[str, np.ndarray]:
        order = sorted(self._heap)
        live = [(p, s, a) for p, _, s, a in order if self._queued.get((s, a)) == -p]
        queue = np.asarray([(s, a, -p) for p, s, a in live], dtype=np.float64).reshape(-1, 3)
        predecessors = [(s2, s, a) for s2, pairs in self._predecessors.items() for s, a in pairs]
        return {
            **super()._arrays(),
            "queue": queue,
            "predecessors": np.asarray(predecessors, dtype=np.int64).reshape(-1, 3),
        }

    def _load_arrays(self, arrays: dict[str, Any]) -> None:
        super()._load_arrays(arrays)
        for s2, s, a in np.asarray(arrays["predecessors"]).tolist():
            self._predecessors.setdefault(s2, {})[(s, a)] = None
        for s, a, p in np.asarray(arrays["queue"]).tolist():
            self._push(int(s), int(a), p)
