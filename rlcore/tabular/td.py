"""One-step temporal-difference agents: TD(0), Sarsa, Expected Sarsa, Q-learning, Double Q.

Sutton & Barto (2018) chapter 6. Each agent is the update rule of its section written with the
pure functions of ``rlcore.returns`` and ``rlcore.tabular.policies``; they differ only in the
bootstrap value of the next state:

    Sarsa            Q(S', A')                 A' the action the agent will take next
    Expected Sarsa   sum_a pi(a | S') Q(S', a)  pi epsilon-greedy (``target_epsilon``)
    Q-learning       max_a Q(S', a)
    Double Q         Q2(S', argmax_a Q1(S', a)) with the roles of Q1 and Q2 swapped at random

A terminated transition bootstraps nothing (discount 0); a truncated one (time limit) bootstraps
from S', which is not terminal.

Usage::

    agent = rlcore.make("agents.q_learning", env, alpha=0.5, epsilon=0.1, gamma=1.0, seed=0)
    rlcore.run(agent, env, episodes=500, seed=0)
    agent.q      # (n_states, n_actions) NumPy copy
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, final

import numpy as np

from rlcore.registry import export
from rlcore.returns import double_q_learning_target, q_learning_target, sarsa_target, td_target
from rlcore.tabular.base import (
    ControlAgent,
    PredictionAgent,
    check_alpha,
    check_epsilon,
    check_gamma,
    check_initial,
)
from rlcore.tabular.policies import (
    epsilon_greedy_action,
    epsilon_greedy_value,
    greedy_action,
)
from rlcore.types import Transition


@dataclass(frozen=True)
class TDConfig:
    """Settings of the one-step TD control agents.

    Attributes:
        alpha: step size in (0, 1].
        epsilon: behaviour policy's exploration probability in [0, 1] (epsilon-greedy).
        gamma: discount in [0, 1].
        initial_value: initial value of every Q(s, a) (optimistic values encourage exploration).
        target_epsilon: Expected Sarsa's target policy epsilon (None: the same as ``epsilon``,
            on-policy; 0: greedy target, which makes Expected Sarsa Q-learning). Ignored by the
            other agents.
    """

    alpha: float = 0.5
    epsilon: float = 0.1
    gamma: float = 1.0
    initial_value: float = 0.0
    target_epsilon: float | None = None

    def __post_init__(self) -> None:
        check_alpha(self.alpha)
        check_epsilon(self.epsilon)
        check_gamma(self.gamma)
        check_initial(self.initial_value)
        if self.target_epsilon is not None:
            check_epsilon(self.target_epsilon, "target_epsilon")


@dataclass(frozen=True)
class TDPredictionConfig:
    """Settings of TD(0) prediction: step size ``alpha`` in (0, 1], discount ``gamma`` in
    [0, 1], and the initial value of every V(s)."""

    alpha: float = 0.1
    gamma: float = 1.0
    initial_value: float = 0.0

    def __post_init__(self) -> None:
        check_alpha(self.alpha)
        check_gamma(self.gamma)
        check_initial(self.initial_value)


@final
@export("agents.q_learning")
class QLearning(ControlAgent):
    """Q-learning (Watkins 1989; Sutton & Barto (2018) §6.5, eq. 6.8).

    Q(S, A) <- Q(S, A) + alpha [R + gamma max_a Q(S', a) - Q(S, A)], acting epsilon-greedily.

    Args:
        env: the env, or a pair (observation_space, action_space); both Discrete.
        config: a ``TDConfig``; or give its fields as keywords (``alpha``, ``epsilon``,
            ``gamma``, ``initial_value``).
        seed: seed of the agent's generator (``rlcore.run`` reseeds it from the run's seed).
    """

    name = "agents.q_learning"
    Config = TDConfig

    def __init__(self, env: Any, config: TDConfig | None = None, *, seed=None, **kwargs) -> None:
        super().__init__(env, config, kwargs, seed)
        self._alpha, self._gamma = self.config.alpha, self.config.gamma

    def act(self, obs: int, *, explore: bool = False, mask: Any = None) -> int:
        """Epsilon-greedy (explore=True) or greedy action, ties broken at random, among the
        actions ``mask`` offers if given."""
        if mask is not None or self._offered is not None:
            return super().act(obs, explore=explore, mask=mask)
        row = self._q[obs]  # the hot path of the throughput benchmark: no pre-chosen action
        u = self._uniform_block()
        if explore:
            return epsilon_greedy_action(row, self._epsilon, u.pop(), u.pop())
        return greedy_action(row, u.pop())

    def observe(self, transition: Transition) -> None:
        s, a, r, s2, terminated = transition[:5]
        row = self._q[s]
        if self._offered is None:
            q_t = self._q[s2]
        else:  # max over the actions S_{t+1} offers
            self._see_next(transition)
            q_t = self._row(s2)
        target = r if terminated else q_learning_target(r, self._gamma, q_t)
        row[a] += self._alpha * (target - row[a])


@final
@export("agents.sarsa")
class Sarsa(ControlAgent):
    """Sarsa, on-policy TD control (Sutton & Barto (2018) §6.4, eq. 6.7).

    Q(S, A) <- Q(S, A) + alpha [R + gamma Q(S', A') - Q(S, A)], where A' is the epsilon-greedy
    action the agent will take in S': it is chosen in ``observe`` and returned by the next
    ``act(S', explore=True)``.

    Args: as ``QLearning``.
    """

    name = "agents.sarsa"
    Config = TDConfig

    def __init__(self, env: Any, config: TDConfig | None = None, *, seed=None, **kwargs) -> None:
        super().__init__(env, config, kwargs, seed)
        self._alpha, self._gamma = self.config.alpha, self.config.gamma

    def observe(self, transition: Transition) -> None:
        s, a, r, s2, terminated, truncated = transition[:6]
        if self._offered is not None:
            self._see_next(transition)
        row = self._q[s]
        a2 = self._next_action(s2, terminated, truncated)
        target = r if a2 is None else sarsa_target(r, self._gamma, self._q[s2], a2)
        row[a] += self._alpha * (target - row[a])


@final
@export("agents.expected_sarsa")
class ExpectedSarsa(ControlAgent):
    """Expected Sarsa (Sutton & Barto (2018) §6.6, eq. 6.9).

    Q(S, A) <- Q(S, A) + alpha [R + gamma sum_a pi(a | S') Q(S', a) - Q(S, A)] with pi
    epsilon-greedy in Q with ``target_epsilon`` (default: ``epsilon``, on-policy). With
    ``target_epsilon=0`` the target is Q-learning's.

    Args: as ``QLearning``, plus ``target_epsilon``.
    """

    name = "agents.expected_sarsa"
    Config = TDConfig

    def __init__(self, env: Any, config: TDConfig | None = None, *, seed=None, **kwargs) -> None:
        super().__init__(env, config, kwargs, seed)
        c = self.config
        self._alpha, self._gamma = c.alpha, c.gamma
        self._target_epsilon = c.epsilon if c.target_epsilon is None else c.target_epsilon

    def observe(self, transition: Transition) -> None:
        s, a, r, s2, terminated = transition[:5]
        if self._offered is not None:
            self._see_next(transition)
        row = self._q[s]
        if terminated:
            target = r
        else:
            v2 = epsilon_greedy_value(self._q[s2], self._target_epsilon, self._mask(s2))
            target = td_target(r, self._gamma, v2)
        row[a] += self._alpha * (target - row[a])


@final
@export("agents.double_q_learning")
class DoubleQLearning(ControlAgent):
    """Double Q-learning (van Hasselt 2010; Sutton & Barto (2018) §6.7).

    With probability 1/2: Q1(S, A) += alpha [R + gamma Q2(S', argmax_a Q1(S', a)) - Q1(S, A)],
    else the same with Q1 and Q2 swapped. Acts epsilon-greedily in Q1 + Q2. ``q`` is
    (Q1 + Q2) / 2; ``q1`` and ``q2`` are the two tables.

    Args: as ``QLearning``.
    """

    name = "agents.double_q_learning"
    Config = TDConfig

    def __init__(self, env: Any, config: TDConfig | None = None, *, seed=None, **kwargs) -> None:
        super().__init__(env, config, kwargs, seed)
        self._alpha, self._gamma = self.config.alpha, self.config.gamma
        self._q2 = self._table(float(self.config.initial_value), self.n_actions)

    @property
    def q(self) -> np.ndarray:
        """(Q1 + Q2) / 2, shape (n_states, n_actions)."""
        return (np.array(self._q) + np.array(self._q2)) / 2

    @q.setter
    def q(self, value: Any) -> None:
        self._q = self._set_table("q", value, (self.n_states, self.n_actions))
        self._q2 = [list(row) for row in self._q]

    @property
    def q1(self) -> np.ndarray:
        return np.array(self._q)

    @property
    def q2(self) -> np.ndarray:
        return np.array(self._q2)

    def _policy_action(self, obs: int, explore: bool) -> int:
        row = [a + b for a, b in zip(self._q[obs], self._q2[obs])]
        mask = self._mask(obs)
        u = self._uniform_block()
        if explore:
            return epsilon_greedy_action(row, self._epsilon, u.pop(), u.pop(), mask)
        return greedy_action(row, u.pop(), mask)

    def observe(self, transition: Transition) -> None:
        s, a, r, s2, terminated = transition[:5]
        if self._offered is not None:
            self._see_next(transition)
        q_upd, q_eval = (self._q, self._q2) if self._uniform() < 0.5 else (self._q2, self._q)
        row = q_upd[s]
        if terminated:
            target = r
        else:
            a_star = greedy_action(q_upd[s2], self._uniform(), self._mask(s2))
            target = double_q_learning_target(r, self._gamma, q_eval[s2], a_star)
        row[a] += self._alpha * (target - row[a])

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"q1": self.q1, "q2": self.q2}

    def _load_arrays(self, arrays: dict[str, Any]) -> None:
        shape = (self.n_states, self.n_actions)
        self._q = self._set_table("q1", arrays["q1"], shape)
        self._q2 = self._set_table("q2", arrays["q2"], shape)


@final
@export("agents.td0")
class TD0(PredictionAgent):
    """Tabular TD(0) prediction of v_pi for a fixed policy (Sutton & Barto (2018) §6.1).

    V(S) <- V(S) + alpha [R + gamma V(S') - V(S)], acting with ``policy``.

    Args:
        env: the env, or a pair (observation_space, action_space); both Discrete.
        policy: the policy pi to evaluate: an (S, A) probability array, a ``policies.tabular``
            or any TabularPolicy. Default: the uniform random policy.
        config: a ``TDPredictionConfig``, or its fields as keywords (``alpha``, ``gamma``).
        seed: seed of the agent's generator.
    """

    name = "agents.td0"
    Config = TDPredictionConfig

    def __init__(
        self,
        env: Any,
        policy: Any = None,
        config: TDPredictionConfig | None = None,
        *,
        seed=None,
        **kwargs,
    ) -> None:
        super().__init__(env, policy, config, kwargs, seed)

    def observe(self, transition: Transition) -> None:
        s, _, r, s2, terminated = transition[:5]
        v = self._v
        target = r if terminated else td_target(r, self.config.gamma, v[s2])
        v[s] += self.config.alpha * (target - v[s])
