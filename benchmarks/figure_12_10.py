"""Figure 12.10 of Sutton & Barto (2018), computed by rlcore.book.ch12_approx.figure_12_10.

python benchmarks/figure_12_10.py --out DIR [--quick] [--seed N]
"""

from rlcore.book.ch12_approx import figure_12_10
from rlcore.book.report import figure_script

if __name__ == "__main__":
    figure_script(figure_12_10, "Figure 12.10", __doc__)
