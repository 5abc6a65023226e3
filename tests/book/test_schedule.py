"""The figure set's expected costs, per-figure progress bars and ETA (rlcore figures)."""

import re
import time

import rlcore
from rlcore.book.schedule import (
    COSTS,
    SetClock,
    expected_cost,
    format_seconds,
    run_figures,
)


def test_every_figure_has_a_measured_cost():
    figures = {n.split(".", 1)[1] for n in rlcore.names("figures.")}
    book = {f for f in figures if re.fullmatch(r"(figure|example)_\d+_\d+", f)}  # not studies
    missing = sorted(f for f in book if f not in COSTS)
    assert not missing, f"add the measured costs of {missing} to rlcore/book/schedule.py COSTS"
    assert expected_cost("figures.figure_4_1", quick=True) == COSTS["figure_4_1"][1]


def test_the_eta_scales_the_remaining_costs_by_the_speed_seen_so_far():
    clock = SetClock([10.0, 20.0, 30.0])
    assert clock.eta() == 60.0
    clock.finish(20.0)  # the first figure took twice its expected cost
    assert clock.speed == 2.0 and clock.eta() == 100.0 and clock.eta(running_for=30.0) == 70.0
    assert format_seconds(42) == "42 s" and format_seconds(185) == "3 min 05 s"
    assert format_seconds(3720) == "1 h 02 min"


def test_run_figures_yields_each_result_with_its_times_and_logs_the_eta(capsys):
    lines = []

    def call(name):
        time.sleep(0.6)  # long enough for the bar's timer to tick once
        return {"figure": name}

    ran = list(
        run_figures(["figures.figure_4_1", "figures.x"], call, quick=True, progress=True,
                    log=lines.append)
    )  # fmt: skip
    assert [r[1]["figure"] for r in ran] == ["figures.figure_4_1", "figures.x"]
    assert all(wall >= 0.6 and cpu >= 0 for _, _, wall, cpu in ran)
    assert lines[0].startswith("2 figure(s) at quick settings; expected")
    assert "[2/2] figures.x" in lines[2] and "set ETA" in lines[2]
    assert "figure_4_1" in capsys.readouterr().err  # the bar, on stderr
