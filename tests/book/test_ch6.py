"""Chapter 6 figures through the batched engine: quick smoke runs, and the book's settings (slow).

The quick runs check the contract (PNGs written, checks well formed, names registered); their
checks run on few runs and are not required to pass. With the book's settings every check must
pass except the known differences listed in ``KNOWN_DIFFERENCES`` (each with its reason), which
are asserted to still be reported as failing so that a fix is noticed.
"""

from pathlib import Path

import pytest
from figure_contract import well_formed

import rlcore
from rlcore.book import ch6

FIGURES = ("example_6_2", "figure_6_2", "example_6_5", "example_6_6", "figure_6_3", "figure_6_5")

# (figure, check) -> why our reproduction differs from the book's statement. Empty: with the
# book's settings every check passes. (Example 6.5's late episode length averages about 24
# steps against the book's single run's "about 17"; the check passes because a single run may
# lie 2.58 run-to-run standard deviations from the mean, see ch6.example_6_5.)
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {}


def _well_formed(result: dict, out: Path) -> None:
    well_formed(result, out, FIGURES)


@pytest.mark.parametrize("name", FIGURES)
def test_quick_figure_writes_pngs_and_well_formed_checks(name, tmp_path):
    result = rlcore.get(f"figures.{name}")(tmp_path, quick=True, seed=1)
    _well_formed(result, tmp_path)


def test_figure_6_4_is_the_issues_name_for_example_6_6():
    assert rlcore.get("figures.figure_6_4") is ch6.example_6_6
    assert "figures.example_6_6" in rlcore.names("figures.")


@pytest.mark.slow
@pytest.mark.parametrize("name", FIGURES)
def test_book_settings_pass_their_checks(name, tmp_path):
    result = rlcore.get(f"figures.{name}")(tmp_path, seed=0)
    _well_formed(result, tmp_path)
    for check, c in result["checks"].items():
        if (name, check) in KNOWN_DIFFERENCES:
            assert not c["passed"], f"{name}/{check} now passes: remove it from KNOWN_DIFFERENCES"
        else:
            assert c["passed"], (name, check, c)
