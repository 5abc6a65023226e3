"""Example 6.6 (Figure 6.4 in the issue) of Sutton & Barto (2018), computed by rlcore.book.ch6.example_6_6.

python benchmarks/figure_6_4.py --out DIR [--quick] [--seed N]
"""

from rlcore.book.ch6 import example_6_6
from rlcore.book.report import figure_script

if __name__ == "__main__":
    figure_script(example_6_6, "Example 6.6 (Figure 6.4 in the issue)", __doc__)
