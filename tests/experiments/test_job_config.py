"""Every job's config is validated at entry: bad input fails fast naming the key, the value and what is allowed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from discountsim.envs import ShopperVecEnv
from discountsim.experiments import benchmark
from discountsim.experiments.compare import compare
from discountsim.experiments.evaluate import evaluate_policies
from discountsim.experiments.job_config import JOB_SCHEMAS, JobConfigError, check_job_config
from discountsim.experiments.regress import regress
from discountsim.experiments.simulate import simulate
from discountsim.experiments.stress import stress
from discountsim.experiments.train import train
from discountsim.simulators import DiscountSimInputError, ScenarioError, spawn_keys
from discountsim.simulators.memory import MemoryEstimateError, available_memory, check_memory, estimate_bytes
from hydra import compose, initialize_config_dir

CONF = Path(__file__).resolve().parents[2] / "conf"
JOBS = {"simulate": simulate, "train": train, "evaluate": evaluate_policies, "compare": compare, "stress": stress}


def _compose(job: str, overrides: list[str]) -> Any:
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        return compose(job, overrides=overrides)


# (job, overrides, key named in the message, what the message says is allowed)
REPROS = [
    ("simulate", ["n_shoppers=abc"], "n_shoppers", "an integer >= 1, got 'abc'"),
    ("simulate", ["seed=abc"], "seed", "an integer in [0, 4294967295], got 'abc'"),
    ("train", ["total_timesteps=abc"], "total_timesteps", "an integer >= 0, got 'abc'"),
    ("simulate", ["n_shoppers=200.7", "horizon=4.9"], "n_shoppers", "an integer >= 1 (not a fraction), got 200.7"),
    ("simulate", ["horizon=4.9"], "horizon", "an integer in [1, 1040] (not a fraction), got 4.9"),
    ("simulate", ["horizon=10000000"], "horizon", "an integer in [1, 1040], got 10000000"),
    ("evaluate", ["horizon=10000000"], "horizon", "an integer in [1, 1040], got 10000000"),
    ("evaluate", ["oracle=maybe"], "oracle", "true or false, got 'maybe'"),
    ("compare", ["oracle=maybe"], "oracle", "true or false, got 'maybe'"),
    ("train", ["total_timesteps=0"], "total_timesteps", "an integer >= 1 to train SB3 agent 'ppo', got 0"),
    ("train", ["checkpoint_every=0"], "checkpoint_every", "an integer >= 1, got 0"),
    ("simulate", ["discounts=[]"], "discounts", "a list of at least 1 x a number in [0, 0.5]"),
    ("simulate", ["discounts=abc"], "discounts[0]", "a number in [0, 0.5] (the scenario's d_max), got 'abc'"),
    ("simulate", ["discounts=[0.1,0.6]"], "discounts[1]", "a number in [0, 0.5] (the scenario's d_max), got 0.6"),
    ("simulate", ["n_shoppers=0"], "n_shoppers", "an integer >= 1, got 0"),
    ("simulate", ["seed=-1"], "seed", "an integer in [0, 4294967295], got -1"),
    ("evaluate", ["seed=-1"], "seed", "an integer in [0, 4294967295], got -1"),
    ("evaluate", ["n_shoppers=1"], "n_shoppers", "an integer >= 2, got 1"),
    ("evaluate", ["policies=[]"], "policies", "a list of at least 1"),
    ("evaluate", ["policies=[{name: nope}]"], "policies[0].name", "unknown policy 'nope'; allowed: ['myopic_oracle'"),
    ("evaluate", ["policies=[nope]"], "policies[0]", "unknown policy 'nope'; allowed: ['myopic_oracle', 'no_discount'"),
    ("evaluate", ["policies=[{name: uniform, depth: abc}]"], "policies[0].depth", "a number in [0, 0.5]"),
    ("evaluate", ["policies=[{name: random, seed: -1}]"], "policies[0].seed", "an integer in [0, 4294967295]"),
    ("evaluate", ["policies=[{name: rule_based, foo: 1}]"], "policies[0]", "unknown argument(s) ['foo'] for policy"),
    ("evaluate", ["policies=[{depth: 0.1}]"], "policies[0]", "one of the keys name, path, target"),
    ("evaluate", ["policies=[{name: uniform, label: ''}]"], "policies[0].label", "a non-empty string"),
    ("evaluate", ["scenarios=[3]"], "scenarios[0]", "a scenario name or YAML path, got 3"),
    ("train", ["seed=abc"], "seed", "an integer in [0, 4294967295]"),
    ("train", ["resume=maybe"], "resume", "true or false"),
    ("train", ["progress_bar=2"], "progress_bar", "true or false, got 2"),
    ("train", ["optimized_metric=profitt"], "optimized_metric", "one of ['profit', 'revenue'"),
    ("train", ["evaluation.every=0"], "evaluation.every", "an integer >= 1, got 0"),
    ("train", ["evaluation.n_shoppers=1"], "evaluation.n_shoppers", "an integer >= 2, got 1"),
    ("train", ["evaluation.horizon=abc"], "evaluation.horizon", "an integer in [1, 1040]"),
    ("train", ["evaluation.seed=-5"], "evaluation.seed", "an integer in [0, 4294967295]"),
    ("train", ["env.horizon=0"], "env.horizon", "an integer in [1, 1040], got 0"),
    ("train", ["+env.overrides.n_envs=0"], "env.overrides.n_envs", "an integer >= 1, got 0"),
    ("train", ["+env.overrides.nenvs=4"], "env.overrides", "unknown key(s) ['nenvs']"),
    ("train", ["agent.env.n_envs=-1"], "agent.env.n_envs", "an integer >= 1, got -1"),
    ("train", ["agent.env.action_type=box"], "agent.env.action_type", "one of ['continuous', 'discrete']"),
    ("train", ["agent.env.n_levels=1"], "agent.env.n_levels", "an integer >= 2, got 1"),
    ("train", ["agent.env.reward_scale=0"], "agent.env.reward_scale", "a finite number > 0, got 0"),
    ("train", ["agent.env.reward_scale=nan"], "agent.env.reward_scale", "a finite number > 0, got nan"),
    ("train", ["agent=uniform", "agent.policy.depth=abc"], "agent.policy.depth", "a number in [0, 0.5]"),
    ("train", ["agent=supervised", "agent.policy.epochs=0"], "agent.policy.epochs", "an integer >= 1, got 0"),
    ("train", ["agent=random", "agent.policy.seed=-1"], "agent.policy.seed", "an integer in [0, 4294967295]"),
    ("train", ["agent=td3", "agent.action_noise_sd=-0.1"], "agent.action_noise_sd", "a finite number > 0"),
    (
        "train",
        ["agent.total_timesteps=0", "total_timesteps=5"],
        "agent.total_timesteps",
        "an integer >= 1 to train SB3 agent 'ppo', got 0",
    ),
    (
        "compare",
        ["agents=[ppo,bogus]"],
        "agents[1]",
        "one of ['ppo', 'a2c', 'sac', 'td3', 'dqn', 'recurrent_ppo', 'ppo_distilled']",
    ),
    ("compare", ["timesteps=0"], "timesteps", "an integer >= 1, got 0"),
    ("compare", ["agent_timesteps.ppo=1.5"], "agent_timesteps.ppo", "an integer >= 1 (not a fraction), got 1.5"),
    ("compare", ["+agent_timesteps.bogus=10"], "agent_timesteps", "unknown key(s) ['bogus']"),
    ("compare", ["uniform_depth=-0.1"], "uniform_depth", "a number in [0, 0.5] (the scenario's d_max), got -0.1"),
    ("compare", ["uniform_curve=[0.1,0.9]"], "uniform_curve[1]", "a number in [0, 0.5]"),
    ("compare", ["supervised.epochs=0"], "supervised.epochs", "an integer >= 1, got 0"),
    ("compare", ["supervised.n_shoppers=abc"], "supervised.n_shoppers", "an integer >= 1, got 'abc'"),
    ("compare", ["supervised.horizon=2.5"], "supervised.horizon", "an integer in [1, 1040] (not a fraction)"),
    ("compare", ["+supervised.foo=1"], "supervised", "unknown key(s) ['foo']; allowed: ['n_shoppers'"),
    ("compare", ["closed_loop={retrain_every: 0}"], "closed_loop.retrain_every", "an integer >= 1, got 0"),
    ("compare", ["closed_loop={epsilon: 2}"], "closed_loop.epsilon", "a number in [0, 1], got 2"),
    ("compare", ["n_shoppers=abc"], "n_shoppers", "an integer >= 2"),
    ("compare", ["horizon=0"], "horizon", "an integer in [1, 1040], got 0"),
    ("compare", ["train_seed=-1"], "train_seed", "an integer in [0, 4294967295]"),
    ("stress", ["policy=nope"], "policy", "unknown policy 'nope'; allowed: ["),
    ("stress", ["policy=[rule_based]"], "policy", "a built-in policy name"),
    ("stress", ["cases.budget_cut_by_half.budget_share=-1"], "cases.budget_cut_by_half.budget_share", ">= 0"),
    ("stress", ["+cases.x={budget_share: 0.5}"], "cases.x", "missing key(s) ['scenario']"),
    ("stress", ["+cases.x={scenario: default, foo: 1}"], "cases.x", "unknown key(s) ['foo']"),
    ("stress", ["cases.demand_shock.scenario=5"], "cases.demand_shock.scenario", "a scenario name or YAML path"),
    ("regress", ["tolerance.profit=-1"], "tolerance.profit", "a finite number >= 0, got -1"),
    ("regress", ["tolerance.roi=inf"], "tolerance.roi", "a finite number >= 0, got inf"),
    ("regress", ["update=maybe"], "update", "true or false, got 'maybe'"),
    ("regress", ["scenarios=[]"], "scenarios", "a list of at least 1"),
    ("regress", ["baseline_file=''"], "baseline_file", "a path to a baseline JSON file"),
    ("regress", ["horizon=abc"], "horizon", "an integer in [1, 1040]"),
    ("regress", ["+extra=1"], "config", "unknown key(s) ['extra']"),
    ("abtest", ["split=1"], "split", "a number in (0, 1), got 1"),
    ("abtest", ["split=0"], "split", "a number in (0, 1), got 0"),
    ("abtest", ["n_shoppers=3"], "n_shoppers", "an integer >= 4, got 3"),
    ("abtest", ["treatment=nope"], "treatment", "unknown policy 'nope'; allowed: ["),
    ("abtest", ["metric=margin"], "metric", "one of ['profit', 'revenue', 'conversion'], got 'margin'"),
    ("abtest", ["mde=0"], "mde", "a finite number > 0, got 0"),
    ("abtest", ["power=1.0"], "power", "a number in (0, 1), got 1.0"),
    ("abtest", ["plan_weeks=[4,0]"], "plan_weeks[1]", "an integer in [1, 1040], got 0"),
    ("abtest", ["pre_weeks=-1"], "pre_weeks", "an integer in [0, 1040], got -1"),
]


@pytest.mark.parametrize(("job", "overrides", "key", "allowed"), REPROS, ids=[" ".join(r[1]) for r in REPROS])
def test_bad_value_fails_naming_key_value_and_allowed(job: str, overrides: list[str], key: str, allowed: str) -> None:
    cfg = _compose(job, overrides)
    with pytest.raises(JobConfigError) as raised:
        check_job_config(job, cfg)
    message = str(raised.value)
    assert message.startswith(f"{key}: "), message
    assert allowed in message, message
    assert isinstance(raised.value, DiscountSimInputError) and isinstance(raised.value, ValueError)


@pytest.mark.parametrize("job", ["simulate", "train", "evaluate", "compare", "stress"])
def test_the_plain_job_function_validates_before_doing_anything(job: str, tmp_path: Path) -> None:
    cfg = _compose(job, ["seed=-1"])
    start = time.perf_counter()
    with pytest.raises(JobConfigError, match=r"^seed: expected an integer in \[0, 4294967295\], got -1$"):
        JOBS[job](cfg, tmp_path)
    assert time.perf_counter() - start < 1.0
    assert not any(tmp_path.iterdir())  # nothing written


def test_stress_needs_a_case() -> None:
    cfg = _compose("stress", [])
    cfg.cases = {}
    with pytest.raises(JobConfigError, match=r"^cases: expected a mapping .* with at least 1 entry, got \{\}$"):
        check_job_config("stress", cfg)


def test_regress_validates_before_evaluating(tmp_path: Path) -> None:
    with pytest.raises(JobConfigError, match=r"^tolerance.profit: expected a finite number >= 0, got -1$"):
        regress(_compose("regress", ["tolerance.profit=-1"]), tmp_path)
    assert not any(tmp_path.iterdir())


def test_a_single_item_where_a_list_is_expected_is_a_one_item_list(tmp_path: Path) -> None:
    # policies=no_discount means policies=[no_discount] (and so for discounts, scenarios and agents).
    cfg = check_job_config("evaluate", _compose("evaluate", ["policies=no_discount", "scenarios=default"]))
    assert list(cfg.policies) == ["no_discount"] and list(cfg.scenarios) == ["default"]
    assert list(check_job_config("compare", _compose("compare", ["agents=ppo"])).agents) == ["ppo"]
    assert list(check_job_config("simulate", _compose("simulate", ["discounts=0.1"])).discounts) == [0.1]
    metrics = evaluate_policies(_compose("evaluate", ["policies=no_discount", "n_shoppers=20", "horizon=2"]), tmp_path)
    assert list(metrics["policy"]) == ["no_discount"]


def test_whole_numbers_are_normalised_and_interpolations_kept() -> None:
    cfg = check_job_config("simulate", _compose("simulate", ["n_shoppers=200.0", "horizon=4"]))
    assert cfg.n_shoppers == 200 and type(cfg.n_shoppers) is int
    train_cfg = _compose("train", ["agent=supervised"])
    checked = check_job_config("train", train_cfg)
    # the supervised policy's scenario is still the interpolation ${simulator}
    assert checked.agent.policy._get_node("scenario")._is_interpolation()
    assert checked.total_timesteps == 0


def test_simulate_title_uses_the_validated_sizes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    simulate(_compose("simulate", ["n_shoppers=30.0", "horizon=2", "discounts=[0.0]"]), tmp_path)
    assert "30 shoppers, 2 weeks" in capsys.readouterr().out


def test_valid_defaults_and_experiments_pass() -> None:
    for job in JOB_SCHEMAS:
        check_job_config(job, _compose(job, []))
    for overrides in (["experiment=quick"], ["agent=sac"], ["agent=rule_based"], ["agent=supervised"]):
        check_job_config("train", _compose("train", overrides))
    check_job_config("evaluate", _compose("evaluate", ["scenarios=[default,holiday_season]", "simulator=myopic"]))


def _leaves(node: Any, prefix: str = "") -> list[str]:
    if isinstance(node, dict):
        out = []
        for key, value in node.items():
            out += _leaves(value, f"{prefix}.{key}" if prefix else str(key))
        return out or [prefix]
    if isinstance(node, list):
        out = []
        for i, value in enumerate(node):
            out += _leaves(value, f"{prefix}.{i}")
        return out or [prefix]
    return [prefix]


@pytest.mark.parametrize("job", sorted(JOB_SCHEMAS))
def test_every_key_of_every_job_yaml_is_covered_by_the_schema(job: str) -> None:
    # A key added to conf/<job>.yaml (or to an agent's or env's YAML) without a rule here fails this test.
    data = yaml.safe_load((CONF / f"{job}.yaml").read_text())
    data.pop("defaults", None)
    data.pop("hydra", None)
    files = [data]
    if job == "train":
        files += [{"agent": yaml.safe_load(p.read_text())} for p in sorted((CONF / "agent").glob("*.yaml"))]
        files += [{"env": yaml.safe_load(p.read_text())} for p in sorted((CONF / "env").glob("*.yaml"))]
    # experiment/*.yaml are shared by every job; experiment_job/<job>/*.yaml only by that job.
    experiments = [
        *sorted((CONF / "experiment").glob("*.yaml")),
        *sorted((CONF / "experiment_job" / job).glob("*.yaml")),
    ]
    files += [content for p in experiments if (content := yaml.safe_load(p.read_text()))]  # none.yaml is empty
    schema = JOB_SCHEMAS[job]
    for content in files:
        missing = [leaf for leaf in _leaves(content) if not schema.covers(leaf.split("."))]
        assert not missing, f"{job}: keys without validation: {missing}"
    assert not schema.covers(["no_such_key"])


def test_scenario_errors_are_input_errors() -> None:
    assert issubclass(ScenarioError, DiscountSimInputError)
    assert issubclass(JobConfigError, DiscountSimInputError)
    assert issubclass(MemoryEstimateError, DiscountSimInputError)


# --- memory -------------------------------------------------------------------------------------


@pytest.mark.skipif(available_memory() is None, reason="available memory not reported on this platform")
@pytest.mark.parametrize(
    ("job", "overrides", "key"),
    [
        ("simulate", ["n_shoppers=1000000000"], "n_shoppers"),
        ("evaluate", ["n_shoppers=1000000000"], "n_shoppers"),
        ("compare", ["n_shoppers=1000000"], "n_shoppers"),  # the oracle's plan: ~350 KB per shopper at 52 weeks
        ("compare", ["supervised.n_shoppers=100000000"], "supervised.n_shoppers"),
        ("stress", ["n_shoppers=1000000000"], "n_shoppers"),
        ("regress", ["n_shoppers=1000000000"], "n_shoppers"),
        ("abtest", ["n_shoppers=1000000000"], "n_shoppers"),
        ("abtest", ["pilot_shoppers=1000000000"], "pilot_shoppers"),
        ("train", ["evaluation.n_shoppers=1000000000"], "evaluation.n_shoppers"),
        ("train", ["agent.env.n_envs=1000000000"], "agent.env.n_envs"),
    ],
)
def test_a_job_that_cannot_fit_in_memory_fails_within_a_second(job: str, overrides: list[str], key: str) -> None:
    cfg = _compose(job, overrides)
    start = time.perf_counter()
    with pytest.raises(MemoryEstimateError) as raised:
        check_job_config(job, cfg)
    assert time.perf_counter() - start < 1.0
    message = str(raised.value)
    assert message.startswith(f"{key}=") and "needs about" in message and "memory is available" in message
    fits = int(message.rsplit("at most ", 1)[1].replace(",", ""))
    assert 0 < fits < int(overrides[0].split("=")[1])


@pytest.mark.skipif(available_memory() is None, reason="available memory not reported on this platform")
def test_python_api_entry_points_check_memory_before_allocating() -> None:
    start = time.perf_counter()
    with pytest.raises(MemoryEstimateError, match=r"^n_envs=1,000,000,000: needs about"):
        ShopperVecEnv(n_envs=10**9)
    with pytest.raises(MemoryEstimateError, match=r"^n_shoppers=1,000,000,000: needs about .* at most [\d,]+$"):
        spawn_keys(__import__("numpy").random.default_rng(0), 10**9)
    assert time.perf_counter() - start < 1.0


def test_memory_estimate_is_linear_and_small_sizes_are_not_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert estimate_bytes(2000, results=3) == 2 * estimate_bytes(1000, results=3)
    assert estimate_bytes(1000, oracle_horizon=52) > estimate_bytes(1000, oracle_horizon=13) > estimate_bytes(1000)
    monkeypatch.setattr("discountsim.simulators.memory.available_memory", lambda: 0)
    check_memory("n_shoppers", 10_000)  # a few MB: never refused
    with pytest.raises(MemoryEstimateError, match=r"lower n_shoppers to at most 0$"):
        check_memory("n_shoppers", 10_000_000)
    monkeypatch.setattr("discountsim.simulators.memory.available_memory", lambda: None)
    check_memory("n_shoppers", 10_000_000)  # unknown platform: no check rather than a wrong refusal


# --- the console script ---------------------------------------------------------------------------


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return subprocess.run(
        [sys.executable, "-m", "discountsim.experiments.cli", *args], capture_output=True, text=True, cwd=cwd, env=env
    )


def test_console_script_fails_naming_the_key(tmp_path: Path) -> None:
    run = _cli("simulate", "n_shoppers=200.7", "horizon=4.9", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert run.returncode != 0
    assert "n_shoppers: expected an integer >= 1 (not a fraction), got 200.7" in run.stderr
    assert not (tmp_path / "run" / "fixed_discounts.csv").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--n-sim", "0"], "--n-sim: expected an integer >= 1, got '0'"),
        (["--n-vec", "abc"], "--n-vec: expected an integer >= 1, got 'abc'"),
        (["--seconds", "0"], "--seconds: expected a finite number > 0, got '0'"),
        (["--seconds", "nan"], "--seconds: expected a finite number > 0, got 'nan'"),
        (["policies", "--n-eval", "1"], "--n-eval: expected an integer >= 2, got '1'"),
        (["policies", "--horizon", "0"], "--horizon: expected an integer >= 1, got '0'"),
        (["policies", "--seed", "-1"], "--seed: expected an integer in [0, 4294967295], got '-1'"),
        (["policies", "--timesteps-scale", "-1"], "--timesteps-scale: expected a finite number > 0, got '-1'"),
        (["policies", "--scenarios", "nope"], "--scenarios: unknown scenario 'nope'"),
    ],
)
def test_benchmark_flags_are_validated(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        benchmark.main(args)
    assert exited.value.code == 2  # argparse's usage error, before anything runs
    assert message in capsys.readouterr().err
