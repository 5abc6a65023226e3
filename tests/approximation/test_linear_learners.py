"""Linear learners against exact ground truth on small chains, and their identities.

Ground truth comes from the walk's model (``FiniteMDP``): the on-policy distribution, the TD fixed
point w_TD = A^{-1} b and the VE minimiser, computed here by plain linear algebra independent of
the learners. Identities: one-hot features reduce semi-gradient TD(0) to tabular TD(0); an n-step
window longer than the episode reduces n-step TD to gradient Monte Carlo; lambda = 0 reduces
Sarsa(lambda) and true online Sarsa(lambda) to one-step semi-gradient Sarsa."""

import gymnasium as gym
import numpy as np
import pytest

import rlcore
from rlcore.approximation import objectives
from rlcore.approximation.features import OneHot, Polynomial, StateAggregation, dense_features
from rlcore.approximation.linear import lstd_solution
from rlcore.tabular import FiniteMDP
from rlcore.types import Transition

WALK5 = ("rlcore/RandomWalk-v0", {"n_states": 5})


def walk(n=5):
    return gym.make("rlcore/RandomWalk-v0", n_states=n)


def chain_truth(n, features):
    """(X, mu, P, r, v_pi) of the n-state walk; terminal rows of X are zero."""
    env = walk(n)
    mdp = FiniteMDP.from_env(env)
    pi = np.ones((n + 2, 1))
    mu = objectives.on_policy_distribution(mdp, pi)
    P, r = objectives.policy_model(mdp, pi)
    X = np.zeros((n + 2, features.n_features))
    X[1:-1] = dense_features(features(np.arange(1, n + 1)), features.n_features)
    v_pi = np.linalg.solve(np.eye(n + 2) - P, r)
    return X, mu, P, r, v_pi


class Recorder(rlcore.Callback):
    def __init__(self):
        self.transitions = []

    def on_step(self, step, transition, metrics):
        self.transitions.append(transition)


def test_td_fixed_point_is_the_projected_bellman_fixed_point():
    agg = StateAggregation(1, 19, 4, discrete=True)
    X, mu, P, r, v_pi = chain_truth(19, agg)
    w_td = objectives.td_fixed_point(X, mu, P, r, 1.0)
    D = np.diag(mu)
    projection = X @ np.linalg.pinv(X.T @ D @ X) @ X.T @ D  # Pi, eq. 11.14
    np.testing.assert_allclose(projection @ (r + P @ X @ w_td), X @ w_td, atol=1e-10)
    assert objectives.projected_bellman_error(w_td, X, mu, P, r, 1.0) < 1e-20
    w_ve = objectives.ve_minimizer(X, v_pi, mu)
    assert objectives.projected_bellman_error(w_ve, X, mu, P, r, 1.0) > 1e-6  # they differ
    # the TD solution's error is within the bound of eq. 9.14 (gamma = 1 gives no bound: compare)
    assert objectives.value_error(X @ w_ve, v_pi, mu) <= objectives.value_error(X @ w_td, v_pi, mu)


def test_lstd_agent_equals_the_closed_form_on_its_data():
    env = walk(19)
    poly = Polynomial(1, 19, 3, discrete=True)
    agent = rlcore.make("agents.lstd", env, features=poly, epsilon=0.01)
    rec = Recorder()
    rlcore.run(agent, env, episodes=30, seed=0, callbacks=[rec])
    d = poly.n_features
    x_tm1 = np.stack([dense_features(poly(t.obs), d) for t in rec.transitions])
    x_t = np.stack(
        [
            np.zeros(d) if t.terminated else dense_features(poly(t.next_obs), d)
            for t in rec.transitions
        ]
    )
    r_t = np.array([t.reward for t in rec.transitions])
    discount_t = np.array([0.0 if t.terminated else 1.0 for t in rec.transitions])
    np.testing.assert_allclose(agent.w, lstd_solution(x_tm1, r_t, discount_t, x_t, 0.01), rtol=1e-7)


