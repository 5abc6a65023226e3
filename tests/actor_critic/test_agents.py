"""Contract, identity, determinism, checkpoint and bad-input tests of the soft actor-critic
family (small networks, short runs)."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

import rlcore
from rlcore.actor_critic import EDAC, REDQ, SAC, SACN
from rlcore.data import EpisodeDataset
from rlcore.ensemble.reductions import Min, SubsetMin
from rlcore.types import Transition

SMALL = dict(hidden=(16, 16), batch_size=16, learning_starts=32, buffer_size=5000)
OBS = spaces.Box(-np.inf, np.inf, shape=(3,), dtype=np.float32)
ACT = spaces.Box(-2.0, 2.0, shape=(1,), dtype=np.float32)


def _returns(agent, steps=150, seed=3):
    return rlcore.run(agent, "Pendulum-v1", steps=steps, seed=seed, max_episode_steps=50).returns


def _weights(agent):
    return [p.detach().clone() for p in (*agent.actor.parameters(), *agent.critics.parameters())]


class Bandit(gym.Env):
    """One step: a constant observation, reward -c a^2 for a in [-1, 1]^2."""

    observation_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
    action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action):
        reward = -5.0 * float(np.sum(np.square(action)))
        return np.zeros(1, dtype=np.float32), reward, True, False, {}


@pytest.mark.parametrize("cls", [SAC, REDQ, SACN, EDAC])
def test_registered_defaults_and_act(cls):
    agent = rlcore.make(cls.name, gym.make("Pendulum-v1"), seed=0)
    assert type(agent) is cls and rlcore.name_of(agent) == cls.name
    a = agent.act(np.zeros(3, dtype=np.float32), explore=True)
    assert a.shape == (1,) and a.dtype == np.float32 and abs(a[0]) <= 2.0
    assert agent.act(np.zeros((5, 3)), explore=False).shape == (5, 1)
    cfg = agent.config
    assert cfg.n_critics >= 2
    if cls is REDQ:
        assert (cfg.n_critics, cfg.subset_size, cfg.utd, cfg.learning_starts) == (10, 2, 20, 5000)
        assert cfg.actor_reduction == "mean"


def test_critics_differ_at_init():
    agent = SACN((OBS, ACT), n_critics=5, seed=0, **SMALL)
    q = agent.q_values(np.random.default_rng(0).normal(size=(16, 3)), np.zeros((16, 1)))
    assert q.shape == (5, 16)
    for i in range(5):
        for j in range(i + 1, 5):
            assert not np.allclose(q[i], q[j])
    # targets start equal to the online critics
    for p, t in zip(agent.critics.parameters(), agent.target_critics.parameters()):
        torch.testing.assert_close(p, t)


def test_same_seed_same_returns_and_weights():
    a, b = SAC((OBS, ACT), seed=4, **SMALL), SAC((OBS, ACT), seed=4, **SMALL)
    assert _returns(a) == _returns(b)
    for x, y in zip(_weights(a), _weights(b)):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
    c = SAC((OBS, ACT), seed=5, **SMALL)
    assert _returns(c) != _returns(a)


def test_redq_subset_min_identities():
    gen = np.random.default_rng(0)
    q = torch.randn(6, 32)
    torch.testing.assert_close(SubsetMin(6)(q, generator=gen), Min()(q))
    # N = M = 2 with the actor on the min: REDQ is SAC (clipped double Q), number for number
    redq = REDQ(
        (OBS, ACT),
        seed=1,
        n_critics=2,
        subset_size=2,
        actor_reduction="min",
        utd=1,
        policy_delay=1,
        learning_rate=1e-3,
        **SMALL,
    )
    sac = SAC((OBS, ACT), seed=1, learning_rate=1e-3, **SMALL)
    assert _returns(redq) == _returns(sac)
    for x, y in zip(_weights(redq), _weights(sac)):
        torch.testing.assert_close(x, y, rtol=0, atol=0)


def test_sac_n_with_two_critics_equals_edac_without_penalty():
    sac_n = SACN((OBS, ACT), seed=2, n_critics=2, **SMALL)
    edac = EDAC((OBS, ACT), seed=2, n_critics=2, eta=0.0, **SMALL)
    assert _returns(sac_n) == _returns(edac)
    for x, y in zip(_weights(sac_n), _weights(edac)):
        torch.testing.assert_close(x, y, rtol=0, atol=0)


def test_edac_penalty_changes_the_critics():
    plain = EDAC((OBS, ACT), seed=2, n_critics=3, eta=0.0, **SMALL)
    penal = EDAC((OBS, ACT), seed=2, n_critics=3, eta=5.0, **SMALL)
    _returns(plain, 60), _returns(penal, 60)
    assert not torch.equal(next(plain.critics.parameters()), next(penal.critics.parameters()))


def test_save_load_continues_training_identically(tmp_path):
    agent = REDQ((OBS, ACT), seed=0, n_critics=3, utd=2, policy_delay=2, **SMALL)
    _returns(agent, 100)
    agent.save(tmp_path / "ckpt")
    loaded = rlcore.load(tmp_path / "ckpt")
    assert type(loaded) is REDQ and loaded.steps == agent.steps and loaded.updates == agent.updates
    assert loaded.alpha == agent.alpha
    # the generators travel too: training on without re-seeding gives the same numbers
    agent._train(5)
    loaded._train(5)
    for x, y in zip(_weights(agent), _weights(loaded)):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
    assert _returns(agent, 60, seed=9) == _returns(loaded, 60, seed=9)
    for x, y in zip(_weights(agent), _weights(loaded)):
        torch.testing.assert_close(x, y, rtol=0, atol=0)


@pytest.mark.slow
def test_entropy_tuning_drives_entropy_to_target():
    """A one-step bandit whose reward pulls the policy to a point: alpha settles where the
    policy's entropy -E[log pi] equals the target -|A| = -2."""
    env = Bandit()
    agent = SAC(
        env,
        seed=0,
        hidden=(32, 32),
        batch_size=64,
        learning_starts=64,
        learning_rate=1e-2,
        buffer_size=5000,
        gamma=0.0,
    )
    rlcore.run(agent, env, steps=1500, seed=0)
    with torch.no_grad():
        obs = torch.zeros(4096, 1)
        _, log_pi = agent.actor.sample(
            obs, torch.randn(4096, 2, generator=torch.Generator().manual_seed(0))
        )
    entropy = -float(log_pi.mean())
    assert agent.target_entropy == -2.0
    assert abs(entropy - agent.target_entropy) < 0.4, (entropy, agent.alpha)


