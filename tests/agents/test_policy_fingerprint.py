"""Saved policies carry a fingerprint; the evaluator refuses a scenario where their inputs or outputs mean
something else, runs them on other dynamics, and takes hand-written discounts as float64."""

from __future__ import annotations

import ast
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from discountsim.agents import (
    PolicyScenarioMismatch,
    UniformPolicy,
    evaluate,
    evaluate_lineup,
    load_policy,
    make_model,
    make_policy,
    save_policy,
    train_supervised,
)
from discountsim.agents.evaluation import policy_rule
from discountsim.experiments.policies import resolve_policy
from discountsim.simulators import feature_names, initial_state, load_scenario, observe, spawn_keys
from discountsim.simulators.config_schema import to_dict

from tests.conftest import scenario_with

DEFAULT = load_scenario("default")
REVERSED = load_scenario(
    {**to_dict(DEFAULT), "name": "reversed", "catalogue": dict(reversed(DEFAULT.catalogue.items()))}
)
SHALLOW = scenario_with(d_max=0.3, name="shallow")
TINY_PPO = {"env": {"n_envs": 8}, "hyperparams": {"n_steps": 8, "batch_size": 32, "n_epochs": 1}}
AGENTS = Path(__file__).resolve().parents[2] / "agents"


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, Path]:
    """rule_based and supervised JSON and a PPO zip, each saved from the default scenario."""
    folder = tmp_path_factory.mktemp("saved")
    supervised, _ = train_supervised("default", n_shoppers=80, horizon=4, seed=0, epochs=2, hidden=(8,))
    return {
        "rule_based": save_policy(make_policy("rule_based"), folder / "rule_based.json"),
        "supervised": save_policy(supervised, folder / "supervised.json"),
        "ppo": save_policy(make_model("ppo", "default", **TINY_PPO), folder / "ppo.zip"),
    }


@pytest.mark.parametrize("name", ["rule_based", "supervised", "ppo"])
def test_reversed_catalogue_is_refused_naming_the_difference(saved, name) -> None:
    policy = load_policy(saved[name])
    pattern = (
        rf"{saved[name].name}\) was built for scenario 'default' and cannot run on scenario 'reversed': "
        r"features: column 14 is 'category=electronics' saved, 'category=beauty' in the scenario; "
        r"categories: saved \['electronics', .*'beauty'\], scenario \['beauty', .*'electronics'\]"
    )
    with pytest.raises(PolicyScenarioMismatch, match=pattern):
        evaluate(policy, REVERSED, n_shoppers=10, horizon=2)
    with pytest.raises(PolicyScenarioMismatch, match="categories: saved"):
        evaluate_lineup({name: policy}, REVERSED, n_shoppers=10, horizon=2, oracle=False)
    with pytest.raises(PolicyScenarioMismatch, match="categories: saved"):
        resolve_policy(str(saved[name]), REVERSED)  # the config path fails before any rollout


def test_ppo_trained_on_d_max_05_is_refused_on_d_max_03(saved) -> None:
    with pytest.raises(
        PolicyScenarioMismatch, match=r"cannot run on scenario 'shallow': d_max: saved 0\.5, scenario 0\.3"
    ):
        evaluate(load_policy(saved["ppo"]), SHALLOW, n_shoppers=10, horizon=2)
    # An in-memory model is checked through the env it trains on, the same way.
    with pytest.raises(PolicyScenarioMismatch, match=r"d_max: saved 0\.5, scenario 0\.3"):
        evaluate(make_model("ppo", "default", **TINY_PPO), SHALLOW, n_shoppers=10, horizon=2)


def test_same_layout_other_dynamics_runs_and_says_so(saved, caplog) -> None:
    heavy = load_scenario("reference_heavy")
    assert feature_names(heavy) == feature_names(DEFAULT) and heavy.d_max == DEFAULT.d_max
    policies = {name: load_policy(path) for name, path in saved.items()}
    with caplog.at_level(logging.INFO, logger="discountsim.agents.fingerprint"):
        lineup = evaluate_lineup(policies, heavy, n_shoppers=20, horizon=2, oracle=False)
    assert list(lineup.summary["policy"]) == list(saved)
    messages = [r.getMessage() for r in caplog.records if "other dynamics" in r.getMessage()]
    assert len(messages) == 3 and all("'default'" in m and "'reference_heavy'" in m for m in messages)
    # A renamed copy with the same parameters is the same dynamics: runs, nothing logged.
    caplog.clear()
    renamed = load_scenario({**to_dict(DEFAULT), "name": "my_shop"})
    with caplog.at_level(logging.INFO, logger="discountsim.agents.fingerprint"):
        evaluate(policies["rule_based"], renamed, n_shoppers=10, horizon=2)
    assert not [r for r in caplog.records if "other dynamics" in r.getMessage()]


