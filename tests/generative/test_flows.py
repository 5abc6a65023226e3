"""Contract tests run over every registered flow (zuko's ``tests/test_transforms.py`` idea), with
parameters perturbed away from the identity: exact inverse, log |det J| against the autograd
Jacobian, a density that integrates to one, and sampling consistent with log_prob. Plus the
spline against zuko's and the boundary checks."""

import math

import pytest
import torch

from rlcore import registry
from rlcore.generative.flows import Flow, MaximumLikelihood, univariate

torch.set_num_threads(1)
F64 = torch.float64
FLOWS = sorted(registry.names("flows."))
FAST = {"flows.cnf": dict(rtol=1e-7, atol=1e-7, hidden=(16, 16))}


def build(name, features, context=0, scale=0.2, **kwargs):
    torch.manual_seed(0)
    flow = registry.make(name, features=features, context=context, **FAST.get(name, {}), **kwargs)
    flow = flow.double().eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return flow


def test_the_four_flows_are_registered():
    assert set(FLOWS) >= {"flows.realnvp", "flows.maf", "flows.nsf", "flows.cnf"}


@pytest.mark.parametrize("context", [0, 2])
@pytest.mark.parametrize("name", FLOWS)
def test_inverse_and_log_det_are_exact(name, context):
    flow = build(name, 3, context)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(4, 3, generator=g, dtype=F64)
    c = torch.randn(4, context, generator=g, dtype=F64) if context else None
    with torch.no_grad():
        z, ladj = flow.transform(x, c)
        x_back, ladj_inv = flow.inverse(z, c)
    assert float((z - x).abs().max()) > 1e-2  # perturbed away from the identity
    torch.testing.assert_close(x_back, x, rtol=0, atol=1e-5)
    torch.testing.assert_close(ladj_inv, -ladj, rtol=0, atol=1e-5)
    for i in range(1 if name == "flows.cnf" else 2):
        ci = None if c is None else c[i : i + 1]
        jac = torch.autograd.functional.jacobian(
            lambda v, ci=ci: flow.transform(v[None], ci)[0][0], x[i]
        )
        assert float(torch.linalg.slogdet(jac)[1]) == pytest.approx(float(ladj[i]), abs=1e-6)


@pytest.mark.parametrize("name", FLOWS)
def test_density_integrates_to_one_on_a_grid(name):
    flow = build(name, 2, scale=0.1)  # milder: a Riemann sum needs a density the grid resolves
    n = 81 if name == "flows.cnf" else 241
    half = 5.0 if name == "flows.nsf" else 8.0  # the splines' bound; else wide enough for the tails
    axis = torch.linspace(-half, half, n, dtype=F64)
    grid = torch.cartesian_prod(axis, axis)
    with torch.no_grad():
        p = flow().log_prob(grid).exp()
    mass = float(p.sum()) * float(axis[1] - axis[0]) ** 2
    assert mass == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("context", [0, 2])