def test_offline_training_never_touches_an_env():
    gen = np.random.default_rng(0)
    n = 400
    obs = gen.normal(size=(n, 3)).astype(np.float32)
    ds = EpisodeDataset(
        observations=obs,
        actions=gen.uniform(-2, 2, size=(n, 1)).astype(np.float32),
        rewards=gen.normal(size=n),
        next_observations=np.roll(obs, -1, axis=0),
        terminations=np.zeros(n, dtype=bool),
        truncations=np.r_[np.zeros(n - 1, dtype=bool), True],
        episode_lengths=np.array([n]),
    )
    agent = EDAC((OBS, ACT), seed=0, n_critics=3, eta=1.0, **SMALL)
    log = agent.learn_offline(ds, gradient_steps=20, chunk=10)
    assert len(log) == 2 and agent.updates == 20 and agent.steps == 0
    assert {"train/critic_loss", "train/actor_loss", "train/ent_coef", "train/q_std"} <= set(log[0])
    # wrong action shape / bounds
    bad = EpisodeDataset(**{**ds.__dict__, "actions": np.zeros((n, 2), np.float32)})
    with pytest.raises(ValueError, match="action space"):
        agent.load_dataset(bad)
    bad = EpisodeDataset(**{**ds.__dict__, "actions": np.full((n, 1), 3.0, np.float32)})
    with pytest.raises(ValueError, match="outside the action bounds"):
        agent.load_dataset(bad)


def test_bad_inputs_are_refused_with_the_fix():
    with pytest.raises(TypeError, match=r"continuous \(Box\).*agents\.dqn"):
        SAC(gym.make("CartPole-v1"))
    inf_box = spaces.Box(-np.inf, np.inf, shape=(2,), dtype=np.float32)
    with pytest.raises(ValueError, match="action_scale"):
        SAC((OBS, inf_box))
    assert SAC((OBS, inf_box), action_scale=3.0, **SMALL).act(np.zeros(3)).shape == (2,)
    with pytest.raises(ValueError, match="drop action_scale"):
        SAC((OBS, ACT), action_scale=1.0)
    with pytest.raises(ValueError, match="n_critics=1"):
        REDQ((OBS, ACT), n_critics=1)
    with pytest.raises(ValueError, match="subset_size=3"):
        REDQ((OBS, ACT), n_critics=2, subset_size=3)
    with pytest.raises(ValueError, match="utd=0"):
        SACN((OBS, ACT), utd=0)
    with pytest.raises(ValueError, match="eta=-1"):
        EDAC((OBS, ACT), eta=-1.0)
    with pytest.raises(TypeError, match="did you mean 'utd'"):
        SAC((OBS, ACT), utdd=2)
    agent = SAC((OBS, ACT), **SMALL)
    with pytest.raises(FloatingPointError, match="non-finite reward"):
        agent.observe(
            Transition(np.zeros(3), np.zeros(1), float("nan"), np.zeros(3), False, False, {})
        )
    with pytest.raises(ValueError, match="shape"):
        agent.act(np.zeros(4))


