# rlcore: the README's two commands are `make run` and `make test`.
# Both create (or refresh, when pyproject.toml or the constraints change) the virtual
# environment .venv and install rlcore with pinned dependencies into it.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
OUT    ?= out

.PHONY: setup run test test-slow lint clean d3rlpy-venv

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements/constraints.txt
	$(PYTHON) -m venv $(VENV)
	# torch first and pinned: a CPU machine must not resolve a multi-GB CUDA build.
	$(PY) -m pip install --quiet --disable-pip-version-check -c requirements/constraints.txt "torch==2.13.0"
	$(PY) -m pip install --quiet --disable-pip-version-check -c requirements/constraints.txt -e ".[test,ray,sklearn,zuko,fast,mujoco]"
	touch $@

# The main job: every book figure at quick settings (PNGs + summary.md with the checked
# numbers; chapter 4 is exact DP and runs in full) and the smoke benchmark suite (report.md
# with confidence intervals). Book settings: `rlcore figures ch5 ... --out DIR` without --quick.
run: setup
	$(VENV)/bin/rlcore figures ch4 ch5 ch6 ch7 ch8 ch9 ch10 ch11 ch12 --quick --out $(OUT)/figures
	$(VENV)/bin/rlcore bench suites.smoke --out $(OUT)/bench-smoke --overwrite --quiet
	@echo "Figures: $(OUT)/figures/summary.md   Benchmark: $(OUT)/bench-smoke/report.md"

# d3rlpy 2.8.1 (the offline peer of benchmarks/offline_pendulum.py) pins gymnasium==1.0.0, which
# conflicts with rlcore's gymnasium, so it gets a venv of its own, driven in a subprocess:
# `benchmarks/offline_pendulum.py --d3rlpy-python $(D3RLPY_VENV)/bin/python`.
D3RLPY_VENV ?= .venv-d3rlpy

d3rlpy-venv: $(D3RLPY_VENV)/.installed

$(D3RLPY_VENV)/.installed:
	$(PYTHON) -m venv $(D3RLPY_VENV)
	$(D3RLPY_VENV)/bin/python -m pip install --quiet --disable-pip-version-check "torch==2.13.0"
	$(D3RLPY_VENV)/bin/python -m pip install --quiet --disable-pip-version-check "torch==2.13.0" "d3rlpy==2.8.1"
	touch $@

test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -q

test-slow: setup
	$(VENV)/bin/pytest -q -m slow

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check rlcore envs

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .hypothesis
