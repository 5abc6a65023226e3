"""Uncertainty-aware uses of a critic ensemble, usable by any agent that has one (torch).

- ``ucb_select``: optimistic action selection among sampled candidates,
  argmax_j mean_k Q_k(s, a_j) + lambda std_k Q_k(s, a_j)  (SUNRISE, Lee et al. 2021, eq. 6;
  the candidates are samples of the current policy).
- ``sunrise_weights``: SUNRISE's weighted Bellman backup,
  w(s, a) = sigmoid(-std_k Q'_k(s', a') T) + 0.5 in [0.5, 1]  (Lee et al. 2021, eq. 5): targets
  the ensemble disagrees on count less.

Both take member values on a leading axis, shape (N, ...), as every ``ensembles.*`` reduction.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rlcore.validation import check_range

__all__ = ["sunrise_weights", "ucb_select"]


def _check_members(q: Tensor, what: str, ndim: int) -> None:
    if q.dim() != ndim or q.shape[0] < 2:
        raise ValueError(
            f"{what} needs member values shaped {'(N, B, K)' if ndim == 3 else '(N, B)'} with "
            f"N >= 2 members, got shape {tuple(q.shape)}; stack the critics' values on axis 0."
        )


def ucb_select(q: Tensor, lambda_: float) -> Tensor:
    """Index of the candidate with the largest upper confidence bound, per state.

        j*(s) = argmax_j mean_k Q_k(s, a_j) + lambda std_k Q_k(s, a_j)

    Args:
        q: (N, B, K) the N members' values of K candidate actions in B states.
        lambda_: the optimism weight lambda >= 0 (0: the greedy mean).

    Returns:
        (B,) int64 candidate indices (ties: the first).
    """
    lambda_ = check_range("lambda_", lambda_, 0.0, hint="lambda_ weighs the members' std; >= 0.")
    _check_members(q, "ucb_select", 3)
    score = q.mean(dim=0) + lambda_ * q.std(dim=0, correction=0)  # (B, K)
    return score.argmax(dim=-1)


def sunrise_weights(q_t: Tensor, temperature: float) -> Tensor:
    """SUNRISE's backup weights w = sigmoid(-std_k Q'_k(s', a') T) + 0.5, in (0.5, 1].

    Args:
        q_t: (N, B) the target members' values of the next state and the policy's next action.
        temperature: T > 0 (the paper uses 10-20).

    Returns:
        (B,) weights (no gradient).
    """
    temperature = check_range("temperature", temperature, 0.0, low_open=True)
    _check_members(q_t, "sunrise_weights", 2)
    with torch.no_grad():
        return torch.sigmoid(-q_t.std(dim=0, correction=0) * temperature) + 0.5
