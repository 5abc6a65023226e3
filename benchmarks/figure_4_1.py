"""Figure 4.1 of Sutton & Barto (2018); the computation lives in rlcore.book.ch4.figure_4_1.

python benchmarks/figure_4_1.py --out DIR [--quick] [--seed N]
"""

from rlcore.book.ch4 import figure_4_1
from rlcore.book.report import figure_script

if __name__ == "__main__":
    figure_script(figure_4_1, "Figure 4.1", __doc__)
