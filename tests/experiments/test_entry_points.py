"""train, evaluate and compare on tiny settings; configs compose; resume after an interruption."""

from __future__ import annotations

import json
from pathlib import Path

import discountsim.experiments.train as train_module
import numpy as np
import pandas as pd
import pytest
from discountsim.agents import ALGORITHMS, DiscountPolicy, PrivilegedPolicy, load_policy
from discountsim.agents.callbacks import SHOP_METRICS, ShopMetricsCallback
from discountsim.experiments.compare import compare
from discountsim.experiments.evaluate import evaluate_policies
from discountsim.experiments.regress import regress
from discountsim.experiments.stress import stress
from discountsim.experiments.train import latest_checkpoint, train
from hydra import compose, initialize_config_dir
from hydra.errors import MissingConfigException
from hydra.utils import instantiate
from omegaconf import OmegaConf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

CONF = Path(__file__).resolve().parents[2] / "conf"
AGENTS = sorted(p.stem for p in (CONF / "agent").glob("*.yaml"))
TINY_TRAIN = ["experiment=quick", "progress_bar=false", "evaluation.n_shoppers=20", "evaluation.horizon=4"]


def _cfg(name: str, overrides: list[str]):
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        return compose(name, overrides=overrides)


class HalfPricePolicy(DiscountPolicy):
    """A user's own policy, loaded by import path in the evaluate test."""

    name = "half_price"

    def discounts(self, observations):
        return np.full(observations.shape[0], 0.5 * self.d_max)


@pytest.mark.parametrize("agent", AGENTS)
def test_every_agent_config_composes_and_resolves(agent: str) -> None:
    cfg = _cfg("train", [f"agent={agent}", "simulator=holiday_season", "simulator.d_max=0.4"])
    plain = OmegaConf.to_container(cfg.agent, resolve=True)
    assert plain["name"] == agent
    if agent in ALGORITHMS:
        least = 0 if plain.get("distill") else 1  # a distilled agent may stop after distillation
        assert plain["algorithm"]["_partial_"] is True and plain["total_timesteps"] >= least
    elif agent != "supervised":  # building supervised trains it; covered by the train test
        policy = instantiate(cfg.agent.policy)
        assert policy.name == agent
        if not isinstance(policy, PrivilegedPolicy):  # bound to the composed scenario, not a default d_max
            assert policy.d_max == 0.4 and policy.scenario.name == "holiday_season"


@pytest.mark.parametrize("name", ["train", "evaluate", "compare", "simulate"])
def test_every_entry_config_composes_with_every_scenario(name: str) -> None:
    for scenario in (p.stem for p in (CONF / "simulator").glob("*.yaml")):
        cfg = _cfg(name, [f"simulator={scenario}"])
        OmegaConf.to_container(cfg, resolve=True)  # no missing or misspelt interpolation


def test_malformed_overrides_fail_clearly() -> None:
    with pytest.raises(
        MissingConfigException, match=r"Could not find 'agent/nope'\n\nAvailable options in 'agent':\n\ta2c"
    ):
        _cfg("train", ["agent=nope"])
    with pytest.raises(Exception, match="Could not override 'no_such_key'"):
        _cfg("train", ["no_such_key=1"])


def test_train_is_interrupted_and_resumes_without_lost_steps(tmp_path, monkeypatch) -> None:
    cfg = _cfg("train", [*TINY_TRAIN, "total_timesteps=8192", "checkpoint_every=2048"])

    class Killed(ShopMetricsCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps >= 5000:
                raise KeyboardInterrupt  # as if the job were killed after the second checkpoint
            return super()._on_step()

    monkeypatch.setattr(train_module, "ShopMetricsCallback", Killed)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path)
    assert latest_checkpoint(tmp_path / "checkpoints")[1] == 4096
    assert not (tmp_path / "model.zip").exists()
    monkeypatch.undo()
    with pytest.raises(FileExistsError, match="pass resume=true"):
        train(cfg, tmp_path)
    cfg.resume = True
    metrics = train(cfg, tmp_path)
    model = load_policy(tmp_path / "model.zip")
    assert model.num_timesteps == 8192  # 4096 from the checkpoint + the 4096 still to do
    assert set(metrics) == set(SHOP_METRICS)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["policy"] == "ppo" and saved["profit"] == pytest.approx(metrics["profit"])
    (run,) = list((tmp_path / "tensorboard").iterdir())  # the resumed run continues the same curve
    events = EventAccumulator(str(run), size_guidance={"scalars": 0})
    events.Reload()
    assert {f"shop/{m}" for m in SHOP_METRICS} <= set(events.Tags()["scalars"])
    assert max(e.step for e in events.Scalars("shop/profit")) == 8192


