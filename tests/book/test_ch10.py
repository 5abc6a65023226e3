"""Chapter 10 figures (Mountain Car) and Figure 12.10: helpers, quick smoke runs (contract only;
their checks run on a handful of episodes and are not required to pass) and the book's settings
(slow: every check must pass, except the known differences listed with their reasons)."""

import numpy as np
import pytest
from figure_contract import well_formed

import rlcore
from rlcore.approximation.features import StateActionFeatures
from rlcore.approximation.mountain_car import mountain_car_step
from rlcore.book import ch10

FIGURES = ("figure_10_1", "figure_10_2", "figure_10_4", "figure_12_10")
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {}


def test_the_books_tile_coder_has_8_tilings_of_9_by_9_tiles():
    coder = ch10.mountain_car_tiles()
    assert coder.n_tilings == 8 and coder.n_features == 8 * 9 * 9 and not coder.hashing
    assert StateActionFeatures(coder, 3).n_features == 1944


def test_greedy_rollout_follows_the_dynamics():
    coder = ch10.mountain_car_tiles()
    w = np.zeros(3 * coder.n_features)
    w[2 * coder.n_features :] = 1.0  # always push right (action 2)
    starts = np.array([[-0.5, 0.0], [0.45, 0.05]])
    steps, reached = ch10.greedy_rollout(w, coder, starts, limit=500)
    for s0, n, ok in zip(starts, steps, reached):
        s, k = s0.copy(), 0
        while True:
            s, _, term = mountain_car_step(s, np.array(2))
            k += 1
            if term or k >= 500:
                break
        assert (n, ok) == (k, bool(term))
    _, _, c = ch10.cost_to_go(w, coder, n=5)
    np.testing.assert_allclose(c, -8.0)  # -max_a q = -(8 active tiles x 1)


@pytest.mark.parametrize("name", FIGURES)
def test_quick_figure_writes_pngs_and_well_formed_checks(name, tmp_path):
    well_formed(rlcore.get(f"figures.{name}")(tmp_path, quick=True, seed=1), tmp_path, FIGURES)


@pytest.mark.slow
@pytest.mark.parametrize("name", FIGURES)
def test_book_settings_pass_their_checks(name, tmp_path):
    result = rlcore.get(f"figures.{name}")(tmp_path, seed=0)
    well_formed(result, tmp_path, FIGURES)
    for check, c in result["checks"].items():
        if (name, check) in KNOWN_DIFFERENCES:
            assert not c["passed"], f"{name}/{check} now passes: remove it from KNOWN_DIFFERENCES"
        else:
            assert c["passed"], (name, check, c)
