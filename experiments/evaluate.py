"""Evaluate saved or built-in policies on scenarios; writes ``metrics.json`` and ``metrics.csv`` atomically.

    discountsim evaluate policies='[no_discount,rule_based,path/to/model.zip]' [scenarios='[...]']

One row per policy x scenario with every evaluator column (means per shopper with 95 % intervals,
ROI, oracle shares), all policies of a scenario on the same shoppers (common random numbers) and
by ``agents.evaluate_lineup``, the evaluator's one code path;
``segments.csv`` and ``cohorts.csv`` hold the breakdowns.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
import pandas as pd
from discountsim.agents import evaluate_lineup
from discountsim.agents.storage import write_csv, write_json
from discountsim.experiments import CONFIG_DIR
from discountsim.experiments.job_config import check_job_config
from discountsim.experiments.policies import resolve_policy
from discountsim.experiments.run_dir import FILE_ONLY, job_main
from discountsim.experiments.tables import print_leaderboard, to_markdown
from discountsim.simulators import SimulatorParams, load_scenario
from discountsim.simulators.errors import DiscountSimInputError
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


def _repeated(names: list[str]) -> list[str]:
    """The names that appear more than once (a line-up is keyed by label, a table by scenario)."""
    return sorted({name for name in names if names.count(name) > 1})


def evaluate_policies(cfg: DictConfig, output_dir: str | Path = ".") -> pd.DataFrame:
    """Run the evaluation a composed ``evaluate`` config describes; returns the metrics table."""
    cfg = check_job_config("evaluate", cfg)
    scenarios: list[SimulatorParams] = (
        [instantiate(cfg.simulator)] if cfg.scenarios is None else [load_scenario(s) for s in cfg.scenarios]
    )
    repeated = _repeated([p.name for p in scenarios])
    if repeated:
        raise DiscountSimInputError(f"scenarios: {repeated} listed more than once; allowed: each scenario once")
    specs: list[Any] = OmegaConf.to_container(cfg.policies, resolve=True)  # type: ignore[assignment]
    if not specs:
        raise ValueError("policies: expected at least one policy to evaluate")
    out = Path(output_dir)
    budget_per_period = cfg.get("budget_per_period")
    if cfg.oracle and budget_per_period is not None:
        log.info(
            "The oracle runs under budget_per_period=%s like every policy but does not plan for it: "
            "its shares are against a reference, not a bound.",
            budget_per_period,
        )
    cap = cfg.get("contact_cap")
    contact_cap = None if cap is None else OmegaConf.to_container(cap, resolve=True)
    tables = {"metrics": [], "segments": [], "cohorts": [], "groups": []}
    for params in scenarios:
        resolved = [resolve_policy(spec, params) for spec in specs]
        repeated = _repeated([label for label, _ in resolved])
        if repeated:
            raise DiscountSimInputError(
                f"policies: the labels {repeated} appear more than once; give each entry its own label "
                "(e.g. {name: uniform, depth: 0.2, label: uniform_20})"
            )
        lineup = evaluate_lineup(
            dict(resolved),
            params,
            int(cfg.n_shoppers),
            int(cfg.horizon),
            int(cfg.seed),
            bool(cfg.oracle),
            budget_per_period=budget_per_period,
            contact_cap=contact_cap,
            campaign_budget=cfg.get("campaign_budget"),
            disparity_floor=cfg.get("disparity_floor"),
        )
        if contact_cap is not None:
            held = lineup.summary["contact_cap_held"] == 1.0
            log.info(
                "contact cap of %d offers in any %d weeks: held by %s%s",
                contact_cap["max_offers"],
                contact_cap.get("window", 4),
                "every policy" if held.all() else list(lineup.summary.loc[held, "policy"]),
                "" if held.all() else f"; BROKEN by {list(lineup.summary.loc[~held, 'policy'])}",
            )
        if cfg.get("disparity_floor") is not None:
            held = lineup.summary["disparity_floor_held"] == 1.0
            log.info(
                "disparity floor %.2f (every attribute level's offered share at least that ratio of the largest): "
                "held by %s%s",
                cfg.disparity_floor,
                "every policy" if held.all() else list(lineup.summary.loc[held, "policy"]),
                "" if held.all() else f"; BROKEN by {list(lineup.summary.loc[~held, 'policy'])}",
            )
        tables["metrics"].append(lineup.summary)
        tables["segments"].append(lineup.by_segment.assign(scenario=params.name))
        tables["cohorts"].append(lineup.by_cohort.assign(scenario=params.name))
        if not lineup.by_group.empty:
            tables["groups"].append(lineup.by_group.assign(scenario=params.name))
            flagged = lineup.summary[lineup.summary["offer_disparity"] < 0.8]
            log.info(
                "%s: offer-rate disparity (smallest group's rate / largest, over %s): %s%s",
                params.name,
                " and ".join(params.attribute_levels),
                ", ".join(f"{r.policy} {r.offer_disparity:.2f}" for r in lineup.summary.itertuples()),
                f"; below the four-fifths rule (0.8): {list(flagged['policy'])}" if len(flagged) else "",
            )
        title = f"{params.name}: {cfg.n_shoppers:,} shoppers x {cfg.horizon} weeks"
        print_leaderboard(lineup.summary, title, params.currency)
        log.info("%s\n%s", title, to_markdown(lineup.summary), extra=FILE_ONLY)  # the console has the table
        best = lineup.summary.loc[lineup.summary["profit"].idxmax()]
        log.info(
            "%s: best %s, profit %.2f %s per shopper", params.name, best["policy"], best["profit"], params.currency
        )
    metrics = pd.concat(tables["metrics"], ignore_index=True)
    # Breakdowns first, the summary tables last.
    write_csv(out / "segments.csv", pd.concat(tables["segments"], ignore_index=True))
    write_csv(out / "cohorts.csv", pd.concat(tables["cohorts"], ignore_index=True))
    if tables["groups"]:
        write_csv(out / "groups.csv", pd.concat(tables["groups"], ignore_index=True))
    write_csv(out / "metrics.csv", metrics)
    write_json(out / "metrics.json", metrics.to_dict(orient="records"))
    log.info("written: %s, %s", out / "metrics.json", out / "metrics.csv")
    return metrics


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="evaluate")
@job_main("evaluate")
def main(cfg: DictConfig) -> float:
    return float(evaluate_policies(cfg, HydraConfig.get().runtime.output_dir)["profit"].max())


if __name__ == "__main__":
    main()
