"""Batched prediction learners: TD(0), constant-alpha MC, n-step TD, the lambda family, batch TD/MC.

Each estimates v_pi of a fixed policy pi (default: uniform random) for R independent runs,
holding ``v`` of shape (R, S), with the pure functions of ``rlcore.returns``:

    TD(0)                    V(S_t) += alpha [R_{t+1} + gamma V(S_{t+1}) - V(S_t)]     §6.1
    constant-alpha MC        V(S_t) += alpha [G_t - V(S_t)], every visit, at episode end   eq. 6.1
    n-step TD                V(S_tau) += alpha [G_{tau:tau+n} - V(S_tau)], online            §7.1
    offline lambda-return    V(S_t) += alpha [G^lambda_t - V(S_t)], at episode end          §12.1
    TD(lambda)               accumulating trace z, V += alpha delta z                       §12.2
    true online TD(lambda)   dutch trace, the box of §12.5 with one-hot features
    batch TD(0) / batch MC   the values repeated batch updating converges to                §6.3

Episode-end methods read each run's episode from an ``EpisodeBuffer``; sequences are padded
past an episode's end with R = 0, discount 1 and the bootstrap value (0 after termination, V(S_T)
after a time-limit cut), which leaves every return of the real steps unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, final

import numpy as np

from rlcore.returns import (
    accumulating_trace,
    discounted_returns,
    dutch_trace,
    lambda_returns,
    td_error,
    td_target,
)
from rlcore.tabular.base import check_gamma, check_initial, check_lambda, check_n
from rlcore.tabular.batched_learners import EpisodeBuffer, check_alpha_setting, per_run_alpha
from rlcore.tabular.policies import as_probability_table, sample_action
from rlcore.types import Transition


@dataclass(frozen=True, eq=False)
class PredictionConfig:
    """Settings shared by the batched prediction learners.

    Attributes:
        alpha: step size in (0, 1], or an (R,) array (one per run). Unused by batch TD / MC.
        gamma: discount.
        initial_value: initial V(s) (0.5 in Example 6.2, 0 in chapters 7 and 12).
        policy: (S, A) probabilities of the evaluated policy; None: uniform random.
        n: steps of n-step TD.
        lambda_: trace decay of the lambda methods.
    """

    alpha: Any = 0.1
    gamma: float = 1.0
    initial_value: float = 0.0
    policy: Any = None
    n: int = 1
    lambda_: float = 0.0

    def __post_init__(self) -> None:
        check_alpha_setting(self.alpha)
        check_gamma(self.gamma)
        check_initial(self.initial_value)
        check_n(self.n)
        check_lambda(self.lambda_)


class _Evaluator:
    """The fixed policy, the value table and the step sizes of a prediction learner."""

    def __init__(self, env: Any, runs: int, config: PredictionConfig) -> None:
        S, A = env.n_states, env.n_actions
        self.policy = (
            np.full((S, A), 1.0 / A)
            if config.policy is None
            else as_probability_table(config.policy, S, A, "policy")
        )
        self.v = np.full((runs, S), float(config.initial_value))
        self.alpha = per_run_alpha(config.alpha, runs)

    def act(self, s_t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.policy.shape[1] == 1:
            return np.zeros(len(s_t), dtype=np.int64)
        return sample_action(self.policy[s_t], rng.random(len(s_t)))


def _padded_episode(buffer: EpisodeBuffer, runs: np.ndarray, v: np.ndarray, gamma: float):
    """(states, rewards, discounts, next values, lengths) of runs' episodes, (k, L) each,
    padded past the end with R = 0, discount 1 and the bootstrap value (see module doc)."""
    s, _, r, s2, term, lengths = buffer.episode(runs)
    steps = np.arange(s.shape[1])[None]
    valid = steps < lengths[:, None]
    last = lengths - 1
    k = np.arange(len(runs))
    v_boot = np.where(term[k, last], 0.0, v[runs, s2[k, last]])  # (k,)
    discount = np.where(valid, gamma * ~term, 1.0)
    v_next = np.where(valid, v[runs[:, None], s2] * ~term, v_boot[:, None])
    return s, np.where(valid, r, 0.0), discount, v_next, lengths


def _one_hot(s: np.ndarray, n_states: int) -> np.ndarray:
    """x(S) for a batch of states: (k,) -> (k, S) one-hot features."""
    x = np.zeros((len(s), n_states))
    x[np.arange(len(s)), s] = 1.0
    return x


def _sequential_updates(v, alpha, runs, s, g, lengths, first=None) -> None:
    """V(S_t) += alpha [G_t - V(S_t)] for t = first, ..., T - 1 in order, with fixed targets.

    A state met m times in a run's episode, with targets G_1, ..., G_m in time order, ends at
    (1 - alpha)^m V + sum_j alpha (1 - alpha)^(m - j) G_j: the same numbers as the loop over t
    (up to rounding), computed for all runs and states at once.

    Args:
        v: (R, S) values, updated in place; alpha: (R,) step sizes; runs: (k,) run indices;
        s, g: (k, L) states and targets; lengths: (k,) episode lengths T; first: (k,) first
            step to apply (default 0).
    """
    k, L = s.shape
    steps = np.arange(L)[None]
    valid = steps < lengths[:, None]
    if first is not None:
        valid &= steps >= first[:, None]
    i, t = np.nonzero(valid)  # ordered by run, then time
    if i.size == 0:
        return
    S = v.shape[1]
    key = i * S + s[i, t]
    order = np.argsort(key, kind="stable")  # stable: time order kept within a (run, state)
    key = key[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    sizes = np.diff(np.r_[starts, key.size])
    later = np.repeat(starts + sizes - 1, sizes) - np.arange(key.size)  # later visits
    a = alpha[runs[i[order]]]
    total = np.add.reduceat(a * (1 - a) ** later * g[i, t][order], starts)
    gi, gs = np.divmod(key[starts], S)
    rr = runs[gi]
    a = alpha[rr]
    v[rr, gs] = (1 - a) ** sizes * v[rr, gs] + total


class _EpisodeEndLearner:
    """Acts with the fixed policy, stores the episode, updates at its end (``_update``)."""

    def __init__(self, env: Any, runs: int, config: PredictionConfig) -> None:
        self.config = config
        self._ev = _Evaluator(env, runs, config)
        self.buffer = EpisodeBuffer(runs)

    @property
    def v(self) -> np.ndarray:
        return self._ev.v

    def begin(self, runs: np.ndarray, s_0: np.ndarray, rng: np.random.Generator) -> None:
        self.buffer.clear(runs)

    def act(self, runs: np.ndarray, s_t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self._ev.act(s_t, rng)

    def observe(self, runs: np.ndarray, step: Transition, rng: np.random.Generator) -> None:
        self.buffer.push(runs, *step[:5])


@final
class TD0:
    """Batched tabular TD(0) (Sutton & Barto (2018) §6.1). Attributes: v (R, S)."""

    Config = PredictionConfig

    def __init__(self, env: Any, runs: int, config: PredictionConfig) -> None:
        self.config = config
        self._ev = _Evaluator(env, runs, config)

    @property
    def v(self) -> np.ndarray:
        return self._ev.v

    def begin(self, runs: np.ndarray, s_0: np.ndarray, rng: np.random.Generator) -> None:
        """Nothing at the start of an episode."""

    def act(self, runs: np.ndarray, s_t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self._ev.act(s_t, rng)

    def observe(self, runs: np.ndarray, step: Transition, rng: np.random.Generator) -> None:
        s, _, r_t, s2, terminated = step[:5]
        v = self._ev.v
        v_tm1 = v[runs, s]
        target = td_target(r_t, self.config.gamma * ~terminated, v[runs, s2])
        v[runs, s] = v_tm1 + self._ev.alpha[runs] * (target - v_tm1)

    def end(self, runs: np.ndarray, rng: np.random.Generator) -> None:
        """Nothing at the end of an episode."""


@final
class ConstantAlphaMC(_EpisodeEndLearner):
    """Batched every-visit constant-alpha MC (Sutton & Barto (2018) eq. 6.1): at the episode's
    end, V(S_t) += alpha [G_t - V(S_t)] for t = 0, ..., T-1 in order. Attributes: v (R, S)."""

    Config = PredictionConfig

    def end(self, runs: np.ndarray, rng: np.random.Generator) -> None:
        v = self._ev.v
        s, r, d, v_next, lengths = _padded_episode(self.buffer, runs, v, self.config.gamma)
        g = discounted_returns(r, d, v_next)
        _sequential_updates(v, self._ev.alpha, runs, s, g, lengths)


@final
class OfflineLambdaReturn(_EpisodeEndLearner):
    """Batched offline lambda-return algorithm (Sutton & Barto (2018) §12.1, eq. 12.4).

    Nothing changes during an episode; at its end the lambda-returns G^lambda_t are computed
    with the values of the episode (``returns.lambda_returns``) and V(S_t) += alpha
    [G^lambda_t - V(S_t)] is applied for t = 0, ..., T-1 in order. Attributes: v (R, S).
    """

    Config = PredictionConfig

    def end(self, runs: np.ndarray, rng: np.random.Generator) -> None:
        v = self._ev.v
        s, r, d, v_next, lengths = _padded_episode(self.buffer, runs, v, self.config.gamma)
        g = lambda_returns(r, d, v_next, self.config.lambda_)
        _sequential_updates(v, self._ev.alpha, runs, s, g, lengths)


@final
class NStepTD(_EpisodeEndLearner):
    """Batched n-step TD (the box of Sutton & Barto (2018) §7.1), online.

    After step t (reward R_{t+1}, state S_{t+1}), tau = t - n + 1 and, while the episode runs,
    V(S_tau) += alpha [G_{tau:tau+n} - V(S_tau)] with G_{tau:tau+n} = sum_{i=tau+1}^{tau+n}
    gamma^{i-tau-1} R_i + gamma^n V(S_{tau+n}) (eq. 7.2). When the episode ends at T, the
    remaining tau = max(0, T - n), ..., T - 1 use the returns up to T (after a time-limit cut
    these bootstrap from V(S_T) as it was when the episode ended). Attributes: v (R, S).
    """

    Config = PredictionConfig

    def observe(self, runs: np.ndarray, step: Transition, rng: np.random.Generator) -> None:
        s, a, r_t, s2, terminated, truncated = step[:6]
        t = self.buffer.push(runs, s, a, r_t, s2, terminated)
        n = self.config.n
        ready = (t >= n - 1) & ~(terminated | truncated)
        if not ready.any():
            return
        rr, tau = runs[ready], t[ready] - n + 1
        window = self.buffer.rewards[rr[:, None], tau[:, None] + np.arange(n)]  # (k, n)
        v = self._ev.v
        g = discounted_returns(window, self.config.gamma, v[rr, s2[ready]])[:, 0]
        s_tau = self.buffer.states[rr, tau]
        v_old = v[rr, s_tau]
        v[rr, s_tau] = v_old + self._ev.alpha[rr] * (g - v_old)

    def end(self, runs: np.ndarray, rng: np.random.Generator) -> None:
        v = self._ev.v
        s, r, d, v_next, lengths = _padded_episode(self.buffer, runs, v, self.config.gamma)
        g = discounted_returns(r, d, v_next)  # returns up to T, bootstrapped only if cut
        first = np.maximum(lengths - self.config.n, 0)
        _sequential_updates(v, self._ev.alpha, runs, s, g, lengths, first)


@final
class TDLambda:
    """Batched tabular TD(lambda) with accumulating traces (Sutton & Barto (2018) §12.2).

    z <- gamma lambda z + 1[S_t];  delta = R_{t+1} + gamma V(S_{t+1}) - V(S_t);
    V <- V + alpha delta z   (eqs. 12.5-12.7, one-hot features). Attributes: v, z (R, S).
    """

    Config = PredictionConfig

    def __init__(self, env: Any, runs: int, config: PredictionConfig) -> None:
        self.config = config
        self._ev = _Evaluator(env, runs, config)
        self.z = np.zeros_like(self._ev.v)

    @property
    def v(self) -> np.ndarray:
        return self._ev.v

    def begin(self, runs: np.ndarray, s_0: np.ndarray, rng: np.random.Generator) -> None:
        self.z[runs] = 0.0

    def act(self, runs: np.ndarray, s_t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self._ev.act(s_t, rng)

    def observe(self, runs: np.ndarray, step: Transition, rng: np.random.Generator) -> None:
        s, _, r_t, s2, terminated = step[:5]
        c, v = self.config, self._ev.v
        z = accumulating_trace(self.z[runs], _one_hot(s, v.shape[1]), c.gamma * c.lambda_)
        delta = td_error(v[runs, s], r_t, c.gamma * ~terminated, v[runs, s2])
        v[runs] += (self._ev.alpha[runs] * delta)[:, None] * z
        self.z[runs] = z

    def end(self, runs: np.ndarray, rng: np.random.Generator) -> None:
        """Nothing at the end of an episode (traces restart in ``begin``)."""


@final
class TrueOnlineTDLambda:
    """Batched true online TD(lambda) (van Seijen et al. 2016; the box of Sutton & Barto (2018)
    §12.5) with one-hot features x(s):

        delta = R + gamma V(S') - V(S)
        z <- gamma lambda z + (1 - alpha gamma lambda z(S)) x(S)
        V <- V + alpha (delta + V(S) - V_old) z - alpha (V(S) - V_old) x(S);  V_old <- V(S')

    with V(S) and V(S') read before the update. Attributes: v, z (R, S).
    """

    Config = PredictionConfig

    def __init__(self, env: Any, runs: int, config: PredictionConfig) -> None:
        self.config = config
        self._ev = _Evaluator(env, runs, config)
        self.z = np.zeros_like(self._ev.v)
        self.v_old = np.zeros(runs)

    @property
    def v(self) -> np.ndarray:
        return self._ev.v

    def begin(self, runs: np.ndarray, s_0: np.ndarray, rng: np.random.Generator) -> None:
        self.z[runs] = 0.0
        self.v_old[runs] = 0.0

    def act(self, runs: np.ndarray, s_t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self._ev.act(s_t, rng)

    def observe(self, runs: np.ndarray, step: Transition, rng: np.random.Generator) -> None:
        s, _, r_t, s2, terminated = step[:5]
        c, v = self.config, self._ev.v
        alpha = self._ev.alpha[runs]
        gl = c.gamma * c.lambda_
        v_s = v[runs, s]
        v_s2 = v[runs, s2] * ~terminated  # x(S') = 0 at a terminal state
        delta = td_error(v_s, r_t, c.gamma, v_s2)
        x = _one_hot(s, v.shape[1])  # (k, S)
        z = dutch_trace(self.z[runs], x, gl, alpha)
        dv = v_s - self.v_old[runs]
        v[runs] += (alpha * (delta + dv))[:, None] * z - (alpha * dv)[:, None] * x
        self.z[runs] = z
        self.v_old[runs] = v_s2

    def end(self, runs: np.ndarray, rng: np.random.Generator) -> None:
        """Nothing at the end of an episode (traces restart in ``begin``)."""


class _BatchLimit(_EpisodeEndLearner):
    """Counts of all episodes so far; after each, V is set to the batch method's limit."""

    Config = PredictionConfig

    def __init__(self, env: Any, runs: int, config: PredictionConfig) -> None:
        super().__init__(env, runs, config)
        S = env.n_states
        self.v0 = float(config.initial_value)
        self.visits = np.zeros((runs, S))
        self.sums = np.zeros((runs, S))  # sum of rewards (TD) or of returns (MC) per state
        self.flows = np.zeros((runs, S, S))  # TD: counts of non-terminal transitions s -> s'


@final
class BatchTD(_BatchLimit):
    """Batch TD(0) (Sutton & Barto (2018) §6.3, Figure 6.2): after each episode, V becomes the
    value batch TD(0) converges to on all episodes so far, the certainty-equivalence estimate

        V(s) = r_hat(s) + gamma sum_s' P_hat(s' | s) V(s')      for every visited s,

    with r_hat and P_hat the empirical mean reward and continuation frequencies (unvisited
    states keep their initial value). The book reaches this fixed point by repeated batch
    updates with a small alpha; solving for it directly gives the limit without the iteration
    (a test checks that iterating the book's procedure converges to it). Attributes: v (R, S).
    """

    def end(self, runs: np.ndarray, rng: np.random.Generator) -> None:
        s, _, r, s2, term, lengths = self.buffer.episode(runs)
        valid = np.arange(s.shape[1])[None] < lengths[:, None]
        k, t = np.nonzero(valid)
        rr, ss, s2_ = runs[k], s[k, t], s2[k, t]
        np.add.at(self.visits, (rr, ss), 1.0)
        np.add.at(self.sums, (rr, ss), r[k, t])
        cont = ~term[k, t]
        np.add.at(self.flows, (rr[cont], ss[cont], s2_[cont]), 1.0)
        n = self.visits[runs]  # (k, S)
        seen = n > 0
        S = n.shape[1]
        p_hat = self.flows[runs] / np.maximum(n, 1)[:, :, None]  # (k, S, S)
        a = np.eye(S) - self.config.gamma * p_hat
        b = np.where(seen, self.sums[runs] / np.maximum(n, 1), self.v0)
        a[~seen] = np.eye(S)[np.nonzero(~seen)[1]]  # unvisited: V(s) = initial value
        self._ev.v[runs] = np.linalg.solve(a, b[..., None])[..., 0]


@final
class BatchMC(_BatchLimit):
    """Batch constant-alpha MC (Sutton & Barto (2018) §6.3, Figure 6.2): after each episode, V
    becomes the limit of repeated batch MC updates on all episodes so far, the every-visit
    sample average of the returns that followed each state (unvisited states keep their initial
    value). Attributes: v (R, S)."""

    def end(self, runs: np.ndarray, rng: np.random.Generator) -> None:
        v = self._ev.v
        s, r, d, v_next, lengths = _padded_episode(self.buffer, runs, v, self.config.gamma)
        g = discounted_returns(r, d, v_next)
        valid = np.arange(s.shape[1])[None] < lengths[:, None]
        k, t = np.nonzero(valid)
        np.add.at(self.visits, (runs[k], s[k, t]), 1.0)
        np.add.at(self.sums, (runs[k], s[k, t]), g[k, t])
        n = self.visits[runs]
        v[runs] = np.where(n > 0, self.sums[runs] / np.maximum(n, 1), self.v0)
