"""The training loop of ``rlcore.generative``: batches in, the objective's loss, an optimizer step.

The model (objective), the network, the optimizer and the EMA are separate objects passed in, so
each can be swapped. Logging goes to TensorBoard when ``logdir`` is given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import torch
from torch import Tensor, nn

from rlcore.generative.ema import EMA
from rlcore.generative.protocols import GenerativeModel
from rlcore.validation import check_int, check_range

__all__ = ["train"]

Batch = Tensor | tuple[Tensor, Tensor | None]


def _split(batch: Batch) -> tuple[Tensor, Tensor | None]:
    if torch.is_tensor(batch):
        return batch, None
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0], batch[1]
    raise TypeError(
        f"a batch must be a tensor x0 (B, ...) or a pair (x0, cond), got {type(batch).__name__}."
    )


def _take(batches: Iterable[Batch], steps: int) -> Iterator[Batch]:
    """``steps`` batches: re-iterates a re-iterable (list, DataLoader); never caches an iterator."""
    taken = 0
    while True:
        before = taken
        for batch in batches:
            yield batch
            taken += 1
            if taken == steps:
                return
        if taken == before or iter(batches) is batches:
            raise ValueError(
                f"batches ran out after {taken} of steps={steps}; pass a re-iterable (a list, a "
                "DataLoader) or an iterator that yields at least `steps` batches."
            )


def train(
    model: GenerativeModel,
    net: nn.Module,
    batches: Iterable[Batch],
    optimizer: torch.optim.Optimizer,
    *,
    steps: int,
    ema: EMA | None = None,
    generator: torch.Generator | None = None,
    cond_dropout: float = 0.0,
    grad_clip: float | None = None,
    logdir: str | Path | None = None,
    log_every: int = 50,
    callback: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Run ``steps`` optimizer steps of ``model.loss`` on ``net``; return the loss per step.

    Args:
        model: the objective (``objectives.diffusion`` or ``objectives.flow_matching``).
        net: the denoiser being trained (``net.train()`` is called).
        batches: yields x0 or (x0, cond); a re-iterable (list, DataLoader) is iterated again
            when shorter than ``steps``, an iterator must yield ``steps`` batches.
        optimizer: over ``net``'s parameters.
        steps: number of optimizer steps.
        ema: updated after every step when given.
        generator: the objective's randomness (times, noise, dropout).
        cond_dropout: classifier-free guidance's condition dropout probability.
        grad_clip: clip the gradient norm to this value; None for no clipping.
        logdir: TensorBoard directory for ``train/loss`` every ``log_every`` steps.
        callback: called as ``callback(step, loss)`` after each step.
    """
    steps = check_int("steps", steps, 1)
    log_every = check_int("log_every", log_every, 1)
    if grad_clip is not None:
        check_range("grad_clip", grad_clip, 0.0, low_open=True)
    writer = None
    if logdir is not None:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(logdir))
    net.train()
    losses: list[float] = []
    try:
        for step, batch in enumerate(_take(batches, steps)):
            x0, cond = _split(batch)
            loss = model.loss(net, x0, cond, generator=generator, cond_dropout=cond_dropout)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip is not None:
                nn.utils.clip_grad_norm_(net.parameters(), grad_clip)
            optimizer.step()
            if ema is not None:
                ema.update(net)
            value = float(loss.detach())
            losses.append(value)
            if writer is not None and (step % log_every == 0 or step == steps - 1):
                writer.add_scalar("train/loss", value, step)
            if callback is not None:
                callback(step, value)
    finally:
        if writer is not None:
            writer.close()
    return losses
