"""discountsim calibrate: the job end to end, what it writes, what it refuses, and the privacy scan."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import discountsim.envs  # noqa: F401  (registers DiscountSim/*)
import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
from discountsim.simulators import generate_behaviour_log, load_scenario
from discountsim.simulators.behaviour_log import RandomGridLoggingPolicy
from discountsim.simulators.shop_log import to_shop_log


def _run(args: list[str], cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    full_env.pop("DISCOUNTSIM_LOG_KEY", None) if env is None else None
    return subprocess.run(
        [sys.executable, "-m", "discountsim.experiments.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=900,
    )


def _log(n: int = 120, periods: int = 10, seed: int = 0) -> pd.DataFrame:
    return to_shop_log(generate_behaviour_log("default", RandomGridLoggingPolicy(seed=seed), n, periods, seed))


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """A log with recognisable ids and an e-mail column, calibrated and then used by the twin, all into one folder."""
    root = tmp_path_factory.mktemp("pipeline")
    source = root / "source"
    work = root / "work"
    source.mkdir()
    work.mkdir()
    frame = _log()
    ids = frame["shopper_id"].map(lambda i: f"cust-{i:05d}-jane.doe")
    frame["shopper_id"] = ids
    frame["email"] = frame["shopper_id"].str.replace("cust-", "mail") + "@example.com"
    frame.to_csv(source / "log.csv", index=False)
    secret = "s3cr3t-key-never-written-anywhere"
    key_file = source / "key.txt"
    key_file.write_text(secret)
    calibrated = _run(
        [
            "calibrate",
            f"data={source / 'log.csv'}",
            "out=fitted/shop.yaml",
            "segments=1",
            "max_iter=40",
            f"key_file={key_file}",
            "hydra.run.dir=runs/calibrate",
        ],
        work,
    )
    evaluated = _run(
        [
            "evaluate",
            "simulator=fitted/shop.yaml",
            "policies=[{name: twin, model: fitted/shop.yaml}, no_discount]",
            "n_shoppers=60",
            "horizon=6",
            "hydra.run.dir=runs/evaluate",
        ],
        work,
    )
    return {"root": root, "work": work, "frame": frame, "secret": secret, "runs": (calibrated, evaluated)}


def test_calibrate_writes_a_scenario_that_works_everywhere_and_its_report(pipeline) -> None:
    calibrated, evaluated = pipeline["runs"]
    assert calibrated.returncode == 0, calibrated.stderr[-3000:]
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    scenario = pipeline["work"] / "fitted" / "shop.yaml"
    text = scenario.read_text()
    assert text.startswith("# Calibrated by `discountsim calibrate`") and "source log sha256" in text
    params = load_scenario(scenario)
    assert params.name == "shop" and len(params.segments) == 1
    env = gym.make("DiscountSim/Shopper-v0", scenario=str(scenario))
    env.reset(seed=0)
    env.step(env.action_space.sample())
    report = (pipeline["work"] / "fitted" / "shop.fit_report.md").read_text()
    for section in ("## Number of segments", "## Held-out shoppers", "## Parameters", "## Observed against simulated"):
        assert section in report
    for figure in ("bic.png", "held_out_deciles.png", "purchase_rate_by_discount.png", "retention.png"):
        assert (pipeline["work"] / "fitted" / "shop.fit_report" / figure).stat().st_size > 1000


def test_nothing_written_anywhere_holds_an_id_an_email_the_key_or_a_shoppers_value(pipeline) -> None:
    """The privacy scan: every file the pipeline wrote, searched for raw ids, dropped values, the key, raw baskets."""
    frame = pipeline["frame"]
    needles = set(frame["shopper_id"].unique()[:50]) | set(frame["email"].unique()[:50]) | {"jane.doe", "example.com"}
    needles.add(pipeline["secret"])
    raw = pd.read_csv(pipeline["root"] / "source" / "log.csv", dtype=str)
    baskets = raw.loc[raw["basket_value"].astype(float) > 0, "basket_value"]
    needles |= {b for b in baskets.unique()[:200] if len(b) >= 8}  # one shopper-week's value, as written in the log
    written = [p for p in pipeline["work"].rglob("*") if p.is_file()]
    assert len(written) > 10
    for path in written:
        content = path.read_bytes().decode("utf-8", errors="ignore")
        found = [n for n in needles if n in content]
        assert not found, f"{path.relative_to(pipeline['work'])} contains {found[:3]}"


def test_a_log_that_breaks_the_schema_writes_nothing(tmp_path) -> None:
    frame = _log(60, 3)
    frame.loc[3, "discount"] = 1.7
    frame.loc[5, "basket_value"] = -1.0
    frame.to_csv(tmp_path / "bad.csv", index=False)
    result = _run(["calibrate", "data=bad.csv", "out=out/fit.yaml", "hydra.run.dir=run"], tmp_path)
    assert result.returncode == 1
    assert "discount outside [0, 1]: 1; first rows: [4]" in result.stderr
    assert "negative basket_value: 1; first rows: [6]" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "override, message",
    [
        ("segments=0", "segments: expected auto, or an integer number of segments in [1, 12]"),
        ("held_out=0.9", "held_out"),
        ("out=fit.json", "out: "),
    ],
)
def test_bad_settings_fail_with_the_key_named(tmp_path, override, message) -> None:
    _log(60, 3).to_csv(tmp_path / "log.csv", index=False)
    result = _run(["calibrate", "data=log.csv", override, "hydra.run.dir=run"], tmp_path)
    assert result.returncode == 1 and message in result.stderr, result.stderr[-2000:]


def test_without_data_the_error_says_it_is_required(tmp_path) -> None:
    result = _run(["calibrate", "hydra.run.dir=run"], tmp_path)
    assert result.returncode == 1 and "data: required" in result.stderr


def test_same_log_and_key_give_the_same_scenario(tmp_path) -> None:
    _log(80, 6).to_csv(tmp_path / "log.csv", index=False)
    outs = []
    for name in ("a", "b"):
        result = _run(
            ["calibrate", "data=log.csv", f"out={name}/s.yaml", "segments=1", "max_iter=30", f"hydra.run.dir=r{name}"],
            tmp_path,
            env={"DISCOUNTSIM_LOG_KEY": "same-key"},
        )
        assert result.returncode == 0, result.stderr[-2000:]
        lines = (tmp_path / name / "s.yaml").read_text().splitlines()
        outs.append([line for line in lines if not line.startswith("#")])
    assert outs[0] == outs[1]
    assert np.isfinite(load_scenario(tmp_path / "a" / "s.yaml").segments["segment_1"].intent.mean)
