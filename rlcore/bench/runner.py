"""A sweep: a suite's runs through a backend into one output directory, resumable at any moment.

Output layout::

    OUT/suite.json            the suite (registry names, configs), its hash and the run ids
    OUT/runs/RUN_ID/          one directory per run, complete or absent:
        config.json           the RunSpec (agent and env by registry name / gymnasium id, seed)
        status.json           done | failed | crashed, exit status, scores or the traceback
        history.json, episodes.csv, metrics.csv, events.out.tfevents.*   (rlcore.run's logdir)
        eval/...              the greedy evaluation episodes, when the protocol has them
    OUT/sweep.json            timings of the last invocation (not part of the report)
    OUT/report.md, summary.json, summary.csv, plots/*.png   (rlcore.bench.report)

Reliability. A run directory appears by one ``rename`` of a scratch directory that already
holds every file, ``status.json`` written last, so a run either looks finished or does not exist;
a sweep killed at any moment (SIGKILL included) leaves at most scratch directories, which the next
``--resume`` deletes before it redoes exactly the runs without a ``done`` status (failed and
crashed runs are retried). Runs are pure functions of their RunSpec, so the resumed sweep's report
equals an uninterrupted one's. A lock file keeps two sweeps out of one directory.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlcore.bench.backends import Backend, LocalBackend, WorkerDied
from rlcore.bench.expansion import RunSpec, expand
from rlcore.bench.outdir import FORMAT, MANIFEST, VERSION, OutputDirError, read_manifest, run_status
from rlcore.bench.suite import Suite
from rlcore.bench.worker import execute_run, import_extra
from rlcore.checkpoint import atomic_write_text


@dataclass(frozen=True)
class SweepResult:
    """What a call of ``sweep`` did."""

    out: Path
    total: int
    skipped: int
    done: int
    failed: tuple[str, ...]
    wall_time: float
    report: Path | None


# -- validation before any run starts -------------------------------------------------------------
def validate_suite(suite: Suite, *, build: bool = True) -> None:
    """Check every agent name, env id and config before the sweep starts.

    Args:
        suite: the suite.
        build: also build every (agent, env) cell once, as a run would (catches bad config
            values and agents that do not fit an env's spaces, e.g. a tabular agent on a Box).

    Raises:
        rlcore.UnknownNameError: an unknown agent name ("did you mean").
        ValueError: an unknown env id (with close matches), or a cell that cannot be built.
    """
    import difflib

    import gymnasium as gym

    from rlcore import registry
    from rlcore.loop import make_env

    for module in suite.imports:
        import_extra(module)
    for agent, env, _ in suite.cells:
        if not callable(registry.get(agent.name)):
            raise TypeError(f"{agent.name!r} is not an agent or policy class")
        if env.id not in gym.registry:
            close = difflib.get_close_matches(env.id, list(gym.registry), n=3, cutoff=0.5)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise ValueError(
                f"unknown environment id {env.id!r} in suite {suite.name!r}.{hint} List ids "
                "with `rlcore envs --all`."
            )
    if not build:
        return
    for agent, env, _ in suite.cells:
        try:
            instance = make_env(env.id, **env.kwargs)
            try:
                registry.make(agent.name, instance, seed=0, **agent.config)
            finally:
                instance.close()
        except Exception as err:
            raise ValueError(
                f"suite {suite.name!r}: cannot build {agent.name} with config "
                f"{dict(agent.config)} on {env.id} {dict(env.kwargs) or ''}: "
                f"{type(err).__name__}: {err}"
            ) from err


# -- the output directory -------------------------------------------------------------------------
@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    """An exclusive lock on OUT/.lock for the sweep's lifetime (released by the OS on a kill)."""
    if sys.platform == "win32":  # pragma: no cover - no fcntl; nothing else to lock with here
        yield
        return
    import fcntl

    with open(out / ".lock", "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputDirError(
                f"another rlcore bench is writing to {out}; wait for it or choose another --out"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _prepare(out: Path, suite: Suite, runs: tuple[RunSpec, ...], resume: bool, overwrite: bool):
    manifest = read_manifest(out)
    if manifest is not None:
        same = manifest["hash"] == suite.hash
        if overwrite:
            for name in ("runs", ".work", "plots"):
                shutil.rmtree(out / name, ignore_errors=True)
            for name in (MANIFEST, "sweep.json", "report.md", "summary.json", "summary.csv"):
                (out / name).unlink(missing_ok=True)
        elif not same:
            raise OutputDirError(
                f"{out} holds results of suite {manifest['suite']['name']!r} (hash "
                f"{manifest['hash']}, {manifest['suite']['seeds']} seeds), not of suite "
                f"{suite.name!r} (hash {suite.hash}, {suite.seeds} seeds). Choose another --out, "
                "or pass --overwrite to delete those results."
            )
        elif not resume:
            raise OutputDirError(
                f"{out} already holds results of suite {suite.name!r} (hash {suite.hash}); pass "
                "--resume to finish it (finished runs are kept), or --overwrite to start over."
            )
    elif any(p.name != ".lock" for p in out.iterdir()):
        raise OutputDirError(
            f"{out} is not empty and holds no rlcore bench results ({MANIFEST} is missing); "
            "choose an empty or new --out directory."
        )
    if read_manifest(out) is None:
        data = {
            "format": FORMAT,
            "version": VERSION,
            "hash": suite.hash,
            "suite": suite.to_dict(),
            "runs": [r.run_id for r in runs],
        }
        atomic_write_text(out / MANIFEST, json.dumps(data, indent=1))
    runs_dir = out / "runs"
    runs_dir.mkdir(exist_ok=True)
    shutil.rmtree(out / ".work", ignore_errors=True)  # scratch of killed workers
    for leftover in runs_dir.glob(".*"):  # scratch of a killed parent
        shutil.rmtree(leftover, ignore_errors=True)


# -- recording one outcome ------------------------------------------------------------------------
def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def record(out: Path, spec: RunSpec, status: dict[str, Any], files: dict[str, bytes]) -> Path:
    """Write one run's directory atomically: scratch directory, status last, then one rename."""
    runs_dir = out / "runs"
    scratch = runs_dir / f".tmp-{spec.run_id}-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    config = {"format": "rlcore-bench-run", "version": VERSION, "run": spec.to_dict()}
    _write(scratch / "config.json", json.dumps(config, indent=1).encode())
    for rel, data in files.items():
        target = (scratch / rel).resolve()
        if scratch.resolve() not in target.parents or rel in ("config.json", "status.json"):
            raise ValueError(f"run {spec.run_id} returned a file outside its directory: {rel!r}")
        _write(target, data)
    _write(scratch / "status.json", json.dumps(status, indent=1).encode())
    final = runs_dir / spec.run_id
    if final.exists():  # an earlier failed or crashed attempt: replace it
        old = runs_dir / f".old-{spec.run_id}-{os.getpid()}"
        os.replace(final, old)
        shutil.rmtree(old)
    os.replace(scratch, final)
    return final


def _crash_status(spec: RunSpec, died: WorkerDied) -> dict[str, Any]:
    return {
        "status": "crashed",
        "exit_status": died.exit_status,
        "error": died.message,
        "traceback": "",
        "run_id": spec.run_id,
    }


# -- the sweep ------------------------------------------------------------------------------------
def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def sweep(
    suite: Suite,
    out: str | Path,
    *,
    backend: Backend | None = None,
    resume: bool = False,
    overwrite: bool = False,
    report: bool = True,
    log: Callable[[str], None] | None = _stderr,
) -> SweepResult:
    """Run every run of ``suite`` not yet finished in ``out``, then write the report.

    Args:
        suite: the suite (``Suite.with_seeds`` to change the seed count).
        out: output directory (created); see the module docstring for its layout.
        backend: where runs execute (default: ``LocalBackend()``); entered and closed here.
        resume: continue a sweep of the same suite (same hash) in ``out``.
        overwrite: delete the results already in ``out`` and start over.
        report: write the report at the end (``rlcore.bench.report.write_report``).
        log: receives one line per finished run (None: silent).

    Raises:
        OutputDirError: ``out`` holds another suite's results, or this suite's without
            ``resume``, or another sweep is writing to it.
    """
    if not isinstance(suite, Suite):
        raise TypeError(f"sweep() needs a Suite, got {type(suite).__name__}")
    validate_suite(suite)
    out = Path(out).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    log = log or (lambda line: None)
    runs = expand(suite)
    started = time.time()
    t0 = time.perf_counter()
    with _locked(out):
        _prepare(out, suite, runs, resume, overwrite)
        pending = [r for r in runs if (run_status(out, r.run_id) or {}).get("status") != "done"]
        skipped = len(runs) - len(pending)
        if skipped:
            log(f"resuming: {skipped} of {len(runs)} runs already done, {len(pending)} to run")
        backend = backend if backend is not None else LocalBackend()
        finished, failed = _execute_pending(out, pending, backend, log, skipped, len(runs))
        shutil.rmtree(out / ".work", ignore_errors=True)  # scratch of workers that died
        wall = time.perf_counter() - t0
        atomic_write_text(
            out / "sweep.json",
            json.dumps(
                {
                    "started": started,
                    "wall_time": wall,
                    "backend": backend.name,
                    "workers": backend.workers,
                    "runs": len(runs),
                    "skipped": skipped,
                    "ran": finished,
                    "failed": failed,
                },
                indent=1,
            ),
        )
        report_path = None
        if report:
            from rlcore.bench.report import write_report  # lazy: scipy, matplotlib

            report_path = write_report(out)
    return SweepResult(
        out, len(runs), skipped, finished - len(failed), tuple(failed), wall, report_path
    )


def _execute_pending(
    out: Path,
    pending: list[RunSpec],
    backend: Backend,
    log: Callable[[str], None],
    skipped: int,
    total: int,
) -> tuple[int, list[str]]:
    """Run ``pending`` on ``backend`` (entered and closed here), recording each outcome in
    ``out`` as it arrives; returns (runs finished, run ids that failed)."""
    fn = functools.partial(execute_run, work_root=str(out / ".work"))
    if backend.name != "local":
        fn = functools.partial(execute_run, work_root=None)  # nodes may not share OUT
    failed: list[str] = []
    finished = 0
    with backend:
        outcomes = backend.map_unordered(fn, [r.to_dict() for r in pending])
        for i, outcome in outcomes:
            spec = pending[i]
            if isinstance(outcome, WorkerDied):
                status, files = _crash_status(spec, outcome), {}
            else:
                status, files = outcome["status"], outcome["files"]
            record(out, spec, status, files)
            finished += 1
            if status["status"] != "done":
                failed.append(spec.run_id)
                detail = status.get("error", "")
            else:
                score = status.get("score")
                detail = f"score {score:.4g}" if score is not None else "no finished episode"
            log(f"[{skipped + finished}/{total}] {status['status']:<7} {spec.run_id}: {detail}")
    return finished, failed
