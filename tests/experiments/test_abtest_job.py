"""``discountsim abtest``: the test and the plan on tiny settings, into a run directory."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from discountsim.experiments.abtest import abtest
from discountsim.experiments.job_config import JobConfigError
from hydra import compose, initialize_config_dir

CONF = Path(__file__).resolve().parents[2] / "conf"


def _cfg(overrides: list[str]):
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        return compose("abtest", overrides=["experiment=quick", *overrides])


def test_the_test_writes_welch_and_cuped_per_metric_and_the_paired_interval(tmp_path: Path) -> None:
    table = abtest(_cfg(["treatment={name: uniform, depth: 0.3}", "n_shoppers=600"]), tmp_path)
    assert list(table["method"]) == ["welch", "cuped"] * 3
    written = pd.read_csv(tmp_path / "abtest.csv")
    pd.testing.assert_frame_equal(written, table, check_dtype=False)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["treatment"] == "uniform" and metrics["n_shoppers"] == 600
    # the paired evaluator on the same shoppers is narrower than the live test's Welch interval
    live = metrics["profit_welch_ci_high"] - metrics["profit_welch_ci_low"]
    assert metrics["paired_profit_ci_high"] - metrics["paired_profit_ci_low"] < live
    assert "| metric |" in (tmp_path / "abtest.md").read_text()


def test_the_plan_gives_sizes_per_length_and_the_detectable_effect(tmp_path: Path) -> None:
    table = abtest(_cfg(["plan=true", "treatment={name: uniform, depth: 0.3}", "mde=5.0"]), tmp_path)
    assert list(table["weeks"]) == [2, 4] and (table["effect"] == 5.0).all()
    assert (table["shoppers_needed"] > 0).all() and (table["mde"] > 0).all()
    assert (pd.read_csv(tmp_path / "plan.csv")["weeks"] == [2, 4]).all()
    assert not (tmp_path / "abtest.csv").exists()


def test_a_bad_value_fails_before_any_simulation(tmp_path: Path) -> None:
    with pytest.raises(JobConfigError, match=r"^split: expected a number in \(0, 1\), got 1.5$"):
        abtest(_cfg(["split=1.5"]), tmp_path)
    assert not any(tmp_path.iterdir())


def test_the_plans_shortest_length_message_never_contradicts_itself() -> None:
    from discountsim.experiments.abtest import _shortest

    table = pd.DataFrame({"weeks": [2, 4], "shoppers_needed": [900.0, 400.0], "shoppers_needed_cuped": [700.0, 300.0]})
    assert _shortest(table, 800) == "with 800 shoppers the shortest test that detects it is 4 weeks (2 with CUPED)"
    assert _shortest(table, 350) == "350 shoppers detect it only with CUPED: in 4 weeks (none of [2, 4] without)"
    assert "none of the lengths [2, 4], with or without CUPED" in _shortest(table, 100)
