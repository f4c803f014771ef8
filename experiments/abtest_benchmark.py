"""A/B tests graded against the simulator: false positives, the planner's power, CUPED, live vs paired.

    discountsim benchmark abtest [--scenario default] [--treatment rule_based] [--aa 1000]
        [--n-aa 4000] [--power-runs 500] [--weeks 8] [--pre-weeks 8] [--pilot 50000] [--seed 1]
        [--out benchmark-abtest]

1. **A/A tests:** ``--aa`` tests of the treatment against itself, ``--n-aa`` shoppers each: the share
   with p < 0.05 (Welch and CUPED, per metric) with its binomial 95 % interval. Goal 5 % +- 1.5 %.
2. **The planner's power:** a pilot of ``--pilot`` shoppers (both policies on the same shoppers)
   gives the treatment's profit lift over ``no_discount`` and the arms' spreads; the planner's size
   for alpha = 0.05 and 80 % power (Welch; and CUPED's own size for CUPED) is then run
   ``--power-runs`` times on fresh shoppers: the share of tests that reject. Goal 80 % +- 4 %.
3. **CUPED:** the variance reduction on each metric, over the power runs.
4. **Live vs simulated:** the mean width of the live test's 95 % interval for the profit lift beside
   the width of DiscountSim's paired evaluator interval on the same number of shoppers.

Writes ``aa.csv``, ``power.csv`` and ``summary.csv`` into ``--out``.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
from discountsim.agents import make_policy
from discountsim.agents.abtest import (
    METRICS,
    analyse,
    paired_interval,
    pilot,
    required_shoppers,
    simulate_ab_test,
)
from discountsim.agents.storage import write_csv
from discountsim.experiments.config_rules import SEED_MAX, cli_int, cli_scenario
from discountsim.experiments.policies import resolve_policy
from discountsim.simulators import load_scenario
from rich.console import Console
from rich.progress import track

ALPHA, POWER = 0.05, 0.8


def share_interval(hits: int, n: int) -> tuple[float, float, float]:
    """Share of ``hits`` in ``n`` with its Wilson 95 % interval."""
    if n == 0:
        return math.nan, math.nan, math.nan
    p, z = hits / n, 1.959963984540054
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return p, centre - half, centre + half


def _seed(seed: int, part: int) -> int:
    """First test seed of a part (A/A, Welch power, CUPED power): parts never share a test's shoppers."""
    return (seed * 4 + part) * 10_000_000


