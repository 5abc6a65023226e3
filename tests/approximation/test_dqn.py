"""agents.dqn: learning on a tiny chain against its closed-form optimum, the epsilon-greedy rule,
n-step replay against rlcore.returns, vector envs, metrics, checkpoints, determinism, bad input."""

import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

import rlcore
from rlcore.approximation.dqn import DQN, DQNConfig
from rlcore.returns import n_step_returns
from rlcore.tabular.policies import epsilon_greedy_probs

N = 6  # chain states 0..5; 5 is terminal
GAMMA = 0.9


class Chain(gym.Env):
    """Deterministic chain: one-hot observations, 0 = left (stays at 0), 1 = right; reaching the
    last state ends the episode with reward 1. Optimal: Q*(s, right) = gamma^(N-2-s)."""

    def __init__(self, n: int = N, max_steps: int = 30) -> None:
        self.n, self.max_steps = n, max_steps
        self.observation_space = spaces.Box(0.0, 1.0, (n,), dtype=np.float32)
        self.action_space = spaces.Discrete(2)

    def _obs(self) -> np.ndarray:
        obs = np.zeros(self.n, dtype=np.float32)
        obs[self.s] = 1.0
        return obs

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.s, self.t = 0, 0
        return self._obs(), {}

    def step(self, action):
        self.s = min(self.s + 1, self.n - 1) if action == 1 else max(self.s - 1, 0)
        self.t += 1
        terminated = self.s == self.n - 1
        return self._obs(), float(terminated), terminated, self.t >= self.max_steps, {}


def q_star() -> np.ndarray:
    v = GAMMA ** (N - 2 - np.arange(N - 1, dtype=np.float64))  # V*(s) = Q*(s, right), s < N-1
    left = GAMMA * v[np.maximum(np.arange(N - 1) - 1, 0)]
    return np.stack([left, v], axis=1)  # (N-1, 2)


SMALL = dict(
    hidden=(32,),
    learning_rate=5e-3,
    batch_size=32,
    buffer_size=5000,
    learning_starts=100,
    train_freq=2,
    gradient_steps=1,
    target_update_interval=50,
    epsilon_decay_steps=700,
    epsilon_end=0.02,
    gamma=GAMMA,
    device="cpu",
)


def states() -> np.ndarray:
    return np.eye(N, dtype=np.float32)[: N - 1]


@pytest.mark.parametrize(
    ("options", "atol"),
    [
        ({}, 0.1),
        # n-step returns of epsilon-greedy data are not off-policy corrected (as in Rainbow), so
        # they sit a little below Q*; the greedy policy must still be optimal.
        ({"double": True, "dueling": True, "n_step": 2, "prioritized": True, "tau": 0.5}, 0.15),
    ],
    ids=["dqn", "double-dueling-nstep-per-polyak"],
)
def test_dqn_learns_the_chain_optimum_quickly(options, atol):
    env = Chain()
    agent = DQN(env, DQNConfig(**SMALL, **options), seed=0)
    rlcore.run(agent, env, steps=1500, seed=0)
    q = agent.q_values(states())
    assert np.all(np.argmax(q, axis=1) == 1), q
    np.testing.assert_allclose(q, q_star(), atol=atol)
    greedy = rlcore.run(agent.greedy_policy(), Chain(), episodes=2, seed=1)
    assert greedy.returns == [1.0, 1.0] and greedy.lengths == [N - 1, N - 1]


