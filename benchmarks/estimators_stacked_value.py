"""The value-ensemble study "stacked_value", computed by rlcore.book.estimators.stacked_value.

    python benchmarks/estimators_stacked_value.py --out DIR [--quick] [--seed N]

BLAS and torch (the neural critic member) run on one thread: the problems are small, and on a
shared machine more threads are slower, not faster.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402

import torch  # noqa: E402

from rlcore.book.estimators import stacked_value  # noqa: E402
from rlcore.book.report import write_summary  # noqa: E402

torch.set_num_threads(1)

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="directory for the PNGs and summary.md")
    parser.add_argument("--quick", action="store_true", help="few datasets: seconds, not minutes")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    result = stacked_value(args.out, quick=args.quick, seed=args.seed)
    print(json.dumps(result["checks"], indent=2))
    print("\n".join(result["notes"]))
    print(f"summary: {write_summary(args.out, [result], title='stacked_value')}")
    raise SystemExit(0 if all(c["passed"] for c in result["checks"].values()) else 1)
