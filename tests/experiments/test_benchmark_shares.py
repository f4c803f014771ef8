"""The policy benchmark judges agents by the uplift they capture, not by a profit share that flatters them."""

from __future__ import annotations

import pandas as pd
import pytest
from discountsim.experiments import policy_benchmark
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
    assert not any(claim.startswith("best agent learning from the reward alone") for claim in checks)
    # A student distilled from the oracle leads; the claim is made again for RL from the reward alone.
    distilled = {**rows[1], "policy": "ppo_distilled", "profit": 195.0, "incremental_profit": 15.0}
    distilled |= {"uplift_captured": 0.75, "uplift_captured_ci_low": 0.7, "uplift_captured_ci_high": 0.8}
    frame = pd.DataFrame([*rows, distilled])
    checks = {claim: met for claim, met, _ in _checks("default", frame, ["ppo", "dqn", "ppo_distilled"])}
    assert checks["ppo_distilled captures >= 50 % of the oracle's incremental profit"]
    assert not checks[
        "best agent learning from the reward alone (ppo) captures >= 50 % of the oracle's incremental profit"
    ]


def test_over_seeds_averages_trained_policies_with_a_t_interval_and_keeps_the_rest() -> None:
    import numpy as np
    from discountsim.experiments.policy_benchmark import over_seeds

    rows = []
    for seed, uplift in enumerate([0.2, 0.3, 0.4]):
        for policy, value in (("ppo", uplift), ("oracle", 1.0)):
            rows.append(
                {
                    "policy": policy,
                    "train_seed": seed,
                    "profit": 100 * value,
                    "profit_ci_low": 0.0,
                    "profit_ci_high": 1.0,
                    "incremental_profit": 10 * value,
                    "incremental_profit_ci_low": 10 * value - 1,
                    "incremental_profit_ci_high": 10 * value + 1,
                    "uplift_captured": value,
                    "uplift_captured_ci_low": value - 0.05,
                    "uplift_captured_ci_high": value + 0.05,
                }
            )
    table = over_seeds(pd.DataFrame(rows)).set_index("policy")
    half = 4.302652729911275 * 0.1 / np.sqrt(3)  # t(0.975, 2 dof) x sd of 0.2, 0.3, 0.4 / sqrt(3)
    assert table.loc["ppo", "uplift_captured"] == pytest.approx(0.3) and table.loc["ppo", "seeds"] == 3
    assert table.loc["ppo", "uplift_captured_ci_low"] == pytest.approx(0.3 - half)
    assert table.loc["ppo", "incremental_profit_ci_high"] == pytest.approx(3.0 + 10 * half)
    # The oracle does not train: the same in every seed, it keeps its interval over shoppers.
    assert table.loc["oracle", "uplift_captured_ci_low"] == pytest.approx(0.95)


def test_repeated_training_seeds_are_refused() -> None:
    from discountsim.experiments import policy_benchmark

    with pytest.raises(SystemExit):
        policy_benchmark.main(["--train-seeds", "0", "0"])


def test_without_dynamics_only_the_static_algorithms_are_trained(tmp_path) -> None:
    args = ["--scenarios", "myopic", "--algorithms", "ppo", "dqn", "--timesteps-scale", "0.0005"]
    args += ["--n-eval", "40", "--horizon", "3", "--no-closed-loop", "--out", str(tmp_path)]
    assert not {"ppo", "dqn"} & set(policy_benchmark.main(args)["policy"])  # by default, none on myopic
    results = policy_benchmark.main([*args, "--static-algorithms", "ppo"])
    assert "ppo" in set(results["policy"]) and "dqn" not in set(results["policy"])
