"""Monte Carlo methods: prediction, exploring starts, on-policy control, off-policy (IS).

Sutton & Barto (2018) chapter 5 (and eq. 6.1 for constant-alpha MC). Each agent stores the
episode and learns when it ends, from the returns G_t = R_{t+1} + gamma G_{t+1} of every step
(``rlcore.returns.discounted_returns``). An episode cut by a time limit (truncated) bootstraps its
last return from the current estimate of the state it reached; a terminated one does not.

Averages are incremental, V <- V + (G - V) / N (§2.4), or use a constant step size ``alpha``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, final

import numpy as np

from rlcore.registry import export
from rlcore.returns import discounted_returns, expected_value, importance_ratio
from rlcore.tabular.base import (
    ControlAgent,
    PredictionAgent,
    TabularAgent,
    check_alpha,
    check_epsilon,
    check_gamma,
    check_initial,
    check_option,
)
from rlcore.tabular.policies import (
    epsilon_greedy_probs,
    epsilon_greedy_value,
    greedy_action,
    greedy_probs,
    masked_probs,
    sample_action,
)
from rlcore.types import Transition


def _check_optional_alpha(alpha: float | None) -> None:
    if alpha is not None:
        check_alpha(alpha)


@dataclass(frozen=True)
class MCConfig:
    """Settings of Monte Carlo prediction and on-policy control.

    Attributes:
        gamma: discount in [0, 1].
        first_visit: average the returns of first visits only (else every visit).
        alpha: None for sample averages; a constant step size in (0, 1] otherwise
            (constant-alpha MC, eq. 6.1).
        epsilon: exploration of the epsilon-soft policy in [0, 1] (control only).
        initial_value: initial value of every table entry.
    """

    gamma: float = 1.0
    first_visit: bool = True
    alpha: float | None = None
    epsilon: float = 0.1
    initial_value: float = 0.0

    def __post_init__(self) -> None:
        check_gamma(self.gamma)
        _check_optional_alpha(self.alpha)
        check_epsilon(self.epsilon)
        check_initial(self.initial_value)


@dataclass(frozen=True)
class ConstantAlphaMCConfig:
    """Settings of constant-alpha MC: step size ``alpha`` in (0, 1], ``gamma`` in [0, 1],
    every-visit by default, and the initial value of every V(s)."""

    alpha: float = 0.1
    gamma: float = 1.0
    first_visit: bool = False
    initial_value: float = 0.0

    def __post_init__(self) -> None:
        check_alpha(self.alpha)
        check_gamma(self.gamma)
        check_initial(self.initial_value)


@dataclass(frozen=True)
class OffPolicyMCConfig:
    """Settings of off-policy Monte Carlo.

    Attributes:
        mode: "prediction" (estimate q_pi and v_pi of a fixed target policy) or "control"
            (the target is greedy in Q).
        sampling: "weighted" or "ordinary" importance sampling (§5.5).
        gamma: discount in [0, 1].
        epsilon: the behaviour policy's epsilon in (0, 1] when no fixed behaviour policy is
            given (epsilon-greedy in Q); must be > 0 so every action is covered.
        initial_value: initial value of every table entry.
    """

    mode: Literal["prediction", "control"] = "control"
    sampling: Literal["weighted", "ordinary"] = "weighted"
    gamma: float = 1.0
    epsilon: float = 0.1
    initial_value: float = 0.0

    def __post_init__(self) -> None:
        check_option("mode", self.mode, ("prediction", "control"))
        check_option("sampling", self.sampling, ("weighted", "ordinary"))
        check_gamma(self.gamma)
        check_epsilon(self.epsilon)
        check_initial(self.initial_value)


class _Episode:
    """The steps of the current episode: S_t, A_t, R_{t+1} (and b(A_t | S_t) off-policy)."""

    __slots__ = ("states", "actions", "rewards", "b_probs")

    def __init__(self) -> None:
        self.states: list[int] = []
        self.actions: list[int] = []
        self.rewards: list[float] = []
        self.b_probs: list[float] = []

    def push(self, s: int, a: int, r: float) -> None:
        self.states.append(s)
        self.actions.append(a)
        self.rewards.append(float(r))

    def returns(self, gamma: float, v_boot: float) -> list[float]:
        """G_t for every step, bootstrapped with ``v_boot`` after the last one."""
        return discounted_returns(self.rewards, gamma, v_boot).tolist()


def _first_visits(keys: list) -> list[bool]:
    """For each step, whether its key (state, or state-action) occurs there for the first time."""
    seen: set = set()
    out = []
    for k in keys:
        out.append(k not in seen)
        seen.add(k)
    return out


def _mean_update(values: list, counts: list, i: int, g: float, alpha: float | None) -> None:
    """values[i] += (g - values[i]) / N(i) after N(i) += 1 (§2.4), or alpha (g - values[i])."""
    counts[i] += 1
    step = 1.0 / counts[i] if alpha is None else alpha
    values[i] += step * (g - values[i])


class _MCPredictionAgent(PredictionAgent):
    """The episode buffer shared by the two MC prediction agents: at the end of each episode,
    V(S_t) moves toward the return G_t of every (first) visit (Sutton & Barto (2018) §5.1)."""

    def __init__(self, env: Any, policy: Any = None, config=None, *, seed=None, **kwargs) -> None:
        super().__init__(env, policy, config, kwargs, seed)
        self._n = [0] * self.n_states
        self.reset()

    def reset(self) -> None:
        """Start an episode: forget the unfinished one."""
        self._episode = _Episode()

    def observe(self, transition: Transition) -> None:
        s, a, r, s2, terminated, truncated = transition[:6]
        if self._offered is not None:
            self._see_next(transition)
        self._episode.push(s, a, r)
        if terminated or truncated:
            self._learn(s2, terminated)
            self.reset()

    def _learn(self, s2: int, terminated: bool) -> None:
        c, ep = self.config, self._episode
        g = ep.returns(c.gamma, 0.0 if terminated else self._v[s2])
        use = _first_visits(ep.states) if c.first_visit else [True] * len(g)
        for s, g_t, first in zip(ep.states, g, use):
            if first:
                _mean_update(self._v, self._n, s, g_t, c.alpha)


@final
@export("agents.mc_prediction")
class MCPrediction(_MCPredictionAgent):
    """Monte Carlo prediction of v_pi, first-visit or every-visit (Sutton & Barto (2018) §5.1).

    V(S_t) is the average of the returns G_t that followed visits to S_t (incremental form), or,
    with ``alpha``, V(S_t) <- V(S_t) + alpha [G_t - V(S_t)].

    Args:
        env: the env, or a pair (observation_space, action_space); both Discrete.
        policy: the policy to evaluate (an (S, A) array or tabular policy; default uniform).
        config: an ``MCConfig``, or its fields as keywords (``gamma``, ``first_visit``,
            ``alpha``, ``initial_value``).
        seed: seed of the agent's generator.
    """

    name = "agents.mc_prediction"
    Config = MCConfig

    def _arrays(self) -> dict[str, np.ndarray]:
        return {**super()._arrays(), "counts": np.asarray(self._n, dtype=np.int64)}

    def _load_arrays(self, arrays: dict[str, Any]) -> None:
        super()._load_arrays(arrays)
        self._n = np.asarray(arrays["counts"]).tolist()


@final
@export("agents.constant_alpha_mc")
class ConstantAlphaMC(_MCPredictionAgent):
    """Constant-alpha Monte Carlo prediction, V(S_t) <- V(S_t) + alpha [G_t - V(S_t)] for every
    visit (Sutton & Barto (2018) eq. 6.1), applied when the episode ends.

    Args:
        env: the env, or a pair (observation_space, action_space); both Discrete.
        policy: the policy to evaluate (an (S, A) array or tabular policy; default uniform).
        config: a ``ConstantAlphaMCConfig``, or its fields as keywords (``alpha``, ``gamma``,
            ``first_visit``, ``initial_value``).
        seed: seed of the agent's generator.
    """

    name = "agents.constant_alpha_mc"
    Config = ConstantAlphaMCConfig


class _MCControlAgent(ControlAgent):
    """The episode buffer and visit counts shared by the two MC control agents: at the end of
    each episode Q(S_t, A_t) becomes the average of the returns that followed the (first) visits
    of (S_t, A_t), or moves by ``alpha`` toward them (§5.3-5.4). A truncated episode bootstraps
    from the learned policy's value in S_T: epsilon-greedy in Q, or greedy when ``_greedy``."""

    Config = MCConfig
    _greedy: ClassVar[bool] = False

    def __init__(self, env: Any, config=None, *, seed=None, **kwargs) -> None:
        super().__init__(env, config, kwargs, seed)
        self._n = [[0] * self.n_actions for _ in range(self.n_states)]
        self.reset()

    def reset(self) -> None:
        """Start an episode: forget the unfinished one."""
        super().reset()
        self._episode = _Episode()

    def observe(self, transition: Transition) -> None:
        s, a, r, s2, terminated, truncated = transition[:6]
        if self._offered is not None:
            self._see_next(transition)
        self._episode.push(s, a, r)
        if terminated or truncated:
            self._learn(s2, terminated)
            self.reset()

    def _learn(self, s2: int, terminated: bool) -> None:
        c, ep = self.config, self._episode
        epsilon = 0.0 if self._greedy else self._epsilon
        v_boot = 0.0 if terminated else epsilon_greedy_value(self._q[s2], epsilon, self._mask(s2))
        g = ep.returns(c.gamma, v_boot)
        pairs = list(zip(ep.states, ep.actions))
        use = _first_visits(pairs) if c.first_visit else [True] * len(g)
        for (s, a), g_t, first in zip(pairs, g, use):
            if first:
                _mean_update(self._q[s], self._n[s], a, g_t, c.alpha)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {**super()._arrays(), "counts": np.asarray(self._n, dtype=np.int64)}

    def _load_arrays(self, arrays: dict[str, Any]) -> None:
        super()._load_arrays(arrays)
        self._n = np.asarray(arrays["counts"]).tolist()


