"""Exponential moving average of a network's weights, with warm-up.

    theta_ema <- d_n theta_ema + (1 - d_n) theta,    d_n = min(decay, (1 + n) / (warmup + n))

where n counts the updates made so far (TensorFlow's ``ExponentialMovingAverage`` with
``num_updates``; ``warmup = 10`` is its constant, ``warmup = 1`` switches warm-up off). Early
updates therefore follow the trained weights closely. Buffers (e.g. normalisation statistics) are
copied, not averaged. The EMA lives outside the model object, so it can be swapped or dropped.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from rlcore.registry import export
from rlcore.torch_utils import polyak_update_
from rlcore.validation import check_range

__all__ = ["EMA", "ema_decay"]


def ema_decay(n: int, decay: float, warmup: float) -> float:
    """d_n = min(decay, (1 + n) / (warmup + n)) for the (n + 1)-th update (n >= 0)."""
    return min(decay, (1.0 + n) / (warmup + n))


@export("networks.ema")
class EMA:
    """EMA of ``model``'s parameters; ``averaged`` is an eval-mode copy holding them.

    Args:
        model: the network being trained (copied once; the copy is ``averaged``).
        decay: the asymptotic decay in [0, 1).
        warmup: warm-up constant >= 1 (see the module docstring).

    Example::

        ema = EMA(net, decay=0.999)
        for batch in batches:
            ...; optimizer.step(); ema.update(net)
        samples = model.sample(ema.averaged, shape)
    """

    def __init__(self, model: nn.Module, decay: float = 0.999, warmup: float = 10.0) -> None:
        self.decay = check_range("decay", decay, 0.0, 1.0, high_open=True)
        self.warmup = check_range("warmup", warmup, 1.0, hint="1 switches warm-up off.")
        self.averaged = copy.deepcopy(model).eval().requires_grad_(False)
        self.num_updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> float:
        """Move the averaged weights towards ``model``'s; returns the decay used."""
        d = ema_decay(self.num_updates, self.decay, self.warmup)
        ema_params = dict(self.averaged.named_parameters())
        params = dict(model.named_parameters())
        if ema_params.keys() != params.keys():
            raise ValueError(
                "EMA.update got a model whose parameters differ from the averaged copy's; "
                "update it with the same network it was built from."
            )
        polyak_update_((ema_params[name] for name in params), params.values(), 1.0 - d)
        ema_buffers = dict(self.averaged.named_buffers())
        for name, b in model.named_buffers():
            ema_buffers[name].copy_(b)
        self.num_updates += 1
        return d

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The averaged weights plus the update count, as tensors (for safetensors)."""
        state = {f"averaged.{k}": v for k, v in self.averaged.state_dict().items()}
        state["num_updates"] = torch.tensor(self.num_updates)
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.num_updates = int(state["num_updates"])
        prefix = "averaged."
        self.averaged.load_state_dict(
            {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        )
