"""Classifier guidance on DDPM, DDIM and flow samplers, and inpainting (issue 16).

Ground truth: a 1-D mixture of three Gaussians whose noisy marginals, denoisers and classifier
are analytic. With y depending only on the component c, p(y | c) = Q[c], the exact noisy
classifier is p(y | x_t) = sum_c p(c | x_t) Q[c], and guidance at scale 1 samples p(x | y), whose
mode weights are the tilted ones, w_c Q[c] / sum_c' w_c' Q[c'].
"""

import pytest
import torch

from rlcore.generative import Diffusion, FlowMatching
from rlcore.generative.guidance import ClassifierGuidance, Inpaint, classifier_guided_velocity

MU = torch.tensor([-3.0, 0.0, 3.0], dtype=torch.float64)
W = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64)
Q = torch.tensor([0.9, 0.5, 0.1], dtype=torch.float64)  # p(y | c)
S = 0.3
TILTED = W * Q / (W * Q).sum()  # (0.474, 0.395, 0.132)


def _coefficients(model, t):
    """(a, b) with x_t = a x0 + b eps, shapes (B, 1)."""
    if isinstance(model, FlowMatching):
        return (1 - t.double())[:, None], t.double()[:, None]
    k = torch.round(t.double() * model.num_train_steps).long() - 1
    ab = model.alpha_bar[k][:, None]
    return ab.sqrt(), (1 - ab).sqrt()


def _terms(model, x_t, t):
    """Per-component E[eps | x_t, c], E[x0 | x_t, c] and log p(c | x_t); each (B, 3)."""
    a, b = _coefficients(model, t)
    var = a * a * S * S + b * b
    centred = x_t.double() - a * MU
    eps_c = b * centred / var
    x0_c = MU + a * S * S * centred / var
    log_post = torch.log_softmax(W.log() - 0.5 * centred**2 / var, dim=1)
    return eps_c, x0_c, log_post


def _denoiser(model):
    """The exact network output (eps for diffusion, eps - x0 for the flow), shape (B, 1)."""

    def net(x_t, t, cond=None):
        eps_c, x0_c, log_post = _terms(model, x_t, t)
        post = log_post.exp()
        eps = (post * eps_c).sum(1, keepdim=True)
        if isinstance(model, FlowMatching):
            return (eps - (post * x0_c).sum(1, keepdim=True)).to(x_t.dtype)
        return eps.to(x_t.dtype)

    return net


def _log_p_y(model):
    def log_prob(x_t, t):
        return torch.logsumexp(_terms(model, x_t, t)[2] + Q.log(), dim=1)

    return log_prob


def _mode_weights(x):
    nearest = torch.argmin((x.double() - MU).abs(), dim=1)
    return torch.bincount(nearest, minlength=3).double() / x.shape[0]


MODELS = {
    "ddpm": lambda: (Diffusion("linear", 100, sampler="ddpm"), {}),
    "ddim": lambda: (Diffusion("linear", 100, sampler="ddim"), {}),
    "euler": lambda: (FlowMatching(sample_steps=200), {}),
    "heun": lambda: (FlowMatching(solver="heun", sample_steps=100), {}),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_scale_zero_is_the_unguided_sampler_exactly(name):
    model, _ = MODELS[name]()
    net = _denoiser(model)
    calls = []

    def log_prob(x_t, t):
        calls.append(1)
        return _log_p_y(model)(x_t, t)

    kwargs = {"steps": 10, "dtype": torch.float64}
    plain = model.sample(net, (64, 1), generator=torch.Generator().manual_seed(3), **kwargs)
    guided = model.sample(
        net,
        (64, 1),
        generator=torch.Generator().manual_seed(3),
        classifier=ClassifierGuidance(log_prob, scale=0.0),
        **kwargs,
    )
    assert torch.equal(plain, guided)
    assert not calls  # scale 0 never evaluates the classifier


@pytest.mark.parametrize("name", sorted(MODELS))
def test_guided_samples_match_the_tilted_mode_weights(name):
    model, _ = MODELS[name]()
    net = _denoiser(model)
    with torch.no_grad():  # the classifier's gradient is taken even under no_grad
        plain = model.sample(
            net, (4000, 1), generator=torch.Generator().manual_seed(0), dtype=torch.float64
        )
        guided = model.sample(
            net,
            (4000, 1),
            generator=torch.Generator().manual_seed(0),
            dtype=torch.float64,
            classifier=ClassifierGuidance(_log_p_y(model), scale=1.0),
        )
    torch.testing.assert_close(_mode_weights(plain), W, atol=0.03, rtol=0)
    torch.testing.assert_close(_mode_weights(guided), TILTED, atol=0.03, rtol=0)


def test_flow_velocity_guidance_is_the_score_shift():
    # v = (E[eps | x] - x) / (1 - t) and E[eps | x] = -t score: a score shift g moves v by
    # -t / (1 - t) g; at t = 1 the rule leaves v unguided.
    v = torch.tensor([[1.0], [2.0], [3.0]])
    g = torch.tensor([[0.5], [0.5], [0.5]])
    t = torch.tensor([0.25, 0.5, 1.0])
    out = classifier_guided_velocity(v, g, t, 2.0)
    torch.testing.assert_close(out, torch.tensor([[1.0 - 2 * 0.5 / 3], [2.0 - 2 * 0.5], [3.0]]))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_inpainted_coordinates_are_exact(name):
    model, _ = MODELS[name]()
    net = torch.nn.Sequential(torch.nn.Linear(4, 4))

    def denoiser(x_t, t, cond=None):
        return net(x_t)

    mask = torch.tensor([True, False, False, True])
    values = torch.tensor([0.123, 0.0, 0.0, -1.7])
    with torch.no_grad():
        x = model.sample(
            denoiser,
            (16, 4),
            steps=5,
            generator=torch.Generator().manual_seed(0),
            inpaint=Inpaint(mask, values),
        )
    assert torch.equal(x[:, 0], torch.full((16,), 0.123))
    assert torch.equal(x[:, 3], torch.full((16,), -1.7))
    assert x[:, 1].std() > 0


def test_guidance_and_inpainting_reject_bad_input():
    model = Diffusion("linear", 10)
    net = _denoiser(model)

    def detached(x_t, t):
        return x_t.detach().sum(1)

    with pytest.raises(ValueError, match="no gradient path"):
        model.sample(net, (4, 1), classifier=ClassifierGuidance(detached, 1.0))

    def constant(x_t, t):
        return torch.zeros(x_t.shape[0], requires_grad=True)

    with pytest.raises(ValueError, match="does not depend on x_t"):
        model.sample(net, (4, 1), classifier=ClassifierGuidance(constant, 1.0))
    with pytest.raises(ValueError, match=r"shape \(B,\)"):
        model.sample(net, (4, 1), classifier=ClassifierGuidance(lambda x, t: x, 1.0))
    with pytest.raises(TypeError, match="bool"):
        Inpaint(torch.zeros(3), torch.zeros(3))
    with pytest.raises(ValueError, match="broadcast"):
        Inpaint(torch.zeros(3, dtype=torch.bool), torch.zeros(4))
    with pytest.raises(ValueError, match="sample shape"):
        model.sample(net, (4, 1), inpaint=Inpaint(torch.zeros(3, dtype=torch.bool), torch.zeros(3)))
