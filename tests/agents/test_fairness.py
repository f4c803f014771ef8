"""The evaluator's fairness view: offer rates per attribute level and their disparity ratio."""

from __future__ import annotations

import numpy as np
import pytest
from discountsim.agents import evaluate_lineup, make_policy
from discountsim.agents.base import DiscountPolicy
from discountsim.agents.baselines import UniformPolicy
from discountsim.agents.evaluation import fairness
from discountsim.simulators import RolloutTotals, feature_index, load_scenario
from discountsim.simulators.config_schema import to_dict

from tests.conftest import scenario_with


def _totals(offers, attributes, profit, active) -> RolloutTotals:
    n = len(offers)
    zeros = np.zeros(n)
    return RolloutTotals(
        profit=np.asarray(profit, float),
        revenue=zeros,
        discount_cost=zeros,
        offer_cost=zeros,
        promotion_cost=zeros,
        cogs=zeros,
        purchases=zeros,
        offers=np.asarray(offers, float),
        discount_sum=np.asarray(offers, float) * 0.1,
        active=np.asarray(active, bool),
        segment=np.zeros(n, np.int8),
        profit_by_period=np.zeros(2),
        initial_observation=np.zeros((n, 1), np.float32),
        attributes=np.asarray(attributes, np.int8),
    )


def test_offer_rates_and_disparity_by_hand() -> None:
    params = load_scenario("default")  # region: north, south, east, west; age_band: 18-29, 30-44, 45-59, 60+
    attributes = [[0, 0], [0, 1], [1, 2], [1, 3], [2, 0], [3, 1]]
    offers = [2, 0, 1, 1, 0, 3]  # north 1/2, south 2/2, east 0/1, west 1/1
    totals = _totals(offers, attributes, profit=[5, 1, 2, 2, 0, 4], active=[1, 1, 0, 1, 1, 1])
    baseline = _totals([0] * 6, attributes, profit=[1] * 6, active=[1] * 6)
    table, disparity = fairness(params, totals, baseline, horizon=2)
    region = table[table["attribute"] == "region"].set_index("level")
    assert list(region.index) == ["north", "south", "east", "west"]
    assert region["offered_share"].tolist() == [0.5, 1.0, 0.0, 1.0]
    assert region.loc["north", "incremental_profit"] == pytest.approx((4 + 0) / 2)
    assert region.loc["south", "retention"] == 0.5
    assert region.loc["north", "avg_discount"] == pytest.approx((0.2 / 2 + 0.0) / 2)
    assert disparity["offer_disparity_region"] == 0.0  # east is never offered
    age = table[table["attribute"] == "age_band"].set_index("level")["offered_share"]
    assert age.tolist() == [0.5, 0.5, 1.0, 1.0]
    assert disparity["offer_disparity_age_band"] == 0.5
    assert disparity["offer_disparity"] == 0.0
    # Nobody offered: parity, not 0/0.
    assert fairness(params, baseline, baseline, 2)[1]["offer_disparity"] == 1.0


def test_a_scenario_without_attributes_has_no_fairness_view() -> None:
    bare = to_dict(load_scenario("default"))
    for segment in bare["segments"].values():
        segment["attributes"] = {}
    lineup = evaluate_lineup({"u": make_policy("uniform", depth=0.1)}, load_scenario(bare), 20, 2, oracle=False)
    assert lineup.by_group.empty and np.isnan(lineup.summary.loc[0, "offer_disparity"])


class _OnlyTheOldest(DiscountPolicy):
    """Offers 10 % to shoppers whose observed age band is 60+, nothing to others."""

    name = "only_60_plus"

    def discounts(self, observations: np.ndarray) -> np.ndarray:
        return np.where(observations[:, feature_index(self.scenario, "age_band=60+")] > 0.5, 0.1, 0.0)


def test_a_policy_that_reads_an_observed_attribute_shows_the_disparity() -> None:
    params = scenario_with(observe_attributes=True)
    policies = {"all": UniformPolicy.for_scenario(params, depth=0.1), "60+": _OnlyTheOldest(scenario=params)}
    lineup = evaluate_lineup(policies, params, 400, 4, seed=2, oracle=False)
    summary = lineup.summary.set_index("policy")
    assert summary.loc["all", "offer_disparity"] == 1.0
    assert summary.loc["60+", "offer_disparity_age_band"] == 0.0
    groups = lineup.by_group[(lineup.by_group["policy"] == "60+") & (lineup.by_group["attribute"] == "age_band")]
    assert groups.set_index("level")["offered_share"].to_dict() == {
        "18-29": 0.0,
        "30-44": 0.0,
        "45-59": 0.0,
        "60+": 1.0,
    }
    assert summary.loc["60+", "offer_disparity_region"] > 0.5  # region is only loosely correlated with age


def test_a_level_nobody_holds_stays_in_the_view_with_no_shoppers() -> None:
    data = to_dict(load_scenario("default"))
    for segment in data["segments"].values():
        region = segment["attributes"]["region"]
        region["south"] += region["north"]
        region["north"] = 0.0
    params = load_scenario(data)
    lineup = evaluate_lineup({"u": make_policy("uniform", depth=0.1)}, params, 60, 2, oracle=False)
    region = lineup.by_group[lineup.by_group["attribute"] == "region"].set_index("level")
    assert list(region.index) == ["north", "south", "east", "west"]
    assert region.loc["north", "shoppers"] == 0 and np.isnan(region.loc["north", "offered_share"])
    assert lineup.summary.loc[0, "offer_disparity_region"] == 1.0  # the empty level does not count


def test_a_policy_built_on_observed_attributes_names_the_switch_on_another_layout() -> None:
    from discountsim.agents.fingerprint import PolicyScenarioMismatch

    sighted = UniformPolicy.for_scenario(scenario_with(observe_attributes=True, observe_responses=True), depth=0.1)
    message = r"30 saved, 19 in the scenario \(the policy was built with observe_attributes: true and observe_responses"
    with pytest.raises(PolicyScenarioMismatch, match=message):
        evaluate_lineup({"u": sighted}, "default", 10, 2, oracle=False)
