"""Blackjack for the batched engine: a vectorised simulator and the exact infinite-deck solution.

Gymnasium's ``Blackjack-v1`` has no finite model ``P``, so the chapter-5 figures step this
simulator instead. It follows ``Blackjack-v1`` with ``sab=True`` (Sutton & Barto (2018) Example
5.1): cards drawn with replacement (1 = ace, 2-9, and 10 with probability 4/13); the player hits
(action 1) or sticks (action 0); a hit past 21 loses (-1) at once; after a stick the dealer draws
until its sum, an ace counting 11 where that does not bust, is 17 or more; then win +1, draw 0,
loss -1; a natural (ace and ten as the first two cards) wins +1 unless the dealer also has one.

Observations (player sum 0..31, dealer's showing card 1..10, usable ace 0/1) are flattened into
one index ``(player_sum * 11 + dealer_card) * 2 + usable_ace`` of ``N_STATES = 704`` (most of
them unreachable), so that tabular learners index tables by it. ``encode`` / ``decode`` convert.

``exact_values`` and ``optimal_policy`` solve the game exactly by dynamic programming over the
player's (hard sum, holds an ace) and the dealer's final-sum distribution: the ground truth for
Figures 5.1 and 5.2.
"""

from __future__ import annotations

from functools import cache, lru_cache

import numpy as np

from rlcore.validation import check_choice, check_int

STICK, HIT = 0, 1
N_STATES = 32 * 11 * 2
N_ACTIONS = 2
# Probability of each card value 1..10 (index 0 unused): ten, jack, queen and king count 10.
CARD_PROBS = np.array([0.0] + [1 / 13] * 9 + [4 / 13])


def encode(player_sum: np.ndarray, dealer_card: np.ndarray, usable_ace: np.ndarray) -> np.ndarray:
    """State index of (player sum, dealer's showing card, usable ace); broadcasts."""
    return (np.asarray(player_sum) * 11 + np.asarray(dealer_card)) * 2 + np.asarray(usable_ace)


