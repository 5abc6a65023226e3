"""The layout of a sweep's output directory, read by both the runner and the report.

``OUT/suite.json`` (the manifest: format, version, suite hash, run ids) and
``OUT/runs/RUN_ID/status.json`` (one finished run). ``rlcore.bench.runner`` writes them;
``rlcore.bench.report`` reads them; this module sits below both so that neither imports the other
for them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MANIFEST = "suite.json"
FORMAT = "rlcore-bench"
VERSION = 1


class OutputDirError(ValueError):
    """The output directory cannot take this sweep (another suite's results, or in use)."""


def read_manifest(out: Path) -> dict[str, Any] | None:
    file = out / MANIFEST
    if not file.is_file():
        return None
    data = json.loads(file.read_text())
    if data.get("format") != FORMAT:
        raise OutputDirError(
            f"{file} is not an rlcore bench manifest (format {data.get('format')!r})"
        )
    return data


def run_status(out: Path, run_id: str) -> dict[str, Any] | None:
    """The status of a finished run (done, failed or crashed), or None if it has not finished."""
    file = out / "runs" / run_id / "status.json"
    return json.loads(file.read_text()) if file.is_file() else None
