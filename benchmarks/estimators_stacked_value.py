"""The value-ensemble study "stacked_value", computed by rlcore.book.estimators.stacked_value.

python benchmarks/estimators_stacked_value.py --out DIR [--quick] [--seed N]
"""

from rlcore.book.estimators import stacked_value
from rlcore.book.report import figure_script

if __name__ == "__main__":
    figure_script(stacked_value, "stacked_value", __doc__, "few datasets: seconds, not minutes")
