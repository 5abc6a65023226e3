"""Smoke run of benchmarks/device_check.py at its tiny size: every registered measurement gives
rows on the CPU, the table names the device, the JSON is written, and the registry takes rows."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "device_check.py"


@pytest.fixture(scope="module")
def device_check():
    spec = importlib.util.spec_from_file_location("device_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["device_check"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_tiny_run_measures_everything_on_the_cpu(device_check, tmp_path, capsys):
    result = device_check.run(tmp_path, size="tiny", device="cpu")
    saved = json.loads((tmp_path / "device_check_cpu.json").read_text())
    assert saved["device_name"].startswith("CPU") and saved["size"] == "tiny"
    assert set(saved["measurements"]) == set(device_check.MEASUREMENTS)
    for key, block in result["measurements"].items():
        assert block["rows"], key
        for row in block["rows"]:
            assert row.get("error") is None, (key, row)
            assert row["value"] > 0 and row["device"] == "cpu"
    backends = {r["variant"] for r in result["measurements"]["ensemble_fwd_bwd"]["rows"]}
    assert set(device_check.ENSEMBLE_BACKENDS) <= backends
    table = capsys.readouterr().out
    assert "device: CPU" in table and "| dqn_updates |" in table


def test_registry_takes_new_rows_and_budget_skips(device_check, tmp_path):
    @device_check.measurement("extra_rows")
    def extra(ctx):
        return [{"case": "x", "variant": "y", "value": 1.0, "unit": "ms"}]

    try:
        result = device_check.run(tmp_path, size="tiny", device="cpu", only=("extra_rows",))
        assert list(result["measurements"]) == ["extra_rows"]
        result = device_check.run(
            tmp_path, size="tiny", device="cpu", only=("ensemble_fwd_bwd",), budget_s=0.0
        )
        assert result["skipped_for_time"]  # over budget: cases are skipped and listed
    finally:
        device_check.MEASUREMENTS.pop("extra_rows")
    with pytest.raises(ValueError, match="unknown measurement"):
        device_check.run(tmp_path, size="tiny", device="cpu", only=("nope",))
