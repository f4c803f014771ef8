"""Constraints benchmark: what a budget, a contact cap and a fairness floor cost, and whether they hold.

    discountsim benchmark constraints [--scenario default] [--timesteps 6000000] [--n-eval 3000]
        [--seed 5] [--train-seed 0] [--cap 2] [--window 4] [--budget-share 0.5] [--floor 0.8]
        [--out benchmark-constraints]

Trains PPO (``conf/agent/ppo.yaml``) without constraints, measures its promotion spend per
shopper-week on the evaluation shoppers, and trains a second PPO with a Lagrangian budget of
``--budget-share`` of that spend (``agents.callbacks.LagrangianBudgetCallback``). Then evaluates,
on the same shoppers (common random numbers), no discount, rule_based, supervised, both PPOs and
the oracle: once free, once under a contact cap of ``--cap`` offers in any ``--window`` weeks, and
once under a disparity floor of ``--floor`` (each enforced by projection). Prints, per policy:
incremental profit free, capped and floored, spend against the budget, the offer-rate disparity
across each observable attribute (the four-fifths rule: >= 0.8), and the profit each constraint
gives up; writes ``constraints.csv`` and ``groups.csv`` (the fairness view per attribute level)
into ``--out``.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd
from discountsim.agents import evaluate_lineup, fit_supervised, make_policy, train_sb3
from discountsim.agents.callbacks import LagrangianBudgetCallback
from discountsim.agents.oracle import OraclePolicy
from discountsim.agents.storage import write_csv
from discountsim.experiments.config_rules import SEED_MAX, cli_int, cli_positive_number, cli_scenario
from discountsim.simulators import ContactCap, load_scenario
from rich.console import Console
from rich.table import Table


def _share(text: str) -> float:
    value = cli_positive_number(text)
    if value >= 1.0:
        raise argparse.ArgumentTypeError(f"expected a share in (0, 1), got {text}")
    return value


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", type=cli_scenario, default="default")
    parser.add_argument("--timesteps", type=cli_int(1), default=6_000_000, help="PPO training timesteps, each run")
    parser.add_argument("--n-eval", type=cli_int(2), default=3000, help="shoppers in the evaluation")
    parser.add_argument("--horizon", type=cli_int(1), default=52)
    parser.add_argument("--seed", type=cli_int(0, SEED_MAX), default=5, help="seed of the evaluation shoppers")
    parser.add_argument("--train-seed", type=cli_int(0, SEED_MAX), default=0)
    parser.add_argument("--cap", type=cli_int(1), default=2, help="offers allowed per shopper in any window")
    parser.add_argument("--window", type=cli_int(1, 8), default=4, help="weeks per contact-cap window")
    parser.add_argument("--budget-share", type=_share, default=0.5, help="budget as a share of PPO's free spend")
    parser.add_argument("--floor", type=_floor, default=0.8, help="disparity floor (four-fifths rule: 0.8)")
    parser.add_argument("--out", type=Path, default=Path("benchmark-constraints"))
    args = parser.parse_args(argv)
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out: {args.out} exists and is not a directory")
    console = Console(width=150)
    params = load_scenario(args.scenario)
    cap = ContactCap(args.cap, args.window)
    free_ppo = train_sb3("ppo", params, args.timesteps, seed=args.train_seed)
    policies = {
        "no_discount": make_policy("no_discount", scenario=params),
        "rule_based": make_policy("rule_based", scenario=params),
        "supervised": fit_supervised(params, n_shoppers=3000, horizon=26, epochs=30, seed=args.train_seed),
        "ppo": free_ppo,
    }
    alone = evaluate_lineup({"ppo": free_ppo}, params, args.n_eval, args.horizon, args.seed, oracle=False)
    spend = float(alone.summary.loc[0, "promotion_cost"]) / args.horizon
    budget = args.budget_share * spend
    console.print(f"ppo spends {spend:.3f} {params.currency} per shopper-week; budget for ppo_lagrangian: {budget:.3f}")
    # About 100 dual updates whatever the training length (every 32 768 timesteps at 3 M and more).
    every = min(32_768, max(args.timesteps // 100, 1))
    dual = LagrangianBudgetCallback(budget, every=every, scenario=params, horizon=args.horizon)
    policies["ppo_lagrangian"] = train_sb3("ppo", params, args.timesteps, seed=args.train_seed, callback=dual)
    if not dual.history:
        console.print(
            f"[red]ppo_lagrangian: no dual update happened in {args.timesteps:,} timesteps (one per rollout start "
            f"after each {every:,}); it is unconstrained PPO: raise --timesteps[/]"
        )
    policies["oracle"] = OraclePolicy()
    free = evaluate_lineup(policies, params, args.n_eval, args.horizon, args.seed)
    capped = evaluate_lineup(policies, params, args.n_eval, args.horizon, args.seed, contact_cap=cap)
    if params.attribute_levels:
        floored = evaluate_lineup(policies, params, args.n_eval, args.horizon, args.seed, disparity_floor=args.floor)
    else:  # nothing to hold a floor across: the free line-up stands for it, said once
        console.print(f"[yellow]{params.name}: its shoppers have no attributes; the disparity floor is skipped[/]")
        floored = free
    table = _table(free.summary, capped.summary, budget, args.horizon, list(params.attribute_levels), floored.summary)
    write_csv(args.out / "constraints.csv", table)
    groups = pd.concat(
        [
            free.by_group.assign(constraint="none"),
            capped.by_group.assign(constraint="contact_cap"),
            floored.by_group.assign(constraint="disparity_floor"),
        ]
    )
    write_csv(args.out / "groups.csv", groups)
    _print(console, table, params.currency, cap, budget, list(params.attribute_levels), args.floor)
    console.print(f"written: {args.out / 'constraints.csv'}, {args.out / 'groups.csv'}")
    return table


def _floor(text: str) -> float:
    value = cli_positive_number(text)
    if value > 1.0:
        raise argparse.ArgumentTypeError(f"expected a ratio in (0, 1], got {text}")
    return value


def _table(
    free: pd.DataFrame,
    capped: pd.DataFrame,
    budget_per_shopper_week: float,
    horizon: int,
    attributes: list[str],
    floored: pd.DataFrame,
) -> pd.DataFrame:
    """One row per policy: incremental profit free, capped and floored with intervals, spend, disparities."""
    free, capped, floored = free.set_index("policy"), capped.set_index("policy"), floored.set_index("policy")
    rows = []
    for policy in free.index:
        f, c, d = free.loc[policy], capped.loc[policy], floored.loc[policy]
        row = {
            "policy": policy,
            "incremental_profit": f["incremental_profit"],
            "incremental_profit_ci_low": f["incremental_profit_ci_low"],
            "incremental_profit_ci_high": f["incremental_profit_ci_high"],
            "uplift_captured": f["uplift_captured"],
            "capped_incremental_profit": c["incremental_profit"],
            "capped_incremental_profit_ci_low": c["incremental_profit_ci_low"],
            "capped_incremental_profit_ci_high": c["incremental_profit_ci_high"],
            "cap_cost": f["incremental_profit"] - c["incremental_profit"],
            "max_offers_in_window": f["max_offers_in_window"],
            "capped_max_offers_in_window": c["max_offers_in_window"],
            "contact_cap_held": c["contact_cap_held"],
            "spend_per_shopper_week": f["promotion_cost"] / horizon,
            "over_budget": f["promotion_cost"] / horizon / budget_per_shopper_week - 1.0,
            "floored_incremental_profit": d["incremental_profit"],
            "floored_incremental_profit_ci_low": d["incremental_profit_ci_low"],
            "floored_incremental_profit_ci_high": d["incremental_profit_ci_high"],
            "floor_cost": f["incremental_profit"] - d["incremental_profit"],
            "disparity_floor_held": d["disparity_floor_held"],
        }
        row |= {f"offer_disparity_{a}": f[f"offer_disparity_{a}"] for a in attributes}
        row |= {f"floored_offer_disparity_{a}": d[f"offer_disparity_{a}"] for a in attributes}
        rows.append(row)
    return pd.DataFrame(rows)


def _print(
    console: Console,
    table: pd.DataFrame,
    currency: str,
    cap: ContactCap,
    budget_per_shopper_week: float,
    attributes: list[str],
    floor: float,
) -> None:
    budget = budget_per_shopper_week
    out = Table(title=f"Constraints (money per shopper over the horizon, {currency}; intervals 95 %, paired)")
    columns = ["policy", "incremental", f"under cap {cap.max_offers}/{cap.window} wk", "cap held", "spend / budget"]
    columns += [f"disparity {a}" for a in attributes] + [f"under floor {floor:g}", "floor held"]
    for column in columns:
        out.add_column(column, justify="left" if column == "policy" else "right")
    for r in table.itertuples():
        cells = [
            r.policy,
            f"{r.incremental_profit:+.2f} [{r.incremental_profit_ci_low:+.2f}, {r.incremental_profit_ci_high:+.2f}]",
            f"{r.capped_incremental_profit:+.2f} [{r.capped_incremental_profit_ci_low:+.2f}, "
            f"{r.capped_incremental_profit_ci_high:+.2f}]",
            "yes" if r.contact_cap_held == 1.0 else "NO",
            f"{r.spend_per_shopper_week / budget:.1%}",
        ]
        cells += [f"{getattr(r, f'offer_disparity_{a}'):.3f}" for a in attributes]
        cells += [
            f"{r.floored_incremental_profit:+.2f} [{r.floored_incremental_profit_ci_low:+.2f}, "
            f"{r.floored_incremental_profit_ci_high:+.2f}]",
            "yes" if r.disparity_floor_held == 1.0 else ("-" if math.isnan(r.disparity_floor_held) else "NO"),
        ]
        out.add_row(*cells)
    console.print(out)
    rows = table.set_index("policy")
    lag, ppo = rows.loc["ppo_lagrangian"], rows.loc["ppo"]
    console.print(
        f"ppo_lagrangian: spend {lag.spend_per_shopper_week:.3f} against a budget of {budget:.3f} per shopper-week "
        f"({lag.over_budget:+.1%}; goal <= +2 %), giving up {ppo.incremental_profit - lag.incremental_profit:+.2f} "
        f"{currency} per shopper against unconstrained ppo; the cap of {cap.max_offers} offers in {cap.window} weeks "
        f"gives up {ppo.cap_cost:+.2f} (ppo), {rows.loc['oracle', 'cap_cost']:+.2f} (oracle); the disparity floor "
        f"of {floor:g} gives up {ppo.floor_cost:+.2f} (ppo), {rows.loc['oracle', 'floor_cost']:+.2f} (oracle)"
    )
    worst = {a: rows[f"offer_disparity_{a}"].idxmin() for a in attributes}
    for a, policy in worst.items():
        console.print(f"lowest offer disparity across {a}: {policy} {rows.loc[policy, f'offer_disparity_{a}']:.3f}")


if __name__ == "__main__":
    main()
