"""Figure 8.5 of Sutton & Barto (2018), computed by rlcore.book.ch8.figure_8_5.

python benchmarks/figure_8_5.py --out DIR [--quick] [--seed N]
"""

from rlcore.book.ch8 import figure_8_5
from rlcore.book.report import figure_script

if __name__ == "__main__":
    figure_script(figure_8_5, "Figure 8.5", __doc__)
