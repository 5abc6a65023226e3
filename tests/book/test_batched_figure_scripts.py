"""The thin benchmark scripts of the chapter 5-8 and 12 figures and the engine's speed benchmark:
each compiles, and two run end to end on tiny settings."""

import json
import py_compile
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
SCRIPTS = sorted(
    [p for ch in (5, 6, 7, 8, 12) for p in BENCH.glob(f"figure_{ch}_*.py")]
    + list(BENCH.glob("example_6_*.py"))
    + [BENCH / "batched_speedup.py"]
)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_compiles(script, tmp_path):
    py_compile.compile(str(script), cfile=str(tmp_path / "x.pyc"), doraise=True)


def test_figure_script_runs_quick(tmp_path):
    done = subprocess.run(
        [sys.executable, str(BENCH / "figure_5_3.py"), "--out", str(tmp_path), "--quick"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode in (0, 1), done.stderr  # 1: a check failed (reported, not hidden)
    assert (tmp_path / "figure_5_3.png").exists() and (tmp_path / "summary.md").exists()


def test_speedup_script_reports_both_timings_and_statistics(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH / "batched_speedup.py"),
            "--out",
            str(tmp_path),
            "--runs",
            "4",
            "--scalar-runs",
            "2",
            "--repeats",
            "1",
            "--episodes",
            "120",
            "--algorithms",
            "q_learning",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    (row,) = json.loads((tmp_path / "batched_speedup.json").read_text())
    assert row["runs"] == 4 and row["scalar_runs_measured"] == 2
    assert row["speedup_cpu"] > 0 and row["batched_reward_101_500"]["mean"] < 0
    assert row["slowest_over_mean_steps"] >= 1


@pytest.mark.parametrize("value, status", [(1.0, 0), (5.0, 1)])
def test_figure_script_reports_and_exits_by_the_checks(value, status, tmp_path, monkeypatch):
    """rlcore.book.report.figure_script, the body of every thin figure script: passes --quick
    and --seed through, writes summary.md, exits 1 when a check fails."""
    from rlcore.book.plotting import result, within
    from rlcore.book.report import figure_script

    seen = {}

    def fake(out_dir, *, quick, seed):
        seen.update(quick=quick, seed=seed)
        return result("fake", "A fake figure", [], {"in_range": within(value, 0.0, 2.0)}, [])

    monkeypatch.setattr(sys, "argv", ["x", "--out", str(tmp_path), "--quick", "--seed", "3"])
    with pytest.raises(SystemExit) as exit_:
        figure_script(fake, "Fake", "doc")
    assert exit_.value.code == status and seen == {"quick": True, "seed": 3}
    assert (tmp_path / "summary.md").exists()
