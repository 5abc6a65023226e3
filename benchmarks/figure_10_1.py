"""Figure 10.1 of Sutton & Barto (2018), computed by rlcore.book.ch10.figure_10_1.

python benchmarks/figure_10_1.py --out DIR [--quick] [--seed N]
"""

from rlcore.book.ch10 import figure_10_1
from rlcore.book.report import figure_script

if __name__ == "__main__":
    figure_script(figure_10_1, "Figure 10.1", __doc__)
