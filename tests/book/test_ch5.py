"""Figures 5.1-5.4 through the batched engine: quick smoke runs, and the book's settings (slow)."""

from pathlib import Path

import numpy as np
import pytest
from figure_contract import well_formed

import rlcore
from rlcore.book import ch5
from rlcore.tabular import planning

FIGURES = ("figure_5_1", "figure_5_2", "figure_5_3", "figure_5_4")


def _well_formed(result: dict, out: Path) -> None:
    well_formed(result, out, FIGURES)


@pytest.mark.parametrize("name", FIGURES)
def test_quick_figure(name, tmp_path):
    _well_formed(rlcore.get(f"figures.{name}")(tmp_path, quick=True, seed=1), tmp_path)


def test_one_state_mdp_target_value_is_one():
    """Example 5.5: always "left" ends with +1 eventually, so v_pi(s) = 1."""
    mdp = ch5.one_state_mdp()
    pi = np.array([[1.0, 0.0], [1.0, 0.0]])
    v = planning.policy_evaluation(mdp, pi, gamma=1.0, method="exact").v
    assert v[0] == pytest.approx(1.0)


def test_book_policy_sticks_on_twenty_and_more():
    pi = ch5.book_policy()
    assert np.all(pi[20:22, 1:] == 0)
    assert np.all(pi[12, 1:4, 0] == 1) and np.all(pi[12, 4:7, 0] == 0)


@pytest.mark.slow
@pytest.mark.parametrize("name", FIGURES)
def test_book_settings_pass_their_checks(name, tmp_path):
    result = rlcore.get(f"figures.{name}")(tmp_path, seed=0)
    _well_formed(result, tmp_path)
    assert all(c["passed"] for c in result["checks"].values()), result["checks"]
