"""Full training checkpoints (rlcore.training_state): buffer state_dicts, pack/unpack, env state,
and the headline property: run -> checkpoint at step k -> resume equals the uninterrupted run bit
for bit on CPU (returns, lengths, weights), for single and vector envs, uniform and prioritized
replay with n-step windows, periodic checkpoints after a crash, and `rlcore train --resume`."""

import json

import gymnasium as gym
import numpy as np
import pytest
import torch

import rlcore
from rlcore.approximation.dqn import DQN, DQNConfig
from rlcore.approximation.dqn.replay import NStepWindows, PrioritizedReplay, ReplayBuffer
from rlcore.cli import main
from rlcore.training_state import (
    env_state,
    pack,
    read_training_state,
    set_env_state,
    unpack,
)

SMALL = dict(
    hidden=(32,),
    learning_rate=1e-3,
    batch_size=32,
    buffer_size=250,  # smaller than the run: the ring wraps around before the checkpoint
    learning_starts=100,
    train_freq=2,
    gradient_steps=1,
    target_update_interval=50,
    epsilon_decay_steps=300,
    device="cpu",
)


def _fill(buffer, rng, k=50):
    for _ in range(k):
        obs = rng.normal(size=(3, 4)).astype(np.float32)
        buffer.add(obs, rng.integers(0, 2, 3), rng.normal(size=3), np.full(3, 0.9), obs + 1)


@pytest.mark.parametrize("kind", ["uniform", "prioritized"])
def test_buffer_state_dict_round_trip_samples_alike(kind):
    make = (
        (lambda: ReplayBuffer(100, (4,)))
        if kind == "uniform"
        else (lambda: PrioritizedReplay(100, (4,), alpha=0.6))
    )
    a, b = make(), make()
    _fill(a, np.random.default_rng(0))
    if kind == "prioritized":
        a.update_priorities(np.arange(10), np.linspace(0.1, 3.0, 10))
    state = a.state_dict()
    b.load_state_dict(state)
    assert len(b) == len(a)
    draw = (
        (lambda buf, g: buf.sample(16, g))
        if kind == "uniform"
        else (lambda buf, g: buf.sample(16, g, beta=0.4))
    )
    x, y = draw(a, np.random.default_rng(5)), draw(b, np.random.default_rng(5))
    for u, v in zip(x, y):
        if u is not None:
            np.testing.assert_array_equal(u, v)
    if kind == "prioritized":
        assert b.max_priority == a.max_priority
        np.testing.assert_array_equal(b.tree.nodes, a.tree.nodes)


def test_a_field_added_to_a_buffer_is_saved_without_further_code():
    # The bootstrap masks of the ensemble agents (mask_size) were added after state_dict was
    # written; so is any other array attribute.
    buffer = PrioritizedReplay(10, (2,), mask_size=3)
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(4, 2)).astype(np.float32)
    masks = rng.integers(0, 2, (4, 3)).astype(np.float32)
    buffer.add(obs, np.arange(4), np.ones(4), np.ones(4), obs, masks)
    buffer.storage.extra = np.arange(10, dtype=np.int16)
    state = buffer.state_dict()
    assert {"storage.masks", "storage.mask_size", "storage.extra"} <= set(state)
    other = PrioritizedReplay(10, (2,), mask_size=3)
    other.storage.extra = np.zeros(10, dtype=np.int16)
    other.load_state_dict(state)
    np.testing.assert_array_equal(other.storage.masks[:4], masks)
    np.testing.assert_array_equal(other.storage.extra, np.arange(10))
    buffer.storage.thing = object()
    with pytest.raises(TypeError, match=r"ReplayBuffer\.thing holds a object.*state_dict"):
        buffer.state_dict()


def test_buffer_state_refuses_another_capacity():
    with pytest.raises(ValueError, match="capacity"):
        ReplayBuffer(20, (4,)).load_state_dict(ReplayBuffer(10, (4,)).state_dict())


