"""Tabular value ensembles: Maxmin Q-learning, ensemble (averaged) Q-learning, bootstrapped Q.

N tables Q_1..Q_N of shape (S, A), combined by a reduction over the member axis
(``rlcore.ensemble.reductions``: NumPy, no torch):

    Maxmin Q-learning    (Lan et al. 2020, Algorithm 1 with |S| = 1): a member i drawn uniformly
                         per step learns Q_i(S, A) += alpha [R + gamma max_a Q_min(S', a) -
                         Q_i(S, A)], Q_min(s, a) = min_k Q_k(s, a); acting epsilon-greedy in
                         Q_min. N = 1 is Q-learning; larger N lowers the maximization bias
                         (N = 2 is not Double Q: both tables share one target).
    Ensemble Q-learning  the same with the mean: Q_mean(s, a) = (1/N) sum_k Q_k(s, a) (the
                         tabular form of Averaged-DQN's averaged target, Anschel et al. 2017).
    Bootstrapped Q       (Osband et al. 2016, Algorithm 1, tabular): K tables with randomized
                         prior values, a member sampled at every episode start and followed
                         greedily for the whole episode (deep exploration by Thompson-style
                         sampling over the ensemble); every transition carries a bootstrap mask
                         m ~ Bernoulli(p)^K drawn when it is observed, and member k learns from
                         it only if m_k = 1, toward its own target R + gamma max_a Q_k(S', a).
                         Greedy evaluation (explore=False) follows the mean of the members
                         (``evaluation="mean"``) or their majority vote (``"vote"``).

The randomized prior of Osband et al. (2018) is Q_k = f_k + beta p_k with a fixed random p_k and
f_k trained so that Q_k fits the target; for a table, training f_k so that f_k + beta p_k moves
toward the target is exactly Q-learning on Q_k started from beta p_k, so the prior tables are the
members' initial values: initial_value + prior_scale * N(0, 1), drawn at the first episode.

Usage::

    agent = rlcore.make("agents.maxmin_q_learning", env, n=4, alpha=0.1, epsilon=0.1, seed=0)
    agent = rlcore.make("agents.bootstrapped_q_learning", env, seed=0)   # explores deep
    agent.q           # (S, A): the reduction of the members (min, mean, mean)
    agent.q_members   # (N, S, A)

With ``n=1`` both Maxmin and ensemble Q-learning draw exactly the random numbers of
``agents.q_learning`` and give the same returns and tables, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, final

import numpy as np

from rlcore.ensemble.bagging import check_mask_p
from rlcore.ensemble.reductions import Mean, Min, Vote
from rlcore.registry import export
from rlcore.returns import q_learning_target
from rlcore.tabular.base import (
    ControlAgent,
    check_alpha,
    check_epsilon,
    check_gamma,
    check_initial,
    check_option,
)
from rlcore.tabular.policies import epsilon_greedy_action, greedy_action, masked_values
from rlcore.types import Transition
from rlcore.validation import check_int, check_range

__all__ = [
    "BootstrappedQConfig",
    "BootstrappedQLearning",
    "EnsembleQConfig",
    "EnsembleQLearning",
    "MaxminQLearning",
]


def _check_members(n: Any) -> int:
    return check_int(
        "n", n, 1, hint="n is the number of ensemble members (tables); n=1 is Q-learning."
    )


@dataclass(frozen=True)
class EnsembleQConfig:
    """Settings of Maxmin and ensemble Q-learning.

    Attributes:
        n: members N >= 1 (Lan et al. use 2-8).
        alpha, epsilon, gamma, initial_value: as ``rlcore.tabular.td.TDConfig`` (same defaults,
            so n = 1 reproduces ``agents.q_learning``).
    """

    n: int = 2
    alpha: float = 0.5
    epsilon: float = 0.1
    gamma: float = 1.0
    initial_value: float = 0.0

    def __post_init__(self) -> None:
        _check_members(self.n)
        check_alpha(self.alpha)
        check_epsilon(self.epsilon)
        check_gamma(self.gamma)
        check_initial(self.initial_value)


class _ReducedQ(ControlAgent):
    """N list tables acted on and bootstrapped through one reduction (min or mean).

    Member 0 is ControlAgent's ``_q``; n = 1 takes the list fast paths of ``agents.q_learning``
    and draws no extra random number (the member choice only happens for n > 1).
    """

    reduction: Any

    def __init__(self, env: Any, config: Any, kwargs: Any, seed: Any) -> None:
        super().__init__(env, config, kwargs, seed)
        c = self.config
        self._alpha, self._gamma, self._n = c.alpha, c.gamma, c.n
        self._qs = [self._q] + [
            self._table(float(c.initial_value), self.n_actions) for _ in range(c.n - 1)
        ]

    def _row(self, s: int, q: Any = None) -> list[float]:
        """The reduced row over members, Q_red(s, .), as a list (-inf at the actions ``s`` does
        not offer, once the env gives action masks)."""
        if self._n == 1:
            row = self._qs[0][s]
        else:
            row = self.reduction(np.array([q[s] for q in self._qs])).tolist()  # (N, A) -> (A,)
        mask = self._mask(s)
        return row if mask is None else masked_values(row, mask)

    @property
    def q(self) -> np.ndarray:
        """The members' reduction, (n_states, n_actions) (assigning sets every member)."""
        return self.reduction(self.q_members)

    @q.setter
    def q(self, value: Any) -> None:
        table = self._set_table("q", value, (self.n_states, self.n_actions))
        self._qs = [[list(row) for row in table] for _ in range(self._n)]
        self._q = self._qs[0]

    @property
    def q_members(self) -> np.ndarray:
        """Every member's table, (n, n_states, n_actions)."""
        return np.array(self._qs)

    def act(self, obs: int, *, explore: bool = False, mask: Any = None) -> int:
        """Epsilon-greedy (explore=True) or greedy in the reduced values, ties at random, among
        the actions ``mask`` (A,) offers if given."""
        if mask is not None:
            self._see_mask(obs, mask)
        row, offered = self._row(obs), self._mask(obs)
        u = self._uniform_block()
        if explore:
            return epsilon_greedy_action(row, self._epsilon, u.pop(), u.pop(), offered)
        return greedy_action(row, u.pop(), offered)

    def observe(self, transition: Transition) -> None:
        s, a, r, s2, terminated = transition[:5]
        if self._offered is not None:
            self._see_next(transition)
        i = 0 if self._n == 1 else min(int(self._uniform() * self._n), self._n - 1)
        row = self._qs[i][s]
        target = r if terminated else q_learning_target(r, self._gamma, self._row(s2))
        row[a] += self._alpha * (target - row[a])

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"q_members": self.q_members}

    def _load_arrays(self, arrays: dict[str, Any]) -> None:
        self._qs = _members_array(self, arrays, self._n).tolist()
        self._q = self._qs[0]


