"""Figure 11.2 of Sutton & Barto (2018), computed by rlcore.book.ch11.figure_11_2.

python benchmarks/figure_11_2.py --out DIR [--quick] [--seed N]
"""

from rlcore.book.ch11 import figure_11_2
from rlcore.book.report import figure_script

if __name__ == "__main__":
    figure_script(figure_11_2, "Figure 11.2", __doc__)
