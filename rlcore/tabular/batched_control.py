"""Batched control learners: Sarsa, Expected Sarsa, Q-learning, Double Q, Dyna-Q(+), MC ES.

Each holds q of shape (R, S, A) for R independent runs and applies, to a batch of transitions
of k runs (``runs`` (k,)), the targets of ``rlcore.returns`` that the scalar agents of
``rlcore.tabular.td`` apply one transition at a time:

    Q(S, A) <- Q(S, A) + alpha [target - Q(S, A)]         (Sutton & Barto (2018) §6.4-6.7)

Behaviour is epsilon-greedy with random tie-breaking (``rlcore.tabular.policies``), over the
actions each state offers (``env.action_mask``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, final

import numpy as np

from rlcore.returns import (
    double_q_learning_target,
    expected_sarsa_target,
    q_learning_target,
    sarsa_target,
)
from rlcore.tabular.base import check_epsilon, check_gamma, check_initial, check_option
from rlcore.tabular.batched_learners import (
    ActionValues,
    EpisodeBuffer,
    check_alpha_setting,
    masked_epsilon_greedy,
    masked_epsilon_greedy_probs,
    per_run_alpha,
    put_runs,
    take_runs,
)
from rlcore.tabular.policies import greedy_action
from rlcore.types import Transition
from rlcore.validation import check_int, check_range


def _mask(env: Any) -> np.ndarray | None:
    mask = np.asarray(env.action_mask, dtype=bool)
    return None if mask.all() else mask


@dataclass(frozen=True, eq=False)
class TDControlConfig:
    """Settings of batched one-step TD control (as ``rlcore.tabular.td.TDConfig``).

    Attributes:
        method: "sarsa", "expected_sarsa" or "q_learning" (set by the learner name).
        alpha: step size in (0, 1], or an (R,) array of step sizes (one per run).
        epsilon: behaviour epsilon (epsilon-greedy); Expected Sarsa's target uses it too.
        gamma: discount.
        initial_value: initial Q(s, a).
    """

    method: Literal["sarsa", "expected_sarsa", "q_learning"] = "q_learning"
    alpha: Any = 0.5
    epsilon: float = 0.1
    gamma: float = 1.0
    initial_value: float = 0.0

    def __post_init__(self) -> None:
        check_option("method", self.method, ("sarsa", "expected_sarsa", "q_learning"))
        check_alpha_setting(self.alpha)
        check_epsilon(self.epsilon)
        check_gamma(self.gamma)
        check_initial(self.initial_value)


@final
class TDControl:
    """Batched Sarsa (eq. 6.7), Expected Sarsa (eq. 6.9) or Q-learning (eq. 6.8).

    Sarsa's next action A' is chosen epsilon-greedily in ``observe`` (before Q(S, A) changes, as
    in the book's box) and taken by the next ``act``.

    Attributes:
        q: (R, S, A) action values.
    """

    Config = TDControlConfig

    def __init__(self, env: Any, runs: int, config: TDControlConfig) -> None:
        self.config = config
        self.values = ActionValues(runs, env.n_states, env.n_actions, config.initial_value)
        self.alpha = per_run_alpha(config.alpha, runs)
        self.mask = _mask(env)
        self.next_a = np.zeros(runs, dtype=np.int64)  # Sarsa: the action each run takes next
        self.chosen = np.zeros(runs, dtype=bool)  # Sarsa: next_a already holds S_0's action

    @property
    def q(self) -> np.ndarray:
        return self.values.q

    def _behave(self, runs, s, rng, q_s=None) -> np.ndarray:
        """Epsilon-greedy actions in states s (``q_s``: their rows, if already gathered)."""
        mask_s = None if self.mask is None else self.mask[s]
        q_s = self.values.rows(runs, s) if q_s is None else q_s
        return masked_epsilon_greedy(q_s, self.config.epsilon, mask_s, rng)

    def begin(self, runs: np.ndarray, s_0: np.ndarray, rng: np.random.Generator) -> None:
        if self.config.method == "sarsa":
            new = ~self.chosen[runs]  # runs whose first action observe did not pick
            if new.any():
                self.next_a[runs[new]] = self._behave(runs[new], s_0[new], rng)
            self.chosen[runs] = False

    def act(self, runs: np.ndarray, s_t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.config.method == "sarsa":
            return take_runs(self.next_a, runs)
        return self._behave(runs, s_t, rng)

    def observe(self, runs: np.ndarray, step: Transition, rng: np.random.Generator) -> None:
        s, a, r_t, s2, terminated = step[:5]
        c = self.config
        discount_t = c.gamma * ~terminated
        if c.method == "sarsa":
            self._sarsa(runs, step, discount_t, rng)
            return
        q_t = self.values.rows(runs, s2)  # (k, A)
        mask_t = None if self.mask is None else self.mask[s2]
        if c.method == "q_learning":
            q_offered = q_t if mask_t is None else np.where(mask_t, q_t, -np.inf)
            target = q_learning_target(r_t, discount_t, q_offered)
        else:
            probs_t = masked_epsilon_greedy_probs(q_t, c.epsilon, mask_t)
            target = expected_sarsa_target(r_t, discount_t, q_t, probs_t)
        self.values.update(runs, s, a, target, take_runs(self.alpha, runs))

    def _sarsa(self, runs, step: Transition, discount_t, rng) -> None:
        """Sarsa's update; picks every run's next action in one batch, before Q(S, A) changes
        as in the book's box: A' in S_{t+1}, or, for a run whose episode ended, A_0 in the
        S_0 of its next episode (``info["next_obs"]``).

        One gather of rows serves both: the rows of the states where each run acts next are
        Q(S_{t+1}, .) except where an episode ended, and there the target needs no bootstrap
        (discount 0) unless the episode was cut, which is handled apart."""
        s, a, r_t, s2, terminated, truncated, info = step
        s_next = s2 if info is None else info["next_obs"]
        q_next = self.values.rows(runs, s_next)
        a_next = self._behave(runs, s_next, rng, q_next)
        target = sarsa_target(r_t, discount_t, q_next, a_next)
        if truncated.any():  # a cut episode bootstraps from A' in S_{t+1}, not from A_0
            cut = truncated.nonzero()[0]
            q_cut = self.values.rows(runs[cut], s2[cut])
            a_cut = self._behave(runs[cut], s2[cut], rng, q_cut)
            target[cut] = sarsa_target(r_t[cut], discount_t[cut], q_cut, a_cut)
        self.values.update(runs, s, a, target, take_runs(self.alpha, runs))
        if info is not None:
            done = terminated | truncated
            # A_0 must see the updated Q: pick again where the update changed S_0's row.
            redo = (done & (s == s_next)).nonzero()[0]
            if redo.size:
                a_next[redo] = self._behave(runs[redo], s_next[redo], rng)
            put_runs(self.chosen, runs, done)  # (``begin`` clears it for the next episode)
        put_runs(self.next_a, runs, a_next)

    def end(self, runs: np.ndarray, rng: np.random.Generator) -> None:
        """Nothing at the end of an episode."""


@dataclass(frozen=True, eq=False)
class DoubleQConfig:
    """Settings of batched Double Q-learning: as ``TDControlConfig`` without ``method``."""

    alpha: Any = 0.1
    epsilon: float = 0.1
    gamma: float = 1.0
    initial_value: float = 0.0

    def __post_init__(self) -> None:
        check_alpha_setting(self.alpha)
        check_epsilon(self.epsilon)
        check_gamma(self.gamma)
        check_initial(self.initial_value)


@final
class DoubleQ:
    """Batched Double Q-learning (van Hasselt 2010; Sutton & Barto (2018) §6.7).

    Per run, with probability 1/2: Q1(S, A) += alpha [R + gamma Q2(S', argmax_a Q1(S', a)) -
    Q1(S, A)], else the same with the tables swapped; behaviour epsilon-greedy in Q1 + Q2.

    Attributes:
        tables: the two ``ActionValues``; ``q`` is their mean (R, S, A).
    """

    Config = DoubleQConfig

    def __init__(self, env: Any, runs: int, config: DoubleQConfig) -> None:
        self.config = config
        self.tables = tuple(
            ActionValues(runs, env.n_states, env.n_actions, config.initial_value) for _ in "12"
        )
        self.alpha = per_run_alpha(config.alpha, runs)
        self.mask = _mask(env)

    @property
    def q(self) -> np.ndarray:
        return (self.tables[0].q + self.tables[1].q) / 2

    def begin(self, runs: np.ndarray, s_0: np.ndarray, rng: np.random.Generator) -> None:
        """Nothing at the start of an episode."""

    def act(self, runs: np.ndarray, s_t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        q_s = self.tables[0].rows(runs, s_t) + self.tables[1].rows(runs, s_t)
        mask_s = None if self.mask is None else self.mask[s_t]
        return masked_epsilon_greedy(q_s, self.config.epsilon, mask_s, rng)

    def observe(self, runs: np.ndarray, step: Transition, rng: np.random.Generator) -> None:
        s, a, r_t, s2, terminated = step[:5]
        u = rng.random((2, len(runs)))
        first = u[0] < 0.5  # which table learns
        for learns, other, sel in ((0, 1, first), (1, 0, ~first)):
            if not sel.any():
                continue
            rr, s2_ = runs[sel], s2[sel]
            q_sel = self.tables[learns].rows(rr, s2_)  # the learning table selects A*
            if self.mask is not None:
                q_sel = np.where(self.mask[s2_], q_sel, -np.inf)
            a_star = greedy_action(q_sel, u[1, sel])
            target = double_q_learning_target(
                r_t[sel],
                self.config.gamma * ~terminated[sel],
                self.tables[other].rows(rr, s2_),
                a_star,
            )
            self.tables[learns].update(rr, s[sel], a[sel], target, self.alpha[rr])

    def end(self, runs: np.ndarray, rng: np.random.Generator) -> None:
        """Nothing at the end of an episode."""


@dataclass(frozen=True, eq=False)
class DynaConfig:
    """Settings of batched Dyna-Q and Dyna-Q+ (Sutton & Barto (2018) §8.2-8.3).

    Attributes:
        method: "dyna_q" or "dyna_q_plus" (set by the learner name).
        alpha, epsilon, gamma, initial_value: as ``TDControlConfig`` (book: 0.1, 0.1, 0.95, 0).
        planning_steps: n, simulated Q-learning updates per real step.
        kappa: Dyna-Q+'s bonus weight: planning rewards are r + kappa sqrt(tau), tau the steps
            since (s, a) was last tried for real. Ignored by Dyna-Q.
    """

    method: Literal["dyna_q", "dyna_q_plus"] = "dyna_q"
    alpha: Any = 0.1
    epsilon: float = 0.1
    gamma: float = 0.95
    initial_value: float = 0.0
    planning_steps: int = 5
    kappa: float = 1e-3

    def __post_init__(self) -> None:
        check_option("method", self.method, ("dyna_q", "dyna_q_plus"))
        check_alpha_setting(self.alpha)
        check_epsilon(self.epsilon)
        check_gamma(self.gamma)
        check_initial(self.initial_value)
        check_int("planning_steps", self.planning_steps, 0)
        check_range("kappa", self.kappa, 0.0)


@final
class DynaQ:
    """Batched Tabular Dyna-Q (the box of §8.2) and Dyna-Q+ (§8.3).

    Each real step: (a) Q-learning on the real transition; (b) the deterministic model of each
    run remembers (R, S', terminated) for (S, A); (c) ``planning_steps`` times, a previously
    observed (s, a) of each run drawn uniformly is replayed through the model with a Q-learning
    update. Dyna-Q+ adds kappa sqrt(tau) to planned rewards and, as in the book's footnote,
    lets planning also pick untried actions of visited states, modelled as staying put with
    reward 0.

    Attributes:
        q: (R, S, A) action values.
    """

    Config = DynaConfig

    def __init__(self, env: Any, runs: int, config: DynaConfig) -> None:
        self.config = config
        R, S, A = runs, env.n_states, env.n_actions
        self.n_actions = A
        self.values = ActionValues(R, S, A, config.initial_value)
        self.alpha = per_run_alpha(config.alpha, runs)
        self.mask = _mask(env)
        self.plus = config.method == "dyna_q_plus"
        # Deterministic model, flattened pairs p = s * A + a. Untried pairs stay put, reward 0.
        self.model_next = np.repeat(np.arange(S), A)[None].repeat(R, axis=0)  # (R, S*A)
        self.model_reward = np.zeros((R, S * A))
        self.model_term = np.zeros((R, S * A), dtype=bool)
        self.known = np.zeros((R, S * A), dtype=bool)  # pairs planning may draw
        self.known_list = np.zeros((R, S * A), dtype=np.int64)  # the known pairs, in order
        self.n_known = np.zeros(R, dtype=np.int64)
        self.last_tried = np.zeros((R, S * A), dtype=np.int64)  # Dyna-Q+ tau bookkeeping
        self.t = np.zeros(R, dtype=np.int64)  # real steps taken

    @property
    def q(self) -> np.ndarray:
        return self.values.q

    def begin(self, runs: np.ndarray, s_0: np.ndarray, rng: np.random.Generator) -> None:
        """Nothing at the start of an episode."""

    def act(self, runs: np.ndarray, s_t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        mask_s = None if self.mask is None else self.mask[s_t]
        return masked_epsilon_greedy(self.values.rows(runs, s_t), self.config.epsilon, mask_s, rng)

    def _q_update(self, runs, s, a, r_t, s2, terminated) -> None:
        discount_t = self.config.gamma * ~terminated
        target = q_learning_target(r_t, discount_t, self.values.rows(runs, s2))
        self.values.update(runs, s, a, target, self.alpha[runs])

    def _add_known(self, runs: np.ndarray, pairs: np.ndarray) -> None:
        new = ~self.known[runs, pairs]
        runs, pairs = runs[new], pairs[new]
        self.known[runs, pairs] = True
        self.known_list[runs, self.n_known[runs]] = pairs
        self.n_known[runs] += 1

    def observe(self, runs: np.ndarray, step: Transition, rng: np.random.Generator) -> None:
        s, a, r_t, s2, terminated = step[:5]
        A = self.n_actions
        self.t[runs] += 1
        # (a) direct RL.
        self._q_update(runs, s, a, r_t, s2, terminated)
        # (b) model learning.
        pair = s * A + a
        self.model_next[runs, pair] = s2
        self.model_reward[runs, pair] = r_t
        self.model_term[runs, pair] = terminated
        self.last_tried[runs, pair] = self.t[runs]
        if self.plus:  # every action of a visited state becomes plannable
            for b in range(A):
                self._add_known(runs, s * A + b)
        else:
            self._add_known(runs, pair)
        # (c) planning.
        kappa = self.config.kappa
        n_known = self.n_known[runs]
        u = rng.random((self.config.planning_steps, len(runs)))
        for u_i in u:
            p = self.known_list[runs, (u_i * n_known).astype(np.int64)]
            r_p = self.model_reward[runs, p]
            if self.plus:
                r_p = r_p + kappa * np.sqrt(self.t[runs] - self.last_tried[runs, p])
            self._q_update(
                runs, p // A, p % A, r_p, self.model_next[runs, p], self.model_term[runs, p]
            )

    def end(self, runs: np.ndarray, rng: np.random.Generator) -> None:
        """Nothing at the end of an episode."""


@dataclass(frozen=True, eq=False)
class MonteCarloESConfig:
    """Settings of batched Monte Carlo ES: discount ``gamma`` and initial Q(s, a)."""

    gamma: float = 1.0
    initial_value: float = 0.0

    def __post_init__(self) -> None:
        check_gamma(self.gamma)
        check_initial(self.initial_value)


@final
class MonteCarloES:
    """Batched Monte Carlo ES, first visit, sample averages (Sutton & Barto (2018) §5.3 box).

    The first action of every episode is uniformly random (the env supplies random start
    states, e.g. ``BlackjackBatchEnv(start="exploring")``); later actions are greedy in Q, ties
    broken at random. At the episode's end each first-visited (S_t, A_t) gets
    Q <- Q + (G_t - Q) / N(S_t, A_t).

    Attributes:
        q: (R, S, A) action values; counts: (R, S, A) first visits.
    """

    Config = MonteCarloESConfig

    def __init__(self, env: Any, runs: int, config: MonteCarloESConfig) -> None:
        self.config = config
        R, S, A = runs, env.n_states, env.n_actions
        self.values = ActionValues(R, S, A, config.initial_value)
        self.counts = np.zeros((R, S, A), dtype=np.int64)
        self.first_step = np.ones(R, dtype=bool)
        self.buffer = EpisodeBuffer(R, capacity=16)

    @property
    def q(self) -> np.ndarray:
        return self.values.q

    def begin(self, runs: np.ndarray, s_0: np.ndarray, rng: np.random.Generator) -> None:
        self.first_step[runs] = True

    def act(self, runs: np.ndarray, s_t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        u = rng.random(len(runs))
        greedy = greedy_action(self.values.rows(runs, s_t), u)
        A = self.counts.shape[2]
        explore = np.minimum((u * A).astype(np.int64), A - 1)
        a = np.where(self.first_step[runs], explore, greedy)
        self.first_step[runs] = False
        return a

    def observe(self, runs: np.ndarray, step: Transition, rng: np.random.Generator) -> None:
        self.buffer.push(runs, *step[:5])

    def end(self, runs: np.ndarray, rng: np.random.Generator) -> None:
        from rlcore.returns import discounted_returns

        s, a, r, _, _, lengths = self.buffer.episode(runs)
        steps = np.arange(s.shape[1])[None]
        valid = steps < lengths[:, None]
        g = discounted_returns(np.where(valid, r, 0.0), self.config.gamma)  # (k, L)
        # First visits: a (s, a) pair earlier in the same episode makes a later one a repeat.
        pair = s * self.counts.shape[2] + a
        first = valid & _first_occurrence(np.where(valid, pair, -1 - steps))
        k_idx, t_idx = np.nonzero(first)
        rr, ss, aa = runs[k_idx], s[k_idx, t_idx], a[k_idx, t_idx]
        self.counts[rr, ss, aa] += 1
        self.values.update(rr, ss, aa, g[k_idx, t_idx], 1.0 / self.counts[rr, ss, aa])
        self.buffer.clear(runs)


def _first_occurrence(x: np.ndarray) -> np.ndarray:
    """(k, L) bool: x[i, t] does not occur in x[i, :t]."""
    order = np.argsort(x, axis=1, kind="stable")
    sorted_x = np.take_along_axis(x, order, axis=1)
    first_sorted = np.ones_like(sorted_x, dtype=bool)
    first_sorted[:, 1:] = sorted_x[:, 1:] != sorted_x[:, :-1]
    out = np.empty_like(first_sorted)
    np.put_along_axis(out, order, first_sorted, axis=1)
    return out
