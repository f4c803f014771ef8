"""Policy benchmark: every policy trained on a small budget and judged on the same shoppers.

    python -m experiments.benchmark policies [--scenarios default reference_heavy myopic]
        [--algorithms ppo a2c dqn sac td3 recurrent_ppo] [--timesteps-scale 1.0]
        [--n-eval 3000] [--seed 5] [--out benchmark-results]

For each scenario: trains the supervised baseline (open loop, and closed loop unless
``--no-closed-loop``) and each SB3 agent with its tuned defaults (``conf/agent/*.yaml``, budget
= the YAML's ``total_timesteps`` x ``--timesteps-scale``), then evaluates the whole line-up with
the oracle and no-discount runs on the same ``--n-eval`` shoppers (common random numbers). Prints
one table per scenario and the checks the project claims (oracle >= every policy; the best SB3
agent beats supervised and reaches 90 % of the oracle, except on ``myopic``; supervised beats
uniform and rule_based; on ``myopic``, myopic oracle = oracle and supervised within 5 % of it),
each marked as met or missed, and writes ``results.csv``, ``checks.csv`` and ``segments_<scenario>.csv``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from agents import (
    ALGORITHMS,
    agent_config,
    evaluate_lineup,
    make_policy,
    train_sb3,
    train_supervised,
    train_supervised_closed_loop,
)
from agents.storage import write_csv
from simulators import load_scenario
from simulators.planning import coverage


def _line_up(scenario: str, args: argparse.Namespace, console: Console) -> tuple[dict[str, Any], dict[str, float]]:
    """Build and train every policy for ``scenario``; returns the policies and training seconds."""
    policies: dict[str, Any] = {
        "no_discount": make_policy("no_discount"),
        "uniform_10": make_policy("uniform", depth=0.1),
        "rule_based": make_policy("rule_based", scenario=scenario),
    }
    seconds: dict[str, float] = {}

    def timed(label: str, build) -> None:
        start = time.perf_counter()
        policies[label] = build()
        seconds[label] = time.perf_counter() - start
        console.log(f"{scenario}: trained {label} in {seconds[label]:.0f} s")

    timed("supervised", lambda: train_supervised(scenario, n_shoppers=3000, horizon=26, seed=0, epochs=30)[0])
    if args.closed_loop:
        timed(
            "supervised_closed_loop",
            lambda: train_supervised_closed_loop(
                scenario, n_shoppers=2000, horizon=52, retrain_every=13, seed=0, epochs=30
            )[0],
        )
    for algorithm in args.algorithms:
        steps = int(agent_config(algorithm)["total_timesteps"] * args.timesteps_scale)
        timed(algorithm, lambda a=algorithm, s=steps: train_sb3(a, scenario, total_timesteps=s, seed=0))
    policies["myopic_oracle"] = make_policy("myopic_oracle")
    policies["oracle"] = make_policy("oracle")
    return policies, seconds


def _checks(scenario: str, summary: pd.DataFrame, algorithms: list[str]) -> list[tuple[str, bool, str]]:
    """The project's claims for one scenario: (claim, met, figures)."""
    row = summary.set_index("policy")
    incr = row["incremental_profit"]
    low, high = row["incremental_profit_ci_low"], row["incremental_profit_ci_high"]
    checks: list[tuple[str, bool, str]] = []
    others = row.drop(index="oracle")
    best_other = others["profit"].idxmax()
    checks.append(
        (
            "oracle >= every policy",
            bool(row.loc["oracle", "profit"] >= others["profit"].max()),
            f"oracle {row.loc['oracle', 'profit']:.2f}, best other {best_other} {others['profit'].max():.2f}",
        )
    )
    trained = [a for a in algorithms if a in row.index]
    if trained and scenario != "myopic":  # without inter-period dynamics there is nothing for RL to gain
        best = max(trained, key=lambda a: row.loc[a, "profit"])
        checks.append(
            (
                f"best SB3 agent ({best}) beats supervised, non-overlapping incremental-profit intervals",
                bool(low[best] > high["supervised"]),
                f"{best} {incr[best]:.2f} [{low[best]:.2f}, {high[best]:.2f}] vs supervised "
                f"{incr['supervised']:.2f} [{low['supervised']:.2f}, {high['supervised']:.2f}]",
            )
        )
        share = row.loc[best, "oracle_share"]
        checks.append((f"{best} reaches >= 90 % of the oracle's profit", bool(share >= 0.9), f"{share:.1%}"))
    for rival in ("uniform_10", "rule_based"):
        checks.append(
            (
                f"supervised beats {rival}",
                bool(low["supervised"] > high[rival]),
                f"{incr['supervised']:.2f} vs {incr[rival]:.2f} incremental profit",
            )
        )
    if scenario == "myopic":
        gap = abs(row.loc["oracle", "profit"] - row.loc["myopic_oracle", "profit"])
        checks.append(("myopic_oracle equals oracle", bool(gap < 1e-9), f"difference {gap:.2e}"))
        share = row.loc["supervised", "oracle_share"]
        checks.append(("supervised within 5 % of the oracle", bool(share >= 0.95), f"{share:.1%}"))
    return checks


