"""Action-chunk policies: shapes, the receding-horizon queue, determinism, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rlcore
from rlcore.data import collect
from rlcore.diffusion_policy import (
    ActionChunkPolicy,
    ChunkConfig,
    MSERegression,
    NetworkConfig,
    TrainConfig,
    diffusion_policy,
    flow_policy,
    gaussian_bc_policy,
)

ENV_ID = "rlcore/Navigation2D-v0"
SMALL = NetworkConfig(hidden=32, depth=1, time_embed_dim=16)
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


class CountingModel:
    """Wraps a GenerativeModel and counts sample() calls (a plan each)."""

    def __init__(self, model):
        self.model, self.calls = model, 0

    def loss(self, *args, **kwargs):
        return self.model.loss(*args, **kwargs)

    def sample(self, *args, **kwargs):
        self.calls += 1
        return self.model.sample(*args, **kwargs)


def test_factories_are_registered_and_build_one_class(dataset):
    for name in ("policies.diffusion", "policies.flow", "policies.gaussian_bc"):
        policy = rlcore.make(name, dataset, network=SMALL)
        assert isinstance(policy, ActionChunkPolicy) and isinstance(policy, rlcore.Policy)
    assert rlcore.get("objectives.mse_regression") is MSERegression


def test_same_network_size_for_every_objective(dataset):
    sizes = {
        sum(p.numel() for p in make(dataset).net.parameters())
        for make in (diffusion_policy, flow_policy, gaussian_bc_policy)
    }
    assert len(sizes) == 1


def test_queue_replans_every_n_action_steps_and_resets(dataset):
    chunk = ChunkConfig(horizon=8, n_obs_steps=2, n_action_steps=3)
    policy = gaussian_bc_policy(dataset, chunk=chunk, network=SMALL)
    counter = CountingModel(policy.model)
    policy.model = counter
    obs = dataset.observations[:7]
    policy.reset()
    actions = [policy.act(o) for o in obs]
    assert all(a.shape == (2,) and a.dtype == np.float32 for a in actions)
    assert counter.calls == 3  # plans at steps 0, 3, 6
    # The MSE policy is deterministic: the queue holds chunk[To-1 : To-1+Ta] of each plan, and
    # the history is padded with the first observation at the episode start.
    first = policy.sample_chunks(np.stack([obs[0], obs[0]])[None])[0]
    np.testing.assert_allclose(np.stack(actions[:3]), first[1:4], rtol=1e-6, atol=1e-6)
    second = policy.sample_chunks(np.stack([obs[2], obs[3]])[None])[0]
    np.testing.assert_allclose(np.stack(actions[3:6]), second[1:4], rtol=1e-6, atol=1e-6)
    policy.reset()
    before = counter.calls
    policy.act(obs[5])
    assert counter.calls == before + 1  # a new episode plans at once
    np.testing.assert_allclose(
        policy.act(obs[6]),
        policy.sample_chunks(np.stack([obs[5], obs[5]])[None])[0, 2],
        rtol=1e-6,
        atol=1e-6,
    )


def test_actions_stay_in_the_data_range(dataset):
    policy = flow_policy(dataset, network=SMALL, steps=2)
    chunks = policy.sample_chunks(np.repeat(dataset.observations[:16, None], 2, axis=1))
    assert chunks.shape == (16, 16, 2)
    low, high = dataset.actions.min(axis=0), dataset.actions.max(axis=0)
    assert np.all(chunks >= low - 1e-9) and np.all(chunks <= high + 1e-9)


def test_same_seed_same_numbers(dataset):
    def trained(seed):
        policy = diffusion_policy(dataset, network=SMALL, steps=3, seed=seed)
        losses = policy.fit(dataset, QUICK, seed=seed)
        return policy, losses

    (a, la), (b, lb), (_, lc) = trained(0), trained(0), trained(1)
    assert la == lb and la != lc
    histories = np.repeat(dataset.observations[:4, None], 2, axis=1)
    a.seed(7)
    b.seed(7)
    first = a.sample_chunks(histories)
    np.testing.assert_array_equal(first, b.sample_chunks(histories))
    assert not np.array_equal(first, a.sample_chunks(histories))  # the noise moves on
    a.seed(7)
    np.testing.assert_array_equal(first, a.sample_chunks(histories))  # and reseeding rewinds
    ha = rlcore.run(a, ENV_ID, episodes=2, seed=5)
    hb = rlcore.run(b, ENV_ID, episodes=2, seed=5)
    assert ha.lengths == hb.lengths and ha.returns == hb.returns


def test_save_and_load_round_trip(dataset, tmp_path):
    chunk = ChunkConfig(horizon=8, n_obs_steps=2, n_action_steps=4)
    unet = NetworkConfig(kind="unet1d", down_dims=(16, 32), time_embed_dim=16)
    policy = diffusion_policy(dataset, chunk=chunk, network=unet, steps=4, sampler="ddpm")
    policy.fit(dataset, QUICK)
    rlcore.save(policy, tmp_path / "ckpt")
    loaded = rlcore.load(tmp_path / "ckpt")
    assert type(loaded) is ActionChunkPolicy
    assert loaded.chunk == chunk and loaded.network == unet and loaded.trained_steps == 5
    assert loaded.sampling.steps == 4 and loaded.sampling.options == {"sampler": "ddpm"}
    for key, value in policy.ema_net.state_dict().items():
        torch.testing.assert_close(loaded.ema_net.state_dict()[key], value, rtol=0, atol=0)
    histories = np.repeat(dataset.observations[:3, None], 2, axis=1)
    policy.seed(3)
    loaded.seed(3)
    np.testing.assert_array_equal(policy.sample_chunks(histories), loaded.sample_chunks(histories))


def test_ema_weights_are_used_for_acting(dataset):
    policy = gaussian_bc_policy(dataset, network=SMALL)
    policy.fit(dataset, TrainConfig(steps=30, batch_size=16, lr=1e-2, ema_decay=0.9))
    differs = [
        not torch.equal(p, q)
        for p, q in zip(policy.net.parameters(), policy.ema_net.parameters())
    ]
    assert any(differs)
    cond = torch.as_tensor(
        policy.obs_normalizer.normalize(np.repeat(dataset.observations[:1], 2, axis=0)).reshape(
            1, -1
        ),
        dtype=torch.float32,
    )
    with torch.no_grad():
        expected = policy.model.sample(policy.ema_net, (1, 32), cond).reshape(16, 2).clamp(-1, 1)
    chunk = policy.sample_chunks(np.repeat(dataset.observations[:1, None], 2, axis=1))[0]
    np.testing.assert_allclose(
        chunk, policy.action_normalizer.unnormalize(expected.double().numpy()), atol=1e-6
    )


def test_mse_regression_is_the_mean_squared_error():
    torch.manual_seed(0)
    net = rlcore.make("networks.mlp_denoiser", 6, 3, hidden=16, depth=1, time_embed_dim=8)
    x0, cond = torch.randn(5, 6), torch.randn(5, 3)
    model = MSERegression()
    prediction = net(torch.zeros(5, 6), torch.zeros(5), cond)
    torch.testing.assert_close(model.loss(net, x0, cond), ((prediction - x0) ** 2).mean())
    torch.testing.assert_close(model.sample(net, (5, 6), cond), prediction)
    with pytest.raises(ValueError, match="cond_dropout"):
        model.loss(net, x0, cond, cond_dropout=0.1)
    with pytest.raises(ValueError, match="steps"):
        model.sample(net, (5, 6), cond, steps=10)


def test_bad_inputs_are_explained(dataset):
    with pytest.raises(ValueError, match="horizon"):
        ChunkConfig(horizon=8, n_obs_steps=2, n_action_steps=8)
    policy = gaussian_bc_policy(dataset, network=SMALL)
    with pytest.raises(ValueError, match="objective"):
        ActionChunkPolicy("objectives.gan", policy.obs_normalizer, policy.action_normalizer)
    with pytest.raises(ValueError, match="one observation of shape"):
        policy.act(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="obs_history"):
        policy.sample_chunks(np.zeros((1, 3, 2)))
