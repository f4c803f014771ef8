"""Paid members: member prices stack with offers, move the reference point, pay a fee and churn less."""

from __future__ import annotations

import numpy as np
import pytest
from discountsim.simulators import (
    ScenarioError,
    dynamics,
    feature_index,
    feature_names,
    initial_state,
    load_scenario,
    observe,
    spawn_keys,
    transition,
)
from discountsim.simulators.planning import PlanningGrid, action_values, solve
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import scenario_with

_MEMBERS_ONLY = {name: {"member_share": 1.0} for name in load_scenario("default").segments}


def _members(n: int = 400, seed: int = 0, **membership):
    params = scenario_with(segments=_MEMBERS_ONLY, membership=membership) if membership else load_scenario("members")
    return params, initial_state(params, spawn_keys(np.random.default_rng(seed), n))


def test_effective_discount_stacks_the_offer_on_the_member_price() -> None:
    # A member at 10 % off list, offered 20 %, pays 0.9 x 0.8 = 72 % of list: 28 % off.
    assert dynamics.effective_discount(0.2, 0.1) == pytest.approx(0.28)
    assert dynamics.effective_discount(0.0, 0.1) == pytest.approx(0.1)
    d = np.linspace(0.0, 0.5, 11)
    assert dynamics.effective_discount(d, 0.0).tobytes() == d.tobytes()  # non-members: d itself, bit for bit


def test_member_share_fee_and_churn_shift_are_drawn_per_segment() -> None:
    params, state = _members(20000)
    tr = state.traits
    for k, segment in enumerate(params.segments.values()):
        rows = tr.segment == k
        assert tr.member[rows].mean() == pytest.approx(segment.member_share, abs=0.03)
    assert set(np.unique(tr.member_price_cut[tr.member])) == {params.membership.price_cut}
    assert not tr.member_price_cut[~tr.member].any() and not tr.membership_fee[~tr.member].any()
    assert (tr.membership_fee[tr.member] == params.membership.fee).all()
    # Members churn with the segment's logit plus the shift; the other traits are the non-member draws.
    plain = initial_state(load_scenario("default"), state.key)
    np.testing.assert_allclose(
        tr.churn_logit - plain.traits.churn_logit, np.where(tr.member, params.membership.churn_shift, 0.0)
    )
    np.testing.assert_array_equal(tr.intent, plain.traits.intent)
    # A member's starting reference is its segment's stacked on the member price.
    np.testing.assert_allclose(state.reference, dynamics.effective_discount(plain.reference, tr.member_price_cut))


def test_money_of_a_member_purchase_is_computed_at_the_member_price() -> None:
    params, state = _members(3000, price_cut=0.1, fee=2.0, churn_shift=-1.0)
    d = np.full(state.n_shoppers, 0.2)
    nxt, out = transition(params, state, d)
    bought = out.purchased & out.redeemed
    assert bought.sum() > 50
    basket = out.basket_value[bought]  # list value, forward buying included
    np.testing.assert_allclose(out.discount_cost[bought], basket * 0.9 * 0.2)
    np.testing.assert_allclose(out.revenue[bought], basket * 0.9 * 0.8 + 2.0)
    np.testing.assert_allclose(out.revenue[~out.purchased], 2.0)  # every active member pays the fee
    np.testing.assert_allclose(out.profit, out.revenue - out.offer_cost - out.cogs)
    np.testing.assert_allclose(out.cogs[bought], basket * (1.0 - state.traits.margin[bought]))
    # The reference moves towards the discount the member sees, 28 %, not the coupon's 20 %.
    w = state.traits.reference_memory
    np.testing.assert_allclose(nxt.reference, w * state.reference + (1.0 - w) * 0.28)


def test_a_churned_member_pays_no_fee() -> None:
    params, state = _members(200, price_cut=0.1, fee=2.0, churn_shift=-1.0)
    state.active[:100] = False
    _, out = transition(params, state, np.zeros(200))
    assert not out.revenue[:100].any()
    np.testing.assert_allclose(out.revenue[100:][~out.purchased[100:]], 2.0)


