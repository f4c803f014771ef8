"""What each stress scenario stresses shows up in the results (win-back: discounts buy retention)."""

from __future__ import annotations

import numpy as np
from discountsim.agents import OraclePolicy, evaluate_lineup, make_policy
from discountsim.simulators import initial_state, load_scenario, spawn_keys


def test_win_back_starts_every_shopper_lapsed_12_to_40_weeks() -> None:
    params = load_scenario("win_back")
    state = initial_state(params, spawn_keys(np.random.default_rng(0), 3000))
    assert state.recency.min() == 12.0 and state.recency.max() == 40.0
    assert (state.tenure >= state.recency).all()  # acquired before their last purchase
    # The smoothed purchase count decays over the lapse: 0.9 ** 12 of the active population's.
    active = initial_state(load_scenario("default"), spawn_keys(np.random.default_rng(0), 3000))
    same = state.traits.segment == active.traits.segment
    assert same.sum() > 1000
    ratio = state.frequency[same] / active.frequency[same]
    np.testing.assert_allclose(ratio[state.traits.intent[same] == active.traits.intent[same]], 0.9**12)


def test_on_win_back_the_oracle_buys_retention_and_targets_the_lapsed() -> None:
    policies = {"none": make_policy("no_discount"), "oracle": OraclePolicy()}
    won = evaluate_lineup(policies, "win_back", 400, 26, seed=3).summary.set_index("policy")
    assert won.loc["oracle", "retention"] > won.loc["none", "retention"] + 0.02
    assert won.loc["oracle", "incremental_profit_ci_low"] > 0.0
    # On the default population the oracle offers to lapsing and dormant shoppers far more than to active ones.
    cohorts = evaluate_lineup(policies, "default", 400, 26, seed=3).by_cohort
    oracle = cohorts[cohorts["policy"] == "oracle"].assign(tier=lambda c: c["cohort"].str.split("/").str[0])
    offered = (oracle["offered_share"] * oracle["shoppers"]).groupby(oracle["tier"]).sum()
    rate = offered / oracle.groupby("tier")["shoppers"].sum()
    assert min(rate["lapsing"], rate["dormant"]) > rate["active"] + 0.15
