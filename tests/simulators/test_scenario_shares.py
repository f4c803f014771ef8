"""Segment and category shares must sum to 1: a typo there would silently change the population."""

from __future__ import annotations

import pytest
from discountsim.simulators import ScenarioError, available_scenarios, load_scenario


def _scenario(segments: dict, catalogue: dict | None = None) -> dict:
    return {"segments": segments, "catalogue": catalogue or {"all": {"share": 1.0}}}


def test_shares_summing_to_2_3_fail_naming_each_share_and_the_sum() -> None:
    shares = {"a": {"share": 0.5}, "b": {"share": 1.0}, "c": {"share": 0.8}}
    with pytest.raises(ScenarioError) as err:
        load_scenario(_scenario(shares))
    message = str(err.value)
    assert message.startswith("segments: shares must sum to 1 (within 0.01), got 2.3")
    for name, value in (("a", "0.5"), ("b", "1"), ("c", "0.8")):
        assert f"segments.{name}.share = {value}" in message


def test_category_shares_are_checked_too_and_rounding_is_accepted() -> None:
    with pytest.raises(ScenarioError, match=r"catalogue: shares must sum to 1 .* got 0.5: catalogue.x.share = 0.5"):
        load_scenario(_scenario({"a": {"share": 1.0}}, {"x": {"share": 0.5}}))
    thirds = {name: {"share": 0.333} for name in "abc"}  # 0.999: rounding, not a typo
    assert load_scenario(_scenario(thirds)).segments["a"].share == 0.333
    with pytest.raises(ScenarioError, match=r"got 0\.2"):
        load_scenario(_scenario({"only": {}}))  # the default share of one segment is 0.2


def test_built_in_scenarios_sum_to_one() -> None:
    for name in available_scenarios():
        load_scenario(name)
