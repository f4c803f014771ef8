"""Off-policy estimators against hand-computed values on tiny logs, and their invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from discountsim.agents.ope import (
    bandwidth_rule,
    clustered_se,
    deterministic_probability,
    direct_method,
    doubly_robust,
    effective_sample_size,
    importance_weights,
    ips,
    kernel_weights,
    pdis,
    sequential_dr,
    snips,
    wpdis,
)
from hypothesis import given, settings
from hypothesis import strategies as st

# Three rows: logged discounts, the logger's propensities, rewards; the target always offers 0.1.
LOGGED = np.array([0.1, 0.0, 0.1])
PROPENSITY = np.array([0.5, 0.25, 0.2])
REWARD = np.array([4.0, 3.0, -1.0])


def test_ips_snips_dm_and_dr_on_three_rows_by_hand() -> None:
    w = importance_weights(deterministic_probability(np.full(3, 0.1), LOGGED), PROPENSITY)
    np.testing.assert_allclose(w, [2.0, 0.0, 5.0])
    estimate = ips(REWARD, w)
    assert estimate.value == pytest.approx((2 * 4 + 0 + 5 * -1) / 3)  # 1.0
    terms = np.array([8.0, 0.0, -5.0])
    assert estimate.se == pytest.approx(terms.std(ddof=1) / math.sqrt(3))
    assert estimate.ess == pytest.approx(49 / 29) and estimate.max_weight == 5.0
    assert snips(REWARD, w).value == pytest.approx(3.0 / 7.0)  # (8 - 5) / (2 + 5)
    q_target, q_logged = np.array([2.0, 1.0, 0.5]), np.array([2.0, 1.5, 0.5])
    assert direct_method(q_target).value == pytest.approx(3.5 / 3)
    # DR rows: 2 + 2 (4 - 2) = 6; 1 + 0 = 1; 0.5 + 5 (-1 - 0.5) = -7
    assert doubly_robust(REWARD, w, q_logged, q_target).value == pytest.approx(0.0)


def test_the_three_periods_estimators_by_hand() -> None:
    reward = np.array([[1.0, 2.0], [3.0, 4.0]])
    weights = np.array([[2.0, 0.5], [0.0, 4.0]])
    # rho = [[2, 1], [0, 0]]: PDIS per shopper 2*1 + 1*2 = 4 and 0 -> mean 2
    assert pdis(reward, weights).value == pytest.approx(2.0)
    # WPDIS: week 1 (2*1 + 0) / 2 = 1; week 2 (1*2 + 0) / 1 = 2 -> 3
    assert wpdis(reward, weights).value == pytest.approx(3.0)
    q_logged = np.array([[0.5, 1.0], [1.0, 1.0]])
    q_target = np.array([[1.0, 1.5], [2.0, 0.5]])
    # shopper 1: v2 = 1.5 + 0.5 (2 - 1) = 2; v1 = 1 + 2 (1 + 2 - 0.5) = 6
    # shopper 2: v2 = 0.5 + 4 (4 - 1) = 12.5; v1 = 2 + 0 = 2 -> mean 4
    assert sequential_dr(reward, weights, q_logged, q_target).value == pytest.approx(4.0)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 100_000), st.integers(5, 200))
def test_the_logger_evaluated_on_its_own_log(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    reward = rng.normal(1.0, 3.0, n)
    # pi = mu: every weight is 1, so SNIPS and IPS are the logged mean and the ESS is n
    w = importance_weights(rng.uniform(0.05, 1.0, n) * 0 + 0.3, np.full(n, 0.3))
    assert snips(reward, w).value == pytest.approx(reward.mean())
    assert ips(reward, w).value == pytest.approx(reward.mean())
    assert effective_sample_size(w) == pytest.approx(n)
    # DR with a perfect model of the logged rewards and the target's value equals DM
    q = reward.copy()
    assert doubly_robust(reward, w, q, q).value == pytest.approx(direct_method(q).value)
    assert pdis(reward.reshape(-1, 1), w.reshape(-1, 1)).value == pytest.approx(reward.mean())


def test_kernel_weights_and_bandwidth() -> None:
    a = np.array([0.1, 0.3])
    w = kernel_weights(np.array([0.1, 0.1]), a, np.array([2.0, 2.0]), 0.1)
    density = np.exp(-0.5 * np.array([0.0, 4.0])) / (math.sqrt(2 * math.pi) * 0.1)
    np.testing.assert_allclose(w, density / 2.0)
    logged = np.random.default_rng(0).uniform(0, 0.5, 1000)
    assert bandwidth_rule(logged) == pytest.approx(1.06 * logged.std(ddof=1) * 1000 ** (-0.2))
    with pytest.raises(ValueError, match="bandwidth"):
        kernel_weights(a, a, np.ones(2), 0.0)


def test_bad_inputs_fail_by_name() -> None:
    with pytest.raises(ValueError, match=r"propensity: row 1 has 0.0"):
        importance_weights(np.ones(2), np.array([0.5, 0.0]))
    with pytest.raises(ValueError, match="reward: contains NaN"):
        ips(np.array([1.0, math.nan]), np.ones(2))
    with pytest.raises(ValueError, match="one shape"):
        ips(np.ones(3), np.ones(2))
    assert math.isnan(snips(np.ones(3), np.zeros(3)).value)  # no support at all: no estimate


def test_clustered_se_by_hand_and_equal_to_the_plain_one_for_singletons() -> None:
    terms = np.array([1.0, 3.0, 2.0, 6.0])
    # residuals -2, 0, -1, 3; shopper sums -2 and 2; se^2 = 2 / 1 x 8 / 16 = 1
    assert clustered_se(terms, np.array([0, 0, 1, 1])) == pytest.approx(1.0)
    assert clustered_se(terms, np.arange(4)) == pytest.approx(terms.std(ddof=1) / 2)
    assert ips(terms, np.ones(4), clusters=np.array([0, 0, 1, 1])).se == pytest.approx(1.0)
