"""The shop-log schema: the simulator writes it, the reader validates it, ids are hashed on ingest."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from discountsim.simulators import generate_behaviour_log
from discountsim.simulators.errors import DiscountSimInputError
from discountsim.simulators.shop_log import (
    KEY_ENV,
    REQUIRED,
    SCHEMA,
    LogProblem,
    ShopLogError,
    hash_ids,
    log_files,
    read_shop_log,
    read_shop_logs,
    to_shop_log,
    validate_shop_log,
)


@pytest.fixture(scope="module")
def simulated() -> pd.DataFrame:
    return generate_behaviour_log("default", n_shoppers=60, horizon=6, seed=3)


def test_a_simulated_log_round_trips_through_the_reader_without_latent_columns(simulated, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "secret")
    shop = to_shop_log(simulated)
    assert list(shop.columns) == [c for c in SCHEMA if c in shop.columns] and set(REQUIRED) <= set(shop.columns)
    assert "segment" not in shop.columns and not any(c.startswith("category=") for c in shop.columns)
    path = tmp_path / "log.csv"
    shop.to_csv(path, index=False)
    read = read_shop_log(path)
    assert read.dropped_columns == [] and read.key_source == "environment"
    np.testing.assert_allclose(read.frame["basket_value"], shop["basket_value"])
    np.testing.assert_array_equal(read.frame["purchased"], shop["purchased"])
    np.testing.assert_array_equal(read.frame["period"], shop["period"])
    assert (read.frame["basket_value"][read.frame["purchased"] == 0] == 0).all()
    assert read.frame["shopper_id"].nunique() == shop["shopper_id"].nunique()
    assert not read.frame["shopper_id"].isin(shop["shopper_id"].astype(str)).any()  # no raw id survives


def test_churned_shoppers_keep_their_rows_so_the_log_does_not_reveal_churn(simulated) -> None:
    """A shop keeps logging offers to shoppers it does not know have left: every row stays, no purchase after churn."""
    shop = to_shop_log(simulated)
    assert len(shop) == len(simulated)
    churn_week = simulated[simulated["churned"].astype(bool)].set_index("shopper")["period"]
    assert len(churn_week) > 0
    after = shop["period"].to_numpy() > shop["shopper_id"].map(churn_week).fillna(np.inf).to_numpy()
    assert after.any() and (shop.loc[after, "discount"] > 0).any()  # offers still logged after churn
    assert (shop.loc[after, "purchased"] == 0).all()


def test_one_report_lists_every_kind_of_problem_with_counts_and_rows(tmp_path) -> None:
    good = {"shopper_id": "a", "period": 1, "discount": 0.1, "propensity": 0.5, "purchased": 1, "basket_value": 20}
    rows = [dict(good, shopper_id=f"s{i}") for i in range(12)]
    rows[1]["discount"] = 1.5  # outside [0, 1]
    rows[2]["basket_value"] = -3  # negative basket
    rows[3] |= {"purchased": 0, "basket_value": 9}  # basket without a purchase
    rows[4]["shopper_id"] = "s0"  # duplicate (s0, 1)
    rows[5]["propensity"] = 0  # outside (0, 1]
    rows[6]["period"] = "not-a-date"  # unparseable
    rows[7]["discount"] = "ten"  # wrong type
    path = tmp_path / "bad.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    with pytest.raises(ShopLogError) as caught:
        read_shop_log(path)
    problems = {p.kind: (p.count, p.rows) for p in caught.value.problems}
    assert problems == {
        "wrong type in discount (expected a number)": (1, [8]),
        "unparseable period (expected an integer week or an ISO date)": (1, [7]),
        "discount outside [0, 1]": (1, [2]),
        "negative basket_value": (1, [3]),
        "basket_value > 0 without a purchase": (1, [4]),
        "duplicate (shopper_id, period)": (1, [5]),
        "propensity outside (0, 1]": (1, [6]),
    }
    assert "7 kinds of problem" in str(caught.value)


def test_missing_columns_are_named(tmp_path) -> None:
    path = tmp_path / "short.csv"
    pd.DataFrame({"shopper_id": ["a"], "period": [1]}).to_csv(path, index=False)
    with pytest.raises(ShopLogError, match=r"missing columns \['discount', 'purchased', 'basket_value'\]"):
        read_shop_log(path)


def test_columns_outside_the_schema_are_dropped_and_named(tmp_path, caplog) -> None:
    path = tmp_path / "extra.csv"
    frame = pd.DataFrame(
        {"shopper_id": ["ann@example.com"], "period": ["2026-01-05"], "discount": [0.0], "purchased": [0]}
        | {"basket_value": [0.0], "email": ["ann@example.com"]}
    )
    frame.to_csv(path, index=False)
    with caplog.at_level(logging.WARNING, logger="discountsim.simulators.shop_log"):
        read = read_shop_log(path)
    assert read.dropped_columns == ["email"] and "email" not in read.frame.columns
    assert any("dropped columns outside the schema" in r.getMessage() for r in caplog.records)
    assert "ann@example.com" not in read.frame.to_csv()
    assert read.key_source.startswith("random")


def test_iso_dates_become_iso_weeks_that_agree_across_files(tmp_path) -> None:
    base = {"discount": [0.0] * 3, "purchased": [0] * 3, "basket_value": [0.0] * 3}
    # Monday 5 January, Sunday 18 January (the same ISO week as the 12th), Monday 26 January.
    pd.DataFrame({"shopper_id": ["a"] * 3, "period": ["2026-01-05", "2026-01-18", "2026-01-26"], **base}).to_csv(
        tmp_path / "one.csv", index=False
    )
    # Another file of the same log whose first date is a Wednesday: its weeks are the same ISO weeks.
    pd.DataFrame({"shopper_id": ["b"] * 3, "period": ["2026-01-14", "2026-01-19", "2026-01-27"], **base}).to_csv(
        tmp_path / "two.csv", index=False
    )
    frame = read_shop_logs(log_files(tmp_path), b"k", "test").frame
    weeks = frame["period"] - frame["period"].min()
    assert list(weeks) == [0, 1, 3, 1, 2, 3]
    assert list(read_shop_log(tmp_path / "one.csv").frame["period"].diff().dropna()) == [1, 2]


def test_a_log_in_several_files_reads_as_one_and_names_the_file_of_a_problem(tmp_path) -> None:
    base = {"discount": [0.0, 0.1], "purchased": [0, 1], "basket_value": [0.0, 30.0]}
    pd.DataFrame({"shopper_id": ["a", "a"], "period": [0, 1], **base}).to_parquet(tmp_path / "part-0.parquet")
    pd.DataFrame({"shopper_id": ["b", "b"], "period": [0, 1], **base}).to_csv(tmp_path / "part-1.csv", index=False)
    (tmp_path / "notes.txt").write_text("not a log")
    files = log_files(tmp_path)
    assert [f.name for f in files] == ["part-0.parquet", "part-1.csv"]
    assert log_files(tmp_path / "part-*") == files
    frame = read_shop_logs(files, b"k", "test").frame
    assert len(frame) == 4 and frame["shopper_id"].nunique() == 2
    # The same shopper-week in two files is a duplicate that names both files.
    pd.DataFrame({"shopper_id": ["a"], "period": [1], **{k: v[:1] for k, v in base.items()}}).to_csv(
        tmp_path / "part-2.csv", index=False
    )
    with pytest.raises(ShopLogError, match="across files") as err:
        read_shop_logs(log_files(tmp_path), b"k", "test")
    assert "part-0.parquet" in str(err.value) and "part-2.csv" in str(err.value)
    with pytest.raises(DiscountSimInputError, match=r"data: .*no log files"):
        log_files(tmp_path / "nothing-*.csv")
    bad = pd.DataFrame({"shopper_id": ["c"], "period": [0], "discount": [2.0], "purchased": [0], "basket_value": [0]})
    bad.to_csv(tmp_path / "part-2.csv", index=False)
    with pytest.raises(ShopLogError, match="discount outside") as err:
        read_shop_logs(log_files(tmp_path), b"k", "test")
    assert "part-2.csv" in str(err.value)


def test_keyed_hash_is_stable_per_key_and_differs_across_keys() -> None:
    ids = pd.Series(["x", "y", "x", 7])
    a, b = hash_ids(ids, b"k1"), hash_ids(ids, b"k2")
    assert a[0] == a[2] != a[1] and (a != b).all() and a.str.len().eq(32).all()
    assert list(hash_ids(ids, b"k1")) == list(a)


def test_unknown_format_and_missing_file_are_named(tmp_path) -> None:
    (tmp_path / "log.txt").write_text("x")
    with pytest.raises(ValueError, match=r"unknown format '\.txt'; allowed: \.csv, \.parquet"):
        read_shop_log(tmp_path / "log.txt")
    with pytest.raises(ValueError, match="log file not found"):
        read_shop_log(tmp_path / "nope.csv")


def test_a_schema_error_survives_pickling_as_a_worker_hands_it_back() -> None:
    import pickle

    err = ShopLogError("part-1.csv", [LogProblem("discount outside [0, 1]", 1, [4])])
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is ShopLogError and str(again) == str(err) and again.problems[0].rows == [4]


def test_an_empty_file_of_a_log_is_skipped_and_an_empty_log_refused(tmp_path) -> None:
    header = "shopper_id,period,discount,purchased,basket_value\n"
    (tmp_path / "a.csv").write_text(header + "x,0,0.1,1,20\n")
    (tmp_path / "b.csv").write_text(header)
    frame = read_shop_logs(log_files(tmp_path), b"k", "test").frame
    assert len(frame) == 1
    (tmp_path / "a.csv").write_text(header)
    with pytest.raises(DiscountSimInputError, match="no rows"):
        read_shop_logs(log_files(tmp_path), b"k", "test")


def test_two_dates_in_one_iso_week_are_a_duplicate_shopper_week() -> None:
    frame = pd.DataFrame(
        {
            "shopper_id": [1, 1, 2],
            "period": ["2026-01-05", "2026-01-06", "2026-01-05"],  # a Monday and the Tuesday after it
            "discount": [0.0, 0.1, 0.0],
            "purchased": [0, 0, 0],
            "basket_value": [0.0, 0.0, 0.0],
        }
    )
    with pytest.raises(ShopLogError, match=r"duplicate \(shopper_id, period\): 1; first rows: \[2\]"):
        validate_shop_log(frame)