def test_nan_in_a_batch_stops_with_step_and_cause():
    agent = SAC((OBS, ACT), **SMALL)
    for _ in range(SMALL["batch_size"]):
        agent.replay.add(
            np.zeros((1, 3)), np.zeros((1, 1)), np.zeros(1), np.ones(1), np.zeros((1, 3))
        )
    agent.replay.obs_t[:] = np.nan  # a corrupted batch
    with pytest.raises(FloatingPointError, match="gradient step 1.*went non-finite"):
        agent._train(1)


def test_ucb_exploration_and_sunrise_run():
    agent = SACN(
        (OBS, ACT),
        seed=0,
        n_critics=3,
        ucb_candidates=4,
        ucb_lambda=1.0,
        sunrise_temperature=10.0,
        **SMALL,
    )
    _returns(agent, 60)
    a = agent.act(np.zeros((2, 3)), explore=True)
    assert a.shape == (2, 1) and np.all(np.abs(a) <= 2.0)


def test_behaviour_cloning_fits_the_dataset_actions():
    gen = np.random.default_rng(0)
    n = 256
    obs = gen.normal(size=(n, 3)).astype(np.float32)
    actions = np.clip(obs[:, :1], -1.9, 1.9).astype(np.float32)  # a = s_0: a learnable map
    ds = EpisodeDataset(
        observations=obs,
        actions=actions,
        rewards=np.zeros(n),
        next_observations=obs,
        terminations=np.zeros(n, dtype=bool),
        truncations=np.r_[np.zeros(n - 1, dtype=bool), True],
        episode_lengths=np.array([n]),
    )
    agent = SAC((OBS, ACT), seed=0, **{**SMALL, "hidden": (32, 32)})
    log = agent.behaviour_cloning(ds, gradient_steps=300, chunk=100)
    assert log[-1] < log[0]
    error = np.abs(agent.act(obs) - actions).mean()
    assert error < 0.3, error


def test_normalized_score_and_its_references():
    from rlcore.actor_critic.datasets import normalized_score

    np.testing.assert_allclose(
        normalized_score([-1200, -150, -500], -1200, -150), [0, 100, 66.666667]
    )
    with pytest.raises(ValueError, match="must exceed"):
        normalized_score(0.0, -150, -1200)


@pytest.mark.parametrize("name", ["agents.sac", "agents.redq"])
def test_resume_equals_the_uninterrupted_run_bit_for_bit(name, tmp_path):
    """rlcore.run(checkpoint_dir=..., resume=...) (rlcore.training_state) continues an
    actor-critic run exactly: weights, Adam states, log alpha, replay and every generator."""
    import gymnasium as gym

    def make_env():
        return gym.make("Pendulum-v1", max_episode_steps=40)

    settings = {**SMALL, "buffer_size": 100}  # the ring wraps before the checkpoint
    if name == "agents.redq":
        settings.update(n_critics=4, subset_size=2, utd=2)
    reference = rlcore.make(name, make_env(), seed=0, **settings)
    full = rlcore.run(reference, make_env(), steps=200, seed=3)
    first = rlcore.make(name, make_env(), seed=0, **settings)
    rlcore.run(first, make_env(), steps=100, seed=3, checkpoint_dir=tmp_path / "c")
    second = rlcore.make(name, make_env(), seed=99, **settings)
    resumed = rlcore.run(second, make_env(), steps=200, resume=tmp_path / "c")
    assert resumed.returns == full.returns and resumed.lengths == full.lengths
    for x, y in zip(_weights(second), _weights(reference)):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
    assert float(second.log_alpha.detach()) == float(reference.log_alpha.detach())