def _with_ci(row: pd.Series, metric: str) -> str:
    return f"{row[metric]:+.2f} [{row[f'{metric}_ci_low']:+.2f}, {row[f'{metric}_ci_high']:+.2f}]"


def _print(console: Console, scenario: str, summary: pd.DataFrame, seconds: dict[str, float]) -> None:
    covered = coverage(load_scenario(scenario))
    title = f"{scenario}: {int(summary['n_shoppers'][0]):,} shoppers x {int(summary['horizon'][0])} weeks"
    if not covered.exact:
        title += " (oracle is a reference here: it approximates " + "; ".join(covered.gaps) + ")"
    table = Table(title=title)
    for column in (
        "policy",
        "profit / shopper",
        "incremental [95 % CI]",
        "share of oracle",
        "ROI",
        "avg disc.",
        "train s",
    ):
        table.add_column(column, justify="left" if column == "policy" else "right")
    for _, r in summary.sort_values("profit", ascending=False).iterrows():
        table.add_row(
            r["policy"],
            f"{r['profit']:.2f}",
            _with_ci(r, "incremental_profit"),
            f"{r['oracle_share']:.1%}",
            "-" if pd.isna(r["roi"]) else f"{r['roi']:+.2f}",
            f"{r['avg_discount']:.3f}",
            f"{seconds.get(r['policy'], 0.0):.0f}",
        )
    console.print(table)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenarios", nargs="+", default=["default", "reference_heavy", "myopic"])
    parser.add_argument("--algorithms", nargs="+", default=list(ALGORITHMS), choices=list(ALGORITHMS))
    parser.add_argument("--timesteps-scale", type=float, default=1.0, help="multiplies each YAML's total_timesteps")
    parser.add_argument("--n-eval", type=int, default=3000, help="shoppers in the evaluation")
    parser.add_argument("--horizon", type=int, default=52)
    parser.add_argument("--seed", type=int, default=5, help="seed of the evaluation shoppers")
    parser.add_argument("--no-closed-loop", dest="closed_loop", action="store_false")
    parser.add_argument("--out", type=Path, default=Path("benchmark-results"))
    args = parser.parse_args(argv)
    console = Console(width=140)
    frames, all_checks = [], []
    for scenario in args.scenarios:
        policies, seconds = _line_up(scenario, args, console)
        lineup = evaluate_lineup(policies, scenario, n_shoppers=args.n_eval, horizon=args.horizon, seed=args.seed)
        summary = lineup.summary.assign(train_seconds=[seconds.get(p, 0.0) for p in lineup.summary["policy"]])
        _print(console, scenario, summary, seconds)
        for claim, met, figures in _checks(scenario, summary, args.algorithms):
            all_checks.append((scenario, claim, met, figures))
            console.print(f"  [{'green' if met else 'red'}]{'met' if met else 'MISSED'}[/] {claim}: {figures}")
        frames.append(summary)
        write_csv(args.out / f"segments_{scenario}.csv", lineup.by_segment)
    results = pd.concat(frames, ignore_index=True)
    write_csv(args.out / "results.csv", results)
    write_csv(args.out / "checks.csv", pd.DataFrame(all_checks, columns=["scenario", "claim", "met", "figures"]))
    console.print(f"written: {args.out / 'results.csv'}, {args.out / 'checks.csv'}")
    return results


if __name__ == "__main__":
    main()
