"""Invariants and identities of one period, plus determinism and batch independence."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from discountsim.simulators import ShopperSimulator, initial_state, reset_where, transition
from discountsim.simulators.transition import check_discount
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tests.conftest import scenario_with

discounts = arrays(np.float64, 500, elements=st.floats(0.0, 0.5))


@settings(max_examples=25, deadline=None)
@given(d=discounts, periods=st.integers(0, 6))
def test_probabilities_in_unit_interval_and_monotone_in_discount(params, keys, d, periods) -> None:
    state = initial_state(params, keys)
    for _ in range(periods):
        state, _ = transition(params, state, d)
    deeper = np.minimum(d + 0.1, params.d_max)
    _, low = transition(params, state, d)
    _, high = transition(params, state, deeper)
    assert np.all((low.purchase_probability >= 0.0) & (low.purchase_probability <= 1.0))
    assert np.all(high.purchase_probability >= low.purchase_probability)


@settings(max_examples=25, deadline=None)
@given(d=discounts)
def test_money_identities(params, state, d) -> None:
    _, out = transition(params, state, d)
    np.testing.assert_allclose(out.promotion_cost, out.discount_cost + out.offer_cost)
    np.testing.assert_allclose(out.offer_cost, params.offer_cost * (d > 0))
    np.testing.assert_allclose(out.discount_cost, np.where(out.redeemed, out.basket_value * d, 0.0))
    np.testing.assert_allclose(out.revenue, out.basket_value - out.discount_cost)
    np.testing.assert_allclose(out.cogs, out.basket_value * (1.0 - state.traits.margin))
    np.testing.assert_allclose(out.profit, out.basket_value - out.promotion_cost - out.cogs, atol=1e-9)
    np.testing.assert_allclose(out.profit, out.revenue - out.offer_cost - out.cogs, atol=1e-9)
    assert np.all(out.basket_value[~out.purchased] == 0.0) and np.all(out.basket_value[out.purchased] > 0.0)


def test_churned_shoppers_never_buy_again(params) -> None:
    churny = scenario_with(segments={name: {"churn_rate": 0.3} for name in params.segments})
    sim = ShopperSimulator(churny, 2000, seed=5)
    sim.reset()
    ever_churned = np.zeros(2000, dtype=bool)
    for _ in range(15):
        out = sim.step(np.full(2000, 0.3))
        assert not np.any(out.purchased & ever_churned)
        assert np.all(out.purchase_probability[ever_churned] == 0.0)
        ever_churned |= out.churned
    assert ever_churned.mean() > 0.5


def test_same_seed_identical_different_seed_differs(params) -> None:
    def run(seed):
        sim = ShopperSimulator(params, 300, seed=seed)
        sim.reset()
        return [sim.step(np.full(300, 0.1)) for _ in range(4)], sim.observe()

    (a_out, a_obs), (b_out, b_obs), (c_out, _) = run(1), run(1), run(2)
    for x, y in zip(a_out, b_out, strict=True):
        for f in dataclasses.fields(x):
            np.testing.assert_array_equal(getattr(x, f.name), getattr(y, f.name))
    np.testing.assert_array_equal(a_obs, b_obs)
    assert not np.array_equal(a_out[-1].profit, c_out[-1].profit)


def test_shopper_is_the_same_alone_and_in_any_batch(params, keys) -> None:
    d = np.linspace(0.0, 0.5, keys.size)
    batch = initial_state(params, keys)
    alone = initial_state(params, keys[7:8])
    for _ in range(10):
        batch, out_b = transition(params, batch, d)
        alone, out_a = transition(params, alone, d[7:8])
        assert out_a.profit[0] == out_b.profit[7] and out_a.purchased[0] == out_b.purchased[7]
    assert alone.reference[0] == batch.reference[7] and alone.stock[0] == batch.stock[7]


def test_reference_fatigue_and_stock_respond_to_offers(params, state) -> None:
    offered, out = transition(params, state, np.full(state.n_shoppers, 0.3))
    none, _ = transition(params, state, np.zeros(state.n_shoppers))
    assert np.all(offered.reference > none.reference)
    np.testing.assert_allclose(offered.fatigue - none.fatigue, 1.0)
    bought = out.purchased
    assert np.all(offered.stock[bought] > none.stock[bought])


def test_myopic_scenario_has_no_effect_of_discounts_on_the_future() -> None:
    sim_a = ShopperSimulator("myopic", 400, seed=3)
    sim_b = ShopperSimulator("myopic", 400, seed=3)
    sim_a.reset(), sim_b.reset()
    sim_a.step(np.full(400, 0.5)), sim_b.step(np.zeros(400))
    pa = sim_a.step(np.zeros(400)).purchase_probability
    pb = sim_b.step(np.zeros(400)).purchase_probability
    np.testing.assert_allclose(pa, pb)


@settings(max_examples=30, deadline=None)
@given(budget_left=st.floats(0.0, 3000.0), depth=st.floats(0.0, 0.5))
def test_budget_never_exceeded(params, state, budget_left, depth) -> None:
    _, out = transition(params, state, np.full(state.n_shoppers, depth), budget_left=budget_left)
    assert out.promotion_cost.sum() <= budget_left + 1e-9
    np.testing.assert_allclose(out.promotion_cost, out.discount_cost + out.offer_cost)


def test_unlimited_budget_equals_no_budget(params, state) -> None:
    d = np.full(state.n_shoppers, 0.2)
    _, free = transition(params, state, d)
    _, rich = transition(params, state, d, budget_left=1e12)
    np.testing.assert_array_equal(free.profit, rich.profit)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.full(500, np.nan), "NaN or infinite"),
        (np.full(500, np.inf), "NaN or infinite"),
        (np.full(500, 0.6), r"outside the allowed range \[0, 0.5\]"),
        (np.full(500, -0.01), "outside the allowed range"),
        (np.zeros(499), r"expected shape \(500,\)"),
    ],
)
def test_bad_discounts_rejected(params, state, bad, match) -> None:
    with pytest.raises(ValueError, match=match):
        transition(params, state, bad)


def test_bad_budget_rejected(params, state) -> None:
    with pytest.raises(ValueError, match=r"budget_left: expected a finite amount >= 0 \(currency\), got -1.0"):
        transition(params, state, np.zeros(state.n_shoppers), budget_left=-1.0)
    assert check_discount(params, 0.1, 3).shape == (3,)


def test_reset_where_replaces_only_masked_rows(params, state, keys) -> None:
    advanced, _ = transition(params, state, np.full(state.n_shoppers, 0.2))
    mask = np.zeros(state.n_shoppers, dtype=bool)
    mask[::3] = True
    fresh_keys = keys[mask] + np.uint64(1)
    merged = reset_where(params, advanced, mask, fresh_keys)
    np.testing.assert_array_equal(merged.t[mask], 0)
    np.testing.assert_array_equal(merged.t[~mask], 1)
    np.testing.assert_array_equal(merged.reference[~mask], advanced.reference[~mask])
    np.testing.assert_array_equal(merged.traits.intent[mask], initial_state(params, fresh_keys).traits.intent)
    with pytest.raises(ValueError, match="keys"):
        reset_where(params, advanced, mask, fresh_keys[:-1])