def test_n_step_windows_state_round_trip():
    rng = np.random.default_rng(1)
    a, b = NStepWindows(3), NStepWindows(3)
    for _ in range(2):  # leaves 2 pending entries per env
        obs = rng.normal(size=(2, 4)).astype(np.float32)
        a.push(obs, np.array([0, 1]), np.float32([1, 2]), np.float32([0.9, 0.9]), obs, [0, 0])
    b.load_state_dict(a.state_dict())
    for x, y in zip(a.flush(), b.flush()):
        np.testing.assert_array_equal(x, y)
        assert x.dtype == y.dtype
    with pytest.raises(ValueError, match="n_step"):
        NStepWindows(2).load_state_dict(a.state_dict())


def test_pack_unpack_restores_modules_optimizers_generators_in_place():
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    net(torch.ones(4, 3)).sum().backward()
    opt.step()
    parts = {
        "net": net,
        "opt": opt,
        "rng": np.random.default_rng(3),
        "trng": torch.Generator().manual_seed(4),
        "windows": None,
        "counters": {"steps": 7},
    }
    config, arrays = pack(parts)
    json.dumps(config)  # JSON only
    expected = (parts["rng"].random(3), torch.rand(3, generator=parts["trng"]))
    net2 = torch.nn.Linear(3, 2)
    opt2 = torch.optim.Adam(net2.parameters(), lr=1e-2)
    parts2 = {**parts, "net": net2, "opt": opt2, "rng": np.random.default_rng(9)}
    parts2["trng"] = torch.Generator().manual_seed(9)
    values = unpack(parts2, config, arrays)
    assert values["counters"] == {"steps": 7}
    np.testing.assert_array_equal(parts2["rng"].random(3), expected[0])
    assert torch.equal(torch.rand(3, generator=parts2["trng"]), expected[1])
    assert torch.equal(net2.weight, net.weight)
    s1, s2 = opt.state_dict(), opt2.state_dict()
    for i in s1["state"]:
        for k in s1["state"][i]:
            assert torch.equal(s1["state"][i][k], s2["state"][i][k])
    assert s2["param_groups"][0]["betas"] == s1["param_groups"][0]["betas"]
    with pytest.raises(ValueError, match="parts"):
        unpack({"net": net2}, config, arrays)


def test_env_state_continues_a_vector_env_exactly():
    def rollout(env, actions):
        return [env.step(a)[0] for a in actions]

    actions = np.random.default_rng(0).integers(0, 2, (60, 3))
    env = rlcore.make_vector_env("CartPole-v1", 3)
    env.reset(seed=0)
    rollout(env, actions[:20])
    config, arrays = env_state(env)
    json.dumps(config)
    after = rollout(env, actions[20:])  # episodes end and auto-reset from the env's generators
    other = rlcore.make_vector_env("CartPole-v1", 3)
    other.reset(seed=123)
    set_env_state(other, config, arrays)
    np.testing.assert_array_equal(np.array(rollout(other, actions[20:])), np.array(after))
    with pytest.raises(ValueError, match="does not match"):
        set_env_state(rlcore.make_vector_env("CartPole-v1", 2), config, arrays)


def _agent(env, **options):
    return DQN(env, config=DQNConfig(**{**SMALL, **options}), seed=0)


def _weights(agent):
    return torch.cat([p.detach().flatten() for p in agent.q_net.parameters()])


@pytest.mark.parametrize(
    ("vector", "options"),
    [
        (False, {"prioritized": True, "n_step": 3, "double": True}),
        (True, {"n_step": 2}),
    ],
    ids=["single-per-nstep", "vector-uniform-nstep"],
)
def test_resume_equals_the_uninterrupted_run_bit_for_bit(tmp_path, vector, options):
    def make_env():
        return rlcore.make_vector_env("CartPole-v1", 2) if vector else gym.make("CartPole-v1")

    env = make_env()
    reference = _agent(env, **options)
    full = rlcore.run(reference, env, steps=700, seed=3)

    env = make_env()
    first = _agent(env, **options)
    half = rlcore.run(first, env, steps=350, seed=3, checkpoint_dir=tmp_path / "ckpt")
    assert read_training_state(tmp_path / "ckpt").step == half.steps
    env = make_env()  # a fresh process would rebuild agent and env the same way
    second = DQN(env, config=DQNConfig(**{**SMALL, **options}), seed=99)
    resumed = rlcore.run(second, env, steps=700, seed=999, resume=tmp_path / "ckpt")
    assert resumed.returns == full.returns
    assert resumed.lengths == full.lengths
    assert resumed.steps == full.steps
    assert resumed.config["resumed_from_step"] == half.steps
    assert torch.equal(_weights(second), _weights(reference))  # returns alone could hide drift
    np.testing.assert_array_equal(
        second.replay.state_dict()["r_t" if vector else "storage.r_t"],
        reference.replay.state_dict()["r_t" if vector else "storage.r_t"],
    )
    assert len(full.returns) > 10 and len(half.returns) > 5


