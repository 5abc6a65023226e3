"""Ensemble DQN agents through the DQN trainer: learning on the chain against Q*, the ensemble
math (masks, 1/K torso gradients, priors, snapshots, min targets), checkpoints, determinism
across processes, bad input."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from test_dqn import SMALL, Chain, q_star, states

import rlcore
from rlcore.approximation.dqn.ensembles import BootstrappedQNetwork
from rlcore.ensemble.members import Ensemble

AGENTS = {
    "agents.bootstrapped_dqn": {"n_heads": 4, "mask_p": 0.8, "prior_scale": 1.0},
    "agents.averaged_dqn": {"n_snapshots": 3},
    "agents.maxmin_dqn": {"n_members": 2},
}
BOOT_EXPLORE = {"epsilon_start": 1.0, "epsilon_end": 0.02}  # the chain test's schedule


def _agent(name, seed=0, **extra):
    settings = {**SMALL, **AGENTS[name], **extra}
    return rlcore.make(name, Chain(), seed=seed, **settings)


@pytest.mark.parametrize("name", sorted(AGENTS))
def test_learns_the_chain_q_star_and_the_optimal_greedy_policy(name):
    agent = _agent(name, **(BOOT_EXPLORE if "bootstrapped" in name else {}))
    rlcore.run(agent, Chain(), steps=2000, seed=0)
    q = agent.q_values(states())
    assert np.all(q[:, 1] > q[:, 0])
    np.testing.assert_allclose(q, q_star(), atol=0.2)
    greedy = rlcore.run(agent.greedy_policy(), Chain(), episodes=2, seed=1)
    assert greedy.lengths == [5, 5]


@pytest.mark.parametrize("name", sorted(AGENTS))
def test_checkpoint_roundtrip_restores_weights_and_values(name, tmp_path):
    agent = _agent(name)
    rlcore.run(agent, Chain(), steps=400, seed=0)
    agent.save(tmp_path)
    loaded = rlcore.load(tmp_path)
    assert type(loaded) is type(agent) and loaded.ensemble_config == agent.ensemble_config
    np.testing.assert_array_equal(loaded.q_values(states()), agent.q_values(states()))
    before, after = agent.state()[1], loaded.state()[1]
    assert before.keys() == after.keys()
    for k in before:
        torch.testing.assert_close(after[k], before[k])
    rlcore.run(loaded, Chain(), steps=100, seed=1)  # training goes on


CODE = """
import hashlib, sys, torch
sys.path.insert(0, {path!r})
import rlcore
from test_dqn import SMALL, Chain
for name, extra in {agents!r}.items():
    agent = rlcore.make(name, Chain(), seed=3, **{{**SMALL, **extra}})
    rlcore.run(agent, Chain(), steps=300, seed=3)
    h = hashlib.sha256()
    for k, v in sorted(agent.state()[1].items()):
        h.update(k.encode()); h.update(v.detach().cpu().numpy().tobytes())
    print(name, h.hexdigest())
