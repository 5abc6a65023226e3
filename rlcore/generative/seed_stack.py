"""S independent copies of a network evaluated in one vectorised call (``torch.func.vmap``).

Seeds of a small-model benchmark cost mostly per-call overhead: S separate MLPs on batches of 256
spend their time in the dispatcher, not in the matrix products. :class:`SeedStack` holds the S
copies' parameters stacked along a new leading axis (``torch.func.stack_module_state``) and
evaluates them at once: inputs of S*B rows are split into S groups of B consecutive rows, group s
goes through copy s, and the outputs are concatenated back. Because the rows of different groups
never meet and each copy's parameters are separate slices, a loss that is a mean over the S*B
rows gives copy s the gradient of its own loss divided by S, and element-wise optimisers (Adam)
then train the S copies independently. :func:`clip_grad_norm_per_copy_` clips each copy's
gradient norm on its own (``nn.utils.clip_grad_norm_`` would clip the joint norm).

Shapes: ``forward(*args)`` with each tensor argument (S*B, ...) (None passes through) returns
(S*B, ...) or a tuple of them.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from rlcore.validation import check_int, check_range

__all__ = ["SeedStack", "clip_grad_norm_per_copy_"]


class SeedStack(nn.Module):
    """S copies of ``modules[0]``'s architecture with the S modules' own weights, run in one call.

    Args:
        modules: S >= 1 modules of one architecture (e.g. built under S seeds); their weights
            are copied in, the modules themselves are not kept.
    """

    def __init__(self, modules: Sequence[nn.Module]) -> None:
        super().__init__()
        modules = list(modules)
        self.copies = check_int("number of modules", len(modules), 1)
        shapes = [[tuple(p.shape) for p in m.parameters()] for m in modules]
        if any(s != shapes[0] for s in shapes):
            raise ValueError("SeedStack needs modules of one architecture (same parameter shapes).")
        params, buffers = torch.func.stack_module_state(modules)
        self._names = list(params)
        self._buffer_names = list(buffers)
        self.stacked = nn.ParameterList([nn.Parameter(params[k].detach().clone()) for k in params])
        for i, k in enumerate(self._buffer_names):
            self.register_buffer(f"_buffer_{i}", buffers[k].detach().clone())
        base = copy.deepcopy(modules[0]).to("meta")
        object.__setattr__(self, "_base", base)  # not a submodule: its weights are the stack's

    def _state(self) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        params = dict(zip(self._names, self.stacked))
        buffers = {k: getattr(self, f"_buffer_{i}") for i, k in enumerate(self._buffer_names)}
        return params, buffers

    def forward(self, *args):
        s = self.copies
        for a in args:
            if torch.is_tensor(a) and a.shape[0] % s:
                raise ValueError(
                    f"SeedStack of {s} copies got an input with {a.shape[0]} rows; pass S*B rows "
                    f"(B consecutive rows per copy), a multiple of {s}."
                )
        split = [
            a.reshape(s, a.shape[0] // s, *a.shape[1:]) if torch.is_tensor(a) else a for a in args
        ]
        in_dims = tuple(0 if torch.is_tensor(a) else None for a in args)
        base = self._base

        def one(params, buffers, *xs):
            return torch.func.functional_call(base, (params, buffers), xs)

        params, buffers = self._state()
        out = torch.func.vmap(one, in_dims=(0, 0, *in_dims))(params, buffers, *split)
        if isinstance(out, tuple):
            return tuple(o.reshape(-1, *o.shape[2:]) for o in out)
        return out.reshape(-1, *out.shape[2:])

    def unstack(self, module: nn.Module, index: int) -> nn.Module:
        """A copy of ``module`` (same architecture) carrying copy ``index``'s weights."""
        index = check_int("index", index, 0, self.copies - 1)
        out = copy.deepcopy(module)
        params, buffers = self._state()
        state = {k: v[index].detach().clone() for k, v in {**params, **buffers}.items()}
        out.load_state_dict(state)
        return out


@torch.no_grad()
def clip_grad_norm_per_copy_(stack: SeedStack, max_norm: float) -> Tensor:
    """Clip each copy's gradient to norm ``max_norm`` on its own; returns the S norms before."""
    max_norm = check_range("max_norm", max_norm, 0.0, low_open=True)
    grads = [p.grad for p in stack.stacked if p.grad is not None]
    if not grads:
        return torch.zeros(stack.copies)
    norms = torch.stack([g.reshape(stack.copies, -1).pow(2).sum(1) for g in grads]).sum(0).sqrt()
    scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale.reshape(-1, *([1] * (g.dim() - 1))))
    return norms
