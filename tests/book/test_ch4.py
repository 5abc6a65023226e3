"""Chapter 4 figures: every headline check passes, and the numbers behind them hold when
computed directly (the book's Figure 4.1 grid, the gambler's closed forms)."""

import gymnasium as gym
import numpy as np
import pytest

import rlcore
from rlcore.book import ch4
from rlcore.book.report import check, write_summary
from rlcore.tabular import planning


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("figures")
    return out, [rlcore.get(f"figures.figure_4_{k}")(out) for k in (1, 2, 3)]


def test_every_figure_writes_its_png_and_passes_its_checks(results):
    out, figures = results
    for r in figures:
        assert (out / f"{r['figure']}.png").stat().st_size > 10_000
        failed = {k: c for k, c in r["checks"].items() if not c["passed"]}
        assert not failed, (r["figure"], failed)
        assert len(r["checks"]) >= 3


def test_summary_lists_every_check_and_links_the_pngs(results):
    out, figures = results
    text = write_summary(out, figures, title="ch4").read_text()
    assert "](figure_4_2.png)" in text
    n_checks = sum(len(r["checks"]) for r in figures)
    assert f"{n_checks} of {n_checks} checks passed" in text
    assert text.count("| yes |") == n_checks
    assert "\\|v* - v(bold play)\\|" in text  # pipes escaped inside the table
    assert (out / "checks.json").exists()


def test_a_check_can_fail():
    assert not check(1.0, 0.0, 0.5)["passed"]
    assert not check(float("nan"), 0.0, 1.0)["passed"]
    assert check(0.05, 0.0, 0.05)["passed"]


def test_random_policy_values_on_the_gridworld_are_the_books():
    env = gym.make("rlcore/Gridworld4x4-v0")
    v = planning.policy_evaluation(env, np.full((16, 4), 0.25), 1.0, method="exact").v
    np.testing.assert_allclose(v, np.ravel(ch4.BOOK_4_1_V_INF), atol=1e-9)
    sync = planning.policy_evaluation(
        env, np.full((16, 4), 0.25), 1.0, in_place=False, record_history=True, theta=1e-3
    )
    for k, book in ch4.BOOK_4_1_VALUES.items():  # the book prints one decimal
        np.testing.assert_allclose(sync.history[k], np.ravel(book), atol=0.05 + 1e-12)


@pytest.mark.parametrize("in_place", [True, False])
def test_gamblers_optimal_values_at_quarter_points(in_place):
    env = gym.make("rlcore/GamblersProblem-v0", p_h=0.4)
    result = planning.value_iteration(env, 1.0, theta=1e-12, in_place=in_place)
    np.testing.assert_allclose(result.v[[25, 50, 75]], [0.16, 0.4, 0.64], atol=1e-9)
    assert result.policy[50, 50] > 0 and result.policy[25, 25] > 0
    np.testing.assert_allclose(result.v, ch4.bold_play_values(0.4), atol=1e-9)


def test_benchmark_script_runs_from_another_directory(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "figure_4_3.py"
    done = subprocess.run(
        [sys.executable, str(script), "--out", str(tmp_path / "out")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "figure_4_3.png").exists()
    assert (tmp_path / "out" / "summary.md").exists()