def test_train_fits_and_saves_a_hand_written_agent(tmp_path) -> None:
    overrides = ["agent=supervised", "agent.policy.n_shoppers=60", "agent.policy.horizon=3", "agent.policy.epochs=2"]
    train(_cfg("train", [*TINY_TRAIN, *overrides]), tmp_path)
    assert load_policy(tmp_path / "policy.json").fitted
    assert json.loads((tmp_path / "metrics.json").read_text())["policy"] == "supervised"


def test_evaluate_writes_one_row_per_policy_and_scenario(tmp_path) -> None:
    target = f"{__name__}:HalfPricePolicy"
    cfg = _cfg(
        "evaluate",
        [
            f"policies=[no_discount,{{name:uniform,depth:0.2}},'{target}']",
            "scenarios=[default,myopic]",
            "n_shoppers=30",
            "horizon=3",
        ],
    )
    metrics = evaluate_policies(cfg, tmp_path)
    assert len(metrics) == 6 and set(metrics["scenario"]) == {"default", "myopic"}
    assert set(metrics["policy"]) == {"no_discount", "uniform", "HalfPricePolicy"}
    saved = pd.read_csv(tmp_path / "metrics.csv")
    assert (
        list(saved.columns) == list(metrics.columns) and len(json.loads((tmp_path / "metrics.json").read_text())) == 6
    )
    half = metrics[metrics["policy"] == "HalfPricePolicy"]
    assert (half["avg_discount"] == 0.25).all()
    assert not list(tmp_path.glob(".*tmp*"))


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("greedy", r"unknown policy 'greedy'; allowed: \["),
        ("no_such_module:Policy", r"policy target 'no_such_module:Policy': cannot import it"),
        ("runs/missing/model.zip", r"policy checkpoint not found: runs/missing/model.zip"),
    ],
)
def test_evaluate_rejects_unknown_policies(tmp_path, entry, message) -> None:
    cfg = _cfg("evaluate", [f"policies=['{entry}']", "n_shoppers=10", "horizon=2"])
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        evaluate_policies(cfg, tmp_path)


def test_compare_writes_leaderboard_and_report(tmp_path) -> None:
    cfg = _cfg(
        "compare",
        [
            "agents=[a2c]",
            "timesteps=2048",
            "n_shoppers=40",
            "horizon=3",
            "supervised={n_shoppers:60,horizon:3,epochs:2}",
            "uniform_curve=[0.0,0.2]",
        ],
    )
    board = compare(cfg, tmp_path)
    expected = {"no_discount", "uniform_10", "rule_based", "supervised", "a2c", "myopic_oracle", "oracle"}
    assert set(board["policy"]) == expected
    assert board["profit"].is_monotonic_decreasing
    report = (tmp_path / "report.md").read_text()
    for plot in (
        "learning_curves",
        "profit_vs_depth",
        "discount_by_segment",
        "cumulative_profit",
        "incremental_vs_cost",
    ):
        assert (tmp_path / f"{plot}.png").stat().st_size > 1000 and f"({plot}.png)" in report
    assert "| oracle |" in (tmp_path / "leaderboard.md").read_text()


def test_stress_reports_changes_against_the_reference_and_flags_negative_roi(tmp_path) -> None:
    cfg = _cfg("stress", ["policy={name:uniform,depth:0.2}", "n_shoppers=40", "horizon=4"])
    table = stress(cfg, tmp_path)
    assert list(table["case"]) == ["reference", *cfg.cases.keys()]
    assert len(table) == 8 and table.loc[0, "profit_change"] == 0.0
    np.testing.assert_allclose(table["profit_change"], table["profit"] - table.loc[0, "profit"])
    budget = table.set_index("case").loc["budget_cut_by_half"]
    reference = table.loc[0]
    # Half the policy's own weekly spend: it can spend at most half as much as on the reference.
    assert budget["promotion_cost"] <= 0.5 * reference["promotion_cost"] + 1e-9
    assert (table["roi_negative"] == (table["roi"] < 0)).all()
    assert pd.read_csv(tmp_path / "stress.csv").shape[0] == 8
    bad = _cfg("stress", ["policy=no_discount", "+cases.broken={scenerio:default}", "n_shoppers=10", "horizon=2"])
    with pytest.raises(ValueError, match=r"cases.broken: unknown key\(s\) \['scenerio'\]; allowed: \['scenario'"):
        stress(bad, tmp_path)


