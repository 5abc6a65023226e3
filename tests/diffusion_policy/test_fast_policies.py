"""policies.latent_diffusion, policies.edm, policies.consistency and the DiT network option."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rlcore
from rlcore.data import collect
from rlcore.diffusion_policy import (
    LatentDiffusionPolicy,
    NetworkConfig,
    TrainConfig,
    consistency_policy,
    diffusion_policy,
    edm_policy,
    latent_diffusion_policy,
)

ENV_ID = "rlcore/Navigation2D-v0"
SMALL = NetworkConfig(hidden=32, depth=1, time_embed_dim=16)
QUICK = TrainConfig(steps=20, batch_size=32)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def dataset():
    return collect(ENV_ID, 6, seed=0)


def _history(dataset, policy):
    obs = np.asarray(dataset.observations[:1])
    return np.repeat(obs[:, None], policy.chunk.n_obs_steps, axis=1)  # (1, To, obs_dim)


def test_latent_diffusion_policy_trains_decodes_and_round_trips(dataset, tmp_path):
    policy = latent_diffusion_policy(
        dataset, latent_dim=4, network=SMALL, autoencoder_hidden=32, autoencoder_steps=100
    )
    policy.fit(dataset, QUICK)
    z, cond = policy.training_windows(dataset)
    assert z.shape == (len(cond), 4)
    assert float(z.std()) == pytest.approx(1.0, rel=1e-3)  # unit-variance latent
    assert np.isfinite(policy.reconstruction_error(dataset))
    policy.seed(3)
    chunk = policy.sample_chunks(_history(dataset, policy))
    assert chunk.shape == (1, policy.chunk.horizon, 2)
    rlcore.save(policy, tmp_path / "ckpt")
    loaded = rlcore.load(tmp_path / "ckpt")
    assert isinstance(loaded, LatentDiffusionPolicy)
    loaded.seed(3)
    np.testing.assert_array_equal(loaded.sample_chunks(_history(dataset, policy)), chunk)
    with pytest.raises(ValueError, match="MLP"):
        latent_diffusion_policy(dataset, network=NetworkConfig(kind="unet1d"))


def test_consistency_policy_distils_an_edm_teacher_and_is_deterministic(dataset):
    teacher = edm_policy(dataset, network=SMALL, steps=3)
    with pytest.raises(ValueError, match="untrained"):
        consistency_policy(dataset, teacher=teacher)
    teacher.fit(dataset, QUICK)
    student = consistency_policy(dataset, teacher=teacher, network=SMALL, bins=10)
    for p, q in zip(student.net.parameters(), teacher.ema_net.parameters()):
        assert torch.equal(p, q)  # warm start from the teacher (Consistency Policy)
    cold = consistency_policy(
        dataset, teacher=teacher, network=SMALL, bins=10, init_from_teacher=False
    )
    assert not torch.equal(next(cold.net.parameters()), next(teacher.ema_net.parameters()))
    with pytest.raises(ValueError, match="init_from_teacher"):
        consistency_policy(dataset, teacher=teacher, network=NetworkConfig(hidden=16, depth=1))
    student.fit(dataset, QUICK)
    history = _history(dataset, student)
    for steps in (1, 2):
        student.set_sampling(steps)
        student.seed(7)
        a = student.sample_chunks(history)
        student.seed(7)
        np.testing.assert_array_equal(student.sample_chunks(history), a)
        assert a.shape == (1, student.chunk.horizon, 2) and np.isfinite(a).all()
    assert rlcore.make("policies.consistency", dataset, network=SMALL).model.teacher is None
    with pytest.raises(ValueError, match="objectives.edm"):
        other = diffusion_policy(dataset, network=SMALL)
        other.fit(dataset, TrainConfig(steps=1, batch_size=8))
        consistency_policy(dataset, teacher=other)


def test_diffusion_policy_with_the_dit_network(dataset):
    network = NetworkConfig(kind="dit1d", hidden=16, depth=1, heads=2, time_embed_dim=16)
    policy = diffusion_policy(dataset, network=network, steps=3)
    policy.fit(dataset, TrainConfig(steps=3, batch_size=8))
    obs, _ = dataset.observations[0], None
    policy.reset()
    assert policy.act(obs).shape == (2,)
