"""A log in many files, fitted by workers that each hold some of them: the same fit as one process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from discountsim.experiments.ray_calibration import ShardedSource, assign_files
from discountsim.simulators import generate_behaviour_log, load_scenario
from discountsim.simulators.behaviour_log import RandomGridLoggingPolicy
from discountsim.simulators.calibration.calibrate import calibrate_source
from discountsim.simulators.calibration.fit import Layout
from discountsim.simulators.calibration.likelihood import Calendar, Fixed
from discountsim.simulators.calibration.panel import build_panel
from discountsim.simulators.calibration.parameters import natural_from_scenario
from discountsim.simulators.calibration.source import PanelSource
from discountsim.simulators.errors import DiscountSimInputError
from discountsim.simulators.shop_log import log_files, read_shop_logs, to_shop_log, write_table

KEY = b"test-key"


def _write_parts(folder: Path, n: int = 150, periods: int = 8, parts: int = 3) -> list[Path]:
    frame = to_shop_log(generate_behaviour_log("default", RandomGridLoggingPolicy(seed=2), n, periods, 2))
    frame["email"] = "someone@example.com"  # dropped on ingest, by every worker
    folder.mkdir(parents=True, exist_ok=True)
    for j in range(parts):  # by shopper: every shopper's rows in one file; mixed formats
        suffix = "parquet" if j % 2 == 0 else "csv"
        write_table(frame[frame["shopper_id"] % parts == j], folder / f"part-{j}.{suffix}")
    return log_files(folder)


def test_workers_sum_to_the_one_process_likelihood_gradient_and_summary(tmp_path) -> None:
    files = _write_parts(tmp_path / "log")
    base = load_scenario("default")
    sharded = ShardedSource(files, KEY, base, 0, 0.2, 3, 40, workers=3, remote=False)
    frame = read_shop_logs(files, KEY, "test").frame
    panel = build_panel(frame)
    whole = PanelSource(panel, Calendar.of(base, 0, panel.n_periods), Fixed.of(base), 0.2, 3, 40)
    for field in ("n_shoppers", "n_rows", "n_fit", "n_held_out", "any_offer", "deepest_offer"):
        assert getattr(sharded.summary, field) == getattr(whole.summary, field), field
    np.testing.assert_array_equal(sharded.summary.category_counts, whole.summary.category_counts)
    assert sharded.categories == panel.category_names and sharded.dropped_columns == ["email"]
    nat = natural_from_scenario(base, panel.category_names)
    layout = Layout({k: int(np.atleast_1d(v).size) for k, v in nat.items()})
    theta = layout.pack(nat)
    free = np.ones(theta.size, dtype=bool)
    value, grad = sharded.loglik_and_grad(layout, theta, free)
    expected_value, expected_grad = whole.loglik_and_grad(layout, theta, free)
    assert value == pytest.approx(expected_value, rel=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-9, atol=1e-9)
    assert sharded.loglik(layout, theta) == pytest.approx(whole.loglik(layout, theta), rel=1e-12)
    held_sharded, held_whole = sharded.held_out_scores(nat), whole.held_out_scores(nat)
    assert held_sharded.rows == held_whole.rows and held_sharded.loglik == pytest.approx(held_whole.loglik, rel=1e-12)
    sample, held = sharded.sample(60, 0)
    assert sample.n_shoppers <= 60 and held.shape == (sample.n_shoppers,)
    assert set(sample.ids) <= set(panel.ids)


def test_a_sharded_fit_is_the_one_process_fit(tmp_path) -> None:
    files = _write_parts(tmp_path / "log")
    base = load_scenario("default")
    sharded = ShardedSource(files, KEY, base, 0, 0.2, 0, 4000, workers=2, remote=False)
    panel = build_panel(read_shop_logs(files, KEY, "test").frame)
    whole = PanelSource(panel, Calendar.of(base, 0, panel.n_periods), Fixed.of(base), 0.2, 0, 4000)
    quiet = {"segments": 1, "max_iter": 30, "progress": lambda _: None}
    a = calibrate_source(sharded, base, sharded.categories, check_shoppers=100, **quiet)
    b = calibrate_source(whole, base, panel.category_names, **quiet)
    assert a.chosen.loglik == pytest.approx(b.chosen.loglik, rel=1e-9)
    for name in ("intent", "discount_sensitivity", "log_basket_value"):
        np.testing.assert_allclose(a.natural[name], b.natural[name], rtol=1e-6, atol=1e-8)
    churn = [1.0 / (1.0 + np.exp(-c.natural["churn_logit"])) for c in (a, b)]  # the logit drifts where it is ~0
    np.testing.assert_allclose(*churn, atol=1e-9)
    assert a.held_out.loglik_per_row == pytest.approx(b.held_out.loglik_per_row, rel=1e-9)
    assert a.panel.n_shoppers <= 100 < b.panel.n_shoppers


def test_a_shopper_split_across_workers_is_refused(tmp_path) -> None:
    files = _write_parts(tmp_path / "log", parts=2)
    extra = pd.read_parquet(files[0]).head(3).assign(period=99)  # a shopper of part-0 also in part-2
    write_table(extra, tmp_path / "log" / "part-2.csv")
    with pytest.raises(DiscountSimInputError, match="different workers"):
        ShardedSource(log_files(tmp_path / "log"), KEY, load_scenario("default"), 0, 0.2, 0, 40, 3, remote=False)


def test_files_are_balanced_over_workers_by_size(tmp_path) -> None:
    sizes = [50, 40, 30, 20, 10]
    files = []
    for j, size in enumerate(sizes):
        path = tmp_path / f"f{j}.csv"
        path.write_bytes(b"x" * size)
        files.append(path)
    groups = assign_files(files, 2)
    assert sorted(len(g) for g in groups) == [2, 3]
    totals = sorted(sum(Path(f).stat().st_size for f in g) for g in groups)
    assert totals == [70, 80]
    assert len(assign_files(files, 9)) == 5  # never an idle worker


@pytest.mark.ray
def test_calibrate_on_ray_workers_gives_the_one_process_scenario(tmp_path) -> None:
    _write_parts(tmp_path / "log", n=200, periods=8, parts=4)
    env = {**os.environ, "DISCOUNTSIM_LOG_KEY": "ray-test-key"}
    outputs = {}
    for workers in (0, 2):
        out = tmp_path / f"w{workers}.yaml"
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "discountsim.experiments.cli",
                "calibrate",
                f"data={tmp_path / 'log'}",
                f"out={out}",
                "segments=1",
                "max_iter=30",
                f"workers={workers}",
                f"hydra.run.dir={tmp_path / f'run{workers}'}",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=900,
        )
        assert run.returncode == 0, run.stderr[-3000:]
        outputs[workers] = yaml.safe_load(out.read_text())
    one, many = outputs[0]["segments"]["segment_1"], outputs[2]["segments"]["segment_1"]
    for trait in ("intent", "discount_sensitivity"):
        assert many[trait]["mean"] == pytest.approx(one[trait]["mean"], rel=1e-4, abs=1e-5)
    assert many["churn_rate"] == pytest.approx(one["churn_rate"], rel=1e-3)
