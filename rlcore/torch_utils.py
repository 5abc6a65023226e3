"""Small torch operations shared by the RL and the generative layers (neither imports the other).

``polyak_update_`` is the one implementation of moving a set of tensors towards another by a
fraction tau: the DQN family's target network (a hard copy with tau = 1, a soft "Polyak" update
with tau < 1) and ``rlcore.generative.EMA`` (tau = 1 - decay) both call it.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

__all__ = ["polyak_update_"]


@torch.no_grad()
def polyak_update_(target: Iterable[Tensor], online: Iterable[Tensor], tau: float) -> None:
    """In place: theta_target <- tau theta_online + (1 - tau) theta_target.

    tau = 1 is the periodic hard copy of Mnih et al. (2015); tau < 1 the soft ("Polyak") update
    of Lillicrap et al. (2016), an exponential moving average of the online weights (an EMA with
    decay 1 - tau).

    Args:
        target: the tensors to update in place.
        online: the tensors to move towards, in the same order and shapes.
        tau: in (0, 1].
    """
    target, online = list(target), [t.detach() for t in online]
    if len(target) != len(online):
        raise ValueError(
            f"polyak_update_ got {len(target)} target and {len(online)} online tensors; pass "
            "the parameters of two copies of the same network, in the same order."
        )
    if tau == 1.0:
        torch._foreach_copy_(target, online)
    else:
        torch._foreach_lerp_(target, online, tau)