def _members_array(agent: ControlAgent, arrays: dict[str, Any], n: int) -> np.ndarray:
    """The saved (n, S, A) member tables, checked."""
    shape = (n, agent.n_states, agent.n_actions)
    values = np.array(arrays["q_members"], dtype=np.float64)
    if values.shape != shape or not np.all(np.isfinite(values)):
        raise ValueError(
            f"{agent.name}: q_members must be finite with shape {shape}, got {values.shape}."
        )
    return values


@final
@export("agents.maxmin_q_learning")
class MaxminQLearning(_ReducedQ):
    """Maxmin Q-learning (Lan et al. 2020, Algorithm 1; see the module docstring).

    Q_i(S, A) += alpha [R + gamma max_a min_k Q_k(S', a) - Q_i(S, A)] for one member i drawn
    uniformly per step; epsilon-greedy in min_k Q_k. ``q`` is min_k Q_k.

    Args:
        env: the env, or a pair (observation_space, action_space); both Discrete.
        config: an ``EnsembleQConfig``, or its fields as keywords (``n``, ``alpha``, ``epsilon``,
            ``gamma``, ``initial_value``).
        seed: seed of the agent's generator.
    """

    name = "agents.maxmin_q_learning"
    Config = EnsembleQConfig
    reduction = Min()

    def __init__(self, env: Any, config: EnsembleQConfig | None = None, *, seed=None, **kwargs):
        super().__init__(env, config, kwargs, seed)


@final
@export("agents.ensemble_q_learning")
class EnsembleQLearning(_ReducedQ):
    """Ensemble Q-learning with averaged targets (the tabular Averaged-DQN; module docstring).

    Q_i(S, A) += alpha [R + gamma max_a (1/N) sum_k Q_k(S', a) - Q_i(S, A)] for one member i
    drawn uniformly per step; epsilon-greedy in the mean. ``q`` is the mean.

    Args: as ``MaxminQLearning``.
    """

    name = "agents.ensemble_q_learning"
    Config = EnsembleQConfig
    reduction = Mean()

    def __init__(self, env: Any, config: EnsembleQConfig | None = None, *, seed=None, **kwargs):
        super().__init__(env, config, kwargs, seed)


@dataclass(frozen=True)
class BootstrappedQConfig:
    """Settings of tabular bootstrapped Q-learning. The defaults explore deep: they find the
    reward at the far end of a chain of length 10 where epsilon-greedy Q-learning does not
    (``tests/tabular/test_tabular_ensembles.py``).

    Attributes:
        n: members K >= 1 (Osband et al. 2016 use 10).
        alpha: step size in (0, 1].
        gamma: discount in [0, 1]. The default 0.9 is part of exploring deep: with gamma = 1 a
            positive prior value in a loop of visited states sustains itself (max_a Q(S', a)
            feeds it back undiminished), so members circle among states they know; with
            gamma < 1 those values decay and the untouched priors beyond the frontier win. On
            the length-10 chain of the tests: gamma 0.9 found the reward in 4 of 4 seeds (after
            51-123 episodes, 84-98% of the last 100 episodes), 0.99 in 0 of 4 within 300.
        p: bootstrap mask probability in (0, 1] (Bernoulli(p) per member and transition).
        prior_scale: beta >= 0, the scale of the randomized prior tables (0: no prior).
        epsilon: extra epsilon-greedy exploration around the sampled member (0: none).
        initial_value: added to every initial value (the prior's mean).
        evaluation: the greedy policy when explore=False: "mean" (argmax of the members' mean)
            or "vote" (the members' majority greedy action).
    """

    n: int = 10
    alpha: float = 0.5
    gamma: float = 0.9
    p: float = 0.5
    prior_scale: float = 1.0
    epsilon: float = 0.0
    initial_value: float = 0.0
    evaluation: str = "mean"

    def __post_init__(self) -> None:
        _check_members(self.n)
        check_alpha(self.alpha)
        check_gamma(self.gamma)
        check_mask_p(self.p)
        check_range(
            "prior_scale", self.prior_scale, 0.0, hint="Use 0 for no prior, e.g. 1.0 otherwise."
        )
        check_epsilon(self.epsilon)
        check_initial(self.initial_value)
        check_option("evaluation", self.evaluation, ("mean", "vote"))


