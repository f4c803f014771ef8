from __future__ import annotations

import numpy as np
import pytest
from discountsim.agents import evaluate, make_policy
from discountsim.simulators import feature_index, feature_names, load_scenario

PARAMS = load_scenario("default")


def shopper(browse: float, frequency: float, reviews: float, category: str) -> np.ndarray:
    row = np.zeros(len(feature_names(PARAMS)), dtype=np.float32)
    row[feature_index(PARAMS, "browse")] = browse
    row[feature_index(PARAMS, "frequency")] = frequency
    row[feature_index(PARAMS, "reviews")] = reviews
    row[feature_index(PARAMS, f"category={category}")] = 1.0
    return row


def test_score_and_tiers_by_hand() -> None:
    policy = make_policy("rule_based")
    obs = np.stack(
        [
            shopper(0.0, 0.0, 0.0, "home"),  # score 0 -> tier 0.15, home +0
            shopper(1.0, 0.0, 0.0, "home"),  # 0.3 -> tier 0.10
            shopper(1.0, 3.0, 0.0, "clothing"),  # 0.8 -> tier 0.05, clothing +0.05
            shopper(0.5, 1.5, 1.0, "electronics"),  # 0.15 + 0.25 + 0.2 = 0.6 -> 0.05, electronics +0.10
        ]
    )
    np.testing.assert_allclose(policy.score(obs), [0.0, 0.3, 0.8, 0.6])
    np.testing.assert_allclose(policy.discounts(obs), [0.15, 0.10, 0.10, 0.15])
    actions, _ = policy.predict(obs)
    np.testing.assert_allclose(actions[:, 0], np.array([0.15, 0.10, 0.10, 0.15]) / 0.5 * 2 - 1, atol=1e-6)


def test_thresholds_and_depths_come_from_config() -> None:
    policy = make_policy("rule_based", weights=(1.0, 0.0, 0.0), tiers=[[0.5, 0.3]], category_depths={"beauty": 0.2})
    obs = np.stack([shopper(0.4, 0, 0, "beauty"), shopper(0.6, 0, 0, "beauty"), shopper(0.6, 0, 0, "grocery")])
    np.testing.assert_allclose(policy.discounts(obs), [0.2, 0.5, 0.3])  # 0.3 + 0.2 clipped at d_max 0.5


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"weights": (0.3, 0.5)}, "weights: expected 3 non-negative numbers"),
        ({"tiers": [[0.5, 0.1], [0.2, 0.2]]}, "increasing thresholds"),
        ({"tiers": [[0.0, 0.9]]}, r"depths must lie in \[0, 0.5\]"),
        ({"category_depths": {"toys": 0.1}}, r"unknown categories \['toys'\]; allowed: \['electronics'"),
    ],
)
def test_bad_rule_configs(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        make_policy("rule_based", **kwargs)


def test_rule_based_through_the_evaluator() -> None:
    row = evaluate(make_policy("rule_based"), "default", n_shoppers=200, horizon=6, seed=0).summary.iloc[0]
    assert row["policy"] == "rule_based" and 0.05 <= row["avg_discount"] <= 0.25 and row["offered_share"] == 1.0