@final
@export("agents.mc_control")
class MCControl(_MCControlAgent):
    """On-policy first-visit Monte Carlo control for epsilon-soft policies (S&B (2018) §5.4).

    Acts epsilon-greedily in Q; at the end of each episode Q(S_t, A_t) becomes the average of
    the returns that followed the (first) visits of (S_t, A_t), or moves by ``alpha`` toward them.

    Args:
        env: the env, or a pair (observation_space, action_space); both Discrete.
        config: an ``MCConfig``, or its fields as keywords (``gamma``, ``epsilon``,
            ``first_visit``, ``alpha``, ``initial_value``).
        seed: seed of the agent's generator.
    """

    name = "agents.mc_control"


@final
@export("agents.mc_exploring_starts")
class MCExploringStarts(_MCControlAgent):
    """Monte Carlo ES, exploring starts (Sutton & Barto (2018) §5.3).

    The first action of every episode is uniformly random (the exploring start; states start
    where the env puts them, so use an env whose start distribution covers every state for the
    book's guarantee, e.g. Blackjack), and the rest follow the greedy policy in Q. The greedy
    policy may never finish an episode: run with ``max_episode_steps``.

    Args:
        env: the env, or a pair (observation_space, action_space); both Discrete.
        config: an ``MCConfig`` (``epsilon`` is not used), or its fields as keywords.
        seed: seed of the agent's generator.
    """

    name = "agents.mc_exploring_starts"
    _greedy = True

    def reset(self) -> None:
        """Start an episode: the next action is the exploring start."""
        super().reset()
        self._start = True

    def act(self, obs: int, *, explore: bool = False, mask: Any = None) -> int:
        """The exploring start (uniform among the offered actions) at an episode's first step
        when exploring, else greedy in Q (among the actions ``mask`` offers if given)."""
        if mask is not None:
            self._see_mask(obs, mask)
        offered = self._mask(obs)
        if explore and self._start:
            self._start = False
            if offered is None:
                return int(self._uniform() * self.n_actions)
            choices = [b for b, m in enumerate(offered) if m]
            return choices[int(self._uniform() * len(choices))]
        return greedy_action(self._q[obs], self._uniform(), offered)


