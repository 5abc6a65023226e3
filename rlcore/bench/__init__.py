"""Benchmarks: suites x seeds -> runs -> aggregate -> report, on a local pool or on Ray.

- ``Suite``, ``Grid``, ``AgentSpec``, ``EnvSpec``, ``Budget``, ``EvalProtocol``: what to run
  (``rlcore.bench.suite``); built-in suites are ``suites.smoke`` and ``suites.classic``.
- ``expand``, ``derive_seed``, ``RunSpec``: a suite as runs with their seeds and ids.
- ``sweep``: run a suite into an output directory, resumable (``rlcore.bench.runner``).
- ``LocalBackend``, ``RayBackend``, ``make_backend``: where runs execute.
- ``write_report``, ``summarize``: statistics, Markdown, PNG, JSON and CSV.
- ``load_suite``: a suite from a registry name or ``file.py:NAME``.

Command line: ``rlcore bench SUITE ...`` and ``rlcore bench report DIR`` (``rlcore.bench.cli``).
"""

from rlcore.bench.backends import Backend, LocalBackend, RayBackend, WorkerDied, make_backend
from rlcore.bench.expand import RunSpec, derive_seed, expand
from rlcore.bench.load import load_suite
from rlcore.bench.report import summarize, write_report
from rlcore.bench.runner import OutputDirError, SweepResult, sweep
from rlcore.bench.suite import AgentSpec, Budget, EnvSpec, EvalProtocol, Grid, Suite

__all__ = [
    "AgentSpec",
    "Backend",
    "Budget",
    "EnvSpec",
    "EvalProtocol",
    "Grid",
    "LocalBackend",
    "OutputDirError",
    "RayBackend",
    "RunSpec",
    "Suite",
    "SweepResult",
    "WorkerDied",
    "derive_seed",
    "expand",
    "load_suite",
    "make_backend",
    "summarize",
    "sweep",
    "write_report",
]
