"""Figure 6.5 of Sutton & Barto (2018), computed by rlcore.book.ch6.figure_6_5.

python benchmarks/figure_6_5.py --out DIR [--quick] [--seed N]
"""

from rlcore.book.ch6 import figure_6_5
from rlcore.book.report import figure_script

if __name__ == "__main__":
    figure_script(figure_6_5, "Figure 6.5", __doc__)
