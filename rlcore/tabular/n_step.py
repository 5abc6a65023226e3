"""n-step bootstrapping: n-step TD prediction, n-step Sarsa (on- and off-policy), tree backup.

Sutton & Barto (2018) chapter 7. Each agent keeps a window of the last n steps of the episode
(S_tau, A_tau, R_{tau+1}), ..., and when the window is full (or the episode ends) updates the
oldest state with the n-step return of the window, computed by ``rlcore.returns``:

    n-step TD      G = R_{tau+1} + ... + gamma^{n-1} R_{tau+n} + gamma^n V(S_{tau+n})     (7.2)
    n-step Sarsa   the same with Q(S_{tau+n}, A_{tau+n}), weighted off-policy by
                   rho = prod_{i=tau+1}^{min(tau+n, T-1)} pi(A_i | S_i) / b(A_i | S_i)   (7.9, 7.11)
    tree backup    ``tree_backup_returns`` over the window, no importance sampling       (7.16)

At termination the remaining window is flushed with no bootstrap; at truncation (time limit) it
is flushed bootstrapping from the last state reached, which is not terminal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, final

import numpy as np

from rlcore.registry import export
from rlcore.returns import discounted_returns, importance_ratio, tree_backup_returns
from rlcore.tabular.base import (
    ControlAgent,
    PredictionAgent,
    check_alpha,
    check_epsilon,
    check_gamma,
    check_initial,
    check_n,
)
from rlcore.tabular.policies import epsilon_greedy_probs
from rlcore.types import Transition


@dataclass(frozen=True)
class NStepConfig:
    """Settings of the n-step control agents.

    Attributes:
        n: number of steps in each return, >= 1.
        alpha: step size in (0, 1].
        epsilon: behaviour policy's exploration probability in [0, 1] (epsilon-greedy in Q).
        gamma: discount in [0, 1].
        initial_value: initial value of every Q(s, a).
        off_policy: n-step Sarsa only: learn about the target policy (epsilon-greedy in Q with
            ``target_epsilon``) from the epsilon-greedy behaviour, weighting each update by the
            importance ratio (§7.3). Tree backup is always off-policy and needs no ratios.
        target_epsilon: the target policy's epsilon in [0, 1] (0: greedy) when off-policy.
    """

    n: int = 4
    alpha: float = 0.1
    epsilon: float = 0.1
    gamma: float = 1.0
    initial_value: float = 0.0
    off_policy: bool = False
    target_epsilon: float = 0.0

    def __post_init__(self) -> None:
        check_n(self.n)
        check_alpha(self.alpha)
        check_epsilon(self.epsilon)
        check_gamma(self.gamma)
        check_initial(self.initial_value)
        check_epsilon(self.target_epsilon, "target_epsilon")
        if self.off_policy and self.epsilon == 0 and self.target_epsilon > 0:
            raise ValueError(
                f"off-policy n-step Sarsa with epsilon=0 and target_epsilon={self.target_epsilon}"
                ": the greedy behaviour policy gives probability 0 to actions the target policy "
                "takes, so importance sampling is undefined (coverage, Sutton & Barto §5.5). "
                "Use a behaviour epsilon > 0."
            )


@dataclass(frozen=True)
class NStepPredictionConfig:
    """Settings of n-step TD prediction: ``n`` >= 1 steps, step size ``alpha`` in (0, 1],
    discount ``gamma`` in [0, 1], and the initial value of every V(s)."""

    n: int = 4
    alpha: float = 0.1
    gamma: float = 1.0
    initial_value: float = 0.0

    def __post_init__(self) -> None:
        check_n(self.n)
        check_alpha(self.alpha)
        check_gamma(self.gamma)
        check_initial(self.initial_value)


@final
@export("agents.n_step_td")
class NStepTD(PredictionAgent):
    """n-step TD prediction of v_pi (Sutton & Barto (2018) §7.1).

    V(S_tau) <- V(S_tau) + alpha [G_{tau:tau+n} - V(S_tau)], eq. 7.2.

    Args:
        env: the env, or a pair (observation_space, action_space); both Discrete.
        policy: the policy to evaluate (an (S, A) array or tabular policy; default uniform).
        config: an ``NStepPredictionConfig``, or its fields as keywords (``n``, ``alpha``,
            ``gamma``, ``initial_value``).
        seed: seed of the agent's generator.
    """

    name = "agents.n_step_td"
    Config = NStepPredictionConfig

    def __init__(self, env: Any, policy: Any = None, config=None, *, seed=None, **kwargs) -> None:
        super().__init__(env, policy, config, kwargs, seed)
        self.reset()

    def reset(self) -> None:
        """Start an episode: empty the window."""
        self._states: list[int] = []
        self._rewards: list[float] = []

    def observe(self, transition: Transition) -> None:
        s, _, r, s2, terminated, truncated = transition[:6]
        self._states.append(s)
        self._rewards.append(float(r))
        if terminated or truncated:
            while self._states:
                self._update_oldest(s2, terminated)
        elif len(self._states) == self.config.n:
            self._update_oldest(s2, False)

    def _update_oldest(self, s_last: int, terminal: bool) -> None:
        v_boot = 0.0 if terminal else self._v[s_last]
        g = discounted_returns(self._rewards, self.config.gamma, v_boot)[0]
        s = self._states.pop(0)
        self._rewards.pop(0)
        self._v[s] += self.config.alpha * (g - self._v[s])


class _Window:
    """The last n steps (S_tau, A_tau, R_{tau+1}), ... of the current episode."""

    __slots__ = ("states", "actions", "rewards")

    def __init__(self) -> None:
        self.states: list[int] = []
        self.actions: list[int] = []
        self.rewards: list[float] = []

    def push(self, s: int, a: int, r: float) -> None:
        self.states.append(s)
        self.actions.append(a)
        self.rewards.append(float(r))

    def pop(self) -> tuple[int, int]:
        self.rewards.pop(0)
        return self.states.pop(0), self.actions.pop(0)


class _NStepControlAgent(ControlAgent):
    """The chapter-7 control loop shared by n-step Sarsa and tree backup: push the step, choose
    A_{t+1}, update the oldest step (``_update_oldest``) when the window is full, flush the
    window when the episode ends (§7.2's pseudocode)."""

    Config = NStepConfig

    def __init__(self, env: Any, config=None, *, seed=None, **kwargs) -> None:
        super().__init__(env, config, kwargs, seed)
        self.reset()

    def reset(self) -> None:
        """Start an episode: empty the window and forget the pre-chosen action."""
        super().reset()
        self._window = _Window()

    def observe(self, transition: Transition) -> None:
        s, a, r, s2, terminated, truncated = transition[:6]
        if self._offered is not None:
            self._see_next(transition)
        window = self._window
        window.push(s, a, r)
        a2 = self._next_action(s2, terminated, truncated)  # None at termination
        if terminated or truncated:
            while window.states:
                self._update_oldest(s2, a2)
        elif len(window.states) == self.config.n:
            self._update_oldest(s2, a2)

    def _update_oldest(self, s_last: int, a_last: int | None) -> None:
        raise NotImplementedError


@final
@export("agents.n_step_sarsa")
class NStepSarsa(_NStepControlAgent):
    """n-step Sarsa, on-policy or off-policy with importance sampling (S&B (2018) §7.2-7.3).

    Q(S_tau, A_tau) <- Q(S_tau, A_tau) + alpha rho [G_{tau:tau+n} - Q(S_tau, A_tau)] with
    G bootstrapped from Q(S_{tau+n}, A_{tau+n}) (eq. 7.4) and rho = 1 on-policy, else
    prod_{i=tau+1}^{min(tau+n, T-1)} pi(A_i | S_i) / b(A_i | S_i) (eq. 7.11), pi epsilon-greedy
    with ``target_epsilon`` and b epsilon-greedy with ``epsilon``, both in the current Q.

    Args:
        env: the env, or a pair (observation_space, action_space); both Discrete.
        config: an ``NStepConfig``, or its fields as keywords (``n``, ``alpha``, ``epsilon``,
            ``gamma``, ``initial_value``, ``off_policy``, ``target_epsilon``).
        seed: seed of the agent's generator.
    """

    name = "agents.n_step_sarsa"

    def _update_oldest(self, s_last: int, a_last: int | None) -> None:
        c = self.config
        w = self._window
        q_boot = 0.0 if a_last is None else self._q[s_last][a_last]
        g = discounted_returns(w.rewards, c.gamma, q_boot)[0]
        rho = 1.0
        if c.off_policy:
            # A_{tau+1}, ..., A_{min(tau+n, T-1)}: the later window actions and the bootstrap one
            later = list(zip(w.states[1:], w.actions[1:]))
            if a_last is not None:
                later.append((s_last, a_last))
            for s_i, a_i in later:
                row, mask = np.asarray(self._q[s_i]), self._mask(s_i)
                rho *= importance_ratio(
                    epsilon_greedy_probs(row, c.target_epsilon, mask)[a_i],
                    epsilon_greedy_probs(row, c.epsilon, mask)[a_i],
                )
        s, a = w.pop()
        row = self._q[s]
        row[a] += c.alpha * rho * (g - row[a])


@final
@export("agents.tree_backup")
class TreeBackup(_NStepControlAgent):
    """n-step tree backup, off-policy without importance sampling (S&B (2018) §7.5).

    The target policy is epsilon-greedy in Q with ``target_epsilon`` (default 0: greedy); the
    behaviour policy epsilon-greedy with ``epsilon``. With n = 1 and a greedy target this is
    Q-learning. ``off_policy`` is ignored (tree backup is off-policy by construction).

    Args: as ``NStepSarsa``.
    """

    name = "agents.tree_backup"

    def _update_oldest(self, s_last: int, a_last: int | None) -> None:
        c = self.config
        w = self._window
        m = len(w.rewards)
        # The states reached by the window's steps, S_{tau+1}..S_{tau+m}, and the actions taken
        # there (the last one is not used by the return).
        reached = w.states[1:] + [s_last]
        actions = w.actions[1:] + [0 if a_last is None else a_last]
        q_t = np.asarray([self._q[s_i] for s_i in reached])  # (m, A)
        discount_t = np.full(m, c.gamma)
        if a_last is None:
            discount_t[-1] = 0.0
        mask = None
        if self._offered is not None:  # pi over the actions each reached state offers
            every = [True] * self.n_actions
            mask = np.asarray([self._mask(s_i) or every for s_i in reached])
        g = tree_backup_returns(
            w.rewards, discount_t, q_t, actions, epsilon_greedy_probs(q_t, c.target_epsilon, mask)
        )[0]
        s, a = w.pop()
        row = self._q[s]
        row[a] += c.alpha * (g - row[a])
