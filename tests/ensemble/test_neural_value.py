"""The neural critic member (estimators.neural_value) against DP truth on the 5-state random walk,
its contract (same seed same numbers, checkpoints without pickle, bad input), and stacking with
it."""

import gymnasium as gym
import numpy as np
import pytest

import rlcore
import rlcore.envs  # noqa: F401
from rlcore.ensemble.estimators import LSTDValue, NotFittedError, StackedValue, policy_episodes
from rlcore.tabular.mdp import FiniteMDP

torch = pytest.importorskip("torch")
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def walk():
    env = gym.make("rlcore/RandomWalk-v0", n_states=5)
    return FiniteMDP.from_env(env), env.unwrapped.true_values  # 7 states, 1..5 non-terminal


def _data(walk, episodes, seed):
    return policy_episodes(walk[0], np.ones((7, 1)), episodes, seed)


@pytest.mark.slow
def test_neural_critic_approaches_the_dp_values(walk):
    # 200 episodes: the batch TD fixed point (LSTD's) is within ~0.05 of the true values; the
    # network's fitted TD(0) must get as close to the DP truth (1/6, ..., 5/6).
    data = _data(walk, 200, 0)
    states, v = np.arange(1, 6), walk[1][1:6]
    critic = rlcore.make("estimators.neural_value", n_states=7).fit(data)
    rms = np.sqrt(np.mean((critic.predict(states) - v) ** 2))
    lstd = LSTDValue(n_states=7).fit(data).predict(states)
    assert rms <= 0.06, rms
    assert rms <= np.sqrt(np.mean((lstd - v) ** 2)) + 0.02
    assert critic.loss_.shape == (critic.n_iterations,) and critic.n_iter_ == 100


def test_same_seed_same_numbers_and_checkpoint_without_pickle(walk, tmp_path):
    data = _data(walk, 20, 1)
    make = lambda seed: rlcore.make(  # noqa: E731
        "estimators.neural_value", n_states=7, n_iterations=5, steps_per_iteration=4, seed=seed
    )
    a, b, c = (make(s).fit(data).predict(np.arange(7)) for s in (3, 3, 4))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    critic = make(3).fit(data)
    loaded = rlcore.load(critic.save(tmp_path / "critic"))
    np.testing.assert_array_equal(loaded.predict(np.arange(7)), a)
    assert loaded.get_params() == {**critic.get_params(), "hidden_sizes": [32]}


def test_stacking_accepts_the_neural_member(walk):
    data = _data(walk, 20, 2)
    members = [
        ("lstd", LSTDValue(n_states=7)),
        ("neural", rlcore.make("estimators.neural_value", n_states=7, n_iterations=10)),
    ]
    stack = StackedValue(members, cv=4, meta_target="td").fit(data)
    assert set(stack.weights_) == {"lstd", "neural"}
    assert np.all(np.isfinite(stack.predict(np.arange(1, 6))))


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"hidden_sizes": 32}, TypeError, "hidden_sizes must be a sequence"),
        ({"hidden_sizes": (0,)}, ValueError, "hidden_sizes"),
        ({"activation": "sigmoid"}, ValueError, "activation"),
        ({"n_iterations": 0}, ValueError, "n_iterations=0"),
        ({"learning_rate": 0.0}, ValueError, "learning_rate"),
        ({"gamma": 2.0}, ValueError, "gamma=2.0"),
    ],
)
def test_bad_input_is_refused(walk, params, error, match):
    with pytest.raises(error, match=match):
        rlcore.make("estimators.neural_value", n_states=7, **params).fit(_data(walk, 2, 0))


def test_predict_before_fit_is_refused():
    with pytest.raises(NotFittedError, match="not fitted yet"):
        rlcore.make("estimators.neural_value", n_states=7).predict(np.arange(7))
