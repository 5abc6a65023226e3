"""networks.dit1d: adaLN-Zero, QK-norm, positions, MM-DiT and bad input."""

import math

import pytest
import torch

from rlcore import registry
from rlcore.generative.dit import DiT1D, apply_rotary, modulate

torch.set_num_threads(1)


def _inputs(batch=3, n=8, x_dim=2, cond_dim=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, n, x_dim, generator=g)
    t = torch.rand(batch, generator=g)
    cond = torch.randn(batch, cond_dim, generator=g) if cond_dim else None
    return x, t, cond


@pytest.mark.parametrize("cond_tokens", [0, 3])
@pytest.mark.parametrize("positions", ["rotary", "sinusoidal"])
def test_output_is_exactly_zero_at_init_and_nonzero_after_one_step(positions, cond_tokens):
    torch.manual_seed(0)
    net = registry.make(
        "networks.dit1d",
        2,
        6,
        width=32,
        depth=2,
        heads=4,
        positions=positions,
        cond_tokens=cond_tokens,
    )
    x, t, cond = _inputs()
    out = net(x, t, cond)
    assert out.shape == x.shape
    assert torch.equal(out, torch.zeros_like(out))
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    loss = ((net(x, t, cond) - torch.ones_like(x)) ** 2).mean()
    loss.backward()
    opt.step()
    assert net(x, t, cond).abs().max() > 1e-3


def test_qk_norm_bounds_the_attention_logits_by_the_learned_scale():
    torch.manual_seed(1)
    net = DiT1D(2, 6, width=32, depth=1, heads=4)
    block = net.blocks[0]
    with torch.no_grad():  # a trained-looking, non-zero adaLN and scales
        for p in block.parameters():
            p.add_(0.3 * torch.randn_like(p))
        block.x_stream.q_scale.mul_(3.0)
    x, t, cond = _inputs()
    for magnitude in (1.0, 1e3, 1e6):
        with torch.no_grad():
            c = net.conditioning(t, cond, x.dtype)
            h, rotary, _ = net.embed(magnitude * x, cond)
            logits = block.attention_logits(h, c, rotary)
        d = 32 // 4
        g_q = block.x_stream.q_scale.detach().abs().max()
        g_k = block.x_stream.k_scale.detach().abs().max()
        bound = math.sqrt(d) * float(g_q * g_k)
        assert float(logits.abs().max()) <= bound * (1 + 1e-5)
    # Without the norm the logits grow with the input: the bound is the norm's doing.
    assert float(logits.abs().max()) > 0.2 * bound


def test_mm_dit_with_no_condition_tokens_is_the_plain_dit():
    torch.manual_seed(2)
    mm = DiT1D(2, 6, width=32, depth=2, heads=4, cond_tokens=3)
    with torch.no_grad():
        for p in mm.parameters():
            p.add_(0.2 * torch.randn_like(p))
    plain = DiT1D(2, 6, width=32, depth=2, heads=4)
    missing, unexpected = plain.load_state_dict(mm.state_dict(), strict=False)
    assert not missing and all(k.startswith(("blocks.", "token_")) for k in unexpected)
    x, t, cond = _inputs()
    with torch.no_grad():
        c = mm.conditioning(t, cond, x.dtype)
        h, rotary, _ = mm.embed(x, cond)
        tokens = h.new_zeros(h.shape[0], 0, h.shape[2])  # zero condition tokens
        for block in mm.blocks:
            h, tokens = block(h, c, rotary, tokens)
        shift, scale = mm.final_ada(c).chunk(2, dim=-1)
        out_mm = mm.final(modulate(mm.final_norm(h), shift, scale))
        torch.testing.assert_close(out_mm, plain(x, t, cond), rtol=1e-6, atol=1e-6)
        # ... and the condition tokens do change the output when present.
        assert (mm(x, t, cond) - plain(x, t, cond)).abs().max() > 1e-4


def test_rotary_preserves_norms_and_makes_logits_depend_on_offsets_only():
    g = torch.Generator().manual_seed(3)
    q, k = torch.randn(1, 1, 1, 8, generator=g), torch.randn(1, 1, 1, 8, generator=g)
    pos = torch.arange(1)
    torch.testing.assert_close(apply_rotary(q, pos + 5).norm(), q.norm())
    a = (apply_rotary(q, pos + 7) * apply_rotary(k, pos + 4)).sum()
    b = (apply_rotary(q, pos + 3) * apply_rotary(k, pos + 0)).sum()
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_sequence_model_is_permutation_sensitive_through_positions():
    torch.manual_seed(4)
    for positions in ("rotary", "sinusoidal"):
        net = DiT1D(2, 0, width=16, depth=1, heads=2, positions=positions)
        with torch.no_grad():
            for p in net.parameters():
                p.add_(0.3 * torch.randn_like(p))
        x, t, _ = _inputs(cond_dim=0)
        out = net(x, t)
        perm = torch.arange(x.shape[1] - 1, -1, -1)
        assert (net(x[:, perm], t)[:, perm] - out).abs().max() > 1e-4


def test_bad_input_is_refused_with_a_message():
    net = DiT1D(2, 6, width=32, depth=1, heads=4)
    x, t, cond = _inputs()
    with pytest.raises(ValueError, match=r"\(B, T, x_dim\)"):
        net(x[:, 0], t, cond)  # wrong rank
    with pytest.raises(ValueError, match="x_dim=2"):
        net(torch.zeros(3, 8, 5), t, cond)  # wrong feature size
    with pytest.raises(ValueError, match="cond_dim"):
        net(x, t, torch.zeros(3, 4))  # wrong condition width
    with pytest.raises(ValueError, match="does not divide width"):
        DiT1D(2, 6, width=30, heads=4)
    with pytest.raises(ValueError, match="must divide cond_dim"):
        DiT1D(2, 6, width=32, heads=4, cond_tokens=4)
    with pytest.raises(ValueError, match="even"):
        DiT1D(2, 6, width=12, heads=4)  # head size 3 with rotary
    with pytest.raises(ValueError, match="positions"):
        DiT1D(2, 6, positions="learned")
