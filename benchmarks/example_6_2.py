"""Example 6.2 of Sutton & Barto (2018), computed by rlcore.book.ch6.example_6_2.

python benchmarks/example_6_2.py --out DIR [--quick] [--seed N]
"""

from rlcore.book.ch6 import example_6_2
from rlcore.book.report import figure_script

if __name__ == "__main__":
    figure_script(example_6_2, "Example 6.2", __doc__)
