"""The policy benchmark reports the share of the oracle's incremental profit beside its profit share."""

from __future__ import annotations

import pandas as pd
from discountsim.experiments.policy_benchmark import _checks


def test_benchmark_checks_report_the_oracle_incremental_share() -> None:
    rows = []
    for policy, profit, incremental in (
        ("oracle", 200.0, 20.0),
        ("ppo", 185.0, 5.0),
        ("supervised", 180.0, 0.0),
        ("uniform_10", 150.0, -30.0),
        ("rule_based", 140.0, -40.0),
    ):
        rows.append(
            {
                "policy": policy,
                "profit": profit,
                "incremental_profit": incremental,
                "incremental_profit_ci_low": incremental - 1.0,
                "incremental_profit_ci_high": incremental + 1.0,
                "oracle_share": profit / 200.0,
                "oracle_incremental_share": incremental / 20.0,
                "oracle_incremental_share_ci_low": incremental / 20.0 - 0.05,
                "oracle_incremental_share_ci_high": incremental / 20.0 + 0.05,
            }
        )
    checks = {claim: (met, figures) for claim, met, figures in _checks("default", pd.DataFrame(rows), ["ppo"])}
    met, figures = checks["ppo reaches >= 90 % of the oracle's profit"]
    assert met
    assert figures == "92.5% of its profit; 25.0% [20.0%, 30.0%] of its incremental profit"