@pytest.mark.parametrize("name", FLOWS)
def test_sample_then_log_prob_agrees_with_sample_and_log_prob(name, context):
    flow = build(name, 3, context)
    c = torch.randn(5, context, dtype=F64) if context else None
    g = torch.Generator().manual_seed(3)
    x, log_p = flow(c).sample_and_log_prob((2,), generator=g)
    assert x.shape == ((2, 5, 3) if context else (2, 3))
    torch.testing.assert_close(flow(c).log_prob(x), log_p, rtol=0, atol=1e-5)
    again = flow(c).sample((2,), generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(again, x)  # same generator, same samples


@pytest.mark.parametrize("name", ["flows.realnvp", "flows.nsf"])
def test_rsample_is_differentiable_for_an_actor(name):
    flow = registry.make(name, features=2, context=3)
    c = torch.randn(4, 3, requires_grad=True)
    a, log_p = flow(c).rsample_and_log_prob()
    (a.sum() + log_p.sum()).backward()
    assert c.grad is not None and torch.isfinite(c.grad).all()
    assert all(p.grad is not None for p in flow.parameters())


def test_spline_matches_zuko():
    zuko = pytest.importorskip("zuko")
    g = torch.Generator().manual_seed(0)
    phi = 2 * torch.randn(1000, 23, generator=g, dtype=F64)
    x = 3 * torch.randn(1000, generator=g, dtype=F64)
    ref = zuko.transforms.MonotonicRQSTransform(phi[:, :8], phi[:, 8:16], phi[:, 16:], bound=5.0)
    y_ref, ladj_ref = ref.call_and_ladj(x)
    y, ladj = univariate.rqs(x, phi, bound=5.0)
    torch.testing.assert_close(y, y_ref)
    torch.testing.assert_close(ladj, ladj_ref)
    torch.testing.assert_close(univariate.rqs_inverse(y, phi)[0], ref.inv(y_ref))


def test_maximum_likelihood_objective_fits_a_gaussian():
    """A few hundred Adam steps of -log p on N(mu, diag(sd^2)) data approach the entropy."""
    from rlcore.generative import train

    torch.manual_seed(0)
    flow = registry.make("flows.realnvp", features=2, transforms=2, hidden=(16,))
    mu, sd = torch.tensor([1.0, -2.0]), torch.tensor([0.5, 1.5])
    g = torch.Generator().manual_seed(0)
    data = [mu + sd * torch.randn(256, 2, generator=g) for _ in range(20)]
    losses = train(
        MaximumLikelihood(), flow, data, torch.optim.Adam(flow.parameters(), 2e-2), steps=150
    )
    entropy = float(0.5 * 2 * (1 + math.log(2 * math.pi)) + torch.log(sd).sum())
    assert sum(losses[-20:]) / 20 == pytest.approx(entropy, abs=0.1)
    x = MaximumLikelihood().sample(flow, (500, 2), generator=g)
    assert x.mean(0).sub(mu).abs().max() < 0.3


def test_bad_input_is_refused_with_shapes_and_ranges():
    flow = registry.make("flows.nsf", features=2, bound=3.0)
    with pytest.raises(ValueError, match="features=2"):
        flow().log_prob(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="unconditional"):
        flow(torch.zeros(4, 1))
    with pytest.raises(ValueError, match=r"data range is \[-4, 1"):
        flow().log_prob(torch.tensor([[-4.0, 0.0], [1.0, 0.5]]))
    with pytest.raises(ValueError, match="non-finite"):
        flow().log_prob(torch.tensor([[float("inf"), 0.0]]))
    conditional = registry.make("flows.maf", features=2, context=3)
    with pytest.raises(ValueError, match="without"):
        conditional()
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        conditional(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="batch shape"):
        conditional(torch.zeros(4, 3)).log_prob(torch.zeros(5, 2))
    with pytest.raises(ValueError, match="rtol"):
        registry.make("flows.cnf", features=2, rtol=0.0)
    with pytest.raises(ValueError, match="bins"):
        registry.make("flows.nsf", features=2, bins=1)
    assert isinstance(flow, Flow)


@pytest.mark.parametrize("context", [0, 2])
def test_cnf_concatsquash_tanh_log_det_is_exact_in_training_mode_too(context):
    """FFJORD's field (tanh, concat-squash time layers) with the exact trace while training: the
    training-mode log |det J| (with a graph) equals the autograd Jacobian's and the eval-mode one."""
    flow = build(
        "flows.cnf",
        2,
        context,
        activation="tanh",
        time_input="concatsquash",
        train_divergence="exact",
    )
    g = torch.Generator().manual_seed(4)
    x = torch.randn(3, 2, generator=g, dtype=F64)
    c = torch.randn(3, context, generator=g, dtype=F64) if context else None
    with torch.no_grad():
        z, ladj_eval = flow.transform(x, c)
    flow.train()
    z_train, ladj_train = flow.transform(x.clone().requires_grad_(True), c)
    torch.testing.assert_close(ladj_train.detach(), ladj_eval, rtol=0, atol=1e-7)
    assert ladj_train.requires_grad
    flow.eval()
    jac = torch.autograd.functional.jacobian(
        lambda v: flow.transform(v[None], None if c is None else c[:1])[0][0], x[0]
    )
    assert float(torch.linalg.slogdet(jac)[1]) == pytest.approx(float(ladj_eval[0]), abs=1e-6)
    with pytest.raises(ValueError, match="activation"):
        registry.make("flows.cnf", features=2, activation="relu")
