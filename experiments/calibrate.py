"""Calibrate a scenario to a shop's log: ingest (validate, hash ids), fit, write the scenario and its evidence.

    discountsim calibrate data=<log.csv|log.parquet> [out=<scenario.yaml>] [segments=auto|K] [simulator=<base>]
    discountsim calibrate data='<folder or glob of files>' workers=<N> [ray_address=auto]

A log may be one file or many (a folder, a glob): with ``workers=0`` the files are read into this
process; with ``workers=N`` N Ray workers each read some of them and the fit sums their
log-likelihoods (``ray_calibration``), which gives the same fit.

The fitted scenario is an ordinary scenario YAML (``simulator=<path>``, ``load_scenario``,
``gymnasium.make(..., scenario=...)``), headed by a comment with the log's SHA-256 and the fit
statistics; ``<stem>.fit_report.md`` and its figures (``<stem>.fit_report/``) go beside it.
Nothing is written when the log breaks the schema. The id-hashing key is never written anywhere.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hydra
import yaml
from discountsim.agents.storage import atomic_write_text, write_json
from discountsim.experiments import CONFIG_DIR
from discountsim.experiments.fit_report import ReportInputs, write_fit_report
from discountsim.experiments.job_config import check_job_config
from discountsim.experiments.ray_calibration import ShardedSource
from discountsim.experiments.run_dir import job_main
from discountsim.simulators import SimulatorParams, load_scenario
from discountsim.simulators.calibration import calibrate
from discountsim.simulators.calibration.calibrate import CHECK_SHOPPERS, calibrate_source
from discountsim.simulators.calibration.panel import MIN_SHOPPERS
from discountsim.simulators.errors import DiscountSimInputError
from discountsim.simulators.memory import peak_memory_gb
from discountsim.simulators.shop_log import load_key, log_files, read_shop_logs
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate, to_absolute_path
from omegaconf import DictConfig

log = logging.getLogger(__name__)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def log_digest(files: list[Path]) -> str:
    """One file's SHA-256; for a log in many files, the SHA-256 of their names and SHA-256s in name order."""
    if len(files) == 1:
        return sha256_of(files[0])
    return hashlib.sha256("".join(f"{p.name}:{sha256_of(p)}\n" for p in files).encode()).hexdigest()


def scenario_text(scenario: dict[str, Any], header: list[str]) -> str:
    """The scenario YAML, headed by ``# `` comment lines."""
    hydra_keys = {"_target_": "discountsim.simulators.build_scenario", "_convert_": "all"}  # `simulator=<file>`
    body = yaml.safe_dump({**hydra_keys, **scenario}, sort_keys=False)
    return "".join(f"# {line}\n" for line in header) + body