def test_stress_accepts_a_users_class_by_import_path(tmp_path) -> None:
    cfg = _cfg("stress", [f"policy='{__name__}:HalfPricePolicy'", "n_shoppers=20", "horizon=2", "cases={}"])
    assert stress(cfg, tmp_path).loc[0, "avg_discount"] == 0.25


def test_regress_passes_on_its_baseline_and_fails_on_a_worse_policy(tmp_path) -> None:
    settings = [f"baseline_file={tmp_path / 'baseline.json'}", "n_shoppers=40", "horizon=4", "scenarios=[default]"]
    lineup = "policies=[no_discount,{name:uniform,depth:0.1,label:uniform}]"
    with pytest.raises(FileNotFoundError, match="create it with update=true"):
        regress(_cfg("regress", [*settings, lineup]), tmp_path)
    assert regress(_cfg("regress", [*settings, lineup, "update=true"]), tmp_path)[0]
    passed, table = regress(_cfg("regress", [*settings, lineup]), tmp_path)
    assert passed and not table["regressed"].any()
    worse = "policies=[no_discount,{name:uniform,depth:0.4,label:uniform}]"
    passed, table = regress(_cfg("regress", [*settings, worse]), tmp_path)
    assert not passed
    row = table.set_index("policy").loc["uniform"]
    assert row["regressed"] and row["profit_change"] < -0.5
    with pytest.raises(ValueError, match=r"no baseline for \['rule_based/default'\]"):
        regress(_cfg("regress", [*settings, "policies=[rule_based]"]), tmp_path)


def test_regress_fails_when_a_baseline_policy_is_no_longer_evaluated(tmp_path) -> None:
    settings = [f"baseline_file={tmp_path / 'baseline.json'}", "n_shoppers=40", "horizon=4", "scenarios=[default]"]
    regress(
        _cfg("regress", [*settings, "policies=[no_discount,{name:uniform,depth:0.4,label:u}]", "update=true"]), tmp_path
    )
    passed, table = regress(_cfg("regress", [*settings, "policies=[no_discount]"]), tmp_path)
    assert not passed
    dropped = table.set_index("policy").loc["u"]
    assert dropped["not_evaluated"] and dropped["regressed"]


def test_regress_passes_on_the_committed_baseline(tmp_path, monkeypatch) -> None:
    # The project's own ROI gate: a change that lowers any committed policy's simulated profit or ROI fails here.
    monkeypatch.chdir(tmp_path)  # the built-in baseline is found through the package, from any directory
    passed, table = regress(_cfg("regress", []), tmp_path)
    assert passed and len(table) == 10


def test_regress_exits_non_zero_with_a_table(tmp_path) -> None:
    import subprocess
    import sys

    base = [f"baseline_file={tmp_path / 'b.json'}", "n_shoppers=20", "horizon=2", "scenarios=[default]"]
    run = [sys.executable, "-m", "discountsim.experiments.regress", *base]
    record = [
        *run,
        f"hydra.run.dir={tmp_path / 'record'}",
        "policies=[{name:uniform,depth:0.1,label:u}]",
        "update=true",
    ]
    subprocess.run(record, check=True, cwd=CONF.parent)
    out = subprocess.run(
        [*run, f"hydra.run.dir={tmp_path / 'check'}", "policies=[{name:uniform,depth:0.4,label:u}]"],
        capture_output=True,
        text=True,
        cwd=CONF.parent,
    )
    assert out.returncode == 1 and "FAILED" in out.stdout and "REGRESSED" in out.stdout


def test_compare_trains_and_holds_every_policy_to_a_contact_cap_and_a_budget(tmp_path, monkeypatch) -> None:
    from discountsim.experiments import lineup

    envs = []
    original = lineup.train_sb3

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        envs.append(kwargs.get("env"))
        return original(*args, **kwargs)

    monkeypatch.setattr(lineup, "train_sb3", spy)
    overrides = ["agents=[a2c]", "timesteps=2048", "n_shoppers=40", "horizon=6", "uniform_curve=[0.0,0.2]"]
    overrides += ["supervised={n_shoppers:60,horizon:3,epochs:2}", "contact_cap={max_offers:1}", "campaign_budget=200"]
    board = compare(_cfg("compare", overrides), tmp_path).set_index("policy")
    assert envs == [{"contact_cap": {"max_offers": 1}}]  # the agent trained under the cap
    assert (board["contact_cap_held"] == 1.0).all() and (board["max_offers_in_window"] <= 1).all()
    assert (board["promotion_cost"] * 40 <= 200 + 1e-6).all()  # the campaign budget held for every policy
    assert board.loc["rule_based", "max_offers_in_window"] == 1.0  # weekly offers, cut to one in four weeks
    assert (tmp_path / "groups.csv").is_file()
