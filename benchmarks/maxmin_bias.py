"""Lan et al. (2020)'s maximization-bias picture, computed by rlcore.book.ensembles.maxmin_bias:
% left actions by episode for Q-learning, Double Q and Maxmin N = 2, 4, 8, 1,000 runs each.

    python benchmarks/maxmin_bias.py --out DIR [--quick] [--seed N]
"""

from rlcore.book.ensembles import maxmin_bias
from rlcore.book.report import figure_script

if __name__ == "__main__":
    figure_script(maxmin_bias, "Maxmin maximization bias", __doc__, "200 runs instead of 1,000")
