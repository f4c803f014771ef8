"""A/B test simulation and analysis: Welch, CUPED and the planner against hand-computed values and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from discountsim.agents import make_policy
from discountsim.agents.abtest import (
    analyse,
    cuped,
    minimum_detectable_effect,
    pilot,
    required_shoppers,
    simulate_ab_test,
    welch,
)
from discountsim.agents.evaluation import policy_rule
from discountsim.simulators import load_scenario, rollout, spawn_keys
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats


def test_welch_matches_scipy_and_a_hand_computed_case() -> None:
    t, c = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 1.0, 2.0])
    result = welch(t, c)
    # means 2.5 and 4/3; variances 5/3 and 1/3 -> se^2 = 5/12 + 1/9 = 19/36
    assert result.difference == pytest.approx(2.5 - 4 / 3)
    assert result.se == pytest.approx(math.sqrt(19 / 36))
    reference = stats.ttest_ind(t, c, equal_var=False)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-10)
    q = stats.t.ppf(0.975, result.df)
    assert result.ci_high - result.ci_low == pytest.approx(2 * q * result.se)
    with pytest.raises(ValueError, match="at least 2 shoppers"):
        welch(t, c[:1])


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.floats(-3, 3))
def test_cuped_keeps_the_mean_and_removes_exactly_the_explained_variance(seed: int, slope: float) -> None:
    rng = np.random.default_rng(seed)
    x = rng.gamma(2.0, 10.0, 300)
    y = slope * x + rng.normal(0.0, 5.0, 300)
    adjusted, theta = cuped(y, x)
    assert theta == pytest.approx(np.cov(y, x)[0, 1] / x.var(ddof=1))
    assert adjusted.mean() == pytest.approx(y.mean())
    rho = np.corrcoef(y, x)[0, 1]
    assert adjusted.var(ddof=1) == pytest.approx(y.var(ddof=1) * (1 - rho**2), rel=1e-9)
    same, zero = cuped(y, np.ones_like(x))
    assert zero == 0.0 and np.array_equal(same, y)


def test_planner_sizes_against_the_normal_formula() -> None:
    # (z_0.975 + z_0.8)^2 (4 / 0.5 + 4 / 0.5) / 1^2 = 7.8489 x 16
    assert required_shoppers(1.0, 2.0, 2.0) == pytest.approx(125.58, abs=0.01)
    assert required_shoppers(-1.0, 2.0, 2.0) == required_shoppers(1.0, 2.0, 2.0)
    assert required_shoppers(0.0, 2.0, 2.0) == math.inf
    n = required_shoppers(0.7, 3.0, 2.0, split=0.3)
    assert minimum_detectable_effect(n, 3.0, 2.0, split=0.3) == pytest.approx(0.7)
    with pytest.raises(ValueError, match="alpha and power"):
        required_shoppers(1.0, 1.0, 1.0, power=1.0)


@pytest.fixture(scope="module")
def params():
    return load_scenario("default")


def test_each_arm_lives_exactly_its_own_policy_and_the_test_continues_the_pre_period(params) -> None:
    treatment = make_policy("uniform", scenario=params, depth=0.2)
    control = make_policy("no_discount", scenario=params)
    n, pre, weeks, seed = 300, 3, 4, 7
    data = simulate_ab_test(params, treatment, control, n, weeks, 0.4, seed, pre)
    assert 0.25 < data.treated.mean() < 0.55
    keys = spawn_keys(np.random.default_rng(seed), n)
    before = rollout(params, keys, policy_rule(control, params, n, pre), pre)
    np.testing.assert_array_equal(data.pre_spend, before.revenue)
    for arm, policy in ((data.treated, treatment), (~data.treated, control)):
        alone = rollout(params, keys, policy_rule(policy, params, n, weeks), weeks, state=before.final_state)
        np.testing.assert_array_equal(data.outcomes["profit"][arm], alone.profit[arm])
        np.testing.assert_array_equal(data.outcomes["conversion"][arm], alone.purchases[arm] / weeks)
    # Under no discount throughout, pre-period plus test equals one uninterrupted run of the same shoppers.
    both = simulate_ab_test(params, control, control, n, weeks, 0.5, seed, pre)
    whole = rollout(params, keys, policy_rule(control, params, n, pre + weeks), pre + weeks)
    np.testing.assert_allclose(both.pre_spend + both.outcomes["revenue"], whole.revenue, rtol=1e-12)
    again = simulate_ab_test(params, treatment, control, n, weeks, 0.4, seed, pre)
    np.testing.assert_array_equal(again.treated, data.treated)
    np.testing.assert_array_equal(again.outcomes["profit"], data.outcomes["profit"])


def test_analysis_rows_and_refusals(params) -> None:
    policy = make_policy("no_discount", scenario=params)
    table = analyse(simulate_ab_test(params, policy, policy, 400, 3, 0.5, 1, 2))
    assert set(table["metric"]) == {"profit", "revenue", "conversion"} and len(table) == 6
    assert (table["p_value"].between(0, 1)).all() and (table["ci_low"] <= table["ci_high"]).all()
    cuped_rows = table[table.method == "cuped"]
    assert (cuped_rows["variance_reduction"] >= 0).all()  # pooled theta: CUPED never adds variance
    with pytest.raises(ValueError, match="split"):
        simulate_ab_test(params, policy, policy, 100, 3, 1.0)
    with pytest.raises(ValueError, match="n_shoppers"):
        simulate_ab_test(params, policy, policy, 0, 3)


def test_pilot_measures_the_lift_paired(params) -> None:
    treatment = make_policy("uniform", scenario=params, depth=0.3)
    control = make_policy("no_discount", scenario=params)
    p = pilot(params, treatment, control, 500, 4, "profit", seed=3, pre_weeks=2)
    assert p.effect < 0  # 30 % off everyone, every week, loses money on default
    live_se = math.sqrt(p.sd_treated**2 / 250 + p.sd_control**2 / 250)  # a live test of the same 500 shoppers
    assert p.effect_se < 0.8 * live_se  # common random numbers: the shopper's own variation cancels
    # theta pooled over both arms (same covariate, centred) cannot raise the arms' summed variance
    assert p.sd_treated_cuped**2 + p.sd_control_cuped**2 <= (p.sd_treated**2 + p.sd_control**2) * (1 + 1e-9)


def test_an_arm_of_fewer_than_two_shoppers_is_an_input_error_and_alpha_sets_the_interval(params) -> None:
    from discountsim.simulators import DiscountSimInputError

    policy = make_policy("no_discount", scenario=params)
    with pytest.raises(DiscountSimInputError, match="each arm needs at least 2"):
        simulate_ab_test(params, policy, policy, 300, 2, 0.001, 0, 0)
    data = simulate_ab_test(params, make_policy("uniform", scenario=params, depth=0.2), policy, 400, 3, 0.5, 1, 2)
    wide, narrow = analyse(data, alpha=0.01), analyse(data, alpha=0.2)
    assert ((wide["ci_high"] - wide["ci_low"]) > (narrow["ci_high"] - narrow["ci_low"])).all()
