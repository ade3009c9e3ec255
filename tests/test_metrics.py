"""The one percentile convention of the benchmarks (numpy's linear interpolation)."""

import math

from benchmarks.metrics import percentile


def test_percentile_interpolates_linearly_between_ranks() -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], 90) == 3.7  # rank 2.7 of the sorted values
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([5.0], 99) == 5.0


def test_percentile_of_nothing_is_nan() -> None:
    assert math.isnan(percentile([], 50))
