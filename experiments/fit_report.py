"""``<scenario>.fit_report.md``: the evidence that a calibrated scenario behaves like the shop's shoppers.

Every table and figure is segment- or population-level; the report holds no id and no
per-shopper value. Observed curves come from the log, simulated ones from the fitted scenario
replaying the log's own offers (``simulators.calibration.checks.replay``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from discountsim.agents.storage import atomic_write, atomic_write_text
from discountsim.experiments.tables import frame_markdown as _md
from discountsim.simulators.calibration.calibrate import Calibration, bic_table, parameter_table, where_label
from discountsim.simulators.calibration.checks import (
    inter_purchase_times,
    rate_by_discount,
    replay,
    still_buying,
)
from discountsim.simulators.calibration.panel import MIN_SHOPPERS
from discountsim.simulators.calibration.parameters import KEPT_FROM_BASE


@dataclass
class ReportInputs:
    """What the report says about where the numbers came from."""

    log_sha256: str
    base: str
    key_source: str
    dropped_columns: list[str]
    scenario_file: str


def _figure(path: Path, draw) -> str:
    fig, ax = plt.subplots(figsize=(6.0, 3.6), dpi=110)
    draw(ax)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)
    return path.name


def segment_traits(cal: Calibration) -> pd.DataFrame:
    """Each fitted segment's share, shoppers behind it and headline traits (segments by share)."""
    rows = []
    for name, seg in cal.params.segments.items():
        shoppers = seg.share * cal.n_shoppers
        if shoppers < MIN_SHOPPERS:  # never reported (calibration refuses such models; kept as a guard)
            continue
        rows.append(
            {
                "segment": name,
                "share": seg.share,
                "shoppers": round(shoppers),
                "base weekly P(buy)": float(1.0 / (1.0 + np.exp(-seg.intent.mean))),
                "discount sensitivity": seg.discount_sensitivity.mean,
                "loss weight": seg.loss_weight.mean,
                "reference memory": seg.reference_memory,
                "mean basket": seg.basket_value.mean,
                "weekly churn": seg.churn_rate,
                "offer churn": seg.offer_churn,
            }
        )
    return pd.DataFrame(rows)


def report_paths(scenario_file: Path) -> tuple[Path, Path]:
    """``<stem>.fit_report.md`` and its figures' folder ``<stem>.fit_report/`` beside the scenario file.

    Named after the scenario, so that two calibrations written into one folder keep both reports.
    """
    return scenario_file.with_name(f"{scenario_file.stem}.fit_report.md"), scenario_file.with_name(
        f"{scenario_file.stem}.fit_report"
    )


