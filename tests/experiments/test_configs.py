"""Every config in conf/ composes and instantiates; the quick-start job runs on tiny settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from discountsim.experiments.simulate import simulate
from discountsim.simulators import SimulatorParams, available_scenarios, load_scenario
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

CONF = Path(__file__).resolve().parents[2] / "conf"


@pytest.mark.parametrize("scenario", available_scenarios())
def test_every_scenario_composes_through_hydra_and_matches_the_plain_loader(scenario: str) -> None:
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        cfg = compose("simulate", overrides=[f"simulator={scenario}"])
    params = instantiate(cfg.simulator)
    assert isinstance(params, SimulatorParams)
    assert params == load_scenario(scenario)


def test_bad_override_names_the_field() -> None:
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        cfg = compose("simulate", overrides=["simulator.d_max=1.5"])
    with pytest.raises(Exception, match=r"d_max = 1.5 is out of range; allowed: \(0, 1\]"):
        instantiate(cfg.simulator)


def test_simulate_writes_the_table(tmp_path: Path) -> None:
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        cfg = compose("simulate", overrides=["n_shoppers=300", "horizon=6", "discounts=[0.0,0.2]"])
    result = simulate(cfg, tmp_path)
    frame = pd.read_csv(tmp_path / "fixed_discounts.csv")
    assert list(frame["discount"]) == [0.0, 0.2]
    assert frame.loc[0, "incremental_profit"] == 0.0  # no discount against itself: common random numbers
    assert frame.loc[0, "promotion_cost"] == 0.0
    assert result["best_profit"] == frame["profit"].max()
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write left no temporary file


def test_simulate_rejects_a_discount_above_d_max(tmp_path: Path) -> None:
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        cfg = compose("simulate", overrides=["n_shoppers=10", "horizon=2", "discounts=[0.9]"])
    with pytest.raises(ValueError, match=r"^discounts\[0\]: expected a number in \[0, 0.5\] .*, got 0.9$"):
        simulate(cfg, tmp_path)


def test_console_script_runs_the_job(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "discountsim.experiments.cli",
            "simulate",
            "n_shoppers=100",
            "horizon=3",
            "discounts=[0.0,0.1]",
            f"hydra.run.dir={tmp_path}",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=CONF.parent,
    )
    assert "Most profitable uniform discount" in out.stdout
    assert (tmp_path / "fixed_discounts.csv").is_file()
    bad = subprocess.run(
        [sys.executable, "-m", "discountsim.experiments.cli", "nope"], capture_output=True, text=True, cwd=CONF.parent
    )
    assert (
        bad.returncode != 0
        and "unknown command 'nope'; allowed: simulate, train, evaluate, compare, stress, regress, export-log, "
        "calibrate, abtest, ope, benchmark"
        in bad.stderr
    )
