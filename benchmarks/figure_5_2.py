"""Figure 5.2 of Sutton & Barto (2018), computed by rlcore.book.ch5.figure_5_2.

python benchmarks/figure_5_2.py --out DIR [--quick] [--seed N]
"""

from rlcore.book.ch5 import figure_5_2
from rlcore.book.report import figure_script

if __name__ == "__main__":
    figure_script(figure_5_2, "Figure 5.2", __doc__)
