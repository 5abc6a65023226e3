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


def test_example_5_5_sampled_from_its_exact_distribution_matches_stepping_the_mdp():
    """Figure 5.4 draws (rho, G) per episode from their exact law; stepping the MDP with the
    batched engine gives the same distribution (ending left with 1/11; rho = 2^T)."""
    from rlcore.book.ch5 import _ratios_and_returns, one_state_ratios_and_returns

    n = 200_000
    pi = np.array([[1.0, 0.0], [1.0, 0.0]])
    b = np.full((2, 2), 0.5)
    rho_s, g_s = _ratios_and_returns(ch5.one_state_mdp(), pi, b, n, np.random.default_rng(1))
    rho_x, g_x = one_state_ratios_and_returns(n, np.random.default_rng(2))
    for rho, g in ((rho_s, g_s), (rho_x, g_x)):
        assert np.all((rho > 0) == (g == 1.0)) and np.all(g[rho == 0] == 0)
        assert abs(g.mean() - 1 / 11) < 4 * np.sqrt((1 / 11) * (10 / 11) / n)
        t = np.log2(rho[rho > 0])
        assert np.all(t == np.round(t)) and t.min() >= 1
    # the law of T given "ended left": geometric(0.55); compare the two samples' frequencies
    t_s = np.log2(rho_s[rho_s > 0]).astype(int)
    t_x = np.log2(rho_x[rho_x > 0]).astype(int)
    for k in range(1, 6):
        p = 0.55 * 0.45 ** (k - 1)
        for t in (t_s, t_x):
            assert abs(np.mean(t == k) - p) < 4 * np.sqrt(p * (1 - p) / t.size)
