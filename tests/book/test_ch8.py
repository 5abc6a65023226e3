"""Figures 8.2, 8.4 and 8.5 through the batched engine: quick smoke runs, and the book's
settings (slow)."""

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from figure_contract import well_formed

import rlcore
from rlcore.book import ch8
from rlcore.tabular import FiniteMDP

FIGURES = ("figure_8_2", "figure_8_4", "figure_8_5")


def _well_formed(result: dict, out: Path) -> None:
    well_formed(result, out, FIGURES)


@pytest.mark.parametrize("name", FIGURES)
def test_quick_figure(name, tmp_path):
    _well_formed(rlcore.get(f"figures.{name}")(tmp_path, quick=True, seed=1), tmp_path)


def test_expected_steps_of_a_corridor_walk_is_the_gamblers_ruin_time():
    """A symmetric walk on a 5-state corridor from the middle, reflecting at the left end and
    absorbed at the right: E[steps] solves the same linear system by hand."""
    n = 5
    p = np.zeros((n, 2, n))
    for s in range(n - 1):
        p[s, 0, max(s - 1, 0)] = 1.0
        p[s, 1, s + 1] = 1.0
    p[n - 1, :, n - 1] = 1.0
    terminal = np.zeros(n, bool)
    terminal[n - 1] = True
    initial = np.zeros(n)
    initial[2] = 1.0
    mdp = FiniteMDP.from_arrays(p, np.zeros((n, 2)), terminal=terminal, initial=initial)
    # E_s = 1 + (E_{s-1 or s} + E_{s+1}) / 2, E_4 = 0  ->  E = (20, 18, 14, 8, 0) for s = 0..4.
    assert ch8._expected_steps(mdp, np.full((n, 2), 0.5)) == pytest.approx(14.0)


def test_dyna_maze_random_walk_time_is_finite_and_long():
    mdp = FiniteMDP.from_env(gym.make("rlcore/DynaMaze-v0"))
    walk = ch8._expected_steps(mdp, np.full((mdp.n_states, mdp.n_actions), 0.25))
    assert 14 < walk < 5000


@pytest.mark.slow
@pytest.mark.parametrize("name", FIGURES)
def test_book_settings_pass_their_checks(name, tmp_path):
    result = rlcore.get(f"figures.{name}")(tmp_path, seed=0)
    _well_formed(result, tmp_path)
    assert all(c["passed"] for c in result["checks"].values()), result["checks"]