def test_lstd_and_td0_approach_the_td_fixed_point_not_the_ve_minimiser():
    agg = StateAggregation(1, 5, 2, discrete=True)  # groups {1, 2, 3}, {4, 5}
    X, mu, P, r, v_pi = chain_truth(5, agg)
    w_td = objectives.td_fixed_point(X, mu, P, r, 1.0)
    w_ve = objectives.ve_minimizer(X, v_pi, mu)
    gap = np.max(np.abs(w_td - w_ve))
    assert gap > 0.04  # the two solutions are distinguishable at the tolerance below
    env = walk(5)
    lstd = rlcore.make("agents.lstd", env, features=agg, epsilon=1e-3)
    rlcore.run(lstd, env, episodes=1500, seed=1)
    np.testing.assert_allclose(lstd.w, w_td, atol=gap / 3)
    td = rlcore.make("agents.semi_gradient_td", env, features=agg, alpha=0.01)
    snapshots = []
    for k in range(25):  # a constant step size: average the iterates after a burn-in
        rlcore.run(td, env, episodes=100, seed=100 + k)
        snapshots.append(td.w.copy())
    np.testing.assert_allclose(np.mean(snapshots[5:], axis=0), w_td, atol=gap / 3)


def test_gradient_mc_approaches_the_ve_minimiser():
    agg = StateAggregation(1, 5, 2, discrete=True)
    X, mu, P, r, v_pi = chain_truth(5, agg)
    w_td = objectives.td_fixed_point(X, mu, P, r, 1.0)
    w_ve = objectives.ve_minimizer(X, v_pi, mu)
    gap = np.max(np.abs(w_td - w_ve))
    env = walk(5)
    mc = rlcore.make("agents.gradient_mc", env, features=agg, alpha=0.01)
    snapshots = []
    for k in range(25):
        rlcore.run(mc, env, episodes=100, seed=200 + k)
        snapshots.append(mc.w.copy())
    np.testing.assert_allclose(np.mean(snapshots[5:], axis=0), w_ve, atol=gap / 3)


def replay(agent, transitions):
    for t in transitions:
        agent.observe(t)
        if t.done:
            agent.reset()


def test_one_hot_semi_gradient_td0_is_tabular_td0():
    env = walk(19)
    rec = Recorder()
    rlcore.run(rlcore.make("policies.random", env), env, episodes=50, seed=3, callbacks=[rec])
    linear = rlcore.make("agents.semi_gradient_td", env, features=OneHot(21), alpha=0.1)
    tabular = rlcore.make("agents.td0", env, alpha=0.1)
    replay(linear, rec.transitions)
    replay(tabular, rec.transitions)
    np.testing.assert_allclose(linear.w, tabular.v, atol=1e-12)


def test_n_step_td_with_a_window_longer_than_the_episode_is_gradient_mc():
    env = walk(19)
    rec = Recorder()
    rlcore.run(rlcore.make("policies.random", env), env, episodes=40, seed=4, callbacks=[rec])
    poly = Polynomial(1, 19, 2, discrete=True)
    long_td = rlcore.make("agents.semi_gradient_td", env, features=poly, alpha=0.01, n=10_000)
    mc = rlcore.make("agents.gradient_mc", env, features=poly, alpha=0.01)
    replay(long_td, rec.transitions)
    replay(mc, rec.transitions)
    np.testing.assert_allclose(long_td.w, mc.w, atol=1e-12)


MOUNTAIN = {"max_episode_steps": 400}


def mountain_car_weights(name, **config):
    env = gym.make("MountainCar-v0", **MOUNTAIN)
    agent = rlcore.make(name, env, alpha=0.3 / 8, epsilon=0.1, **config)
    history = rlcore.run(agent, env, episodes=3, seed=5)
    return agent.w, history.lengths


def test_lambda_zero_reduces_both_sarsa_lambdas_to_one_step_sarsa():
    w_sarsa, len_sarsa = mountain_car_weights("agents.semi_gradient_sarsa", n=1)
    for name, config in [
        ("agents.linear_sarsa_lambda", {"lambda_": 0.0, "trace": "accumulating"}),
        ("agents.linear_sarsa_lambda", {"lambda_": 0.0, "trace": "replacing"}),
        ("agents.true_online_sarsa_lambda", {"lambda_": 0.0}),
    ]:
        w, lengths = mountain_car_weights(name, **config)
        assert lengths == len_sarsa, name
        np.testing.assert_allclose(w, w_sarsa, atol=1e-10, err_msg=name)


