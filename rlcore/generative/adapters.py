"""ControlNet-style adapters: a frozen denoiser gains a new condition through a trainable copy of
its encoder joined by zero-initialised layers (Zhang et al. 2023, "Adding Conditional Control
to Text-to-Image Diffusion Models", §3.1-3.2, eqs. 1-2).

With the frozen base F(x; Theta) and the trainable copy F(.; Theta_c), the adapted block is

    y_c = F(x; Theta) + Z(F(x + Z(c; Theta_z1); Theta_c); Theta_z2),

where Z is a linear layer (a 1x1 convolution in the U-Net) with weight and bias initialised to 0.
At initialisation both Z output exact zeros, so **the adapted model's output equals the base's
bit for bit**, and training moves only Theta_c and the Z layers: the base's parameters are frozen
(``requires_grad=False``) and never in the adapter's ``parameters()``.

Supported bases (the encoder that is copied, and where the residuals join):
- ``networks.mlp_denoiser``: the input layer and the FiLM blocks; residual after each block.
- ``networks.unet1d``: the down path and the middle blocks; residual on each skip and on the
  middle output (as ControlNet joins SD's U-Net).
- ``networks.dit1d`` (plain, not MM-DiT): the input embedding and the first half of the blocks;
  residual after each of those blocks (as PixArt's and SD3's ControlNets).

The adapted network is a ``Denoiser`` with ``cond_dim = base.cond_dim + control_dim``: its
condition is the base's condition followed by the control vector c (B, control_dim).
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from rlcore.generative.dit import DiT1D, modulate
from rlcore.generative.networks import MLPDenoiser, UNet1D
from rlcore.registry import export
from rlcore.validation import check_int

__all__ = ["ControlNet", "architecture_signature", "zero_linear"]

SUPPORTED = (MLPDenoiser, UNet1D, DiT1D)


def zero_linear(d_in: int, d_out: int) -> nn.Linear:
    """A linear layer with weight and bias exactly 0 (ControlNet's "zero convolution")."""
    layer = nn.Linear(d_in, d_out)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def architecture_signature(net: nn.Module) -> tuple:
    """(class name, ((parameter or buffer name, shape), ...)): equal for the same architecture."""
    shapes = tuple((k, tuple(v.shape)) for k, v in net.state_dict().items())
    return type(net).__name__, shapes


def _channels_last(layer: nn.Linear, h: Tensor) -> Tensor:
    """A linear layer over the channel axis of a U-Net feature map h (B, C, T)."""
    return layer(h.transpose(1, 2)).transpose(1, 2)


@export("networks.controlnet")
class ControlNet(nn.Module):
    """A frozen denoiser plus a trainable, zero-joined copy of its encoder.

    Args:
        base: the denoiser to adapt (``MLPDenoiser``, ``UNet1D`` or plain ``DiT1D``); frozen
            in place (its parameters get ``requires_grad=False``).
        control_dim: size of the new condition c.

    Shapes: forward(x_t like the base's, t (B,), cond (B, base.cond_dim + control_dim)).
    """

    def __init__(self, base: nn.Module, control_dim: int) -> None:
        super().__init__()
        if not isinstance(base, SUPPORTED):
            raise TypeError(
                f"ControlNet adapts networks.mlp_denoiser, networks.unet1d or networks.dit1d, "
                f"got {type(base).__name__}; wrap another architecture by writing its encoder "
                "copy here."
            )
        if isinstance(base, DiT1D) and base.cond_tokens:
            raise ValueError(
                "ControlNet adapts the plain DiT (cond_tokens=0); an MM-DiT base is not supported."
            )
        self.control_dim = check_int("control_dim", control_dim, 1)
        self.x_dim = base.x_dim
        self.cond_dim = base.cond_dim + self.control_dim
        base.requires_grad_(False)
        base.eval()
        self._base = [base]  # not a submodule: its weights stay out of parameters()
        self.signature = architecture_signature(base)
        null = torch.zeros(self.control_dim)
        self.null_cond = null if base.null_cond is None else torch.cat([base.null_cond, null])
        if isinstance(base, MLPDenoiser):
            width = base.inp.out_features
            self.copy = nn.ModuleDict(
                {"inp": copy.deepcopy(base.inp), "blocks": copy.deepcopy(base.blocks)}
            )
            self.control_in = zero_linear(self.control_dim, width)
            self.zero_out = nn.ModuleList(zero_linear(width, width) for _ in base.blocks)
        elif isinstance(base, UNet1D):
            self.copy = nn.ModuleDict(
                {"down": copy.deepcopy(base.down), "mid": copy.deepcopy(base.mid)}
            )
            self.control_in = zero_linear(self.control_dim, base.x_dim)
            dims = [d for d in base.down_dims] + [base.down_dims[-1]]
            self.zero_out = nn.ModuleList(zero_linear(d, d) for d in dims)
        else:
            half = max(1, len(base.blocks) // 2)
            self.copy = nn.ModuleDict(
                {"inp": copy.deepcopy(base.inp), "blocks": copy.deepcopy(base.blocks[:half])}
            )
            self.control_in = zero_linear(self.control_dim, base.width)
            self.zero_out = nn.ModuleList(zero_linear(base.width, base.width) for _ in range(half))
        for p in self.copy.parameters():
            p.requires_grad_(True)

    @property
    def base(self) -> nn.Module:
        """The frozen base network."""
        return self._base[0]

    def attach(self, base: nn.Module) -> ControlNet:
        """Swap the frozen base for another of the same architecture (e.g. a retrained one)."""
        signature = architecture_signature(base)
        if signature != self.signature:
            raise ValueError(
                f"this adapter was built for a {self.signature[0]} with "
                f"{len(self.signature[1])} tensors of given shapes; the new base is a "
                f"{signature[0]} with a different architecture. Build a new "
                "ControlNet(base, control_dim) for it."
            )
        base.requires_grad_(False)
        base.eval()
        self._base = [base]
        return self

    def to(self, *args, **kwargs):  # the base is not a submodule: move it along
        self.base.to(*args, **kwargs)
        self.null_cond = self.null_cond.to(*args, **kwargs)
        return super().to(*args, **kwargs)

    def forward(self, x_t: Tensor, t: Tensor, cond: Tensor | None) -> Tensor:
        base = self.base
        if cond is None or cond.dim() != 2 or cond.shape[1] != self.cond_dim:
            got = None if cond is None else tuple(cond.shape)
            raise ValueError(
                f"ControlNet expects cond of shape (B, base.cond_dim + control_dim) = (B, "
                f"{base.cond_dim} + {self.control_dim}), got {got}."
            )
        base_cond = cond[:, : base.cond_dim] if base.cond_dim else None
        control = cond[:, base.cond_dim :]
        if isinstance(base, MLPDenoiser):
            return self._mlp(base, x_t, t, base_cond, control)
        if isinstance(base, UNet1D):
            return self._unet(base, x_t, t, base_cond, control)
        return self._dit(base, x_t, t, base_cond, control)

    def _mlp(self, base: MLPDenoiser, x_t, t, cond, control) -> Tensor:
        base._check(x_t, t, cond, 2, "(B, x_dim)")
        context = base._context(base.time_embed(t.to(x_t.dtype)), cond)
        h_c = self.copy["inp"](x_t) + self.control_in(control.to(x_t.dtype))
        h = base.inp(x_t)
        for block, block_c, zero in zip(base.blocks, self.copy["blocks"], self.zero_out):
            h_c = block_c(h_c, context)
            h = block(h, context) + zero(h_c)
        return base.head(h)

    def _unet(self, base: UNet1D, x_t, t, cond, control) -> Tensor:
        base._check(x_t, t, cond, 3, "(B, T, x_dim)")
        context = base._context(base.time_embed(t.to(x_t.dtype)), cond)
        h_c = (x_t + self.control_in(control.to(x_t.dtype))[:, None, :]).transpose(1, 2)
        residuals = []
        for res1, res2, down in self.copy["down"]:
            h_c = res2(res1(h_c, context), context)
            residuals.append(h_c)
            h_c = down(h_c)
        for res in self.copy["mid"]:
            h_c = res(h_c, context)
        residuals.append(h_c)
        residuals = [_channels_last(z, r) for z, r in zip(self.zero_out, residuals)]
        h = x_t.transpose(1, 2)
        skips = []
        for (res1, res2, down), r in zip(base.down, residuals):
            h = res2(res1(h, context), context)
            skips.append(h + r)
            h = down(h)
        for res in base.mid:
            h = res(h, context)
        h = h + residuals[-1]
        for res1, res2, up in base.up:
            h = torch.cat([h, skips.pop()], dim=1)
            h = up(res2(res1(h, context), context))
        return base.final(h).transpose(1, 2)

    def _dit(self, base: DiT1D, x_t, t, cond, control) -> Tensor:
        base._check(x_t, t, cond, 3, "(B, T, x_dim)")
        c = base.conditioning(t, cond, x_t.dtype)
        h, rotary, _ = base.embed(x_t, cond)
        h_c = h - base.inp(x_t) + self.copy["inp"](x_t)  # same positions, copied input layer
        h_c = h_c + self.control_in(control.to(x_t.dtype))[:, None, :]
        for j, block in enumerate(base.blocks):
            h, _ = block(h, c, rotary)
            if j < len(self.zero_out):
                h_c, _ = self.copy["blocks"][j](h_c, c, rotary)
                h = h + self.zero_out[j](h_c)
        shift, scale = base.final_ada(c).chunk(2, dim=-1)
        return base.final(modulate(base.final_norm(h), shift, scale))
