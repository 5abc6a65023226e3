"""Figure 9.1 of Sutton & Barto (2018), computed by rlcore.book.ch9.figure_9_1.

python benchmarks/figure_9_1.py --out DIR [--quick] [--seed N]
"""

from rlcore.book.ch9 import figure_9_1
from rlcore.book.report import figure_script

if __name__ == "__main__":
    figure_script(figure_9_1, "Figure 9.1", __doc__)
