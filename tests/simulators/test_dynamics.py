"""Each equation against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from discountsim.simulators import dynamics
from discountsim.simulators.params import BehaviourParams, HolidayParams, SeasonalityParams


def a(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float64)


def _utility(a_, season, eps, d, r, f, s, b, g, l_, k, h):
    return dynamics.purchase_utility(
        intent=a(a_),
        season=a(season),
        shock=a(eps),
        discount=a(d),
        reference=a(r),
        discount_sensitivity=a(b),
        gain_weight=a(g),
        loss_weight=a(l_),
        fatigue=a(f),
        fatigue_sensitivity=a(k),
        stock=a(s),
        stock_sensitivity=a(h),
    )


def test_purchase_utility_hand_computed() -> None:
    # a=-2, season=0.3, eps=0.1, d=0.2, r=0.1 (gain 0.1), b=5, g=2, l=4, k=0.5, f=1.2, h=0.8, s=0.5
    u = _utility(-2, 0.3, 0.1, 0.2, 0.1, 1.2, 0.5, 5, 2, 4, 0.5, 0.8)
    expected = -2 + 0.3 + 0.1 + 5 * 0.2 + 2 * 0.1 - 0 - 0.5 * 1.2 - 0.8 * 0.5
    assert u[0] == pytest.approx(expected)
    # Below the reference: loss term instead of gain. d=0.05, r=0.15 -> loss 0.1
    u = _utility(-2, 0, 0, 0.05, 0.15, 0, 0, 5, 2, 4, 0, 0)
    assert u[0] == pytest.approx(-2 + 5 * 0.05 - 4 * 0.1)


def test_sigmoid_and_logit() -> None:
    np.testing.assert_allclose(dynamics.sigmoid(a(0.0, math.log(3.0), -800.0, 800.0)), [0.5, 0.75, 0.0, 1.0])
    assert dynamics.logit(0.75) == pytest.approx(math.log(3.0))


def test_reference_fatigue_stock_updates() -> None:
    np.testing.assert_allclose(dynamics.update_reference(a(0.1), a(0.3), a(0.8)), [0.8 * 0.1 + 0.2 * 0.3])
    np.testing.assert_allclose(dynamics.update_fatigue(a(2.0, 2.0), np.array([True, False]), 0.6), [2.2, 1.2])
    # s' = max(s - c, 0) + buy * phi * d
    np.testing.assert_allclose(
        dynamics.update_stock(a(0.3, 1.0), np.array([True, False]), a(0.2, 0.2), a(1.5, 1.5), 0.5), [0.3, 0.5]
    )
    np.testing.assert_allclose(dynamics.basket_multiplier(a(0.2), a(1.5)), [1.3])


def test_churn_hazard_hand_computed() -> None:
    b = BehaviourParams(recency_churn=0.3, satisfaction_churn=1.0)
    q = dynamics.churn_hazard(a(dynamics.logit(0.01)), a(3.0), a(2.0), np.array([True]), a(0.5), a(0.1), a(2.0), b)
    x = math.log(0.01 / 0.99) + 0.3 * math.log(4.0) + 0.1 * 2.0 + 2.0 - 1.0 * 0.5
    assert q[0] == pytest.approx(1.0 / (1.0 + math.exp(-x)))


def test_intent_shock_is_stationary_ar1() -> None:
    b = BehaviourParams(intent_shock_sd=0.4, intent_shock_persistence=0.6)
    assert dynamics.update_intent_shock(a(1.0), a(0.5), b)[0] == pytest.approx(0.6 + 0.8 * 0.4 * 0.5)
    rng = np.random.default_rng(0)
    eps = 0.4 * rng.standard_normal(200_000)
    for _ in range(5):
        eps = dynamics.update_intent_shock(eps, rng.standard_normal(eps.size), b)
    assert eps.std() == pytest.approx(0.4, rel=0.02)


def test_season_by_week_hand_computed() -> None:
    s = SeasonalityParams(amplitude=0.2, peak_week=10, holidays=(HolidayParams("h", week=50, uplift=1.0, width=1.0),))
    season = dynamics.season_by_week(s)
    assert season.shape == (52,)
    assert season[10] == pytest.approx(0.2 + math.exp(-0.5 * 12**2))
    # week 0 is 2 weeks (circularly) from week 50
    assert season[0] == pytest.approx(0.2 * math.cos(2 * math.pi * -10 / 52) + math.exp(-0.5 * 4))
    assert dynamics.holiday_proximity_by_week(s)[50] == 1.0


def test_geometric_count_mean_matches_closed_form() -> None:
    u = np.random.default_rng(0).uniform(size=400_000)
    for mean in (0.3, 2.0, 6.0):
        draws = dynamics.geometric_count(np.full(u.size, mean), u)
        assert draws.min() == 0 and np.all(draws == np.floor(draws))
        assert draws.mean() == pytest.approx(mean, rel=0.02)
    assert np.all(dynamics.geometric_count(np.zeros(5), u[:5]) == 0)
