"""The Maxmin maximization-bias figure: a quick run is well formed; the full run's checks pass."""

import pytest
from figure_contract import well_formed

import rlcore


def test_quick_maxmin_bias_writes_a_png_and_well_formed_checks(tmp_path):
    result = rlcore.get("figures.maxmin_bias")(tmp_path, quick=True, seed=1)
    well_formed(result, tmp_path, ("maxmin_bias",))
    assert result["checks"]["maxmin4_left_less_than_n1_episodes_10_20"]["passed"]


@pytest.mark.slow
def test_maxmin_bias_checks_pass_with_1000_runs(tmp_path):
    result = rlcore.get("figures.maxmin_bias")(tmp_path, seed=0)
    assert all(c["passed"] for c in result["checks"].values()), result["checks"]