def test_layer_normalised_critics_match_a_naive_mlp_and_survive_save_load(tmp_path):
    """critic_layer_norm=True: each critic is Linear -> LayerNorm (learnt gain, shift) -> ReLU per
    hidden layer, checked against a per-member loop written here with torch.nn.functional; the
    flag travels through save / rlcore.load; a non-bool is refused."""
    import torch.nn.functional as F

    agent = SACN((OBS, ACT), seed=0, n_critics=3, critic_layer_norm=True, **SMALL)
    _returns(agent, 60)  # a few updates so that the LayerNorm gains and shifts move off 1 and 0
    p = dict(agent.critics.named_parameters())
    assert not torch.allclose(p["ln_w0"], torch.ones_like(p["ln_w0"]))
    obs, act = (
        np.random.default_rng(0).normal(size=(7, 3)),
        np.random.default_rng(1).uniform(-2, 2, size=(7, 1)),
    )
    x = torch.from_numpy(np.concatenate([obs, act / 2.0], axis=1)).float()
    naive = []
    for k in range(3):
        h = x
        for layer in range(2):
            h = h @ p[f"w{layer}"][k] + p[f"b{layer}"][k]
            h = F.relu(F.layer_norm(h, (16,)) * p[f"ln_w{layer}"][k] + p[f"ln_b{layer}"][k])
        naive.append((h @ p["w2"][k] + p["b2"][k]).squeeze(-1))
    expected = torch.stack(naive).detach().numpy()
    np.testing.assert_allclose(agent.q_values(obs, act), expected, rtol=1e-5, atol=1e-5)
    agent.save(tmp_path / "ckpt")
    loaded = rlcore.load(tmp_path / "ckpt")
    assert loaded.config.critic_layer_norm is True
    np.testing.assert_array_equal(loaded.q_values(obs, act), agent.q_values(obs, act))
    with pytest.raises(TypeError, match="critic_layer_norm must be True or False"):
        SACN((OBS, ACT), critic_layer_norm="yes")


def test_redq_target_evaluates_only_the_drawn_subset():
    """The subset-only target (M < N) equals min over SubsetMin of all N target critics, with the
    same draws from the same stream (so the replay and subset streams are unchanged)."""
    from rlcore.ensemble.members import Ensemble

    ens = Ensemble(10, 4, 1, (16, 16), seed=0)
    x = torch.randn(32, 4)
    idx = [2, 7]
    torch.testing.assert_close(ens.forward_members(idx, x[:, :3], x[:, 3:]), ens(x)[idx])
    with pytest.raises(ValueError, match=r"indices in \[0, 9\]"):
        ens.forward_members([10], x)
    redq = REDQ((OBS, ACT), seed=4, **{**SMALL, "learning_starts": 10_000})
    assert redq._target_subset_only
    rlcore.run(redq, "Pendulum-v1", steps=40, seed=0, max_episode_steps=20)
    obs_t = torch.randn(16, 3)
    a_t = torch.rand(16, 1) * 2 - 1
    gen_a, gen_b = np.random.default_rng(5), np.random.default_rng(5)
    full = SubsetMin(2)(redq.target_critics(obs_t, a_t).squeeze(-1), generator=gen_a)
    chosen = redq.target_reduction.subset(10, gen_b)
    fast = redq.target_critics.forward_members(chosen, obs_t, a_t).squeeze(-1).amin(0)
    torch.testing.assert_close(fast, full)
    assert gen_a.bit_generator.state == gen_b.bit_generator.state


def test_redq_updates_the_actor_once_per_env_step():
    """Chen et al. (2021), Algorithm 1 and the authors' code (policy_update_delay = G = 20): G
    critic steps per env step, then one actor (and alpha) step on the last minibatch."""
    agent = rlcore.make(
        "agents.redq", (OBS, ACT), seed=0, hidden=(8,), learning_starts=40, batch_size=16
    )
    rlcore.run(agent, "Pendulum-v1", steps=43, seed=0)
    critic_steps = int(agent.critic_optimizer.state_dict()["state"][0]["step"])
    actor_steps = int(agent.actor_optimizer.state_dict()["state"][0]["step"])
    alpha_steps = int(agent.alpha_optimizer.state_dict()["state"][0]["step"])
    assert (critic_steps, actor_steps, alpha_steps) == (3 * 20, 3, 3)
    assert agent.target_entropy == -1.0  # -|A|, the authors' "auto" (no MBPO value for Pendulum)
