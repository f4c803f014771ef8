"""Disparity floor: each attribute level's offered share stays >= floor x the largest (first offers withheld)."""

from __future__ import annotations

import numpy as np
import pytest
from discountsim.simulators import DisparityFloor, initial_state, load_scenario, rollout, spawn_keys
from discountsim.simulators.disparity_floor import disparity_floor_arg
from discountsim.simulators.errors import DiscountSimInputError
from hypothesis import given, settings
from hypothesis import strategies as st


def _ratios(params, attributes: np.ndarray, offered: np.ndarray) -> list[float]:
    out = []
    for j, names in enumerate(params.attribute_levels.values()):
        shares = [offered[attributes[:, j] == k].mean() for k in range(len(names)) if (attributes[:, j] == k).any()]
        out.append(1.0 if max(shares) == 0.0 else min(shares) / max(shares))
    return out


@settings(max_examples=30, deadline=None)
@given(
    floor=st.floats(0.3, 1.0),
    seed=st.integers(0, 2**16),
    tilt=st.floats(0.0, 1.0),
    periods=st.integers(1, 6),
)
def test_the_floor_holds_after_every_period_and_only_first_offers_are_withheld(floor, seed, tilt, periods) -> None:
    params = load_scenario("default")
    state = initial_state(params, spawn_keys(np.random.default_rng(seed), 300))
    rng = np.random.default_rng(seed + 1)
    # A policy that offers far more to one age band and one region: the floor must bind.
    attributes = state.traits.attributes
    bias = 0.1 + tilt * ((attributes[:, 0] == 0) | (attributes[:, 1] == 1))
    offered_before = np.zeros(state.n_shoppers, dtype=bool)
    projector = DisparityFloor(floor)
    for t in range(periods):
        asked = np.where(rng.random(state.n_shoppers) < np.minimum(bias, 1.0), 0.2, 0.0)
        state.t[:] = t
        got = projector.project(state, asked, offered_before)
        assert ((got == asked) | (got == 0.0)).all()  # never adds or changes an offer, only withholds
        assert (got[offered_before] == asked[offered_before]).all()  # repeat offers change no share
        offered_before |= got > 0.0
        assert min(_ratios(params, attributes, offered_before)) >= floor - 1e-9


def test_withheld_first_offers_are_the_latest_arrivals_and_a_fair_policy_is_untouched() -> None:
    params = load_scenario("default")
    state = initial_state(params, spawn_keys(np.random.default_rng(0), 2000))
    everyone = np.full(state.n_shoppers, 0.1)
    none_before = np.zeros(state.n_shoppers, dtype=bool)
    assert (DisparityFloor(0.8).project(state, everyone, none_before) == everyone).all()
    # Only the first age band asks: every other level's share is 0, so the first band's offers go, all of them.
    only = np.where(state.traits.attributes[:, 1] == 0, 0.1, 0.0)
    assert not DisparityFloor(0.8).project(state, only, none_before).any()


def test_a_rollout_under_the_floor_meets_it_and_reports_through_the_evaluator() -> None:
    from discountsim.agents import evaluate, make_policy

    params = load_scenario("default")
    result = evaluate(make_policy("myopic_oracle"), params, n_shoppers=300, horizon=8, seed=2, disparity_floor=0.8)
    row = result.summary.iloc[0]
    assert row["disparity_floor_held"] == 1.0 and row["offer_disparity"] >= 0.8
    free = evaluate(make_policy("myopic_oracle"), params, n_shoppers=300, horizon=8, seed=2)
    assert np.isnan(free.summary.iloc[0]["disparity_floor_held"])
    assert row["offered_share"] <= free.summary.iloc[0]["offered_share"]  # levelling down: never more offers
    keys = spawn_keys(np.random.default_rng(2), 300)
    capped = rollout(params, keys, lambda obs, s: np.full(s.n_shoppers, 0.1), 4, disparity_floor=DisparityFloor(0.8))
    assert (capped.offers == 4).all()  # offering to everyone is already fair


@pytest.mark.parametrize("value", [0.0, 1.5, "0.8", True, {"ratio": 0.8}, float("nan")])
def test_bad_floors_are_refused_naming_the_setting(value) -> None:
    with pytest.raises(DiscountSimInputError, match="disparity_floor"):
        disparity_floor_arg(value)


def test_a_floor_needs_attributes() -> None:
    from discountsim.agents import evaluate, make_policy

    from tests.conftest import scenario_with

    bare = scenario_with(segments={name: {"attributes": None} for name in load_scenario("default").segments})
    with pytest.raises(DiscountSimInputError, match=r"disparity_floor.*no attributes"):
        evaluate(make_policy("no_discount", scenario=bare), bare, n_shoppers=10, horizon=2, disparity_floor=0.8)


def test_a_budget_never_breaks_the_floor() -> None:
    # The budget drops the offers it cannot send before the floor counts, so nothing the floor kept is dropped.
    from discountsim.agents import evaluate_lineup, make_policy

    params = load_scenario("default")
    policies = {"uniform": make_policy("uniform", scenario=params, depth=0.1), "myopic": make_policy("myopic_oracle")}
    for budget in ({"budget_per_period": 5.0}, {"campaign_budget": 30.0}):
        result = evaluate_lineup(policies, params, 300, 8, seed=3, oracle=False, disparity_floor=1.0, **budget)
        assert (result.summary["disparity_floor_held"] == 1.0).all(), budget
        assert (result.summary["promotion_cost"] * 300 <= 5.0 * 8 + 1e-9).all() or "campaign_budget" in budget


def test_the_floor_withholds_no_more_than_one_at_a_time_removal_would() -> None:
    # Greedy reference: withhold, one at a time, the offer whose levels are the most over-offered.
    params = load_scenario("default")
    state = initial_state(params, spawn_keys(np.random.default_rng(5), 150))
    attributes = state.traits.attributes
    asked = np.where(state.traits.segment != 1, 0.2, 0.0)  # everyone but the loyal regulars: skewed by age
    got = DisparityFloor(0.9).project(state, asked, np.zeros(150, dtype=bool))
    assert min(_ratios(params, attributes, got > 0)) >= 0.9 - 1e-9
    kept = asked > 0
    while min(_ratios(params, attributes, kept)) < 0.9 - 1e-9:
        score = np.zeros(150)
        for j in range(attributes.shape[1]):
            codes = attributes[:, j]
            shares = np.array(
                [kept[codes == k].mean() if (codes == k).any() else np.inf for k in range(codes.max() + 1)]
            )
            score += shares[codes] / max(shares[np.isfinite(shares)].min(), 1e-9)
        score[~kept] = -np.inf
        kept[np.argmax(score)] = False
    assert (got > 0).sum() >= kept.sum() - 2  # as many kept as the one-at-a-time greedy, up to ties
    assert (got > 0).sum() > 0


def test_rollout_takes_a_ratio_and_refuses_a_floor_without_attributes() -> None:
    from tests.conftest import scenario_with

    params = load_scenario("default")
    keys = spawn_keys(np.random.default_rng(0), 50)
    rollout(params, keys, lambda obs, s: np.full(s.n_shoppers, 0.1), 2, disparity_floor=0.8)
    bare = scenario_with(segments={name: {"attributes": None} for name in params.segments})
    with pytest.raises(DiscountSimInputError, match="no attributes"):
        rollout(bare, keys, lambda obs, s: np.zeros(s.n_shoppers), 2, disparity_floor=0.8)
    with pytest.raises(DiscountSimInputError, match="disparity_floor"):
        rollout(params, keys, lambda obs, s: np.zeros(s.n_shoppers), 2, disparity_floor={"ratio": 0.8})
