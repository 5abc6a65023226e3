"""Chapter 11 figures (Baird's counterexample): the sampled runs against the agents, the
expected updates against closed forms, quick smoke runs and the book's settings."""

import gymnasium as gym
import numpy as np
import pytest
from figure_contract import well_formed

import rlcore
from rlcore.approximation.features import MatrixFeatures
from rlcore.book import ch11
from rlcore.envs.baird import baird_features, baird_initial_weights
from rlcore.types import Transition

FIGURES = ("figure_11_2", "figure_11_5", "figure_11_6")


@pytest.mark.parametrize("name", FIGURES)
def test_quick_figures_pass_their_checks(name, tmp_path):
    result = rlcore.get(f"figures.{name}")(tmp_path, quick=True, seed=1)
    well_formed(result, tmp_path, FIGURES)
    failed = {k: c for k, c in result["checks"].items() if not c["passed"]}
    assert not failed  # Baird is cheap: even the quick runs carry enough runs


def test_sampled_runs_equal_the_tdc_agent_on_the_same_transitions():
    data = ch11.sample_transitions(np.random.default_rng(0), 2, 200)
    v = {"v": np.zeros((2, 8))}

    def step(w, x_tm1, x_t, rho):
        from rlcore.approximation.gradient_td import tdc_direction

        dw, dv, _ = tdc_direction(w, v["v"], x_tm1, 0.0, 0.99, x_t, rho)
        v["v"] = v["v"] + 0.05 * dv
        return w + 0.005 * dw

    history, blown = ch11.run_samples(data, 200, step)
    m = ch11.baird()
    agent = rlcore.make(
        "agents.tdc",
        gym.make("rlcore/Baird-v0"),
        MatrixFeatures(baird_features()),
        target=m["pi"],
        behavior=m["b"],
        alpha=0.005,
        beta=0.05,
        gamma=0.99,
    )
    agent.w = baird_initial_weights()
    for t in range(200):
        s, a, s2 = data["s"][1, t], data["a"][1, t], data["s"][1, t + 1]
        agent.observe(Transition(int(s), int(a), 0.0, int(s2), False, False))
    np.testing.assert_allclose(history[1, -1], agent.w, atol=1e-12)
    assert np.all(blown == -1)


def test_divergence_is_recorded_not_raised():
    data = ch11.sample_transitions(np.random.default_rng(1), 3, 50)
    history, blown = ch11.run_samples(data, 50, lambda w, x_tm1, x_t, rho: w * 1e100)
    assert np.all(blown == 4)  # 1e400 overflows at the fourth step
    assert not np.all(np.isfinite(history[:, -1]))


@pytest.mark.slow
@pytest.mark.parametrize("name", FIGURES)
def test_book_settings_pass_their_checks(name, tmp_path):
    result = rlcore.get(f"figures.{name}")(tmp_path, seed=0)
    well_formed(result, tmp_path, FIGURES)
    failed = {k: c for k, c in result["checks"].items() if not c["passed"]}
    assert not failed
