"""Off-policy linear prediction: semi-gradient off-policy TD, TDC (GTD(0)), GTD2, emphatic TD.

Sutton & Barto (2018) chapter 11. The data come from a behaviour policy b; the values estimated
are those of a target policy pi; rho_t = pi(A_t | S_t) / b(A_t | S_t) (``rlcore.returns.
importance_ratio``). With delta_t = R_{t+1} + gamma v(S_{t+1}, w) - v(S_t, w):

    off-policy TD (§11.1, eq. 11.2)  w <- w + alpha rho_t delta_t x_t
    TDC / GTD(0) (§11.7)             w <- w + alpha rho_t (delta_t x_t - gamma x_{t+1} x_t^T v)
                                     v <- v + beta  rho_t (delta_t - v^T x_t) x_t
    GTD2 (§11.7)                     w <- w + alpha rho_t (x_t - gamma x_{t+1}) x_t^T v
                                     v <- as for TDC
    emphatic TD (§11.8)              w <- w + alpha M_t rho_t delta_t x_t,
                                     M_t = gamma rho_{t-1} M_{t-1} + I_t   (M_{-1} = 0)

The ``*_direction`` functions return the bracketed update directions (multiply by the step size
to get the increment) for one transition or, broadcasting over leading axes, a batch: the same
code serves the scalar agents, many independent runs, and expected updates (the
probability-weighted sum of the directions over every transition of a model,
``rlcore.approximation.objectives.model_transitions``). Names follow rlax: the transition is
(x_tm1, r_t, discount_t, x_t) with discount_t = gamma, or 0 where S_t is terminal, and rho_tm1
the ratio of the action taken in S_{t-1}. Features are dense here (index sets are converted).

Divergence: semi-gradient off-policy TD diverges on Baird's counterexample (Figure 11.2) - that
is the point of the example; the agents stop with FloatingPointError when a value goes
non-finite, the figure functions record it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, final

import numpy as np

from rlcore.approximation.base import LinearAgent
from rlcore.approximation.features import dense_features, linear_value
from rlcore.registry import export
from rlcore.returns import importance_ratio
from rlcore.tabular.base import check_alpha, check_gamma
from rlcore.types import Transition
from rlcore.validation import check_range


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("...d,...d->...", a, b)


def _as_float(*values: Any) -> list[np.ndarray]:
    return [np.asarray(v, dtype=np.float64) for v in values]


# -- pure update directions ------------------------------------------------------------------------
def off_policy_td_direction(
    w: np.ndarray,
    x_tm1: np.ndarray,
    r_t: np.ndarray,
    discount_t: np.ndarray,
    x_t: np.ndarray,
    rho_tm1: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Semi-gradient off-policy TD(0): direction rho delta x (S&B (2018) §11.1, eq. 11.2).

    Args:
        w: (..., d) weights.
        x_tm1, x_t: (..., d) features of S_{t-1} and S_t.
        r_t, discount_t, rho_tm1: (...,) reward, discount (0 at termination), ratio.

    Returns:
        (direction (..., d), delta (...,)).
    """
    w, x_tm1, r_t, discount_t, x_t, rho_tm1 = _as_float(w, x_tm1, r_t, discount_t, x_t, rho_tm1)
    delta = r_t + discount_t * _dot(w, x_t) - _dot(w, x_tm1)
    return (rho_tm1 * delta)[..., None] * x_tm1, delta


