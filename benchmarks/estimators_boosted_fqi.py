"""The value-ensemble study "boosted_fqi", computed by rlcore.book.estimators.boosted_fqi.

python benchmarks/estimators_boosted_fqi.py --out DIR [--quick] [--seed N]
"""

from rlcore.book.estimators import boosted_fqi
from rlcore.book.report import figure_script

if __name__ == "__main__":
    figure_script(boosted_fqi, "boosted_fqi", __doc__, "few datasets: seconds, not minutes")
