"""The math of the deep Q-network family as pure torch functions: targets, losses, aggregation.

Tensors in, tensors out, no state and no randomness; a leading batch axis B. Names follow
``rlcore.returns`` (rlax's convention): a stored transition is (S_{t-1}, A_{t-1}, R_t, S_t), so

- ``q_tm1``: Q(S_{t-1}, .) from the online network, shape (B, A); ``a_tm1`` the action taken (B,);
- ``r_t``: the reward, or for n-step transitions the discounted reward sum
  R_t + gamma R_{t+1} + ... + gamma^{n-1} R_{t+n-1}, shape (B,);
- ``discount_t``: the bootstrap discount, gamma^n, or 0 where the episode terminated (a truncated
  episode keeps it: its last state is not terminal), shape (B,);
- ``q_t``: action values of the bootstrap state S_t (or S_{t+n-1} for n steps), shape (B, A).

The final composition R + discount * bootstrap is ``rlcore.returns.td_target``, the same function
the tabular agents use; only the choice of the bootstrap value (max, or the double-DQN
evaluation of the online argmax) is torch-specific.

Sources: Mnih et al. (2015), "Human-level control through deep reinforcement learning" (DQN,
target network, Huber / clipped error); van Hasselt, Guez & Silver (2016), "Deep Reinforcement
Learning with Double Q-learning"; Wang et al. (2016), "Dueling Network Architectures for Deep
Reinforcement Learning"; Schaul et al. (2016), "Prioritized Experience Replay"; Sutton & Barto
(2018) §6.5 (Q-learning) and §7.1 (n-step returns).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rlcore.returns import td_target
from rlcore.torch_utils import polyak_update_  # re-exported: the target-network update

__all__ = [
    "double_q_learning_targets",
    "dueling_aggregate",
    "huber_loss",
    "linear_schedule",
    "polyak_update_",
    "q_learning_targets",
    "select_actions",
    "td_loss",
]


def select_actions(q: Tensor, a: Tensor) -> Tensor:
    """q[b, a[b]] for each row: shapes (B, A) and integer (B,) -> (B,)."""
    return q.gather(1, a.long().unsqueeze(1)).squeeze(1)


def q_learning_targets(r_t: Tensor, discount_t: Tensor, q_t: Tensor) -> Tensor:
    """The DQN target y = r_t + discount_t max_a Q_target(S_t, a) (Mnih et al. 2015, eq. 2-3).

    Args:
        r_t: rewards (n-step reward sums), shape (B,).
        discount_t: bootstrap discounts (0 at termination), shape (B,).
        q_t: the target network's values of the bootstrap state, shape (B, A).

    Returns:
        y, shape (B,). Targets carry no gradient when ``q_t`` does not (compute it under
        ``torch.no_grad()``).
    """
    return td_target(r_t, discount_t, q_t.max(dim=1).values)


def double_q_learning_targets(
    r_t: Tensor, discount_t: Tensor, q_t_value: Tensor, q_t_selector: Tensor
) -> Tensor:
    """Double DQN: y = r_t + discount_t Q_target(S_t, argmax_a Q_online(S_t, a)).

    van Hasselt et al. (2016), eq. 4: the online network selects the action, the target network
    evaluates it, which removes most of max-operator over-estimation. Ties in the argmax go to the
    lowest index (they have probability zero for real-valued network outputs).

    Args:
        r_t, discount_t: shape (B,).
        q_t_value: the evaluating (target) network's values of S_t, shape (B, A).
        q_t_selector: the selecting (online) network's values of S_t, shape (B, A).

    Returns:
        y, shape (B,).
    """
    a_star_t = q_t_selector.argmax(dim=1)  # (B,)
    return td_target(r_t, discount_t, select_actions(q_t_value, a_star_t))


def huber_loss(x: Tensor, delta: float = 1.0) -> Tensor:
    """Elementwise Huber loss: x^2 / 2 for |x| <= delta, delta (|x| - delta / 2) beyond.

    Its gradient is the TD error clipped to [-delta, delta], the "error clipping" of Mnih et al.
    (2015, Methods); ``delta = 1`` equals ``F.smooth_l1_loss`` (what SB3 and CleanRL use).

    Args:
        x: errors, any shape.
        delta: where the quadratic becomes linear, > 0.

    Returns:
        Losses, the shape of ``x``.
    """
    return F.huber_loss(x, torch.zeros_like(x), reduction="none", delta=delta)


def td_loss(
    q_tm1: Tensor,
    a_tm1: Tensor,
    y: Tensor,
    weights: Tensor | None = None,
    delta: float = 1.0,
) -> tuple[Tensor, Tensor]:
    """The DQN loss L = mean_b w_b huber(y_b - Q(S_{t-1,b}, A_{t-1,b})) and the TD errors.

    With prioritized replay the weights are the importance-sampling corrections
    w_b = (N P(b))^(-beta) / max w (Schaul et al. 2016, Algorithm 1, line 10); uniform replay
    uses w = 1.

    Args:
        q_tm1: the online network's values of S_{t-1}, shape (B, A) (with gradient).
        a_tm1: actions taken, integer shape (B,).
        y: targets (no gradient), shape (B,).
        weights: importance weights, shape (B,), or None for 1.
        delta: the Huber threshold.

    Returns:
        (loss, scalar with gradient; td_errors y - Q(S_{t-1}, A_{t-1}), shape (B,), detached).
    """
    delta_t = y - select_actions(q_tm1, a_tm1)  # (B,)
    losses = huber_loss(delta_t, delta)
    loss = losses.mean() if weights is None else (weights * losses).mean()
    return loss, delta_t.detach()


def dueling_aggregate(value: Tensor, advantage: Tensor) -> Tensor:
    """Q(s, a) = V(s) + A(s, a) - mean_a' A(s, a') (Wang et al. 2016, eq. 9).

    Subtracting the mean makes V and A identifiable (the mean advantage is zero), and
    ``mean_a Q(s, a) = V(s)``.

    Args:
        value: V(s), shape (B, 1).
        advantage: A(s, .), shape (B, A).

    Returns:
        Q(s, .), shape (B, A).
    """
    return value + advantage - advantage.mean(dim=1, keepdim=True)


@torch.no_grad()
def linear_schedule(step: int, start: float, end: float, duration: int) -> float:
    """start + (end - start) min(1, step / duration): the linear epsilon decay of Mnih et al.
    (2015) (1.0 to 0.1 over the first million frames) and of SB3's ``exploration_fraction``.

    Args:
        step: environment steps so far, >= 0.
        start, end: the values at step 0 and from step ``duration`` on.
        duration: steps of the decay (0: ``end`` at once).
    """
    if duration <= 0 or step >= duration:
        return end
    return start + (end - start) * (step / duration)
