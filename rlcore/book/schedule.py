"""Running a set of book figures: what each is expected to cost, a progress bar per figure and an
ETA for the set (``rlcore figures``).

A figure function runs as one call, so its bar advances with elapsed time against the figure's
measured cost (``COSTS``: CPU seconds of one figure at book and at quick settings, measured on
the project's 2-core machine, one figure per process, seed 0). The set's ETA is the sum of the
remaining figures' costs, scaled by how fast this machine has been so far (elapsed over expected
for the figures already done), so a loaded or faster machine corrects the estimate as it goes.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

# CPU seconds per figure (book settings, quick settings), seed 0, measured on the project's
# 2-core CPU while it was shared (process CPU time, which load inflates far less than wall
# time). Book settings: one figure per process, or within one `rlcore figures all` (4.1-8.5,
# 6.3 apart); quick settings: one `rlcore figures all --quick` (6.3, 9.2, 10.x and 12.10
# re-measured after the compiled loops). Every entry was measured to the end; the figures marked
# "compiled" assume numba (the ``fast`` extra): without it they run the NumPy engines, several
# times slower (6.3 about 1200 s), and the ETA's speed correction cannot foresee that. See the
# README's "Fidelity and finish" table. The ETA rescales every entry by the speed it sees.
COSTS: dict[str, tuple[float, float]] = {
    "figure_4_1": (1.7, 1.4),
    "figure_4_2": (2.4, 2.2),
    "figure_4_3": (0.8, 0.8),
    "figure_5_1": (1.2, 0.8),
    "figure_5_2": (91.2, 5.6),
    "figure_5_3": (1.6, 0.6),
    "figure_5_4": (11.7, 0.4),
    "example_6_2": (1.2, 0.9),
    "example_6_5": (1.2, 1.1),
    "example_6_6": (7.8, 2.1),
    "figure_6_2": (0.8, 0.7),
    "figure_6_3": (54.7, 2.6),  # compiled
    "figure_6_5": (5.2, 1.0),
    "figure_7_2": (30.6, 3.0),
    "figure_8_2": (7.3, 10.1),
    "figure_8_4": (4.5, 5.4),
    "figure_8_5": (33.7, 7.4),
    "figure_9_1": (29.9, 2.9),
    "figure_9_2": (18.8, 1.2),  # compiled (TD(0) panel)
    "figure_9_5": (55.0, 2.5),
    "figure_9_10": (73.6, 4.8),
    "figure_10_1": (4.9, 0.7),  # compiled
    "figure_10_2": (7.4, 0.3),  # compiled
    "figure_10_4": (9.6, 0.3),  # compiled
    "figure_11_2": (1.1, 0.4),
    "figure_11_5": (0.6, 0.5),
    "figure_11_6": (0.3, 0.3),
    "figure_12_3": (22.8, 4.5),
    "figure_12_6": (6.3, 1.5),
    "figure_12_8": (8.8, 1.6),
    "figure_12_10": (14.5, 3.2),  # compiled
    # The ensemble studies (run by name), measured one `rlcore figures` call each with the math
    # threads pinned (boosted_fqi_mountain_car at book settings: its benchmark script, pinned).
    "maxmin_bias": (2.1, 1.0),
    "boosted_fqi": (23.3, 1.9),
    "boosted_fqi_mountain_car": (57.0, 5.3),
    "stacked_value": (301.5, 27.5),
    "opera": (150.5, 3.6),
}
UNKNOWN_COST = 10.0  # a figure not in COSTS (e.g. one added later)


def expected_cost(figure: str, quick: bool) -> float:
    """Expected CPU seconds of ``figure`` (a name like "figure_6_3" or "figures.figure_6_3")."""
    book, fast = COSTS.get(figure.rsplit(".", 1)[-1], (UNKNOWN_COST, UNKNOWN_COST))
    return fast if quick else book


def format_seconds(seconds: float) -> str:
    """ "42 s", "3 min 05 s", "1 h 02 min"."""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@dataclass
class SetClock:
    """The ETA of a set of figures: expected costs, scaled by the speed seen so far."""

    costs: Sequence[float]
    done: int = 0
    elapsed: float = 0.0  # wall seconds of the finished figures
    expected_done: float = 0.0  # their expected costs

    @property
    def speed(self) -> float:
        """Elapsed over expected for the finished figures (1 before any finished)."""
        return self.elapsed / self.expected_done if self.expected_done > 0 else 1.0

    def eta(self, running_for: float = 0.0) -> float:
        """Seconds left for the set, the current figure ``running_for`` seconds in."""
        left = sum(self.costs[self.done :]) * self.speed
        return max(0.0, left - running_for)

    def finish(self, wall: float) -> None:
        self.elapsed += wall
        self.expected_done += self.costs[self.done]
        self.done += 1


def run_figures(
    names: Sequence[str],
    call: Callable[[str], dict[str, Any]],
    *,
    quick: bool,
    progress: bool | None = None,
    log: Callable[[str], None] = print,
) -> Iterator[tuple[str, dict[str, Any], float, float]]:
    """Run ``call(name)`` for each figure name, yielding (name, result, wall seconds, CPU
    seconds of this process: the number ``COSTS`` holds, steady on a loaded machine).

    Prints the set's expected duration first; shows a bar per figure (elapsed time against its
    expected cost, with the set's ETA) when ``progress`` (default: stderr is a terminal).
    """
    costs = [expected_cost(n, quick) for n in names]
    clock = SetClock(costs)
    log(
        f"{len(names)} figure(s) at {'quick' if quick else 'book'} settings; expected "
        f"{format_seconds(sum(costs))} on a 2-core CPU (measured costs; the ETA adapts)."
    )
    if progress is None:
        progress = sys.stderr.isatty()
    for i, name in enumerate(names):
        label = name.rsplit(".", 1)[-1]
        expected = costs[i] * clock.speed
        log(
            f"[{i + 1}/{len(names)}] {name}: expected {format_seconds(expected)}; set ETA "
            f"{format_seconds(clock.eta())}"
        )
        t0, c0 = time.perf_counter(), time.process_time()
        with _TimeBar(label, expected, clock, t0) if progress else _nothing():
            result = call(name)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        clock.finish(wall)
        yield name, result, wall, cpu


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


class _TimeBar:
    """A tqdm bar over a figure's expected seconds, advanced by a timer thread."""

    def __init__(self, label: str, expected: float, clock: SetClock, t0: float) -> None:
        self.label, self.expected, self.clock, self.t0 = label, max(expected, 1e-3), clock, t0
        self._stop = threading.Event()

    def __enter__(self) -> _TimeBar:
        from tqdm.auto import tqdm

        self.bar = tqdm(
            total=round(self.expected, 1),
            desc=self.label,
            unit="s",
            dynamic_ncols=True,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s expected {postfix}",
        )
        self.thread = threading.Thread(target=self._tick, daemon=True)
        self.thread.start()
        return self

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            self._show(time.perf_counter() - self.t0)

    def _show(self, elapsed: float) -> None:
        self.bar.n = min(elapsed, self.bar.total)
        self.bar.set_postfix_str(f"set ETA {format_seconds(self.clock.eta(elapsed))}")

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self.thread.join()
        self.bar.n = self.bar.total
        self.bar.refresh()
        self.bar.close()
