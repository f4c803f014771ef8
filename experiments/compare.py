"""Compare the whole line-up on one scenario: the README's main command.

    discountsim compare [simulator=<scenario>] [agents='[ppo,a2c]'] [timesteps=...] [n_shoppers=...]

Trains the supervised baseline and the SB3 agents on a small budget, evaluates every policy
(no_discount, uniform, rule_based, supervised, the agents, myopic_oracle, oracle) on the same
shoppers, prints the leaderboard and writes ``leaderboard.csv``, ``leaderboard.md``,
``metrics.json``, ``segments.csv``, ``cohorts.csv`` and ``report.md`` with its plots.
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
import pandas as pd
from discountsim.agents import evaluate_lineup
from discountsim.agents.storage import atomic_write_text, write_csv, write_json
from discountsim.experiments import CONFIG_DIR
from discountsim.experiments.job_config import check_job_config
from discountsim.experiments.lineup import build_lineup
from discountsim.experiments.report import write_report
from discountsim.experiments.run_dir import FILE_ONLY, job_main
from discountsim.experiments.simulate import fixed_discount_table
from discountsim.experiments.tables import print_leaderboard, to_markdown
from discountsim.simulators import SimulatorParams
from discountsim.simulators.disparity_floor import disparity_floor_arg
from discountsim.simulators.errors import DiscountSimInputError
from discountsim.simulators.planning import coverage
from discountsim.simulators.shop_log import log_files
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate, to_absolute_path
from omegaconf import DictConfig, OmegaConf
from rich.console import Console

log = logging.getLogger(__name__)


def compare(cfg: DictConfig, output_dir: str | Path = ".") -> pd.DataFrame:
    """Run the comparison a composed ``compare`` config describes; returns the leaderboard (evaluator columns)."""
    cfg = check_job_config("compare", cfg)
    params: SimulatorParams = instantiate(cfg.simulator)
    out = Path(output_dir)
    console = Console(width=160)
    plain = OmegaConf.to_container(cfg, resolve=True)
    by_agent = plain["agent_timesteps"]
    unknown = sorted(set(plain["agents"] or []) - set(by_agent) if cfg.timesteps is None else [])
    if unknown:
        raise DiscountSimInputError(
            f"agents: no training timesteps for {unknown}; set timesteps=... or agent_timesteps.<agent>=..."
        )
    timesteps = {a: int(cfg.timesteps if cfg.timesteps is not None else by_agent[a]) for a in cfg.agents or []}
    if cfg.get("ope_data"):  # fail before hours of training, not after
        log_files(Path(to_absolute_path(str(cfg.ope_data))), key="ope_data")
    disparity_floor_arg(plain.get("disparity_floor"), params)  # before hours of training, too
    trained = build_lineup(
        params,
        timesteps,
        seed=int(cfg.train_seed),
        uniform_depth=float(cfg.uniform_depth),
        supervised=plain["supervised"],
        closed_loop=plain["closed_loop"],
        console=console,
        contact_cap=plain.get("contact_cap"),
        distill=plain.get("distill"),
    )
    policies = trained.policies
    if not cfg.oracle:
        policies = {k: v for k, v in policies.items() if k not in ("oracle", "myopic_oracle")}
    lineup = evaluate_lineup(
        policies,
        params,
        int(cfg.n_shoppers),
        int(cfg.horizon),
        int(cfg.seed),
        bool(cfg.oracle),
        budget_per_period=plain.get("budget_per_period"),
        contact_cap=plain.get("contact_cap"),
        campaign_budget=plain.get("campaign_budget"),
        disparity_floor=plain.get("disparity_floor"),
    )
    summary = lineup.summary.assign(train_seconds=[trained.seconds.get(p, 0.0) for p in lineup.summary["policy"]])
    if cfg.get("ope_data"):
        summary = _with_ope(summary, str(cfg.ope_data), params, policies, out)
    uniform = fixed_discount_table(
        params, list(cfg.uniform_curve), int(cfg.n_shoppers), int(cfg.horizon), int(cfg.seed)
    )
    title = f"{params.name}: {int(cfg.n_shoppers):,} shoppers x {int(cfg.horizon)} weeks"
    print_leaderboard(summary, title, params.currency)
    covered = coverage(params)
    notes = (
        ""
        if covered.exact
        else "The oracle is a reference here, not a bound: it approximates " + "; ".join(covered.gaps) + "."
    )
    if notes:
        log.info(notes)
    board = summary.sort_values("profit", ascending=False)
    markdown = to_markdown(summary)
    log.info("%s\n%s", title, markdown, extra=FILE_ONLY)  # the console has the table above
    # Details first, summaries (report, leaderboard) last: a run killed midway has no leaderboard.
    write_csv(out / "segments.csv", lineup.by_segment)
    write_csv(out / "cohorts.csv", lineup.by_cohort)
    if not lineup.by_group.empty:
        write_csv(out / "groups.csv", lineup.by_group)
    if not trained.curves.empty:
        write_csv(out / "learning_curves.csv", trained.curves)
    write_json(out / "metrics.json", board.to_dict(orient="records"))
    report = write_report(out, params, lineup, uniform, trained.curves, notes)
    write_csv(out / "leaderboard.csv", board)
    atomic_write_text(out / "leaderboard.md", f"# {title}\n\n" + markdown)
    best = board.iloc[0]
    log.info("best: %s, profit %.2f %s per shopper", best["policy"], best["profit"], params.currency)
    log.info("written: %s, %s", out / "leaderboard.md", report)
    return board


def _with_ope(summary: pd.DataFrame, data: str, params: SimulatorParams, policies: dict, out: Path) -> pd.DataFrame:
    """The leaderboard with each policy's doubly robust estimate on the log ``data`` (profit per shopper-week).

    The oracles read the latent state and get no estimate; every estimator goes to ``ope.csv``.
    """
    from discountsim.agents.base import PrivilegedPolicy
    from discountsim.experiments.ope import estimates_on_log

    judged = {k: v for k, v in policies.items() if not isinstance(v, PrivilegedPolicy)}
    table, _ = estimates_on_log(data, params, judged, trajectories=False)
    write_csv(out / "ope.csv", table)
    dr = table[table["estimator"] == "dr"].set_index("policy")
    shown = dr[["value", "ci_low", "ci_high", "unsupported_share"]].rename(columns={"value": "dr"})
    log.info(
        "Off-policy estimates on %s (doubly robust, profit per shopper-week, %s; unsupported: share of a policy's "
        "offers the logger never made):\n%s",
        data,
        params.currency,
        shown.to_string(float_format=lambda v: f"{v:.3f}"),
    )
    columns = {"ope_dr": "value", "ope_dr_ci_low": "ci_low", "ope_dr_ci_high": "ci_high"}
    columns["ope_unsupported_share"] = "unsupported_share"
    return summary.assign(**{new: summary["policy"].map(dr[old]) for new, old in columns.items()})


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="compare")
@job_main("compare")
def main(cfg: DictConfig) -> float:
    return float(compare(cfg, HydraConfig.get().runtime.output_dir)["profit"].max())


if __name__ == "__main__":
    main()
