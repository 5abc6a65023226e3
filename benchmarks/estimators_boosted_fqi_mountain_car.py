"""The value-ensemble study "boosted_fqi_mountain_car" (FQI vs boosted FQI on Mountain Car with
tile coding), computed by rlcore.book.estimators.boosted_fqi_mountain_car.

    python benchmarks/estimators_boosted_fqi_mountain_car.py --out DIR [--quick] [--seed N]

BLAS is pinned to one thread: the 648 x 648 factorisations are small, and on a shared machine a
multi-threaded BLAS is slower, not faster.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402

from rlcore.book.estimators import boosted_fqi_mountain_car  # noqa: E402
from rlcore.book.report import write_summary  # noqa: E402

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="directory for the PNGs and summary.md")
    parser.add_argument("--quick", action="store_true", help="few datasets: seconds, not minutes")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    result = boosted_fqi_mountain_car(args.out, quick=args.quick, seed=args.seed)
    print(json.dumps(result["checks"], indent=2))
    print("\n".join(result["notes"]))
    print(f"summary: {write_summary(args.out, [result], title='boosted_fqi_mountain_car')}")
    raise SystemExit(0 if all(c["passed"] for c in result["checks"].values()) else 1)
