"""Figure 12.8 of Sutton & Barto (2018), computed by rlcore.book.ch12.figure_12_8.

python benchmarks/figure_12_8.py --out DIR [--quick] [--seed N]
"""

from rlcore.book.ch12 import figure_12_8
from rlcore.book.report import figure_script

if __name__ == "__main__":
    figure_script(figure_12_8, "Figure 12.8", __doc__)
