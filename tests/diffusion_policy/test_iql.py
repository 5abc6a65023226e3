"""IQL (agents.iql): its losses against independent formulas, the closed-form optimum of its
critics and actor on a one-state bandit, determinism, save / load and bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import rlcore
import rlcore.data
from rlcore.diffusion_policy.iql import IQL, GaussianActor, IQLConfig, advantage_weighted_loss

SMALL = dict(hidden=16, batch_size=32)


def _two_arm_data(n=1000, seed=0):
    """One state; half the actions near +0.5 (reward 1), half near -0.5 (reward 0)."""
    rng = np.random.default_rng(seed)
    a = np.where(rng.random(n) < 0.5, 0.5, -0.5) + 0.05 * rng.standard_normal(n)
    obs = np.zeros((n, 1))
    return {
        "observations": obs,
        "actions": np.clip(a, -1.0, 1.0)[:, None],
        "rewards": (a > 0).astype(np.float64),
        "next_observations": obs,
        "terminations": np.ones(n, dtype=bool),
    }


@pytest.fixture(scope="module")
def bandit_data():
    return rlcore.data.collect("rlcore/MultimodalBandit-v0", 200, seed=0)


def test_log_prob_is_the_gaussian_density_with_a_tanh_mean():
    actor = GaussianActor(3, 2, hidden=8, depth=1, seed=0)
    with torch.no_grad():
        actor.log_std.copy_(torch.tensor([-0.3, 0.4]))
    s, a = torch.randn(5, 3), torch.rand(5, 2) * 2 - 1
    mean = torch.tanh(actor.mu(s)[0])
    expected = torch.distributions.Normal(mean, torch.tensor([-0.3, 0.4]).exp()).log_prob(a).sum(-1)
    torch.testing.assert_close(actor.log_prob(s, a), expected)


def test_advantage_weights_and_beta_zero_is_behaviour_cloning():
    log_prob, adv = torch.randn(7), torch.randn(7) * 3
    expected = -(torch.minimum(torch.exp(2.0 * adv), torch.tensor(20.0)) * log_prob).mean()
    torch.testing.assert_close(advantage_weighted_loss(log_prob, adv, 2.0, 20.0), expected)
    torch.testing.assert_close(advantage_weighted_loss(log_prob, adv, 0.0, 100.0), -log_prob.mean())


def test_critics_and_actor_reach_their_closed_form_optimum_on_a_bandit():
    # gamma = 0: Q(s, a) = r in {0, 1}; V is the tau-expectile of r under the data, which for a
    # share p of rewards 1 solves tau (1 - v) p = (1 - tau) v (1 - p); the Gaussian's mean
    # maximises sum_i w_i log N(a_i; m, sigma), so it is the w-weighted mean of the actions,
    # w_i = exp(beta (r_i - v)) (no weight reaches the clip here).
    data = _two_arm_data()
    a, r = data["actions"][:, 0], data["rewards"]
    tau, beta, p = 0.7, 2.0, r.mean()
    v_star = tau * p / (tau * p + (1 - tau) * (1 - p))
    w = np.exp(beta * (r - v_star))
    config = IQLConfig(gamma=0.0, tau=tau, beta=beta, hidden=32, batch_size=1000, lr=1e-3)
    agent = IQL(data, config, seed=0)
    agent.fit(1000)
    with torch.no_grad():
        v = agent.v(agent.data.s_tm1[:1])[0, 0, 0].item()
    assert v == pytest.approx(v_star, abs=0.02)
    mean = float(agent.choose(torch.zeros(1, 1))[0, 0])
    assert mean == pytest.approx(float(np.sum(w * a) / np.sum(w)), abs=0.02)
    # behaviour cloning (beta = 0) sits between the arms, at the data's mean action
    bc = IQL(data, IQLConfig(gamma=0.0, beta=0.0, hidden=32, batch_size=1000, lr=1e-3), seed=0)
    bc.fit(1000)
    assert float(bc.choose(torch.zeros(1, 1))[0, 0]) == pytest.approx(a.mean(), abs=0.02)


def test_same_seed_same_losses_and_actions(bandit_data):
    runs = []
    for _ in range(2):
        agent = IQL(bandit_data, IQLConfig(**SMALL), seed=3)
        losses = agent.fit(4)
        agent.seed(5)
        actions = [agent.act(np.zeros(1), explore=True) for _ in range(3)]
        runs.append((losses, np.stack(actions)))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    other = IQL(bandit_data, IQLConfig(**SMALL), seed=4).fit(4)
    assert other != runs[0][0]


def test_actions_respect_the_data_box_and_it_runs(bandit_data):
    agent = IQL(bandit_data, IQLConfig(**SMALL), seed=0)
    agent.fit(3)
    low, high = bandit_data.actions.min(0), bandit_data.actions.max(0)
    agent.seed(0)
    for _ in range(50):
        a = agent.act(np.zeros(1), explore=True)
        assert np.all(a >= low - 1e-5) and np.all(a <= high + 1e-5)
    history = rlcore.run(agent, "rlcore/MultimodalBandit-v0", episodes=3, seed=0)
    assert len(history.returns) == 3


def test_round_trip_same_actions_and_training(bandit_data, tmp_path):
    agent = rlcore.make("agents.iql", bandit_data, IQLConfig(**SMALL), seed=2)
    agent.fit(5)
    agent.save(tmp_path / "ckpt")
    assert json.loads((tmp_path / "ckpt" / "config.json").read_text())["name"] == "agents.iql"
    loaded = rlcore.load(tmp_path / "ckpt")
    assert isinstance(loaded, IQL) and loaded.trained_steps == 5 and loaded.config == agent.config
    obs = np.linspace(-1, 1, 4, dtype=np.float32)[:, None]
    for explore in (False, True):
        agent.seed(1)
        loaded.seed(1)
        for o in obs:
            np.testing.assert_array_equal(
                agent.act(o, explore=explore), loaded.act(o, explore=explore)
            )
    # the minibatch stream continues where it was: equal critic losses on the next step
    assert loaded.update()["train/q_loss"] == agent.update()["train/q_loss"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"beta": -1.0}, "beta"),
        ({"max_weight": 0.0}, "max_weight"),
        ({"tau": 1.0}, "tau"),
        ({"gamma": 1.5}, "gamma"),
        ({"critics": 0}, "critics"),
        ({"polyak": 0.0}, "polyak"),
    ],
)
def test_bad_config_is_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        IQLConfig(**kwargs)


def test_bad_dataset_and_config_type_are_named(bandit_data):
    with pytest.raises(ValueError, match=r"agents\.iql: the dataset lacks \['rewards'\]"):
        IQL({k: v for k, v in _two_arm_data().items() if k != "rewards"})
    with pytest.raises(TypeError, match="IQLConfig"):
        IQL(bandit_data, {"beta": 3.0})
    with pytest.raises(ValueError, match="steps"):
        IQL(bandit_data, IQLConfig(**SMALL)).fit(0)
    nan = _two_arm_data()
    nan["rewards"][3] = np.nan
    with pytest.raises(ValueError, match=r"rewards has 1 non-finite values .* in row 3"):
        IQL(nan)


def test_same_seed_same_numbers_across_processes():
    code = (
        "import numpy as np, rlcore.data\n"
        "from rlcore.diffusion_policy.iql import IQL, IQLConfig\n"
        "data = rlcore.data.collect('rlcore/MultimodalBandit-v0', 100, seed=0)\n"
        "agent = IQL(data, IQLConfig(hidden=16, batch_size=32), seed=7)\n"
        "print(agent.fit(3)[-1]); agent.seed(1)\n"
        "print(agent.act(np.zeros(1), explore=True).tolist())\n"
    )
    outs = [
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        .stdout.strip()
        .splitlines()
        for _ in range(2)
    ]
    assert outs[0] == outs[1] and len(outs[0]) == 2
