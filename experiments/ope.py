"""Off-policy evaluation of policies on a shop's log: every estimator, with intervals and weights.

    discountsim ope data=<log.csv|log.parquet> 'policies=[...]' [simulator=<scenario>] [trajectories=true]

The log (the calibration schema, with propensities, every shopper in every week) becomes the
simulator's observations week by week (``simulators.log_observations``), each target policy's
discount is read off them, and ``agents.off_policy`` gives one row per policy and estimator:
IPS, SNIPS, DM, DR per shopper-week, and PDIS, WPDIS and sequential DR per shopper over the log's
weeks, each with its 95 % interval, effective sample size and largest weight. A policy that
offers what the logger never did is named with the share of its offers without support. Writes
``ope.csv``, ``ope.md`` and ``metrics.json``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
import pandas as pd
from discountsim.agents.off_policy import fit_outcome_model, off_policy_estimates
from discountsim.agents.storage import atomic_write_text, write_csv, write_json
from discountsim.experiments import CONFIG_DIR
from discountsim.experiments.job_config import check_job_config
from discountsim.experiments.policies import resolve_policy
from discountsim.experiments.run_dir import FILE_ONLY, job_main
from discountsim.experiments.tables import frame_markdown
from discountsim.simulators import SimulatorParams
from discountsim.simulators.errors import DiscountSimInputError
from discountsim.simulators.log_observations import behaviour_frame
from discountsim.simulators.shop_log import read_shop_log
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate, to_absolute_path
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


def estimates_on_log(
    data: str,
    params: SimulatorParams,
    policies: dict[str, Any],
    key_file: str | None = None,
    dm_epochs: int = 20,
    seed: int = 0,
    trajectories: bool = True,
    density: bool = False,
    burn_in: int = 0,
) -> tuple[pd.DataFrame, tuple[int, int]]:
    """``off_policy_estimates`` of ``policies`` on the shop log at ``data``; also (shoppers, weeks) estimated on.

    The first ``burn_in`` weeks only build each shopper's history (their observations rest most on the
    assumed start, see ``simulators.log_observations``); the estimates are over the weeks after them.
    """
    shop = read_shop_log(to_absolute_path(data), key_file)
    frame = behaviour_frame(shop.frame, params)
    weeks = int(frame["period"].max()) + 1
    if not 0 <= burn_in < weeks:
        raise DiscountSimInputError(f"burn_in: {burn_in} weeks of a {weeks}-week log; allowed: 0 to {weeks - 1}")
    if burn_in:
        frame = frame[frame["period"] >= burn_in].assign(period=lambda f: f["period"] - burn_in)
    model = fit_outcome_model(frame, params, epochs=dm_epochs, seed=seed)
    table = off_policy_estimates(frame, policies, params, model, trajectories, density)
    return table, (int(frame["shopper"].nunique()), int(frame["period"].max()) + 1)


def run_ope(cfg: DictConfig, output_dir: str | Path = ".") -> pd.DataFrame:
    """Evaluate the policies of a composed ``ope`` config on its log; returns the estimates table."""
    cfg = check_job_config("ope", cfg)
    if cfg.data is None:
        raise DiscountSimInputError("data: required: the log to evaluate on (a .csv or .parquet file)")
    params: SimulatorParams = instantiate(cfg.simulator)
    key_file = None if cfg.key_file is None else to_absolute_path(str(cfg.key_file))
    specs: list[Any] = OmegaConf.to_container(cfg.policies, resolve=True)  # type: ignore[assignment]
    resolved = [resolve_policy(spec, params) for spec in specs]
    labels = [label for label, _ in resolved]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise DiscountSimInputError(
            f"policies: the labels {repeated} appear more than once; give each entry its own label "
            "(e.g. {name: uniform, depth: 0.2, label: uniform_20})"
        )
    policies = dict(resolved)
    table, (n_shoppers, weeks) = estimates_on_log(
        str(cfg.data),
        params,
        policies,
        key_file,
        int(cfg.dm_epochs),
        int(cfg.seed),
        bool(cfg.trajectories),
        burn_in=int(cfg.burn_in),
    )
    title = (
        f"Off-policy estimates on {n_shoppers:,} shoppers x {weeks} weeks of {Path(str(cfg.data)).name} "
        f"({params.name}; {params.currency}: per shopper-week where horizon = 1, per shopper over the log's "
        "weeks otherwise)"
    )
    shown = table[["policy", "estimator", "horizon", "value", "ci_low", "ci_high", "ess", "max_weight"]]
    log.info("%s\n%s", title, shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    out = Path(output_dir)
    write_csv(out / "ope.csv", table)
    note = (
        "DM's outcome model is fitted on this log; its interval covers the sampling of rows, not the model's "
        "error. What a log does not hold (each shopper's history before it; browse, cart and reviews when "
        "absent) starts at the base scenario's median (simulators/log_observations.py), so a target that reads "
        f"frequency, tenure or reviews acts as it would on the true history only after some weeks (burn_in="
        f"{int(cfg.burn_in)} weeks were used to build history only)."
    )
    atomic_write_text(out / "ope.md", f"# {title}\n\n{frame_markdown(shown)}\n{note}\n")
    write_json(out / "metrics.json", table.to_dict(orient="records"))
    log.info("written: %s, %s, %s", out / "ope.csv", out / "ope.md", out / "metrics.json", extra=FILE_ONLY)
    return table


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="ope")
@job_main("ope")
def main(cfg: DictConfig) -> float:
    table = run_ope(cfg, HydraConfig.get().runtime.output_dir)
    return float(table.loc[table["estimator"] == "dr", "value"].max())  # per shopper-week


if __name__ == "__main__":
    main()