@settings(max_examples=25, deadline=None)
@given(price_cut=st.floats(0.0, 0.5), seed=st.integers(0, 2**16))
def test_purchase_probability_never_falls_as_a_members_offer_deepens(price_cut: float, seed: int) -> None:
    params, state = _members(64, seed=seed, price_cut=price_cut, fee=1.0, churn_shift=-1.0)
    previous = np.zeros(state.n_shoppers)
    for d in np.linspace(0.0, params.d_max, 11):
        p = transition(params, state, np.full(state.n_shoppers, d))[1].purchase_probability
        assert ((p >= 0.0) & (p <= 1.0)).all()
        assert (p >= previous - 1e-12).all()
        previous = p


def test_the_observation_shows_membership_and_only_with_members() -> None:
    params, state = _members(500)
    assert "member" in feature_names(params) and "member" not in feature_names(load_scenario("default"))
    obs = observe(params, state)
    np.testing.assert_array_equal(obs[:, feature_index(params, "member")], state.traits.member)


def test_the_planner_values_member_prices_and_fees() -> None:
    # One period, no dynamics that carry over: the plan is this period's expected profit, by hand.
    params, state = _members(50, price_cut=0.1, fee=2.0, churn_shift=-1.0)
    levels = np.array([0.0, 0.2])
    values = action_values(params, state, levels)
    tr = state.traits
    season = dynamics.season_by_week(params.seasonality)[dynamics.week_of_year(params.seasonality, state.t)]
    for j, d in enumerate(levels):
        e = 0.1 + 0.9 * d
        u = dynamics.purchase_utility(
            intent=tr.intent,
            season=season,
            shock=state.intent_shock,
            discount=e,
            reference=state.reference,
            discount_sensitivity=tr.discount_sensitivity,
            gain_weight=tr.gain_weight,
            loss_weight=tr.loss_weight,
            fatigue=state.fatigue,
            fatigue_sensitivity=tr.fatigue_sensitivity,
            stock=state.stock,
            stock_sensitivity=tr.stock_sensitivity,
        )
        expected = dynamics.sigmoid(u) * tr.basket_value * (1.0 + tr.forward_buying * d) * (tr.margin - e)
        expected += 2.0 - params.offer_cost * (d > 0.0)
        np.testing.assert_allclose(values[:, j], expected, rtol=1e-12)
    # Over several periods a member's fee is worth keeping: the plan values a member above the same shopper
    # without membership by at least the fee over the periods it is expected to stay.
    plan = solve(params, state, 4, PlanningGrid())
    assert (plan.value_at(0, state) > 0.0).all()


def test_member_share_out_of_range_is_refused_naming_the_field() -> None:
    with pytest.raises(ScenarioError, match=r"segments\.deal_seeker\.member_share"):
        scenario_with(segments={"deal_seeker": {"member_share": 1.5}})
    with pytest.raises(ScenarioError, match=r"membership\.price_cut"):
        scenario_with(membership={"price_cut": 1.0})


def test_membership_without_members_is_refused_and_changes_no_hash() -> None:
    from discountsim.agents.fingerprint import scenario_hash

    with pytest.raises(ScenarioError, match=r"membership: set, but no segment has member_share > 0"):
        scenario_with(membership={"fee": 100.0})
    # The hash of a scenario without members is the one it had before membership existed (train runs resume).
    assert scenario_hash(load_scenario("default")) == "1e724b258b9aac0b"
    assert scenario_hash(load_scenario("members")) != scenario_hash(load_scenario("default"))


def test_the_members_scenario_cannot_be_exported_or_calibrated_from_a_log() -> None:
    from discountsim.simulators.calibration.calibrate import calibrate_source
    from discountsim.simulators.errors import DiscountSimInputError

    with pytest.raises(DiscountSimInputError, match="paid members"):
        calibrate_source(None, load_scenario("members"), ("clothing",))  # type: ignore[arg-type]


def test_the_planner_takes_zero_shoppers() -> None:
    params = load_scenario("members")
    plan = solve(params, initial_state(params, spawn_keys(np.random.default_rng(0), 0)), 4)
    assert plan.values.shape[:2] == (5, 0)
