"""Consistency models (CT, CD, 1- and 2-step sampling) and the chunk autoencoder."""

import pytest
import torch

from rlcore import registry
from rlcore.generative.consistency import Consistency, consistency_scalings
from rlcore.generative.edm import EDM
from rlcore.generative.networks import MLPDenoiser

torch.set_num_threads(1)


def test_boundary_condition_is_exact():
    model = Consistency()
    c_skip, c_out, _ = consistency_scalings(torch.tensor([0.002]), 0.5, 0.002)
    assert float(c_skip) == 1.0 and float(c_out) == 0.0
    x = torch.randn(4, 3)
    out = model.consistency_fn(
        lambda x_t, t, c: torch.ones_like(x_t), x, torch.full((4,), 0.002), None
    )
    assert torch.equal(out, x)
    assert model.grid[0] == pytest.approx(0.002) and model.grid[-1] == pytest.approx(80.0)
    assert (model.grid[1:] > model.grid[:-1]).all()


def _train(model, steps=150, seed=0):
    torch.manual_seed(seed)
    net = MLPDenoiser(1, hidden=32, depth=1)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x0 = 0.5 * torch.randn(128, 1, generator=g)
        loss = model.loss(net, x0, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net


def test_distillation_from_an_exact_teacher_matches_the_data_in_one_and_two_steps():
    teacher = EDM(sigma_data=0.5)  # with F = 0 its denoiser is exact for N(0, 0.5^2) data
    model = Consistency(bins=20).distill_from(teacher, lambda x, t, c: torch.zeros_like(x))
    net = _train(model)
    with torch.no_grad():
        for steps in (1, 2):
            g = torch.Generator().manual_seed(1)
            out = model.sample(net, (4000, 1), steps=steps, generator=g)
            assert float(out.std()) == pytest.approx(0.5, abs=0.08), steps
            assert abs(float(out.mean())) < 0.05
            again = model.sample(
                net, (4000, 1), steps=steps, generator=torch.Generator().manual_seed(1)
            )
            assert torch.equal(out, again)  # deterministic under a seed


def test_consistency_training_is_deterministic_and_learns_the_scale():
    model = registry.make("objectives.consistency", bins=20)
    a, b = _train(model, steps=80), _train(model, steps=80)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    with torch.no_grad():
        out = model.sample(a, (4000, 1), generator=torch.Generator().manual_seed(2))
    assert 0.25 < float(out.std()) < 0.9  # CT from data, a short budget: the right scale


def test_dsm_term_adds_the_edm_weighted_denoising_loss():
    torch.manual_seed(0)
    net = MLPDenoiser(3, hidden=16, depth=1)
    x0 = torch.randn(64, 3)
    plain = Consistency(bins=8)
    with_dsm = Consistency(bins=8, dsm_weight=2.0)
    a = plain.loss(net, x0, generator=torch.Generator().manual_seed(3))
    b = with_dsm.loss(net, x0, generator=torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)  # the loss's draws, in order: i, then z
    i = torch.randint(7, (64,), generator=g)
    z = torch.randn(x0.shape, generator=g)
    s = plain.grid[i + 1].float()
    with torch.no_grad():
        pred = plain.consistency_fn(net, x0 + s[:, None] * z, s, None)
        weight = (s**2 + 0.25) / (s * 0.5) ** 2
        expected = 2.0 * torch.mean(weight * ((pred - x0) ** 2).mean(1))
    assert float((b - a).detach()) == pytest.approx(float(expected), rel=1e-5)


def test_target_ema_follows_the_network_at_rate_mu():
    torch.manual_seed(0)
    net = MLPDenoiser(2, hidden=8, depth=1)
    model = Consistency(bins=5, target_ema=0.75)
    x0 = torch.randn(8, 2)
    model.loss(net, x0, generator=torch.Generator().manual_seed(0))
    before = [p.detach().clone() for p in net.parameters()]
    for p, q in zip(model._target.parameters(), before):
        assert torch.equal(p, q)  # the first call copies theta
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    model.loss(net, x0, generator=torch.Generator().manual_seed(0))
    for p, q in zip(model._target.parameters(), before):
        torch.testing.assert_close(p, q + 0.25)  # mu old + (1 - mu) new
    assert not any(p.requires_grad for p in model._target.parameters())
    restored = Consistency.from_state(*model.state())
    assert restored.target_ema == 0.75 and restored.dsm_weight == 0.0


def test_consistency_bad_input():
    with pytest.raises(ValueError, match="bins"):
        Consistency(bins=1)
    with pytest.raises(ValueError, match="rho"):
        Consistency(rho=0.0)
    with pytest.raises(ValueError, match="target_ema"):
        Consistency(target_ema=1.0)
    with pytest.raises(ValueError, match="dsm_weight"):
        Consistency(dsm_weight=-1.0)
    with pytest.raises(TypeError, match="objectives.edm"):
        Consistency().distill_from(object(), None)
    with pytest.raises(ValueError, match="sigma_data"):
        Consistency(sigma_data=1.0).distill_from(EDM(sigma_data=0.5), None)
    with pytest.raises(ValueError, match="steps"):
        Consistency().sample(lambda x, t, c: x, (2, 1), steps=0)


def test_chunk_autoencoder_reconstructs_and_scales_the_latent():
    g = torch.Generator().manual_seed(0)
    # Smooth 2-D chunks (H = 8): random lines a + b s of each coordinate, s in [0, 1].
    s = torch.linspace(0, 1, 8)[None, :, None]
    a, b = torch.rand(512, 1, 2, generator=g) * 2 - 1, torch.rand(512, 1, 2, generator=g) - 0.5
    chunks = a + b * s  # (512, 8, 2), a 4-dimensional family
    torch.manual_seed(0)
    ae = registry.make("networks.chunk_autoencoder", 8, 2, latent_dim=4, hidden=64)
    ae.fit(chunks, steps=1000, batch_size=64, seed=0)
    with torch.no_grad():
        z = ae.encode(chunks)
        error = float(((ae.decode(z) - chunks) ** 2).mean())
    assert z.shape == (512, 4)
    assert float(z.std()) == pytest.approx(1.0, rel=1e-4)  # the measured scale factor
    assert error < 3e-3  # stated reconstruction error: MSE < 3e-3 on data of variance ~0.37
    with pytest.raises(ValueError, match="latent_dim\\) = \\(B, 4\\)"):
        ae.decode(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="\\(B, 8, 2\\)"):
        ae.encode(torch.zeros(3, 8, 3))
