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


def test_on_members_the_oracle_spares_members_who_stay_and_pay_anyway() -> None:
    policies = {"none": make_policy("no_discount", scenario="members"), "oracle": OraclePolicy()}
    result = evaluate_lineup(policies, "members", 400, 26, seed=3)
    groups = result.by_group[result.by_group["attribute"] == "member"].set_index(["policy", "level"])
    # Paid members churn less ...
    assert groups.loc[("none", "yes"), "retention"] > groups.loc[("none", "no"), "retention"] + 0.05
    # ... and, at member prices with a reference that has moved to them, a coupon buys less from them.
    assert groups.loc[("oracle", "yes"), "offered_share"] < groups.loc[("oracle", "no"), "offered_share"] - 0.1
    summary = result.summary.set_index("policy")
    assert summary.loc["oracle", "incremental_profit_ci_low"] > 0.0
