"""The gambler's problem and Jack's car rental: gymnasium's checker, and the models against
independent brute-force constructions of the book's rules."""

import functools

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from scipy.stats import poisson

import rlcore
from rlcore.tabular import FiniteMDP, planning


@pytest.mark.parametrize(
    ("env_id", "kwargs"),
    [
        ("rlcore/GamblersProblem-v0", {}),
        ("rlcore/GamblersProblem-v0", {"p_h": 0.55, "goal": 10, "initial_capital": 3}),
        ("rlcore/JacksCarRental-v0", {}),
        ("rlcore/JacksCarRental-v0", {"exercise_4_7": True, "max_cars": 6, "max_move": 2}),
    ],
)
def test_envs_pass_gymnasium_check_env_and_render_text(env_id, kwargs):
    env = gym.make(env_id, **kwargs)
    check_env(env.unwrapped, skip_render_check=True)
    text_env = gym.make(env_id, render_mode="ansi", **kwargs)
    text_env.reset(seed=0)
    text_env.step(text_env.action_space.sample())
    assert isinstance(text_env.render(), str)


def test_registered_as_public_names():
    assert rlcore.get("envs.gamblers_problem").__name__ == "GamblersProblemEnv"
    assert rlcore.get("envs.jacks_car_rental").__name__ == "JacksCarRentalEnv"


# -- gambler -----------------------------------------------------------------------------------


def book_gambler_value_iteration(p_h, goal, theta=1e-13):
    """The book's formulation with plain loops: stakes 0..min(s, goal - s), stake 0 leaves s
    unchanged; v(0) = 0, v(goal) = 1 as a boundary value instead of a +1 reward."""
    v = [0.0] * goal + [1.0]
    while True:
        delta = 0.0
        for s in range(1, goal):
            best = max(p_h * v[s + a] + (1 - p_h) * v[s - a] for a in range(min(s, goal - s) + 1))
            delta, v[s] = max(delta, abs(best - v[s])), best
        if delta < theta:
            break
    q = {
        s: [p_h * v[s + a] + (1 - p_h) * v[s - a] for a in range(min(s, goal - s) + 1)]
        for s in range(1, goal)
    }
    return np.array(v[:goal] + [0.0]), q


@pytest.mark.parametrize(("p_h", "goal"), [(0.4, 100), (0.25, 100), (0.55, 40), (0.4, 16)])
def test_gambler_values_and_optimal_stakes_equal_the_books_formulation(p_h, goal):
    v_book, q_book = book_gambler_value_iteration(p_h, goal)
    result = planning.value_iteration(
        gym.make("rlcore/GamblersProblem-v0", p_h=p_h, goal=goal), 1.0, theta=1e-13, tie_tol=1e-9
    )
    np.testing.assert_allclose(result.v, v_book, atol=1e-9)
    for s in range(1, goal):
        q = np.array(q_book[s])
        book_optimal = {a for a in range(1, len(q)) if q[a] >= q[1:].max() - 1e-9}
        assert set(np.flatnonzero(result.policy[s])) == book_optimal, s


def test_gambler_illegal_stakes_walk_away_and_terminals_absorb():
    P = gym.make("rlcore/GamblersProblem-v0").unwrapped.P
    assert P[30][0] == [(1.0, 30, 0.0, True)]  # stake 0: stop playing
    assert P[70][31] == [(1.0, 70, 0.0, True)]  # more than 100 - 70
    assert P[30][31] == [(1.0, 30, 0.0, True)]  # more than the capital
    assert sorted(P[70][30]) == [(0.4, 100, 1.0, True), (0.6, 40, 0.0, False)]
    assert P[0][5] == [(1.0, 0, 0.0, True)] and P[100][5] == [(1.0, 100, 0.0, True)]


def test_gambler_bad_arguments():
    with pytest.raises(ValueError, match="p_h"):
        gym.make("rlcore/GamblersProblem-v0", p_h=1.5)
    with pytest.raises(ValueError, match="initial_capital"):
        gym.make("rlcore/GamblersProblem-v0", initial_capital=100)


# -- Jack's car rental -------------------------------------------------------------------------


@functools.cache
def naive_location(request_mean, return_mean, max_cars, upper=45):
    """T[m, x] = P(x cars in the evening | m in the morning) and G[m, x] = E[rentals; x],
    by summing over requests and returns up to ``upper`` (the mass beyond is below 1e-25)."""
    n = max_cars + 1
    p_req, p_ret = poisson.pmf(range(upper), request_mean), poisson.pmf(range(upper), return_mean)
    T, G = np.zeros((n, n)), np.zeros((n, n))
    for m in range(n):
        for req in range(upper):
            rented = min(req, m)
            for ret in range(upper):
                p = p_req[req] * p_ret[ret]
                x = min(m - rented + ret, max_cars)
                T[m, x] += p
                G[m, x] += p * rented
    return T, G


