"""Leaderboards: one row per policy, sorted by profit, for the console (rich) and for Markdown reports."""

from __future__ import annotations

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

COLUMNS = (
    "policy",
    "profit",
    "incremental vs no discount",
    "uplift captured",
    "ROI",
    "avg discount",
    "offered",
    "retention",
)

NOTE = (
    "Sorted by profit, best first. a ± b: mean and the half-width of its 95 % interval over shoppers; "
    "incremental profit, uplift captured and ROI are paired per shopper (same shoppers, same draws). "
    "uplift captured: incremental profit as a share of the oracle's incremental profit (what a "
    "policy captures of what knowing every shopper could win over no discount). "
    "avg discount: per shopper-week, % of list price; offered: shoppers offered at least once; "
    "retention: shoppers still active at the end."
)
"""What the leaderboard's columns mean, printed under it."""


def _money(value: float, sign: bool) -> str:
    return f"{value:+.2f}" if sign else f"{value:.2f}"


def with_ci(row: pd.Series, metric: str, percent: bool = False, sign: bool = True) -> str:
    """``+1.23 ± 0.73`` (or ``96.9% ± 1.2%``): a metric with its 95 % interval, ``-`` when undefined.

    A symmetric interval shows as its half-width; an asymmetric one as ``+1.23 [+0.50, +2.10]``.
    """
    value, low, high = (row[metric], row[f"{metric}_ci_low"], row[f"{metric}_ci_high"])
    if pd.isna(value):
        return "-"
    show = (lambda v: f"{v:.1%}") if percent else (lambda v: _money(v, sign))
    if pd.isna(low) or pd.isna(high):
        return show(value)
    half = (high - low) / 2
    if abs((low + high) / 2 - value) <= 1e-9 * max(1.0, abs(value)):
        return f"{show(value)} ± {f'{half:.1%}' if percent else f'{half:.2f}'}"
    return f"{show(value)} [{show(low)}, {show(high)}]"


def leaderboard(summary: pd.DataFrame) -> pd.DataFrame:
    """The evaluator's summary as display strings, best profit first (fractions as %, money with 2 decimals)."""
    rows = []
    for _, r in summary.sort_values("profit", ascending=False, kind="stable").iterrows():
        rows.append(
            {
                "policy": r["policy"],
                "profit": with_ci(r, "profit", sign=False),
                "incremental vs no discount": with_ci(r, "incremental_profit"),
                "uplift captured": with_ci(r, "uplift_captured", percent=True),
                "ROI": with_ci(r, "roi"),
                "avg discount": f"{r['avg_discount']:.1%}",
                "offered": f"{r['offered_share']:.1%}",
                "retention": f"{r['retention']:.1%}",
            }
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def print_leaderboard(summary: pd.DataFrame, title: str, currency: str = "EUR", note: str | None = None) -> None:
    """Print the leaderboard; money is per shopper over the horizon, in ``currency``; ``note`` replaces ``NOTE``."""
    table = Table(
        title=f"{title} (money per shopper over the horizon, {currency})",
        caption=note or NOTE,
        caption_justify="left",
    )
    for column in COLUMNS:
        table.add_column(column, justify="left" if column == "policy" else "right")
    for row in leaderboard(summary).itertuples(index=False):
        table.add_row(*row)
    Console(width=160).print(table)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table of display strings."""
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines) + "\n"


def _cell(value: object) -> str:
    if isinstance(value, float | np.floating):
        return "" if np.isnan(value) else f"{value:.4g}"
    return str(value)


def frame_markdown(frame: pd.DataFrame) -> str:
    """Any table as Markdown: floats to 4 significant digits, NaN as an empty cell."""
    return markdown_table(
        [str(c) for c in frame.columns], [[_cell(v) for v in row] for row in frame.itertuples(index=False)]
    )


def to_markdown(summary: pd.DataFrame) -> str:
    """The leaderboard as a Markdown table, followed by what its columns mean."""
    frame = leaderboard(summary)
    table = markdown_table(list(frame.columns), [[str(v) for v in row] for row in frame.itertuples(index=False)])
    return f"{table}\n{NOTE}\n"
