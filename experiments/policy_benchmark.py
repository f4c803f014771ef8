"""Policy benchmark: every policy trained on a small budget and judged on the same shoppers.

    discountsim benchmark policies [--scenarios default reference_heavy myopic]
        [--algorithms ppo a2c dqn sac td3 recurrent_ppo ppo_distilled] [--timesteps-scale 1.0]
        [--n-eval 3000] [--seed 5] [--train-seeds 0 1 2] [--static-algorithms ppo a2c] [--out benchmark-results]

For each scenario: trains the supervised baseline (open loop, and closed loop unless
``--no-closed-loop``) and each SB3 agent (on a scenario without inter-period dynamics, such as
``myopic``, only ``--static-algorithms``, none by default: there RL has nothing to gain over the myopic optimum and
the checks are the oracle's and supervised's) with its tuned defaults (``conf/agent/*.yaml``, budget
= the YAML's ``total_timesteps`` x ``--timesteps-scale``), then evaluates the whole line-up with
the oracle and no-discount runs on the same ``--n-eval`` shoppers (common random numbers). Prints
one table per scenario and the checks the project claims (oracle >= every policy; the best SB3
agent beats supervised and captures half of the oracle's incremental profit, as does the best agent
that learns from the reward alone (not distilled from the oracle), and no SB3 agent's
incremental-profit interval reaches below -1, except on ``myopic``; supervised beats
uniform and rule_based; on ``myopic``, myopic oracle = oracle and supervised within 5 % of it),
each marked as met or missed, and writes ``results.csv`` (one row per policy and training seed),
``checks.csv`` and ``segments_<scenario>_seed<k>.csv``. With several ``--train-seeds``, every
policy is trained once per seed and the tables and checks use each policy's mean over seeds, with
a Student-t interval over seeds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from discountsim.agents import ALGORITHMS, agent_config, evaluate_lineup
from discountsim.agents.sb3_agents import is_distilled
from discountsim.agents.storage import write_csv
from discountsim.experiments.config_rules import SEED_MAX, cli_int, cli_positive_number, cli_scenario
from discountsim.experiments.lineup import build_lineup
from discountsim.experiments.tables import print_leaderboard
from discountsim.simulators import load_scenario
from discountsim.simulators.planning import coverage
from rich.console import Console
from scipy import stats


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
        share = row.loc[best, "uplift_captured"]
        checks.append(
            (f"{best} captures >= 50 % of the oracle's incremental profit", bool(share >= 0.5), _shares(row, best))
        )
        reward_only = [a for a in trained if not is_distilled(a)]
        if reward_only and set(reward_only) != set(trained):  # the same claim for RL without the oracle's labels
            best_rl = max(reward_only, key=lambda a: row.loc[a, "profit"])
            checks.append(
                (
                    f"best agent learning from the reward alone ({best_rl}) captures >= 50 % of the oracle's "
                    "incremental profit",
                    bool(row.loc[best_rl, "uplift_captured"] >= 0.5),
                    _shares(row, best_rl),
                )
            )
        for algorithm in trained:
            checks.append(
                (
                    f"{algorithm} does not lose money: incremental-profit interval above -1",
                    bool(low[algorithm] > -1.0),
                    f"{incr[algorithm]:+.2f} [{low[algorithm]:+.2f}, {high[algorithm]:+.2f}]",
                )
            )
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
        checks.append(("supervised within 5 % of the oracle", bool(share >= 0.95), _shares(row, "supervised")))
    return checks


def _shares(row: pd.DataFrame, policy: str) -> str:
    """The share of the oracle's profit, and the stricter share of its incremental profit with its interval."""
    r = row.loc[policy]
    incremental = r["uplift_captured"]
    interval = f" [{r['uplift_captured_ci_low']:.1%}, {r['uplift_captured_ci_high']:.1%}]"
    return f"{r['oracle_share']:.1%} of its profit; {incremental:.1%}{interval} of its incremental profit"


SEEDS_NOTE = (
    "Sorted by profit, best first. Trained policies (SB3 agents, supervised): mean over training seeds, a ± b the "
    "half-width of a Student-t 95 % interval over seeds; the others, which do not train, keep their interval over "
    "shoppers. ROI, avg discount, offered and retention: means over seeds."
)


