"""Bagging for value ensembles: bootstrap masks, a member per episode, out-of-bag evaluation.

Bootstrapped DQN (Osband et al. 2016, §3, Algorithm 1) trains member k only on the transitions
whose mask m_k is non-zero: each transition gets a mask vector m in R^N when it enters the replay
buffer, drawn once and stored with it, and member k's gradient on it is scaled by m_k:

- ``"bernoulli"``: m_k ~ Bernoulli(p) (the paper's double-or-nothing bootstrap with p = 0.5; p = 1
  shares all data, the paper's best Atari setting);
- ``"poisson"``: m_k ~ Poisson(1), the online approximation of resampling with replacement
  (Oza & Russell 2001), an integer weight.

Usage with the one replay buffer (``rlcore.approximation.dqn.replay.ReplayBuffer(...,
mask_size=N)`` stores a mask row per transition)::

    masks = draw_masks(rng, k=len(a_tm1), n_members=N, p=0.5)     # (k, N), at insertion time
    replay.add(obs_tm1, a_tm1, r_t, discount_t, obs_t, masks)
    batch = replay.sample(B, rng)                                  # batch.masks (B, N)
    loss = masked_member_loss(losses, batch.masks)                 # losses (N, B), torch or NumPy

Acting follows one member for a whole episode (``sample_member`` at every episode start: Thompson
sampling over the ensemble, "deep exploration"). Out-of-bag evaluation (as scikit-learn's forests'
``oob_score_``): each member is scored on the transitions it was masked out of (m_k = 0), which it
never trained on, so the score estimates its error on unseen data without a held-out set
(``out_of_bag_errors``, ``out_of_bag_values``).

Shapes: masks are ``(transitions, members)`` (a row per stored transition, as the buffer keeps
them); per-member quantities are ``(members, transitions)`` (the ensemble's output layout).
Everything here works on NumPy arrays, and the loss and evaluation functions on torch tensors too
(arithmetic only; no torch import).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from rlcore.ensemble.reductions import is_tensor
from rlcore.validation import check_choice, check_int, check_range

__all__ = [
    "MASK_DISTRIBUTIONS",
    "check_mask_p",
    "draw_masks",
    "masked_member_loss",
    "out_of_bag_errors",
    "out_of_bag_values",
    "sample_member",
]

MASK_DISTRIBUTIONS = ("bernoulli", "poisson")


def check_mask_p(p: Any) -> float:
    """p in (0, 1], the Bernoulli mask probability."""
    return check_range(
        "p",
        p,
        0.0,
        1.0,
        low_open=True,
        hint="p is the probability that a member trains on a transition: use a value in (0, 1] "
        "(Osband et al. 2016 use 0.5; 1 shares every transition).",
    )


def draw_masks(
    rng: np.random.Generator,
    k: int,
    n_members: int,
    *,
    distribution: Literal["bernoulli", "poisson"] = "bernoulli",
    p: float = 0.5,
) -> np.ndarray:
    """Bootstrap masks of ``k`` new transitions for ``n_members`` members.

    m_{i,k} ~ Bernoulli(p) or Poisson(1) independently (Osband et al. 2016, §3).

    Args:
        rng: the randomness.
        k: transitions, >= 0.
        n_members: N >= 1.
        distribution: "bernoulli" or "poisson".
        p: the Bernoulli probability in (0, 1] (ignored for Poisson).

    Returns:
        float32 (k, N): 0/1 for Bernoulli, counts 0, 1, 2, ... for Poisson.
    """
    k = check_int("k", k, 0)
    n_members = check_int("n_members", n_members, 1, hint="An ensemble needs a member.")
    check_choice("distribution", distribution, MASK_DISTRIBUTIONS)
    if distribution == "bernoulli":
        p = check_mask_p(p)
        return (rng.random((k, n_members)) < p).astype(np.float32)
    return rng.poisson(1.0, size=(k, n_members)).astype(np.float32)


def sample_member(rng: np.random.Generator, n_members: int) -> int:
    """The member to follow for the next episode, uniform over N (Osband et al. 2016, Alg. 1)."""
    n_members = check_int("n_members", n_members, 1)
    return int(rng.integers(n_members))


def _check_pair(per_member: Any, masks: Any, what: str) -> None:
    if per_member.ndim < 2 or masks.ndim != 2:
        raise ValueError(
            f"{what} takes per-member values (members, transitions) and masks (transitions, "
            f"members); got shapes {tuple(per_member.shape)} and {tuple(masks.shape)}."
        )
    n, b = per_member.shape[0], per_member.shape[1]
    if tuple(masks.shape) != (b, n):
        raise ValueError(
            f"{what}: masks of shape {tuple(masks.shape)} do not match {n} members x {b} "
            f"transitions (expected ({b}, {n}), one row per transition as the replay stores it)."
        )


def masked_member_loss(losses: Any, masks: Any) -> Any:
    """L = sum_k (1/B) sum_b m_{b,k} l_{k,b}: each member's masked mean loss, summed over members.

    Summing (not averaging) over members keeps a member's gradient independent of N; dividing by
    the batch size B (not by the mask count) gives member k the gradient m_k g_k of Osband et al.
    (2016, §3).

    Args:
        losses: per-member, per-transition losses (N, B) (torch with gradient, or NumPy).
        masks: (B, N) from the replay batch (same array kind as ``losses``).

    Returns:
        A scalar.
    """
    _check_pair(losses, masks, "masked_member_loss")
    weighted = losses * masks.T  # (N, B)
    return weighted.mean(dim=1).sum() if is_tensor(weighted) else weighted.mean(axis=1).sum()


def out_of_bag_errors(td_errors: Any, masks: Any) -> Any:
    """Each member's mean squared TD error on the transitions it was masked out of.

    oob_k = sum_b [m_{b,k} = 0] delta_{k,b}^2 / sum_b [m_{b,k} = 0], NaN where member k saw every
    transition. Only masked-out transitions enter member k's score.

    Args:
        td_errors: delta_{k,b} = y_{k,b} - Q_k(S_b, A_b), shape (N, B).
        masks: (B, N).

    Returns:
        (N,) float (the array kind of ``td_errors``).
    """
    _check_pair(td_errors, masks, "out_of_bag_errors")
    out = (masks.T == 0) * 1.0  # (N, B): 1 where the member never trained on the transition
    sq = td_errors**2 * out
    if is_tensor(sq):
        return sq.sum(dim=1) / out.sum(dim=1)  # 0 / 0 = NaN where nothing is out of bag
    with np.errstate(invalid="ignore", divide="ignore"):
        return sq.sum(axis=1) / out.sum(axis=1)


def out_of_bag_values(values: Any, masks: Any) -> Any:
    """The ensemble's out-of-bag prediction of each transition: the mean over the members that
    did not train on it (scikit-learn's ``oob_prediction_``), NaN where every member did.

    Args:
        values: per-member predictions (N, B).
        masks: (B, N).

    Returns:
        (B,).
    """
    _check_pair(values, masks, "out_of_bag_values")
    out = (masks.T == 0) * 1.0  # (N, B)
    num = values * out
    if is_tensor(num):
        return num.sum(dim=0) / out.sum(dim=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return num.sum(axis=0) / out.sum(axis=0)