def decode(s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(player sum, dealer's showing card, usable ace) of state indices ``s``."""
    s = np.asarray(s)
    return s // 22, (s // 2) % 11, s % 2


def _draw(k: int, rng: np.random.Generator) -> np.ndarray:
    return np.minimum(rng.integers(1, 14, size=k), 10)


def _total(hard: np.ndarray, ace: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sum counting one ace as 11 where that does not bust, whether that ace is usable)."""
    usable = ace & (hard + 10 <= 21)
    return hard + 10 * usable, usable


class BlackjackBatchEnv:
    """R independent games of blackjack (``Blackjack-v1``, ``sab=True``), in NumPy.

    Args:
        start: ``"deal"`` (two cards each, as ``Blackjack-v1``); ``"exploring"`` (exploring
            starts for Monte Carlo ES, Sutton & Barto (2018) §5.3: player sum 12..21, dealer card
            and usable ace uniformly at random, no natural); or a tuple
            ``(player_sum, dealer_card, usable_ace)`` to start every episode there (Example 5.4
            starts at (13, 2, True)), with player sum 12..21.
    """

    n_states = N_STATES
    n_actions = N_ACTIONS

    def __init__(self, start: str | tuple[int, int, bool] = "deal") -> None:
        if isinstance(start, tuple):
            if len(start) != 3:
                raise ValueError(f"start=(player_sum, dealer_card, usable_ace), got {start!r}")
            total = check_int("player_sum", start[0], 12, 21)
            dealer = check_int("dealer_card", start[1], 1, 10)
            usable = bool(start[2])
            self._fixed = (total - 10 * usable, usable, dealer)
        else:
            check_choice("start", start, ("deal", "exploring"))
            self._fixed = None
        self.start_mode = start
        self.action_mask = np.ones((N_STATES, N_ACTIONS), dtype=bool)
        self.start(1, np.random.default_rng(0))

    def start(self, runs: int, rng: np.random.Generator) -> None:
        runs = check_int("runs", runs, 1)
        self.hard = np.zeros(runs, dtype=np.int64)  # player's sum with aces counted as 1
        self.ace = np.zeros(runs, dtype=bool)  # player holds an ace
        self.natural = np.zeros(runs, dtype=bool)  # player holds a natural (two cards)
        self.dealer = np.ones(runs, dtype=np.int64)  # dealer's showing card

    def _obs(self, runs: np.ndarray) -> np.ndarray:
        total, usable = _total(self.hard[runs], self.ace[runs])
        return encode(total, self.dealer[runs], usable)

    def reset(self, runs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        k = len(runs)
        if self._fixed is not None:
            hard, ace, dealer = self._fixed
            self.hard[runs], self.ace[runs], self.dealer[runs] = hard, ace, dealer
            self.natural[runs] = False
        elif self.start_mode == "exploring":
            total = rng.integers(12, 22, size=k)
            usable = rng.random(k) < 0.5
            self.hard[runs] = total - 10 * usable
            self.ace[runs] = usable
            self.dealer[runs] = rng.integers(1, 11, size=k)
            self.natural[runs] = False
        else:
            # Dealer's showing card, then the player's two cards (the hidden dealer card is drawn
            # when the dealer plays: with replacement, the order of draws does not matter).
            self.dealer[runs] = _draw(k, rng)
            c1, c2 = _draw(k, rng), _draw(k, rng)
            self.hard[runs] = c1 + c2
            self.ace[runs] = (c1 == 1) | (c2 == 1)
            self.natural[runs] = self.ace[runs] & (c1 + c2 == 11)
        return self._obs(runs)

    def step(
        self, runs: np.ndarray, a_t: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a_t = np.asarray(a_t)
        r_tp1 = np.zeros(len(runs))
        hit = a_t == HIT
        hitters = runs[hit]
        if hitters.size:
            card = _draw(hitters.size, rng)
            self.hard[hitters] += card
            self.ace[hitters] |= card == 1
            self.natural[hitters] = False
            r_tp1[hit] = np.where(self.hard[hitters] > 21, -1.0, 0.0)
        stickers = runs[~hit]
        if stickers.size:
            r_tp1[~hit] = self._settle(stickers, rng)
        terminated = ~hit | (r_tp1 < 0)
        return self._obs(runs), r_tp1, terminated

    def _settle(self, runs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The dealer plays out its hand; returns the player's reward for the runs that stuck."""
        k = len(runs)
        first = self.dealer[runs]
        hidden = _draw(k, rng)
        hard = first + hidden
        ace = (first == 1) | (hidden == 1)
        dealer_natural = ace & (hard == 11)
        total, _ = _total(hard, ace)
        drawing = np.flatnonzero(total < 17)
        while drawing.size:
            card = _draw(drawing.size, rng)
            hard[drawing] += card
            ace[drawing] |= card == 1
            total[drawing], _ = _total(hard[drawing], ace[drawing])
            drawing = drawing[total[drawing] < 17]
        player, _ = _total(self.hard[runs], self.ace[runs])
        dealer_score = np.where(total > 21, 0, total)
        reward = np.sign(player - dealer_score).astype(np.float64)
        return np.where(self.natural[runs] & ~dealer_natural, 1.0, reward)


# -- exact solution (infinite deck) -------------------------------------------------------------


@lru_cache(maxsize=1)
def dealer_final_distribution() -> np.ndarray:
    """P(dealer's final sum | showing card) as a (11, 6) array: rows 1..10 (row 0 unused),
    columns final sum 17, 18, 19, 20, 21 and bust. The dealer stands on soft 17."""

    @cache
    def play(hard: int, ace: bool) -> tuple[float, ...]:
        total = hard + 10 if ace and hard + 10 <= 21 else hard
        out = np.zeros(6)
        if total > 21:
            out[5] = 1.0
        elif total >= 17:
            out[total - 17] = 1.0
        else:
            for card in range(1, 11):
                out += CARD_PROBS[card] * np.asarray(play(hard + card, ace or card == 1))
        return tuple(out)

    dist = np.zeros((11, 6))
    for shown in range(1, 11):
        for hidden in range(1, 11):
            dist[shown] += CARD_PROBS[hidden] * np.asarray(
                play(shown + hidden, shown == 1 or hidden == 1)
            )
    dist.setflags(write=False)
    return dist


def _stick_values() -> np.ndarray:
    """(32, 11) expected reward of sticking on a non-natural player sum against a dealer card."""
    dist = dealer_final_distribution()
    out = np.zeros((32, 11))
    for total in range(4, 22):
        finals = np.array([17, 18, 19, 20, 21])
        per_final = np.append(np.sign(total - finals), 1.0)  # a dealer bust loses
        out[total, 1:] = dist[1:] @ per_final
    return out


def _solve(policy: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Values and hit/stick action values on the (player sum, dealer card, usable ace) grid.

    Args:
        policy: (32, 11, 2) actions to evaluate, or None for the optimal policy.

    Returns:
        v: (32, 11, 2) values; q: (32, 11, 2, 2) action values (stick, hit). Player sums 4..21
        are filled; a natural's extra win is not included (see ``exact_values``).
    """
    stick = _stick_values()
    # Hard-sum states: val[hard, ace, dealer], hard 2..31, filled from high to low sums.
    val = np.zeros((33, 2, 11))
    v = np.zeros((32, 11, 2))
    q = np.zeros((32, 11, 2, 2))
    for hard in range(21, 1, -1):
        for ace in (0, 1):
            total = hard + 10 if ace and hard + 10 <= 21 else hard
            usable = int(total != hard)
            q_hit = np.zeros(11)
            for card in range(1, 11):
                h2, a2 = hard + card, int(ace or card == 1)
                q_hit += CARD_PROBS[card] * (-1.0 if h2 > 21 else val[h2, a2])
            q_stick = stick[total]
            if policy is None:
                best = np.maximum(q_stick, q_hit)
            else:
                best = np.where(policy[total, :, usable] == HIT, q_hit, q_stick)
            val[hard, ace] = best
            v[total, 1:, usable] = best[1:]
            q[total, 1:, usable, STICK] = q_stick[1:]
            q[total, 1:, usable, HIT] = q_hit[1:]
    return v, q


def exact_values(policy: np.ndarray) -> np.ndarray:
    """v_pi(player sum, dealer card, usable ace) of a deterministic policy, exactly.

    Args:
        policy: (32, 11, 2) action (0 stick, 1 hit) for each (player sum, dealer card, usable).

    Returns:
        (32, 11, 2) values for player sums 4..21 (zeros elsewhere). The state (21, d, usable)
        is valued as a 21 reached by hitting: a natural, which the sab rules pay +1 unless the
        dealer has one too, shares its observation but not its value, so a Monte Carlo estimate
        of that observation mixes both and is not comparable.
    """
    policy = np.asarray(policy)
    if policy.shape != (32, 11, 2):
        raise ValueError(f"policy must have shape (32, 11, 2), got {policy.shape}")
    return _solve(policy)[0]


def optimal_policy() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pi*, v*, q*) on the (player sum, dealer card, usable ace) grid; pi* sticks on ties.

    Returns:
        pi: (32, 11, 2) optimal actions; v: (32, 11, 2); q: (32, 11, 2, 2) (stick, hit).
    """
    v, q = _solve(None)
    pi = (q[..., HIT] > q[..., STICK]).astype(np.int64)
    return pi, v, q


def threshold_policy(stick_from: int = 20) -> np.ndarray:
    """The (32, 11, 2) policy that sticks on a sum of ``stick_from`` or more and hits otherwise
    (Example 5.1: stick on 20 or 21)."""
    stick_from = check_int("stick_from", stick_from, 4, 22)
    policy = np.full((32, 11, 2), HIT, dtype=np.int64)
    policy[stick_from:] = STICK
    return policy


def policy_table(policy: np.ndarray) -> np.ndarray:
    """A (32, 11, 2) grid policy as an (N_STATES,) action table indexed by state index."""
    sums, dealers, usable = decode(np.arange(N_STATES))
    return np.asarray(policy)[sums, dealers, usable]
