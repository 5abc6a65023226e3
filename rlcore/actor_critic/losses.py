"""The math of the soft actor-critic family as small pure functions of tensors.

Names follow ``rlcore.returns``: a replayed transition is (S_{t-1}, A_{t-1}, R_t, discount_t, S_t);
``q_tm1`` are the critics' values of (S_{t-1}, A_{t-1}), ``q_t`` the target critics' values of
(S_t, A'_t) with A'_t ~ pi(. | S_t), ``log_pi_t`` its log-probability. A leading member axis N is
written first: ``q_tm1`` has shape (N, B).

- ``squashed_gaussian_log_prob``: log pi(a | s) of a = tanh(u), u ~ N(mu, sigma^2), with the
  change-of-variables correction (Haarnoja et al. 2018b, appendix C, eq. 21).
- ``soft_q_targets``: y = r_t + discount_t (Q_t - alpha log pi(A'_t | S_t)) (eq. 3 and 5 of
  Haarnoja et al. 2018b, with Q_t a reduction over the target critics: the min of two for SAC,
  of a random subset of M for REDQ, of all N for SAC-N / EDAC).
- ``critic_loss``: sum over members of mean_b (q_tm1 - y)^2.
- ``actor_loss``: mean_b (alpha log pi(A | S) - Q(S, A)), A reparameterised (eq. 12).
- ``entropy_coef_loss``: -log_alpha mean_b (log pi + target_entropy) (eq. 18).
- ``gradient_diversity_penalty``: EDAC's ensemble-similarity term (An et al. 2021, eq. 5).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "actor_loss",
    "critic_loss",
    "entropy_coef_loss",
    "gradient_diversity_penalty",
    "soft_q_targets",
    "squashed_gaussian_log_prob",
]

_LOG_2PI = math.log(2.0 * math.pi)
_LOG_2 = math.log(2.0)


def squashed_gaussian_log_prob(u: Tensor, mean: Tensor, log_std: Tensor) -> Tensor:
    """log pi(a) for a = tanh(u), u ~ N(mean, exp(log_std)^2) per dimension, summed over actions.

        log pi(a) = sum_i [ log N(u_i; mu_i, sigma_i) - log(1 - tanh(u_i)^2) ]

    (Haarnoja et al. 2018b, appendix C, eq. 21). ``log(1 - tanh(u)^2)`` is evaluated as
    ``2 (log 2 - u - softplus(-2 u))``, which stays finite where tanh(u) rounds to +-1.

    Args:
        u: pre-squash samples, shape (..., A).
        mean, log_std: the Gaussian's parameters, broadcastable to ``u``.

    Returns:
        Shape (...): the log-density of the squashed action in [-1, 1]^A.
    """
    z = (u - mean) * torch.exp(-log_std)
    gaussian = -0.5 * z.square() - log_std - 0.5 * _LOG_2PI
    log_det = 2.0 * (_LOG_2 - u - F.softplus(-2.0 * u))  # log(1 - tanh(u)^2)
    return (gaussian - log_det).sum(dim=-1)


def soft_q_targets(
    r_t: Tensor, discount_t: Tensor, q_t: Tensor, log_pi_t: Tensor, alpha: Tensor | float
) -> Tensor:
    """Soft Bellman targets y = r_t + discount_t (q_t - alpha log_pi_t).

    Args:
        r_t, discount_t: (B,) rewards and discounts (0 where S_t is terminal).
        q_t: (B,) the reduced target-critic value of (S_t, A'_t), A'_t ~ pi(. | S_t).
        log_pi_t: (B,) log pi(A'_t | S_t).
        alpha: the entropy coefficient.

    Returns:
        (B,) targets (compute them under ``torch.no_grad``).
    """
    return r_t + discount_t * (q_t - alpha * log_pi_t)


def critic_loss(q_tm1: Tensor, y: Tensor, weights: Tensor | None = None) -> Tensor:
    """L_Q = sum_k mean_b w_b (Q_k(S_{t-1,b}, A_{t-1,b}) - y_b)^2, summed over members so that a
    member's gradient does not shrink with N (An et al. 2021's convention; SB3 halves it).

    Args:
        q_tm1: (N, B) every member's value of the replayed (state, action).
        y: (B,) or (N, B) targets.
        weights: (B,) per-transition weights w_b (SUNRISE's weighted backup), None for 1.
    """
    sq = (q_tm1 - y).square()  # (N, B)
    if weights is not None:
        sq = sq * weights
    return sq.mean(dim=-1).sum()


def actor_loss(q_pi: Tensor, log_pi: Tensor, alpha: Tensor | float) -> Tensor:
    """L_pi = mean_b (alpha log pi(A_b | S_b) - Q(S_b, A_b)), A_b = tanh(mu + sigma eps) (eq. 12).

    Args:
        q_pi: (B,) the reduced critic value of the reparameterised actions.
        log_pi: (B,) their log-probabilities.
        alpha: the entropy coefficient (detached).
    """
    return (alpha * log_pi - q_pi).mean()


def entropy_coef_loss(log_alpha: Tensor, log_pi: Tensor, target_entropy: float) -> Tensor:
    """J(alpha) = -mean_b log_alpha (log pi(A_b | S_b) + target_entropy) (Haarnoja et al. 2018b,
    eq. 18, with the gradient taken in log alpha as SB3 and the authors' code do).

    Its gradient is positive (alpha shrinks) when the policy's entropy -E[log pi] exceeds the
    target, negative (alpha grows) when it falls below.

    Args:
        log_alpha: scalar tensor, the learnt log entropy coefficient.
        log_pi: (B,) log-probabilities of fresh policy samples (detached here).
        target_entropy: the target entropy, -|A| by default.
    """
    return -(log_alpha * (log_pi.detach() + target_entropy)).mean()


def gradient_diversity_penalty(grad_a: Tensor) -> Tensor:
    """EDAC's ensemble similarity (An et al. 2021, eq. 5):

        ES = mean_b 1/(N - 1) sum_{i != j} <g_i, g_j> / (|g_i| |g_j|),  g_k = grad_a Q_k(s_b, a_b)

    Small when the members' action gradients point in different directions.

    Args:
        grad_a: (N, B, A) every member's action gradient (created with ``create_graph=True`` so
            the penalty can be differentiated with respect to the critics).

    Returns:
        A scalar tensor.
    """
    n = grad_a.shape[0]
    unit = grad_a / (grad_a.norm(dim=-1, keepdim=True) + 1e-10)  # (N, B, A)
    total = unit.sum(dim=0)  # (B, A)
    # sum_{i != j} <u_i, u_j> = |sum_i u_i|^2 - sum_i |u_i|^2, O(N) instead of an N x N Gram.
    off_diagonal = total.square().sum(dim=-1) - unit.square().sum(dim=(0, 2))  # (B,)
    return off_diagonal.mean() / (n - 1)
