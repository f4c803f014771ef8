"""``report.md`` of a comparison: the leaderboard and five plots (PNG beside it).

Plots: learning curves of the SB3 agents; profit against uniform discount depth with every
policy marked at its average discount; discount given by segment; cumulative profit over the
horizon; incremental profit against promotion cost.

Every plot draws a policy in the same colour (``plot_style.policy_colours``, built once per report)
and tags each artist it draws for a policy with ``gid="policy:<label>"``, so tests can check the
colours. Point labels are placed by ``plot_style.place_labels`` so that they overlap neither each
other nor the points; coincident points share a label and show as concentric rings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import pandas as pd
from discountsim.agents import Lineup
from discountsim.agents.storage import atomic_write, atomic_write_text
from discountsim.experiments.plot_style import place_labels, policy_colours
from discountsim.experiments.tables import to_markdown
from discountsim.simulators import SimulatorParams
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

DPI = 110
"""Dots per inch of the figures and of the saved PNGs (label placement measures text at this size)."""


def _gid(policy: str) -> str:
    return f"policy:{policy}"


_THOUSANDS = FuncFormatter(lambda value, _: f"{value:,.0f}")


def _figure(width: float = 6.4, height: float = 4.2) -> tuple[Figure, plt.Axes]:
    fig, ax = plt.subplots(figsize=(width, height), dpi=DPI)
    ax.grid(True, color="0.92", linewidth=0.8)
    ax.set_axisbelow(True)
    return fig, ax


def _save(fig: Figure, path: Path) -> str:
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=DPI, bbox_inches="tight"))
    plt.close(fig)
    return path.name


def plot_learning_curves(curves: pd.DataFrame, colours: Mapping[str, str], currency: str) -> Figure | None:
    """Evaluation profit of each SB3 agent against its training timesteps (None without agents)."""
    if curves.empty:
        return None
    fig, ax = _figure()
    for policy, frame in curves.groupby("policy", sort=False):
        ax.plot(frame["timesteps"], frame["profit"], marker="o", color=colours[policy], label=policy, gid=_gid(policy))
    where = ""
    if {"n_shoppers", "horizon"} <= set(curves.columns):
        first = curves.iloc[0]
        where = f" over {int(first['horizon'])} weeks"
        ax.set_title(
            f"Learning curves (evaluated on {int(first['n_shoppers']):,} fixed shoppers, not the leaderboard's)",
            fontsize=10,
        )
    else:
        ax.set_title("Learning curves")
    ax.set(xlabel="training timesteps (shopper-weeks)", ylabel=f"profit per shopper{where} ({currency})")
    ax.xaxis.set_major_formatter(_THOUSANDS)
    ax.legend(title="agent", fontsize=8)
    return fig


def plot_profit_vs_depth(
    summary: pd.DataFrame, uniform: pd.DataFrame, colours: Mapping[str, str], currency: str, horizon: int
) -> Figure:
    """Profit of a uniform discount at each depth (a curve) and of every policy at its average discount."""
    fig, ax = _figure()
    ax.plot(
        uniform["discount"],
        uniform["profit"],
        color="0.75",
        linestyle="--",
        marker=".",
        label="same discount to everyone,\nat each depth",
        zorder=1,
    )
    markers = []
    for _, row in summary.iterrows():
        policy = row["policy"]
        markers.append(
            ax.scatter(
                row["avg_discount"],
                row["profit"],
                s=48,
                color=colours[policy],
                edgecolors="white",
                linewidths=0.6,
                zorder=3,
                gid=_gid(policy),
            )
        )
    ax.margins(x=0.08, y=0.12)
    ax.set(
        xlabel="average discount per shopper-week (% of list price; 0 when no offer)",
        ylabel=f"profit per shopper over {horizon} weeks ({currency})",
        title="Profit vs discount depth",
    )
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.legend(fontsize=7, loc="lower left")
    place_labels(ax, list(zip(summary["policy"], summary["avg_discount"], summary["profit"], strict=True)), markers)
    return fig


def plot_discount_by_segment(by_segment: pd.DataFrame, colours: Mapping[str, str], order: Sequence[str]) -> Figure:
    """Average discount each policy gives each (latent) segment, grouped bars in line-up order."""
    table = by_segment.pivot(index="segment", columns="policy", values="avg_discount")
    table = table[[p for p in order if p in table.columns]]
    fig, ax = _figure(7.6, 4.2)
    width = 0.85 / len(table.columns)
    for i, policy in enumerate(table.columns):
        positions = [k + (i - (len(table.columns) - 1) / 2) * width for k in range(len(table.index))]
        ax.bar(positions, table[policy], width, color=colours[policy], label=policy, gid=_gid(policy))
    ax.set_xticks(range(len(table.index)), [str(s).replace("_", " ") for s in table.index])
    ax.set(
        xlabel="segment (latent: policies see behaviour, not the segment)",
        ylabel="average discount per shopper-week\n(% of list price)",
        title="Discount given by segment (no bar: no discount)",
    )
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="policy", title_fontsize=8)
    return fig


def plot_cumulative_profit(lineup: Lineup, colours: Mapping[str, str], currency: str) -> Figure:
    """Cumulative profit per shopper week by week; the legend lists policies by final profit, best first."""
    fig, ax = _figure()
    finals = {}
    for label, evaluation in lineup.evaluations.items():
        per_shopper = evaluation.totals.profit_by_period.cumsum() / evaluation.totals.profit.size
        ax.plot(
            range(1, per_shopper.size + 1),
            per_shopper,
            color=colours[label],
            label=label,
            gid=_gid(label),
            linewidth=1.4,
        )
        finals[label] = float(per_shopper[-1])
    handles, labels = ax.get_legend_handles_labels()
    ranked = sorted(zip(handles, labels, strict=True), key=lambda hl: -finals[hl[1]])
    ax.legend(
        [h for h, _ in ranked],
        [lab for _, lab in ranked],
        fontsize=7,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        title="policy (best first)",
        title_fontsize=8,
    )
    ax.set(xlabel="week", ylabel=f"cumulative profit per shopper ({currency})", title="Cumulative profit")
    return fig


def plot_incremental_vs_cost(summary: pd.DataFrame, colours: Mapping[str, str], currency: str, horizon: int) -> Figure:
    """Incremental profit against no discount (95 % interval) against the promotion cost, per shopper."""
    fig, ax = _figure()
    ax.axhline(0.0, color="0.6", linewidth=0.8, zorder=1)
    markers = []
    for _, row in summary.iterrows():
        policy = row["policy"]
        bars = ax.errorbar(
            row["promotion_cost"],
            row["incremental_profit"],
            yerr=[
                [row["incremental_profit"] - row["incremental_profit_ci_low"]],
                [row["incremental_profit_ci_high"] - row["incremental_profit"]],
            ],
            fmt="o",
            markersize=6,
            capsize=3,
            color=colours[policy],
            zorder=3,
        )
        for artist in (bars.lines[0], *bars.lines[1], *bars.lines[2]):
            artist.set_gid(_gid(policy))
        markers.append(bars.lines[0])
    ax.margins(x=0.08, y=0.12)
    ax.set(
        xlabel=f"promotion cost per shopper over {horizon} weeks ({currency})",
        ylabel=f"incremental profit per shopper ({currency})\nvs no discount, 95 % interval",
        title="What the discounts cost and what they earn back",
    )
    ax.xaxis.set_major_formatter(_THOUSANDS)
    points = list(zip(summary["policy"], summary["promotion_cost"], summary["incremental_profit"], strict=True))
    place_labels(ax, points, markers)
    return fig


def write_report(
    out: Path, params: SimulatorParams, lineup: Lineup, uniform: pd.DataFrame, curves: pd.DataFrame, notes: str = ""
) -> Path:
    """Write the plots and ``report.md`` into ``out``; returns the report's path."""
    summary = lineup.summary
    currency = params.currency
    horizon = int(summary.iloc[0]["horizon"])
    order = list(summary["policy"])
    colours = policy_colours([*order, *(curves["policy"].unique() if not curves.empty else [])])
    figures = [
        ("Learning curves", "learning_curves.png", plot_learning_curves(curves, colours, currency)),
        (
            "Profit vs uniform discount depth",
            "profit_vs_depth.png",
            plot_profit_vs_depth(summary, uniform, colours, currency, horizon),
        ),
        (
            "Discount given by segment",
            "discount_by_segment.png",
            plot_discount_by_segment(lineup.by_segment, colours, order),
        ),
        (
            "Cumulative profit over the horizon",
            "cumulative_profit.png",
            plot_cumulative_profit(lineup, colours, currency),
        ),
        (
            "Incremental profit vs promotion cost",
            "incremental_vs_cost.png",
            plot_incremental_vs_cost(summary, colours, currency, horizon),
        ),
    ]
    row = summary.iloc[0]
    lines = [
        f"# Comparison on `{params.name}`",
        "",
        f"{int(row['n_shoppers']):,} shoppers x {horizon} weeks; every policy on the same shoppers "
        f"with the same random draws. Money is per shopper over the horizon, in {currency}.",
        "",
        to_markdown(summary),
    ]
    if notes:
        lines += [notes, ""]
    for title, name, fig in figures:
        if fig is not None:
            lines += [f"## {title}", "", f"![{title}]({_save(fig, out / name)})", ""]
    return atomic_write_text(out / "report.md", "\n".join(lines))
