"""Eligibility traces: TD(lambda), Sarsa(lambda) and true online TD(lambda), tabular.

Sutton & Barto (2018) chapter 12 with one-hot features x(s) (or x(s, a)): every step decays the
trace vector z by gamma lambda and marks the visited entry (``rlcore.returns``' accumulating,
replacing or dutch trace), then moves every value by alpha delta z. Traces are cleared at the
start of each episode. The tables are NumPy arrays here (the update touches the whole table).

``offline=True`` (TD(lambda) only) accumulates the increments and applies them at the end of the
episode; with accumulating traces that equals the offline lambda-return algorithm (§12.1-12.2),
and with lambda = 1 every-visit Monte Carlo.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, final

import numpy as np

from rlcore.registry import export
from rlcore.returns import accumulating_trace, dutch_trace, replacing_trace, td_error
from rlcore.tabular.base import (
    ControlAgent,
    PredictionAgent,
    check_alpha,
    check_epsilon,
    check_gamma,
    check_initial,
    check_lambda,
    check_option,
)
from rlcore.types import Transition

TraceKind = Literal["accumulating", "replacing", "dutch"]
TRACES: tuple[str, ...] = ("accumulating", "replacing", "dutch")


def _mark(kind: str, z: np.ndarray, x: np.ndarray, discount_lambda: float, alpha: float):
    """The chosen trace update z_t from z_{t-1} and the one-hot x_t."""
    if kind == "accumulating":
        return accumulating_trace(z, x, discount_lambda)
    if kind == "replacing":
        return replacing_trace(z, x, discount_lambda)
    return dutch_trace(z, x, discount_lambda, alpha)


@dataclass(frozen=True)
class TracePredictionConfig:
    """Settings of TD(lambda) prediction.

    Attributes:
        lambda_: trace decay in [0, 1] (0: TD(0), 1: Monte Carlo-like).
        alpha: step size in (0, 1].
        gamma: discount in [0, 1].
        trace: "accumulating", "replacing" or "dutch".
        offline: apply the episode's increments only at its end (the offline lambda-return
            algorithm); False: online TD(lambda).
        initial_value: initial value of every V(s).
    """

    lambda_: float = 0.9
    alpha: float = 0.1
    gamma: float = 1.0
    trace: TraceKind = "accumulating"
    offline: bool = False
    initial_value: float = 0.0

    def __post_init__(self) -> None:
        check_lambda(self.lambda_)
        check_alpha(self.alpha)
        check_gamma(self.gamma)
        check_option("trace", self.trace, TRACES)
        check_initial(self.initial_value)


@dataclass(frozen=True)
class TraceConfig:
    """Settings of Sarsa(lambda): ``lambda_`` in [0, 1], ``alpha`` in (0, 1], behaviour
    ``epsilon`` in [0, 1], ``gamma`` in [0, 1], ``trace`` ("accumulating", "replacing" or
    "dutch") and the initial value of every Q(s, a)."""

    lambda_: float = 0.9
    alpha: float = 0.1
    epsilon: float = 0.1
    gamma: float = 1.0
    trace: TraceKind = "accumulating"
    initial_value: float = 0.0

    def __post_init__(self) -> None:
        check_lambda(self.lambda_)
        check_alpha(self.alpha)
        check_epsilon(self.epsilon)
        check_gamma(self.gamma)
        check_option("trace", self.trace, TRACES)
        check_initial(self.initial_value)


@dataclass(frozen=True)
class TrueOnlineConfig:
    """Settings of true online TD(lambda): ``lambda_`` in [0, 1], ``alpha`` in (0, 1],
    ``gamma`` in [0, 1] and the initial value of every V(s) (the trace is always dutch)."""

    lambda_: float = 0.9
    alpha: float = 0.1
    gamma: float = 1.0
    initial_value: float = 0.0

    def __post_init__(self) -> None:
        check_lambda(self.lambda_)
        check_alpha(self.alpha)
        check_gamma(self.gamma)
        check_initial(self.initial_value)


@final
@export("agents.td_lambda")
class TDLambda(PredictionAgent):
    """Tabular TD(lambda) prediction of v_pi (Sutton & Barto (2018) §12.2, semi-gradient
    TD(lambda) with one-hot features).

        z <- trace(z, x(S_t)),  delta = R + gamma V(S') - V(S),  V <- V + alpha delta z

    Args:
        env: the env, or a pair (observation_space, action_space); both Discrete.
        policy: the policy to evaluate (an (S, A) array or tabular policy; default uniform).
        config: a ``TracePredictionConfig``, or its fields as keywords (``lambda_``, ``alpha``,
            ``gamma``, ``trace``, ``offline``, ``initial_value``).
        seed: seed of the agent's generator.
    """

    name = "agents.td_lambda"
    Config = TracePredictionConfig
    numpy_tables = True

    def __init__(self, env: Any, policy: Any = None, config=None, *, seed=None, **kwargs) -> None:
        super().__init__(env, policy, config, kwargs, seed)
        self.reset()

    def reset(self) -> None:
        """Start an episode: clear the trace (and, offline, the pending increments)."""
        self._z = np.zeros(self.n_states)
        self._pending = np.zeros(self.n_states)

    def observe(self, transition: Transition) -> None:
        c = self.config
        s, _, r, s2, terminated, truncated = transition[:6]
        v = self._v
        x = np.zeros(self.n_states)
        x[s] = 1.0
        self._z = _mark(c.trace, self._z, x, c.gamma * c.lambda_, c.alpha)
        delta = td_error(v[s], r, 0.0 if terminated else c.gamma, v[s2])
        if c.offline:
            self._pending += c.alpha * delta * self._z
            if terminated or truncated:
                v += self._pending
                self._pending[:] = 0.0
        else:
            v += c.alpha * delta * self._z
        if terminated or truncated:
            self._z[:] = 0.0


@final
@export("agents.true_online_td_lambda")
class TrueOnlineTDLambda(PredictionAgent):
    """True online TD(lambda) prediction, tabular (van Seijen & Sutton 2014; Sutton & Barto
    (2018) §12.5, eq. 12.10-12.11).

        z <- gamma lambda z + (1 - alpha gamma lambda z^T x) x                   (dutch trace)
        V <- V + alpha (delta + V(S) - V_old) z - alpha (V(S) - V_old) x,  V_old <- V(S')

    Args:
        env: the env, or a pair (observation_space, action_space); both Discrete.
        policy: the policy to evaluate (an (S, A) array or tabular policy; default uniform).
        config: a ``TrueOnlineConfig``, or its fields as keywords (``lambda_``, ``alpha``,
            ``gamma``, ``initial_value``).
        seed: seed of the agent's generator.
    """

    name = "agents.true_online_td_lambda"
    Config = TrueOnlineConfig
    numpy_tables = True

    def __init__(self, env: Any, policy: Any = None, config=None, *, seed=None, **kwargs) -> None:
        super().__init__(env, policy, config, kwargs, seed)
        self.reset()

    def reset(self) -> None:
        """Start an episode: clear the trace and V_old."""
        self._z = np.zeros(self.n_states)
        self._v_old = 0.0

    def observe(self, transition: Transition) -> None:
        c = self.config
        s, _, r, s2, terminated, truncated = transition[:6]
        v = self._v
        x = np.zeros(self.n_states)
        x[s] = 1.0
        v_s = float(v[s])
        v_s2 = 0.0 if terminated else float(v[s2])
        delta = td_error(v_s, r, c.gamma, v_s2)
        self._z = dutch_trace(self._z, x, c.gamma * c.lambda_, c.alpha)
        v += c.alpha * (delta + v_s - self._v_old) * self._z
        v[s] -= c.alpha * (v_s - self._v_old)
        self._v_old = v_s2
        if terminated or truncated:
            self.reset()


@final
@export("agents.sarsa_lambda")
class SarsaLambda(ControlAgent):
    """Tabular Sarsa(lambda) (Sutton & Barto (2018) §12.7) with accumulating, replacing or dutch
    traces over state-action pairs.

        z <- trace(z, x(S, A)),  delta = R + gamma Q(S', A') - Q(S, A),  Q <- Q + alpha delta z

    A' is chosen epsilon-greedily in ``observe`` and taken by the next ``act``. (The replacing
    trace resets only the visited pair's entry to 1; the book's variant that also clears the
    state's other actions is not implemented.)

    Args:
        env: the env, or a pair (observation_space, action_space); both Discrete.
        config: a ``TraceConfig``, or its fields as keywords (``lambda_``, ``alpha``,
            ``epsilon``, ``gamma``, ``trace``, ``initial_value``).
        seed: seed of the agent's generator.
    """

    name = "agents.sarsa_lambda"
    Config = TraceConfig
    numpy_tables = True

    def __init__(self, env: Any, config=None, *, seed=None, **kwargs) -> None:
        super().__init__(env, config, kwargs, seed)
        self.reset()

    def reset(self) -> None:
        """Start an episode: clear the trace and the pre-chosen action."""
        super().reset()
        self._z = np.zeros((self.n_states, self.n_actions))

    def observe(self, transition: Transition) -> None:
        c = self.config
        s, a, r, s2, terminated, truncated = transition[:6]
        if self._offered is not None:
            self._see_next(transition)
        q = self._q
        x = np.zeros((self.n_states, self.n_actions))
        x[s, a] = 1.0
        flat = _mark(c.trace, self._z.reshape(-1), x.reshape(-1), c.gamma * c.lambda_, c.alpha)
        self._z = flat.reshape(self.n_states, self.n_actions)
        a2 = self._next_action(s2, terminated, truncated)
        if a2 is None:
            delta = td_error(q[s, a], r, 0.0, 0.0)
        else:
            delta = td_error(q[s, a], r, c.gamma, q[s2, a2])
        q += c.alpha * delta * self._z
        if terminated or truncated:
            self.reset()
