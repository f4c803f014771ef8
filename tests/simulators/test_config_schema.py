from __future__ import annotations

import numpy as np
import pytest
from discountsim.simulators import ShopperSimulator, check_count


def test_check_count_accepts_whole_numbers() -> None:
    assert check_count("n", 3) == 3 and check_count("n", 3.0) == 3 and check_count("n", np.int64(2)) == 2
    assert isinstance(check_count("n", 3.0), int)


@pytest.mark.parametrize("value", [0, -1, 2.5, float("nan"), float("inf"), True, "10", None])
def test_check_count_rejects_the_rest_naming_the_field(value) -> None:
    with pytest.raises(ValueError, match=r"horizon: expected an integer >= 1, got "):
        check_count("horizon", value)


def test_check_count_minimum_and_reason() -> None:
    with pytest.raises(ValueError, match=r"n_shoppers: expected an integer >= 2 \(intervals need two\), got 1"):
        check_count("n_shoppers", 1, minimum=2, why="intervals need two")
    with pytest.raises(ValueError, match="n_shoppers: expected an integer >= 1"):
        ShopperSimulator("default", n_shoppers=0)
