"""Leaderboards: one row per policy, sorted by profit, for the console (rich) and for Markdown reports."""

from __future__ import annotations

import pandas as pd
from rich.console import Console
from rich.table import Table

COLUMNS = (
    "policy",
    "profit",
    "incremental [95 % CI]",
    "share of oracle",
    "ROI",
    "avg discount",
    "offered",
    "retention",
)


def with_ci(row: pd.Series, metric: str) -> str:
    """``+1.23 [+0.50, +1.96]``: a metric with its 95 % interval."""
    return f"{row[metric]:+.2f} [{row[f'{metric}_ci_low']:+.2f}, {row[f'{metric}_ci_high']:+.2f}]"


def leaderboard(summary: pd.DataFrame) -> pd.DataFrame:
    """The evaluator's summary as display strings, best profit first."""
    rows = []
    for _, r in summary.sort_values("profit", ascending=False).iterrows():
        rows.append(
            {
                "policy": r["policy"],
                "profit": f"{r['profit']:.2f}",
                "incremental [95 % CI]": with_ci(r, "incremental_profit"),
                "share of oracle": "-" if pd.isna(r["oracle_share"]) else f"{r['oracle_share']:.1%}",
                "ROI": "-" if pd.isna(r["roi"]) else f"{r['roi']:+.2f}",
                "avg discount": f"{r['avg_discount']:.1%}",
                "offered": f"{r['offered_share']:.0%}",
                "retention": f"{r['retention']:.1%}",
            }
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def print_leaderboard(summary: pd.DataFrame, title: str, currency: str = "EUR") -> None:
    """Print the leaderboard; money is per shopper over the horizon, in ``currency``."""
    table = Table(title=f"{title} (money per shopper, {currency})")
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


def to_markdown(summary: pd.DataFrame) -> str:
    """The leaderboard as a Markdown table."""
    frame = leaderboard(summary)
    return markdown_table(list(frame.columns), [[str(v) for v in row] for row in frame.itertuples(index=False)])
