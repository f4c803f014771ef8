"""CI regression of simulated ROI against a committed baseline.

    discountsim regress                # exit 0 if nothing fell beyond tolerance, else 1
    discountsim regress update=true    # rewrite the baseline file

Evaluates the configured policies on fixed-seed scenarios (all on the same shoppers) and compares
each (policy, scenario) row's profit and ROI per shopper and its uplift captured (incremental profit
as a share of the oracle's on the same shoppers) with ``baseline_file``. A drop larger
than its tolerance is a regression; a row missing from the baseline is an error asking for
``update=true``. The comparison table is printed and written to ``regress.csv``.
"""

from __future__ import annotations

import json
import logging
import sys
from importlib.resources import files
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import pandas as pd
from discountsim.agents.storage import write_csv, write_json
from discountsim.experiments import CONFIG_DIR
from discountsim.experiments.evaluate import evaluate_policies
from discountsim.experiments.job_config import check_job_config
from discountsim.experiments.run_dir import FILE_ONLY, job_main
from discountsim.simulators.errors import DiscountSimInputError
from hydra.core.hydra_config import HydraConfig
from hydra.utils import to_absolute_path
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

CHECKED = ("profit", "roi", "uplift_captured")
BASELINE_FORMAT = "discountsim-regress-baseline"
log = logging.getLogger(__name__)


def regress(cfg: DictConfig, output_dir: str | Path = ".") -> tuple[bool, pd.DataFrame]:
    """Evaluate and compare with the baseline (or rewrite it with ``update``); returns (passed, table)."""
    cfg = check_job_config("regress", cfg)
    tolerance = {k: float(cfg.tolerance[k]) for k in CHECKED}
    if any(t < 0.0 or not np.isfinite(t) for t in tolerance.values()):
        raise DiscountSimInputError(f"tolerance: expected finite values >= 0 for {list(CHECKED)}, got {tolerance}")
    baseline_path = _baseline_path(cfg.baseline_file, bool(cfg["update"]))
    settings = {"n_shoppers": int(cfg.n_shoppers), "horizon": int(cfg.horizon), "seed": int(cfg.seed)}
    # A baseline that is missing, corrupt or recorded with other settings fails before the evaluation.
    baseline = None if cfg["update"] else _load(baseline_path, settings)
    evaluated = ("policies", "scenarios", "n_shoppers", "horizon", "seed")
    evaluation = DictConfig({**{k: cfg[k] for k in evaluated}, "oracle": True, "simulator": None})
    current = evaluate_policies(evaluation, output_dir)[["policy", "scenario", *CHECKED]]
    if baseline is None:  # cfg.update would be the mapping method
        rows = current.to_dict(orient="records")
        write_json(baseline_path, {"format": BASELINE_FORMAT, "settings": settings, "rows": rows})
        log.info("baseline rewritten: %s (%d rows)", baseline_path, len(rows))
        return True, current
    table = current.merge(
        baseline, on=["policy", "scenario"], how="outer", suffixes=("", "_baseline"), indicator=True, sort=False
    )
    missing = table[table["_merge"] == "left_only"]
    if len(missing):
        pairs = [f"{r.policy}/{r.scenario}" for r in missing.itertuples()]
        raise DiscountSimInputError(f"{baseline_path}: no baseline for {pairs}; run with update=true to record them")
    # A baseline row this run did not evaluate (a policy or scenario removed from the config) fails the
    # gate: otherwise deleting a policy that got worse would pass.
    table["not_evaluated"] = table.pop("_merge") == "right_only"
    for metric in CHECKED:
        table[f"{metric}_change"] = table[metric] - table[f"{metric}_baseline"]
        fell = -table[f"{metric}_change"] > tolerance[metric]
        table[f"{metric}_regressed"] = fell.fillna(False) & table[metric].notna()
    table["regressed"] = table[[f"{m}_regressed" for m in CHECKED]].any(axis=1) | table["not_evaluated"]
    write_csv(Path(output_dir) / "regress.csv", table)
    passed = not bool(table["regressed"].any())
    _print(table, tolerance, passed)
    log.info("regression check %s\n%s", "PASSED" if passed else "FAILED", table.to_string(index=False), extra=FILE_ONLY)
    log.info("regression check %s; written: %s", "PASSED" if passed else "FAILED", Path(output_dir) / "regress.csv")
    if table["not_evaluated"].any():
        pairs = [f"{r.policy}/{r.scenario}" for r in table[table["not_evaluated"]].itertuples()]
        log.error("baseline rows not evaluated by this run: %s; restore them or re-record with update=true", pairs)
    return passed, table


