"""The one check of the figure contract (rlcore/book/__init__.py) shared by the chapter tests."""

from collections.abc import Iterable
from pathlib import Path


def well_formed(result: dict, out: Path, figures: Iterable[str]) -> None:
    """A figure's result names a known figure, wrote its PNGs into ``out`` and carries checks,
    each with a value, an expectation, a non-negative tolerance and a boolean verdict."""
    assert result["figure"] in tuple(figures)
    assert result["pngs"] and all(
        Path(p).is_file() and Path(p).parent == out for p in result["pngs"]
    )
    assert result["png"] == result["pngs"][0]
    assert result["checks"]
    for name, c in result["checks"].items():
        assert set(c) >= {"value", "expected", "tolerance", "passed"}, name
        assert isinstance(c["passed"], bool) and c["tolerance"] >= 0
