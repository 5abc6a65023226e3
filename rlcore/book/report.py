"""Reports of book-figure reproductions: checks against the book, and a Markdown summary."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NoReturn


def check(
    value: float, expected: float, tolerance: float, *, source: str = "book"
) -> dict[str, Any]:
    """One headline check: passed when |value - expected| <= tolerance.

    Args:
        value: what the reproduction computed.
        expected: the book's number (``source="book"``) or a ground truth derived independently
            (``source="derived"``: a closed form, an exact solve, a theorem).
        tolerance: the stated tolerance (say in the figure's notes where it comes from).
    """
    value, expected, tolerance = float(value), float(expected), float(tolerance)
    passed = math.isfinite(value) and abs(value - expected) <= tolerance * (1 + 1e-9) + 1e-15
    return {
        "value": value,
        "expected": expected,
        "tolerance": tolerance,
        "passed": bool(passed),
        "source": source,
    }


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def describe_expectation(c: dict[str, Any]) -> tuple[str, str]:
    """(expected, tolerance) as shown to a person: an interval check reads "in [low, high]"."""
    if "low" in c and "high" in c:
        high = "inf" if c["high"] >= 1e5 else _fmt(c["high"])
        return f"in [{_fmt(c['low'])}, {high}]", "-"
    return _fmt(c["expected"]), f"+- {_fmt(c['tolerance'])}"


def _verdict(passed: bool, quick: bool) -> str:
    if passed:
        return "yes"
    return "*smoke run only* (quick settings)" if quick else "**NO**"


_NUMPY_SCALAR_REPR = re.compile(r"np\.(?:u?int\d*|float\d*|bool_?|str_)\(([^()]*)\)")


def plain_numbers(text: str) -> str:
    """``text`` with NumPy scalar reprs (``np.int64(3)``, ``np.float64(0.5)``, which a note
    gets when it formats a tuple or list of NumPy scalars) written as plain numbers (``3``)."""
    text = _NUMPY_SCALAR_REPR.sub(r"\1", str(text))
    return text.replace("np.True_", "True").replace("np.False_", "False")


def write_summary(
    out_dir: str | Path,
    results: Iterable[dict[str, Any]],
    title: str = "Book figures",
    *,
    quick: bool = False,
) -> Path:
    """Write ``summary.md`` (a table of checks and a link to each PNG) and ``checks.json``.

    Args:
        out_dir: the directory the figures were written to; links are relative to it.
        results: figure result dicts (see ``rlcore.book``): "figure", "checks" and optionally
            "title", "png" and "notes".
        title: the page heading.
        quick: the figures ran with ``quick=True``: say that the checks are indicative.

    Returns:
        The path of ``summary.md``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = list(results)
    n_checks = sum(len(r.get("checks", {})) for r in results)
    n_failed = sum(not c["passed"] for r in results for c in r.get("checks", {}).values())
    lines = [f"# {title}", "", f"{n_checks - n_failed} of {n_checks} checks passed.", ""]
    if quick:
        lines += [
            "Quick settings (few runs, short budgets): a smoke run. A check marked *smoke run "
            "only* missed here because quick settings cannot hold the book's number; run without "
            "`--quick` to hold every figure to the book's settings.",
            "",
        ]
    for r in results:
        lines += [f"## {r['figure']}" + (f": {r['title']}" if r.get("title") else ""), ""]
        for png in r.get("pngs") or ([r["png"]] if r.get("png") else []):
            png, root = Path(png).resolve(), out.resolve()
            link = png.relative_to(root) if png.is_relative_to(root) else png
            lines += [f"![{r['figure']}]({link.as_posix()})", ""]
        checks = r.get("checks", {})
        if checks:
            lines += [
                "| check | value | expected | tolerance | source | passed |",
                "|---|---|---|---|---|---|",
            ]
            for name, c in checks.items():
                name = name.replace("|", "\\|")  # a pipe would end the table cell
                expected, tolerance = describe_expectation(c)
                lines.append(
                    f"| {name} | {_fmt(c['value'])} | {expected} | {tolerance} | "
                    f"{c.get('source', 'book')} | {_verdict(c['passed'], quick)} |"
                )
            lines.append("")
        lines += [f"- {plain_numbers(note)}" for note in r.get("notes", ())]
        if r.get("notes"):
            lines.append("")
    summary = out / "summary.md"
    summary.write_text("\n".join(lines))
    payload = [
        {
            **{k: r.get(k) for k in ("figure", "title", "pngs", "png", "checks")},
            "notes": [plain_numbers(note) for note in r.get("notes", ())],
        }
        for r in results
    ]
    (out / "checks.json").write_text(json.dumps(payload, indent=2, default=str))
    return summary


def figure_script(
    figure: Callable[..., dict[str, Any]],
    title: str,
    description: str,
    quick_help: str = "few runs: seconds, not minutes",
) -> NoReturn:
    """The command line of a thin ``benchmarks/<figure>.py`` script:
    ``--out DIR [--quick] [--seed N]`` runs one figure function, prints its checks (JSON) and
    notes, writes ``summary.md`` and exits with 1 if a check failed. Math threads are pinned to
    one, as ``rlcore figures`` does (``rlcore.bench.worker.one_thread``)."""
    import argparse

    from rlcore.bench.worker import one_thread

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", required=True, help="directory for the PNGs and summary.md")
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    one_thread()
    result = figure(args.out, quick=args.quick, seed=args.seed)
    print(json.dumps(result["checks"], indent=2))
    print("\n".join(result.get("notes", [])))
    print(f"summary: {write_summary(args.out, [result], title=title)}")
    raise SystemExit(0 if all(c["passed"] for c in result["checks"].values()) else 1)
