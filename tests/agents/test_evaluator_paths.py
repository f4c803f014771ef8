"""One evaluator path: a policy's metrics do not depend on the entry point that evaluates it.

Repros of issue 10: ``evaluate`` ran the oracle without the budget and ``evaluate_lineup`` with it
(``oracle_share`` 0.644 against 0.824 for the same policy and shoppers); ``random`` gave other
numbers on every run with the same seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from discountsim.agents import evaluate, evaluate_lineup, make_policy
from discountsim.agents.evaluation import _Z95, policy_seed
from discountsim.agents.oracle import OraclePolicy
from discountsim.experiments.evaluate import evaluate_policies
from gymnasium import spaces
from hydra import compose, initialize_config_dir

CONF = Path(__file__).resolve().parents[2] / "conf"
SMALL = {"n_shoppers": 60, "horizon": 4, "seed": 3}
COARSE = {"reference_nodes": 3, "fatigue_nodes": 3, "stock_nodes": [0.0, 1.0]}


def _cfg(name: str, overrides: list[str]):
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        return compose(name, overrides=overrides)


def _row(summary: pd.DataFrame, label: str) -> pd.Series:
    return summary.set_index("policy").loc[label]


def test_evaluate_and_lineup_give_identical_metrics_under_a_budget() -> None:
    """The repro: same policy, same shoppers, budget set; oracle_share (and every column) agrees."""
    policy = make_policy("uniform", depth=0.1)
    budget = {"budget_per_period": 3.0}  # binds: 60 offers cost 6 EUR a period before any discount
    alone = evaluate(policy, "default", **SMALL, name="uniform", oracle=True, **budget)
    lineup = evaluate_lineup(
        {"none": make_policy("no_discount"), "uniform": policy, "deep": make_policy("uniform", depth=0.3)},
        "default",
        **SMALL,
        oracle=True,
        **budget,
    )
    in_lineup = lineup.summary[lineup.summary["policy"] == "uniform"].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone.summary, in_lineup)
    assert np.isfinite(alone.summary.loc[0, "oracle_share"])
    np.testing.assert_array_equal(alone.totals.profit, lineup.evaluations["uniform"].totals.profit)
    pd.testing.assert_frame_equal(alone.by_segment, lineup.evaluations["uniform"].by_segment)
    # The budget binds for the policy and the oracle alike: without it both figures move.
    free = evaluate(policy, "default", **SMALL, name="uniform")
    assert free.summary.loc[0, "promotion_cost"] > alone.summary.loc[0, "promotion_cost"]
    assert alone.summary.loc[0, "promotion_cost"] * SMALL["n_shoppers"] <= 3.0 * SMALL["horizon"] + 1e-9


def test_the_yardstick_runs_under_the_budget_and_is_shared_by_a_lineup_oracle() -> None:
    budget = 3.0
    oracle = OraclePolicy(grid=COARSE)
    lineup = evaluate_lineup({"oracle": oracle}, "default", **SMALL, oracle=oracle, budget_per_period=budget)
    row = lineup.summary.iloc[0]
    assert row["oracle_share"] == 1.0
    # The oracle itself spends within the budget: it ran under it, not beside it.
    assert row["promotion_cost"] * SMALL["n_shoppers"] <= budget * SMALL["horizon"] + 1e-9
    # An equal oracle given as a member (another object) reuses the yardstick's run, and an oracle
    # in the line-up does not replace the yardstick asked for.
    same = evaluate_lineup(
        {"member": OraclePolicy(grid=COARSE)}, "default", **SMALL, oracle=oracle, budget_per_period=budget
    )
    np.testing.assert_array_equal(same.evaluations["member"].totals.profit, lineup.evaluations["oracle"].totals.profit)
    alone = evaluate(make_policy("uniform", depth=0.1), "default", **SMALL, oracle=oracle, budget_per_period=budget)
    with_other_oracle = evaluate_lineup(
        {"uniform": make_policy("uniform", depth=0.1), "oracle": make_policy("oracle")},
        "default",
        **SMALL,
        oracle=oracle,
        budget_per_period=budget,
    )
    assert _row(with_other_oracle.summary, "uniform")["oracle_share"] == alone.summary.loc[0, "oracle_share"]


def test_hydra_evaluate_gives_the_api_numbers_with_a_budget(tmp_path) -> None:
    """The Hydra ``evaluate`` job (what ``compare`` and ``regress`` also use) agrees with ``agents.evaluate``."""
    cfg = _cfg(
        "evaluate",
        [
            "policies=[{name:uniform,depth:0.1},random]",
            "n_shoppers=60",
            "horizon=4",
            "seed=3",
            "oracle=true",
            "budget_per_period=3.0",
        ],
    )
    metrics = evaluate_policies(cfg, tmp_path)
    for label, policy in (("uniform", make_policy("uniform", depth=0.1)), ("random", make_policy("random"))):
        api = evaluate(policy, "default", **SMALL, name=label, oracle=True, budget_per_period=3.0).summary
        job = metrics[metrics["policy"] == label].reset_index(drop=True)
        pd.testing.assert_frame_equal(job, api)


def test_random_policy_repeats_with_the_evaluation_seed() -> None:
    """The repro: ``evaluate 'policies=[{name:random}]' seed=3`` twice gave 21.03 and 22.74."""
    runs = [evaluate(make_policy("random"), "default", n_shoppers=80, horizon=5, seed=3) for _ in range(2)]
    pd.testing.assert_frame_equal(runs[0].summary, runs[1].summary)
    np.testing.assert_array_equal(runs[0].totals.discount_sum, runs[1].totals.discount_sum)
    # The same policy object evaluated again starts its draws afresh.
    policy = make_policy("random")
    first = evaluate(policy, "default", n_shoppers=80, horizon=5, seed=3).totals.discount_sum
    np.testing.assert_array_equal(
        first, evaluate(policy, "default", n_shoppers=80, horizon=5, seed=3).totals.discount_sum
    )
    np.testing.assert_array_equal(first, runs[0].totals.discount_sum)
    # Another seed, other offers; the policy's own seed picks another stream of the same evaluation seed.
    other = evaluate(make_policy("random"), "default", n_shoppers=80, horizon=5, seed=4)
    assert other.summary.loc[0, "profit"] != runs[0].summary.loc[0, "profit"]
    own = evaluate(make_policy("random", seed=1), "default", n_shoppers=80, horizon=5, seed=3).totals.discount_sum
    assert not np.array_equal(own, first)
    again = evaluate(make_policy("random", seed=1), "default", n_shoppers=80, horizon=5, seed=3).totals.discount_sum
    np.testing.assert_array_equal(own, again)
    # Its place in a line-up does not change its draws.
    lineup = evaluate_lineup(
        {"uniform": make_policy("uniform"), "random": make_policy("random")},
        "default",
        n_shoppers=80,
        horizon=5,
        seed=3,
        oracle=False,
    )
    np.testing.assert_array_equal(lineup.evaluations["random"].totals.discount_sum, first)


def test_random_policy_repeats_through_the_hydra_job(tmp_path) -> None:
    def profit(seed: int, run: str) -> float:
        cfg = _cfg("evaluate", ["policies=[{name:random}]", f"seed={seed}", "n_shoppers=50", "horizon=4"])
        return float(evaluate_policies(cfg, tmp_path / run)["profit"].iloc[0])

    assert profit(3, "a") == profit(3, "b")
    assert profit(3, "a") != profit(4, "c")


def test_any_policy_with_a_reseed_method_gets_the_evaluation_seed() -> None:
    seen: list[np.random.SeedSequence] = []

    class Noisy:
        """A user's stochastic policy that is not a DiscountPolicy: SB3's predict plus reseed."""

        action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)

        def reseed(self, seed: np.random.SeedSequence) -> None:
            seen.append(seed)
            self.rng = np.random.default_rng(seed)

        def predict(self, observation, state=None, episode_start=None, deterministic=True):
            return self.rng.uniform(-1.0, 1.0, (observation.shape[0], 1)).astype(np.float32), state

    a = evaluate(Noisy(), "default", n_shoppers=30, horizon=3, seed=9).totals.profit
    b = evaluate(Noisy(), "default", n_shoppers=30, horizon=3, seed=9).totals.profit
    np.testing.assert_array_equal(a, b)
    assert len(seen) == 2 and seen[0].entropy == 9 and seen[0].spawn_key == policy_seed(9).spawn_key


def test_uplift_captured_is_the_paired_ratio_of_incremental_profits() -> None:
    oracle = OraclePolicy(grid=COARSE)
    lineup = evaluate_lineup(
        {"none": make_policy("no_discount"), "uniform": make_policy("uniform", depth=0.05), "oracle": oracle},
        "default",
        n_shoppers=120,
        horizon=6,
        seed=1,
        oracle=oracle,
    )
    runs = lineup.evaluations
    baseline = runs["uniform"].baseline.profit
    mine = runs["uniform"].totals.profit - baseline
    best = runs["oracle"].totals.profit - baseline
    ratio = mine.mean() / best.mean()
    half = _Z95 * np.std(mine - ratio * best, ddof=1) / (np.sqrt(mine.size) * best.mean())
    row = _row(lineup.summary, "uniform")
    assert row["uplift_captured"] == pytest.approx(ratio)
    assert row["uplift_captured_ci_low"] == pytest.approx(ratio - half)
    assert row["uplift_captured_ci_high"] == pytest.approx(ratio + half)
    # Not the profit share: that one is far from it whenever no discount already earns most.
    assert row["uplift_captured"] != pytest.approx(row["oracle_share"], abs=0.05)
    none = _row(lineup.summary, "none")
    assert (none["uplift_captured"], none["uplift_captured_ci_low"]) == (0.0, 0.0)
    assert none["uplift_captured_ci_high"] == 0.0
    assert _row(lineup.summary, "oracle")["uplift_captured"] == 1.0
    # Without the oracle, NaN like oracle_share.
    alone = evaluate(make_policy("uniform", depth=0.05), "default", n_shoppers=120, horizon=6, seed=1)
    assert alone.summary[["uplift_captured", "oracle_share"]].isna().all(axis=None)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), "abc", True])
def test_budget_per_period_is_validated_by_name(bad) -> None:
    with pytest.raises(ValueError, match=r"budget_per_period: expected null \(no budget\) or a finite amount >= 0"):
        evaluate(make_policy("no_discount"), "default", n_shoppers=10, horizon=2, budget_per_period=bad)


def test_hydra_evaluate_rejects_a_bad_budget_naming_the_key(tmp_path) -> None:
    cfg = _cfg("evaluate", ["policies=[no_discount]", "n_shoppers=10", "horizon=2", "budget_per_period=abc"])
    with pytest.raises(ValueError, match=r"budget_per_period: .* got 'abc'"):
        evaluate_policies(cfg, tmp_path)


def test_oracle_argument_is_checked() -> None:
    with pytest.raises(TypeError, match=r"oracle: expected true, false or a PrivilegedPolicy"):
        evaluate(make_policy("no_discount"), "default", n_shoppers=10, horizon=2, oracle="maybe")
