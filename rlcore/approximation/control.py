"""Linear control: n-step semi-gradient Sarsa, Sarsa(lambda) and true online Sarsa(lambda).

Sutton & Barto (2018) chapters 10 and 12. Action values are q(s, a, w) = w . x(s, a) with one
copy of a state feature map per action (``features.state_action``); actions are epsilon-greedy
with random tie-breaking (``rlcore.tabular.policies``), and the next action A_{t+1} is chosen while
learning from step t so that the action learned about is the action taken.

    n-step semi-gradient Sarsa (§10.2, eqs. 10.4-10.5)
        w <- w + alpha [G_{tau:tau+n} - q(S_tau, A_tau, w)] x(S_tau, A_tau),
        G_{tau:tau+n} = R_{tau+1} + ... + gamma^{n-1} R_{tau+n} + gamma^n q(S_{tau+n}, A_{tau+n}, w)
    Sarsa(lambda) (§12.7, the box for binary features, generalised to any features)
        delta = R + gamma q(S', A') - q(S, A);  z <- gamma lambda z + x(S, A)   (accumulating)
        or z_i <- 1 for the active features of (S, A)                        (replacing)
        w <- w + alpha delta z
    true online Sarsa(lambda) (§12.8, dutch traces; box p. 307)

Step sizes: with tile coding of n tilings, the book writes alpha = a / n (0.5/8 in Figures 10.2
and 12.10); pass alpha already divided.

Usage::

    env = gymnasium.make("MountainCar-v0", max_episode_steps=10_000)
    agent = rlcore.make("agents.semi_gradient_sarsa", env, alpha=0.5 / 8, epsilon=0.0)
    rlcore.run(agent, env, episodes=100, seed=0)
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Literal, final

import numpy as np

from rlcore.approximation.base import LinearControlAgent
from rlcore.approximation.features import add_gradient_, dense_features, is_sparse, linear_value
from rlcore.registry import export
from rlcore.returns import discounted_returns
from rlcore.tabular.base import (
    check_alpha,
    check_epsilon,
    check_gamma,
    check_lambda,
    check_n,
    check_option,
)
from rlcore.types import Transition

TraceKind = Literal["accumulating", "replacing"]


# -- n-step semi-gradient Sarsa -------------------------------------------------------------------
@dataclass(frozen=True)
class SemiGradientSarsaConfig:
    """Settings: step size ``alpha`` in (0, 1], ``epsilon`` in [0, 1], ``gamma`` in [0, 1],
    ``n`` >= 1 steps (1: one-step semi-gradient Sarsa, §10.1)."""

    alpha: float = 0.5 / 8
    epsilon: float = 0.0
    gamma: float = 1.0
    n: int = 1

    def __post_init__(self) -> None:
        check_alpha(self.alpha)
        check_epsilon(self.epsilon)
        check_gamma(self.gamma)
        check_n(self.n)


@export("agents.semi_gradient_sarsa")
@final
class SemiGradientSarsa(LinearControlAgent):
    """Episodic n-step semi-gradient Sarsa (Sutton & Barto (2018) §10.1-10.2, box p. 247).

    The window of the last n steps holds x(S_tau, A_tau) and the rewards; once full, its oldest
    entry is updated with the n-step return (``rlcore.returns.discounted_returns`` over the
    window, bootstrapped with q(S_{tau+n}, A_{tau+n}, w) of the current w). At the end of an
    episode the window is flushed (returns stop at a terminal state, or bootstrap from the
    next state-action pair after a time limit).

    Args:
        env: an env (Discrete actions) or (observation_space, action_space).
        features: a state feature map, its spec, or None (one-hot / 8x8 tile coding).
        seed: the agent's random seed.
        config / **kwargs: ``SemiGradientSarsaConfig`` fields (alpha, epsilon, gamma, n).
    """

    Config = SemiGradientSarsaConfig
    name = "agents.semi_gradient_sarsa"

    def __init__(
        self,
        env: Any,
        features: Any = None,
        *,
        config: SemiGradientSarsaConfig | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(env, features, config, kwargs, seed)
        self._window: deque[tuple[np.ndarray, float, float]] = deque()

    def reset(self) -> None:
        super().reset()
        self._window.clear()

    def _update_oldest(self, q_boot: float) -> None:
        x_tau = self._window[0][0]
        _, rewards, discounts = zip(*self._window)
        g = discounted_returns(np.asarray(rewards), np.asarray(discounts), q_boot)[0]
        delta = g - linear_value(self.w, x_tau)
        self._check(delta, "n-step Sarsa error")
        add_gradient_(self.w, x_tau, self.config.alpha * delta)
        self._window.popleft()

    def observe(self, transition: Transition) -> dict[str, float] | None:
        self.steps += 1
        x_sa = self.sa_features(transition.obs, np.int64(transition.action))
        discount = 0.0 if transition.terminated else self.config.gamma
        self._window.append((x_sa, float(transition.reward), discount))
        x_next = None
        if not transition.terminated:  # choose A_{t+1} (also after a time limit: bootstrap)
            q_next = self.q_values(transition.next_obs).tolist()
            a_next = self._choose_next(transition.next_obs, q_next)
            x_next = self.sa_features(transition.next_obs, np.int64(a_next))
        if len(self._window) == self.config.n:
            self._update_oldest(self._q(x_next))
        if transition.done:
            while self._window:
                self._update_oldest(self._q(x_next))
        return None

    def _q(self, x_sa: np.ndarray | None) -> float:
        """q(S_{t+1}, A_{t+1}, w) with the current w; 0 for a terminal S_{t+1} (None)."""
        return 0.0 if x_sa is None else float(linear_value(self.w, x_sa))


# -- Sarsa(lambda) --------------------------------------------------------------------------------
@dataclass(frozen=True)
class SarsaLambdaConfig:
    """Settings: ``alpha`` in (0, 1], ``epsilon`` and ``lambda_`` in [0, 1], ``gamma`` in
    [0, 1], and the trace: ``"accumulating"`` or ``"replacing"`` (binary features only;
    ignored by true online Sarsa(lambda), whose dutch trace is fixed)."""

    alpha: float = 0.5 / 8
    epsilon: float = 0.0
    gamma: float = 1.0
    lambda_: float = 0.9
    trace: TraceKind = "replacing"

    def __post_init__(self) -> None:
        check_alpha(self.alpha)
        check_epsilon(self.epsilon)
        check_gamma(self.gamma)
        check_lambda(self.lambda_)
        check_option("trace", self.trace, ("accumulating", "replacing"))


@export("agents.linear_sarsa_lambda")
@final
class LinearSarsaLambda(LinearControlAgent):
    """Sarsa(lambda) with linear function approximation (Sutton & Barto (2018) §12.7, box p. 305).

    Each step, with x = x(S, A) and the next action A' chosen epsilon-greedily:
        delta = R - q(S, A, w) + gamma q(S', A', w)        (no bootstrap at a terminal S')
        z <- z + x (accumulating) | z_i <- 1 for x's active features (replacing)
        w <- w + alpha delta z,   then z <- gamma lambda z.
    The trace z is cleared at the start of each episode. Replacing traces are defined for
    binary (index-set) features, such as tile coding (Figure 12.10).

    Args:
        env, features, seed: as ``agents.semi_gradient_sarsa``.
        config / **kwargs: ``SarsaLambdaConfig`` fields (alpha, epsilon, gamma, lambda_, trace).
    """

    Config = SarsaLambdaConfig
    name = "agents.linear_sarsa_lambda"

    def __init__(
        self,
        env: Any,
        features: Any = None,
        *,
        config: SarsaLambdaConfig | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(env, features, config, kwargs, seed)
        if self.config.trace == "replacing" and not self.features.sparse:
            raise ValueError(
                f"{self.name}: replacing traces need binary features (an index-set map such as "
                f"features.tile_coding); {type(self.features).__name__} is dense. Use "
                "trace='accumulating'."
            )
        self.z = np.zeros_like(self.w)

    def reset(self) -> None:
        super().reset()
        self.z[:] = 0.0

    def observe(self, transition: Transition) -> dict[str, float] | None:
        self.steps += 1
        cfg = self.config
        x_sa = self.sa_features(transition.obs, np.int64(transition.action))
        delta = float(transition.reward) - float(linear_value(self.w, x_sa))
        if cfg.trace == "replacing":
            self.z[x_sa] = 1.0
        else:
            add_gradient_(self.z, x_sa, 1.0)
        if not transition.terminated:
            q_next = self.q_values(transition.next_obs).tolist()
            a_next = self._choose_next(transition.next_obs, q_next)
            delta += cfg.gamma * q_next[a_next]
        self._check(delta, "TD error delta")
        self.w += cfg.alpha * delta * self.z
        self.z *= cfg.gamma * cfg.lambda_
        return None

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"w": self.w}


@export("agents.true_online_sarsa_lambda")
@final
class TrueOnlineSarsaLambda(LinearControlAgent):
    """True online Sarsa(lambda) (Sutton & Barto (2018) §12.8, box p. 307; van Seijen et al.
    2016), with the dutch trace. With x = x(S, A), x' = x(S', A') (0 at a terminal S'):
        Q = w . x, Q' = w . x', delta = R + gamma Q' - Q
        z <- gamma lambda z + (1 - alpha gamma lambda z . x) x
        w <- w + alpha (delta + Q - Q_old) z - alpha (Q - Q_old) x,   Q_old <- Q'.

    Args:
        env, features, seed: as ``agents.semi_gradient_sarsa``.
        config / **kwargs: ``SarsaLambdaConfig`` fields (``trace`` is not used).
    """

    Config = SarsaLambdaConfig
    name = "agents.true_online_sarsa_lambda"

    def __init__(
        self,
        env: Any,
        features: Any = None,
        *,
        config: SarsaLambdaConfig | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(env, features, config, kwargs, seed)
        self.z = np.zeros_like(self.w)
        self._q_old = 0.0

    def reset(self) -> None:
        super().reset()
        self.z[:] = 0.0
        self._q_old = 0.0

    def _dense(self, x: np.ndarray) -> np.ndarray:
        return dense_features(x, self.w.size) if is_sparse(x) else x

    def observe(self, transition: Transition) -> dict[str, float] | None:
        self.steps += 1
        cfg = self.config
        x = self._dense(self.sa_features(transition.obs, np.int64(transition.action)))
        q = float(self.w @ x)
        q_next = 0.0
        if not transition.terminated:
            q_row = self.q_values(transition.next_obs).tolist()
            a_next = self._choose_next(transition.next_obs, q_row)
            q_next = q_row[a_next]
        delta = float(transition.reward) + cfg.gamma * q_next - q
        self._check(delta, "TD error delta")
        gl = cfg.gamma * cfg.lambda_
        zx = float(self.z @ x)  # with the old z
        self.z *= gl
        self.z += (1.0 - cfg.alpha * gl * zx) * x
        self.w += cfg.alpha * (delta + q - self._q_old) * self.z - cfg.alpha * (q - self._q_old) * x
        self._q_old = q_next
        return None

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"w": self.w}


__all__ = [
    "LinearSarsaLambda",
    "SarsaLambdaConfig",
    "SemiGradientSarsa",
    "SemiGradientSarsaConfig",
    "TrueOnlineSarsaLambda",
]
