"""Figures 12.3, 12.6 and 12.8 through the batched engine: quick smoke runs, and the book's
settings (slow)."""

from pathlib import Path

import pytest
from figure_contract import well_formed

import rlcore

FIGURES = ("figure_12_3", "figure_12_6", "figure_12_8")


def _well_formed(result: dict, out: Path) -> None:
    well_formed(result, out, FIGURES)


@pytest.mark.parametrize("name", FIGURES)
def test_quick_figure(name, tmp_path):
    _well_formed(rlcore.get(f"figures.{name}")(tmp_path, quick=True, seed=1), tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", FIGURES)
def test_book_settings_pass_their_checks(name, tmp_path):
    result = rlcore.get(f"figures.{name}")(tmp_path, seed=0)
    _well_formed(result, tmp_path)
    assert all(c["passed"] for c in result["checks"].values()), result["checks"]
