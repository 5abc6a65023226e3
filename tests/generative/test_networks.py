"""Denoiser networks, their input errors, the time embedding and the EMA."""

import math

import pytest
import torch

from rlcore import registry
from rlcore.generative import EMA, MLPDenoiser, UNet1D
from rlcore.generative.ema import ema_decay
from rlcore.generative.networks import sinusoidal_embedding

torch.set_num_threads(1)


def n_params(net):
    return sum(p.numel() for p in net.parameters())


def small_unet(cond_dim=0, **kw):
    return UNet1D(
        2, cond_dim, down_dims=(16, 32, 64), kernel_size=3, n_groups=8, time_embed_dim=16, **kw
    )


def test_registered_names_build_the_networks():
    assert registry.get("networks.mlp_denoiser") is MLPDenoiser
    assert registry.get("networks.unet1d") is UNet1D
    assert registry.get("networks.ema") is EMA


def test_shapes_and_sizes():
    g = torch.Generator().manual_seed(0)
    mlp = MLPDenoiser(3, cond_dim=4, hidden=64, depth=2)
    out = mlp(torch.randn(5, 3, generator=g), torch.rand(5, generator=g), torch.randn(5, 4))
    assert out.shape == (5, 3)
    unet = small_unet(cond_dim=4)
    assert n_params(unet) < 1_000_000
    out = unet(torch.randn(5, 16, 2, generator=g), torch.rand(5, generator=g), torch.randn(5, 4))
    assert out.shape == (5, 16, 2)
    default = UNet1D(2, 10)  # Diffusion Policy's channel sizes (64, 128, 256)
    assert default(torch.randn(1, 8, 2), torch.rand(1), torch.randn(1, 10)).shape == (1, 8, 2)


@pytest.mark.parametrize("make", [lambda: MLPDenoiser(2, 3, 32, 1), lambda: small_unet(3)])
def test_output_depends_on_time_and_condition(make):
    net = make()
    x = torch.randn(4, 2) if isinstance(net, MLPDenoiser) else torch.randn(4, 8, 2)
    t, cond = torch.full((4,), 0.3), torch.randn(4, 3)
    base = net(x, t, cond)
    assert not torch.allclose(base, net(x, torch.full((4,), 0.7), cond))
    assert not torch.allclose(base, net(x, t, cond + 1.0))


def test_sinusoidal_embedding_matches_a_loop():
    t = torch.tensor([0.0, 0.25, 1.0])
    dim, emb = 8, sinusoidal_embedding(torch.tensor([0.0, 0.25, 1.0]), 8)
    for b in range(3):
        for i in range(dim // 2):
            w = 10000 ** (-i / (dim // 2 - 1))
            assert float(emb[b, i]) == pytest.approx(math.sin(1000 * float(t[b]) * w), abs=1e-4)
            assert float(emb[b, i + 4]) == pytest.approx(math.cos(1000 * float(t[b]) * w), abs=1e-4)


def test_bad_inputs_name_the_shapes():
    mlp = MLPDenoiser(2, cond_dim=3, hidden=16, depth=1)
    with pytest.raises(ValueError, match=r"x_dim=2, got \(4, 5\)"):
        mlp(torch.zeros(4, 5), torch.zeros(4), torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"\(B, x_dim\) with x_dim=2, got \(4, 7, 2\)"):
        mlp(torch.zeros(4, 7, 2), torch.zeros(4), torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"cond_dim=3 but got cond=None"):
        mlp(torch.zeros(4, 2), torch.zeros(4), None)
    with pytest.raises(ValueError, match=r"\(4, 3\), got \(4, 2\)"):
        mlp(torch.zeros(4, 2), torch.zeros(4), torch.zeros(4, 2))
    with pytest.raises(ValueError, match=r"t of shape \(B,\) = \(4,\)"):
        mlp(torch.zeros(4, 2), torch.zeros(4, 1), torch.zeros(4, 3))
    uncond = MLPDenoiser(2, hidden=16, depth=1)
    with pytest.raises(ValueError, match=r"unconditional \(cond_dim=0\) but got cond of shape"):
        uncond(torch.zeros(4, 2), torch.zeros(4), torch.zeros(4, 3))
    unet = small_unet()
    with pytest.raises(ValueError, match=r"divisible by 4, got x_t of shape \(2, 6, 2\)"):
        unet(torch.zeros(2, 6, 2), torch.zeros(2))
    with pytest.raises(ValueError, match=r"\(B, T, x_dim\)"):
        unet(torch.zeros(2, 8), torch.zeros(2))
    with pytest.raises(ValueError, match="down_dims"):
        UNet1D(2, down_dims=(12, 24), n_groups=8)
    with pytest.raises(ValueError, match="kernel_size"):
        UNet1D(2, kernel_size=4)


def test_null_condition_is_zero_buffer_or_learned_parameter():
    zero = MLPDenoiser(2, 3, 16, 1)
    assert torch.equal(zero.null_cond, torch.zeros(3))
    assert "null_cond" in dict(zero.named_buffers())
    learned = MLPDenoiser(2, 3, 16, 1, learned_null=True)
    assert "null_cond" in dict(learned.named_parameters())
    assert MLPDenoiser(2, 0, 16, 1).null_cond is None


def test_ema_follows_the_warmup_formula_and_a_naive_average():
    net = torch.nn.Linear(1, 1, bias=False)
    ema = EMA(net, decay=0.9, warmup=10)
    expected = float(net.weight.detach())
    for n in range(30):
        with torch.no_grad():
            net.weight.fill_(float(n))
        d = ema.update(net)
        assert d == pytest.approx(min(0.9, (1 + n) / (10 + n)))
        assert d == pytest.approx(ema_decay(n, 0.9, 10))
        expected = d * expected + (1 - d) * float(n)
        assert float(ema.averaged.weight) == pytest.approx(expected, rel=1e-6)
    assert not ema.averaged.weight.requires_grad and not ema.averaged.training
    clone = EMA(net, decay=0.9)
    clone.load_state_dict(ema.state_dict())
    assert clone.num_updates == 30
    assert torch.equal(clone.averaged.weight, ema.averaged.weight)


def test_ema_copies_buffers_and_checks_its_input():
    net = MLPDenoiser(2, 3, 16, 1)
    ema = EMA(net, decay=0.99, warmup=1)
    with torch.no_grad():
        net.null_cond.fill_(2.0)
    assert ema.update(net) == pytest.approx(0.99)
    assert torch.equal(ema.averaged.null_cond, torch.full((3,), 2.0))
    with pytest.raises(ValueError, match="decay"):
        EMA(net, decay=1.0)
    with pytest.raises(ValueError, match="parameters differ"):
        ema.update(MLPDenoiser(2, 3, 16, 2))
