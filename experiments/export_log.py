"""Export a simulated shop log in the shop-log schema: what a shop's database would hold after a logging policy.

    discountsim export-log [simulator=<scenario>] [n_shoppers=...] [horizon=...] [logging=random|targeted] [out=...]
        [shards=N]

``shards=N`` writes the log as N files split by shopper, ``<stem>.part-<j>-of-<N><suffix>`` beside
``out``, the way a big shop exports one (``calibrate data='<stem>.part-*'`` reads them).

``random`` offers a grid level uniformly at random; ``targeted`` is ``rule_based`` with ``exploration``
(20 %) uniformly drawn grid levels. Propensities are recorded exactly; no latent column is written.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
from discountsim.agents import make_policy
from discountsim.agents.logging_policies import ExploringLogger
from discountsim.agents.storage import atomic_write
from discountsim.experiments import CONFIG_DIR
from discountsim.experiments.calibrate import log_digest
from discountsim.experiments.job_config import check_job_config
from discountsim.experiments.run_dir import job_main
from discountsim.simulators import SimulatorParams, generate_behaviour_log
from discountsim.simulators.behaviour_log import RandomGridLoggingPolicy
from discountsim.simulators.errors import DiscountSimInputError
from discountsim.simulators.shop_log import table_format, to_shop_log, write_table
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate, to_absolute_path
from omegaconf import DictConfig

log = logging.getLogger(__name__)


def export_log(cfg: DictConfig, output_dir: str | Path = ".") -> dict[str, Any]:
    """Write the log a composed ``export_log`` config describes; returns its path, rows and SHA-256."""
    cfg = check_job_config("export_log", cfg)
    params: SimulatorParams = instantiate(cfg.simulator)
    if params.has_members:
        raise DiscountSimInputError(
            f"simulator: {params.name!r} has paid members (member_share > 0); a shop log has no column for membership, "
            "member prices or fees, so calibrate and ope could not read them back; export a scenario without members"
        )
    out = Path(to_absolute_path(str(cfg.out))) if cfg.out is not None else Path(output_dir) / "log.csv"
    table_format(out, "out")  # before the simulation, not after it
    shards = int(cfg.shards)
    if shards > int(cfg.n_shoppers):
        raise DiscountSimInputError(
            f"shards: {shards} files for {int(cfg.n_shoppers)} shoppers would leave files empty; at most n_shoppers"
        )
    seed = int(cfg.seed)
    if cfg.logging == "random":
        logger = RandomGridLoggingPolicy(seed=seed)
    else:
        rule = make_policy("rule_based", scenario=params)
        logger = ExploringLogger(rule, epsilon=float(cfg.exploration), seed=seed)
    frame = to_shop_log(generate_behaviour_log(params, logger, int(cfg.n_shoppers), int(cfg.horizon), seed))

    out.parent.mkdir(parents=True, exist_ok=True)
    if shards == 1:
        atomic_write(out, lambda tmp: write_table(frame, tmp))
        digest = log_digest([out])
        log.info(
            "%s log of %s: %s rows; written: %s (sha256 %s)", cfg.logging, params.name, f"{len(frame):,}", out, digest
        )
        return {"path": str(out), "rows": len(frame), "sha256": digest}
    paths = shard_paths(out, shards)
    part = frame["shopper_id"].to_numpy() % shards  # every shopper's rows in one file
    for j, path in enumerate(paths):
        atomic_write(path, lambda tmp, j=j: write_table(frame[part == j], tmp))
    log.info(
        "%s log of %s: %s rows in %d files by shopper; written: %s ... %s",
        cfg.logging,
        params.name,
        f"{len(frame):,}",
        shards,
        paths[0].name,
        paths[-1].name,
    )
    pattern = str(paths[0].parent / f"{out.stem}.part-*{out.suffix}")
    return {"path": pattern, "rows": len(frame), "sha256": log_digest(paths)}


def shard_paths(out: Path, shards: int) -> list[Path]:
    """``<stem>.part-<j>-of-<shards><suffix>`` beside ``out``, j = 0 .. shards - 1 (zero-padded to sort)."""
    width = len(str(shards - 1))
    return [out.with_name(f"{out.stem}.part-{j:0{width}d}-of-{shards}{out.suffix}") for j in range(shards)]


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="export_log")
@job_main("export-log")
def main(cfg: DictConfig) -> float:
    return float(export_log(cfg, HydraConfig.get().runtime.output_dir)["rows"])


if __name__ == "__main__":
    main()
