"""One table over all runs of a Hydra multirun: each setting's metrics as mean and 95 % interval over seeds.

``SweepSummaryCallback`` is a Hydra callback (``hydra.callbacks`` in ``conf/hydra/default.yaml``).
When a multirun ends, whatever the launcher (basic, joblib, submitit, Ray) or sweeper (basic,
Optuna), it reads every job directory under ``hydra.sweep.dir``: the job's task overrides
(``.hydra/overrides.yaml``) and its ``metrics.json`` (one row, as ``train`` writes, or a list of
rows, as ``evaluate`` and ``compare`` write). Runs that differ only in a seed key (``seed``,
``train_seed``) form one setting; each setting's metrics are averaged over its seeds with a
Student-t 95 % interval (``n - 1`` degrees of freedom; no interval from a single seed). Writes
``runs.csv`` (every run), ``summary.csv`` and ``summary.md`` into the sweep directory and prints
the table.

Reading the files at the end, rather than collecting job returns, keeps the summary independent
of where jobs ran: a launcher that runs jobs in other processes or on other machines only needs
the sweep directory on a shared file system.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from discountsim.agents.callbacks import SHOP_METRICS
from discountsim.agents.storage import atomic_write_text, write_csv
from discountsim.experiments.run_dir import read_status
from discountsim.experiments.tables import markdown_table
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table
from scipy import stats

SEED_KEYS = ("seed", "train_seed")
ROW_KEYS = ("policy", "scenario")  # columns of metrics.json rows that identify what was measured
SHOWN = ("profit", "incremental_profit", "uplift_captured", "roi", "retention")  # printed; summary.csv has them all
SHARES = ("uplift_captured",)  # shown as percentages


def read_runs(sweep_dir: str | Path, metrics_file: str = "metrics.json") -> pd.DataFrame:
    """Every job of a sweep as rows: ``run`` (job directory), one column per overridden key, the metrics.

    Jobs are the directories under ``sweep_dir`` holding ``.hydra/overrides.yaml``. A job whose
    ``status.json`` says it did not complete gives one row with that status (``running``,
    ``failed``, ``interrupted``), even if it wrote ``metrics_file`` before it stopped; a job without
    ``metrics_file`` gives one row with ``status = "no metrics"``.

    Raises:
        ValueError: A ``metrics_file`` is not JSON, or not an object or list of objects.
    """
    sweep_dir = Path(sweep_dir)
    parser = OverridesParser.create()
    rows: list[dict[str, Any]] = []
    for overrides_path in sorted(sweep_dir.rglob(".hydra/overrides.yaml"), key=_job_order):
        job = overrides_path.parent.parent
        lines = yaml.safe_load(overrides_path.read_text()) or []
        parsed = parser.parse_overrides(lines)
        # The value as typed (``0.0003``, not a re-rendered float); ``~key`` deletions have none.
        settings = {o.key_or_group: line.partition("=")[2] for o, line in zip(parsed, lines, strict=True)}
        base = {"run": str(job.relative_to(sweep_dir)), **settings}
        state = read_status(job)
        if state is not None and state.get("status") != "complete":
            rows.append({**base, "status": str(state.get("status"))})
            continue
        path = job / metrics_file
        if not path.is_file():
            rows.append({**base, "status": "no metrics"})
            continue
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not a metrics file (invalid JSON: {err})") from err
        records = [data] if isinstance(data, dict) else data
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise ValueError(f"{path}: expected a JSON object or a list of objects")
        rows.extend({**base, "status": "ok", **record} for record in records)
    return pd.DataFrame(rows)


def _job_order(path: Path) -> tuple[int, str]:
    # Job directories start with Hydra's job number (0, 1, ..., 10): sort numerically, not as text.
    name = path.parent.parent.name
    head = name.split("-", 1)[0]
    return (int(head) if head.isdigit() else 1 << 30, name)


def summarise_sweep(
    runs: pd.DataFrame,
    metrics: Sequence[str] = SHOP_METRICS,
    seed_keys: Sequence[str] = SEED_KEYS,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Mean and ``confidence`` interval over seeds of each setting's ``metrics``, best profit first.

    Args:
        runs: ``read_runs`` output.
        metrics: Metric columns to aggregate (those missing from ``runs`` are skipped).
        seed_keys: Override keys whose values are replicates, not settings.
        confidence: Coverage of the Student-t interval over seeds.

    Returns:
        One row per setting: the setting's keys, ``seeds`` (runs averaged), and per metric
        ``<metric>``, ``<metric>_ci_low``, ``<metric>_ci_high`` (NaN from a single run).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence: expected a value in (0, 1), got {confidence}")
    done = runs[runs["status"] == "ok"] if "status" in runs else runs
    present = [m for m in metrics if m in done.columns]
    if done.empty or not present:
        return pd.DataFrame()
    reserved = {"run", "status", *seed_keys, *present}
    keys = [c for c in done.columns if c not in reserved and (c in ROW_KEYS or not _is_metric_column(c, done))]
    grouped = done.fillna({k: "" for k in keys}).groupby(keys, sort=False, dropna=False)
    rows = []
    for setting, group in grouped:
        row: dict[str, Any] = dict(zip(keys, setting if isinstance(setting, tuple) else (setting,), strict=True))
        row["seeds"] = len(group)
        for metric in present:
            values = group[metric].astype(float).dropna().to_numpy()
            row[metric], row[f"{metric}_ci_low"], row[f"{metric}_ci_high"] = _t_interval(values, confidence)
        rows.append(row)
    summary = pd.DataFrame(rows)
    return summary.sort_values(present[0], ascending=False, kind="stable").reset_index(drop=True)


def _is_metric_column(column: str, frame: pd.DataFrame) -> bool:
    # Overrides are stored as strings; anything numeric came from metrics.json.
    return pd.api.types.is_numeric_dtype(frame[column]) or pd.api.types.is_bool_dtype(frame[column])


def _t_interval(values: np.ndarray, confidence: float) -> tuple[float, float, float]:
    if values.size == 0:
        return (float("nan"),) * 3
    mean = float(values.mean())
    if values.size == 1:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + confidence / 2, values.size - 1)) * float(values.std(ddof=1)) / np.sqrt(values.size)
    return mean, mean - half, mean + half


def varying_keys(summary: pd.DataFrame, metrics: Sequence[str] = SHOP_METRICS) -> list[str]:
    """The setting columns worth showing: those that differ between settings, less ``policy`` or
    ``scenario`` where they merely rename an overridden key (``policy`` when ``agent`` is swept)."""
    skip = {"seeds", *(f"{m}{s}" for m in metrics for s in ("", "_ci_low", "_ci_high"))}
    keys = [c for c in summary.columns if c not in skip]
    shown: list[str] = []
    for column in keys:
        if summary[column].nunique(dropna=False) < 2:
            continue
        if column in ROW_KEYS and any(_determines(summary, earlier, column) for earlier in shown):
            continue
        shown.append(column)
    return shown or keys[:1]


def _determines(frame: pd.DataFrame, key: str, other: str) -> bool:
    pairs = frame[[key, other]].astype(str).drop_duplicates()
    return bool(pairs[key].is_unique and pairs[other].is_unique)


def _label(column: str, columns: Sequence[str]) -> str:
    # agent.algorithm.learning_rate -> learning_rate, unless two shown columns would share the name.
    short = column.rsplit(".", 1)[-1]
    return short if sum(c.rsplit(".", 1)[-1] == short for c in columns) == 1 else column


def _value(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return str(value) if number.is_integer() else f"{number:.4g}"


def display_table(summary: pd.DataFrame, shown: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    """Header and rows to show: the varying settings, ``seeds``, then ``mean [low, high]`` per metric."""
    keys = varying_keys(summary)
    header = [*(_label(k, keys) for k in keys), "seeds", *shown]
    rows = [
        [*(_value(row[k]) for k in keys), str(row["seeds"]), *(_with_interval(row, m) for m in shown)]
        for _, row in summary.iterrows()
    ]
    return header, rows


def _with_interval(row: pd.Series, metric: str) -> str:
    if pd.isna(row[metric]):
        return "-"
    fmt = "{:.1%}" if metric in SHARES else "{:.2f}"
    if pd.isna(row[f"{metric}_ci_low"]):
        return fmt.format(row[metric])
    low, high = fmt.format(row[f"{metric}_ci_low"]), fmt.format(row[f"{metric}_ci_high"])
    return f"{fmt.format(row[metric])} [{low}, {high}]"


def write_sweep_summary(
    sweep_dir: str | Path,
    metrics_file: str = "metrics.json",
    metrics: Sequence[str] = SHOP_METRICS,
    seed_keys: Sequence[str] = SEED_KEYS,
    shown: Sequence[str] = SHOWN,
    console: Console | None = None,
) -> pd.DataFrame:
    """Read, summarise, print and write ``runs.csv``, ``summary.csv`` and ``summary.md`` in ``sweep_dir``."""
    sweep_dir = Path(sweep_dir)
    runs = read_runs(sweep_dir, metrics_file)
    console = console or Console(width=160)
    if runs.empty:
        console.print(f"sweep summary: no job directories under {sweep_dir}")
        return pd.DataFrame()
    write_csv(sweep_dir / "runs.csv", runs)
    summary = summarise_sweep(runs, metrics, seed_keys)
    jobs = runs.drop_duplicates("run")  # a job of evaluate or compare writes one row per policy
    missing = int((jobs["status"] != "ok").sum())
    if summary.empty:
        console.print(f"sweep summary: none of {len(jobs)} runs under {sweep_dir} wrote {metrics_file}")
        return summary
    shown = [m for m in shown if m in summary.columns and summary[m].notna().any()]  # uplift: only with an oracle
    write_csv(sweep_dir / "summary.csv", summary)
    title = f"Sweep summary: {len(jobs) - missing} runs, mean [95 % interval over seeds]"
    header, rows = display_table(summary, shown)
    atomic_write_text(sweep_dir / "summary.md", f"# {title}\n\n" + markdown_table(header, rows))
    n_keys = len(header) - 1 - len(shown)
    table = Table(title=title)
    for i, column in enumerate(header):
        table.add_column(column, justify="left" if i < n_keys else "right")
    for cells in rows:
        table.add_row(*cells)
    console.print(table)
    if missing:
        console.print(f"[yellow]{missing} run(s) wrote no {metrics_file}; see runs.csv[/]")
    written = f"written: {sweep_dir / 'summary.csv'}, {sweep_dir / 'summary.md'}, {sweep_dir / 'runs.csv'}"
    console.print(written, soft_wrap=True)
    return summary


class SweepSummaryCallback(Callback):
    """Hydra callback: at the end of a multirun, write and print the sweep summary (see the module doc).

    Args:
        metrics_file: File each job writes into its directory.
        seed_keys: Override keys treated as replicates.
        shown: Metrics printed (all of ``SHOP_METRICS`` that are present go to ``summary.csv``).
    """

    def __init__(
        self,
        metrics_file: str = "metrics.json",
        seed_keys: Sequence[str] = SEED_KEYS,
        shown: Sequence[str] = SHOWN,
    ) -> None:
        self.metrics_file = metrics_file
        self.seed_keys = tuple(seed_keys)
        self.shown = tuple(shown)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        write_sweep_summary(config.hydra.sweep.dir, self.metrics_file, SHOP_METRICS, self.seed_keys, self.shown)