def test_vector_env_batches_actions_and_counts_every_transition():
    venv = gym.vector.SyncVectorEnv([Chain] * 3, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    agent = DQN(venv, DQNConfig(**SMALL, log_every=150), seed=0)
    obs, _ = venv.reset(seed=0)
    actions = agent.act(obs, explore=True)
    assert actions.shape == (3,) and actions.dtype == np.int64
    history = rlcore.run(agent, venv, steps=1500, seed=0)
    assert agent.steps == len(agent.replay) == 1500
    for tag in ("losses/td_loss", "charts/q_values", "charts/epsilon", "charts/sps"):
        steps, values = history.metric(tag)
        assert len(steps) >= 5 and np.all(np.isfinite(values))
    assert np.all(np.argmax(agent.q_values(states()), axis=1) == 1)


def test_epsilon_greedy_frequencies_follow_the_shared_rule():
    agent = DQN(Chain(), DQNConfig(**{**SMALL, "learning_starts": 0, "epsilon_end": 0.3}), seed=1)
    agent.steps = 10**6  # past the decay: epsilon = 0.3
    obs = np.tile(states()[2], (40_000, 1))
    q = agent.q_values(obs[:1])
    expected = epsilon_greedy_probs(q, 0.3)[0]
    freq = np.bincount(agent.act(obs, explore=True), minlength=2) / len(obs)
    np.testing.assert_allclose(freq, expected, atol=0.01)
    singles = [agent.act(obs[0], explore=True) for _ in range(4000)]
    assert all(isinstance(a, int) for a in singles)
    np.testing.assert_allclose(np.bincount(singles, minlength=2) / 4000, expected, atol=0.03)
    assert agent.act(obs[0]) == int(np.argmax(q))
    agent.steps = 0
    assert agent.epsilon == 1.0  # before learning_starts: uniformly random


def test_n_step_replay_holds_n_step_returns():
    agent = DQN(Chain(), DQNConfig(**SMALL, n_step=3), seed=0)  # no training before step 200
    rewards = np.array([0.5, -1.0, 2.0, 0.0, 3.0])
    eye = np.eye(N, dtype=np.float32)
    for t, r in enumerate(rewards):
        last = t == len(rewards) - 1
        agent.observe(rlcore.Transition(eye[t], 1, r, eye[t + 1], last, False))
    discounts = np.array([GAMMA] * 4 + [0.0])
    held = slice(0, len(agent.replay))
    np.testing.assert_allclose(agent.replay.r_t[held], n_step_returns(rewards, discounts, 0.0, 3))
    np.testing.assert_allclose(
        agent.replay.discount_t[held], n_step_returns(np.zeros(5), discounts, 1.0, 3), rtol=1e-6
    )
    # bootstrap states: S_{t+3} for the first two, the final state for the rest
    boot = np.argmax(agent.replay.obs_t[held], axis=1)
    assert boot.tolist() == [3, 4, 5, 5, 5]


def test_save_load_round_trip_gives_identical_greedy_actions(tmp_path):
    env = Chain()
    agent = DQN(env, DQNConfig(**SMALL, dueling=True), seed=0)
    rlcore.run(agent, env, steps=600, seed=0)
    agent.save(tmp_path / "ckpt")
    files = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert files == ["config.json", "tensors.safetensors"]
    header = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert header["name"] == "agents.dqn" and header["config"]["steps"] == 600
    loaded = rlcore.load(tmp_path / "ckpt")
    assert isinstance(loaded, DQN) and loaded.config == agent.config
    probe = np.random.default_rng(0).random((50, N)).astype(np.float32)
    np.testing.assert_array_equal(loaded.q_values(probe), agent.q_values(probe))
    np.testing.assert_array_equal(loaded.act(probe), agent.act(probe))
    for a, b in zip(loaded.target_net.parameters(), agent.target_net.parameters()):
        assert torch.equal(a, b)
    for a, b in zip(loaded.optimizer.state.values(), agent.optimizer.state.values()):
        assert all(torch.equal(a[k], b[k]) for k in ("exp_avg", "exp_avg_sq", "step"))
    assert (loaded.steps, loaded.updates, loaded.epsilon) == (600, 250, agent.epsilon)
    rlcore.run(loaded, env, steps=50, seed=1)  # training goes on (replay starts empty)


def test_same_seed_gives_identical_weights_on_cpu():
    def train(seed):
        env = Chain()
        agent = DQN(env, DQNConfig(**SMALL, prioritized=True), seed=seed)
        rlcore.run(agent, env, steps=500, seed=seed)
        return [p.detach().clone() for p in agent.q_net.parameters()], agent.updates

    (a, updates), (b, _), (c, _) = train(3), train(3), train(4)
    assert updates == 200
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))


def test_non_finite_loss_stops_with_the_step_and_the_quantity():
    small = {**SMALL, "learning_starts": 4, "batch_size": 4, "train_freq": 1}
    agent = DQN(Chain(), DQNConfig(**small), seed=0)
    eye = np.eye(N, dtype=np.float32)
    for t in range(4):
        agent.observe(rlcore.Transition(eye[t], 1, np.nan, eye[t + 1], False, False))
    with pytest.raises(FloatingPointError, match=r"environment step 5 \(gradient step 1\) the TD"):
        agent.observe(rlcore.Transition(eye[4], 1, np.nan, eye[5], True, False))


