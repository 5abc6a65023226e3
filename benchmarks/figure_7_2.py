"""Figure 7.2 of Sutton & Barto (2018), computed by rlcore.book.ch7.figure_7_2.

python benchmarks/figure_7_2.py --out DIR [--quick] [--seed N]
"""

from rlcore.book.ch7 import figure_7_2
from rlcore.book.report import figure_script

if __name__ == "__main__":
    figure_script(figure_7_2, "Figure 7.2", __doc__)