def _runs(params, treatment, control, n: int, runs: int, args, seed0: int, what: str) -> pd.DataFrame:
    tables = []
    for r in track(range(runs), description=what, transient=True):
        data = simulate_ab_test(params, treatment, control, n, args.weeks, 0.5, seed0 + r, args.pre_weeks)
        tables.append(analyse(data).assign(run=r))
    return pd.concat(tables, ignore_index=True)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", type=cli_scenario, default="default")
    parser.add_argument("--treatment", default="rule_based", help="a built-in policy name or a checkpoint path")
    parser.add_argument("--aa", type=cli_int(10), default=1000, help="A/A tests")
    parser.add_argument("--n-aa", type=cli_int(20), default=4000, help="shoppers in each A/A test")
    parser.add_argument("--power-runs", type=cli_int(10), default=500, help="tests of the planned size")
    parser.add_argument("--weeks", type=cli_int(1), default=8, help="length of each test")
    parser.add_argument("--pre-weeks", type=cli_int(0), default=8, help="weeks before each test (CUPED covariate)")
    parser.add_argument("--pilot", type=cli_int(100), default=50_000, help="shoppers in the planner's pilot")
    parser.add_argument("--seed", type=cli_int(0, SEED_MAX), default=1)
    parser.add_argument("--out", type=Path, default=Path("benchmark-abtest"))
    args = parser.parse_args(argv)
    console = Console(width=160)
    params = load_scenario(args.scenario)
    try:
        label, treatment = resolve_policy(args.treatment, params)
    except (FileNotFoundError, ValueError) as err:  # a missing checkpoint, an untrained or ill-specified policy
        parser.error(f"--treatment: {err}")
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        parser.error(f"--out: cannot create {args.out}: {err.strerror}")
    control = make_policy("no_discount", scenario=params)
    began = time.perf_counter()

    aa = _runs(params, treatment, treatment, args.n_aa, args.aa, args, _seed(args.seed, 0), "A/A tests")
    rows = []
    for (metric, method), group in aa.groupby(["metric", "method"], sort=False):
        share, low, high = share_interval(int((group["p_value"] < ALPHA).sum()), len(group))
        rows.append(
            {
                "part": "A/A false-positive rate",
                "metric": metric,
                "method": method,
                "value": share,
                "low": low,
                "high": high,
                "goal": "0.035-0.065",
                "shoppers": args.n_aa,
                "runs": len(group),
            }
        )
    console.log(f"A/A: {args.aa} tests of {label} against itself, {args.n_aa:,} shoppers each")

    plan = pilot(params, treatment, control, args.pilot, args.weeks, "profit", args.seed + 7, args.pre_weeks)
    sizes = {
        "welch": required_shoppers(plan.effect, plan.sd_treated, plan.sd_control, 0.5, ALPHA, POWER),
        "cuped": required_shoppers(plan.effect, plan.sd_treated_cuped, plan.sd_control_cuped, 0.5, ALPHA, POWER),
    }
    console.log(
        f"pilot of {args.pilot:,} shoppers: profit lift {plan.effect:+.3f} (se {plan.effect_se:.3f}) per shopper; "
        f"planned sizes: Welch {sizes['welch']:,.0f}, CUPED {sizes['cuped']:,.0f} shoppers"
    )
    power_tables = []
    for method, size in sizes.items():
        if not math.isfinite(size):
            console.log(f"{method}: no lift, no size detects it; skipped")
            continue
        n = max(4, math.ceil(size))
        runs = _runs(
            params,
            treatment,
            control,
            n,
            args.power_runs,
            args,
            _seed(args.seed, 1 + len(power_tables)),
            f"power runs, {method} size",
        )
        profit = runs[(runs.metric == "profit") & (runs.method == method)]
        rejected = (profit["p_value"] < ALPHA) & (np.sign(profit["difference"]) == np.sign(plan.effect))
        share, low, high = share_interval(int(rejected.sum()), len(profit))
        rows.append(
            {
                "part": "power at the planned size",
                "metric": "profit",
                "method": method,
                "value": share,
                "low": low,
                "high": high,
                "goal": "0.76-0.84",
                "shoppers": n,
                "runs": len(profit),
            }
        )
        power_tables.append(runs.assign(planned_for=method, shoppers=n))
        if method == "welch":
            for metric in METRICS:
                cuped_rows = runs[(runs.metric == metric) & (runs.method == "cuped")]
                vr = cuped_rows["variance_reduction"]
                half = 1.96 * vr.std(ddof=1) / math.sqrt(len(vr))
                rows.append(
                    {
                        "part": "CUPED variance reduction",
                        "metric": metric,
                        "method": "cuped",
                        "value": vr.mean(),
                        "low": vr.mean() - half,
                        "high": vr.mean() + half,
                        "goal": "",
                        "shoppers": n,
                        "runs": len(vr),
                    }
                )
            live = profit["ci_high"] - profit["ci_low"]
            paired = paired_interval(params, treatment, control, n, args.weeks, args.seed + 11)
            rows.append(
                {
                    "part": "live test: 95 % interval width, profit lift",
                    "metric": "profit",
                    "method": "welch",
                    "value": live.mean(),
                    "low": live.quantile(0.025),
                    "high": live.quantile(0.975),
                    "goal": "",
                    "shoppers": n,
                    "runs": len(live),
                }
            )
            rows.append(
                {
                    "part": "paired evaluator: 95 % interval width, profit lift",
                    "metric": "profit",
                    "method": "paired",
                    "value": paired.ci_high - paired.ci_low,
                    "low": math.nan,
                    "high": math.nan,
                    "goal": "",
                    "shoppers": n,
                    "runs": 1,
                }
            )
    summary = pd.DataFrame(rows).assign(scenario=params.name, treatment=label, weeks=args.weeks)
    console.print(
        f"A/B tests on {params.name}: {label} vs no_discount, {args.weeks}-week tests after {args.pre_weeks} weeks; "
        f"{time.perf_counter() - began:.0f} s"
    )
    console.print(
        summary.drop(columns=["scenario", "treatment", "weeks"]).to_string(
            index=False, float_format=lambda v: f"{v:.4g}"
        )
    )
    write_csv(args.out / "aa.csv", aa)
    if power_tables:
        write_csv(args.out / "power.csv", pd.concat(power_tables, ignore_index=True))
    write_csv(args.out / "summary.csv", summary)
    console.print(f"written: {args.out}/aa.csv, power.csv, summary.csv")
    return summary


if __name__ == "__main__":
    main()
