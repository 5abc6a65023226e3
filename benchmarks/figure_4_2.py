"""Figure 4.2 of Sutton & Barto (2018); the computation lives in rlcore.book.ch4.figure_4_2.

    python benchmarks/figure_4_2.py --out DIR
"""

import argparse
import json

from rlcore.book.ch4 import figure_4_2
from rlcore.book.report import write_summary

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="directory for the PNG and summary.md")
    args = parser.parse_args()
    result = figure_4_2(args.out)
    print(json.dumps(result["checks"], indent=2))
    print(f"summary: {write_summary(args.out, [result], title='Figure 4.2')}")
    raise SystemExit(0 if all(c["passed"] for c in result["checks"].values()) else 1)
