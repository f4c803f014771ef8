"""``discountsim benchmark calibration`` end to end at a tiny size: every table, its columns and its checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
from discountsim.experiments.calibration_benchmark import main


def test_the_benchmark_writes_every_table_and_judges_each_goal(tmp_path) -> None:
    args = ["--scenarios", "default", "--logging", "random", "--n-shoppers", "300", "--horizon", "6"]
    args += ["--n-eval", "100", "--n-oracle", "50", "--ppo-timesteps", "256", "--out", str(tmp_path)]
    main(args)
    fit = pd.read_csv(tmp_path / "fit.csv")
    assert list(fit["log"]) == ["default_random"] and fit["rows"].iloc[0] == 300 * 6
    fidelity = pd.read_csv(tmp_path / "fidelity.csv")
    assert set(fidelity["policy"]) == {"no_discount", "uniform_5", "uniform_10", "uniform_20", "rule_based"} | {
        "supervised",
        "ppo",
    }
    # The truth re-seeded is the evaluation's own noise: no_discount's incremental profit is 0 by definition.
    reseeded = fidelity.set_index("policy")
    assert reseeded.loc["no_discount", "truth_reseeded_incremental_gap"] == 0.0
    assert np.isfinite(fidelity["truth_reseeded_profit_gap_pct"]).all()
    gap = 100 * (fidelity["profit_fitted"] - fidelity["profit_true"]) / fidelity["profit_true"].abs()
    np.testing.assert_allclose(fidelity["profit_gap_pct"], gap)
    twin = pd.read_csv(tmp_path / "twin.csv")
    assert set(twin["policy"]) == {"twin", "supervised", "ppo"}
    checks = pd.read_csv(tmp_path / "checks.csv")
    assert set(checks.columns) >= {"log", "claim", "met", "figures"}
    claims = " | ".join(checks["claim"])
    assert "profit per shopper within 3 %" in claims and "same ranking" in claims and "twin" in claims
    assert checks["met"].isin([True, False]).all()
