"""Inputs a hostile audit tried after the first fixes: each one used to exit 0 with a wrong result or a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from discountsim.agents import make_policy, save_policy
from discountsim.experiments.evaluate import evaluate_policies
from discountsim.experiments.regress import regress
from discountsim.simulators import DiscountSimInputError, load_scenario
from discountsim.simulators.scenarios import ScenarioError
from hydra import compose, initialize_config_dir

CONF = Path(__file__).resolve().parents[2] / "conf"
TINY = ["n_shoppers=20", "horizon=2"]


def _cfg(name: str, overrides: list[str]):
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        return compose(name, overrides=overrides)


def test_duplicate_policy_labels_and_scenarios_are_refused_naming_them(tmp_path) -> None:
    with pytest.raises(DiscountSimInputError, match=r"policies: the labels \['no_discount'\] appear more than once"):
        evaluate_policies(_cfg("evaluate", [*TINY, "policies=[no_discount,no_discount]"]), tmp_path)
    with pytest.raises(DiscountSimInputError, match=r"scenarios: \['default'\] listed more than once"):
        evaluate_policies(_cfg("evaluate", [*TINY, "policies=[no_discount]", "scenarios=[default,default]"]), tmp_path)
    assert not list(tmp_path.iterdir())  # refused before anything was written


def test_a_policy_target_must_build_something_with_predict(tmp_path) -> None:
    with pytest.raises(DiscountSimInputError, match=r"policy target system: cannot be called"):
        evaluate_policies(_cfg("evaluate", [*TINY, "policies=[os:system]"]), tmp_path)
    with pytest.raises(DiscountSimInputError, match=r"returned .* which has no predict\(\)"):
        evaluate_policies(_cfg("evaluate", [*TINY, "policies=[builtins:dict]"]), tmp_path)


def test_regress_checks_its_baseline_before_evaluating(tmp_path) -> None:
    bad = tmp_path / "not_a_baseline.json"
    bad.write_text("{not json")
    start = time.perf_counter()
    with pytest.raises(DiscountSimInputError, match=r"not_a_baseline\.json: not a regress baseline"):
        regress(_cfg("regress", [f"baseline_file={bad}", *TINY]), tmp_path / "out")
    with pytest.raises(DiscountSimInputError, match=r"baseline\.json: recorded with .* this run uses"):
        regress(_cfg("regress", TINY), tmp_path / "out")  # the built-in baseline has other settings
    assert time.perf_counter() - start < 5.0  # nothing was evaluated
    assert not (tmp_path / "out").exists()


def test_regress_refuses_a_baseline_recorded_before_uplift_captured(tmp_path) -> None:
    old = tmp_path / "old.json"
    rows = [{"policy": "no_discount", "scenario": "default", "profit": 1.0, "roi": 0.0}]  # no uplift_captured
    settings = {"n_shoppers": 20, "horizon": 2, "seed": 7}
    old.write_text(json.dumps({"format": "discountsim-regress-baseline", "settings": settings, "rows": rows}))
    with pytest.raises(DiscountSimInputError, match=r"old\.json: the baseline's rows lack \['uplift_captured'\]"):
        regress(_cfg("regress", [f"baseline_file={old}", *TINY]), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_scenario_defaults_take_the_yaml_suffix_and_an_empty_file_is_named(tmp_path) -> None:
    (tmp_path / "base.yaml").write_text("defaults: [default]\nd_max: 0.4\n")
    (tmp_path / "mine.yaml").write_text("defaults: [base.yaml]\nname: mine\n")
    assert load_scenario(tmp_path / "mine.yaml").d_max == 0.4
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(ScenarioError, match=r"empty\.yaml: the file is empty"):
        load_scenario(tmp_path / "empty.yaml")


def _discountsim(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "discountsim.experiments.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=300)


def test_checkpoint_errors_print_one_line_without_a_traceback(tmp_path) -> None:
    policy = tmp_path / "rb.json"
    save_policy(make_policy("rule_based"), policy)
    data = json.loads(policy.read_text())
    del data["name"]
    policy.write_text(json.dumps(data))
    out = _discountsim("evaluate", f"policies=[{policy}]", *TINY, f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1].startswith(f"discountsim evaluate: error: {policy}: missing ['name']")
    assert "Traceback" not in out.stderr + out.stdout


def test_the_console_script_without_a_command_is_a_usage_error(tmp_path) -> None:
    out = _discountsim(cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.startswith("usage: discountsim <command>")


def _tree(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_a_complete_run_directory_keeps_its_record(tmp_path) -> None:
    run = tmp_path / "run"
    first = _discountsim("simulate", *TINY, f"hydra.run.dir={run}", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    before = _tree(run)
    again = _discountsim("simulate", *TINY, "seed=1", f"hydra.run.dir={run}", cwd=tmp_path)
    assert again.returncode == 1
    assert again.stderr.startswith(f"discountsim simulate: error: run directory {run} holds a complete simulate run")
    assert _tree(run) == before  # results, .hydra/ and status.json untouched


def test_resume_on_a_finished_train_run_rewrites_nothing_of_its_record(tmp_path) -> None:
    run = tmp_path / "train"
    settings = ["experiment=quick", "total_timesteps=256", "agent.env.n_envs=16", "evaluation.n_shoppers=10"]
    settings += ["evaluation.horizon=2", "progress_bar=false", f"hydra.run.dir={run}"]
    assert _discountsim("train", *settings, cwd=tmp_path).returncode == 0
    before = {k: v for k, v in _tree(run).items() if not k.endswith(".log")}  # the log may only grow
    again = _discountsim("train", *settings, "resume=true", cwd=tmp_path)
    assert again.returncode == 0 and "nothing changed" in again.stdout + again.stderr
    assert {k: v for k, v in _tree(run).items() if not k.endswith(".log")} == before
    refused = _discountsim("train", *settings, "agent=a2c", cwd=tmp_path)
    assert refused.returncode == 1 and "or pass resume=true to report it" in refused.stderr
    assert {k: v for k, v in _tree(run).items() if not k.endswith(".log")} == before


def test_the_benchmarks_input_errors_print_one_line(tmp_path) -> None:
    out = _discountsim("benchmark", "--n-sim", "1000000000", cwd=tmp_path)
    assert out.returncode == 1
    assert out.stderr.startswith("discountsim benchmark: error: n_shoppers=1,000,000,000: needs about")
    assert "Traceback" not in out.stderr


def test_evaluate_holds_every_policy_to_a_contact_cap_and_refuses_a_bad_one(tmp_path) -> None:
    overrides = [*TINY, "horizon=8", "policies=[rule_based,no_discount]", "oracle=false"]
    with pytest.raises(DiscountSimInputError, match=r"contact_cap\.max_offers: expected an integer >= 1, got 0"):
        evaluate_policies(_cfg("evaluate", [*overrides, "contact_cap={max_offers:0}"]), tmp_path / "bad")
    with pytest.raises(DiscountSimInputError, match=r"contact_cap\.window: expected an integer in \[1, 8\], got 12"):
        evaluate_policies(_cfg("evaluate", [*overrides, "contact_cap={max_offers:2,window:12}"]), tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
    capped = _cfg("evaluate", [*overrides, "contact_cap={max_offers:2}"])
    metrics = evaluate_policies(capped, tmp_path).set_index("policy")
    assert metrics.loc["rule_based", "max_offers_in_window"] == 2.0  # rule_based offers weekly: the cap binds
    assert (metrics["contact_cap_held"] == 1.0).all()
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert {row["policy"]: row["contact_cap_held"] for row in saved} == {"rule_based": 1.0, "no_discount": 1.0}


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (5, r"expected 'rows', a list of objects"),
        (
            [{"policy": "no_discount", "scenario": "default", "profit": 1.0, "roi": 0.0, "uplift_captured": None}],
            r"rows\[0\]\.uplift_captured: expected a number, got None",
        ),
        (
            [{"policy": "no_discount", "scenario": "default", "profit": "abc", "roi": 0.0, "uplift_captured": 0.0}],
            r"rows\[0\]\.profit: expected a number, got 'abc'",
        ),
        (
            [{"policy": "no_discount", "scenario": "default", "profit": True, "roi": 0.0, "uplift_captured": 0.0}],
            r"rows\[0\]\.profit: expected a number, got True",
        ),
        (
            [{"policy": 3, "scenario": "default", "profit": 1.0, "roi": 0.0, "uplift_captured": 0.0}],
            r"rows\[0\]: expected policy and scenario names",
        ),
    ],
)
def test_regress_refuses_a_malformed_baseline_before_evaluating(tmp_path, rows, message) -> None:
    bad = tmp_path / "bad.json"
    settings = {"n_shoppers": 20, "horizon": 2, "seed": 7}
    bad.write_text(json.dumps({"format": "discountsim-regress-baseline", "settings": settings, "rows": rows}))
    with pytest.raises(DiscountSimInputError, match=message):
        regress(_cfg("regress", [f"baseline_file={bad}", *TINY]), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    bad.write_bytes(b"\xff\xfe{not utf-8")
    with pytest.raises(DiscountSimInputError, match=r"not a regress baseline \(invalid JSON"):
        regress(_cfg("regress", [f"baseline_file={bad}", *TINY]), tmp_path / "out")
