"""Boundary checks shared by the generative objectives (messages name the shapes)."""

from __future__ import annotations

import torch
from torch import Tensor

from rlcore.validation import check_int, check_range


def check_data(x0: Tensor, cond: Tensor | None, cond_dropout: float) -> float:
    """x0 (B, ...) floating; cond None or (B, cond_dim); cond_dropout in [0, 1] needs a cond."""
    if not torch.is_tensor(x0) or not torch.is_floating_point(x0) or x0.dim() < 2:
        raise ValueError(
            f"x0 must be a float tensor of shape (B, ...) with a batch axis, got "
            f"{tuple(x0.shape) if torch.is_tensor(x0) else type(x0).__name__}."
        )
    check_cond(cond, x0.shape[0])
    p = check_range("cond_dropout", cond_dropout, 0.0, 1.0)
    if p > 0 and cond is None:
        raise ValueError(
            f"cond_dropout={p} drops a condition, but cond is None: pass the condition (B, "
            "cond_dim) or use cond_dropout=0 for an unconditional model."
        )
    return p


def check_cond(cond: Tensor | None, batch: int) -> None:
    if cond is not None and (
        not torch.is_tensor(cond) or cond.dim() != 2 or cond.shape[0] != batch
    ):
        shape = tuple(cond.shape) if torch.is_tensor(cond) else type(cond).__name__
        raise ValueError(f"cond must have shape (B, cond_dim) with B={batch}, got {shape}.")


def check_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    shape = tuple(shape)
    if len(shape) < 2 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape):
        raise ValueError(f"shape must be (B, ...) of positive ints with a batch axis, got {shape}.")
    return shape


def check_guidance(
    scale: float | None, cond: Tensor | None, trained_with_dropout: bool, what: str
) -> float | None:
    if scale is None:
        return None
    scale = check_range("guidance_scale", scale, 0.0, hint="w = 0 unconditional, 1 conditional.")
    if cond is None:
        raise ValueError(
            f"guidance_scale={scale} guides towards a condition, but cond is None; pass cond of "
            "shape (B, cond_dim) or guidance_scale=None."
        )
    if not trained_with_dropout:
        raise ValueError(
            f"guidance_scale={scale} was requested from a {what} never trained with condition "
            "dropout, so its unconditional prediction is untrained. Train with "
            "loss(..., cond_dropout=0.1) (or construct the model with "
            "cond_dropout_trained=True when loading such a net)."
        )
    return scale


def check_steps(steps: int, low: int, high: int | None, what: str) -> int:
    hint = f"{what} takes steps in [{low}, {high}]." if high else f"{what} takes steps >= {low}."
    return check_int("steps", steps, low, high, hint=hint)


def default_device(
    device: torch.device | str | None, cond: Tensor | None, generator: torch.Generator | None
) -> torch.device | str | None:
    """The device to sample on: given, else the condition's, else the generator's, else CPU."""
    if device is not None:
        return device
    if cond is not None:
        return cond.device
    return generator.device if generator is not None else None