def write_fit_report(cal: Calibration, inputs: ReportInputs, scenario_file: Path, seed: int = 0) -> Path:
    """Write the report and its figures beside ``scenario_file`` (``report_paths``); returns the report's path."""
    path, figures = report_paths(scenario_file)
    figures.mkdir(parents=True, exist_ok=True)
    bic = bic_table(cal.fits, cal.chosen)
    table = parameter_table(cal)
    simulated = replay(cal.params, cal.panel.discount, seed)
    observed_rate, simulated_rate = rate_by_discount(cal.panel), rate_by_discount(simulated)
    gaps_obs, gaps_sim = inter_purchase_times(cal.panel), inter_purchase_times(simulated)
    kept_obs, kept_sim = still_buying(cal.panel), still_buying(simulated)
    deciles = cal.held_out.deciles

    def draw_bic(ax) -> None:
        ax.plot(bic["segments"], bic["bic"], "o-", label="BIC")
        ax.plot(bic["segments"], -2 * bic["loglik"], "s--", label="-2 log-likelihood")
        ax.axvline(cal.chosen.n_segments, color="grey", lw=0.8)
        ax.set_xlabel("segments K")
        ax.set_xticks(list(bic["segments"]))
        ax.legend()

    def draw_deciles(ax) -> None:
        top = float(max(deciles["predicted"].max(), deciles["observed"].max())) * 1.05
        ax.plot([0, top], [0, top], color="grey", lw=0.8)
        ax.plot(deciles["predicted"], deciles["observed"], "o")
        ax.set_xlabel("predicted P(buy), decile mean")
        ax.set_ylabel("observed purchase rate")

    def draw_rates(ax) -> None:
        ax.plot(observed_rate.index, observed_rate.values, "o-", label="observed (log)")
        ax.plot(simulated_rate.index, simulated_rate.values, "s--", label="simulated (fitted scenario)")
        ax.set_xlabel("discount offered")
        ax.set_ylabel("purchase rate per shopper-week")
        ax.legend()

    def draw_gaps(ax) -> None:
        ax.bar(gaps_obs.index - 0.2, gaps_obs.values, width=0.4, label="observed")
        ax.bar(gaps_sim.index + 0.2, gaps_sim.values, width=0.4, label="simulated")
        ax.set_xlabel("weeks between purchases (last bar: that many or more)")
        ax.set_ylabel("share of gaps")
        ax.legend()

    def draw_retention(ax) -> None:
        ax.plot(kept_obs.index, kept_obs.values, label="observed")
        ax.plot(kept_sim.index, kept_sim.values, "--", label="simulated")
        ax.set_xlabel("week of the log")
        ax.set_ylabel("share still buying (a purchase then or later)")
        ax.legend()

    names = {
        "bic": _figure(figures / "bic.png", draw_bic),
        "deciles": _figure(figures / "held_out_deciles.png", draw_deciles),
        "rates": _figure(figures / "purchase_rate_by_discount.png", draw_rates),
        "gaps": _figure(figures / "inter_purchase_times.png", draw_gaps),
        "retention": _figure(figures / "retention.png", draw_retention),
    }
    rates = pd.DataFrame({"discount": observed_rate.index, "observed": observed_rate.values}).merge(
        pd.DataFrame({"discount": simulated_rate.index, "simulated": simulated_rate.values}), how="outer"
    )
    worst = float(deciles["gap_pp"].abs().max())
    kept = [
        f"- `{n}` ({where_label(cal.natural, cal.panel.category_names, n, j)}): kept at {v:.4g}"
        for n, j, v in cal.not_identified
    ]
    shared = [
        f"- `{n}`: one value, {float(cal.natural[n][segs[0]]):.4g} (se {float(cal.se[n][segs[0]]):.3g}), shared by "
        + ", ".join(where_label(cal.natural, cal.panel.category_names, n, j) for j in segs)
        for n, segs in cal.pooled.items()
    ]
    lines = [
        f"# Fit report: {cal.params.name}",
        "",
        f"Scenario file: `{inputs.scenario_file}`. Base scenario (margins, offer cost, holiday calendar, d_max, "
        f"and values the log cannot identify): `{inputs.base}`.",
        f"Log: sha256 `{inputs.log_sha256}`, {cal.n_rows:,} shopper-weeks of {cal.n_shoppers:,} shoppers over "
        f"{cal.panel.n_periods} weeks; {cal.n_fit:,} shoppers fitted, {cal.held_out.n_shoppers:,} held out.",
        f"Shopper ids were replaced by keyed hashes (key: {inputs.key_source}).",
    ]
    if cal.panel.n_shoppers < cal.n_shoppers:
        lines.append(
            f"The log was fitted in shards: the log-likelihoods are over every shopper, while the replays and rates "
            f"below use a random {cal.panel.n_shoppers:,} of its shoppers and the decile table a random sample "
            "of the held-out rows."
        )
    if inputs.dropped_columns:
        lines.append(f"{len(inputs.dropped_columns)} column(s) outside the schema were dropped on ingest and not used.")
    lines += [
        "",
        "## Number of segments",
        "",
        f"Chosen: **K = {cal.chosen.n_segments}** (smallest BIC among models whose every segment has at least "
        f"{MIN_SHOPPERS} shoppers).",
        "",
        _md(bic),
        "",
        f"![BIC]({figures.name}/{names['bic']})",
        "",
        "## Held-out shoppers",
        "",
        f"Purchase log-likelihood per shopper-week: **{cal.held_out.loglik_per_row:.5f}** "
        f"on {cal.held_out.rows:,} rows. "
        f"Calibration of the one-step forecast P(buy | the shopper's earlier weeks), by decile: largest gap "
        f"**{worst:.2f} percentage points**.",
        "",
        _md(deciles),
        "",
        f"![deciles]({figures.name}/{names['deciles']})",
        "",
        "## Parameters",
        "",
        "95 % intervals from the observed information (the Hessian of the log-likelihood at the optimum, "
        "by central differences of its exact gradient) and the delta method. *At bound*: the estimate sits "
        "on the edge of its range (0), where no interval is computed. *Shared*: not identified in two or more "
        "segments alone (its standard error exceeded half of max(|estimate|, the parameter's scale)), so one "
        "value is estimated for all of them together. *Kept at base*: not identified by this log even so, "
        "or no offer ever moved it; the base scenario's value is used instead.",
        "",
        _md(table),
        "",
        "### Not identified by this log",
        "",
        *(kept or ["- none"]),
        "",
        "### Shared over segments (not identified in each alone)",
        "",
        *(shared or ["- none"]),
        "",
        "### Not estimated from any log",
        "",
        *[f"- {what}: {why}" for what, why in KEPT_FROM_BASE.items()],
        "",
        "## Segments",
        "",
        _md(segment_traits(cal)),
        "",
        "## Observed against simulated",
        "",
        "The fitted scenario replays the log's own offers (shopper i of the replay gets shopper i's logged "
        "discounts), with new simulated shoppers.",
        "",
        _md(rates),
        "",
        f"![rates]({figures.name}/{names['rates']})",
        f"![gaps]({figures.name}/{names['gaps']})",
        f"![retention]({figures.name}/{names['retention']})",
        "",
        "## Warnings",
        "",
        *([f"- {w}" for w in cal.warnings] or ["- none"]),
        "",
    ]
    atomic_write_text(path, "\n".join(lines))
    return path
