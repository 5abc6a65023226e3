"""Figure 7.2 through the batched engine: a quick smoke run, and the book's settings (slow)."""

from pathlib import Path

import numpy as np
import pytest
from figure_contract import well_formed

import rlcore
from rlcore.book import walk19


def _well_formed(result: dict, out: Path) -> None:
    well_formed(result, out, ("figure_7_2",))


def test_quick_figure_7_2(tmp_path):
    _well_formed(rlcore.get("figures.figure_7_2")(tmp_path, quick=True, seed=1), tmp_path)


def test_sweep_shape_and_one_step_row_equals_td0_sweep():
    """n = 1 is TD(0): the same stream gives the same errors."""
    alphas = np.array([0.2, 0.5])
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    n1 = walk19.sweep("n_step_td", "n", [1], alphas, 4, rng_a)
    td = walk19.sweep("td_lambda", "lambda_", [0.0], alphas, 4, rng_b)
    assert n1.shape == (1, 2, 4)
    np.testing.assert_allclose(n1, td)


@pytest.mark.slow
def test_book_settings_pass_their_checks(tmp_path):
    result = rlcore.get("figures.figure_7_2")(tmp_path, seed=0)
    _well_formed(result, tmp_path)
    assert all(c["passed"] for c in result["checks"].values()), result["checks"]