def _baseline_path(baseline_file: str | None, update: bool) -> Path:
    """The baseline to read or write: ``baseline_file`` (relative to the launch directory) or the built-in one."""
    if baseline_file is not None:
        return Path(to_absolute_path(str(baseline_file)))
    path = Path(str(files("discountsim.regress").joinpath("baseline.json")))
    if update and "site-packages" in path.parts:
        raise DiscountSimInputError(
            f"baseline_file: the built-in baseline is inside the installed package ({path}); "
            "pass baseline_file=<your path> to record your own"
        )
    return path


def _load(path: Path, settings: dict[str, int]) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"baseline file not found: {path}; create it with update=true")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DiscountSimInputError(f"{path}: not a regress baseline (invalid JSON: {err})") from err
    if not isinstance(data, dict) or data.get("format") != BASELINE_FORMAT:
        raise DiscountSimInputError(f"{path}: not a regress baseline (expected format {BASELINE_FORMAT!r})")
    rows = data.get("rows")
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise DiscountSimInputError(f"{path}: not a regress baseline (expected 'rows', a list of objects)")
    absent = sorted({m for m in CHECKED for r in rows if m not in r})
    if absent:
        raise DiscountSimInputError(
            f"{path}: the baseline's rows lack {absent} (recorded by an older version?); update=true to re-record"
        )
    for i, row in enumerate(rows):
        if not all(isinstance(row.get(k), str) for k in ("policy", "scenario")):
            raise DiscountSimInputError(f"{path}: rows[{i}]: expected policy and scenario names, got {row!r}")
        for metric in CHECKED:
            value = row[metric]
            # NaN (JSON NaN) is a metric without a value (no_discount's ROI); null is a missing record.
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise DiscountSimInputError(
                    f"{path}: rows[{i}].{metric}: expected a number, got {value!r}; update=true to re-record"
                )
    if data.get("settings") != settings:
        raise DiscountSimInputError(
            f"{path}: recorded with {data.get('settings')}, this run uses {settings}; update=true to re-record"
        )
    return pd.DataFrame(data["rows"])[["policy", "scenario", *CHECKED]]


def _fmt(value: Any, signed: bool = False) -> str:
    return "-" if pd.isna(value) else f"{value:+.2f}" if signed else f"{value:.2f}"


def _pct(value: Any, signed: bool = False) -> str:
    return "-" if pd.isna(value) else f"{value:+.1%}" if signed else f"{value:.1%}"


def _print(table: pd.DataFrame, tolerance: dict[str, float], passed: bool) -> None:
    title = (
        f"Regression check (tolerances: profit {tolerance['profit']}, ROI {tolerance['roi']}, "
        f"uplift captured {tolerance['uplift_captured']}): "
    )
    out = Table(title=title + ("PASSED" if passed else "FAILED"))
    columns = ("profit", "baseline", "change", "ROI", "baseline ", "change ", "uplift", "baseline  ", "change  ")
    for column in ("policy", "scenario", *columns, "status"):
        out.add_column(column, justify="left" if column in ("policy", "scenario", "status") else "right")
    for _, r in table.iterrows():
        out.add_row(
            r["policy"],
            r["scenario"],
            _fmt(r["profit"]),
            _fmt(r["profit_baseline"]),
            _fmt(r["profit_change"], True),
            _fmt(r["roi"], True),
            _fmt(r["roi_baseline"], True),
            _fmt(r["roi_change"], True),
            _pct(r["uplift_captured"]),
            _pct(r["uplift_captured_baseline"]),
            _pct(r["uplift_captured_change"], True),
            "NOT EVALUATED" if r["not_evaluated"] else "REGRESSED" if r["regressed"] else "ok",
        )
    Console(width=160).print(out)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="regress")
@job_main("regress")
def main(cfg: DictConfig) -> float:
    passed, table = regress(cfg, HydraConfig.get().runtime.output_dir)
    if not passed:
        sys.exit(1)
    return float(table["profit"].sum())


if __name__ == "__main__":
    main()
