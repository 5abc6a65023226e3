"""``rlcore bench``: run a suite, resume it, report on it.

    rlcore bench SUITE [--seeds N] [--backend local|ray] [--workers K] [--ray-address ADDR]
                       [--out DIR] [--resume | --overwrite] [--quiet]
    rlcore bench report DIR
    rlcore bench list

SUITE is a registry name (``suites.smoke``) or ``path/to/file.py:NAME``. Exit status: 0 when every
run finished, 1 when some runs failed (the report lists them), 2 for bad usage.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

DEFAULT_ROOT = "~/rlcore-results"


def default_out(suite_name: str) -> Path:
    """``$RLCORE_RESULTS/SUITE`` (default root ``~/rlcore-results``): never inside a checkout."""
    root = os.environ.get("RLCORE_RESULTS") or DEFAULT_ROOT
    return Path(root).expanduser() / suite_name


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser(prog: str = "rlcore bench") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run a benchmark suite (agents x envs x seeds) and report on it. "
        "`rlcore bench report DIR` re-writes the report of a sweep; `rlcore bench list` lists "
        "the registered suites.",
        epilog="Example: rlcore bench suites.smoke --workers 2 --out /tmp/smoke",
    )
    parser.add_argument(
        "suite", help="registry name (suites.smoke; see `rlcore bench list`) or FILE.py:NAME"
    )
    parser.add_argument(
        "--seeds", type=_positive, default=None, help="seeds per cell (default: the suite's)"
    )
    parser.add_argument(
        "--backend",
        choices=("local", "ray"),
        default="local",
        help="local: a process pool here (default); ray: Ray tasks (pip install 'rlcore[ray]')",
    )
    parser.add_argument(
        "--workers", type=_positive, default=None, help="parallel runs (default: the CPUs)"
    )
    parser.add_argument(
        "--ray-address", default=None, help="an existing Ray cluster (default: a local instance)"
    )
    parser.add_argument(
        "--out",
        default=None,
        help=f"output directory (default: $RLCORE_RESULTS/SUITE or {DEFAULT_ROOT}/SUITE)",
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--resume", action="store_true", help="finish a sweep of the same suite in --out"
    )
    group.add_argument(
        "--overwrite", action="store_true", help="delete the results in --out and start over"
    )
    parser.add_argument("--quiet", action="store_true", help="no line per finished run")
    return parser


def _run(args: argparse.Namespace) -> int:
    from rlcore.bench.backends import make_backend
    from rlcore.bench.load import load_suite
    from rlcore.bench.runner import sweep

    suite = load_suite(args.suite)
    if args.seeds is not None:
        suite = suite.with_seeds(args.seeds)
    if args.ray_address is not None and args.backend != "ray":
        raise ValueError("--ray-address needs --backend ray")
    backend = make_backend(args.backend, workers=args.workers, address=args.ray_address)
    out = Path(args.out).expanduser() if args.out else default_out(suite.name)
    print(
        f"rlcore bench: suite {suite.name} (hash {suite.hash}), {suite.seeds} seeds, backend "
        f"{backend.name} with {backend.workers} workers, into {out}",
        file=sys.stderr,
    )
    result = sweep(
        suite,
        out,
        backend=backend,
        resume=args.resume,
        overwrite=args.overwrite,
        log=None if args.quiet else lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(
        f"{result.done + result.skipped} of {result.total} runs done "
        f"({result.skipped} from before), {len(result.failed)} failed, {result.wall_time:.1f} s"
    )
    print(f"report: {result.report}")
    return 1 if result.failed else 0


def _report(argv: list[str]) -> int:
    from rlcore.bench.report import summarize, write_report

    parser = argparse.ArgumentParser(
        prog="rlcore bench report",
        description="Write report.md, summary.json, summary.csv and plots/ for a sweep directory.",
    )
    parser.add_argument("dir", help="the --out directory of `rlcore bench`")
    args = parser.parse_args(argv)
    path = write_report(Path(args.dir).expanduser())
    summary = summarize(path.parent)
    print(f"report: {path}")
    if summary["failures"] or summary["missing"]:
        print(
            f"{len(summary['failures'])} failed and {len(summary['missing'])} unfinished run(s)",
            file=sys.stderr,
        )
        return 1
    return 0


def _list() -> int:
    from rlcore import registry

    for name in registry.names("suites."):
        suite = registry.get(name)
        runs = suite.seeds * len(suite.cells)
        print(f"{name:<24} {len(suite.cells)} cells x {suite.seeds} seeds = {runs} runs")
    return 0


def bench_main(argv: list[str] | None = None) -> int:
    """Entry point of ``rlcore bench ...``; returns the exit status."""
    from rlcore import registry
    from rlcore.bench.runner import OutputDirError

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["report"]:
            return _report(argv[1:])
        if argv[:1] == ["list"]:
            return _list()
        args = build_parser().parse_args(argv)
        return _run(args)
    except (
        registry.UnknownNameError,
        OutputDirError,
        ValueError,
        TypeError,
        ImportError,
        FileNotFoundError,
    ) as err:
        if os.environ.get("RLCORE_DEBUG"):
            raise
        print(f"rlcore bench: error: {err}", file=sys.stderr)
        return 2


def add_bench_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``bench`` to the ``rlcore`` command's subparsers; it forwards to ``bench_main``.

    Wiring in ``rlcore/cli.py``: ``add_bench_parser(sub)`` in ``build_parser`` (so ``rlcore
    --help`` lists it), and at the top of ``main``, before parsing (argparse's REMAINDER drops
    options that come before the suite name)::

        if argv[:1] == ["bench"]:
            return bench_main(argv[1:])
    """
    p = subparsers.add_parser(
        "bench",
        help="run a benchmark suite, resume it, report on it (`rlcore bench --help`)",
        add_help=False,
    )
    p.add_argument("bench_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=lambda args: bench_main(args.bench_args or ["--help"]))
    return p


if __name__ == "__main__":
    sys.exit(bench_main())
