"""Figure 8.2 of Sutton & Barto (2018), computed by rlcore.book.ch8.figure_8_2.

python benchmarks/figure_8_2.py --out DIR [--quick] [--seed N]
"""

from rlcore.book.ch8 import figure_8_2
from rlcore.book.report import figure_script

if __name__ == "__main__":
    figure_script(figure_8_2, "Figure 8.2", __doc__)
