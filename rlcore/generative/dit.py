"""A 1-D diffusion transformer (DiT) over a sequence of tokens, with adaLN-Zero and QK-norm.

The denoiser follows the ``Denoiser`` protocol with the U-Net's call signature,
``net(x_t (B, T, x_dim), t (B,), cond (B, cond_dim) | None) -> (B, T, x_dim)``: each of the T
sequence elements (an action or a state of a chunk) is one token.

- adaLN-Zero (Peebles & Xie 2023, "Scalable Diffusion Models with Transformers", §3.2): the
  conditioning vector c = MLP(time embedding) + MLP(cond) regresses, per block, the shift, scale
  and gate of both sub-layers,
      h <- h + gate_1 * Attn((1 + scale_1) LN(h) + shift_1),
      h <- h + gate_2 * MLP((1 + scale_2) LN(h) + shift_2);
  the regressions and the final projection are zero-initialised, so every block starts as the
  identity and **the network outputs exactly 0 at initialisation**.
- QK-norm (Esser et al. 2024, SD3, §5.3.2; Dehghani et al. 2023): queries and keys go through an
  RMSNorm with a learned per-channel scale g before the dot product, so every attention logit
  obeys |q.k| / sqrt(d) <= sqrt(d) max|g_q| max|g_k| whatever the activations.
- Positions along the sequence: ``"rotary"`` (RoPE, Su et al. 2021, applied to q and k of the
  data tokens) or ``"sinusoidal"`` (added to the data tokens, Vaswani et al. 2017).
- MM-DiT (SD3, §5.1, Fig. 2): with ``cond_tokens = n > 0`` the condition (B, cond_dim) is also
  split into n tokens of cond_dim / n features (e.g. the To observations of a history); condition
  and data tokens keep separate weights (their own adaLN, QKV, output and MLP) and attend jointly
  over the concatenated sequence. The condition still enters the adaLN vector c (SD3's pooled
  vector). With zero condition tokens the joint attention is the plain DiT block's attention.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rlcore.generative.networks import _ConditionMixin, _TimeEmbedding, sinusoidal_embedding
from rlcore.registry import export
from rlcore.validation import check_choice, check_int, check_range

__all__ = ["DiT1D", "apply_rotary", "modulate", "rms_norm"]

POSITIONS = ("rotary", "sinusoidal")


def modulate(h: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """(1 + scale) h + shift, with shift and scale (B, W) broadcast over the tokens of h (B, N, W)."""
    return h * (1 + scale[:, None, :]) + shift[:, None, :]


def rms_norm(x: Tensor, weight: Tensor, eps: float = 1e-6) -> Tensor:
    """RMSNorm (Zhang & Sennrich 2019): g * x / sqrt(mean(x^2) + eps) over the last axis."""
    return weight * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)


def apply_rotary(x: Tensor, positions: Tensor, base: float = 10000.0) -> Tensor:
    """Rotary position embedding (Su et al. 2021, eq. 34), rotating channel pairs (i, i + d/2).

    Args:
        x: (B, heads, N, d) queries or keys, d even.
        positions: (N,) token positions.

    Returns:
        x rotated by the angle positions * base^(-2i/d) in the pair plane i; norms preserved.
    """
    half = x.shape[-1] // 2
    freqs = base ** (-torch.arange(half, device=x.device, dtype=x.dtype) / half)  # (d/2,)
    angle = positions.to(x.dtype)[:, None] * freqs[None, :]  # (N, d/2)
    cos, sin = angle.cos(), angle.sin()
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


class _Stream(nn.Module):
    """The weights of one token stream in a block: adaLN regression, QKV, QK-norm, out, MLP."""

    def __init__(self, width: int, heads: int, mlp_ratio: float, ctx_dim: int) -> None:
        super().__init__()
        self.heads = heads
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(ctx_dim, 6 * width))
        nn.init.zeros_(self.ada[1].weight)  # adaLN-Zero: identity block at init
        nn.init.zeros_(self.ada[1].bias)
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(width, 3 * width)
        head_dim = width // heads
        self.q_scale = nn.Parameter(torch.ones(head_dim))
        self.k_scale = nn.Parameter(torch.ones(head_dim))
        self.out = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(
            nn.Linear(width, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, width)
        )

    def qkv_heads(self, h: Tensor, mod: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Normalised q, k and v, each (B, heads, N, d), of tokens h (B, N, W)."""
        shift, scale = mod[0], mod[1]
        batch, n, width = h.shape
        qkv = self.qkv(modulate(self.norm1(h), shift, scale))  # (B, N, 3W)
        qkv = qkv.view(batch, n, 3, self.heads, width // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        return rms_norm(q, self.q_scale), rms_norm(k, self.k_scale), v

    def finish(self, h: Tensor, attn: Tensor, mod: Tensor) -> Tensor:
        """h + gate_1 out(attn), then + gate_2 MLP(modulated LN); attn (B, heads, N, d)."""
        batch, heads, n, d = attn.shape
        attn = attn.transpose(1, 2).reshape(batch, n, heads * d)  # (B, N, W)
        h = h + mod[2][:, None, :] * self.out(attn)
        return h + mod[5][:, None, :] * self.mlp(modulate(self.norm2(h), mod[3], mod[4]))


class _Block(nn.Module):
    """A DiT block; with a condition stream it is an MM-DiT block (joint attention)."""

    def __init__(self, width: int, heads: int, mlp_ratio: float, ctx_dim: int, mm: bool):
        super().__init__()
        self.x_stream = _Stream(width, heads, mlp_ratio, ctx_dim)
        self.c_stream = _Stream(width, heads, mlp_ratio, ctx_dim) if mm else None

    def attention_logits(
        self, h: Tensor, c: Tensor, rotary: Tensor | None, tokens: Tensor | None = None
    ) -> Tensor:
        """q.k / sqrt(d) over the joint sequence [condition tokens, data tokens]: (B, H, N, N)."""
        q, k, _ = self._qkv(h, c, rotary, tokens)[:3]
        return q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])

    def _qkv(self, h: Tensor, c: Tensor, rotary: Tensor | None, tokens: Tensor | None):
        mod_x = self.x_stream.ada(c).chunk(6, dim=-1)
        q, k, v = self.x_stream.qkv_heads(h, mod_x)
        if rotary is not None:
            q, k = apply_rotary(q, rotary), apply_rotary(k, rotary)
        mod_c = None
        if tokens is not None:
            if self.c_stream is None:
                raise ValueError("condition tokens need an MM-DiT block (cond_tokens > 0).")
            mod_c = self.c_stream.ada(c).chunk(6, dim=-1)
            qc, kc, vc = self.c_stream.qkv_heads(tokens, mod_c)
            q, k, v = torch.cat([qc, q], 2), torch.cat([kc, k], 2), torch.cat([vc, v], 2)
        return q, k, v, mod_x, mod_c

    def forward(
        self, h: Tensor, c: Tensor, rotary: Tensor | None, tokens: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """(data tokens (B, T, W), condition tokens (B, n, W) or None) after the block."""
        q, k, v, mod_x, mod_c = self._qkv(h, c, rotary, tokens)
        attn = F.scaled_dot_product_attention(q, k, v)  # (B, H, n + T, d)
        n_c = 0 if tokens is None else tokens.shape[1]
        h = self.x_stream.finish(h, attn[:, :, n_c:], mod_x)
        if tokens is not None:
            tokens = self.c_stream.finish(tokens, attn[:, :, :n_c], mod_c)  # type: ignore[union-attr]
        return h, tokens


@export("networks.dit1d")
class DiT1D(_ConditionMixin, nn.Module):
    """Diffusion transformer over token sequences (Peebles & Xie 2023; SD3's MM-DiT option).

    Args:
        x_dim: features per token (e.g. the action size).
        cond_dim: size of the global condition; 0 for an unconditional network.
        width: token width W (divisible by ``heads``; W / heads even for rotary positions).
        depth: number of transformer blocks.
        heads: attention heads.
        mlp_ratio: MLP hidden width / W.
        positions: "rotary" or "sinusoidal".
        cond_tokens: 0 for the plain DiT; n > 0 for MM-DiT with the condition split into n
            tokens of cond_dim / n features each (cond_dim must be divisible by n).
        time_embed_dim: size of the sinusoidal time embedding (even).
        learned_null: make ``null_cond`` a learned parameter instead of zeros.

    Shapes: forward(x_t (B, T, x_dim), t (B,), cond (B, cond_dim) | None) -> (B, T, x_dim).
    """

    def __init__(
        self,
        x_dim: int,
        cond_dim: int = 0,
        width: int = 128,
        depth: int = 4,
        heads: int = 4,
        mlp_ratio: float = 4.0,
        positions: str = "rotary",
        cond_tokens: int = 0,
        time_embed_dim: int = 64,
        learned_null: bool = False,
    ) -> None:
        super().__init__()
        self.x_dim = check_int("x_dim", x_dim, 1)
        self.cond_dim = check_int("cond_dim", cond_dim, 0)
        self.width = check_int("width", width, 1)
        check_int("depth", depth, 1)
        self.heads = check_int("heads", heads, 1)
        check_range("mlp_ratio", mlp_ratio, 0.0, low_open=True)
        self.positions = check_choice("positions", positions, POSITIONS)
        self.cond_tokens = check_int("cond_tokens", cond_tokens, 0)
        if width % heads:
            raise ValueError(
                f"heads={heads} does not divide width={width}; pick a width that is a multiple "
                f"of the head count, e.g. width={heads * max(1, round(width / heads))}."
            )
        if positions == "rotary" and (width // heads) % 2:
            raise ValueError(
                f"rotary positions rotate channel pairs, so the head size width / heads = "
                f"{width // heads} must be even; change width or heads, or use "
                "positions='sinusoidal'."
            )
        if self.cond_tokens and (self.cond_dim == 0 or self.cond_dim % self.cond_tokens):
            raise ValueError(
                f"cond_tokens={cond_tokens} must divide cond_dim={cond_dim} (> 0): the MM-DiT "
                "condition is split into cond_tokens tokens of cond_dim / cond_tokens features."
            )
        if check_int("time_embed_dim", time_embed_dim, 2) % 2:
            raise ValueError(f"time_embed_dim={time_embed_dim} must be even.")
        self._init_null(learned_null)
        self.time_embed = nn.Sequential(
            _TimeEmbedding(time_embed_dim), nn.Linear(time_embed_dim, width)
        )
        self.cond_embed = (
            nn.Sequential(nn.Linear(self.cond_dim, width), nn.SiLU(), nn.Linear(width, width))
            if self.cond_dim
            else None
        )
        self.inp = nn.Linear(x_dim, width)
        mm = self.cond_tokens > 0
        if mm:
            self.token_embed = nn.Linear(self.cond_dim // self.cond_tokens, width)
            self.token_pos = nn.Parameter(torch.zeros(self.cond_tokens, width))
        self.blocks = nn.ModuleList(
            _Block(width, heads, mlp_ratio, width, mm) for _ in range(depth)
        )
        self.final_norm = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.final_ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width))
        self.final = nn.Linear(width, x_dim)
        for layer in (self.final_ada[1], self.final):  # adaLN-Zero: output exactly 0 at init
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def conditioning(self, t: Tensor, cond: Tensor | None, dtype: torch.dtype) -> Tensor:
        """The adaLN vector c = time MLP(t) + cond MLP(cond): (B, W)."""
        c = self.time_embed(t.to(dtype))
        return c if cond is None else c + self.cond_embed(cond.to(dtype))  # type: ignore[misc]

    def embed(
        self, x_t: Tensor, cond: Tensor | None
    ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """(data tokens (B, T, W), rotary positions (T,) or None, condition tokens or None)."""
        n = x_t.shape[1]
        h = self.inp(x_t)
        positions = torch.arange(n, device=x_t.device)
        rotary = positions if self.positions == "rotary" else None
        if rotary is None:
            h = h + sinusoidal_embedding(positions.to(h.dtype), self.width, scale=1.0)[None]
        tokens = None
        if self.cond_tokens and cond is not None:
            pieces = cond.to(h.dtype).reshape(cond.shape[0], self.cond_tokens, -1)
            tokens = self.token_embed(pieces) + self.token_pos[None]
        return h, rotary, tokens

    def forward(self, x_t: Tensor, t: Tensor, cond: Tensor | None = None) -> Tensor:
        self._check(x_t, t, cond, 3, "(B, T, x_dim)")
        c = self.conditioning(t, cond, x_t.dtype)  # (B, W)
        h, rotary, tokens = self.embed(x_t, cond)
        for block in self.blocks:
            h, tokens = block(h, c, rotary, tokens)
        shift, scale = self.final_ada(c).chunk(2, dim=-1)
        return self.final(modulate(self.final_norm(h), shift, scale))  # (B, T, x_dim)
