"""``backprop="manual"``: the hand-written critic and actor gradients against autograd's on the
losses of ``rlcore.actor_critic.losses`` (the ground truth), the agents built on them, refusals."""

import numpy as np
import pytest
import torch
from gymnasium import spaces

import rlcore
from rlcore.actor_critic import EDAC, REDQ, SAC, SACN, manual
from rlcore.actor_critic.losses import actor_loss, critic_loss
from rlcore.actor_critic.networks import SquashedGaussianActor
from rlcore.ensemble.members import Ensemble

OBS = spaces.Box(-np.inf, np.inf, shape=(3,), dtype=np.float32)
ACT = spaces.Box(-2.0, 2.0, shape=(2,), dtype=np.float32)
SMALL = dict(hidden=(16, 16), batch_size=16, learning_starts=32, buffer_size=5000)


def _close(got, want, what):
    for i, (g, w) in enumerate(zip(got, want)):
        assert g.shape == w.shape, (what, i)
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-6, msg=f"{what}, tensor {i}")


def _batch(seed, batch=32, obs_dim=3, act_dim=2):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(batch, obs_dim, generator=g),
        torch.rand(batch, act_dim, generator=g) * 2 - 1,
        torch.randn(batch, generator=g) * 3,
        torch.randn(batch, act_dim, generator=g),
    )


@pytest.mark.parametrize("n, hidden, weighted", [(2, (32, 32), False), (3, (8, 16, 8), True)])
def test_critic_gradients_equal_autograds(n, hidden, weighted):
    critics = Ensemble(n, 5, 1, hidden, backend="loop", seed=1)
    obs, action, y, _ = _batch(0)
    w = torch.rand(32, generator=torch.Generator().manual_seed(2)) + 0.5 if weighted else None
    loss = critic_loss(critics(obs, action).squeeze(-1), y, w)
    want = torch.autograd.grad(loss, list(critics.parameters()))
    got_loss, q = manual.critic_grads(critics, obs, action, y, w)
    _close([p.grad for p in critics.parameters()], want, "critic gradient")
    torch.testing.assert_close(got_loss, loss.detach())
    torch.testing.assert_close(q, critics(obs, action).squeeze(-1).detach())


@pytest.mark.parametrize("reduction", ["min", "mean"])
@pytest.mark.parametrize("case", ["plain", "clamped", "tied"])
def test_actor_gradients_equal_autograds(reduction, case):
    torch.manual_seed(3)
    actor = SquashedGaussianActor(3, 2, (16, 24))
    critics = Ensemble(4, 5, 1, (16, 16), backend="loop", seed=4)
    with torch.no_grad():
        if case == "clamped":  # some log-stds past LOG_STD_MAX: no gradient, as clamp's
            actor.log_std.bias[0] = 4.0
        if case == "tied":  # identical members: amin shares the gradient among the ties
            for p in critics.parameters():
                p.copy_(p[:1].expand_as(p))
    obs, _, _, noise = _batch(5)
    alpha = torch.tensor(0.3)
    a, log_pi = actor.sample(obs, noise)
    q = critics(obs, a).squeeze(-1)
    q_pi = q.amin(0) if reduction == "min" else q.mean(0)
    loss = actor_loss(q_pi, log_pi, alpha)
    want = torch.autograd.grad(loss, list(actor.parameters()))
    got_loss, got_log_pi = manual.actor_grads(actor, critics, obs, noise, alpha, reduction)
    _close([p.grad for p in actor.parameters()], want, "actor gradient")
    torch.testing.assert_close(got_loss, loss.detach())
    torch.testing.assert_close(got_log_pi, log_pi.detach())
    assert all(p.grad is None for p in critics.parameters())  # the critics are only read
    if case == "clamped":
        assert float(actor.log_std.weight.grad[0].abs().max()) == 0.0


def _trained(cls, backprop, **kw):
    agent = cls((OBS, ACT), seed=7, backprop=backprop, **{**SMALL, **kw})
    rng = np.random.default_rng(0)
    o = rng.normal(size=(64, 3)).astype(np.float32)
    agent.replay.add(
        o, rng.uniform(-1, 1, (64, 2)), rng.normal(size=64), np.full(64, 0.99), o + 0.1
    )
    agent._train(20)
    return agent


@pytest.mark.parametrize(
    "cls, kw",
    [(SAC, {}), (REDQ, dict(n_critics=5, subset_size=2)), (SACN, dict(critic_layer_norm=False))],
)
def test_agents_train_the_same_with_either_backprop(cls, kw):
    auto, hand = _trained(cls, "autograd", **kw), _trained(cls, "manual", **kw)
    for module in ("actor", "critics", "target_critics"):
        got = list(getattr(hand, module).parameters())
        want = list(getattr(auto, module).parameters())
        _close([p.detach() for p in got], [p.detach() for p in want], module)
    torch.testing.assert_close(hand.log_alpha.detach(), auto.log_alpha.detach())


def test_manual_backprop_survives_save_load_and_is_deterministic(tmp_path):
    agent = _trained(SAC, "manual")
    again = _trained(SAC, "manual")
    for p, q in zip(agent.actor.parameters(), again.actor.parameters()):
        assert torch.equal(p, q)
    loaded = rlcore.load(agent.save(tmp_path / "sac"))
    assert loaded.config.backprop == "manual"
    agent._train(5)
    loaded._train(5)
    for p, q in zip(agent.critics.parameters(), loaded.critics.parameters()):
        assert torch.equal(p, q)


@pytest.mark.parametrize(
    "cls, kw, words",
    [
        (SACN, {}, "critic_layer_norm=True"),
        (EDAC, dict(critic_layer_norm=False), "eta=1.0"),
        (SAC, dict(actor="flow"), "FlowActor"),
    ],
)
def test_unsupported_configurations_are_refused_with_the_fix(cls, kw, words):
    with pytest.raises(ValueError, match="backprop='autograd'") as err:
        cls((OBS, ACT), seed=0, backprop="manual", **{**SMALL, **kw})
    assert words in str(err.value)


def test_unknown_backprop_is_refused():
    with pytest.raises(ValueError, match="backprop"):
        SAC((OBS, ACT), seed=0, backprop="fast", **SMALL)
