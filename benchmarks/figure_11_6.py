"""Figure 11.6 of Sutton & Barto (2018), computed by rlcore.book.ch11.figure_11_6.

python benchmarks/figure_11_6.py --out DIR [--quick] [--seed N]
"""

from rlcore.book.ch11 import figure_11_6
from rlcore.book.report import figure_script

if __name__ == "__main__":
    figure_script(figure_11_6, "Figure 11.6", __doc__)