"""


@pytest.mark.parametrize("name", sorted(AGENTS))
def test_same_seed_same_weights_in_process(name):
    runs = []
    for _ in range(2):
        agent = _agent(name, seed=4)
        rlcore.run(agent, Chain(), steps=250, seed=4)
        runs.append(agent.state()[1])
    for k in runs[0]:
        assert torch.equal(runs[0][k], runs[1][k]), k


@pytest.mark.slow  # two fresh interpreters importing torch: slow on a loaded machine
def test_same_seed_same_weights_across_processes():
    from pathlib import Path

    code = CODE.format(path=str(Path(__file__).parent), agents=AGENTS)
    outs = [
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        .stdout.strip()
        .splitlines()
        for _ in range(2)
    ]
    assert outs[0] == outs[1] and len(outs[0]) == len(AGENTS)


def test_bootstrapped_masks_are_stored_heads_differ_and_priors_stay_fixed():
    agent = _agent("agents.bootstrapped_dqn", n_heads=5, mask_p=0.3)
    net = agent.trainer.q_net
    prior_before = [p.clone() for p in net.prior.parameters()]
    q0 = net(torch.as_tensor(states()))
    assert q0.shape == (5, N_STATES, 2) and not torch.allclose(q0[0], q0[1])
    rlcore.run(agent, Chain(), steps=600, seed=0)
    replay = agent.trainer.replay
    masks = replay.masks[: len(replay)]
    assert masks.shape == (len(replay), 5)
    p, n = 0.3, masks.size
    assert abs(masks.mean() - p) < 5 * np.sqrt(p * (1 - p) / n)
    for before, after in zip(prior_before, net.prior.parameters()):
        torch.testing.assert_close(after, before)  # the prior is never trained
    trained = {id(p) for g in agent.trainer.optimizer.param_groups for p in g["params"]}
    assert not any(id(p) in trained for p in net.prior.parameters())
    # Q_k = head_k + beta prior_k
    x = torch.as_tensor(states())
    h = net.torso(x)
    torch.testing.assert_close(net(x), net.heads(h) + 1.0 * net.prior(x))


N_STATES = 5


def test_bootstrapped_torso_gradient_is_scaled_by_one_over_k():
    torch.manual_seed(0)
    net = BootstrappedQNetwork(6, 2, n_heads=4, hidden=(8, 8), seed=0)
    x = torch.randn(10, 6)
    net(x).pow(2).sum().backward()
    scaled = [p.grad.clone() for p in net.torso.parameters()]
    net.zero_grad()
    h = net.torso(x)  # the same sum of head losses without the scaling
    net.heads(h).pow(2).sum().backward()
    for g, full in zip(scaled, (p.grad for p in net.torso.parameters())):
        torch.testing.assert_close(g, full / 4)


def test_bootstrapped_head_per_episode_and_vote_evaluation():
    agent = _agent("agents.bootstrapped_dqn", n_heads=6, evaluation="vote")
    heads = []
    for _ in range(40):
        agent.reset()
        heads.append(int(agent.active_heads[0]))
    assert len(set(heads)) == 6
    q = agent.trainer.q_net(torch.as_tensor(states()))  # (K, B, A)
    counts = torch.nn.functional.one_hot(q.argmax(-1), 2).sum(0)
    expected = counts.argmax(-1).numpy()  # majority, ties to the lowest action
    assert [agent.act(s) for s in states()] == expected.tolist()


def test_averaged_dqn_targets_are_the_mean_of_the_last_k_snapshots():
    agent = _agent("agents.averaged_dqn", n_snapshots=3, target_update_interval=10)
    trainer = agent.trainer
    online = trainer.q_net.online
    history = []
    for step in range(4):  # four snapshots into three slots: the oldest is replaced
        with torch.no_grad():
            for p in online.parameters():
                p.add_(0.1 * (step + 1))
        trainer.model.update_target(trainer.q_net, trainer.target_net, 1.0)
        history.append([p[0].clone() for p in online.parameters()])
    snap = trainer.target_net.snapshot
    for slot, expected in zip((0, 1, 2), (history[3], history[1], history[2])):
        for p, e in zip(snap.parameters(), expected):
            torch.testing.assert_close(p[slot], e)
    x = torch.as_tensor(states())
    mean = snap(x).mean(0)
    naive = sum(_mlp_eval(h, x) for h in history[1:]) / 3
    torch.testing.assert_close(mean, naive)


def _mlp_eval(params, x):
    w0, b0, w1, b1 = params
    return torch.relu(x @ w0 + b0) @ w1 + b1


def test_maxmin_target_is_the_min_over_target_members():
    agent = _agent("agents.maxmin_dqn", n_members=3)
    model, net, target = agent.trainer.model, agent.trainer.q_net, agent.trainer.target_net
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p))
    n, b = 3, 4
    rng = torch.Generator().manual_seed(0)
    obs_tm1 = torch.eye(N_STATES + 1)[torch.randint(0, 5, (n, b), generator=rng)]
    obs_t = torch.eye(N_STATES + 1)[torch.randint(0, 5, (n, b), generator=rng)]
    a = torch.randint(0, 2, (n, b), generator=rng)
    r, d = torch.rand(n, b, generator=rng), torch.full((n, b), 0.9)
    loss, _, y_mean, _ = model.loss(
        net, target, (obs_tm1, a, r, d, obs_t), None, None, agent.config
    )
    y = torch.empty(n, b)
    for k in range(n):
        for j in range(b):
            q_all = torch.stack([target(obs_t[k, j][None])[m, 0] for m in range(n)])  # (N, A)
            y[k, j] = r[k, j] + d[k, j] * q_all.min(0).values.max()
    torch.testing.assert_close(y_mean, y.mean())
    q = torch.stack([net(obs_tm1[k])[k] for k in range(n)])  # member k on its own batch
    q_sa = q.gather(-1, a[..., None])[..., 0]
    huber = torch.nn.functional.smooth_l1_loss(q_sa, y, reduction="none")
    torch.testing.assert_close(loss, huber.mean(1).sum())
    assert isinstance(net, Ensemble)


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("agents.bootstrapped_dqn", {"n_heads": 0}, r"n_heads=0 is outside \[1, inf\]"),
        ("agents.bootstrapped_dqn", {"mask_p": 0.0}, r"p=0.0 is outside \(0, 1\]"),
        ("agents.bootstrapped_dqn", {"prior_scale": -1.0}, r"prior_scale=-1.0 is outside"),
        ("agents.bootstrapped_dqn", {"evaluation": "max"}, r"evaluation='max' is not one of"),
        ("agents.bootstrapped_dqn", {"mask_distribution": "x"}, r"mask_distribution='x'"),
        ("agents.averaged_dqn", {"n_snapshots": 0}, r"n_snapshots=0 is outside"),
        ("agents.maxmin_dqn", {"n_members": 0}, r"n_members=0 is outside"),
        ("agents.maxmin_dqn", {"prioritized": True}, r"supports neither prioritized replay"),
    ],
)
def test_bad_settings_are_refused(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        rlcore.make(name, Chain(), **kwargs)


def test_unknown_keyword_is_refused():
    with pytest.raises(TypeError, match="unknown keyword argument.*'n_head' \\(did you mean"):
        rlcore.make("agents.bootstrapped_dqn", Chain(), n_head=3)


@pytest.mark.parametrize("name", sorted(AGENTS))
def test_resume_equals_the_uninterrupted_run_bit_for_bit(name, tmp_path):
    """The full training checkpoint (rlcore.training_state) covers the ensemble agents too:
    trainer state plus the model's per-episode state (the head each env follows)."""
    import gymnasium as gym

    def weights(agent):
        return torch.cat([p.detach().flatten() for p in agent.trainer.q_net.parameters()])

    settings = {**SMALL, **AGENTS[name], "buffer_size": 250}
    reference = rlcore.make(name, gym.make("CartPole-v1"), seed=0, **settings)
    full = rlcore.run(reference, gym.make("CartPole-v1"), steps=600, seed=3)
    first = rlcore.make(name, gym.make("CartPole-v1"), seed=0, **settings)
    rlcore.run(first, gym.make("CartPole-v1"), steps=300, seed=3, checkpoint_dir=tmp_path / "c")
    second = rlcore.make(name, gym.make("CartPole-v1"), seed=99, **settings)
    resumed = rlcore.run(second, gym.make("CartPole-v1"), steps=600, resume=tmp_path / "c")
    assert resumed.returns == full.returns and resumed.lengths == full.lengths
    assert torch.equal(weights(second), weights(reference))
