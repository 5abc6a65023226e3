"""The stacked-member container: backends agree, members differ, the training helpers."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

import rlcore
from rlcore.ensemble.members import Ensemble

BACKENDS = ("loop", "vmap", "batched")


def _outputs_and_grads(ens, *inputs):
    ens.zero_grad()
    out = ens(*inputs)
    (out**2).mean(dim=(1, 2)).sum().backward()
    return out.detach(), [p.grad.clone() for p in ens.parameters()]


@pytest.mark.parametrize("layer_norm", [False, True])
@pytest.mark.parametrize("per_member", [False, True])
def test_backends_agree_on_outputs_gradients_and_after_a_step(layer_norm, per_member):
    torch.manual_seed(0)
    base = Ensemble(4, 17, 3, hidden=(32, 16), layer_norm=layer_norm, seed=1)
    x = torch.randn(4, 9, 17) if per_member else torch.randn(9, 17)
    results = {}
    for backend in BACKENDS:
        ens = copy.deepcopy(base)
        ens.backend = backend
        out, grads = _outputs_and_grads(ens, x)
        assert out.shape == (4, 9, 3)
        opt = torch.optim.SGD(ens.parameters(), lr=0.1)
        opt.step()
        after, _ = _outputs_and_grads(ens, x)
        results[backend] = (out, grads, after)
    ref = results["loop"]
    for backend in ("vmap", "batched"):
        out, grads, after = results[backend]
        torch.testing.assert_close(out, ref[0], atol=1e-5, rtol=1e-5)
        for g, g_ref in zip(grads, ref[1]):
            torch.testing.assert_close(g, g_ref, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(after, ref[2], atol=1e-5, rtol=1e-5)


def test_members_differ_at_init_and_match_an_independent_mlp():
    ens = Ensemble(3, 5, 2, hidden=(8,), seed=0)
    x = torch.randn(4, 5)
    out = ens(x)
    assert not torch.allclose(out[0], out[1]) and not torch.allclose(out[1], out[2])
    for p in ens.parameters():
        assert not torch.equal(p[0], p[1])
    for k in range(3):  # member k is the plain MLP relu(x W0 + b0) W1 + b1
        h = torch.relu(x @ ens.w0[k] + ens.b0[k])
        torch.testing.assert_close(out[k], h @ ens.w1[k] + ens.b1[k])
    # nn.Linear's initialisation range U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    assert ens.w0.abs().max() <= 1 / np.sqrt(5) and ens.w1.abs().max() <= 1 / np.sqrt(8)
    again = Ensemble(3, 5, 2, hidden=(8,), seed=0)
    torch.testing.assert_close(again(x), out)  # the seed decides


def test_critic_inputs_are_concatenated_and_broadcast():
    critics = rlcore.make("networks.ensemble", 5, 6 + 2, 1, hidden=(16, 16), seed=0)
    obs, act = torch.randn(10, 6), torch.randn(10, 2)
    q = critics(obs, act)
    assert q.shape == (5, 10, 1)
    torch.testing.assert_close(q, critics(torch.cat([obs, act], -1)))
    # EDAC: per-member action input with gradient
    a = act.expand(5, *act.shape).clone().requires_grad_(True)
    grads = torch.autograd.grad(critics(obs, a).sum(), a)[0]
    assert grads.shape == (5, 10, 2)
    torch.testing.assert_close(critics(obs, a), q)
    with pytest.raises(ValueError, match="take 8 input features, got 7"):
        critics(obs, act[:, :1])


def test_member_gradient_does_not_depend_on_the_other_members():
    ens = Ensemble(4, 3, 1, hidden=(8,), seed=0)
    x, y = torch.randn(16, 3), torch.randn(16, 1)
    loss = ((ens(x) - y) ** 2).mean(dim=(1, 2)).sum()  # summed over members
    loss.backward()
    g_all = ens.w0.grad[2].clone()
    ens.zero_grad()
    ((ens(x)[2] - y) ** 2).mean().backward()  # member 2's own loss
    torch.testing.assert_close(ens.w0.grad[2], g_all)


def test_polyak_update_and_target_copy():
    online = Ensemble(3, 4, 2, hidden=(8,), seed=0)
    target = online.target_copy()
    assert all(not p.requires_grad for p in target.parameters())
    before = [p.clone() for p in target.parameters()]
    with torch.no_grad():
        for p in online.parameters():
            p.add_(1.0)
    target.polyak_update_(online, tau=0.25)
    for t, b, o in zip(target.parameters(), before, online.parameters()):
        torch.testing.assert_close(t, 0.25 * o + 0.75 * b)
    target.polyak_update_(online, tau=1.0)
    for t, o in zip(target.parameters(), online.parameters()):
        torch.testing.assert_close(t, o)


def test_gradient_clipping_is_per_member():
    ens = Ensemble(3, 4, 1, hidden=(8,), seed=0)
    x = torch.randn(5, 4)
    scale = torch.tensor([100.0, 1e-3, 10.0]).view(3, 1, 1)
    (ens(x) * scale).sum().backward()
    grads = [p.grad.clone() for p in ens.parameters()]
    norms = ens.clip_grad_norm_per_member_(1.0)
    per = torch.stack([torch.cat([g[k].flatten() for g in grads]).norm() for k in range(3)])
    torch.testing.assert_close(norms, per)
    after = torch.stack(
        [torch.cat([p.grad[k].flatten() for p in ens.parameters()]).norm() for k in range(3)]
    )
    assert after[0] == pytest.approx(1.0, rel=1e-4) and after[2] == pytest.approx(1.0, rel=1e-4)
    assert after[1] == pytest.approx(float(per[1]), rel=1e-6)  # a small member is untouched


def test_explicit_members_equal_the_modules_with_loop_and_vmap():
    torch.manual_seed(0)
    mods = [nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2)) for _ in range(4)]
    x = torch.randn(6, 3)
    expected = torch.stack([m(x) for m in mods])
    for backend in ("loop", "vmap", "auto"):
        ens = Ensemble.from_members(mods, backend=backend)
        torch.testing.assert_close(ens(x), expected)
        xs = torch.randn(4, 6, 3)
        torch.testing.assert_close(
            ens(xs, per_member=True), torch.stack([m(xi) for m, xi in zip(mods, xs)])
        )
    assert len(list(ens.parameters())) == 4  # stacked, not one per member


def test_dropout_draws_a_different_mask_per_member_in_every_backend():
    for backend in BACKENDS:
        ens = Ensemble(3, 4, 1, hidden=(64,), dropout=0.5, backend=backend, seed=0)
        with torch.no_grad():  # identical members: differences come from the dropout masks
            for p in ens.parameters():
                p.copy_(p[:1].expand_as(p))
        x = torch.randn(8, 4)
        out = ens(x)
        assert not torch.allclose(out[0], out[1]), backend
        ens.eval()
        out = ens(x)
        torch.testing.assert_close(out[0], out[1])


def test_batchnorm_members_run_with_loop_and_are_refused_by_vmap():
    mods = [nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)) for _ in range(2)]
    ens = Ensemble.from_members(mods, backend="loop")
    assert ens.resolve_backend(8, torch.device("cpu")) == "loop"
    ens(torch.randn(8, 3))
    assert not torch.equal(ens.get_buffer("1__running_mean"), torch.zeros(2, 4))  # updated
    with pytest.raises(ValueError, match=r"vmap' cannot batch members that hold buffers.*loop"):
        Ensemble.from_members(mods, backend="vmap")
    with pytest.raises(ValueError, match="batched' needs the built-in MLP"):
        Ensemble.from_members(mods, backend="batched")


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match=r"n_members=0 is outside \[1, inf\]"):
        Ensemble(0, 3, 1)
    with pytest.raises(ValueError, match="backend='fast' is not one of 'auto', 'loop'"):
        Ensemble(2, 3, 1, backend="fast")
    with pytest.raises(ValueError, match=r"dropout=1.0 is outside \[0, 1\)"):
        Ensemble(2, 3, 1, dropout=1.0)
    with pytest.raises(ValueError, match=r"member 1 does not match member 0 at '0.bias'"):
        Ensemble.from_members([nn.Sequential(nn.Linear(3, 4)), nn.Sequential(nn.Linear(3, 5))])
    with pytest.raises(ValueError, match="member 1 is a Linear but member 0 is a Sequential"):
        Ensemble.from_members([nn.Sequential(nn.Linear(3, 4)), nn.Linear(3, 4)])
    with pytest.raises(ValueError, match="empty list"):
        Ensemble.from_members([])
    ens = Ensemble(2, 3, 1, hidden=(4,))
    with pytest.raises(ValueError, match=r"leading member axis of size 2; got shape \(3, 5, 3\)"):
        ens(torch.randn(3, 5, 3))


def test_auto_backend_choice():
    ens = Ensemble(2, 3, 1, hidden=(4,))
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert ens.resolve_backend(1, cpu) == "batched"
    assert ens.resolve_backend(10_000, cpu) == "loop"
    assert ens.resolve_backend(10_000, cuda) == "batched"


def test_checkpoint_roundtrip_through_state_dict():
    ens = Ensemble(3, 4, 2, hidden=(8,), seed=0)
    other = Ensemble(3, 4, 2, hidden=(8,), seed=1)
    other.load_state_dict(ens.state_dict())
    x = torch.randn(5, 4)
    torch.testing.assert_close(other(x), ens(x))
