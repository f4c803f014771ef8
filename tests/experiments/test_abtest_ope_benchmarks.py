"""``benchmark abtest`` and ``benchmark ope`` end to end at a tiny size: their tables and the grading arithmetic."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from discountsim.experiments import abtest_benchmark, ope_benchmark


def test_abtest_benchmark_writes_false_positives_power_cuped_and_widths(tmp_path) -> None:
    args = ["--aa", "10", "--n-aa", "100", "--power-runs", "10", "--pilot", "400", "--weeks", "2", "--pre-weeks", "2"]
    summary = abtest_benchmark.main([*args, "--out", str(tmp_path)])
    parts = set(summary["part"])
    assert {"A/A false-positive rate", "power at the planned size", "CUPED variance reduction"} <= parts
    aa = pd.read_csv(tmp_path / "aa.csv")
    assert aa["run"].nunique() == 10 and set(aa["method"]) == {"welch", "cuped"}
    rate = summary[(summary.part == "A/A false-positive rate") & (summary.metric == "profit")]
    assert (rate["low"] <= rate["value"]).all() and (rate["value"] <= rate["high"]).all()
    assert abtest_benchmark.share_interval(50, 1000)[0] == 0.05


def test_ope_grading_against_hand_values() -> None:
    estimates = pd.DataFrame(
        {
            "scenario": "s",
            "logger": "l",
            "policy": "p",
            "estimator": "ips",
            "value": [1.0, 3.0],
            "ci_low": [0.0, 2.5],
            "ci_high": [2.5, 4.0],
            "truth": 2.0,
            "truth_se": 0.0,
            "ess": [10.0, 20.0],
            "unsupported_share": 0.0,
        }
    )
    row = ope_benchmark.grade(estimates).iloc[0]
    assert row["bias"] == 0.0 and row["rmse"] == 1.0 and row["coverage"] == 0.5 and row["mean_ess"] == 15.0
    assert row["bias_se"] == pytest.approx(math.sqrt(2) / math.sqrt(2))  # sd of (-1, 1) over sqrt(2 logs)


def test_ope_benchmark_runs_both_scenarios_at_a_tiny_size(tmp_path) -> None:
    args = ["--logs", "2", "--n-shoppers", "60", "--myopic-weeks", "2", "--default-weeks", "2", "--n-truth", "200"]
    summary = ope_benchmark.main(
        [*args, "--ppo-timesteps", "256", "--dm-epochs", "1", "--target-shoppers", "100", "--out", str(tmp_path)]
    )
    assert set(summary["scenario"]) == {"myopic", "default"}
    assert set(summary.loc[summary.scenario == "myopic", "estimator"]) == {"ips", "snips", "dm", "dr"}
    assert set(summary.loc[summary.scenario == "default", "estimator"]) == {"pdis", "wpdis", "sequential_dr"}
    assert set(summary["policy"]) == {"uniform_10", "rule_based", "supervised", "ppo"}
    assert np.isfinite(summary["truth"]).all() and summary["coverage"].between(0, 1).all()
    assert len(pd.read_csv(tmp_path / "estimates.csv")) == 2 * 2 * (
        4 * 4 + 4 * 3
    )  # loggers x logs x (policies x estimators)
