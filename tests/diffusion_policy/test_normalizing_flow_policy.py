"""The normalizing-flow policy: the actor interface's exact log-density, the queue, determinism,
checkpoints, and (slow) behaviour cloning on the navigation task."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import rlcore
from rlcore.data import collect
from rlcore.diffusion_policy import (
    ChunkConfig,
    NormalizingFlowPolicy,
    TrainConfig,
    normalizing_flow_policy,
)

ENV_ID = "rlcore/Navigation2D-v0"
QUICK = TrainConfig(steps=5, batch_size=16)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def dataset():
    return collect(ENV_ID, 4, seed=0)


def small(dataset, **kwargs):
    kwargs.setdefault("chunk", ChunkConfig(4, 2, 2))
    return normalizing_flow_policy(dataset, transforms=2, hidden=(16,), **kwargs)


def test_registered_and_built_from_a_dataset(dataset):
    policy = rlcore.make("policies.normalizing_flow", dataset, chunk=ChunkConfig(4, 2, 2))
    assert isinstance(policy, NormalizingFlowPolicy)
    assert policy.flow.features == 4 * 2 and policy.flow.context == 2 * 2


@pytest.mark.parametrize("flow", ["nsf", "realnvp", "maf"])
def test_actor_log_prob_is_exact_in_env_units(dataset, flow):
    """rsample_and_log_prob's log pi equals log_prob of the same actions, and includes the
    normaliser's Jacobian: log pi(a) = log p(n(a)) - H sum log(scale)."""
    policy = small(dataset, flow=flow)
    policy.fit(dataset, QUICK, seed=0)
    obs = torch.as_tensor(np.asarray(dataset.observations[:3]), dtype=torch.float32)
    history = obs[:, None].repeat(1, 2, 1)  # (B, To, obs_dim)
    actions, log_pi = policy.rsample_and_log_prob(
        history, generator=torch.Generator().manual_seed(0)
    )
    assert actions.shape == (3, 4, 2) and log_pi.shape == (3,)
    torch.testing.assert_close(
        policy.log_prob(history, actions.detach()), log_pi, atol=1e-4, rtol=0
    )
    scale = torch.as_tensor(policy.action_normalizer.scale, dtype=torch.float32)
    x = (
        (actions.detach() - torch.as_tensor(policy.action_normalizer.low, dtype=torch.float32))
        / scale
        - 1.0
    ).reshape(3, -1)
    log_p_norm = policy.distribution(history).log_prob(x)
    torch.testing.assert_close(log_pi, log_p_norm - 4 * torch.log(scale).sum(), atol=1e-4, rtol=0)
    log_pi.sum().backward()  # differentiable in the flow's weights (an actor's loss)
    assert any(p.grad is not None for p in policy.flow.parameters())


def test_queue_actions_in_range_and_same_seed_same_numbers(dataset):
    a = small(dataset, seed=3)
    b = small(dataset, seed=3)
    a.fit(dataset, QUICK, seed=1)
    b.fit(dataset, QUICK, seed=1)
    out_a = rlcore.run(a, ENV_ID, episodes=1, seed=5, progress=False)
    out_b = rlcore.run(b, ENV_ID, episodes=1, seed=5, progress=False)
    assert out_a.returns == out_b.returns
    a.reset()
    obs = np.asarray(dataset.observations[0])
    actions = np.stack([a.act(obs) for _ in range(5)])
    low, high = a.action_normalizer.low, a.action_normalizer.high
    assert np.all(actions >= low - 1e-6) and np.all(actions <= high + 1e-6)


def test_save_and_load_round_trip(dataset, tmp_path):
    policy = small(dataset, flow="realnvp", seed=2)
    policy.fit(dataset, QUICK, seed=0)
    rlcore.save(policy, tmp_path / "ckpt")
    loaded = rlcore.load(tmp_path / "ckpt")
    assert type(loaded) is NormalizingFlowPolicy and loaded.trained_steps == 5
    assert loaded.nll(dataset) == pytest.approx(policy.nll(dataset), abs=1e-5)
    histories = np.repeat(np.asarray(dataset.observations[:2])[:, None], 2, axis=1)
    policy.seed(4)
    loaded.seed(4)
    np.testing.assert_array_equal(policy.sample_chunks(histories), loaded.sample_chunks(histories))


def test_bad_inputs_are_explained(dataset):
    with pytest.raises(ValueError, match="flow="):
        small(dataset, flow="glow")
    with pytest.raises(ValueError, match="noise_std"):
        small(dataset, noise_std=-0.1)
    policy = small(dataset)
    with pytest.raises(ValueError, match="obs_history"):
        policy.rsample_and_log_prob(torch.zeros(3, 2))
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        policy.act(np.zeros(3))


@pytest.mark.slow
def test_exact_likelihood_bc_solves_navigation():
    """100 expert episodes, 2000 steps: the flow policy reaches the goal in most episodes."""
    from rlcore.envs.navigation import evaluate_navigation

    data = collect(ENV_ID, 100, seed=0)
    policy = normalizing_flow_policy(data, seed=0)
    policy.fit(data, TrainConfig(2000, 128), seed=0)
    result = evaluate_navigation(policy, 30, 1000)
    assert result["success_rate"] >= 0.6
    assert math.isfinite(policy.nll(data))


def test_temperature_and_best_of_k_by_exact_likelihood(dataset):
    """tau = 1, K = 1 is the model's own sampler; K > 1 keeps, per history, the candidate of
    highest log p (scored here through the flow's forward direction, an independent path)."""
    policy = small(dataset)
    policy.fit(dataset, QUICK)
    history = np.asarray(dataset.observations[:6], dtype=np.float32).reshape(3, 2, -1)
    cond = policy._cond(torch.as_tensor(history))
    policy.seed(7)
    plain = policy._draw(cond)
    with torch.no_grad():
        reference = policy.ema_flow(cond).sample(generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(plain, reference)

    policy.temperature, policy.candidates = 0.5, 4
    policy.seed(7)
    best = policy._draw(cond)
    z = 0.5 * torch.randn(
        4 * 3, policy.ema_flow.features, generator=torch.Generator().manual_seed(7)
    )
    with torch.no_grad():
        x = policy.ema_flow.inverse(z, cond.repeat(4, 1))[0]
        log_p = policy.ema_flow(cond.repeat(4, 1)).log_prob(x).reshape(4, 3)
    expected = x.reshape(4, 3, -1)[log_p.argmax(0), torch.arange(3)]
    torch.testing.assert_close(best, expected)
    with pytest.raises(ValueError, match="temperature"):
        small(dataset, temperature=0.0)
    with pytest.raises(ValueError, match="candidates"):
        small(dataset, candidates=0)