def run_calibration(cfg: DictConfig, output_dir: str | Path = ".") -> dict[str, Any]:
    """Calibrate as a composed ``calibrate`` config says; returns the headline figures (also ``metrics.json``)."""
    cfg = check_job_config("calibrate", cfg)
    if cfg.data is None:
        raise DiscountSimInputError("data: required: the shop log to calibrate on (a .csv or .parquet file)")
    base: SimulatorParams = instantiate(cfg.simulator)
    data = Path(to_absolute_path(str(cfg.data)))
    out = Path(to_absolute_path(str(cfg.out)))
    if out.suffix not in (".yaml", ".yml"):
        raise DiscountSimInputError(f"out: {out}: expected a .yaml path for the fitted scenario")
    key_file = None if cfg.key_file is None else to_absolute_path(str(cfg.key_file))
    files = log_files(data)
    key, key_source = load_key(key_file)
    digest = log_digest(files)
    segments = cfg.segments if cfg.segments == "auto" else int(cfg.segments)
    name = cfg.name or out.stem
    start_week = base.seasonality.start_week if cfg.start_week is None else int(cfg.start_week)
    fit_options = dict(
        segments=segments, max_segments=int(cfg.max_segments), name=name, max_iter=int(cfg.max_iter), progress=log.info
    )
    if int(cfg.workers) > 0:
        source = ShardedSource(
            files,
            key,
            base,
            start_week,
            float(cfg.held_out),
            int(cfg.seed),
            int(cfg.shard_size),
            int(cfg.workers),
            cfg.ray_address,
        )
        dropped = source.dropped_columns
        log.info(
            "log %s: %d files on %d Ray workers, %s shopper-weeks, sha256 %s; ids hashed (key: %s)",
            data.name,
            len(files),
            len(source.workers),
            f"{source.summary.n_rows:,}",
            digest,
            key_source,
        )
        try:
            cal = calibrate_source(
                source,
                base,
                source.categories,
                start_week=start_week,
                check_shoppers=CHECK_SHOPPERS,
                seed=int(cfg.seed),
                **fit_options,
            )
            memory = source.peak_memory_gb()
            log.info("peak memory: workers %s GB; driver %.2f GB", [round(m, 2) for m in memory], peak_memory_gb())
        finally:
            source.close()
    else:
        shop_log = read_shop_logs(files, key, key_source)  # validates; fails before anything is written
        dropped = shop_log.dropped_columns
        log.info(
            "log %s: %s rows, sha256 %s; ids hashed (key: %s)",
            data.name,
            f"{len(shop_log.frame):,}",
            digest,
            key_source,
        )
        cal = calibrate(
            shop_log.frame,
            base,
            held_out=float(cfg.held_out),
            seed=int(cfg.seed),
            start_week=start_week,
            shard_size=int(cfg.shard_size),
            **fit_options,
        )
    if key_source.startswith("random"):
        log.warning("no id-hashing key given ($DISCOUNTSIM_LOG_KEY or key_file): a random key was made for this run")
    small = [n for n, s in cal.params.segments.items() if s.share * cal.n_shoppers < MIN_SHOPPERS]
    if small:
        raise DiscountSimInputError(
            f"segments: {segments} leaves {small} with fewer than {MIN_SHOPPERS} shoppers, which is never reported; "
            "ask for fewer segments or segments=auto"
        )
    for warning in cal.warnings:
        log.warning("%s", warning)
    stats = {
        "segments": cal.chosen.n_segments,
        "loglik": cal.chosen.loglik,
        "bic": cal.chosen.bic,
        "held_out_loglik_per_row": cal.held_out.loglik_per_row,
        "held_out_worst_decile_gap_pp": float(cal.held_out.deciles["gap_pp"].abs().max()),
        "not_identified": len(cal.not_identified),
        "shared_over_segments": sum(len(segs) for segs in cal.pooled.values()),
        "shoppers": cal.n_shoppers,
        "rows": cal.n_rows,
        "log_sha256": digest,
    }
    header = [
        f"Calibrated by `discountsim calibrate` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
        f"{out.stem}.fit_report.md beside it.",
        f"source log sha256 {digest}: {cal.n_rows:,} shopper-weeks, {cal.n_shoppers:,} shoppers (ids keyed-hashed).",
        f"base scenario: {base.name}; segments: {cal.chosen.n_segments} (BIC {cal.chosen.bic:,.1f}, "
        f"log-likelihood {cal.chosen.loglik:,.1f}, {cal.chosen.n_free} values estimated).",
        f"held out: {cal.held_out.n_shoppers:,} shoppers, log-likelihood per row {cal.held_out.loglik_per_row:.5f}, "
        f"worst decile gap {stats['held_out_worst_decile_gap_pp']:.2f} pp; "
        f"{len(cal.not_identified)} values not identified (kept at the base scenario's); "
        f"{stats['shared_over_segments']} per-segment values estimated shared ({', '.join(cal.pooled) or 'none'}).",
    ]
    atomic_write_text(out, scenario_text(cal.scenario, header))
    load_scenario(out)  # what was written loads as a scenario
    report = write_fit_report(
        cal,
        ReportInputs(digest, base.name, key_source, dropped, out.name),
        out,
        int(cfg.seed),
    )
    write_json(Path(output_dir) / "metrics.json", stats)
    log.info("fitted scenario: %s; report: %s", out, report)
    return {**stats, "scenario": str(out), "report": str(report)}


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="calibrate")
@job_main("calibrate")
def main(cfg: DictConfig) -> float:
    return float(run_calibration(cfg, HydraConfig.get().runtime.output_dir)["held_out_loglik_per_row"])


if __name__ == "__main__":
    main()
