"""Example 6.6 (Figure 6.4 in the issue) of Sutton & Barto (2018), computed by rlcore.book.ch6.example_6_6.

    python benchmarks/figure_6_4.py --out DIR [--quick] [--seed N]
"""

import argparse
import json

from rlcore.book.ch6 import example_6_6
from rlcore.book.report import write_summary

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="directory for the PNGs and summary.md")
    parser.add_argument("--quick", action="store_true", help="few runs: seconds, not minutes")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    result = example_6_6(args.out, quick=args.quick, seed=args.seed)
    print(json.dumps(result["checks"], indent=2))
    print(f"summary: {write_summary(args.out, [result], title='Example 6.6 (Figure 6.4 in the issue)')}")
    raise SystemExit(0 if all(c["passed"] for c in result["checks"].values()) else 1)
