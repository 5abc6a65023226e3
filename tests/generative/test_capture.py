"""The capture-safe loop: equal to the eager samplers, no host sync, one graph."""

import pytest
import torch

from rlcore.generative import Diffusion
from rlcore.generative.capture import sample_static, static_plan
from rlcore.generative.networks import UNet1D

torch.set_num_threads(1)


def _net():
    torch.manual_seed(0)
    net = UNet1D(2, 4, down_dims=(16, 32), n_groups=4).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(1.5)
    return net


@pytest.mark.parametrize("prediction", ["epsilon", "x0", "v"])
@pytest.mark.parametrize("sampler", ["ddim", "dpm_solver_pp"])
def test_static_loop_equals_the_eager_sampler(sampler, prediction):
    model = Diffusion("cosine", 100, prediction=prediction, clip_sample=1.0)
    net = _net()
    cond = torch.randn(3, 4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        eager = model.sample(
            net,
            (3, 8, 2),
            cond,
            steps=10,
            sampler=sampler,
            generator=torch.Generator().manual_seed(2),
        )
        x_T = torch.randn((3, 8, 2), generator=torch.Generator().manual_seed(2))
        static = sample_static(net, static_plan(model, sampler, 10), x_T, cond)
    torch.testing.assert_close(static, eager, rtol=1e-4, atol=1e-4)  # float32, 10 steps


FORBIDDEN = ("item", "tolist", "numpy", "cpu", "__float__", "__int__", "__bool__", "__index__")


def test_static_loop_makes_no_host_sync(monkeypatch):
    model = Diffusion("cosine", 100)
    net = _net()
    plan = static_plan(model, "dpm_solver_pp", 10)
    x_T, cond = torch.randn(1, 8, 2), torch.randn(1, 4)

    def refuse(*args, **kwargs):
        raise AssertionError("host synchronisation inside the sampling loop")

    with torch.no_grad():
        for name in FORBIDDEN:
            monkeypatch.setattr(torch.Tensor, name, refuse)
        sample_static(net, plan, x_T, cond)
        monkeypatch.undo()
        # The eager loop does read Python floats (the check above is not vacuous).
        for name in FORBIDDEN:
            monkeypatch.setattr(torch.Tensor, name, refuse)
        with pytest.raises(AssertionError, match="host synchronisation"):
            model.sample(net, (1, 8, 2), cond, steps=10)
        monkeypatch.undo()


@pytest.mark.slow
def test_static_loop_traces_as_one_graph():
    model = Diffusion("cosine", 100)
    net = _net()
    plan = static_plan(model, "ddim", 5)
    x_T, cond = torch.randn(1, 8, 2), torch.randn(1, 4)
    compiled = torch.compile(
        lambda x, c: sample_static(net, plan, x, c), backend="eager", fullgraph=True
    )
    with torch.no_grad():
        torch.testing.assert_close(compiled(x_T, cond), sample_static(net, plan, x_T, cond))
