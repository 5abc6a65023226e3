"""N ensemble members with stacked parameters, evaluated by one of three backends.

``Ensemble`` (``networks.ensemble``) holds N members as stacked tensors: each parameter has a
leading member axis N, so an optimizer step, a Polyak target update or a checkpoint touches a
handful of tensors however large N is. Two ways to build it:

- ``Ensemble(n_members, in_dim, out_dim, hidden=(256, 256))``: N MLPs (affine layers, activation,
  optional layer norm and dropout), each initialised like ``nn.Linear`` (U(-1/sqrt(fan_in),
  1/sqrt(fan_in)) for weights and biases) from its own random draws, so members differ at
  initialisation. Weights are stored ``[N, in, out]``, biases ``[N, 1, out]``.
- ``Ensemble.from_members([module, ...])``: any list of identically shaped ``nn.Module``s, stacked
  with ``torch.func.stack_module_state`` (their buffers too).

Shapes: ``ensemble(x)`` takes inputs ``(B, in)`` shared by all members, or ``(N, B, in)`` one
batch per member (bootstrapped minibatches, a per-member action), and returns ``(N, B, out)``.
Several inputs are concatenated along the last axis, broadcasting shared ones to the member axis,
so an ensemble of N critics is::

    critics = Ensemble(10, obs_dim + act_dim, 1, hidden=(256, 256))   # Q(s, a) -> (N, B, 1)
    q = critics(obs, action)                                           # obs (B, do), a (B, da)
    target = critics.target_copy()                                     # frozen, same values
    ...
    loss = ((q - y) ** 2).mean(dim=(1, 2)).sum()    # mean over the batch, SUM over members
    loss.backward(); critics.clip_grad_norm_per_member_(10.0); optimizer.step()
    target.polyak_update_(critics, tau=0.005)       # one foreach lerp over the stacked tensors
    # the action-gradient of every member (EDAC, An et al. 2021): a per-member action input
    a = action.expand(critics.n_members, *action.shape).clone().requires_grad_(True)
    grads = torch.autograd.grad(critics(obs, a).sum(), a, create_graph=True)[0]  # (N, B, da)

Losses are summed over members (not averaged), so a member's gradient does not shrink as N grows:
member k's parameters see exactly the gradient of its own loss. Gradient clipping, if any, is per
member (``clip_grad_norm_per_member_``), never one global norm over the whole ensemble.

Backends (``backend=``), the same numbers up to float rounding:

- ``"loop"``: a Python loop over members on parameter slices, outputs stacked;
- ``"vmap"``: ``torch.func.vmap`` of ``functional_call`` over the member axis, with
  ``randomness="different"`` (each member draws its own dropout mask); members with buffers are
  refused (vmap cannot batch their in-place updates, e.g. BatchNorm statistics: use ``"loop"``);
- ``"batched"``: one batched matmul per layer over ``[N, in, out]`` weights (built-in MLPs only);
- ``"auto"``: per call, by measurement (``benchmarks/ensemble_speed.py``, shared 2-core CPU, one
  torch thread, 17 -> 256 -> 256 -> 1, forward + backward, process CPU time): on CUDA always
  ``"batched"``; on the CPU ``"batched"`` when the batch has at most ``AUTO_CPU_LOOP_BATCH``
  rows (at batch 1 it took 0.5-0.7x the loop's time for N = 1-100; at batch 128, 0.7-0.9x) and
  ``"loop"`` beyond (at batch 256 the loop was 0.8-1.2x batched's time, faster for N >= 10).
  Explicit member lists have no batched form: ``"auto"`` picks ``"vmap"``, or ``"loop"`` for
  members with buffers.

Source of the idea: stacking parameters and vmapping a functional call is PyTorch's "model
ensembling" recipe (``torch.func``); batched linear layers over ``[N, in, out]`` weights are how
EDAC (An et al. 2021) and REDQ reimplementations run 10-500 critics at once.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from rlcore.registry import export
from rlcore.torch_utils import polyak_update_
from rlcore.validation import check_choice, check_int, check_range

__all__ = ["ACTIVATIONS", "AUTO_CPU_LOOP_BATCH", "BACKENDS", "Backend", "Ensemble"]

Backend = Literal["auto", "loop", "vmap", "batched"]
BACKENDS: tuple[str, ...] = ("auto", "loop", "vmap", "batched")
ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "relu": F.relu,
    "tanh": torch.tanh,
    "elu": F.elu,
    "silu": F.silu,
    "gelu": F.gelu,
}
# On the CPU, "auto" uses batched layers up to this batch size and the loop above it (measured:
# see the module docstring and the README's ensemble section).
AUTO_CPU_LOOP_BATCH = 128


def _mangle(name: str) -> str:
    return name.replace(".", "__")


def _affine(h: Tensor, w: Tensor, b: Tensor) -> Tensor:
    """h w + b: one ``baddbmm`` for stacked weights w (N, in, out) (h (B, in) is broadcast to
    every member), one ``addmm`` for one member's w (in, out)."""
    if w.dim() == 3:
        if h.dim() == 2:
            h = h.expand(w.shape[0], *h.shape)
        return torch.baddbmm(b, h, w)  # (N, B, out)
    return torch.addmm(b, h, w) if h.dim() == 2 else torch.matmul(h, w) + b


