"""One purchase equation, keyword-only, called by the simulator and the planner alike."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from discountsim.simulators import dynamics, initial_state, load_scenario, spawn_keys, transition
from discountsim.simulators.planning import PlanningGrid, action_values, solve
from hypothesis import given
from hypothesis import strategies as st

TERMS = dict(
    intent=-2.0,
    season=0.3,
    shock=0.1,
    discount=0.2,
    reference=0.1,
    discount_sensitivity=5.0,
    gain_weight=2.0,
    loss_weight=4.0,
    fatigue=1.2,
    fatigue_sensitivity=0.5,
    stock=0.5,
    stock_sensitivity=0.8,
)


def test_hand_computed_gain_and_loss() -> None:
    # Above the reference: the gain term (0.1 * 2); below it: the loss term.
    assert dynamics.purchase_utility(**TERMS) == pytest.approx(-2 + 0.3 + 0.1 + 1.0 + 0.2 - 0.6 - 0.4)
    below = {**TERMS, "discount": 0.05, "reference": 0.15}
    assert dynamics.purchase_utility(**below) == pytest.approx(-2 + 0.3 + 0.1 + 0.25 - 0.4 - 0.6 - 0.4)


def test_positional_arguments_are_refused() -> None:
    with pytest.raises(TypeError):
        dynamics.purchase_utility(*TERMS.values())  # type: ignore[misc]


@given(
    discount=st.floats(0.0, 1.0),
    reference=st.floats(0.0, 1.0),
    gain=st.floats(0.0, 10.0),
    loss=st.floats(0.0, 10.0),
)
def test_swapping_gain_and_loss_weights_changes_the_utility(discount, reference, gain, loss) -> None:
    terms = {**TERMS, "discount": discount, "reference": reference, "gain_weight": gain, "loss_weight": loss}
    swapped = {**terms, "gain_weight": loss, "loss_weight": gain}
    change = dynamics.purchase_utility(**swapped) - dynamics.purchase_utility(**terms)
    # Above the reference the gain weight applies, below it the loss weight (with a minus sign).
    expected = (loss - gain) * max(discount - reference, 0.0) + (loss - gain) * max(reference - discount, 0.0)
    assert change == pytest.approx(expected, abs=1e-9)
    if abs(gain - loss) * abs(discount - reference) > 1e-6:
        assert change != 0.0


def test_transition_and_planner_both_call_the_one_equation(monkeypatch) -> None:
    params = load_scenario("default")
    state = initial_state(params, spawn_keys(np.random.default_rng(2), 6))
    state.reference[:] = 0.15
    callers = []
    original = dynamics.purchase_utility

    def counted(**terms):
        callers.append(set(terms))
        return original(**terms)

    monkeypatch.setattr(dynamics, "purchase_utility", counted)
    _next, outcome = transition(params, state, np.full(6, 0.3))
    assert callers, "transition did not call dynamics.purchase_utility"
    tr = state.traits
    season = dynamics.season_by_week(params.seasonality)[params.seasonality.start_week]
    u = tr.intent + season + state.intent_shock + tr.discount_sensitivity * 0.3 + tr.gain_weight * 0.15
    np.testing.assert_allclose(outcome.purchase_probability, 1.0 / (1.0 + np.exp(-u)), rtol=1e-12)
    callers.clear()
    plan = solve(params, state, 2, PlanningGrid(reference_nodes=2, fatigue_nodes=2, levels=2))
    assert callers, "the planner's programme did not call dynamics.purchase_utility"
    callers.clear()
    action_values(params, dataclasses.replace(state, t=state.t), np.array([0.0, 0.3]), plan)
    assert callers, "the planner's decision did not call dynamics.purchase_utility"
