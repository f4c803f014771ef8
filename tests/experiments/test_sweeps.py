"""Multiruns: the sweep summary's arithmetic, and real sweeps through each launcher and the Optuna sweeper."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from discountsim.experiments.sweep_summary import read_runs, summarise_sweep, varying_keys, write_sweep_summary
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"
TINY = ["evaluation.n_shoppers=30", "evaluation.horizon=3", "progress_bar=false"]
TINY_PPO = ["experiment=quick", "total_timesteps=2048", *TINY]


def _job(sweep: Path, name: str, overrides: list[str], metrics: object | None) -> None:
    job = sweep / name
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if metrics is not None:
        (job / "metrics.json").write_text(json.dumps(metrics))


def _sweep(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "discountsim.experiments.train", "-m", f"hydra.sweep.dir={tmp_path}", *args]
    out = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def test_summary_averages_over_seeds_with_a_student_t_interval(tmp_path) -> None:
    for i, (agent, seed, profit) in enumerate([("ppo", 0, 1.0), ("ppo", 1, 2.0), ("ppo", 2, 3.0), ("a2c", 0, 5.0)]):
        row = {"policy": agent, "scenario": "default", "profit": profit, "roi": 0.1 * profit}
        _job(tmp_path, f"{i}", [f"agent={agent}", f"seed={seed}", "simulator=default"], row)
    _job(tmp_path, "4", ["agent=dqn", "seed=0", "simulator=default"], None)  # a job that wrote nothing
    runs = read_runs(tmp_path)
    assert list(runs["status"]) == ["ok"] * 4 + ["no metrics"]
    summary = summarise_sweep(runs, metrics=("profit", "roi"))
    assert list(summary["agent"]) == ["a2c", "ppo"]  # best profit first
    ppo = summary.set_index("agent").loc["ppo"]
    assert ppo["seeds"] == 3 and ppo["profit"] == pytest.approx(2.0)
    half = 4.302652729911275 * 1.0 / np.sqrt(3)  # t(0.975, 2 dof) x sd / sqrt(n), sd of 1, 2, 3 = 1
    assert ppo["profit_ci_low"] == pytest.approx(2.0 - half) and ppo["profit_ci_high"] == pytest.approx(2.0 + half)
    a2c = summary.set_index("agent").loc["a2c"]
    assert a2c["seeds"] == 1 and np.isnan(a2c["profit_ci_low"])  # no interval from one seed
    assert varying_keys(summary, ("profit", "roi")) == ["agent"]  # policy only renames agent; scenario is constant


def test_summary_keeps_rows_of_list_metrics_apart_and_orders_jobs_numerically(tmp_path) -> None:
    for num in (2, 10):  # "10" sorts before "2" as text
        rows = [{"policy": p, "scenario": "default", "profit": float(num + k)} for k, p in enumerate(["a", "b"])]
        _job(tmp_path, f"{num}", [f"seed={num}", "n_shoppers=50"], rows)
    runs = read_runs(tmp_path)
    assert list(runs["run"]) == ["2", "2", "10", "10"]
    summary = summarise_sweep(runs, metrics=("profit",))
    assert summary.set_index("policy")["profit"].to_dict() == {"b": 7.0, "a": 6.0}
    (tmp_path / "10" / "metrics.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"10/metrics.json: not a metrics file \(invalid JSON"):
        read_runs(tmp_path)


def test_basic_launcher_multirun_writes_the_summary_and_tensorboard_runs(tmp_path) -> None:
    out = _sweep(tmp_path, "agent=no_discount,uniform", "seed=0,1", *TINY)
    assert "Sweep summary: 4 runs" in out.stdout
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert sorted(summary["agent"]) == ["no_discount", "uniform"] and (summary["seeds"] == 2).all()
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert len(runs) == 4 and set(runs["seed"]) == {0, 1}
    saved = json.loads((tmp_path / "0-no_discount-default-seed0" / "metrics.json").read_text())
    assert summary.set_index("agent").loc["no_discount", "profit"] == pytest.approx(saved["profit"])
    assert "| no_discount | 2 |" in (tmp_path / "summary.md").read_text()
    # Uplift captured against the oracle on the evaluation shoppers: 0 for no discount, a share shown in %.
    assert summary.set_index("agent").loc["no_discount", "uplift_captured"] == 0.0
    uniform = summary.set_index("agent").loc["uniform", "uplift_captured"]
    assert np.isfinite(uniform) and f"{uniform:.1%}" in out.stdout
    # Hand-written agents log the same shop/ scalars and HParams as SB3 runs, for one TensorBoard view.
    (run,) = (tmp_path / "1-no_discount-default-seed1" / "tensorboard").iterdir()
    events = EventAccumulator(str(run), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    assert events.Scalars("shop/profit")[0].value == pytest.approx(saved["profit"], rel=1e-6)
    assert events.Scalars("shop/uplift_captured")[0].value == 0.0
    assert events.PluginTagToContent("hparams")


def test_joblib_launcher_trains_sb3_agents_in_parallel_processes(tmp_path) -> None:
    _sweep(tmp_path, "hydra/launcher=local_parallel", "agent=ppo", "seed=0,1", *TINY_PPO)
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert list(runs["status"]) == ["ok", "ok"]
    for run in runs["run"]:
        assert (tmp_path / run / "model.zip").is_file()
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert summary.loc[0, "seeds"] == 2 and summary.loc[0, "profit"] == pytest.approx(runs["profit"].mean())


def test_optuna_sweeper_maximises_the_evaluation_profit_and_keeps_the_study(tmp_path) -> None:
    import optuna  # the [optuna] extra, part of [dev]

    storage = f"sqlite:///{tmp_path / 'optuna.db'}"  # needs SQLAlchemy < 2 under optuna 2 (the [optuna] extra)
    _sweep(
        tmp_path,
        "hparams_search=ppo_optuna",
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.sampler.n_startup_trials=2",
        f"hydra.sweeper.storage={storage}",
        *TINY_PPO,
    )
    best = yaml.safe_load((tmp_path / "optimization_results.yaml").read_text())
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert len(runs) == 3 and runs["agent.algorithm.learning_rate"].nunique() == 3  # one trial each
    assert best["best_value"] == pytest.approx(runs["profit"].max())
    study = optuna.load_study(study_name="ppo_default", storage=storage)
    assert len(study.trials) == 3 and study.best_value == pytest.approx(best["best_value"])


def test_submitit_local_launcher_runs_the_sweep(tmp_path) -> None:
    _sweep(tmp_path, "hydra/launcher=submitit_local", "agent=uniform", "agent.policy.depth=0.1,0.2", *TINY)
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert list(summary["agent.policy.depth"]) == [0.1, 0.2]  # the shallower discount earns more here
    assert summary.loc[0, "profit"] > summary.loc[1, "profit"]


@pytest.mark.parametrize("launcher", sorted(p.stem for p in (CONF / "hydra" / "launcher").glob("*.yaml")))
def test_every_launcher_config_composes(launcher: str) -> None:
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        cfg = compose("train", overrides=[f"hydra/launcher={launcher}"], return_hydra_config=True)
    settings = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert settings["_target_"].startswith("hydra_plugins.")
    if launcher == "slurm":
        assert settings["setup"] == ["export OMP_NUM_THREADS=2"] and settings["timeout_min"] > 0


@pytest.mark.parametrize("search", sorted(p.stem for p in (CONF / "hparams_search").glob("*.yaml")))
def test_every_search_space_names_existing_settings(search: str) -> None:
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        cfg = compose("train", overrides=[f"hparams_search={search}"], return_hydra_config=True)
    assert cfg.hydra.sweeper._target_.endswith("OptunaSweeper") and cfg.hydra.sweeper.direction == "maximize"
    for key in cfg.hydra.sweeper.params:
        assert OmegaConf.select(cfg, key) is not None, f"{search}: {key} is not a setting of the train config"
    assert cfg.optimized_metric == "profit"


def test_an_unknown_optimized_metric_fails_clearly(tmp_path) -> None:
    from discountsim.experiments.train import train

    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        cfg = compose("train", overrides=["agent=uniform", "optimized_metric=profits"])
    with pytest.raises(ValueError, match=r"optimized_metric: expected one of \['profit', .*\], got 'profits'"):
        train(cfg, tmp_path)


def test_summary_of_an_empty_sweep_says_so(tmp_path) -> None:
    assert write_sweep_summary(tmp_path).empty
    assert not (tmp_path / "summary.csv").exists()


@pytest.mark.ray
def test_ray_launcher_runs_the_sweep_on_a_local_ray_instance(tmp_path) -> None:
    pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason="needs the [ray] extra")
    # Ray's socket paths must stay under 108 characters: pytest's tmp_path can be too long.
    ray_tmp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    env = {**os.environ, "RAY_TMPDIR": ray_tmp, "RAY_USAGE_STATS_ENABLED": "0"}
    try:
        _sweep(tmp_path, "hydra/launcher=ray_local", "agent=uniform,ppo", "seed=0,1", *TINY_PPO, env=env)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert sorted(summary["agent"]) == ["ppo", "uniform"] and (summary["seeds"] == 2).all()


def test_evaluate_sweeps_a_scenario_parameter_with_one_row_per_policy_and_setting(tmp_path) -> None:
    command = [
        sys.executable,
        "-m",
        "discountsim.experiments.evaluate",
        "-m",
        f"hydra.sweep.dir={tmp_path}",
        "simulator.offer_cost=0.1,2.0",
        "policies=[no_discount,{name:uniform,depth:0.1}]",
        "n_shoppers=30",
        "horizon=3",
    ]
    out = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=True, timeout=300)
    assert "Sweep summary: 2 runs" in out.stdout  # two jobs, two policy rows each
    summary = pd.read_csv(tmp_path / "summary.csv").set_index(["simulator.offer_cost", "policy"])
    assert len(summary) == 4 and (summary["seeds"] == 1).all()
    # Each offer costs 1.90 more: 3 weekly offers to every shopper cost 5.70 more per shopper.
    cheap, dear = summary.loc[(0.1, "uniform"), "profit"], summary.loc[(2.0, "uniform"), "profit"]
    assert cheap - dear == pytest.approx(3 * 1.9, abs=1e-6)
    assert summary.loc[(0.1, "no_discount"), "profit"] == summary.loc[(2.0, "no_discount"), "profit"]
