"""The normalizing-flow actor of the SAC family: its log pi against the autograd Jacobian of the
sampling map, and the SAC update's actor loss computed with exactly that log pi."""

import copy

import numpy as np
import pytest
import torch
from gymnasium import spaces

from rlcore import registry
from rlcore.actor_critic.flow_actor import FlowActor
from rlcore.generative.flows.core import base_log_prob

F64 = torch.float64
SPACES = (
    spaces.Box(-np.inf, np.inf, shape=(3,), dtype=np.float32),
    spaces.Box(-2.0, 2.0, shape=(2,), dtype=np.float32),
)


def _perturbed_actor(obs_dim=3, action_dim=2):
    torch.manual_seed(0)
    actor = FlowActor(obs_dim, action_dim, hidden=(16, 16)).double()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in actor.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g, dtype=F64))
    return actor


def test_log_pi_is_the_change_of_variables_of_the_sampling_map():
    """log pi(a | s) = log N(z) - log |det da/dz|, the Jacobian of z -> a by autograd."""
    actor = _perturbed_actor()
    g = torch.Generator().manual_seed(2)
    obs, z = torch.randn(4, 3, generator=g, dtype=F64), torch.randn(4, 2, generator=g, dtype=F64)
    with torch.no_grad():
        a, log_pi = actor.sample(obs, z)
    assert float((a - torch.tanh(z)).abs().max()) > 1e-2  # not the identity flow
    for i in range(4):
        jac = torch.autograd.functional.jacobian(
            lambda v, i=i: actor.sample(obs[i : i + 1], v[None])[0][0], z[i]
        )
        expected = base_log_prob(z[i]) - torch.linalg.slogdet(jac)[1]
        assert float(log_pi[i]) == pytest.approx(float(expected), abs=1e-8)
    # the forward direction (behaviour cloning) gives the same density
    with torch.no_grad():
        torch.testing.assert_close(actor.log_prob(obs, a), log_pi, rtol=0, atol=1e-6)


def test_the_sac_actor_loss_uses_the_flows_exact_log_pi():
    """One SAC update with actor='flow': the reported actor loss equals
    mean(alpha log pi - min_k Q_k(s, a)) with log pi from the Jacobian of the sampling map."""
    agent = registry.make("agents.sac", SPACES, actor="flow", hidden=(16, 16), seed=0)
    assert isinstance(agent.actor, FlowActor)
    g = torch.Generator().manual_seed(3)
    b = 6
    obs_tm1, obs_t = torch.randn(b, 3, generator=g), torch.randn(b, 3, generator=g)
    a_tm1 = torch.rand(b, 2, generator=g) * 2 - 1
    r_t, discount_t = torch.randn(b, generator=g), torch.full((b,), 0.99)
    noise = torch.randn(2, b, 2, generator=g)
    actor_before = copy.deepcopy(agent.actor).double()
    alpha = float(agent.log_alpha.detach().exp())
    row = agent._update(obs_tm1, a_tm1, r_t, discount_t, obs_t, noise, True)
    # ground truth: the change of variables of z -> a by autograd, in float64
    z, obs = noise[1].double(), obs_tm1.double()
    log_pi = []
    for i in range(b):
        jac = torch.autograd.functional.jacobian(
            lambda v, i=i: actor_before.sample(obs[i : i + 1], v[None])[0][0], z[i]
        )
        log_pi.append(base_log_prob(z[i]) - torch.linalg.slogdet(jac)[1])
    with torch.no_grad():
        a_pi = actor_before.sample(obs, z)[0].float()
        q_pi = agent.critics(obs_tm1, a_pi).squeeze(-1).amin(0)  # critics after their step
    expected = (alpha * torch.stack(log_pi).float() - q_pi).mean()
    assert float(row[1].detach()) == pytest.approx(float(expected), abs=1e-4)


def test_flow_actor_acts_checkpoints_and_refuses_ucb(tmp_path):
    agent = registry.make(
        "agents.sac", SPACES, actor="flow", hidden=(16,), seed=0, learning_starts=0
    )
    obs = np.zeros(3, dtype=np.float32)
    greedy = agent.act(obs)
    assert greedy.shape == (2,) and np.all(np.abs(greedy) <= 2.0)
    np.testing.assert_array_equal(agent.act(obs), greedy)  # the mode is deterministic
    assert not np.allclose(agent.act(obs, explore=True), agent.act(obs, explore=True))
    loaded = registry.load(agent.save(tmp_path / "sac_flow")) if hasattr(registry, "load") else None
    if loaded is None:
        import rlcore

        loaded = rlcore.load(agent.save(tmp_path / "sac_flow2"))
    np.testing.assert_array_equal(loaded.act(obs), greedy)
    with pytest.raises(ValueError, match="ucb_candidates"):
        registry.make("agents.sac", SPACES, actor="flow", ucb_candidates=4)
    with pytest.raises(ValueError, match="actor"):
        registry.make("agents.sac", SPACES, actor="beta")
