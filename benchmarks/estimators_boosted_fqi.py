"""The value-ensemble study "boosted_fqi", computed by rlcore.book.estimators.boosted_fqi.

    python benchmarks/estimators_boosted_fqi.py --out DIR [--quick] [--seed N]
"""

import argparse
import json

from rlcore.book.estimators import boosted_fqi
from rlcore.book.report import write_summary

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="directory for the PNGs and summary.md")
    parser.add_argument("--quick", action="store_true", help="few datasets: seconds, not minutes")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    result = boosted_fqi(args.out, quick=args.quick, seed=args.seed)
    print(json.dumps(result["checks"], indent=2))
    print("\n".join(result["notes"]))
    print(f"summary: {write_summary(args.out, [result], title='boosted_fqi')}")
    raise SystemExit(0 if all(c["passed"] for c in result["checks"].values()) else 1)
