"""discountsim export-log: a simulated log in exactly the shop-log schema, readable by the validating reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from discountsim.experiments.config_rules import JobConfigError
from discountsim.experiments.export_log import export_log
from discountsim.simulators.errors import DiscountSimInputError
from discountsim.simulators.shop_log import SCHEMA, log_files, read_shop_log, read_table
from hydra import compose, initialize_config_dir

CONF = Path(__file__).resolve().parents[2] / "conf"


def _cfg(overrides: list[str]):
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        return compose("export_log", overrides=overrides)


@pytest.mark.parametrize("logging_policy, suffix", [("random", "csv"), ("targeted", "parquet")])
def test_export_writes_the_schema_and_the_reader_accepts_it(tmp_path, logging_policy, suffix) -> None:
    out = tmp_path / f"log.{suffix}"
    result = export_log(_cfg(["n_shoppers=40", "horizon=5", f"logging={logging_policy}", f"out={out}"]), tmp_path)
    frame = read_table(out)
    propensity = frame["propensity"].astype(float)
    assert result["rows"] == len(frame) > 0 and len(result["sha256"]) == 64
    assert list(frame.columns) == [c for c in SCHEMA if c in frame.columns]  # no latent or extra column
    assert "segment" not in frame.columns
    assert ((propensity > 0) & (propensity <= 1)).all()
    read_shop_log(out)  # passes validation
    if logging_policy == "targeted":  # rule_based's offers, with 20 % uniformly drawn grid levels
        assert propensity.max() > 0.8 and np.isclose(propensity.min(), 0.2 / 6)


def test_export_is_reproducible_and_refuses_bad_settings(tmp_path) -> None:
    settings = ["n_shoppers=30", "horizon=3", "logging=targeted", "seed=4"]
    a = export_log(_cfg([*settings, f"out={tmp_path / 'a.csv'}"]), tmp_path)
    b = export_log(_cfg([*settings, f"out={tmp_path / 'b.csv'}"]), tmp_path)
    assert a["sha256"] == b["sha256"]
    with pytest.raises(JobConfigError, match=r"logging: expected one of \['random', 'targeted'\], got 'greedy'"):
        export_log(_cfg(["logging=greedy"]), tmp_path)
    with pytest.raises(ValueError, match=r"out: .*log\.txt: unknown format '\.txt'"):
        export_log(_cfg(["n_shoppers=5", "horizon=2", f"out={tmp_path / 'log.txt'}"]), tmp_path)


def test_shards_split_the_log_by_shopper_into_files_calibrate_reads_as_one(tmp_path) -> None:
    settings = ["n_shoppers=30", "horizon=4", "seed=3"]
    whole = export_log(_cfg([*settings, f"out={tmp_path / 'log.parquet'}"]), tmp_path)
    parts = export_log(_cfg([*settings, "shards=3", f"out={tmp_path / 'parts' / 'log.parquet'}"]), tmp_path)
    files = log_files(parts["path"])
    assert [f.name for f in files] == [f"log.part-{j}-of-3.parquet" for j in range(3)]
    frames = [pd.read_parquet(f) for f in files]
    assert not set(frames[0]["shopper_id"]) & set(frames[1]["shopper_id"])  # by shopper
    joined = pd.concat(frames).sort_values(["shopper_id", "period"]).reset_index(drop=True)
    expected = pd.read_parquet(whole["path"]).sort_values(["shopper_id", "period"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(joined, expected)
    assert parts["rows"] == whole["rows"] and len(parts["sha256"]) == 64


def test_more_shards_than_shoppers_is_refused_before_simulating(tmp_path) -> None:
    with pytest.raises(DiscountSimInputError, match="shards: 100 files for 60 shoppers"):
        export_log(_cfg(["n_shoppers=60", "horizon=3", "shards=100", f"out={tmp_path / 'log.csv'}"]), tmp_path)
    assert not list(tmp_path.glob("log*"))