def naive_jack(max_cars, max_move, exercise_4_7):
    """Dense P (S, A, S), r(s, a) and E[R | s, a, s'] from the rules as stated, loop by loop."""
    n = max_cars + 1
    T1, G1 = naive_location(3.0, 3.0, max_cars)
    T2, G2 = naive_location(4.0, 2.0, max_cars)
    S, A = n * n, 2 * max_move + 1
    P, R, R_next = np.zeros((S, A, S)), np.zeros((S, A)), np.zeros((S, A, S))
    for n1 in range(n):
        for n2 in range(n):
            for a in range(A):
                move = a - max_move
                if move > n1 or -move > n2:  # infeasible: nothing moves, the move is paid
                    m1, m2, cost = n1, n2, 2.0 * abs(move)
                else:
                    m1, m2 = min(n1 - move, max_cars), min(n2 + move, max_cars)
                    cost = 2.0 * (move - 1 if exercise_4_7 and move > 0 else abs(move))
                if exercise_4_7:
                    cost += 4.0 * (m1 > 10) + 4.0 * (m2 > 10)
                s = n1 * n + n2
                for x1 in range(n):
                    for x2 in range(n):
                        p = T1[m1, x1] * T2[m2, x2]
                        gain = 10.0 * (G1[m1, x1] * T2[m2, x2] + T1[m1, x1] * G2[m2, x2])
                        P[s, a, x1 * n + x2] = p
                        R[s, a] += gain - p * cost
                        R_next[s, a, x1 * n + x2] = gain / p - cost
    return P, R, R_next


@pytest.mark.parametrize(("max_cars", "max_move", "exercise_4_7"), [(4, 2, False), (12, 3, True)])
def test_jack_model_matches_brute_force_rules(max_cars, max_move, exercise_4_7):
    env = gym.make(
        "rlcore/JacksCarRental-v0", max_cars=max_cars, max_move=max_move, exercise_4_7=exercise_4_7
    )
    mdp = env.unwrapped.finite_mdp()
    P, R, R_next = naive_jack(max_cars, max_move, exercise_4_7)
    np.testing.assert_allclose(mdp.transition_matrix(), P, atol=1e-12)
    np.testing.assert_allclose(mdp.expected_reward, R, atol=1e-9)
    np.testing.assert_allclose(mdp.reward.reshape(P.shape), R_next, atol=1e-8)
    # The lazy P view holds the same model, and FiniteMDP.from_env reads it back.
    again = FiniteMDP.from_env(env)
    np.testing.assert_array_equal(again.prob, mdp.prob)
    np.testing.assert_array_equal(again.reward, mdp.reward)


def test_jack_optimal_values_match_a_brute_force_solution_of_the_book_problem():
    n, gamma = 21, 0.9
    T1, G1 = naive_location(3.0, 3.0, 20)
    T2, G2 = naive_location(4.0, 2.0, 20)
    rent1, rent2 = G1.sum(axis=1), G2.sum(axis=1)  # expected rentals by morning count
    n1, n2 = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    v = np.zeros((n, n))
    for _ in range(400):  # value iteration over the book's feasible moves only
        best = np.full((n, n), -np.inf)
        for move in range(-5, 6):
            m1, m2 = np.minimum(n1 - move, 20), np.minimum(n2 + move, 20)
            ok = (m1 >= 0) & (m2 >= 0)
            m1, m2 = np.clip(m1, 0, 20), np.clip(m2, 0, 20)
            q = 10 * (rent1[m1] + rent2[m2]) - 2 * abs(move)
            q = q + gamma * np.einsum("ijx,ijy,xy->ij", T1[m1], T2[m2], v)
            best = np.where(ok, np.maximum(best, q), best)
        v = best
    env = gym.make("rlcore/JacksCarRental-v0")
    result = planning.policy_iteration(
        env, gamma, policy=np.full(441, 5), evaluation="exact", record_history=True
    )
    # 400 sweeps leave 0.9^400 * 700 < 1e-15 of error in the brute-force solution.
    np.testing.assert_allclose(result.v, v.ravel(), atol=1e-8)
    # Infeasible moves are strictly worse than moving nothing (so optimal policies are the book's).
    move = np.arange(11) - 5
    infeasible = (move[None, :] > n1.ravel()[:, None]) | (-move[None, :] > n2.ravel()[:, None])
    assert np.all((result.q - result.q[:, [5]])[infeasible] <= -2 + 1e-9)
    assert np.all(result.policy[infeasible] == 0)


def test_jack_sampled_days_follow_the_model():
    env = gym.make("rlcore/JacksCarRental-v0")
    jack = env.unwrapped
    mdp = jack.finite_mdp()
    env.reset(seed=3)
    s, a, n_days = 8 * 21 + 15, 5 + 2, 20_000  # 8 and 15 cars, move 2 to the second location
    nexts, rewards = np.empty(n_days, int), np.empty(n_days)
    for i in range(n_days):
        jack.s = s
        nexts[i], rewards[i], terminated, truncated, _ = jack.step(a)
        assert not terminated and not truncated
    model_p = mdp.transition_matrix()[s, a].reshape(21, 21)
    for axis, cars in ((1, nexts // 21), (0, nexts % 21)):  # each location's marginal
        empirical = np.bincount(cars, minlength=21) / n_days
        ks = np.max(np.abs(np.cumsum(empirical) - np.cumsum(model_p.sum(axis=axis))))
        assert ks < 1.63 / np.sqrt(n_days)  # Kolmogorov-Smirnov at the 1% level
    se = rewards.std() / np.sqrt(n_days)
    assert abs(rewards.mean() - mdp.expected_reward[s, a]) < 4 * se


def test_jack_builds_fast_enough():
    import time

    from rlcore.envs.jacks_car_rental import JacksCarRentalConfig, jacks_model

    start = time.perf_counter()
    jacks_model(JacksCarRentalConfig(parking_cost=4.000001))  # a configuration not cached yet
    assert time.perf_counter() - start < 10.0


def test_jack_bad_arguments():
    with pytest.raises(ValueError, match="max_move"):
        gym.make("rlcore/JacksCarRental-v0", max_cars=3, max_move=4)
    with pytest.raises(TypeError, match="exercise_4_7"):
        gym.make("rlcore/JacksCarRental-v0", exercise_4_7="yes")
    env = gym.make("rlcore/JacksCarRental-v0")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(11)
