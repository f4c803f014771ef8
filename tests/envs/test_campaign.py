from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from discountsim.envs import CampaignEnv, CohortMap
from discountsim.simulators import feature_index, load_scenario
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays


@settings(max_examples=10, deadline=None)
@given(
    campaign_budget=st.floats(0.0, 500.0),
    action=arrays(np.float32, 15, elements=st.floats(-1.0, 1.0, width=32)),
)
def test_spending_never_exceeds_the_budget(campaign_budget, action) -> None:
    env = CampaignEnv(n_shoppers=200, horizon=5, campaign_budget=campaign_budget)
    obs, _ = env.reset(seed=1)
    spent = 0.0
    for _ in range(5):
        obs, _, terminated, truncated, info = env.step(action)
        spent += info["promotion_cost"]
        assert env.observation_space.contains(obs)
        assert spent <= campaign_budget + 1e-6
        assert info["budget_left"] == pytest.approx(max(campaign_budget - spent, 0.0), abs=1e-6)
    assert truncated and not terminated


def test_budget_binds_and_is_observed() -> None:
    env = CampaignEnv(n_shoppers=300, horizon=4, campaign_budget=20.0)  # less than 300 offers x 0.1 EUR
    obs, _ = env.reset(seed=0)
    assert obs[-5] == 1.0  # budget_left share
    _, _, _, _, info = env.step(np.ones(15, dtype=np.float32))  # 50 % off for every cohort
    assert info["spent"] <= 20.0 and 0 < info["offers_sent"] < 200
    obs, _, _, _, info = env.step(np.ones(15, dtype=np.float32))
    assert obs[-5] == pytest.approx(env.budget_left / 20.0)


def test_cohorts_follow_recency_and_category() -> None:
    params = load_scenario("default")
    cohorts = CohortMap(params)
    obs = np.zeros((3, len(params.catalogue) + 14), dtype=np.float32)
    r = feature_index(params, "recency")
    obs[:, r] = np.log1p([4.0, 5.0, 14.0]) / np.log(53.0)
    obs[0, feature_index(params, "category=electronics")] = 1
    obs[1, feature_index(params, "category=clothing")] = 1
    obs[2, feature_index(params, "category=beauty")] = 1
    names = [cohorts.names[i] for i in cohorts.assign(obs)]
    assert names == ["active/electronics", "lapsing/clothing", "dormant/beauty"]


def test_campaign_is_seeded() -> None:
    a, b = gym.make("DiscountSim/Campaign-v0", n_shoppers=100), gym.make("DiscountSim/Campaign-v0", n_shoppers=100)
    action = np.full(15, -0.5, dtype=np.float32)
    a.reset(seed=4), b.reset(seed=4)
    assert a.step(action)[1] == b.step(action)[1]
    with pytest.raises(
        ValueError, match=r"campaign_budget: expected None or a finite amount >= 0 \(currency\), got -1.0"
    ):
        CampaignEnv(campaign_budget=-1.0)


@pytest.mark.parametrize(("campaign_budget", "budget_per_period"), [(150.0, None), (400.0, 60.0), (1e9, 40.0)])
def test_one_budget_notion_the_campaign_env_and_the_evaluator_spend_alike(campaign_budget, budget_per_period) -> None:
    from discountsim.agents import evaluate, make_policy
    from discountsim.simulators import rollout, spawn_keys

    n, horizon, depth, params = 200, 6, 0.2, load_scenario("default")
    env = CampaignEnv(
        n_shoppers=n, horizon=horizon, campaign_budget=campaign_budget, budget_per_period=budget_per_period
    )
    env.reset(seed=4)
    action = env.actions.from_discount(np.full(env.cohorts.n_cohorts, depth)).reshape(-1)
    profits = [env.step(action)[4]["profit"] for _ in range(horizon)]
    uniform = make_policy("uniform", depth=float(env.actions.to_discount(action)[0]))  # float32 actions: 0.2 +- ulp
    keys = spawn_keys(np.random.default_rng(4), n)  # the env's shoppers: its np_random is default_rng(4)
    rule = uniform.discount_rule(params)
    totals = rollout(params, keys, rule, horizon, budget_per_period, campaign_budget=campaign_budget)
    np.testing.assert_array_equal(totals.profit_by_period, profits)
    spent = totals.promotion_cost.sum()
    assert spent <= campaign_budget + 1e-9
    if budget_per_period is not None:
        free = rollout(params, keys, rule, horizon)
        assert free.promotion_cost.sum() > spent  # the cap binds
    summary = evaluate(
        uniform, params, n, horizon, 4, campaign_budget=campaign_budget, budget_per_period=budget_per_period
    )
    assert summary.summary.loc[0, "promotion_cost"] * n == pytest.approx(spent)
