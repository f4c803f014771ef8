"""Off-policy estimators graded against the simulator's truth over many independent logs.

    discountsim benchmark ope [--logs 100] [--n-shoppers 5000] [--myopic-weeks 8] [--default-weeks 13]
        [--n-truth 200000] [--ppo-timesteps 50000] [--dm-epochs 5] [--seed 1] [--out benchmark-ope]

For each scenario, logger (``random``: the grid logger; ``targeted``: rule_based with 20 % uniform
exploration, as ``export-log``) and target policy (uniform 10 %, rule_based, supervised, PPO):

- ``myopic``: the value per shopper-week (one-period estimators IPS, SNIPS, DM, DR). The truth is
  the target's profit per shopper-week on the states that logger visits, every week's
  counterfactual computed from the same state and draws (``off_policy.one_period_truth``), on
  ``--n-truth`` shoppers.
- ``default``: the value per shopper over ``--default-weeks`` weeks (PDIS, WPDIS, sequential DR).
  The truth is the target run on-policy from the same starting population (the evaluator) on
  ``--n-truth`` shoppers.

Over ``--logs`` independent logs of ``--n-shoppers`` shoppers: each estimator's bias (mean
estimate minus truth, with its standard error: the logs' spread and the truth run's own), RMSE,
the coverage of its 95 % interval, the mean effective sample size, and the share of the target's
offers the logger never made. Writes
``estimates.csv`` (every log) and ``summary.csv``.
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
from discountsim.agents import evaluate, make_policy, train_sb3, train_supervised
from discountsim.agents.logging_policies import ExploringLogger
from discountsim.agents.off_policy import fit_outcome_model, off_policy_estimates, one_period_truth
from discountsim.agents.storage import write_csv
from discountsim.experiments.config_rules import SEED_MAX, cli_int
from discountsim.simulators import generate_behaviour_log, load_scenario
from discountsim.simulators.behaviour_log import RandomGridLoggingPolicy
from rich.console import Console
from rich.progress import track


def make_logger(kind: str, params, seed: int):
    """The ``random`` grid logger or the ``targeted`` one (rule_based, 20 % exploration), seeded."""
    if kind == "random":
        return RandomGridLoggingPolicy(seed=seed)
    return ExploringLogger(make_policy("rule_based", scenario=params), epsilon=0.2, seed=seed)


def targets(params, args, console: Console) -> dict:
    """The target policies: uniform 10 %, rule_based, and supervised and PPO trained on ``params``."""
    console.log(f"{params.name}: training supervised and PPO ({args.ppo_timesteps:,} timesteps) as targets")
    supervised = train_supervised(params, n_shoppers=args.target_shoppers, horizon=26, seed=0, epochs=30)[0]
    ppo = train_sb3("ppo", params, total_timesteps=args.ppo_timesteps, seed=0)
    return {
        "uniform_10": make_policy("uniform", scenario=params, depth=0.1),
        "rule_based": make_policy("rule_based", scenario=params),
        "supervised": supervised,
        "ppo": ppo,
    }


def grade(estimates: pd.DataFrame) -> pd.DataFrame:
    """Bias, its standard error, RMSE, coverage and mean ESS per scenario, logger, policy and estimator."""
    keys = ["scenario", "logger", "policy", "estimator"]
    rows = []
    for key, group in estimates.groupby(keys, sort=False):
        error = group["value"] - group["truth"]
        covered = (group["ci_low"] <= group["truth"]) & (group["truth"] <= group["ci_high"])
        rows.append(
            {
                **dict(zip(keys, key, strict=True)),
                "truth": float(group["truth"].iloc[0]),
                "mean_estimate": float(group["value"].mean()),
                "bias": float(error.mean()),
                # the logs' spread and the truth's own sampling (one truth run serves every log)
                "bias_se": math.hypot(
                    float(error.std(ddof=1)) / math.sqrt(len(group)), float(group["truth_se"].iloc[0])
                )
                if len(group) > 1
                else math.nan,
                "rmse": float(np.sqrt((error**2).mean())),
                "coverage": float(covered.mean()),
                "mean_ess": float(group["ess"].mean()),
                "unsupported_share": float(group["unsupported_share"].mean()),
                "logs": len(group),
            }
        )
    out = pd.DataFrame(rows)
    out["bias_within_one_se"] = out["bias"].abs() <= out["bias_se"]
    return out


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--logs", type=cli_int(2), default=100, help="independent logs per scenario and logger")
    parser.add_argument("--n-shoppers", type=cli_int(10), default=5000, help="shoppers in each log")
    parser.add_argument("--myopic-weeks", type=cli_int(1), default=8, help="weeks in each myopic log")
    parser.add_argument(
        "--default-weeks", type=cli_int(1), default=13, help="weeks in each default log (the value's horizon)"
    )
    parser.add_argument("--n-truth", type=cli_int(2), default=200_000, help="shoppers in each truth run")
    parser.add_argument("--ppo-timesteps", type=cli_int(1), default=50_000)
    parser.add_argument(
        "--target-shoppers", type=cli_int(50), default=3000, help="shoppers logged to train the supervised target"
    )
    parser.add_argument("--dm-epochs", type=cli_int(1), default=5, help="epochs of each log's outcome model")
    parser.add_argument("--loggers", nargs="+", choices=["random", "targeted"], default=["random", "targeted"])
    parser.add_argument("--scenarios", nargs="+", choices=["myopic", "default"], default=["myopic", "default"])
    parser.add_argument("--seed", type=cli_int(0, SEED_MAX), default=1)
    parser.add_argument("--out", type=Path, default=Path("benchmark-ope"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    # Each log would warn about rule_based's unsupported offers; the table's unsupported_share says it once.
    logging.getLogger("discountsim.agents.off_policy").setLevel(logging.ERROR)
    console = Console(width=180)
    began = time.perf_counter()
    frames = []
    for scenario in args.scenarios:
        params = load_scenario(scenario)
        policies = targets(params, args, console)
        trajectories = scenario == "default"
        weeks = args.default_weeks if trajectories else args.myopic_weeks
        for kind in args.loggers:
            truth, truth_se = {}, {}
            for label, policy in policies.items():
                if trajectories:
                    row = evaluate(
                        policy, params, args.n_truth, weeks, args.seed + 5, label, oracle=False
                    ).summary.iloc[0]
                    truth[label] = float(row["profit"])
                    truth_se[label] = float(row["profit_ci_high"] - row["profit_ci_low"]) / (2 * 1.959963984540054)
                else:
                    logger = make_logger(kind, params, args.seed + 7)
                    truth[label], truth_se[label] = one_period_truth(
                        params, logger, policy, args.n_truth, weeks, args.seed + 5
                    )
            console.log(f"{scenario}, {kind} logger: truth " + ", ".join(f"{k} {v:.3f}" for k, v in truth.items()))
            for r in track(range(args.logs), description=f"{scenario}, {kind} logs", transient=True):
                seed = args.seed * 1_000 + r
                frame = generate_behaviour_log(params, make_logger(kind, params, seed), args.n_shoppers, weeks, seed)
                model = fit_outcome_model(frame, params, epochs=args.dm_epochs, seed=seed)
                table = off_policy_estimates(frame, policies, params, model, trajectories=trajectories)
                keep = table["horizon"] == (weeks if trajectories else 1)
                table = table[keep].assign(scenario=scenario, logger=kind, log=r)
                table["truth"] = table["policy"].map(truth)
                table["truth_se"] = table["policy"].map(truth_se)
                frames.append(table)
    estimates = pd.concat(frames, ignore_index=True)
    summary = grade(estimates)
    shown = summary[
        [
            "scenario",
            "logger",
            "policy",
            "estimator",
            "truth",
            "bias",
            "bias_se",
            "rmse",
            "coverage",
            "mean_ess",
            "unsupported_share",
        ]
    ]
    console.print(
        f"OPE graded over {args.logs} logs of {args.n_shoppers:,} shoppers; {time.perf_counter() - began:.0f} s"
    )
    console.print(shown.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    write_csv(args.out / "estimates.csv", estimates)
    write_csv(args.out / "summary.csv", summary)
    console.print(f"written: {args.out}/estimates.csv, summary.csv")
    return summary


if __name__ == "__main__":
    main()
