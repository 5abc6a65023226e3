"""Benchmarks: suites x seeds -> runs -> aggregate -> report, on a local pool or on Ray.

- ``Suite``, ``Grid``, ``AgentSpec``, ``EnvSpec``, ``Budget``, ``EvalProtocol``: what to run
  (``rlcore.bench.suite``); built-in suites are ``suites.smoke`` and ``suites.classic``.
- ``expand``, ``derive_seed``, ``RunSpec``: a suite as runs with their seeds and ids.
- ``sweep``: run a suite into an output directory, resumable (``rlcore.bench.runner``).
- ``LocalBackend``, ``RayBackend``, ``make_backend``: where runs execute.
- ``write_report``, ``summarize``: statistics, Markdown, PNG, JSON and CSV.
- ``load_suite``: a suite from a registry name or ``file.py:NAME``.

Command line: ``rlcore bench SUITE ...`` and ``rlcore bench report DIR`` (``rlcore.bench.cli``).

The names load on first use (PEP 562), so ``rlcore bench --help`` and the worker processes do not
import scipy or matplotlib, which only the report needs.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "AgentSpec": "suite",
    "Budget": "suite",
    "EnvSpec": "suite",
    "EvalProtocol": "suite",
    "Grid": "suite",
    "Suite": "suite",
    "RunSpec": "expansion",
    "derive_seed": "expansion",
    "expand": "expansion",
    "Backend": "backends",
    "LocalBackend": "backends",
    "RayBackend": "backends",
    "WorkerDied": "backends",
    "make_backend": "backends",
    "OutputDirError": "runner",
    "SweepResult": "runner",
    "sweep": "runner",
    "summarize": "report",
    "write_report": "report",
    "load_suite": "load",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'rlcore.bench' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"rlcore.bench.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
