"""``report.md`` of a comparison: the leaderboard and five plots (PNG beside it).

Plots: learning curves of the SB3 agents; profit against uniform discount depth with every
policy marked at its average discount; discount given by segment; cumulative profit over the
horizon; incremental profit against promotion cost.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import pandas as pd
from discountsim.agents import Lineup
from discountsim.agents.storage import atomic_write, atomic_write_text
from discountsim.experiments.tables import to_markdown
from discountsim.simulators import SimulatorParams


def _save(fig: plt.Figure, path: Path) -> str:
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, bbox_inches="tight"))
    plt.close(fig)
    return path.name


def plot_learning_curves(curves: pd.DataFrame, path: Path) -> str | None:
    if curves.empty:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for policy, frame in curves.groupby("policy"):
        ax.plot(frame["timesteps"], frame["profit"], marker="o", label=policy)
    ax.set(
        xlabel="training timesteps (shopper-weeks)", ylabel="profit per shopper (evaluation)", title="Learning curves"
    )
    ax.legend()
    return _save(fig, path)


def plot_profit_vs_depth(summary: pd.DataFrame, uniform: pd.DataFrame, path: Path, currency: str) -> str:
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(uniform["discount"], uniform["profit"], color="grey", marker=".", label="uniform discount")
    for _, row in summary.iterrows():
        ax.scatter(row["avg_discount"], row["profit"], zorder=3)
        ax.annotate(
            row["policy"], (row["avg_discount"], row["profit"]), fontsize=7, xytext=(3, 3), textcoords="offset points"
        )
    ax.set(xlabel="average discount given", ylabel=f"profit per shopper ({currency})", title="Profit vs discount depth")
    ax.legend()
    return _save(fig, path)


def plot_discount_by_segment(by_segment: pd.DataFrame, path: Path) -> str:
    table = by_segment.pivot(index="segment", columns="policy", values="avg_discount")
    fig, ax = plt.subplots(figsize=(7, 4))
    table.plot.bar(ax=ax, width=0.85)
    ax.set(ylabel="average discount given", title="Discount given by (latent) segment")
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


def plot_cumulative_profit(lineup: Lineup, path: Path, currency: str) -> str:
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, evaluation in lineup.evaluations.items():
        per_shopper = evaluation.totals.profit_by_period.cumsum() / evaluation.totals.profit.size
        ax.plot(range(1, per_shopper.size + 1), per_shopper, label=label)
    ax.set(xlabel="week", ylabel=f"cumulative profit per shopper ({currency})", title="Cumulative profit")
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_incremental_vs_cost(summary: pd.DataFrame, path: Path, currency: str) -> str:
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.axhline(0.0, color="grey", linewidth=0.8)
    for _, row in summary.iterrows():
        ax.errorbar(
            row["promotion_cost"],
            row["incremental_profit"],
            yerr=[
                [row["incremental_profit"] - row["incremental_profit_ci_low"]],
                [row["incremental_profit_ci_high"] - row["incremental_profit"]],
            ],
            fmt="o",
            capsize=3,
        )
        ax.annotate(
            row["policy"],
            (row["promotion_cost"], row["incremental_profit"]),
            fontsize=7,
            xytext=(3, 3),
            textcoords="offset points",
        )
    ax.set(
        xlabel=f"promotion cost per shopper ({currency})",
        ylabel=f"incremental profit per shopper ({currency})",
        title="What the discounts cost and what they earn back",
    )
    return _save(fig, path)


def write_report(
    out: Path, params: SimulatorParams, lineup: Lineup, uniform: pd.DataFrame, curves: pd.DataFrame, notes: str = ""
) -> Path:
    """Write the plots and ``report.md`` into ``out``; returns the report's path."""
    summary = lineup.summary
    currency = params.currency
    figures = [
        ("Learning curves", plot_learning_curves(curves, out / "learning_curves.png")),
        (
            "Profit vs uniform discount depth",
            plot_profit_vs_depth(summary, uniform, out / "profit_vs_depth.png", currency),
        ),
        ("Discount given by segment", plot_discount_by_segment(lineup.by_segment, out / "discount_by_segment.png")),
        ("Cumulative profit over the horizon", plot_cumulative_profit(lineup, out / "cumulative_profit.png", currency)),
        (
            "Incremental profit vs promotion cost",
            plot_incremental_vs_cost(summary, out / "incremental_vs_cost.png", currency),
        ),
    ]
    row = summary.iloc[0]
    lines = [
        f"# Comparison on `{params.name}`",
        "",
        f"{int(row['n_shoppers']):,} shoppers x {int(row['horizon'])} weeks; every policy on the same shoppers "
        f"with the same random draws. Money is per shopper over the horizon, in {currency}; intervals are 95 %, "
        "and the incremental profit is paired per shopper against no discount.",
        "",
        to_markdown(summary),
    ]
    if notes:
        lines += [notes, ""]
    for title, name in figures:
        if name is not None:
            lines += [f"## {title}", "", f"![{title}]({name})", ""]
    return atomic_write_text(out / "report.md", "\n".join(lines))
