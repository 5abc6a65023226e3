"""Lan et al. (2020)'s maximization-bias picture, computed by rlcore.book.ensembles.maxmin_bias:
% left actions by episode for Q-learning, Double Q and Maxmin N = 2, 4, 8, 1,000 runs each.

    python benchmarks/maxmin_bias.py --out DIR [--quick] [--seed N]
"""

import argparse
import json
import time

from rlcore.book.ensembles import maxmin_bias
from rlcore.book.report import write_summary

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="directory for the PNG and summary.md")
    parser.add_argument("--quick", action="store_true", help="200 runs instead of 1,000")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start = time.perf_counter()
    result = maxmin_bias(args.out, quick=args.quick, seed=args.seed)
    print(json.dumps(result["checks"], indent=2))
    print("\n".join(result["notes"]))
    print(f"wall time {time.perf_counter() - start:.1f} s")
    print(f"summary: {write_summary(args.out, [result], title='Maxmin maximization bias')}")
    raise SystemExit(0 if all(c["passed"] for c in result["checks"].values()) else 1)
