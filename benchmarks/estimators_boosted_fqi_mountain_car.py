"""The value-ensemble study "boosted_fqi_mountain_car" (FQI vs boosted FQI on Mountain Car with
tile coding), computed by rlcore.book.estimators.boosted_fqi_mountain_car.

    python benchmarks/estimators_boosted_fqi_mountain_car.py --out DIR [--quick] [--seed N]
"""

from rlcore.book.estimators import boosted_fqi_mountain_car
from rlcore.book.report import figure_script

if __name__ == "__main__":
    figure_script(
        boosted_fqi_mountain_car,
        "boosted_fqi_mountain_car",
        __doc__,
        "few datasets: seconds, not minutes",
    )