def over_seeds(runs: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Each policy's metrics as their mean over training seeds, with a Student-t interval over seeds.

    The intervals of ``incremental_profit``, ``uplift_captured`` and ``profit`` become intervals over
    seeds (what a researcher can expect from another training run); policies that do not train
    (the same in every seed) keep their paired intervals over shoppers. ``seeds`` counts the runs.
    """
    rows = []
    for policy, group in runs.groupby("policy", sort=False):
        row = group.mean(numeric_only=True).to_dict()
        row["policy"], row["seeds"] = policy, len(group)
        for metric in ("profit", "incremental_profit", "uplift_captured"):
            values = group[metric].to_numpy(dtype=float)
            if len(values) > 1 and values.std(ddof=1) > 0.0:
                half = (
                    float(stats.t.ppf(0.5 + confidence / 2, len(values) - 1))
                    * values.std(ddof=1)
                    / np.sqrt(len(values))
                )
                row[f"{metric}_ci_low"], row[f"{metric}_ci_high"] = values.mean() - half, values.mean() + half
            else:
                row[f"{metric}_ci_low"], row[f"{metric}_ci_high"] = (
                    group[f"{metric}_ci_low"].mean(),
                    group[f"{metric}_ci_high"].mean(),
                )
        rows.append(row)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenarios", nargs="+", type=cli_scenario, default=["default", "reference_heavy", "myopic"])
    parser.add_argument("--algorithms", nargs="+", default=list(ALGORITHMS), choices=list(ALGORITHMS))
    parser.add_argument(
        "--timesteps-scale",
        type=cli_positive_number,
        default=1.0,
        help="multiplies each YAML's total_timesteps, and the distilled agents' shoppers per round",
    )
    parser.add_argument("--n-eval", type=cli_int(2), default=3000, help="shoppers in the evaluation")
    parser.add_argument("--horizon", type=cli_int(1), default=52)
    parser.add_argument("--seed", type=cli_int(0, SEED_MAX), default=5, help="seed of the evaluation shoppers")
    parser.add_argument("--no-closed-loop", dest="closed_loop", action="store_false")
    parser.add_argument(
        "--train-seeds",
        nargs="+",
        type=cli_int(0, SEED_MAX),
        default=[0],
        help="training seeds; with several, every trained policy is reported as its mean over seeds",
    )
    parser.add_argument(
        "--static-algorithms",
        nargs="*",
        default=[],
        choices=list(ALGORITHMS),
        help="SB3 agents trained on scenarios without inter-period dynamics (myopic), where the checks are the "
        "oracle's and supervised's and RL has nothing to gain over the myopic optimum (default: none)",
    )
    parser.add_argument("--out", type=Path, default=Path("benchmark-results"))
    args = parser.parse_args(argv)
    if len(set(args.train_seeds)) != len(args.train_seeds):
        parser.error(f"--train-seeds: each seed once, got {args.train_seeds}")
    console = Console(width=140)
    frames, all_checks = [], []
    for scenario in args.scenarios:
        params = load_scenario(scenario)
        static = not any(vars(params.dynamics).values())
        algorithms = [a for a in args.algorithms if a in args.static_algorithms] if static else args.algorithms
        skipped = [a for a in args.algorithms if a not in algorithms]
        if skipped:
            console.print(
                f"{scenario} has no inter-period dynamics: not training {skipped} (only --static-algorithms "
                f"{args.static_algorithms})"
            )
        timesteps = {a: int(agent_config(a)["total_timesteps"] * args.timesteps_scale) for a in algorithms}
        per_seed = []
        for train_seed in args.train_seeds:
            trained = build_lineup(
                params,
                timesteps,
                seed=train_seed,
                supervised={"n_shoppers": 3000, "horizon": 26, "epochs": 30},
                closed_loop={"n_shoppers": 2000, "horizon": 52, "retrain_every": 13, "epochs": 30}
                if args.closed_loop
                else None,
                console=console,
                distill_scale=args.timesteps_scale,
            )
            lineup = evaluate_lineup(
                trained.policies, params, n_shoppers=args.n_eval, horizon=args.horizon, seed=args.seed
            )
            seconds = trained.seconds
            summary = lineup.summary.assign(
                train_seconds=[seconds.get(p, 0.0) for p in lineup.summary["policy"]], train_seed=train_seed
            )
            per_seed.append(summary)
            write_csv(args.out / f"segments_{scenario}_seed{train_seed}.csv", lineup.by_segment)
        summary = per_seed[0] if len(per_seed) == 1 else over_seeds(pd.concat(per_seed, ignore_index=True))
        covered = coverage(params)
        seeds = "" if len(per_seed) == 1 else f"; trained policies: mean and interval over seeds {args.train_seeds}"
        title = f"{scenario}: {args.n_eval:,} shoppers x {args.horizon} weeks{seeds}"
        note = None if len(per_seed) == 1 else SEEDS_NOTE
        print_leaderboard(summary, title, params.currency, note)
        if not covered.exact:
            console.print("The oracle is a reference here, not a bound: it approximates " + "; ".join(covered.gaps))
        for claim, met, figures in _checks(scenario, summary, algorithms):
            all_checks.append((scenario, claim, met, figures))
            console.print(f"  [{'green' if met else 'red'}]{'met' if met else 'MISSED'}[/] {claim}: {figures}")
        frames.extend(per_seed)
    results = pd.concat(frames, ignore_index=True)
    write_csv(args.out / "results.csv", results)
    write_csv(args.out / "checks.csv", pd.DataFrame(all_checks, columns=["scenario", "claim", "met", "figures"]))
    console.print(f"written: {args.out / 'results.csv'}, {args.out / 'checks.csv'}")
    return results


if __name__ == "__main__":
    main()
