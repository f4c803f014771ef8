"""A shop's log of offers and purchases: one schema, the simulator's writer and the validating reader.

One row per shopper and period (issue 11). The simulator writes this schema (``to_shop_log``) and
``read_shop_log`` reads it back, so a simulated log and a shop's own export are the same thing to
everything downstream. Shopper ids are replaced on ingest by a keyed hash (HMAC-SHA256), so no raw
id goes further than the reader; columns outside the schema are dropped and named in a warning.
"""

from __future__ import annotations

import glob
import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from discountsim.simulators.errors import DiscountSimInputError

log = logging.getLogger(__name__)

SCHEMA: dict[str, str] = {
    "shopper_id": "shopper identifier (string or integer); replaced by a keyed hash on ingest",
    "period": "integer week, or ISO date (converted to ISO weeks, Monday to Sunday, counted from the earliest)",
    "discount": "depth offered, fraction of list price in [0, 1]; 0 = no offer",
    "propensity": "optional: probability that the logging policy chose this offer, in (0, 1]",
    "purchased": "0 or 1",
    "basket_value": "list-price value bought (currency); 0 when nothing was bought",
    "category": "optional: the shopper's main category",
    "browse": "optional: product views in the period (count)",
    "cart": "optional: items left in the cart (count)",
    "reviews": "optional: reviews written (count)",
}
"""Column -> meaning, in order; the README's table of the log schema."""
REQUIRED = ("shopper_id", "period", "discount", "purchased", "basket_value")
NUMERIC = ("discount", "propensity", "purchased", "basket_value", "browse", "cart", "reviews")
KEY_ENV = "DISCOUNTSIM_LOG_KEY"
"""Environment variable holding the hashing key (hex or text); a key file can be named instead."""
SHOWN_ROWS = 10
DATE_EPOCH = pd.Timestamp("1970-01-05")  # a Monday: date periods become ISO weeks (Monday to Sunday)
FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


@dataclass
class LogProblem:
    """One kind of problem in a log: how many rows have it and the first ones (1-based data rows)."""

    kind: str
    count: int
    rows: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        where = f"; first rows: {self.rows}" if self.rows else ""
        return f"{self.kind}: {self.count}{where}"


