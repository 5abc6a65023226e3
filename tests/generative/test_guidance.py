"""Classifier-free guidance: the w = 0 / w = 1 identities, one doubled batch, dropout, errors."""

import pytest
import torch

from rlcore.generative import (
    ClassifierFree,
    ClassifierGuidance,
    Diffusion,
    FlowMatching,
    MLPDenoiser,
)
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


# ------------------------------------------------------------------ classifier guidance
MU, S = torch.tensor([-2.0, 2.0], dtype=torch.float64), 0.3


def _mixture_terms(model, x_t, t):
    """Per-class E[eps | x_t, c] and log p(c | x_t) for x0 ~ 0.5 N(-2, S^2) + 0.5 N(2, S^2)."""
    k = torch.round(t.double() * model.num_train_steps).long() - 1
    ab = model.alpha_bar[k][:, None]  # (B, 1)
    var = ab * S * S + 1 - ab
    centred = x_t - ab.sqrt() * MU  # (B, 2): one column per class
    eps_c = (1 - ab).sqrt() * centred / var
    log_post = torch.log_softmax(-0.5 * centred**2 / var, dim=1)  # equal priors, equal variances
    return eps_c, log_post


def test_classifier_guidance_with_exact_classifier_gives_the_conditional_eps():
    model = Diffusion("linear", 50)

    def uncond_eps(x_t, t, cond=None):
        eps_c, log_post = _mixture_terms(model, x_t, t)
        return (log_post.exp() * eps_c).sum(1, keepdim=True)

    def log_prob(x_t, t):  # log p(y = 1 | x_t)
        return _mixture_terms(model, x_t, t)[1][:, 1]

    guidance = ClassifierGuidance(log_prob, scale=1.0)
    g = torch.Generator().manual_seed(0)
    x_t = 3 * torch.randn(64, 1, generator=g, dtype=torch.float64)
    for k in (0, 20, 49):
        t = torch.full((64,), (k + 1) / 50, dtype=torch.float64)
        ab = float(model.alpha_bar[k])
        guided = guidance.eps(x_t, t, uncond_eps(x_t, t), ab)
        torch.testing.assert_close(guided, _mixture_terms(model, x_t, t)[0][:, 1:])
    with torch.no_grad():  # the classifier's gradient is taken even under no_grad
        x = model.sample(
            uncond_eps,
            (4000, 1),
            generator=torch.Generator().manual_seed(1),
            dtype=torch.float64,
            classifier=guidance,
        )
    assert float((x > 0).double().mean()) > 0.99
    assert float(x.mean()) == pytest.approx(2.0, abs=0.05)
    plain = model.sample(uncond_eps, (4000, 1), generator=torch.Generator().manual_seed(1))
    assert float((plain > 0).float().mean()) == pytest.approx(0.5, abs=0.05)
    with pytest.raises(ValueError, match="scale"):
        ClassifierGuidance(log_prob, scale=-1.0)