def test_tensorboard_and_csv_get_the_agent_tags(tmp_path):
    env = Chain()
    agent = DQN(env, DQNConfig(**SMALL, log_every=250), seed=0)
    rlcore.run(agent, env, steps=1000, seed=0, logdir=tmp_path)
    tags = {line.split(",")[0] for line in (tmp_path / "metrics.csv").read_text().splitlines()}
    assert {"losses/td_loss", "charts/q_values", "charts/epsilon", "charts/sps"} <= tags
    assert any(p.name.startswith("events.out.tfevents") for p in tmp_path.iterdir())


def test_bad_input_is_refused_with_a_clear_message():
    agent = DQN(Chain(), DQNConfig(**SMALL), seed=0)
    with pytest.raises(ValueError, match=r"obs has shape \(4,\).*observations of shape \(6,\)"):
        agent.act(np.zeros(4, dtype=np.float32))
    with pytest.raises(ValueError, match=r"transition.next_obs has shape \(2, 6, 1\)"):
        agent.observe(rlcore.Transition(np.zeros(N), 0, 0.0, np.zeros((2, N, 1)), False, False))
    with pytest.raises(ValueError, match="both must be one observation or batches"):
        agent.observe(rlcore.Transition(np.zeros(N), 0, 0.0, np.zeros((2, N)), False, False))
    with pytest.raises(TypeError, match="needs Box"):
        DQN((spaces.Discrete(4), spaces.Discrete(2)))
    with pytest.raises(TypeError, match="Discrete action space"):
        DQN((spaces.Box(0, 1, (3,)), spaces.Box(0, 1, (1,))))
    with pytest.raises(TypeError, match="did you mean 'gamma'"):
        DQN(Chain(), gamm=0.9)
    with pytest.raises(ValueError, match="gamma=1.5 is outside"):
        DQN(Chain(), gamma=1.5)
    with pytest.raises(ValueError, match="tau=0 is outside"):
        DQN(Chain(), tau=0)
    with pytest.raises(TypeError, match="dueling must be True or False, got 1"):
        DQNConfig(dueling=1)
    with pytest.raises(ValueError, match="unknown DQN preset 'cartpol'"):
        DQNConfig.preset("cartpol")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="not available"):
            DQN(Chain(), device="cuda")


def test_registry_and_zoo_preset():
    assert rlcore.get("agents.dqn") is DQN
    zoo = DQNConfig.preset("cartpole_zoo")
    assert (zoo.learning_rate, zoo.batch_size, zoo.train_freq, zoo.gradient_steps) == (
        2.3e-3,
        64,
        256,
        128,
    )
    assert zoo.hidden == (256, 256) and zoo.epsilon_decay_steps == 8000  # 0.16 * 5e4
    agent = rlcore.make("agents.dqn", gym.make("CartPole-v1"), config=zoo, seed=0)
    assert agent.device.type in ("cpu", "cuda") and agent.n_actions == 2
    by_name = DQN(gym.make("CartPole-v1"), config="cartpole_zoo", batch_size=32)
    assert by_name.config == DQNConfig.preset("cartpole_zoo", batch_size=32)


@pytest.mark.gpu
def test_auto_device_trains_on_cuda_and_round_trips(tmp_path):
    env = Chain()
    agent = DQN(env, DQNConfig(**{**SMALL, "device": "auto"}), seed=0)
    assert agent.device.type == "cuda"
    rlcore.run(agent, env, steps=1500, seed=0)
    assert np.all(np.argmax(agent.q_values(states()), axis=1) == 1)
    agent.save(tmp_path)
    loaded = rlcore.load(tmp_path)
    np.testing.assert_allclose(loaded.q_values(states()), agent.q_values(states()))


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cartpole_reaches_475(seed):
    env = gym.make("CartPole-v1")
    agent = DQN(env, DQNConfig.preset("cartpole_fast"), seed=seed)
    best = []

    class Evaluate(rlcore.Callback):
        def on_step(self, step, transition, metrics):
            if step % 1000 == 0:
                history = rlcore.run(agent.greedy_policy(), "CartPole-v1", episodes=10, seed=step)
                best.append(float(np.mean(history.returns)))
                return best[-1] >= 475  # stop once solved

    rlcore.run(agent, env, steps=50_000, seed=seed, callbacks=[Evaluate()])
    assert max(best) >= 475, best
