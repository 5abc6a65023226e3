"""REDQ against SAC on Pendulum-v1 (or ``--env InvertedPendulum-v5``, the ``mujoco`` extra):
sample efficiency (env steps to a return of -200, or to the env's reward_threshold) and ms per
env step, side by side (the arms, flags and protocol of ``sac_vs_sb3.py``).

    .venv/bin/python benchmarks/redq_vs_sac.py --out out/redq_vs_sac [--seeds 5] [--steps 15000]
    .venv/bin/python benchmarks/redq_vs_sac.py --out out/redq_speed --speed --speed-steps 40
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sac_vs_sb3 import main  # noqa: E402

if __name__ == "__main__":
    main(default_arms=("rlcore_sac", "rlcore_redq", "rlcore_sac_utd20"))
