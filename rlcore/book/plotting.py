"""What the chapter 5-12 figure modules share: Agg plotting, confidence bands, checks, results.

- ``pyplot()``: matplotlib with the Agg backend (no display needed).
- ``band(ax, x, values, label)``: the mean over runs with its confidence band
  (``rlcore.stats.mean_ci`` per point), the way every learning curve is drawn.
- ``within(value, low, high)``: a check that passes when ``low <= value <= high`` (an ordering
  claim of the book, e.g. "TD beats MC", is a difference that must exceed its own spread);
  ``close(value, expected, tolerance)`` is ``rlcore.book.report.check``.
- ``spread(values)``: the CI half-width of a mean over runs, the usual tolerance.
- ``result(...)``: the figure's return value of the book-figure contract.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rlcore.book.report import check
from rlcore.stats import mean_ci

# Two-sided confidence of the intervals used as tolerances (failing checks are reported, so a
# wide interval hides nothing: it only keeps a correct reproduction from failing by chance).
CONFIDENCE = 0.99


def pyplot() -> Any:
    """matplotlib.pyplot with the Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def band(
    ax: Any,
    x: np.ndarray,
    values: np.ndarray,
    label: str,
    *,
    color: str | None = None,
    confidence: float = 0.95,
    **kwargs: Any,
) -> None:
    """Plot the mean of ``values`` (R, N) over runs against ``x`` (N,) with its CI band."""
    ci = mean_ci(np.asarray(values, dtype=np.float64), axis=0, confidence=confidence)
    (line,) = ax.plot(x, ci.estimate, label=label, color=color, **kwargs)
    ax.fill_between(x, ci.low, ci.high, color=line.get_color(), alpha=0.25, linewidth=0)


def spread(values: np.ndarray, confidence: float = CONFIDENCE) -> float:
    """Half-width of the confidence interval of the mean of ``values`` over runs (axis 0)."""
    ci = mean_ci(np.asarray(values, dtype=np.float64), axis=0, confidence=confidence)
    return float(np.max(np.asarray(ci.high) - np.asarray(ci.estimate)))


def close(value: float, expected: float, tolerance: float, source: str = "book") -> dict:
    """Passed when |value - expected| <= tolerance (``rlcore.book.report.check``)."""
    return check(value, expected, tolerance, source=source)


def within(value: float, low: float, high: float, source: str = "derived") -> dict:
    """Passed when low <= value <= high (stored as midpoint +- half, shown as the interval)."""
    result = check(value, (low + high) / 2, (high - low) / 2, source=source)
    result.update(low=float(low), high=float(high))
    return result


def save(fig: Any, out_dir: str | Path, name: str) -> str:
    """Write ``out_dir/name.png`` and close the figure; returns the path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.png"
    if not fig.get_constrained_layout():
        fig.tight_layout()
    fig.savefig(path, dpi=100)
    pyplot().close(fig)
    return str(path)


def result(
    name: str, title: str, pngs: list[str], checks: dict, notes: list[str]
) -> dict[str, Any]:
    """The contract's result dict (``png`` repeats the first PNG for the summary writer)."""
    return {
        "figure": name,
        "title": title,
        "pngs": pngs,
        "png": pngs[0] if pngs else None,
        "checks": checks,
        "notes": notes,
    }
