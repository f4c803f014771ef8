"""The oracle's dynamic programme against brute-force enumeration of every discount sequence."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from discountsim.simulators import dynamics, initial_state, load_scenario, spawn_keys
from discountsim.simulators.planning import PlanningGrid, action_values, coverage, solve

HORIZON = 3
LEVELS = np.linspace(0.0, 0.5, 6)


def _covered_scenario():
    # Every dynamic on, without the two the programme approximates: exact up to the grid.
    params = load_scenario("reference_heavy")
    behaviour = dataclasses.replace(params.behaviour, intent_shock_sd=0.0, satisfaction_churn=0.0)
    return dataclasses.replace(params, behaviour=behaviour)


def _state(params, n=8, seed=4):
    state = initial_state(params, spawn_keys(np.random.default_rng(seed), n))
    # Start some shoppers with fatigue, stock and a deep reference so every state axis matters.
    state.fatigue[: n // 2] = 1.3
    state.stock[::3] = 0.6
    state.reference[1::2] = 0.3
    return state


def _brute_force(params, state, t, reference, fatigue, stock, recency, depth) -> np.ndarray:
    """Best expected profit over every discount sequence for the remaining periods, per shopper (exact state)."""
    if depth == 0:
        return np.zeros(state.n_shoppers)
    tr, behaviour = state.traits, params.behaviour
    season = dynamics.season_by_week(params.seasonality)[dynamics.week_of_year(params.seasonality, t)]
    best = np.full(state.n_shoppers, -np.inf)
    for d in LEVELS:
        depth_d = np.full(state.n_shoppers, d)
        offered = depth_d > 0.0
        p = dynamics.sigmoid(
            dynamics.purchase_utility(
                intent=tr.intent,
                season=season,
                shock=state.intent_shock,
                discount=depth_d,
                reference=reference,
                discount_sensitivity=tr.discount_sensitivity,
                gain_weight=tr.gain_weight,
                loss_weight=tr.loss_weight,
                fatigue=fatigue,
                fatigue_sensitivity=tr.fatigue_sensitivity,
                stock=stock,
                stock_sensitivity=tr.stock_sensitivity,
            )
        )
        value = p * tr.basket_value * (1.0 + tr.forward_buying * d) * (tr.margin - d) - params.offer_cost * offered
        reference_next = dynamics.update_reference(reference, depth_d, tr.reference_memory)
        fatigue_next = dynamics.update_fatigue(fatigue, offered, behaviour.fatigue_decay)
        consumed = np.maximum(stock - behaviour.stock_consumption, 0.0)
        for bought in (True, False):
            recency_next = np.zeros_like(recency) if bought else recency + 1.0
            hazard = dynamics.churn_hazard(
                tr.churn_logit,
                recency_next,
                fatigue,
                offered,
                state.satisfaction,
                tr.fatigue_churn,
                tr.offer_churn,
                behaviour,
            )
            stock_next = consumed + tr.forward_buying * d if bought else consumed
            later = _brute_force(
                params, state, t + 1, reference_next, fatigue_next, stock_next, recency_next, depth - 1
            )
            value = value + (p if bought else 1.0 - p) * (1.0 - hazard) * later
        best = np.maximum(best, value)
    return best


def _plan_policy_value(params, state, plan, depth) -> np.ndarray:
    """Exact expected profit of following the plan's decisions (the oracle's policy), per shopper."""
    if depth == 0:
        return np.zeros(state.n_shoppers)
    tr, behaviour = state.traits, params.behaviour
    choice = LEVELS[np.argmax(action_values(params, state, LEVELS, plan), axis=1)]
    offered = choice > 0.0
    p = dynamics.sigmoid(
        dynamics.purchase_utility(
            intent=tr.intent,
            season=dynamics.season_by_week(params.seasonality)[dynamics.week_of_year(params.seasonality, state.t)],
            shock=state.intent_shock,
            discount=choice,
            reference=state.reference,
            discount_sensitivity=tr.discount_sensitivity,
            gain_weight=tr.gain_weight,
            loss_weight=tr.loss_weight,
            fatigue=state.fatigue,
            fatigue_sensitivity=tr.fatigue_sensitivity,
            stock=state.stock,
            stock_sensitivity=tr.stock_sensitivity,
        )
    )
    value = p * tr.basket_value * (1.0 + tr.forward_buying * choice) * (tr.margin - choice)
    value -= params.offer_cost * offered
    consumed = np.maximum(state.stock - behaviour.stock_consumption, 0.0)
    for bought in (True, False):
        recency_next = np.zeros(state.n_shoppers) if bought else state.recency + 1.0
        hazard = dynamics.churn_hazard(
            tr.churn_logit,
            recency_next,
            state.fatigue,
            offered,
            state.satisfaction,
            tr.fatigue_churn,
            tr.offer_churn,
            behaviour,
        )
        following = dataclasses.replace(
            state,
            t=state.t + 1,
            reference=dynamics.update_reference(state.reference, choice, tr.reference_memory),
            fatigue=dynamics.update_fatigue(state.fatigue, offered, behaviour.fatigue_decay),
            stock=consumed + tr.forward_buying * choice if bought else consumed,
            recency=recency_next,
        )
        value += (p if bought else 1.0 - p) * (1.0 - hazard) * _plan_policy_value(params, following, plan, depth - 1)
    return value


@pytest.fixture(scope="module")
def covered():
    params = _covered_scenario()
    state = _state(params)
    grid = PlanningGrid(levels=LEVELS.size, decision_levels=LEVELS.size, reference_nodes=11, fatigue_nodes=6)
    plan = solve(params, state, HORIZON, grid)
    optimum = _brute_force(params, state, state.t, state.reference, state.fatigue, state.stock, state.recency, HORIZON)
    return params, state, plan, optimum


def test_coverage_names_every_approximation() -> None:
    # All dynamics on without the two approximated ones: only the coarse grid is approximate, and said so.
    gaps = coverage(_covered_scenario()).gaps
    assert not coverage(_covered_scenario()).exact and len(gaps) == 2
    assert "grid nodes" in gaps[0] and "fatigue (5 nodes)" in gaps[0] and "11 levels" in gaps[1]
    assert coverage(load_scenario("myopic")).exact
    gaps = coverage(load_scenario("default")).gaps
    assert not coverage(load_scenario("default")).exact and len(gaps) == 4
    assert any("persistence" in g for g in gaps) and any("satisfaction" in g for g in gaps)


def test_planned_value_matches_brute_force(covered) -> None:
    _params, state, plan, optimum = covered
    assert optimum.min() > 0.0
    # Interpolating between grid nodes costs at most 1 % or 5 cents of the value.
    np.testing.assert_allclose(plan.value_at(0, state), optimum, rtol=0.01, atol=0.05)


def test_plan_policy_is_optimal_on_a_tiny_horizon(covered) -> None:
    params, state, plan, optimum = covered
    achieved = _plan_policy_value(params, state, plan, HORIZON)
    assert np.all(achieved <= optimum + 1e-9)  # nothing beats enumeration
    np.testing.assert_allclose(achieved, optimum, rtol=1e-3)


def test_offers_matter_in_the_tiny_problem(covered) -> None:
    # Guard against a vacuous comparison: the best sequence beats never offering for some shoppers.
    params, state, plan, _optimum = covered
    first = LEVELS[np.argmax(action_values(params, state, LEVELS, plan), axis=1)]
    assert np.any(first > 0.0) and np.any(first == 0.0)


def test_myopic_values_are_this_periods_expected_profit() -> None:
    params = load_scenario("default")
    state = _state(params, n=5)
    values = action_values(params, state, np.array([0.0, 0.2]))
    tr = state.traits
    season = dynamics.season_by_week(params.seasonality)[params.seasonality.start_week]
    u = tr.intent + season + state.intent_shock + tr.discount_sensitivity * 0.2
    u += tr.gain_weight * np.maximum(0.2 - state.reference, 0.0) - tr.loss_weight * np.maximum(
        state.reference - 0.2, 0.0
    )
    u -= tr.fatigue_sensitivity * state.fatigue + tr.stock_sensitivity * state.stock
    expected = 1.0 / (1.0 + np.exp(-u)) * tr.basket_value * (1.0 + 0.2 * tr.forward_buying) * (tr.margin - 0.2) - 0.1
    np.testing.assert_allclose(values[:, 1], expected, rtol=1e-12)


def test_plan_past_its_horizon_and_bad_grids_fail_clearly() -> None:
    params = load_scenario("default")
    state = _state(params, n=3)
    plan = solve(params, state, 1, PlanningGrid(reference_nodes=2, fatigue_nodes=2, levels=2))
    late = dataclasses.replace(state, t=state.t + 1)
    with pytest.raises(ValueError, match="outside the plan"):
        action_values(params, late, LEVELS, plan)
    with pytest.raises(ValueError, match="reference_nodes: expected an integer >= 2"):
        PlanningGrid(reference_nodes=1)
    with pytest.raises(ValueError, match="stock_nodes: expected at least two increasing values starting at 0"):
        PlanningGrid(stock_nodes=(0.5, 1.0))
