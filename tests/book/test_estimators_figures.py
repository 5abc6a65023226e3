"""The value-ensemble studies (rlcore/book/estimators.py): their pieces on tiny settings by
default, the quick figures and the thin scripts behind the slow marker."""

import py_compile
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from figure_contract import well_formed

import rlcore
from rlcore.book import estimators as study
from rlcore.tabular import planning
from rlcore.tabular.mdp import random_mdp

FIGURES = ("boosted_fqi", "boosted_fqi_mountain_car", "stacked_value", "opera")
BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def test_figures_are_registered():
    for name in FIGURES:
        assert rlcore.get(f"figures.{name}") is getattr(study, name)


def test_boosting_curve_pieces_on_a_tiny_mdp():
    pytest.importorskip("sklearn")
    mdp = random_mdp(8, 2, np.random.default_rng(0))
    q_star = planning.value_iteration(mdp, 0.8).q
    fqi, boosted = study.fqi_curves(mdp, q_star, 0.8, 3, 6, 800, np.random.default_rng(1))
    assert fqi.shape == boosted.shape == (6,)
    assert np.all(np.isfinite(fqi)) and boosted[-1] < boosted[0]


def test_mountain_car_pieces_on_a_tiny_batch():
    from rlcore.book.ch10 import mountain_car_tiles

    coder = mountain_car_tiles()
    data = study.mountain_car_transitions(600, np.random.default_rng(0))
    assert data.observations.shape == (600, 2) and np.all(data.episode_lengths == 1)
    settings = {"alpha": 1.0, "weak_alpha": 100.0}
    settings["q"] = {"n_actions": 3, "gamma": 0.99, "features": coder}
    w = study.mountain_car_curves(settings, data, 4, 2)
    assert {k: v.shape for k, v in w.items()} == {
        k: (2, coder.n_features, 3) for k in ("fqi", "fqi_weak", "boosted_weak")
    }
    # a policy that always pushes forward (q = 1 for action 2 on every tile) is one of the
    # book's controls: compare with stepping the dynamics by hand
    forward = np.zeros((1, coder.n_features, 3))
    forward[..., 2] = 1.0
    start = np.array([[-0.5, 0.0]])
    steps, reached = study.greedy_steps(forward, coder, start, 300)
    from rlcore.approximation.mountain_car import mountain_car_step

    s, n, done = start, 0, False
    while not done and n < 300:
        s, _, term = mountain_car_step(s, np.array([2]))
        n, done = n + 1, bool(term[0])
    assert steps[0] == n and reached[0] == float(done)


def test_stacking_pieces_on_the_five_state_walk():
    task = study._prediction_tasks(0)[0]
    assert task["name"] == "walk5"
    res = study.stacking_errors(task, 1, seed=0)
    assert {
        "stack",
        "stack_lstd",
        "stack_returns",
        "stack_no_neural",
        "mc",
        "lstd",
        "neural",
    } <= set(res)
    assert res["_spread"].shape == res["_abs_err"].shape == (5,)
    assert res["_z_neural"].shape == (1,) and np.isfinite(res["_z_neural"]).all()


def test_oof_loss_z_against_a_naive_loop_and_a_known_winner():
    rng = np.random.default_rng(0)
    episode_ids = np.repeat(np.arange(6), [3, 5, 2, 4, 4, 6])
    g, a, b = rng.normal(size=(3, episode_ids.size))
    sums = [((g - a) ** 2 - (g - b) ** 2)[episode_ids == e].sum() for e in range(6)]
    naive = np.sum(sums) / (np.std(sums, ddof=1) * np.sqrt(6))
    assert study.oof_loss_z(a, b, g, episode_ids) == pytest.approx(naive, rel=1e-12)
    # returns drawn around the true values v: the true values beat a shifted prediction, and
    # the evidence grows like sqrt(episodes)
    v = np.repeat(rng.normal(size=400), 5)
    ids = np.repeat(np.arange(400), 5)
    g = v + rng.normal(size=v.size)
    assert study.oof_loss_z(v + 0.3, v, g, ids) > 3.0
    assert abs(study.oof_loss_z(v, v, g, ids)) == 0.0


def test_ope_pieces_on_a_tiny_mdp():
    mdp = random_mdp(5, 2, np.random.default_rng(0), terminal_prob=0.3)
    b = np.full((5, 2), 0.5)
    sq = study.ope_errors(mdp, b, b, 0.9, 0.0, 20, 1, 3, seed=0)
    assert set(sq) == {"is", "wis", "dr", "fqe", "opera"}


@pytest.mark.parametrize("script", sorted(BENCH.glob("estimators_*.py")), ids=lambda p: p.name)
def test_scripts_compile(script, tmp_path):
    py_compile.compile(str(script), cfile=str(tmp_path / "x.pyc"), doraise=True)


@pytest.mark.slow
@pytest.mark.parametrize("name", FIGURES)
def test_quick_figures_are_well_formed(name, tmp_path):
    result = rlcore.get(f"figures.{name}")(tmp_path, quick=True, seed=1)
    well_formed(result, tmp_path, FIGURES)


@pytest.mark.slow
def test_script_runs_quick(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH / "estimators_boosted_fqi.py"),
            "--out",
            str(tmp_path),
            "--quick",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode in (0, 1), done.stderr
    assert (tmp_path / "boosted_fqi.png").exists()
