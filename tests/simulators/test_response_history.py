"""The response history in the observation: smoothed purchase rates with and without offers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from discountsim.simulators import feature_names, generate_behaviour_log, initial_state, observe, spawn_keys, transition
from discountsim.simulators.behaviour_log import RandomGridLoggingPolicy
from discountsim.simulators.log_observations import behaviour_frame
from discountsim.simulators.shop_log import to_shop_log, validate_shop_log

from tests.conftest import scenario_with

PARAMS = scenario_with(observe_responses=True)


def test_the_features_follow_their_equations_by_hand() -> None:
    m = PARAMS.behaviour.response_memory
    state = initial_state(PARAMS, spawn_keys(np.random.default_rng(5), 200))
    weeks, bought_plain = 1.0 / (1.0 - m), state.purchases_seen.copy()
    offers = np.array([0.2, 0.0, 0.2])  # weeks 1 and 3 with an offer for everyone
    offer_weeks, offer_buys = np.zeros(200), np.zeros(200)
    for d in offers:
        state, outcome = transition(PARAMS, state, d)
        offer_weeks = m * offer_weeks + (d > 0)
        offer_buys = m * offer_buys + outcome.purchased * (d > 0)
        bought_plain = m * bought_plain + outcome.purchased * (d == 0)
    obs = observe(PARAMS, state)[:, -3:]
    assert feature_names(PARAMS)[-3:] == ("offer_response", "plain_response", "offer_rate")
    plain = bought_plain / (weeks - offer_weeks + 1.0)
    np.testing.assert_allclose(obs[:, 0], (offer_buys + plain) / (offer_weeks + 1.0), rtol=1e-6)
    np.testing.assert_allclose(obs[:, 1], plain, rtol=1e-6)
    np.testing.assert_allclose(obs[:, 2], (m * m + 1.0) / weeks, rtol=1e-6)
    assert ((obs >= 0.0) & (obs <= 1.0)).all()
    # Deal seekers answer offers; sleeping dogs barely do: the feature separates them.
    seg = np.asarray(PARAMS.segment_names)[state.traits.segment]
    assert obs[seg == "deal_seeker", 0].mean() > obs[seg == "sleeping_dog", 0].mean()


def test_the_default_observation_is_unchanged_without_the_switch() -> None:
    plain = scenario_with()
    assert len(feature_names(PARAMS)) == len(feature_names(plain)) + 3
    keys = spawn_keys(np.random.default_rng(1), 20)
    np.testing.assert_array_equal(
        observe(PARAMS, initial_state(PARAMS, keys))[:, :-3], observe(plain, initial_state(plain, keys))
    )


def test_a_shop_log_rebuilds_the_offer_columns_exactly() -> None:
    truth = generate_behaviour_log(PARAMS, RandomGridLoggingPolicy(seed=2), 80, 10, 3)
    shop = validate_shop_log(to_shop_log(truth))[0]
    rebuilt = behaviour_frame(shop, PARAMS)
    rank = {shopper: k for k, shopper in enumerate(pd.unique(shop["shopper_id"]))}
    truth = truth.assign(order=truth["shopper"].map(rank)).sort_values(["order", "period"]).reset_index(drop=True)
    # No offer precedes a log in either; the weeks' count starts at its stationary value in both.
    np.testing.assert_allclose(rebuilt["offer_rate"], truth["offer_rate"], atol=1e-6)
    # offer_response leans on plain_response by one pseudo-week: close once offers are seen.
    seen = truth["offer_rate"] > 0.1
    np.testing.assert_allclose(rebuilt.loc[seen, "offer_response"], truth.loc[seen, "offer_response"], atol=0.15)
    assert rebuilt["plain_response"].between(0, 1).all()
    assert truth["offer_response"].max() > 0.0
    with pytest.raises(AssertionError):  # the purchases before the log are a median's, not the shopper's own
        np.testing.assert_allclose(rebuilt["plain_response"], truth["plain_response"], atol=1e-6)
