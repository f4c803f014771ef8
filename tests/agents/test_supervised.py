"""The supervised pipeline on a tiny log: it learns the direction of the discount response."""

from __future__ import annotations

import numpy as np
import pytest
from discountsim.agents import (
    SupervisedPolicy,
    evaluate,
    load_policy,
    save_policy,
    train_supervised,
    train_supervised_closed_loop,
)
from discountsim.simulators import generate_behaviour_log


@pytest.fixture(scope="module")
def trained():
    return train_supervised("default", n_shoppers=600, horizon=8, seed=0, epochs=15, hidden=(32, 16))


def test_learns_that_deeper_discounts_raise_purchase(trained) -> None:
    policy, report = trained
    log = generate_behaviour_log("default", n_shoppers=200, horizon=2, seed=9)
    x = log[[*policy.features]].to_numpy(np.float32)
    low = policy._predict_outcomes(np.concatenate([x, np.zeros((len(x), 1), np.float32)], axis=1))[:, 0]
    high = policy._predict_outcomes(np.concatenate([x, np.full((len(x), 1), 0.3, np.float32)], axis=1))[:, 0]
    assert high.mean() > low.mean() + 0.02
    assert np.isfinite(report.val_loss) and 1 <= report.epochs <= 15
    assert {"predicted", "observed"} <= set(report.calibration.columns)
    # Calibration: the mean predicted purchase rate is close to the observed one on validation rows.
    assert abs(report.calibration["predicted"].mean() - report.calibration["observed"].mean()) < 0.05


def test_picks_the_grid_discount_with_the_highest_predicted_profit(trained) -> None:
    policy, _ = trained
    obs = generate_behaviour_log("default", n_shoppers=50, horizon=1, seed=3)[list(policy.features)].to_numpy(
        np.float32
    )
    chosen = policy.discounts(obs)
    best = policy.grid[np.argmax(policy.expected_profit(obs), axis=1)]
    np.testing.assert_array_equal(chosen, best)
    assert set(chosen) <= set(policy.grid)


def test_save_load_round_trip(trained, tmp_path) -> None:
    policy, _ = trained
    loaded = load_policy(save_policy(policy, tmp_path / "supervised.json"))
    obs = generate_behaviour_log("default", n_shoppers=40, horizon=1, seed=4)[list(policy.features)].to_numpy(
        np.float32
    )
    np.testing.assert_array_equal(loaded.predict(obs)[0], policy.predict(obs)[0])
    row = evaluate(loaded, "default", n_shoppers=100, horizon=4, seed=0).summary.iloc[0]
    assert row["policy"] == "supervised"


def test_bad_inputs() -> None:
    policy = SupervisedPolicy()
    with pytest.raises(RuntimeError, match="call fit"):
        policy.discounts(np.zeros((2, 19), np.float32))
    with pytest.raises(ValueError, match=r"log: missing columns \['recency'"):
        policy.fit(generate_behaviour_log("default", n_shoppers=5, horizon=1).drop(columns=["recency"]))
    with pytest.raises(ValueError, match=r"grid: expected discounts in \[0, 0.5\]"):
        SupervisedPolicy(grid=(0.0, 0.7))


def test_closed_loop_refits_on_its_own_offers_with_exact_propensities() -> None:
    from discountsim.agents.supervised import EpsilonGreedyLogger

    policy, reports = train_supervised_closed_loop(
        "default", n_shoppers=200, horizon=9, retrain_every=3, epsilon=0.2, seed=1, epochs=3, hidden=(16,)
    )
    assert len(reports) == 3 and all(np.isfinite(r.val_loss) for r in reports)  # random fit + two refits
    logger = EpsilonGreedyLogger(policy, 0.2, np.random.default_rng(0))
    obs = generate_behaviour_log("default", n_shoppers=500, horizon=1, seed=3)[list(policy.features)]
    offers, propensity = logger(obs.to_numpy(np.float32))
    greedy = policy.discounts(obs.to_numpy(np.float32))
    k = policy.grid.size
    np.testing.assert_allclose(propensity, np.where(offers == greedy, 0.8 + 0.2 / k, 0.2 / k))
    assert 0.6 < np.mean(offers == greedy) < 0.95
    with pytest.raises(ValueError, match=r"epsilon: expected a probability in \[0, 1\], got 1.5"):
        train_supervised_closed_loop("default", n_shoppers=10, horizon=2, epsilon=1.5)
    with pytest.raises(ValueError, match="retrain_every"):
        train_supervised_closed_loop("default", n_shoppers=10, horizon=2, retrain_every=0)