@final
@export("agents.bootstrapped_q_learning")
class BootstrappedQLearning(ControlAgent):
    """Tabular bootstrapped Q-learning with randomized priors (module docstring).

    Each episode follows member k (drawn at ``reset``) greedily; each transition gets masks
    m ~ Bernoulli(p)^K and every member with m_k = 1 learns
    Q_k(S, A) += alpha [R + gamma max_a Q_k(S', a) - Q_k(S, A)]. ``q`` is the members' mean.

    Args:
        env: the env, or a pair (observation_space, action_space); both Discrete.
        config: a ``BootstrappedQConfig``, or its fields as keywords.
        seed: seeds the agent's generator, which draws the prior tables at the first episode
            start and the members, masks and ties after that.
    """

    name = "agents.bootstrapped_q_learning"
    Config = BootstrappedQConfig
    numpy_tables = True

    def __init__(
        self, env: Any, config: BootstrappedQConfig | None = None, *, seed=None, **kwargs
    ) -> None:
        super().__init__(env, config, kwargs, seed)
        c = self.config
        self._qs = np.full((c.n, self.n_states, self.n_actions), float(c.initial_value))
        self._q = self._qs[0]
        self._prior_pending = c.prior_scale > 0  # drawn at the first reset (see reset)
        self.active = 0  # the member followed in this episode

    @property
    def q(self) -> np.ndarray:
        """The members' mean, (n_states, n_actions) (assigning sets every member)."""
        return Mean()(self._qs)

    @q.setter
    def q(self, value: Any) -> None:
        table = self._set_table("q", value, (self.n_states, self.n_actions))
        self._qs = np.repeat(table[None], self.config.n, axis=0)
        self._q, self._prior_pending = self._qs[0], False

    @property
    def q_members(self) -> np.ndarray:
        """Every member's table, (n, n_states, n_actions) (a copy)."""
        return self._qs.copy()

    def reset(self) -> None:
        """Start of an episode: sample the member to follow (Osband et al. 2016, Alg. 1).

        The first reset also adds the prior tables, prior_scale * N(0, 1), drawn from the agent's
        generator: ``rlcore.run(agent, env, seed=s)`` seeds it first, so the seed of the run
        decides the priors (and two agents run with one seed get the same ones).
        """
        super().reset()
        if self._prior_pending:
            self._prior_pending = False
            self._qs += self.config.prior_scale * self._rng.standard_normal(self._qs.shape)
        self.active = min(int(self._uniform() * self.config.n), self.config.n - 1)

    def act(self, obs: int, *, explore: bool = False, mask: Any = None) -> int:
        """explore=True: (epsilon-)greedy in the active member; False: the mean or the vote;
        among the actions ``mask`` (A,) offers if given."""
        if mask is not None:
            self._see_mask(obs, mask)
        offered = self._mask(obs)
        u = self._uniform_block()
        if explore:
            row = self._qs[self.active, obs].tolist()
            return epsilon_greedy_action(row, self._epsilon, u.pop(), u.pop(), offered)
        if self.config.evaluation == "vote":
            greedy = [[greedy_action(q[obs].tolist(), u.pop(), offered)] for q in self._qs]
            return int(Vote()(np.array(greedy))[0])
        return greedy_action(self.q[obs].tolist(), u.pop(), offered)

    def observe(self, transition: Transition) -> None:
        s, a, r, s2, terminated = transition[:5]
        c = self.config
        if self._offered is not None:
            self._see_next(transition)
        masks = self._rng.random(c.n) < c.p  # drawn once, when the transition arrives
        if not masks.any():
            return
        q_sa = self._qs[masks, s, a]  # (m,)
        if terminated:
            target = r
        else:
            q_t = self._qs[masks, s2]  # (m, A)
            offered = self._mask(s2)
            if offered is not None:  # the max over the actions S_{t+1} offers
                q_t = masked_values(q_t, offered)
            target = q_learning_target(r, c.gamma, q_t)  # (m,)
        self._qs[masks, s, a] = q_sa + c.alpha * (target - q_sa)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"q_members": self.q_members}

    def _load_arrays(self, arrays: dict[str, Any]) -> None:
        self._qs = _members_array(self, arrays, self.config.n)
        self._q, self._prior_pending = self._qs[0], False