def test_hand_written_discounts_reach_the_simulator_as_float64() -> None:
    obs = observe(DEFAULT, initial_state(DEFAULT, spawn_keys(np.random.default_rng(0), 5)))
    rule = policy_rule(make_policy("uniform", depth=0.4), DEFAULT, 5, 3)
    discounts = rule(obs, None)
    assert discounts.dtype == np.float64 and np.all(discounts == 0.4)  # not 0.4000000059604645
    # The SB3 interface still answers in float32 actions that map back to the same depth.
    actions, _ = make_policy("uniform", depth=0.4).predict(obs)
    assert actions.dtype == np.float32


def test_supervised_on_d_max_03_offers_its_grid_exactly() -> None:
    policy, _ = train_supervised(SHALLOW, n_shoppers=80, horizon=4, seed=0, epochs=2, hidden=(8,), grid=(0.0, 0.3))
    policy.expected_profit = lambda obs: np.tile([0.0, 1.0], (obs.shape[0], 1))  # always the deepest level
    result = evaluate(policy, SHALLOW, n_shoppers=20, horizon=3)
    assert result.totals.discount_sum.max() == pytest.approx(0.9) and result.summary["avg_discount"].iloc[0] <= 0.3


def test_policies_are_bound_to_their_scenario_once() -> None:
    assert make_policy("uniform", scenario=SHALLOW, depth=0.2).d_max == 0.3
    assert UniformPolicy.for_scenario(SHALLOW).fingerprint().scenario == "shallow"
    assert make_policy("oracle", scenario=SHALLOW).name == "oracle"  # reads its scenario at run time
    for key in ("d_max", "n_features"):
        with pytest.raises(TypeError, match=f"{key} comes from the scenario; pass scenario="):
            make_policy("uniform", **{key: 0.3})
    _, built = resolve_policy({"name": "rule_based"}, SHALLOW)
    assert built.d_max == 0.3 and built.scenario is SHALLOW
    _, built = resolve_policy("tests.experiments.test_entry_points:HalfPricePolicy", SHALLOW)
    assert built.d_max == 0.3  # a user's DiscountPolicy subclass too, without signature inspection
    with pytest.raises(ValueError, match="scenario='holiday_season' is not allowed"):
        resolve_policy({"name": "uniform", "scenario": "holiday_season"}, SHALLOW)
    # A policy built for another d_max is refused where it runs, not silently rescaled.
    with pytest.raises(PolicyScenarioMismatch, match=r"d_max: saved 0\.5, scenario 0\.3"):
        evaluate(make_policy("uniform", depth=0.2), SHALLOW, n_shoppers=10, horizon=2)


def test_evaluate_cli_fails_on_a_reversed_catalogue(saved, tmp_path) -> None:
    scenario = tmp_path / "reversed.yaml"
    import yaml

    scenario.write_text(yaml.safe_dump(to_dict(REVERSED), sort_keys=False))
    run = subprocess.run(
        [sys.executable, "-m", "discountsim.experiments.evaluate", f"policies=[{saved['rule_based']}]",
         f"scenarios=[{scenario}]", "n_shoppers=10", "horizon=2", "oracle=false", f"hydra.run.dir={tmp_path / 'out'}"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode != 0
    assert "categories: saved ['electronics'" in run.stdout + run.stderr
    assert not (tmp_path / "out" / "metrics.json").exists()


def _agents_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):  # module level and inside functions alike
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("discountsim.agents"):
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.startswith("discountsim.agents")}
    return names


def test_agents_modules_import_each_other_one_way() -> None:
    graph = {f"discountsim.agents.{p.stem}": _agents_imports(p) for p in AGENTS.glob("*.py") if p.stem != "__init__"}
    assert not [m for m, deps in graph.items() if "discountsim.agents" in deps], "a module imports the package"
    assert "discountsim.agents.sb3_agents" not in graph["discountsim.agents.storage"]

    def visit(module: str, path: tuple[str, ...]) -> None:
        for dep in graph.get(module, ()):
            assert dep not in path, f"import cycle: {' -> '.join((*path, dep))}"
            visit(dep, (*path, dep))

    for module in graph:
        visit(module, (module,))