@export("networks.ensemble")
class Ensemble(nn.Module):
    """N members with stacked parameters: ``(B, in)`` or ``(N, B, in)`` -> ``(N, B, out)``.

    See the module docstring for the shapes, the backends and the critic recipe.

    Args:
        n_members: N >= 1.
        in_dim: input features per row (for a critic Q(s, a): obs_dim + act_dim).
        out_dim: outputs per row (1 for a critic, the number of actions for Q(s, .)).
        hidden: hidden layer sizes (empty: N linear maps).
        activation: one of ``ACTIVATIONS`` ("relu", "tanh", "elu", "silu", "gelu").
        layer_norm: layer normalisation (with a per-member affine) after each hidden affine map,
            before the activation (as DroQ, Hiraoka et al. 2022).
        dropout: dropout probability in [0, 1) after each hidden activation (DroQ); each member
            draws its own mask in every backend.
        backend: "auto", "loop", "vmap" or "batched".
        seed: seeds the initial weights (None: torch's global generator).
    """

    def __init__(
        self,
        n_members: int,
        in_dim: int,
        out_dim: int,
        hidden: Sequence[int] = (256, 256),
        *,
        activation: str = "relu",
        layer_norm: bool = False,
        dropout: float = 0.0,
        backend: Backend = "auto",
        seed: int | None = None,
    ) -> None:
        super().__init__()
        self.n_members = check_int("n_members", n_members, 1, hint="An ensemble needs a member.")
        self.in_dim = check_int("in_dim", in_dim, 1)
        self.out_dim = check_int("out_dim", out_dim, 1)
        if isinstance(hidden, (str, int)) or not isinstance(hidden, Sequence):
            raise TypeError(f"hidden must be a sequence of layer sizes, got {hidden!r}.")
        self.hidden = tuple(check_int("hidden layer size", h, 1) for h in hidden)
        self.activation = check_choice("activation", activation, ACTIVATIONS)
        self.layer_norm = bool(layer_norm)
        self.dropout = check_range(
            "dropout", dropout, 0.0, 1.0, high_open=True, hint="0 disables dropout."
        )
        self._base: nn.Module | None = None  # explicit members only (see from_members)
        self._names: list[str] = []  # parameter names, in forward order
        self._buffer_names: list[str] = []
        generator = torch.Generator()
        generator.manual_seed(
            int(torch.randint(0, 2**62, (1,)).item()) if seed is None else int(seed)
        )
        sizes = (self.in_dim, *self.hidden, self.out_dim)
        n = self.n_members
        for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            bound = 1.0 / math.sqrt(fan_in)  # nn.Linear's default initialisation
            w = (torch.rand(n, fan_in, fan_out, generator=generator) * 2 - 1) * bound
            b = (torch.rand(n, 1, fan_out, generator=generator) * 2 - 1) * bound
            self._add(f"w{layer}", w)
            self._add(f"b{layer}", b)
            if self.layer_norm and layer < len(self.hidden):
                self._add(f"ln_w{layer}", torch.ones(n, 1, fan_out))
                self._add(f"ln_b{layer}", torch.zeros(n, 1, fan_out))
        self.backend = self._check_backend(backend)

    def _add(self, name: str, value: Tensor) -> None:
        self.register_parameter(name, nn.Parameter(value.contiguous()))
        self._names.append(name)

    # -- explicit member lists ------------------------------------------------------------------
    @classmethod
    def from_members(cls, members: Sequence[nn.Module], *, backend: Backend = "auto") -> Ensemble:
        """Stack a list of identically shaped modules (their parameters and buffers).

        The modules are not kept: their values are copied into stacked tensors and evaluated
        with ``torch.func.functional_call`` on a structure-only (meta-device) copy of the first.

        Raises:
            ValueError: an empty list, members of different types or parameter shapes (the
                message names the member and the tensor), or ``backend="vmap"`` / ``"batched"``
                where it cannot apply.
        """
        members = list(members)
        if not members:
            raise ValueError("Ensemble.from_members needs at least one module, got an empty list.")
        first = members[0]
        reference = {k: tuple(v.shape) for k, v in first.state_dict().items()}
        for i, m in enumerate(members):
            if not isinstance(m, nn.Module):
                raise TypeError(f"member {i} is {type(m).__name__}, not a torch.nn.Module.")
            if type(m) is not type(first):
                raise ValueError(
                    f"member {i} is a {type(m).__name__} but member 0 is a "
                    f"{type(first).__name__}; an ensemble stacks identically shaped members."
                )
            shapes = {k: tuple(v.shape) for k, v in m.state_dict().items()}
            if shapes != reference:
                diff = sorted(
                    k for k in reference.keys() | shapes.keys() if reference.get(k) != shapes.get(k)
                )
                k = diff[0]
                raise ValueError(
                    f"member {i} does not match member 0 at {k!r}: shape {shapes.get(k)} vs "
                    f"{reference.get(k)}. Build every member with the same architecture."
                )
        self = cls.__new__(cls)
        nn.Module.__init__(self)
        self.n_members = len(members)
        self.in_dim = self.out_dim = 0  # unknown: the members decide
        self.hidden, self.activation, self.layer_norm, self.dropout = (), "", False, 0.0
        params, buffers = stack_module_state(members)
        self._names, self._buffer_names = list(params), list(buffers)
        for name, value in params.items():
            self.register_parameter(_mangle(name), nn.Parameter(value.detach().clone()))
        for name, value in buffers.items():
            self.register_buffer(_mangle(name), value.detach().clone())
        # Not a submodule (its meta tensors must not show up in parameters()): a plain attribute.
        object.__setattr__(self, "_base", copy.deepcopy(first).to("meta"))
        self.backend = self._check_backend(backend)
        return self

    def _check_backend(self, backend: Any) -> str:
        check_choice("backend", backend, BACKENDS)
        if backend == "batched" and self._base is not None:
            raise ValueError(
                "backend='batched' needs the built-in MLP members (Ensemble(n, in_dim, out_dim, "
                "hidden)); an explicit member list runs with backend='loop' or 'vmap'."
            )
        if backend == "vmap" and self._buffer_names:
            raise ValueError(
                f"backend='vmap' cannot batch members that hold buffers ({self._buffer_names[0]!r}"
                f"{' and others' if len(self._buffer_names) > 1 else ''}: in-place updates such "
                "as BatchNorm statistics fail under vmap); use backend='loop', or members "
                "without buffers (e.g. LayerNorm instead of BatchNorm)."
            )
        return backend

    # -- evaluation -----------------------------------------------------------------------------
    def resolve_backend(self, batch_size: int, device: torch.device) -> str:
        """The backend one call uses ("auto" decided by the device and the batch size)."""
        if self.backend != "auto":
            return self.backend
        if self._base is not None:
            return "loop" if self._buffer_names else "vmap"
        if device.type == "cuda" or batch_size <= AUTO_CPU_LOOP_BATCH:
            return "batched"
        return "loop"

    def forward(self, *inputs: Tensor, per_member: bool | None = None) -> Tensor:
        """Evaluate all members: inputs ``(B, d_i)`` (shared) or ``(N, B, d_i)`` (per member),
        concatenated along the last axis; returns ``(N, B, out)``.

        Args:
            inputs: one or more tensors (a critic: obs and action).
            per_member: whether the inputs carry a member axis. None infers it for the built-in
                MLPs (3-D input: per member); explicit members default to shared inputs.
        """
        if not inputs:
            raise ValueError("Ensemble.forward needs at least one input tensor.")
        n = self.n_members
        per = [self._is_per_member(x, per_member) for x in inputs]
        if len(inputs) == 1:
            x, shared = inputs[0], not per[0]
        elif any(per):
            full = [x if p else x.expand(n, *x.shape) for x, p in zip(inputs, per)]
            x, shared = torch.cat(full, dim=-1), False
        else:
            x, shared = torch.cat(inputs, dim=-1), True
        if self._base is None and x.shape[-1] != self.in_dim:
            raise ValueError(
                f"the ensemble's members take {self.in_dim} input features, got {x.shape[-1]} "
                f"(inputs of shapes {[tuple(t.shape) for t in inputs]}); for a critic pass obs "
                "and action whose sizes add up to in_dim."
            )
        batch = x.shape[0] if shared else x.shape[1]
        backend = self.resolve_backend(batch, x.device)
        params = [self._tensor(name) for name in self._names]
        if backend == "batched":
            return self._mlp(params, x)  # one matmul per layer over (N, in, out)
        if backend == "vmap":
            return vmap(self._member, in_dims=(0, None if shared else 0), randomness="different")(
                params, x
            )
        # unbind: one view per member with a single backward (indexing p[i] per member would
        # give every slice a full-size zero gradient, quadratic in N).
        slices = list(zip(*(p.unbind(0) for p in params)))
        buffers = list(zip(*(b.unbind(0) for b in self._buffers_list()))) or [()] * n
        xs = [x] * n if shared else x.unbind(0)
        outs = [self._member(list(p), xi, list(b)) for p, xi, b in zip(slices, xs, buffers)]
        return torch.stack(outs)  # (N, B, out)

    def forward_members(self, members: Sequence[int], *inputs: Tensor) -> Tensor:
        """Evaluate only the listed members (built-in MLPs; shared inputs ``(B, d_i)``): returns
        ``(len(members), B, out)``, equal to ``forward(*inputs)[members]`` at ``len(members) / N``
        of the cost. For REDQ's target, which reads a random subset of M of the N critics.

        One batched matmul per layer over the gathered ``(M, in, out)`` weights. Gathering copies
        the selected weights, so use it where no gradient is needed (targets) or M is small.
        """
        if self._base is not None:
            raise ValueError(
                "forward_members needs the built-in MLP members (Ensemble(n, in_dim, out_dim, "
                "hidden)); for an explicit member list index forward(*inputs) instead."
            )
        idx = [int(i) for i in members]
        if not idx or min(idx) < 0 or max(idx) >= self.n_members:
            raise ValueError(
                f"forward_members takes member indices in [0, {self.n_members - 1}], got {idx}."
            )
        x = torch.cat(inputs, dim=-1) if len(inputs) > 1 else inputs[0]
        if x.dim() != 2 or x.shape[-1] != self.in_dim:
            raise ValueError(
                f"forward_members takes shared inputs (B, d_i) whose sizes add up to in_dim="
                f"{self.in_dim}; got shapes {[tuple(t.shape) for t in inputs]}."
            )
        at = torch.tensor(idx, device=x.device)
        return self._mlp([self._tensor(name).index_select(0, at) for name in self._names], x)

    def _is_per_member(self, x: Tensor, per_member: bool | None) -> bool:
        if per_member is None:
            per_member = self._base is None and x.dim() == 3
        if per_member and (x.dim() < 2 or x.shape[0] != self.n_members):
            raise ValueError(
                f"a per-member input has a leading member axis of size {self.n_members}; got "
                f"shape {tuple(x.shape)}. Pass (B, d) to share the input across members."
            )
        return per_member

    def _buffers_list(self) -> list[Tensor]:
        return [self._tensor(name) for name in self._buffer_names]

    def _tensor(self, name: str) -> Tensor:
        return getattr(self, _mangle(name))

    def _member(
        self, params: list[Tensor], x: Tensor, buffers: list[Tensor] | None = None
    ) -> Tensor:
        """One member's output on parameter slices (the loop body and the vmapped function)."""
        if self._base is None:
            return self._mlp(params, x)
        state = dict(zip(self._names, params))
        state.update(zip(self._buffer_names, buffers or []))
        return functional_call(self._base, state, (x,))

    def _mlp(self, params: list[Tensor], x: Tensor) -> Tensor:
        """The MLP on stacked ``(N, in, out)`` or sliced ``(in, out)`` parameters: the same
        function is the batched backend and the loop / vmap body (see ``_affine``)."""
        act = ACTIVATIONS[self.activation]
        it = iter(params)
        h = x
        for _ in self.hidden:
            w, b = next(it), next(it)
            h = _affine(h, w, b)  # (N, B, hidden) or (B, hidden)
            if self.layer_norm:
                gain, shift = next(it), next(it)
                h = F.layer_norm(h, (h.shape[-1],)) * gain + shift
            h = act(h)
            if self.dropout > 0:
                h = F.dropout(h, self.dropout, self.training)
        w, b = next(it), next(it)
        return _affine(h, w, b)  # (N, B, out) or (B, out)

    # -- training helpers -----------------------------------------------------------------------
    def target_copy(self) -> Ensemble:
        """A frozen deep copy (``requires_grad=False``): the target ensemble."""
        return copy.deepcopy(self).requires_grad_(False)

    @torch.no_grad()
    def polyak_update_(self, online: Ensemble, tau: float) -> None:
        """In place: theta <- tau theta_online + (1 - tau) theta, one foreach lerp (or copy, tau
        = 1) over the stacked parameters (``rlcore.torch_utils.polyak_update_``); buffers are
        copied."""
        check_range("tau", tau, 0.0, 1.0, low_open=True, hint="1 is the hard copy.")
        polyak_update_(self.parameters(), online.parameters(), tau)
        own, theirs = list(self.buffers()), list(online.buffers())
        if own:
            torch._foreach_copy_(own, theirs)

    @torch.no_grad()
    def clip_grad_norm_per_member_(self, max_norm: float) -> Tensor:
        """Scale each member's gradient so its own global norm is at most ``max_norm``.

        g_k <- g_k min(1, max_norm / (||g_k|| + 1e-6)), ||g_k|| over all of member k's
        parameters (``torch.nn.utils.clip_grad_norm_``'s rule, once per member).

        Returns:
            The members' gradient norms before clipping, shape (N,).
        """
        check_range("max_norm", max_norm, 0.0, low_open=True)
        grads = [p.grad for p in self.parameters() if p.grad is not None]
        if not grads:
            return torch.zeros(self.n_members)
        norms = torch.stack([g.reshape(self.n_members, -1).pow(2).sum(1) for g in grads])
        norms = norms.sum(0).sqrt()  # (N,)
        scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(scale.view(-1, *([1] * (g.dim() - 1))))
        return norms

    def extra_repr(self) -> str:
        if self._base is not None:
            return f"n_members={self.n_members}, members={type(self._base).__name__}, " + (
                f"backend={self.backend!r}"
            )
        return (
            f"n_members={self.n_members}, in_dim={self.in_dim}, out_dim={self.out_dim}, "
            f"hidden={self.hidden}, activation={self.activation!r}, layer_norm="
            f"{self.layer_norm}, dropout={self.dropout}, backend={self.backend!r}"
        )