def tdc_direction(
    w: np.ndarray,
    v: np.ndarray,
    x_tm1: np.ndarray,
    r_t: np.ndarray,
    discount_t: np.ndarray,
    x_t: np.ndarray,
    rho_tm1: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TDC (GTD(0)) directions (S&B (2018) §11.7; Sutton et al. 2009):

        dw = rho (delta x_{t-1} - gamma x_t (x_{t-1}^T v)),
        dv = rho (delta - v^T x_{t-1}) x_{t-1}.

    Args:
        w, v: (..., d) main and secondary weights.
        x_tm1, r_t, discount_t, x_t, rho_tm1: as ``off_policy_td_direction``.

    Returns:
        (dw (..., d), dv (..., d), delta (...,)).
    """
    w, x_tm1, r_t, discount_t, x_t, rho_tm1 = _as_float(w, x_tm1, r_t, discount_t, x_t, rho_tm1)
    delta = r_t + discount_t * _dot(w, x_t) - _dot(w, x_tm1)
    v = np.asarray(v, dtype=np.float64)
    vx = _dot(v, x_tm1)
    dw = rho_tm1[..., None] * (delta[..., None] * x_tm1 - (discount_t * vx)[..., None] * x_t)
    dv = (rho_tm1 * (delta - vx))[..., None] * x_tm1
    return dw, dv, delta


def gtd2_direction(
    w: np.ndarray,
    v: np.ndarray,
    x_tm1: np.ndarray,
    r_t: np.ndarray,
    discount_t: np.ndarray,
    x_t: np.ndarray,
    rho_tm1: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GTD2 directions (S&B (2018) §11.7; Sutton et al. 2009):

        dw = rho (x_{t-1} - gamma x_t) (x_{t-1}^T v),   dv = rho (delta - v^T x_{t-1}) x_{t-1}.

    Returns:
        (dw (..., d), dv (..., d), delta (...,)).
    """
    w, x_tm1, r_t, discount_t, x_t, rho_tm1 = _as_float(w, x_tm1, r_t, discount_t, x_t, rho_tm1)
    delta = r_t + discount_t * _dot(w, x_t) - _dot(w, x_tm1)
    v = np.asarray(v, dtype=np.float64)
    vx = _dot(v, x_tm1)
    dw = (rho_tm1 * vx)[..., None] * (x_tm1 - discount_t[..., None] * x_t)
    dv = (rho_tm1 * (delta - vx))[..., None] * x_tm1
    return dw, dv, delta


def emphasis(
    m_tm1: np.ndarray, rho_tm1: np.ndarray, discount: np.ndarray, interest: Any
) -> np.ndarray:
    """The emphasis recursion M_t = gamma rho_{t-1} M_{t-1} + I_t (S&B (2018) §11.8, one-step
    emphatic TD; start with M_{-1} = 0 so that M_0 = I_0)."""
    return discount * rho_tm1 * m_tm1 + interest


def emphatic_td_direction(
    w: np.ndarray,
    x_tm1: np.ndarray,
    r_t: np.ndarray,
    discount_t: np.ndarray,
    x_t: np.ndarray,
    rho_tm1: np.ndarray,
    m_tm1: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """One-step emphatic TD: direction M rho delta x (S&B (2018) §11.8).

    Args:
        m_tm1: (...,) emphasis M of S_{t-1} (``emphasis``); in an expected update, the expected
            emphasis m(s) = [(I - gamma P_pi^T)^{-1} (mu * i)](s) / mu(s).
        others: as ``off_policy_td_direction``.

    Returns:
        (direction (..., d), delta (...,)).
    """
    w, x_tm1, r_t, discount_t, x_t, rho_tm1 = _as_float(w, x_tm1, r_t, discount_t, x_t, rho_tm1)
    delta = r_t + discount_t * _dot(w, x_t) - _dot(w, x_tm1)
    return (np.asarray(m_tm1) * rho_tm1 * delta)[..., None] * x_tm1, delta


# -- agents ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OffPolicyTDConfig:
    """Off-policy TD settings.

    Attributes:
        alpha: step size of w in (0, 1].
        beta: step size of the secondary weights v (TDC, GTD2) in (0, 1]; ignored otherwise.
        gamma: discount in [0, 1].
        interest: I_t of emphatic TD (the same for every state), > 0; ignored otherwise.
    """

    alpha: float = 0.005
    beta: float = 0.05
    gamma: float = 0.99
    interest: float = 1.0

    def __post_init__(self) -> None:
        check_alpha(self.alpha)
        check_range("beta", self.beta, 0.0, 1.0, low_open=True)
        check_gamma(self.gamma)
        check_range("interest", self.interest, 0.0, low_open=True)


class _OffPolicyAgent(LinearAgent):
    """Shared plumbing of the four off-policy learners: b acts, pi is evaluated.

    Args (of every subclass):
        env: an env with Discrete observations (the policies are tables) or a pair of spaces.
        features: a state feature map, its spec, or None (one-hot).
        target: pi, (S, A) probability table of the policy evaluated.
        behavior: b, (S, A) probability table the agent acts with; b(a|s) > 0 wherever
            pi(a|s) > 0 (coverage).
        seed: the agent's random seed.
        config / **kwargs: ``OffPolicyTDConfig`` fields (alpha, beta, gamma, interest).
    """

    Config = OffPolicyTDConfig

    def __init__(
        self,
        env: Any,
        features: Any = None,
        *,
        target: Any = None,
        behavior: Any = None,
        config: OffPolicyTDConfig | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        missing = [k for k, v in (("target", target), ("behavior", behavior)) if v is None]
        if missing:
            raise TypeError(
                f"{self.name} evaluates a target policy pi while acting with a behaviour policy "
                f"b, and needs both: missing {' and '.join(f'{k}=' for k in missing)}. Pass "
                "each as an (n_states, n_actions) probability table or a tabular policy, e.g. "
                "for Baird's counterexample target=rlcore.get('envs.baird_target_policy')() and "
                "behavior=rlcore.get('envs.baird_behavior_policy')(); or build one with "
                "rlcore.make('policies.tabular', probs) / 'policies.epsilon_greedy'."
            )
        super().__init__(env, features, config, kwargs, seed)
        self.behavior = self._policy_table(behavior, "behavior policy")
        self.target = self._policy_table(target, "target policy")
        importance_ratio(self.target, self.behavior)  # raises unless b covers pi
        self._b_rows = self.behavior.tolist()
        self.w = np.zeros(self.features.n_features)
        self.v = np.zeros(self.features.n_features)  # secondary weights (TDC, GTD2)
        self.m = 0.0  # emphasis M_{t-1} (emphatic TD)
        self.rho_prev = 0.0  # rho_{t-1}

    def value(self, state: Any) -> np.ndarray:
        """v(s, w) for a state or a batch of states."""
        return linear_value(self.w, self.features(state))

    def act(self, obs: Any, *, explore: bool = False) -> int:
        """An action of the behaviour policy b."""
        return self._table_action(self._b_rows, obs)

    def reset(self) -> None:
        self.m, self.rho_prev = 0.0, 0.0

    def _transition(self, tr: Transition) -> tuple[np.ndarray, float, float, np.ndarray, float]:
        d = self.features.n_features
        s = int(tr.obs) - int(self.observation_space.start)
        rho = float(importance_ratio(self.target[s, tr.action], self.behavior[s, tr.action]))
        discount = 0.0 if tr.terminated else self.config.gamma
        x_tm1 = dense_features(self.features(tr.obs), d)
        x_t = np.zeros(d) if tr.terminated else dense_features(self.features(tr.next_obs), d)
        return x_tm1, float(tr.reward), discount, x_t, rho

    def _gradient_step(self, direction: Any, transition: Transition) -> None:
        """One two-timescale step of TDC or GTD2: (dw, dv, delta) = ``direction``(w, v, ...),
        then w <- w + alpha dw and v <- v + beta dv (S&B (2018) §11.7)."""
        self.steps += 1
        x_tm1, r_t, discount_t, x_t, rho = self._transition(transition)
        with np.errstate(all="ignore"):  # a non-finite value is reported just below
            dw, dv, delta = direction(self.w, self.v, x_tm1, r_t, discount_t, x_t, rho)
        self._check(delta, "TD error delta")
        self._check(dv, "secondary weights' direction")
        self.w += self.config.alpha * dw
        self.v += self.config.beta * dv

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"w": self.w, "v": self.v, "behavior": self.behavior, "target": self.target}

    def _load_arrays(self, arrays: dict[str, Any]) -> None:
        super()._load_arrays(arrays)
        self.v = np.array(arrays["v"], dtype=np.float64)

    @classmethod
    def _rebuild(cls, spaces_: tuple, fmap: Any, config: Any, arrays: dict[str, Any]) -> Any:
        target, behavior = arrays["target"], arrays["behavior"]
        return cls(spaces_, fmap, target=target, behavior=behavior, config=config)


@export("agents.off_policy_td")
@final
class OffPolicyTD(_OffPolicyAgent):
    """Semi-gradient off-policy TD(0): w <- w + alpha rho delta x (S&B (2018) §11.1, eq. 11.2).

    Can diverge off-policy (Baird's counterexample, Figure 11.2).

    Args (the same for ``agents.tdc``, ``agents.gtd2`` and ``agents.emphatic_td``):
        env: an env with Discrete observations (the policies are tables) or a pair of spaces.
        features: a state feature map, its spec, or None (one-hot).
        target: pi, (S, A) probability table of the policy evaluated (required; for Baird's
            counterexample ``envs.baird_target_policy()``).
        behavior: b, (S, A) probability table the agent acts with; b(a|s) > 0 wherever
            pi(a|s) > 0 (coverage) (required; ``envs.baird_behavior_policy()``).
        seed: the agent's random seed.
        config / **kwargs: ``OffPolicyTDConfig`` fields (alpha, beta, gamma, interest).
    """

    name = "agents.off_policy_td"

    def observe(self, transition: Transition) -> dict[str, float] | None:
        self.steps += 1
        x_tm1, r_t, discount_t, x_t, rho = self._transition(transition)
        with np.errstate(all="ignore"):  # a non-finite value is reported just below
            dw, delta = off_policy_td_direction(self.w, x_tm1, r_t, discount_t, x_t, rho)
        self._check(delta, "TD error delta")
        self._check(dw, "update direction rho delta x")
        self.w += self.config.alpha * dw
        return None


@export("agents.tdc", "agents.gtd0")
@final
class TDC(_OffPolicyAgent):
    """TDC, also called GTD(0) (S&B (2018) §11.7): gradient-corrected off-policy TD.

    w <- w + alpha dw and v <- v + beta dv with (dw, dv) from ``tdc_direction``. Converges to the
    TD fixed point (PBE = 0) off-policy, Baird's counterexample included (Figure 11.5).
    Arguments: as ``agents.off_policy_td``.
    """

    name = "agents.tdc"

    def observe(self, transition: Transition) -> dict[str, float] | None:
        self._gradient_step(tdc_direction, transition)
        return None


@export("agents.gtd2")
@final
class GTD2(_OffPolicyAgent):
    """GTD2 (S&B (2018) §11.7): w <- w + alpha dw, v <- v + beta dv with ``gtd2_direction``.

    Converges to the TD fixed point off-policy. Arguments: as ``agents.off_policy_td``.
    """

    name = "agents.gtd2"

    def observe(self, transition: Transition) -> dict[str, float] | None:
        self._gradient_step(gtd2_direction, transition)
        return None


@export("agents.emphatic_td")
@final
class EmphaticTD(_OffPolicyAgent):
    """One-step emphatic TD (S&B (2018) §11.8): w <- w + alpha M rho delta x, with the emphasis
    M_t = gamma rho_{t-1} M_{t-1} + I_t (``emphasis``; reset to 0 at the start of each episode,
    interest I_t = ``interest`` everywhere). Arguments: as ``agents.off_policy_td``.
    """

    name = "agents.emphatic_td"

    def observe(self, transition: Transition) -> dict[str, float] | None:
        self.steps += 1
        x_tm1, r_t, discount_t, x_t, rho = self._transition(transition)
        self.m = float(emphasis(self.m, self.rho_prev, self.config.gamma, self.config.interest))
        self._check(self.m, "emphasis M")
        with np.errstate(all="ignore"):  # a non-finite value is reported just below
            dw, delta = emphatic_td_direction(self.w, x_tm1, r_t, discount_t, x_t, rho, self.m)
        self._check(delta, "TD error delta")
        self._check(dw, "update direction M rho delta x")
        self.w += self.config.alpha * dw
        self.rho_prev = rho
        return None


__all__ = [
    "EmphaticTD",
    "GTD2",
    "OffPolicyTD",
    "OffPolicyTDConfig",
    "TDC",
    "emphasis",
    "emphatic_td_direction",
    "gtd2_direction",
    "off_policy_td_direction",
    "tdc_direction",
]
