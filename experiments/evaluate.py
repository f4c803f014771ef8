"""Evaluate saved or built-in policies on scenarios; writes ``metrics.json`` and ``metrics.csv`` atomically.

    discountsim evaluate policies='[no_discount,rule_based,path/to/model.zip]' [scenarios='[...]']

One row per policy x scenario with every evaluator column (means per shopper with 95 % intervals,
ROI, oracle share), all policies of a scenario on the same shoppers (common random numbers);
``segments.csv`` and ``cohorts.csv`` hold the breakdowns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
import pandas as pd
from discountsim.agents import evaluate_lineup
from discountsim.agents.storage import write_csv, write_json
from discountsim.experiments import CONFIG_DIR
from discountsim.experiments.job_config import check_job_config
from discountsim.experiments.policies import resolve_policy
from discountsim.experiments.tables import print_leaderboard
from discountsim.simulators import SimulatorParams, load_scenario
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from rich.console import Console


def evaluate_policies(cfg: DictConfig, output_dir: str | Path = ".") -> pd.DataFrame:
    """Run the evaluation a composed ``evaluate`` config describes; returns the metrics table."""
    cfg = check_job_config("evaluate", cfg)
    scenarios: list[SimulatorParams] = (
        [instantiate(cfg.simulator)] if cfg.scenarios is None else [load_scenario(s) for s in cfg.scenarios]
    )
    specs: list[Any] = OmegaConf.to_container(cfg.policies, resolve=True)  # type: ignore[assignment]
    if not specs:
        raise ValueError("policies: expected at least one policy to evaluate")
    out = Path(output_dir)
    tables = {"metrics": [], "segments": [], "cohorts": []}
    for params in scenarios:
        policies = dict(resolve_policy(spec, params) for spec in specs)
        lineup = evaluate_lineup(
            policies, params, int(cfg.n_shoppers), int(cfg.horizon), int(cfg.seed), bool(cfg.oracle)
        )
        tables["metrics"].append(lineup.summary)
        tables["segments"].append(lineup.by_segment.assign(scenario=params.name))
        tables["cohorts"].append(lineup.by_cohort.assign(scenario=params.name))
        print_leaderboard(
            lineup.summary, f"{params.name}: {cfg.n_shoppers:,} shoppers x {cfg.horizon} weeks", params.currency
        )
    metrics = pd.concat(tables["metrics"], ignore_index=True)
    write_json(out / "metrics.json", metrics.to_dict(orient="records"))
    write_csv(out / "metrics.csv", metrics)
    write_csv(out / "segments.csv", pd.concat(tables["segments"], ignore_index=True))
    write_csv(out / "cohorts.csv", pd.concat(tables["cohorts"], ignore_index=True))
    Console(soft_wrap=True).print(f"written: {out / 'metrics.json'}, {out / 'metrics.csv'}")
    return metrics


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="evaluate")
def main(cfg: DictConfig) -> float:
    return float(evaluate_policies(cfg, HydraConfig.get().runtime.output_dir)["profit"].max())


if __name__ == "__main__":
    main()