class ShopLogError(DiscountSimInputError):
    """A log that breaks the schema; ``problems`` lists every kind of problem found, not only the first."""

    def __init__(self, source: str, problems: list[LogProblem]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n  ".join(str(p) for p in problems)
        super().__init__(f"{source}: the log breaks the schema ({len(problems)} kinds of problem):\n  {lines}")

    def __reduce__(self):  # picklable, so a worker process (Ray, joblib) can hand it back as raised
        return (type(self), (self.source, self.problems))


@dataclass
class ShopLog:
    """A validated log: ``frame`` in schema order with hashed ids, and what ingest did to get it."""

    frame: pd.DataFrame
    dropped_columns: list[str]
    key_source: str  # "environment", "file <path>" or "random (this run only)"


def to_shop_log(behaviour_log: pd.DataFrame, category_names: tuple[str, ...] | None = None) -> pd.DataFrame:
    """A simulated behaviour log (``generate_behaviour_log``) in the shop schema, with no latent column.

    Every row is kept, those of shoppers who have already churned included: a shop does not know
    who has left, so it keeps logging its offers to them (and no purchases). Dropping those rows
    would leak each shopper's churn week into the log through its missing offers.
    """
    rows = behaviour_log
    out = pd.DataFrame(
        {
            "shopper_id": rows["shopper"].to_numpy(),
            "period": rows["period"].to_numpy(),
            "discount": rows["discount"].to_numpy(),
            "propensity": rows["propensity"].to_numpy(),
            "purchased": rows["purchased"].to_numpy().astype(int),
            "basket_value": rows["basket_value"].to_numpy(),
        }
    )
    # The observed signals as counts, inverting the observation's scaling (log(1 + count) / log(11)):
    # browse sessions and the cart add of each week, and the reviews written in it (the rise of the
    # running total by the next week; 0 in a shopper's last week, which has no next one).
    if {"browse", "cart", "reviews"} <= set(rows.columns) and {"shopper", "period"} <= set(rows.columns):

        def count(column: str) -> np.ndarray:
            return np.rint(np.expm1(rows[column].to_numpy(np.float64) * np.log(11.0)))

        out["browse"] = count("browse")
        out["cart"] = np.rint(rows["cart"].to_numpy(np.float64))
        total = pd.Series(count("reviews"), index=rows.index)
        ahead = total.groupby(rows["shopper"].to_numpy()).shift(-1)
        out["reviews"] = np.maximum(ahead.fillna(total) - total, 0.0).to_numpy()
    one_hot = [c for c in rows.columns if c.startswith("category=")]
    if one_hot:
        names = np.array([c.removeprefix("category=") for c in one_hot])
        out["category"] = names[rows[one_hot].to_numpy().argmax(axis=1)]
    return out[[c for c in SCHEMA if c in out.columns]]


def load_key(key_file: str | Path | None = None) -> tuple[bytes, str]:
    """The hashing key and where it came from: a key file, ``$DISCOUNTSIM_LOG_KEY``, or a new random key."""
    if key_file is not None:
        path = Path(key_file)
        if not path.is_file():
            raise DiscountSimInputError(f"key_file: not found: {path}")
        key = path.read_bytes().strip()
        if not key:
            raise DiscountSimInputError(f"key_file: {path} is empty; expected a secret key")
        return key, f"file {path}"
    if os.environ.get(KEY_ENV):
        return os.environ[KEY_ENV].encode(), "environment"
    return secrets.token_bytes(32), "random (this run only: ids are not linkable to another run)"


def hash_ids(ids: pd.Series, key: bytes) -> pd.Series:
    """Each id as the first 32 hex digits of HMAC-SHA256(key, str(id)); one hash per distinct id."""
    codes, uniques = pd.factorize(ids.astype(str))
    hashed = np.array([hmac.new(key, u.encode(), hashlib.sha256).hexdigest()[:32] for u in uniques], dtype=object)
    return pd.Series(hashed[codes], index=ids.index, name=ids.name)


def _rows(mask: pd.Series | np.ndarray) -> tuple[int, list[int]]:
    where = np.flatnonzero(np.asarray(mask, dtype=bool))
    return int(where.size), [int(i) + 1 for i in where[:SHOWN_ROWS]]


def _periods(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Periods as integer weeks and a mask of the values that are neither integers nor ISO dates."""
    as_number = pd.to_numeric(raw, errors="coerce")
    is_week = as_number.notna() & (as_number == np.floor(as_number))
    if is_week.sum() * 2 >= len(raw):  # a log of weeks: anything else in it is unparseable
        return as_number.where(is_week, -1).astype(np.int64), ~is_week
    dates = pd.to_datetime(raw.astype(str), format="ISO8601", errors="coerce")
    bad = dates.isna()
    # Weeks counted from a fixed Monday, not from this file's first date, so that files of one log agree;
    # the panel counts from the log's earliest week.
    weeks = ((dates - DATE_EPOCH).dt.days // 7).fillna(-1).astype(np.int64)
    return weeks, bad


def validate_shop_log(frame: pd.DataFrame, source: str = "log") -> tuple[pd.DataFrame, list[str]]:
    """The log checked against the schema: (clean frame in schema order, dropped columns).

    Raises:
        ShopLogError: Listing each kind of problem with its count and first ten rows: missing
            columns, wrong types, discounts outside [0, 1], negative baskets, a basket without a
            purchase, duplicate (shopper, period), propensities outside (0, 1], unparseable dates.
    """
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ShopLogError(source, [LogProblem(f"missing columns {missing}", len(missing))])
    dropped = [str(c) for c in frame.columns if c not in SCHEMA]
    frame = frame[[c for c in SCHEMA if c in frame.columns]].reset_index(drop=True)
    problems: list[LogProblem] = []
    values: dict[str, pd.Series] = {}
    for column in (c for c in NUMERIC if c in frame.columns):
        raw = frame[column]
        number = raw.astype(np.float64) if pd.api.types.is_numeric_dtype(raw) else pd.to_numeric(raw, errors="coerce")
        bad = number.isna() if column in REQUIRED else number.isna() & raw.notna()
        if column == "purchased":
            bad |= ~number.isin([0, 1])
        count, rows = _rows(bad)
        if count:
            problems.append(LogProblem(f"wrong type in {column} (expected a number)", count, rows))
        values[column] = number
    id_missing = frame["shopper_id"].isna()
    if id_missing.any():
        problems.append(LogProblem("wrong type in shopper_id (empty)", *_rows(id_missing)))
    weeks, bad_dates = _periods(frame["period"])
    if bad_dates.any():
        problems.append(LogProblem("unparseable period (expected an integer week or an ISO date)", *_rows(bad_dates)))
    checks = [
        ("discount outside [0, 1]", (values["discount"] < 0) | (values["discount"] > 1)),
        ("negative basket_value", values["basket_value"] < 0),
        ("basket_value > 0 without a purchase", (values["basket_value"] > 0) & (values["purchased"] == 0)),
        # on the weeks, not the raw values: two dates in one ISO week are one shopper-week twice
        (
            "duplicate (shopper_id, period)",
            frame.assign(period=weeks).duplicated(["shopper_id", "period"], keep="first"),
        ),
    ]
    if "propensity" in values:
        propensity = values["propensity"]
        checks.append(("propensity outside (0, 1]", propensity.notna() & ((propensity <= 0) | (propensity > 1))))
    for kind, mask in checks:
        count, rows = _rows(mask.fillna(False))
        if count:
            problems.append(LogProblem(kind, count, rows))
    if problems:
        raise ShopLogError(source, problems)
    clean = frame.assign(period=weeks, **{c: v for c, v in values.items()})
    clean["purchased"] = clean["purchased"].astype(np.int8)
    return clean, dropped


def table_format(path: Path, key: str) -> str:
    """``csv`` or ``parquet`` by suffix; an error naming ``key`` for any other."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise DiscountSimInputError(f"{key}: {path}: unknown format {path.suffix!r}; allowed: .csv, .parquet")
    return FORMATS[suffix]


def read_table(path: str | Path) -> pd.DataFrame:
    """A log file as it is on disk, no validation; CSV ids as text (so ``007`` keeps its form).

    CSV goes through pyarrow's parser (multi-threaded, typed columns); a column with a value that is
    not a number stays text, and validation reports it.
    """
    path = Path(path)
    if not path.is_file():
        raise DiscountSimInputError(f"data: log file not found: {path}")
    kind = table_format(path, "data")
    try:
        if kind == "parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, engine="pyarrow", dtype={"shopper_id": "string", "period": "string"})
    except (ValueError, OSError, ImportError) as err:
        raise DiscountSimInputError(f"data: {path}: cannot read it ({err})") from err


def write_table(frame: pd.DataFrame, path: str | Path) -> None:
    """Write ``frame`` to ``path`` (``.csv`` or ``.parquet``, by suffix); callers make it atomic."""
    path = Path(path)
    if table_format(path, "out") == "parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)


def log_files(data: str | Path, key: str = "data") -> list[Path]:
    """The files of a log: one file, every .csv/.parquet file in a directory, or a glob, in name order.

    Raises:
        DiscountSimInputError: Naming ``key``, when nothing matches or a file has another format.
    """
    data = Path(data)
    if any(c in str(data) for c in "*?["):
        files = sorted(Path(p) for p in glob.glob(str(data)))
    elif data.is_dir():
        files = sorted(p for p in data.iterdir() if p.suffix.lower() in FORMATS and not p.name.startswith("."))
    else:
        files = [data]
    if not files:
        raise DiscountSimInputError(f"{key}: {data}: no log files (.csv, .parquet) there")
    for path in files:
        table_format(path, key)
        if not path.is_file():
            raise DiscountSimInputError(f"{key}: log file not found: {path}")
    return files


def read_shop_logs(paths: list[Path], key: bytes, key_source: str) -> ShopLog:
    """Read, validate and hash the files of one log (``log_files``) into one frame.

    Each file is validated on its own, so problems name the file and its rows; a (shopper, period)
    in two files is reported as a duplicate naming both.
    """
    frames, dropped, paths_read = [], [], []
    failed: list[tuple[Path, ShopLogError]] = []
    for path in paths:
        try:
            clean, gone = validate_shop_log(read_table(path), str(path))
        except ShopLogError as err:
            failed.append((path, err))
            continue
        if clean.empty:  # a shard of a big export can be empty; it holds no shopper
            log.warning("%s: no rows; skipped", path)
            continue
        clean["shopper_id"] = hash_ids(clean["shopper_id"], key)
        frames.append(clean.assign(_file=np.int32(len(paths_read))))
        paths_read.append(path)
        dropped += [c for c in gone if c not in dropped]
    if len(failed) == 1:
        raise failed[0][1]
    if failed:
        raise ShopLogError(
            "data",
            [LogProblem(f"{path.name}: {p.kind}", p.count, p.rows) for path, err in failed for p in err.problems],
        )
    if not frames:
        names = ", ".join(p.name for p in paths[:SHOWN_ROWS])
        raise DiscountSimInputError(f"data: {names}: no rows (the log is empty)")
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if len(frames) > 1:
        twice = frame.duplicated(["shopper_id", "period"], keep=False)
        if twice.any():
            files = sorted({str(paths_read[i]) for i in frame.loc[twice, "_file"].unique()})[:SHOWN_ROWS]
            raise ShopLogError(
                "data", [LogProblem(f"duplicate (shopper_id, period) across files {files}", int(twice.sum()) // 2)]
            )
    if dropped:
        log.warning("%s: dropped columns outside the schema (never copied anywhere): %s", paths[0].parent, dropped)
    return ShopLog(frame.drop(columns="_file"), dropped, key_source)


def read_shop_log(path: str | Path, key_file: str | Path | None = None) -> ShopLog:
    """Read a CSV or Parquet log, validate it, and replace shopper ids by their keyed hash.

    Raises:
        DiscountSimInputError: For a missing or unreadable file.
        ShopLogError: For data that breaks the schema (see ``validate_shop_log``).
    """
    files = log_files(path)  # a missing file is reported before a key is looked for
    return read_shop_logs(files, *load_key(key_file))