AGENTS = [
    ("agents.gradient_mc", {"alpha": 0.01}),
    ("agents.semi_gradient_td", {"alpha": 0.01, "n": 3}),
    ("agents.lstd", {"epsilon": 0.1}),
]
CONTROL = [
    ("agents.semi_gradient_sarsa", {"alpha": 0.05, "n": 2, "epsilon": 0.1}),
    ("agents.linear_sarsa_lambda", {"alpha": 0.05, "lambda_": 0.9, "epsilon": 0.1}),
    ("agents.true_online_sarsa_lambda", {"alpha": 0.05, "lambda_": 0.9, "epsilon": 0.1}),
]


@pytest.mark.parametrize("name, config", AGENTS + CONTROL)
def test_save_load_round_trip_and_determinism(name, config, tmp_path):
    control = name in dict(CONTROL)
    if control:
        env = gym.make("MountainCar-v0", max_episode_steps=150)
        features, budget = None, {"episodes": 2}
        probe = np.array([[-0.5, 0.01], [0.2, -0.03]])
    else:
        env = walk(19)
        features, budget = Polynomial(1, 19, 3, discrete=True), {"episodes": 20}
        probe = np.arange(1, 20)

    def make():
        return rlcore.make(name, env, features=features, seed=0, **config)

    a, b = make(), make()
    rlcore.run(a, env, seed=7, **budget)
    rlcore.run(b, env, seed=7, **budget)
    np.testing.assert_array_equal(a.w, b.w)  # same seed, same numbers
    assert np.any(a.w != 0)
    rlcore.save(a, tmp_path / "agent")
    loaded = rlcore.load(tmp_path / "agent")
    assert type(loaded) is type(a) and loaded.config == a.config
    np.testing.assert_array_equal(loaded.w, a.w)
    values = (
        (lambda ag: ag.q_values(probe)) if name in dict(CONTROL) else (lambda ag: ag.value(probe))
    )
    np.testing.assert_array_equal(values(loaded), values(a))


def test_non_finite_td_error_stops_with_the_step_and_the_quantity():
    env = walk(5)
    agent = rlcore.make("agents.semi_gradient_td", env, features=OneHot(7), alpha=0.1)
    agent.observe(Transition(3, 0, 0.0, 4, False, False))
    agent.observe(Transition(4, 0, 0.0, 5, False, False))
    with pytest.raises(FloatingPointError, match=r"at step 3 the n-step TD error went non-finite"):
        agent.observe(Transition(5, 0, float("nan"), 6, True, False))


def test_bad_settings_and_mismatched_observations_are_refused():
    env = walk(5)
    with pytest.raises(ValueError, match="alpha"):
        rlcore.make("agents.gradient_mc", env, alpha=1.5)
    with pytest.raises(TypeError, match="did you mean 'alpha'"):
        rlcore.make("agents.gradient_mc", env, alpah=0.1)
    with pytest.raises(ValueError, match=r"states of shape \(2,\)"):
        rlcore.make("agents.gradient_mc", env, features=Polynomial([0, 0], [1, 1], 2))
    car = gym.make("MountainCar-v0")
    with pytest.raises(ValueError, match="replacing traces need binary features"):
        rlcore.make(
            "agents.linear_sarsa_lambda", car, features=Polynomial([-1.2, -0.07], [0.6, 0.07], 2)
        )
    with pytest.raises(TypeError, match="Discrete action space"):
        rlcore.make("agents.semi_gradient_sarsa", gym.make("MountainCarContinuous-v0"))


def test_agent_checkpoint_keeps_a_hashed_tile_coders_table(tmp_path):
    from rlcore.approximation.features import TileCoding

    env = gym.make("MountainCar-v0", max_episode_steps=200)
    coder = TileCoding([-1.2, -0.07], [0.6, 0.07], size=300, collision_tolerance=0.99)
    agent = rlcore.make("agents.semi_gradient_sarsa", env, features=coder, alpha=0.05, seed=0)
    rlcore.run(agent, env, episodes=1, seed=0)
    assert coder.hashing and coder.fill_ratio > 0
    rlcore.save(agent, tmp_path / "agent")
    loaded = rlcore.load(tmp_path / "agent")
    probe = np.random.default_rng(0).uniform([-1.2, -0.07], [0.6, 0.07], size=(50, 2))
    np.testing.assert_array_equal(loaded.features(probe), agent.features(probe))
    np.testing.assert_array_equal(loaded.q_values(probe), agent.q_values(probe))
