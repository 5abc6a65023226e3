"""Figure 12.3 of Sutton & Barto (2018), computed by rlcore.book.ch12.figure_12_3.

python benchmarks/figure_12_3.py --out DIR [--quick] [--seed N]
"""

from rlcore.book.ch12 import figure_12_3
from rlcore.book.report import figure_script

if __name__ == "__main__":
    figure_script(figure_12_3, "Figure 12.3", __doc__)
