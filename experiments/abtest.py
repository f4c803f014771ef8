"""Simulate a live A/B test of a policy against a control, or plan one.

    discountsim abtest treatment=<policy> [control=no_discount] [n_shoppers=20000] [weeks=8]
        [split=0.5] [pre_weeks=8] [seed=0]
    discountsim abtest plan=true treatment=<policy> [plan_weeks='[4,8,13,26]'] [pilot_shoppers=20000]
        [metric=profit] [mde=<effect>] [n_shoppers=20000]

The test (``agents.abtest.simulate_ab_test``): shoppers assigned at random, each seen under one arm
only; per metric (profit, revenue, conversion per shopper over the test) the difference in means
with Welch's interval and p-value, and the same after CUPED on the pre-period spend, with the
variance reduction achieved. Beside it, the interval DiscountSim's paired evaluator gives on the
same number of shoppers. Writes ``abtest.csv``, ``abtest.md`` and ``metrics.json``.

The plan (``plan=true``): for each test length, a pilot runs both policies on the same shoppers
(common random numbers: the lift is measured paired), and the shoppers needed to detect that lift
(or ``mde``) at level ``alpha`` with ``power`` follow from the arms' spreads, with and without
CUPED; and the minimum detectable effect of a test of ``n_shoppers``. Writes ``plan.csv``, ``plan.md``
and ``metrics.json``.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import hydra
import pandas as pd
from discountsim.agents.abtest import analyse, paired_interval, pilot, plan_rows, simulate_ab_test
from discountsim.agents.storage import atomic_write_text, write_csv, write_json
from discountsim.experiments import CONFIG_DIR
from discountsim.experiments.job_config import check_job_config
from discountsim.experiments.policies import resolve_policy
from discountsim.experiments.run_dir import FILE_ONLY, job_main
from discountsim.experiments.tables import frame_markdown
from discountsim.simulators import SimulatorParams
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from rich.console import Console

log = logging.getLogger(__name__)


def _spec(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def abtest(cfg: DictConfig, output_dir: str | Path = ".") -> pd.DataFrame:
    """Run (or with ``plan=true`` plan) the test a composed ``abtest`` config describes; returns its table."""
    cfg = check_job_config("abtest", cfg)
    params: SimulatorParams = instantiate(cfg.simulator)
    t_label, treatment = resolve_policy(_spec(cfg.treatment), params)
    c_label, control = resolve_policy(_spec(cfg.control), params)
    out = Path(output_dir)
    console = Console(width=160)
    if cfg.plan:
        return _plan(cfg, params, (t_label, treatment), (c_label, control), out, console)
    n, weeks, seed = int(cfg.n_shoppers), int(cfg.weeks), int(cfg.seed)
    data = simulate_ab_test(params, treatment, control, n, weeks, float(cfg.split), seed, int(cfg.pre_weeks))
    table = analyse(data, float(cfg.alpha))
    paired = paired_interval(params, treatment, control, n, weeks, seed, "profit", int(cfg.pre_weeks), float(cfg.alpha))
    table.insert(0, "treatment", t_label)
    table.insert(1, "control", c_label)
    title = (
        f"A/B test on {params.name}: {t_label} vs {c_label}, {n:,} shoppers ({cfg.split:.0%} treated) x {weeks} weeks "
        f"(per shopper; {params.currency})"
    )
    shown = table[["metric", "method", "treatment_mean", "control_mean", "difference", "ci_low", "ci_high"]]
    shown = shown.assign(p_value=table["p_value"], variance_reduction=table["variance_reduction"])
    console.print(title)
    console.print(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    live = table[(table.metric == "profit") & (table.method == "welch")].iloc[0]
    note = (
        f"profit difference: live test interval width {live.ci_high - live.ci_low:.3g}, "
        f"DiscountSim's paired evaluator on the same {n:,} shoppers {paired.ci_high - paired.ci_low:.3g} "
        f"(effect {paired.difference:+.3g} [{paired.ci_low:+.3g}, {paired.ci_high:+.3g}])"
    )
    console.print(note)
    log.info("%s\n%s\n%s", title, frame_markdown(shown), note, extra=FILE_ONLY)
    metrics = {
        "treatment": t_label,
        "control": c_label,
        "n_shoppers": n,
        "weeks": weeks,
        **{
            f"{r.metric}_{r.method}_{key}": float(getattr(r, key))
            for r in table.itertuples()
            for key in ("difference", "ci_low", "ci_high", "p_value", "variance_reduction")
        },
        "paired_profit_difference": paired.difference,
        "paired_profit_ci_low": paired.ci_low,
        "paired_profit_ci_high": paired.ci_high,
    }
    write_csv(out / "abtest.csv", table)
    atomic_write_text(out / "abtest.md", f"# {title}\n\n{frame_markdown(shown)}\n\n{note}\n")
    write_json(out / "metrics.json", metrics)
    log.info("written: %s, %s, %s", out / "abtest.csv", out / "abtest.md", out / "metrics.json")
    return table


def _plan(cfg: DictConfig, params: SimulatorParams, treatment, control, out: Path, console: Console) -> pd.DataFrame:
    (t_label, t_policy), (c_label, c_policy) = treatment, control
    split, n_pilot, seed = float(cfg.split), int(cfg.pilot_shoppers), int(cfg.seed)
    pilots = [
        pilot(params, t_policy, c_policy, n_pilot, int(w), str(cfg.metric), seed, int(cfg.pre_weeks))
        for w in cfg.plan_weeks
    ]
    n_given = int(cfg.n_shoppers)
    mde = None if cfg.mde is None else float(cfg.mde)
    table = plan_rows(pilots, split, float(cfg.alpha), float(cfg.power), n_given, mde)
    table.insert(0, "metric", str(cfg.metric))
    table.insert(0, "control", c_label)
    table.insert(0, "treatment", t_label)
    title = (
        f"Plan of an A/B test on {params.name}: {t_label} vs {c_label}, {cfg.metric} per shopper, "
        f"alpha {cfg.alpha}, power {cfg.power}, {split:.0%} treated; pilots of {n_pilot:,} shoppers"
    )
    console.print(title)
    shown = table.drop(columns=["treatment", "control"])
    console.print(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    shortest = _shortest(table, n_given)
    console.print(shortest)
    noisy = table[table["simulated_effect"].abs() < 2 * table["simulated_effect_se"]]
    if mde is None and len(noisy):
        log.warning(
            "the pilot's lift at %s weeks is within 2 standard errors of 0: the sizes rest on noise; "
            "raise pilot_shoppers or give mde=",
            list(noisy["weeks"]),
        )
    unreachable = table[~table["shoppers_needed"].map(math.isfinite)]
    if len(unreachable):
        log.warning("no simulated lift at %s weeks: no test size detects it; give mde=", list(unreachable["weeks"]))
    log.info("%s\n%s", title, frame_markdown(table), extra=FILE_ONLY)
    write_csv(out / "plan.csv", table)
    atomic_write_text(out / "plan.md", f"# {title}\n\n{frame_markdown(table)}\n{shortest}.\n")
    write_json(out / "metrics.json", table.to_dict(orient="records"))
    log.info("written: %s, %s, %s", out / "plan.csv", out / "plan.md", out / "metrics.json")
    return table


def _shortest(table: pd.DataFrame, n_shoppers: int) -> str:
    """The shortest test length whose required size ``n_shoppers`` covers, without and with CUPED."""

    def first(column: str) -> int | None:
        enough = table[table[column] <= n_shoppers]
        return int(enough["weeks"].min()) if len(enough) else None

    welch, cuped = first("shoppers_needed"), first("shoppers_needed_cuped")
    lengths = list(table["weeks"])
    if welch is None and cuped is None:
        return f"{n_shoppers:,} shoppers detect it in none of the lengths {lengths}, with or without CUPED"
    if welch is None:
        return f"{n_shoppers:,} shoppers detect it only with CUPED: in {cuped} weeks (none of {lengths} without)"
    return f"with {n_shoppers:,} shoppers the shortest test that detects it is {welch} weeks ({cuped} with CUPED)"


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="abtest")
@job_main("abtest")
def main(cfg: DictConfig) -> float:
    table = abtest(cfg, HydraConfig.get().runtime.output_dir)
    if cfg.plan:
        return float(table["shoppers_needed"].min())
    return float(table[(table.metric == "profit") & (table.method == "welch")]["difference"].iloc[0])


if __name__ == "__main__":
    main()
