"""The value-ensemble study "opera", computed by rlcore.book.estimators.opera.

python benchmarks/estimators_opera.py --out DIR [--quick] [--seed N]
"""

from rlcore.book.estimators import opera
from rlcore.book.report import figure_script

if __name__ == "__main__":
    figure_script(opera, "opera", __doc__, "few datasets: seconds, not minutes")
