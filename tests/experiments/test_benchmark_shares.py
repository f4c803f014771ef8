"""The policy benchmark judges agents by the uplift they capture, not by a profit share that flatters them."""

from __future__ import annotations

import pandas as pd
from discountsim.experiments.policy_benchmark import _checks


def test_benchmark_checks_report_the_uplift_captured() -> None:
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
                "uplift_captured": incremental / 20.0,
                "uplift_captured_ci_low": incremental / 20.0 - 0.05,
                "uplift_captured_ci_high": incremental / 20.0 + 0.05,
            }
        )
    rows.append({**rows[1], "policy": "dqn", "incremental_profit": -0.5})
    rows[-1].update(incremental_profit_ci_low=-1.5, incremental_profit_ci_high=0.5)
    checks = {claim: (met, figures) for claim, met, figures in _checks("default", pd.DataFrame(rows), ["ppo", "dqn"])}
    # 92.5 % of the oracle's profit would pass a profit-share check; a quarter of its uplift does not.
    met, figures = checks["ppo captures >= 50 % of the oracle's incremental profit"]
    assert not met
    assert figures == "92.5% of its profit; 25.0% [20.0%, 30.0%] of its incremental profit"
    met, figures = checks["ppo does not lose money: incremental-profit interval above -1"]
    assert met and figures == "+5.00 [+4.00, +6.00]"
    met, figures = checks["dqn does not lose money: incremental-profit interval above -1"]
    assert not met and figures == "-0.50 [-1.50, +0.50]"
