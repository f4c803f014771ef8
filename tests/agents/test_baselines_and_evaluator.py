"""Baselines answer in the env's action space; the evaluator compares on common random numbers."""

from __future__ import annotations

import numpy as np
import pytest
from discountsim.agents import RandomPolicy, evaluate, evaluate_lineup, make_policy
from discountsim.envs import ShopperVecEnv
from stable_baselines3 import DQN, PPO

N_FEATURES = 19


def obs(n: int = 4) -> np.ndarray:
    return np.zeros((n, N_FEATURES), dtype=np.float32)


def test_baseline_actions_on_hand_made_observations() -> None:
    actions, state = make_policy("no_discount").predict(obs())
    np.testing.assert_array_equal(actions, np.full((4, 1), -1.0, dtype=np.float32))  # -1 maps to 0 %
    assert state is None
    actions, _ = make_policy("uniform", depth=0.25).predict(obs())
    np.testing.assert_allclose(actions, 0.0)  # 25 % of d_max 50 % is the middle of [-1, 1]
    single, _ = make_policy("uniform", depth=0.5).predict(obs(1)[0])
    np.testing.assert_allclose(single, [1.0])
    levels, _ = make_policy("uniform", depth=0.2, action_type="discrete").predict(obs())
    np.testing.assert_array_equal(levels, [4, 4, 4, 4])  # levels 0, 5, ..., 50 %


def test_random_policy_draws_its_grid_with_known_propensities() -> None:
    policy = RandomPolicy(levels=(0.0, 0.1, 0.3), seed=0)
    d = policy.discounts(obs(30_000))
    assert set(np.round(d, 6)) == {0.0, 0.1, 0.3}
    np.testing.assert_allclose([np.mean(d == x) for x in (0.0, 0.1, 0.3)], 1 / 3, atol=0.01)
    np.testing.assert_allclose(policy.propensity(np.array([0.1, 0.2])), [1 / 3, 0.0])


def test_bad_policy_inputs() -> None:
    with pytest.raises(ValueError, match=r"unknown policy 'greedy'; allowed: \["):
        make_policy("greedy")
    with pytest.raises(ValueError, match=r"depth: 0.9 is outside the allowed range \[0, 0.5\]"):
        make_policy("uniform", depth=0.9)
    with pytest.raises(ValueError, match="expected 19 features per shopper, got 3"):
        make_policy("no_discount").predict(np.zeros((2, 3), dtype=np.float32))  # width from the scenario


def test_no_discount_has_exactly_zero_incremental_profit() -> None:
    result = evaluate(make_policy("no_discount"), "default", n_shoppers=300, horizon=8, seed=1)
    row = result.summary.iloc[0]
    assert row["incremental_profit"] == 0.0 and row["incremental_profit_ci_low"] == 0.0
    assert row["promotion_cost"] == 0.0 and np.isnan(row["roi"])
    np.testing.assert_array_equal(result.totals.profit, result.baseline.profit)


def test_evaluation_is_deterministic_and_consistent() -> None:
    a = evaluate(make_policy("uniform", depth=0.2), "default", n_shoppers=300, horizon=8, seed=2)
    b = evaluate(make_policy("uniform", depth=0.2), "default", n_shoppers=300, horizon=8, seed=2)
    assert a.summary.equals(b.summary)
    row = a.summary.iloc[0]
    assert row["profit_ci_low"] <= row["profit"] <= row["profit_ci_high"]
    assert row["offered_share"] == 1.0 and row["avg_discount"] == pytest.approx(0.2)
    assert row["roi"] == pytest.approx(row["incremental_profit"] / row["promotion_cost"])
    assert a.by_segment["shoppers"].sum() == 300
    assert row["total_profit"] == pytest.approx(300 * row["profit"])


@pytest.mark.parametrize("algo", ["ppo", "dqn"])
def test_sb3_models_go_through_the_same_evaluator(algo) -> None:
    action_type = "continuous" if algo == "ppo" else "discrete"
    vec = ShopperVecEnv(8, horizon=4, seed=0, action_type=action_type, reward_scale=0.01)
    model = (
        PPO("MlpPolicy", vec, n_steps=8, batch_size=32, n_epochs=1, seed=0, device="cpu")
        if algo == "ppo"
        else DQN("MlpPolicy", vec, learning_starts=16, seed=0, device="cpu")
    )
    model.learn(64)
    result = evaluate(model, "default", n_shoppers=50, horizon=4, seed=0, name=algo)
    row = result.summary.iloc[0]
    assert row["policy"] == algo and 0.0 <= row["avg_discount"] <= 0.5


def test_lineup_shares_shoppers_and_reports_oracle_share_and_cohorts() -> None:
    policies = {
        "none": make_policy("no_discount"),
        "deep": make_policy("uniform", depth=0.3),
        "oracle": make_policy("oracle", grid={"reference_nodes": 3, "fatigue_nodes": 3, "stock_nodes": [0.0, 1.0]}),
    }
    # The yardstick is named explicitly: a line-up's own oracle does not silently replace the default one.
    lineup = evaluate_lineup(policies, "default", n_shoppers=60, horizon=4, seed=3, oracle=policies["oracle"])
    rows = lineup.summary.set_index("policy")
    assert rows.loc["oracle", "oracle_share"] == pytest.approx(1.0)
    assert rows.loc["oracle", "uplift_captured"] == pytest.approx(1.0)
    assert rows.loc["oracle", "oracle_share_ci_low"] == pytest.approx(1.0)
    assert rows.loc["none", "incremental_profit"] == 0.0
    # Same shoppers as a separate evaluation: identical figures.
    alone = evaluate(make_policy("uniform", depth=0.3), "default", n_shoppers=60, horizon=4, seed=3)
    np.testing.assert_array_equal(alone.totals.profit, lineup.evaluations["deep"].totals.profit)
    assert np.isnan(alone.summary.loc[0, "oracle_share"])
    share = rows.loc["deep", "profit"] / rows.loc["oracle", "profit"]
    assert rows.loc["deep", "oracle_share"] == pytest.approx(share)
    cohorts = lineup.by_cohort[lineup.by_cohort["policy"] == "deep"]
    assert cohorts["shoppers"].sum() == 60 and cohorts["cohort"].str.contains("/").all()
    assert (cohorts["offered_share"] == 1.0).all()
    with pytest.raises(ValueError, match="at least one policy"):
        evaluate_lineup({}, "default")


def test_oracles_need_the_true_state() -> None:
    with pytest.raises(TypeError, match=r"oracle: acts on the simulator's true state.*agents.evaluate"):
        make_policy("oracle").predict(obs())
    with pytest.raises(ValueError, match=r"grid: unknown field in \['nodes'\]; allowed: \["):
        make_policy("oracle", grid={"nodes": 3})


def test_oracle_equals_myopic_oracle_without_dynamics() -> None:
    small = {"n_shoppers": 80, "horizon": 6, "seed": 4}
    myopic = evaluate_lineup({p: make_policy(p) for p in ("myopic_oracle", "oracle")}, "myopic", **small)
    runs = myopic.evaluations
    np.testing.assert_array_equal(runs["oracle"].totals.discount_sum, runs["myopic_oracle"].totals.discount_sum)
    np.testing.assert_array_equal(runs["oracle"].totals.profit, runs["myopic_oracle"].totals.profit)