@final
@export("agents.off_policy_mc")
class OffPolicyMC(TabularAgent):
    """Off-policy Monte Carlo prediction and control, ordinary or weighted importance
    sampling, incremental every-visit form (Sutton & Barto (2018) §5.5-5.7).

    Going backwards through the episode, with W = rho_{t+1:T-1} = prod_{k>t} pi(A_k|S_k) /
    b(A_k|S_k):

        weighted:  C(S, A) += W;  Q(S, A) += W / C(S, A) [G - Q(S, A)]                 (5.8)
        ordinary:  N(S, A) += 1;  Q(S, A) += [W G - Q(S, A)] / N(S, A)                 (5.5)

    and V(S) the same with W rho_t (the ratio from S_t on). In control mode the target pi is
    greedy in the current Q (ties shared) among the actions that have data (C > 0; see
    ``_estimated_row``), so the backward pass stops, for weighted sampling, at the first action
    the greedy policy would not take (§5.7). Ordinary sampling works in control mode too but
    learns poorly: most weights are 0, which pulls the estimates toward 0 while the greedy
    target keeps changing (the book gives only the weighted form for control).

    Args:
        env: the env, or a pair (observation_space, action_space); both Discrete.
        target: prediction mode: the target policy pi (an (S, A) array or tabular policy;
            default uniform). Must be None in control mode.
        behavior: the behaviour policy b (an (S, A) array or tabular policy; the keyword is
            spelled as in the book and in the off-policy linear agents). Default:
            uniform in prediction mode, epsilon-greedy in Q in control mode. b must give
            positive probability to every action pi may take (control: to every action).
        config: an ``OffPolicyMCConfig``, or its fields as keywords (``mode``, ``sampling``,
            ``gamma``, ``epsilon``, ``initial_value``).
        seed: seed of the agent's generator.
    """

    name = "agents.off_policy_mc"
    Config = OffPolicyMCConfig

    def __init__(
        self,
        env: Any,
        target: Any = None,
        behavior: Any = None,
        config=None,
        *,
        seed=None,
        **kwargs,
    ) -> None:
        if "behaviour" in kwargs:
            raise TypeError(
                "off_policy_mc takes the behaviour policy as behavior= (Sutton & Barto's "
                "spelling, as every rlcore agent does), not behaviour=."
            )
        super().__init__(env, config, kwargs, seed)
        c = self.config
        self.control = c.mode == "control"
        A = self.n_actions
        if self.control and target is not None:
            raise ValueError(
                "off_policy_mc in control mode learns the greedy target policy itself: pass "
                "target=None, or mode='prediction' to evaluate a fixed target policy."
            )
        self.target = None if self.control else self._fixed_policy(target, "target policy")
        self.behavior = None
        if behavior is not None or not self.control:
            self.behavior = self._fixed_policy(behavior, "behaviour policy")
        self._check_coverage()
        self._pi_rows = None if self.target is None else self.target.table.tolist()
        self._b_rows = None if self.behavior is None else self.behavior.table.tolist()
        self._q = self._table(float(c.initial_value), A)
        self._v = self._table(float(c.initial_value))
        self._cq = self._table(0.0, A)  # C (weighted) or N (ordinary) for Q
        self._cv = self._table(0.0)  # the same for V
        self.reset()

    def _check_coverage(self) -> None:
        """b(a|s) > 0 wherever pi(a|s) > 0 (control: everywhere), with a message that teaches."""
        c = self.config
        if self.behavior is None:
            if c.epsilon == 0:
                raise ValueError(
                    "off_policy_mc control with epsilon=0 and no behaviour policy: the greedy "
                    "behaviour gives probability 0 to actions the target may take (coverage, "
                    "Sutton & Barto §5.5). Use epsilon in (0, 1] or pass a soft behaviour policy."
                )
            return
        b = self.behavior.table
        needed = np.ones_like(b, dtype=bool) if self.target is None else self.target.table > 0
        bad = np.argwhere(needed & (b == 0))
        if bad.size:
            s, a = (int(i) for i in bad[0])
            pi = (
                "may be greedy in"
                if self.target is None
                else (f"takes with probability {self.target.table[s, a]:g} in")
            )
            raise ValueError(
                f"off_policy_mc: the behaviour policy gives probability 0 to action {a} in state "
                f"{s}, which the target policy {pi} that state; importance sampling needs "
                "coverage, b(a|s) > 0 wherever pi(a|s) > 0 (Sutton & Barto §5.5). Use a "
                "behaviour policy that tries every such action, e.g. epsilon-greedy with "
                "epsilon > 0 or the uniform random policy."
            )

    @property
    def q(self) -> np.ndarray:
        """Action-value estimates, q_pi (prediction) or of the greedy target (control); (S, A)."""
        return np.array(self._q)

    @property
    def v(self) -> np.ndarray:
        """State values: the IS estimate of v_pi (prediction) or max_a Q (control); (S,)."""
        return np.max(self._q, axis=1) if self.control else np.array(self._v)

    def reset(self) -> None:
        """Start an episode: forget the unfinished one."""
        self._episode = _Episode()

    def _behaviour_probs(self, s: int) -> list[float]:
        mask = self._mask(s)
        if self.behavior is not None:
            row = self._b_rows[s]
            return row if mask is None else masked_probs(row, mask, "the behaviour policy")
        return epsilon_greedy_probs(self._estimated_row(s), self.config.epsilon, mask)

    def _estimated_row(self, s: int) -> list[float]:
        """Q(s, .) with -inf for actions that have no data yet (C or N zero), unless none has.

        The greedy target (and the default epsilon-greedy behaviour) rank only estimated
        actions. With the raw initial values, an optimistic Q (e.g. 0 when rewards are negative)
        can deadlock the algorithm: an untried action stays greedy, so every backward pass
        stops before it could be updated.
        """
        row, counts, mask = self._q[s], self._cq[s], self._mask(s)
        if mask is not None:  # only offered actions count
            counts = [c if m else 0 for c, m in zip(counts, mask)]
            row = [q if m else -math.inf for q, m in zip(row, mask)]
        if all(c == 0 for c in counts):
            return row
        return [q if c > 0 else -math.inf for q, c in zip(row, counts)]

    def _target_probs(self, s: int) -> list[float]:
        if self.control:
            return greedy_probs(self._estimated_row(s))
        mask = self._mask(s)
        row = self._pi_rows[s]
        return row if mask is None else masked_probs(row, mask, "the target policy")

    def act(self, obs: int, *, explore: bool = False, mask: Any = None) -> int:
        """A behaviour action (explore=True) or a target-policy action, among the actions
        ``mask`` offers if given (both policies conditioned on them)."""
        if mask is not None:
            self._see_mask(obs, mask)
        if explore:
            return sample_action(self._behaviour_probs(obs), self._uniform())
        if self.control:
            return greedy_action(self._estimated_row(obs), self._uniform())
        return sample_action(self._target_probs(obs), self._uniform())

    def observe(self, transition: Transition) -> None:
        s, a, r, s2, terminated, truncated = transition[:6]
        if self._offered is not None:
            self._see_next(transition)
        ep = self._episode
        ep.push(s, a, r)
        ep.b_probs.append(self._behaviour_probs(s)[a])  # b is fixed until the episode ends
        if terminated or truncated:
            v_boot = 0.0 if terminated else expected_value(self._q[s2], self._target_probs(s2))
            self._learn(ep.returns(self.config.gamma, v_boot))
            self.reset()

    def _learn(self, g: list[float]) -> None:
        ep, weighted = self._episode, self.config.sampling == "weighted"
        w = 1.0  # rho_{t+1:T-1}
        for t in range(len(g) - 1, -1, -1):
            s, a = ep.states[t], ep.actions[t]
            _is_update(self._q[s], self._cq[s], a, g[t], w, weighted)
            w_v = w * importance_ratio(self._target_probs(s)[a], ep.b_probs[t])
            if not self.control:
                _is_update(self._v, self._cv, s, g[t], w_v, weighted)
            w = w_v
            if weighted and w == 0.0:
                break  # every earlier update would have weight 0

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {
            "q": self.q,
            "v": np.array(self._v),
            "cq": np.array(self._cq),
            "cv": np.array(self._cv),
        }
        if self.target is not None:
            arrays["target"] = self.target.table
        if self.behavior is not None:
            arrays["behavior"] = self.behavior.table
        return arrays

    def _load_arrays(self, arrays: dict[str, Any]) -> None:
        S, A = self.n_states, self.n_actions
        self._q = self._set_table("q", arrays["q"], (S, A))
        self._v = self._set_table("v", arrays["v"], (S,))
        self._cq = self._set_table("cq", arrays["cq"], (S, A))
        self._cv = self._set_table("cv", arrays["cv"], (S,))

    @classmethod
    def _rebuild(cls, spaces_, config, arrays):
        return cls(spaces_, arrays.get("target"), arrays.get("behavior"), config=config)


def _is_update(values: list, counts: list, i: int, g: float, w: float, weighted: bool) -> None:
    """One incremental importance-sampling update of values[i] (eq. 5.8 or the ordinary mean)."""
    if weighted:
        if w == 0.0:
            return
        counts[i] += w
        values[i] += w / counts[i] * (g - values[i])
    else:
        counts[i] += 1.0
        values[i] += (w * g - values[i]) / counts[i]
