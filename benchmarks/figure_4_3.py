"""Figure 4.3 of Sutton & Barto (2018); the computation lives in rlcore.book.ch4.figure_4_3.

python benchmarks/figure_4_3.py --out DIR [--quick] [--seed N]
"""

from rlcore.book.ch4 import figure_4_3
from rlcore.book.report import figure_script

if __name__ == "__main__":
    figure_script(figure_4_3, "Figure 4.3", __doc__)
