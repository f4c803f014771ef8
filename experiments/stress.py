"""Stress-test one policy across scenarios against the default (reference) scenario.

    discountsim stress policy=<name | checkpoint | package.module:Class> [cases=...]

Each case is a scenario (and optionally a promotion budget per period: ``budget_share`` x the
policy's own average spend per period on the reference scenario, so ``budget_share: 0.5`` lets it
spend at most half of that in any period, and so at most half of its reference spend in all).
The policy and no discount run on the same shoppers in every case. Prints and writes
``stress.csv`` (``stress.json``): the evaluator's metrics per case, their change against the
reference, the case's ``budget_per_period`` (currency, all shoppers; empty without a budget),
and ``roi_negative`` / ``roi_turns_negative`` flags.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import pandas as pd
from discountsim.agents import evaluate
from discountsim.agents.storage import write_csv, write_json
from discountsim.experiments import CONFIG_DIR
from discountsim.experiments.job_config import check_job_config
from discountsim.experiments.policies import resolve_policy
from discountsim.experiments.run_dir import FILE_ONLY, job_main
from discountsim.simulators import SimulatorParams, load_scenario
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

METRICS = ("profit", "incremental_profit", "roi", "promotion_cost", "conversion", "retention", "avg_discount")
REFERENCE = "reference"
log = logging.getLogger(__name__)


def stress(cfg: DictConfig, output_dir: str | Path = ".") -> pd.DataFrame:
    """Run the stress test a composed ``stress`` config describes; returns one row per case."""
    cfg = check_job_config("stress", cfg)
    reference: SimulatorParams = instantiate(cfg.simulator)
    spec: Any = OmegaConf.to_container(cfg.policy, resolve=True) if OmegaConf.is_config(cfg.policy) else cfg.policy
    cases: dict[str, dict[str, Any]] = OmegaConf.to_container(cfg.cases, resolve=True)  # type: ignore[assignment]
    for name, case in cases.items():
        unknown = set(case) - {"scenario", "budget_share"}
        if "scenario" not in case or unknown:
            raise ValueError(f"cases.{name}: expected keys scenario and optional budget_share, got {sorted(case)}")
        share = case.get("budget_share")
        if share is not None and (
            isinstance(share, bool) or not isinstance(share, int | float) or not 0.0 <= share < float("inf")
        ):
            raise ValueError(f"cases.{name}.budget_share: expected a finite share >= 0 or null, got {share!r}")
    n, horizon, seed = int(cfg.n_shoppers), int(cfg.horizon), int(cfg.seed)
    label, policy = resolve_policy(spec, reference)
    rows = [_row(REFERENCE, reference.name, None, evaluate(policy, reference, n, horizon, seed, label))]
    # The policy's own average spend per period on the reference, all shoppers together (currency).
    reference_spend_per_period = rows[0]["promotion_cost"] * n / horizon
    for name, case in cases.items():
        params = load_scenario(case["scenario"])
        share = case.get("budget_share")
        budget_per_period = None if share is None else float(share) * reference_spend_per_period
        _, policy = resolve_policy(spec, params)  # scenario-aware policies see the case's layout
        result = evaluate(policy, params, n, horizon, seed, label, budget_per_period=budget_per_period)
        rows.append(_row(name, params.name, budget_per_period, result))
    table = pd.DataFrame(rows)
    base = table.iloc[0]
    for metric in METRICS:
        table[f"{metric}_change"] = table[metric] - base[metric]
    table["roi_negative"] = table["roi"] < 0.0
    table["roi_turns_negative"] = table["roi_negative"] & bool(base["roi"] >= 0.0 or np.isnan(base["roi"]))
    table.insert(0, "policy", label)
    _print(table, reference.currency)
    log.info("stress test of %s\n%s", label, table.to_string(index=False), extra=FILE_ONLY)  # console: table
    flagged = list(table.loc[table["roi_turns_negative"], "case"])
    log.info(
        "%s: lowest profit %.2f %s per shopper (%s); ROI turns negative in %s",
        label,
        table["profit"].min(),
        reference.currency,
        table.loc[table["profit"].idxmin(), "case"],
        ", ".join(flagged) or "no case",
    )
    out = Path(output_dir)
    write_csv(out / "stress.csv", table)
    write_json(out / "stress.json", table.to_dict(orient="records"))
    log.info("written: %s, %s", out / "stress.csv", out / "stress.json")
    return table


def _row(case: str, scenario: str, budget_per_period: float | None, result) -> dict[str, Any]:
    summary = result.summary.iloc[0]
    metrics = {m: float(summary[m]) for m in METRICS}
    return {"case": case, "scenario": scenario, "budget_per_period": budget_per_period, **metrics}


def _print(table: pd.DataFrame, currency: str) -> None:
    out = Table(title=f"Stress test of {table['policy'][0]} (money per shopper, {currency}; change vs reference)")
    for column in ("case", "scenario", "profit", "incremental", "ROI", "retention", "flag"):
        out.add_column(column, justify="left" if column in ("case", "scenario", "flag") else "right")
    for _, r in table.iterrows():
        flag = "ROI turns negative" if r["roi_turns_negative"] else "ROI negative" if r["roi_negative"] else ""
        out.add_row(
            r["case"],
            r["scenario"],
            f"{r['profit']:.2f} ({r['profit_change']:+.2f})",
            f"{r['incremental_profit']:+.2f} ({r['incremental_profit_change']:+.2f})",
            "-" if np.isnan(r["roi"]) else f"{r['roi']:+.2f}",
            f"{r['retention']:.1%} ({r['retention_change']:+.1%})",
            flag,
        )
    Console(width=160).print(out)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="stress")
@job_main("stress")
def main(cfg: DictConfig) -> float:
    return float(stress(cfg, HydraConfig.get().runtime.output_dir)["profit"].min())


if __name__ == "__main__":
    main()
