"""Classifier-free guidance: the w = 0 / w = 1 identities, one doubled batch, dropout, errors."""

import pytest
import torch

from rlcore.generative import ClassifierFree, Diffusion, FlowMatching, MLPDenoiser
from rlcore.generative.guidance import cfg_combine, drop_condition

torch.set_num_threads(1)

MODELS = [
    lambda **kw: Diffusion("cosine", 20, sampler="ddim", eta=0.5, **kw),
    lambda **kw: Diffusion("linear", 20, sampler="ddpm", prediction="v", **kw),
    lambda **kw: FlowMatching(solver="heun", **kw),
]


class CountingNet(torch.nn.Module):
    """Wraps a denoiser and records the batch size of every call."""

    def __init__(self, net):
        super().__init__()
        self.net, self.calls = net, []
        self.x_dim, self.cond_dim, self.null_cond = net.x_dim, net.cond_dim, net.null_cond

    def forward(self, x_t, t, cond=None):
        self.calls.append(x_t.shape[0])
        return self.net(x_t, t, cond)


def conditional_net(learned_null=False):
    torch.manual_seed(0)
    net = MLPDenoiser(2, cond_dim=3, hidden=32, depth=2, learned_null=learned_null)
    if learned_null:
        with torch.no_grad():
            net.null_cond.copy_(torch.tensor([0.5, -1.0, 2.0]))
    return net


def test_cfg_combine_identities():
    c, u = torch.randn(4, 2), torch.randn(4, 2)
    torch.testing.assert_close(cfg_combine(c, u, 0.0), u)
    torch.testing.assert_close(cfg_combine(c, u, 1.0), c)
    torch.testing.assert_close(cfg_combine(c, u, 3.0), u + 3 * (c - u))


@pytest.mark.parametrize("make", MODELS)
@pytest.mark.parametrize("learned_null", [False, True])
def test_w0_is_unconditional_and_w1_is_conditional(make, learned_null):
    net = conditional_net(learned_null)
    model = make(cond_dropout_trained=True)
    cond = torch.randn(16, 3, generator=torch.Generator().manual_seed(1))
    null = net.null_cond.detach().expand(16, 3)

    def run(c, w):
        with torch.no_grad():
            return model.sample(
                net,
                (16, 2),
                c,
                steps=5,
                generator=torch.Generator().manual_seed(7),
                guidance_scale=w,
            )

    torch.testing.assert_close(run(cond, 0.0), run(null, None), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(run(cond, 1.0), run(cond, None), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(run(cond, 3.0), run(cond, None))


@pytest.mark.parametrize("make", MODELS)
def test_guided_sampling_uses_one_doubled_batch_per_evaluation(make):
    net = CountingNet(conditional_net())
    model = make(cond_dropout_trained=True)
    model.sample(net, (5, 2), torch.zeros(5, 3), steps=3, guidance_scale=2.0)
    assert net.calls and set(net.calls) == {10}


def test_classifier_free_object_matches_two_separate_passes():
    net = conditional_net(learned_null=True)
    x, t, cond = torch.randn(6, 2), torch.rand(6), torch.randn(6, 3)
    guided = ClassifierFree(2.5)(net, x, t, cond)
    c = net(x, t, cond)
    u = net(x, t, net.null_cond.expand(6, 3))
    torch.testing.assert_close(guided, u + 2.5 * (c - u), atol=1e-5, rtol=1e-5)


def test_drop_condition_probabilities():
    cond, null = torch.ones(20_000, 2), torch.full((20_000, 2), -1.0)
    g = torch.Generator().manual_seed(3)
    assert torch.equal(drop_condition(cond, null, 0.0, g), cond)
    assert torch.equal(drop_condition(cond, null, 1.0, g), null)
    dropped = (drop_condition(cond, null, 0.2, g)[:, 0] < 0).double().mean()
    assert float(dropped) == pytest.approx(0.2, abs=0.01)


def test_dropout_training_enables_guidance_and_uses_the_learned_null():
    net = conditional_net(learned_null=True)
    model = Diffusion("cosine", 10)
    x0, cond = torch.randn(8, 2), torch.randn(8, 3)
    with pytest.raises(ValueError, match="never trained with condition dropout"):
        model.sample(net, (8, 2), cond, guidance_scale=2.0)
    loss = model.loss(net, x0, cond, cond_dropout=1.0, generator=torch.Generator())
    loss.backward()
    assert net.null_cond.grad is not None and net.null_cond.grad.abs().sum() > 0
    assert model.cond_dropout_trained
    model.sample(net, (8, 2), cond, steps=2, guidance_scale=2.0)


def test_guidance_errors_name_the_problem():
    net = conditional_net()
    model = FlowMatching(cond_dropout_trained=True)
    with pytest.raises(ValueError, match="cond is None"):
        model.sample(net, (4, 2), None, guidance_scale=1.0)
    with pytest.raises(ValueError, match="guidance_scale"):
        model.sample(net, (4, 2), torch.zeros(4, 3), guidance_scale=-1.0)
    uncond = MLPDenoiser(2, hidden=16, depth=1)
    with pytest.raises(ValueError, match="no null condition"):
        FlowMatching().loss(uncond, torch.zeros(4, 2), torch.zeros(4, 3), cond_dropout=0.1)
    with pytest.raises(ValueError, match="cond is None"):
        FlowMatching().loss(net, torch.zeros(4, 2), None, cond_dropout=0.1)
