"""Scalar logging to TensorBoard event files and CSV, without importing torch.

Tags are namespaced: ``charts/...`` for what a run shows (episodic return, length, steps per
second), ``losses/...`` for training losses, anything else under its own prefix.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter


class ScalarLogger:
    """Writes scalars to a TensorBoard event file and ``metrics.csv`` in ``logdir``.

    ``append=True`` (a resumed run) adds rows to an existing ``metrics.csv``.

    Use as a context manager or call ``close()``; ``flush()`` makes events visible to a running
    TensorBoard.
    """

    def __init__(self, logdir: str | Path, *, append: bool = False) -> None:
        self.logdir = Path(logdir)
        self.logdir.mkdir(parents=True, exist_ok=True)
        self._events = EventFileWriter(str(self.logdir))  # a new event file; TensorBoard merges
        path = self.logdir / "metrics.csv"
        header = not (append and path.exists())
        self._csv_file = open(path, "a" if append else "w", newline="")  # noqa: SIM115
        self._csv = csv.writer(self._csv_file)
        if header:
            self._csv.writerow(["tag", "step", "value", "wall_time"])

    def scalar(self, tag: str, value: float, step: int) -> None:
        now = time.time()
        summary = summary_pb2.Summary(
            value=[summary_pb2.Summary.Value(tag=tag, simple_value=float(value))]
        )
        self._events.add_event(event_pb2.Event(wall_time=now, step=int(step), summary=summary))
        self._csv.writerow([tag, int(step), repr(float(value)), f"{now:.3f}"])

    def flush(self) -> None:
        self._events.flush()
        self._csv_file.flush()

    def close(self) -> None:
        self._events.close()
        self._csv_file.close()

    def __enter__(self) -> ScalarLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