def test_resume_weights_equal_and_periodic_checkpoints_survive_a_crash(tmp_path):
    env = gym.make("CartPole-v1")
    reference = _agent(env, prioritized=True)
    full = rlcore.run(reference, env, steps=600, seed=1)

    class Crash(rlcore.Callback):
        def on_step(self, step, transition, metrics):
            if step == 480:
                raise KeyboardInterrupt  # the process dies here

    env = gym.make("CartPole-v1")
    with pytest.raises(KeyboardInterrupt):
        rlcore.run(
            _agent(env, prioritized=True),
            env,
            steps=600,
            seed=1,
            checkpoint_dir=tmp_path / "ckpt",
            checkpoint_every=200,
            callbacks=[Crash()],
        )
    assert read_training_state(tmp_path / "ckpt").step == 400
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]  # no temporary directories left
    env = gym.make("CartPole-v1")
    agent = _agent(env, prioritized=True)
    resumed = rlcore.run(agent, env, steps=600, resume=tmp_path / "ckpt")
    assert resumed.returns == full.returns
    assert torch.equal(_weights(agent), _weights(reference))
    assert agent.updates == reference.updates and agent.epsilon == reference.epsilon
    np.testing.assert_array_equal(agent.replay.tree.nodes, reference.replay.tree.nodes)


def test_resume_refuses_what_cannot_continue(tmp_path):
    env = gym.make("CartPole-v1")
    rlcore.run(_agent(env), env, steps=150, seed=0, checkpoint_dir=tmp_path / "c")
    with pytest.raises(ValueError, match="already meets the budget"):
        rlcore.run(_agent(env), env, steps=150, resume=tmp_path / "c")
    with pytest.raises(ValueError, match="other settings"):
        rlcore.run(_agent(env, learning_rate=0.5), env, steps=300, resume=tmp_path / "c")
    sarsa = rlcore.make("agents.sarsa", gym.make("CliffWalking-v1"))
    with pytest.raises(TypeError, match="cannot write training checkpoints"):
        rlcore.run(sarsa, "CliffWalking-v1", episodes=2, checkpoint_dir=tmp_path / "s")
    with pytest.raises(FileNotFoundError, match="no training checkpoint"):
        rlcore.run(_agent(env), env, steps=600, resume=tmp_path / "missing")
    with pytest.raises(ValueError, match="checkpoint_dir"):
        rlcore.run(_agent(env), env, steps=600, checkpoint_every=10)


def test_cli_train_resume(tmp_path, capsys):
    sets = [x for k, v in SMALL.items() for x in ("--set", f"{k}={json.dumps(v)}")]
    base = ["train", "agents.dqn", "CartPole-v1", "--seed", "2", *sets]
    assert main([*base, "--steps", "400", "--out", str(tmp_path / "full")]) == 0
    assert main([*base, "--steps", "250", "--out", str(tmp_path / "part")]) == 0
    assert main(["train", "--resume", str(tmp_path / "part"), "--steps", "400"]) == 0
    out = capsys.readouterr().out
    assert "resumed from step 250" in out
    full = json.loads((tmp_path / "full" / "logs" / "history.json").read_text())
    part = json.loads((tmp_path / "part" / "logs" / "history.json").read_text())
    assert part["returns"] == full["returns"] and part["steps"] == 400
