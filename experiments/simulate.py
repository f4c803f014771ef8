"""Quick-start job: a simulated year of one population under a few uniform discounts.

    discountsim simulate [simulator=<scenario>] [n_shoppers=...] [discounts=[...]]

Every discount level is applied to the same shoppers with the same random draws (common random
numbers), so the differences between rows are caused by the discount alone. Prints a table and
writes ``fixed_discounts.csv`` into the run directory.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import pandas as pd
from discountsim.agents.evaluation import summarise
from discountsim.agents.storage import write_csv
from discountsim.experiments import CONFIG_DIR
from discountsim.experiments.job_config import check_job_config
from discountsim.experiments.run_dir import FILE_ONLY, job_main
from discountsim.simulators import SimulatorParams, check_discount, rollout, spawn_keys
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

log = logging.getLogger(__name__)
TABLE_COLUMNS = ("profit", "revenue", "promotion_cost", "cogs", "incremental_profit", "roi", "conversion", "retention")


def fixed_discount_table(
    params: SimulatorParams, discounts: list[float], n_shoppers: int, horizon: int, seed: int
) -> pd.DataFrame:
    """One row per uniform discount depth with per-shopper money and behaviour over the horizon.

    Columns: discount; profit, revenue, promotion_cost, cogs, incremental_profit (currency per
    shopper over the horizon, incremental = against no discount on the same shoppers); roi
    (incremental profit / promotion cost); conversion (purchases per shopper-period); retention
    (share still active at the end).
    """
    keys = spawn_keys(np.random.default_rng(seed), n_shoppers)
    baseline = rollout(params, keys, lambda obs, _state: np.zeros(obs.shape[0]), horizon)
    rows = []
    for depth in discounts:
        depth = float(check_discount(params, np.array([depth]), 1)[0])
        totals = rollout(params, keys, lambda obs, _state, d=depth: np.full(obs.shape[0], d), horizon)
        metrics = summarise(totals, baseline, horizon)
        rows.append({"discount": depth, **{column: metrics[column] for column in TABLE_COLUMNS}})
    return pd.DataFrame(rows)


def print_table(frame: pd.DataFrame, title: str, currency: str) -> None:
    table = Table(title=title)
    money = {"profit", "revenue", "promotion_cost", "cogs", "incremental_profit"}
    for column in frame.columns:
        table.add_column(f"{column} ({currency})" if column in money else column, justify="right")
    for row in frame.itertuples(index=False):
        cells = []
        for column, value in zip(frame.columns, row, strict=True):
            if column in ("discount", "conversion", "retention"):
                cells.append(f"{value:.1%}")
            elif column == "roi":
                cells.append("-" if np.isnan(value) else f"{value:+.2f}")
            else:
                cells.append(f"{value:,.2f}")
        table.add_row(*cells)
    Console(width=160).print(table)


def simulate(cfg: DictConfig, output_dir: str | Path = ".") -> dict[str, Any]:
    """Run the job for a composed config; returns the best discount and its profit per shopper."""
    cfg = check_job_config("simulate", cfg)
    params: SimulatorParams = instantiate(cfg.simulator)
    frame = fixed_discount_table(params, list(cfg.discounts), int(cfg.n_shoppers), int(cfg.horizon), int(cfg.seed))
    title = f"Scenario '{params.name}': {cfg.n_shoppers:,} shoppers, {cfg.horizon} weeks, per shopper"
    print_table(frame, title, params.currency)
    log.info("%s\n%s", title, frame.to_string(index=False), extra=FILE_ONLY)  # the console has the table
    path = write_csv(Path(output_dir) / "fixed_discounts.csv", frame)
    best = frame.loc[frame["profit"].idxmax()]
    log.info(
        "Most profitable uniform discount: %.0f%% (profit %.2f %s per shopper); written: %s",
        100 * best["discount"],
        best["profit"],
        params.currency,
        path,
    )
    return {"best_discount": float(best["discount"]), "best_profit": float(best["profit"])}


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="simulate")
@job_main("simulate")
def main(cfg: DictConfig) -> float:
    return simulate(cfg, HydraConfig.get().runtime.output_dir)["best_profit"]


if __name__ == "__main__":
    main()
