"""Denoiser networks: f(x_t, t, cond) -> a tensor shaped like x_t.

Both networks follow the ``Denoiser`` protocol (``rlcore.generative.protocols``): ``forward(x_t,
t, cond)`` with ``t`` a float tensor of shape (B,) in [0, 1] (t = 0 data, t = 1 noise), ``cond``
of shape (B, cond_dim) or None, and the attributes ``x_dim``, ``cond_dim`` and ``null_cond``
(the condition that classifier-free guidance substitutes: zeros, or a learned vector with
``learned_null=True``; None for an unconditional net).

Conditioning is FiLM (Perez et al. 2018): the vector c = [time embedding, cond] gives a per-channel
scale and shift, h <- (1 + scale(c)) * h + shift(c), in every block.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from rlcore.registry import export
from rlcore.validation import check_int

__all__ = ["MLPDenoiser", "UNet1D", "sinusoidal_embedding"]


def sinusoidal_embedding(t: Tensor, dim: int, *, scale: float = 1000.0) -> Tensor:
    """Transformer sinusoidal embedding of ``scale * t`` (Vaswani et al. 2017; Ho et al. 2020).

    emb = [sin(scale t w_i), cos(scale t w_i)], w_i = 10000^(-i / (dim/2 - 1)), i < dim / 2.
    ``scale = 1000`` makes t in [0, 1] span the range DDPM's integer steps 0..999 had.

    Args:
        t: (B,) times.
        dim: even embedding size.

    Returns:
        (B, dim) embedding.
    """
    half = dim // 2
    i = torch.arange(half, device=t.device, dtype=t.dtype)
    freqs = torch.exp(-math.log(10000.0) * i / max(half - 1, 1))
    args = scale * t[:, None] * freqs[None, :]  # (B, dim / 2)
    return torch.cat([args.sin(), args.cos()], dim=-1)


class _TimeEmbedding(nn.Module):
    """t -> sinusoidal -> Linear -> Mish -> Linear (Diffusion Policy's diffusion_step_encoder)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.Mish(), nn.Linear(4 * dim, dim))

    def forward(self, t: Tensor) -> Tensor:
        return self.mlp(sinusoidal_embedding(t, self.dim))


class _ConditionMixin:
    """Input checks and the null condition shared by the denoisers (no forward of its own)."""

    x_dim: int
    cond_dim: int

    def _init_null(self, learned_null: bool) -> None:
        if self.cond_dim == 0:
            self.null_cond = None
        elif learned_null:
            self.null_cond = nn.Parameter(torch.zeros(self.cond_dim))
        else:
            self.register_buffer("null_cond", torch.zeros(self.cond_dim))  # type: ignore[attr-defined]

    def _check(self, x_t: Tensor, t: Tensor, cond: Tensor | None, rank: int, what: str) -> None:
        name = type(self).__name__
        if x_t.dim() != rank or x_t.shape[-1] != self.x_dim:
            raise ValueError(
                f"{name} expects x_t of shape {what} with x_dim={self.x_dim}, got "
                f"{tuple(x_t.shape)}."
            )
        batch = x_t.shape[0]
        if t.shape != (batch,):
            raise ValueError(
                f"{name} expects t of shape (B,) = ({batch},) with values in [0, 1], got "
                f"{tuple(t.shape)}; broadcast a scalar time with t.expand({batch})."
            )
        if self.cond_dim == 0 and cond is not None:
            raise ValueError(
                f"{name} was built unconditional (cond_dim=0) but got cond of shape "
                f"{tuple(cond.shape)}; pass cond=None or build it with cond_dim="
                f"{cond.shape[-1]}."
            )
        if self.cond_dim > 0:
            if cond is None:
                raise ValueError(
                    f"{name} was built with cond_dim={self.cond_dim} but got cond=None; pass a "
                    f"condition of shape ({batch}, {self.cond_dim}) (its null_cond for "
                    "'no condition')."
                )
            if cond.shape != (batch, self.cond_dim):
                raise ValueError(
                    f"{name} expects cond of shape (B, cond_dim) = ({batch}, {self.cond_dim}), "
                    f"got {tuple(cond.shape)}."
                )

    def _context(self, t_emb: Tensor, cond: Tensor | None) -> Tensor:
        return t_emb if cond is None else torch.cat([t_emb, cond.to(t_emb.dtype)], dim=-1)


class _FiLMBlock(nn.Module):
    """Residual MLP block: h + W2 mish((1 + scale(c)) LayerNorm(W1 h) + shift(c))."""

    def __init__(self, hidden: int, context_dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(hidden, hidden)
        self.norm = nn.LayerNorm(hidden)
        self.film = nn.Sequential(nn.Mish(), nn.Linear(context_dim, 2 * hidden))
        self.out = nn.Linear(hidden, hidden)

    def forward(self, h: Tensor, context: Tensor) -> Tensor:
        scale, shift = self.film(context).chunk(2, dim=-1)  # (B, hidden) each
        z = (1 + scale) * self.norm(self.linear(h)) + shift
        return h + self.out(nn.functional.mish(z))


@export("networks.mlp_denoiser")
class MLPDenoiser(_ConditionMixin, nn.Module):
    """MLP denoiser for flat vectors, with a sinusoidal time embedding and FiLM conditioning.

    Args:
        x_dim: size of x_t (and of the output).
        cond_dim: size of the condition; 0 for an unconditional network.
        hidden: width of the residual blocks.
        depth: number of FiLM residual blocks.
        time_embed_dim: size of the time embedding (even).
        learned_null: make ``null_cond`` a learned parameter instead of zeros.

    Shapes: forward(x_t (B, x_dim), t (B,), cond (B, cond_dim) | None) -> (B, x_dim).
    """

    def __init__(
        self,
        x_dim: int,
        cond_dim: int = 0,
        hidden: int = 256,
        depth: int = 3,
        time_embed_dim: int = 64,
        learned_null: bool = False,
    ) -> None:
        super().__init__()
        self.x_dim = check_int("x_dim", x_dim, 1)
        self.cond_dim = check_int("cond_dim", cond_dim, 0)
        check_int("hidden", hidden, 1)
        check_int("depth", depth, 1)
        if check_int("time_embed_dim", time_embed_dim, 2) % 2:
            raise ValueError(f"time_embed_dim={time_embed_dim} must be even.")
        self._init_null(learned_null)
        self.time_embed = _TimeEmbedding(time_embed_dim)
        context_dim = time_embed_dim + self.cond_dim
        self.inp = nn.Linear(x_dim, hidden)
        self.blocks = nn.ModuleList(_FiLMBlock(hidden, context_dim) for _ in range(depth))
        self.head = nn.Sequential(nn.LayerNorm(hidden), nn.Mish(), nn.Linear(hidden, x_dim))

    def forward(self, x_t: Tensor, t: Tensor, cond: Tensor | None = None) -> Tensor:
        self._check(x_t, t, cond, 2, "(B, x_dim)")
        context = self._context(self.time_embed(t.to(x_t.dtype)), cond)  # (B, ctx)
        h = self.inp(x_t)  # (B, hidden)
        for block in self.blocks:
            h = block(h, context)
        return self.head(h)


class _Conv1dBlock(nn.Sequential):
    """Conv1d -> GroupNorm -> Mish."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, n_groups: int) -> None:
        super().__init__(
            nn.Conv1d(c_in, c_out, kernel_size, padding=kernel_size // 2),
            nn.GroupNorm(n_groups, c_out),
            nn.Mish(),
        )


class _ConditionalResBlock1D(nn.Module):
    """Diffusion Policy's ConditionalResidualBlock1D: conv, FiLM, conv, plus a residual path."""

    def __init__(self, c_in: int, c_out: int, context_dim: int, kernel_size: int, n_groups: int):
        super().__init__()
        self.conv1 = _Conv1dBlock(c_in, c_out, kernel_size, n_groups)
        self.conv2 = _Conv1dBlock(c_out, c_out, kernel_size, n_groups)
        self.film = nn.Sequential(nn.Mish(), nn.Linear(context_dim, 2 * c_out))
        self.residual = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, h: Tensor, context: Tensor) -> Tensor:
        scale, shift = self.film(context)[:, :, None].chunk(2, dim=1)  # (B, c_out, 1) each
        z = (1 + scale) * self.conv1(h) + shift  # (B, c_out, T)
        return self.conv2(z) + self.residual(h)


@export("networks.unet1d")
class UNet1D(_ConditionMixin, nn.Module):
    """1-D temporal U-Net with FiLM conditioning for sequences (Chi et al. 2023, Diffusion Policy).

    Convolutions run along the sequence axis T; each level halves T, so T must be divisible by
    2^(len(down_dims) - 1).

    Args:
        x_dim: features per sequence element (e.g. the action size).
        cond_dim: size of the global condition; 0 for an unconditional network.
        down_dims: channels per level (each divisible by ``n_groups``).
        kernel_size: odd convolution width.
        n_groups: GroupNorm groups.
        time_embed_dim: size of the time embedding (even).
        learned_null: make ``null_cond`` a learned parameter instead of zeros.

    Shapes: forward(x_t (B, T, x_dim), t (B,), cond (B, cond_dim) | None) -> (B, T, x_dim).
    """

    def __init__(
        self,
        x_dim: int,
        cond_dim: int = 0,
        down_dims: tuple[int, ...] = (64, 128, 256),
        kernel_size: int = 5,
        n_groups: int = 8,
        time_embed_dim: int = 64,
        learned_null: bool = False,
    ) -> None:
        super().__init__()
        self.x_dim = check_int("x_dim", x_dim, 1)
        self.cond_dim = check_int("cond_dim", cond_dim, 0)
        check_int("n_groups", n_groups, 1)
        if check_int("kernel_size", kernel_size, 1) % 2 == 0:
            raise ValueError(f"kernel_size={kernel_size} must be odd so T is preserved.")
        if check_int("time_embed_dim", time_embed_dim, 2) % 2:
            raise ValueError(f"time_embed_dim={time_embed_dim} must be even.")
        down_dims = tuple(down_dims)
        if not down_dims or any(
            isinstance(d, bool) or not isinstance(d, int) or d < 1 or d % n_groups
            for d in down_dims
        ):
            raise ValueError(
                f"down_dims={down_dims} must be a non-empty tuple of positive ints, each "
                f"divisible by n_groups={n_groups}."
            )
        self.down_dims = down_dims
        self._init_null(learned_null)
        self.time_embed = _TimeEmbedding(time_embed_dim)
        ctx = time_embed_dim + self.cond_dim

        def block(c_in: int, c_out: int) -> _ConditionalResBlock1D:
            return _ConditionalResBlock1D(c_in, c_out, ctx, kernel_size, n_groups)

        dims = (x_dim, *down_dims)
        pairs = list(zip(dims[:-1], dims[1:]))
        self.down = nn.ModuleList()
        for i, (c_in, c_out) in enumerate(pairs):
            last = i == len(pairs) - 1
            down = nn.Conv1d(c_out, c_out, 3, stride=2, padding=1) if not last else nn.Identity()
            self.down.append(nn.ModuleList([block(c_in, c_out), block(c_out, c_out), down]))
        self.mid = nn.ModuleList([block(down_dims[-1], down_dims[-1]) for _ in range(2)])
        self.up = nn.ModuleList()
        for c_in, c_out in reversed(pairs[1:]):
            up = nn.ConvTranspose1d(c_in, c_in, 4, stride=2, padding=1)
            self.up.append(nn.ModuleList([block(2 * c_out, c_in), block(c_in, c_in), up]))
        self.final = nn.Sequential(
            _Conv1dBlock(down_dims[0], down_dims[0], kernel_size, n_groups),
            nn.Conv1d(down_dims[0], x_dim, 1),
        )

    def forward(self, x_t: Tensor, t: Tensor, cond: Tensor | None = None) -> Tensor:
        self._check(x_t, t, cond, 3, "(B, T, x_dim)")
        factor = 2 ** (len(self.down_dims) - 1)
        if x_t.shape[1] % factor:
            raise ValueError(
                f"UNet1D with down_dims={self.down_dims} needs the sequence length T divisible "
                f"by {factor}, got x_t of shape {tuple(x_t.shape)}; pad the sequence or use "
                "fewer levels."
            )
        context = self._context(self.time_embed(t.to(x_t.dtype)), cond)  # (B, ctx)
        h = x_t.transpose(1, 2)  # (B, x_dim, T)
        skips = []
        for res1, res2, down in self.down:
            h = res2(res1(h, context), context)
            skips.append(h)
            h = down(h)
        for res in self.mid:
            h = res(h, context)
        for res1, res2, up in self.up:
            h = torch.cat([h, skips.pop()], dim=1)
            h = up(res2(res1(h, context), context))
        return self.final(h).transpose(1, 2)  # (B, T, x_dim)
