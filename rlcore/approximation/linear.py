"""On-policy linear prediction: gradient Monte Carlo, n-step semi-gradient TD and LSTD.

Sutton & Barto (2018) chapter 9. The value estimate is v(s, w) = w . x(s) (eq. 9.8) with any
feature map of ``rlcore.approximation.features``; the semi-gradient update towards a target U_t
is (eq. 9.7)

    w <- w + alpha [U_t - v(S_t, w)] x(S_t),

with U_t the Monte Carlo return G_t (gradient MC, §9.3), the n-step return G_{t:t+n} (n-step
semi-gradient TD, §9.4 and eq. 9.15; n = 1 is TD(0)). Returns come from ``rlcore.returns``. LSTD
(§9.8) solves for the TD fixed point directly.

Step sizes follow the book: ``alpha`` multiplies the gradient as written above. With binary
features that activate k features per state (tile coding: k = n_tilings) the value of S_t moves by
k * alpha * delta, so the book writes alpha = a / k (e.g. 1e-4 / 50 in Figure 9.10); pass alpha
already divided.

Usage::

    walk = gymnasium.make("rlcore/RandomWalk1000-v0")
    agg = rlcore.make("features.state_aggregation", 1, 1000, 10, discrete=True)
    agent = rlcore.make("agents.gradient_mc", walk, features=agg, alpha=2e-5)
    rlcore.run(agent, walk, episodes=1000, seed=0)
    agent.value(np.arange(1, 1001))     # the staircase of Figure 9.1
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, final

import numpy as np

from rlcore.approximation.base import LinearPredictionAgent
from rlcore.approximation.features import add_gradient_, dense_features, linear_value
from rlcore.registry import export
from rlcore.returns import discounted_returns
from rlcore.tabular.base import check_alpha, check_gamma, check_n
from rlcore.types import Transition
from rlcore.validation import check_range


def _discount(transition: Transition, gamma: float) -> float:
    return 0.0 if transition.terminated else gamma


# -- pure functions --------------------------------------------------------------------------------
def lstd_solution(
    x_tm1: np.ndarray,
    r_t: np.ndarray,
    discount_t: np.ndarray,
    x_t: np.ndarray,
    epsilon: float,
) -> np.ndarray:
    """LSTD's weights w = A^{-1} b from a batch of transitions (S&B (2018) §9.8, eq. 9.20).

    A = epsilon I + sum_t x_{t-1} (x_{t-1} - gamma_t x_t)^T,   b = sum_t R_t x_{t-1},
    the sample version of the TD fixed point w_TD = A^{-1} b (eq. 9.12).

    Args:
        x_tm1: (T, d) dense features of the states updated.
        r_t: (T,) rewards.
        discount_t: (T,) discounts, 0 where S_t is terminal.
        x_t: (T, d) features of the next states (anything where discount_t = 0).
        epsilon: the regulariser epsilon > 0 (A starts as epsilon I).

    Returns:
        (d,) weights.
    """
    epsilon = check_range("epsilon", epsilon, 0.0, low_open=True)
    x_tm1 = np.asarray(x_tm1, dtype=np.float64)
    x_t = np.asarray(x_t, dtype=np.float64)
    d = x_tm1.shape[-1]
    gx_t = np.asarray(discount_t, dtype=np.float64)[:, None] * x_t
    A = epsilon * np.eye(d) + x_tm1.T @ (x_tm1 - gx_t)
    b = x_tm1.T @ np.asarray(r_t, dtype=np.float64)
    return np.linalg.solve(A, b)


# -- gradient Monte Carlo ------------------------------------------------------------------------
@dataclass(frozen=True)
class GradientMCConfig:
    """Gradient MC settings: step size ``alpha`` in (0, 1], discount ``gamma`` in [0, 1]."""

    alpha: float = 2e-5
    gamma: float = 1.0

    def __post_init__(self) -> None:
        check_alpha(self.alpha)
        check_gamma(self.gamma)


@export("agents.gradient_mc")
@final
class GradientMC(LinearPredictionAgent):
    """Gradient Monte Carlo prediction (Sutton & Barto (2018) §9.3, the box on p. 202).

    At the end of each episode, for t = 0, ..., T-1 in order:
        w <- w + alpha [G_t - v(S_t, w)] x(S_t),   G_t from ``rlcore.returns.discounted_returns``.
    An episode cut by a time limit bootstraps its returns from v(S_T, w) (S_T is not terminal).

    Args:
        env: an env or (observation_space, action_space).
        features: a state feature map, its spec, or None (the space's default).
        policy: (S, A) table of the evaluated policy (discrete states), or None: uniform random.
        seed: the agent's random seed (its actions).
        config / **kwargs: ``GradientMCConfig`` fields (alpha, gamma).
    """

    Config = GradientMCConfig
    name = "agents.gradient_mc"

    def __init__(
        self,
        env: Any,
        features: Any = None,
        policy: Any = None,
        *,
        config: GradientMCConfig | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(env, features, policy, config, kwargs, seed)
        self._episode: list[tuple[np.ndarray, float, float]] = []

    def reset(self) -> None:
        self._episode = []

    def observe(self, transition: Transition) -> dict[str, float] | None:
        self.steps += 1
        gamma = self.config.gamma
        self._episode.append(
            (self.features(transition.obs), float(transition.reward), _discount(transition, gamma))
        )
        if not transition.done:
            return None
        v_end = 0.0 if transition.terminated else float(self.value(transition.next_obs))
        xs, rewards, discounts = zip(*self._episode)
        g = discounted_returns(np.asarray(rewards), np.asarray(discounts), v_end)
        alpha = self.config.alpha
        for x_t, g_t in zip(xs, g):
            delta = g_t - linear_value(self.w, x_t)
            self._check(delta, "Monte Carlo error G_t - v(S_t)")
            add_gradient_(self.w, x_t, alpha * delta)
        self._episode = []
        return None


# -- n-step semi-gradient TD ----------------------------------------------------------------------
@dataclass(frozen=True)
class SemiGradientTDConfig:
    """n-step semi-gradient TD settings: ``alpha`` in (0, 1], ``gamma`` in [0, 1], ``n`` >= 1."""

    alpha: float = 2e-4
    gamma: float = 1.0
    n: int = 1

    def __post_init__(self) -> None:
        check_alpha(self.alpha)
        check_gamma(self.gamma)
        check_n(self.n)


@export("agents.semi_gradient_td")
@final
class SemiGradientTD(LinearPredictionAgent):
    """n-step semi-gradient TD prediction (Sutton & Barto (2018) §9.4 eq. 9.15, box p. 209).

    With G_{tau:tau+n} = R_{tau+1} + ... + gamma^{n-1} R_{tau+n} + gamma^n v(S_{tau+n}, w)
    (``rlcore.returns.discounted_returns`` over the window, bootstrapped with the current w):
        w <- w + alpha [G_{tau:tau+n} - v(S_tau, w)] x(S_tau),   tau = t - n + 1.
    n = 1 is semi-gradient TD(0) (box p. 203). At the end of an episode the window is flushed
    with returns that stop at the end (terminated) or bootstrap from v(S_T) (time limit).

    Args:
        env, features, policy, seed: as ``agents.gradient_mc``.
        config / **kwargs: ``SemiGradientTDConfig`` fields (alpha, gamma, n).
    """

    Config = SemiGradientTDConfig
    name = "agents.semi_gradient_td"

    def __init__(
        self,
        env: Any,
        features: Any = None,
        policy: Any = None,
        *,
        config: SemiGradientTDConfig | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(env, features, policy, config, kwargs, seed)
        self._window: deque[tuple[np.ndarray, float, float]] = deque()

    def reset(self) -> None:
        self._window.clear()

    def _update_oldest(self, v_boot: float) -> None:
        x_tau, _, _ = self._window[0]
        _, rewards, discounts = zip(*self._window)
        g = discounted_returns(np.asarray(rewards), np.asarray(discounts), v_boot)[0]
        delta = g - linear_value(self.w, x_tau)
        self._check(delta, "n-step TD error")
        add_gradient_(self.w, x_tau, self.config.alpha * delta)
        self._window.popleft()

    def observe(self, transition: Transition) -> dict[str, float] | None:
        self.steps += 1
        x_t = self.features(transition.obs)
        self._window.append(
            (x_t, float(transition.reward), _discount(transition, self.config.gamma))
        )
        if len(self._window) == self.config.n:
            self._update_oldest(self._bootstrap(transition))
        if transition.done:
            while self._window:
                self._update_oldest(self._bootstrap(transition))
        return None

    def _bootstrap(self, transition: Transition) -> float:
        """v(S_{t+1}, w) with the current w; 0 (and no features) for a terminal S_{t+1}."""
        return 0.0 if transition.terminated else float(self.value(transition.next_obs))


# -- LSTD -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LSTDConfig:
    """LSTD settings: ``epsilon`` > 0 (A starts as epsilon I), ``gamma`` in [0, 1]."""

    epsilon: float = 1e-3
    gamma: float = 1.0

    def __post_init__(self) -> None:
        check_range("epsilon", self.epsilon, 0.0, low_open=True, hint="Use e.g. 1e-3.")
        check_gamma(self.gamma)


@export("agents.lstd")
@final
class LSTD(LinearPredictionAgent):
    """Least-squares TD (Sutton & Barto (2018) §9.8, the box on p. 230), O(d^2) per step.

    Keeps A^{-1} by the Sherman-Morrison formula and sets w = A^{-1} b after every step:
        v  = (A^{-1})^T (x - gamma x'),
        A^{-1} <- A^{-1} - (A^{-1} x) v^T / (1 + v^T x),   A^{-1} starts as I / epsilon,
        b  <- b + R x,    w = A^{-1} b,
    with x' = 0 at a terminal next state. The result equals ``lstd_solution`` on the same data.

    Args:
        env, features, policy, seed: as ``agents.gradient_mc``.
        config / **kwargs: ``LSTDConfig`` fields (epsilon, gamma).
    """

    Config = LSTDConfig
    name = "agents.lstd"

    def __init__(
        self,
        env: Any,
        features: Any = None,
        policy: Any = None,
        *,
        config: LSTDConfig | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(env, features, policy, config, kwargs, seed)
        d = self.features.n_features
        self.a_inv = np.eye(d) / self.config.epsilon
        self.b = np.zeros(d)

    def observe(self, transition: Transition) -> dict[str, float] | None:
        self.steps += 1
        d = self.features.n_features
        x = dense_features(self.features(transition.obs), d)
        discount = _discount(transition, self.config.gamma)
        x_next = (
            np.zeros(d)
            if discount == 0.0
            else dense_features(self.features(transition.next_obs), d)
        )
        v = self.a_inv.T @ (x - discount * x_next)
        a_inv_x = self.a_inv @ x
        self.a_inv -= np.outer(a_inv_x, v) / (1.0 + v @ x)
        self.b += float(transition.reward) * x
        self.w = self.a_inv @ self.b
        self._check(self.w, "LSTD weights w = A^-1 b")
        return None

    def _arrays(self) -> dict[str, np.ndarray]:
        return {**super()._arrays(), "a_inv": self.a_inv, "b": self.b}

    def _load_arrays(self, arrays: dict[str, Any]) -> None:
        super()._load_arrays(arrays)
        self.a_inv = np.array(arrays["a_inv"], dtype=np.float64)
        self.b = np.array(arrays["b"], dtype=np.float64)


__all__ = [
    "GradientMC",
    "GradientMCConfig",
    "LSTD",
    "LSTDConfig",
    "SemiGradientTD",
    "SemiGradientTDConfig",
    "lstd_solution",
]
