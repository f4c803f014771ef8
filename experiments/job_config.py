"""Typed, validated configs of the entry points: a schema per job, checked when the job starts.

Every job (``simulate``, ``train``, ``evaluate``, ``compare``, ``stress``, ``regress``) calls
``check_job_config(<job>, cfg)`` first. It resolves the composed config, checks every key against
the job's schema below (built from the rules in ``experiments/config_rules.py``) and raises
``JobConfigError`` (a ``DiscountSimInputError``) naming the key, the value and what is allowed,
before anything runs; then it estimates the job's memory and fails
if it cannot fit (``simulators.memory``). It returns a copy of the config with values normalised
(``200.0`` -> ``200``; a single policy, scenario, agent or discount given where a list is expected
becomes a one-item list, so ``policies=rule_based`` means ``policies=[rule_based]``).

Why a schema checked at entry rather than Hydra structured configs: the messages are ours (key,
value, allowed values, not OmegaConf's internals), the same check serves tests and the Python API
that call the plain job functions with a composed config, and the YAML files, ``--cfg job``,
overrides and multirun/Optuna sweeps are untouched (a bad trial fails alone, with the message).

Groups validated by their own layer are passed through: ``simulator`` by the scenario schema
(``simulators.config_schema``), ``agent.algorithm`` by SB3's constructor, ``agent.policy`` and the
keyword arguments of a policy entry by the policy's constructor.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from discountsim.agents import ALGORITHMS, POLICIES
from discountsim.agents.abtest import METRICS as AB_METRICS
from discountsim.agents.callbacks import SHOP_METRICS
from discountsim.agents.distillation import TEACHERS, DistillSettings
from discountsim.envs.actions import ACTION_TYPES
from discountsim.experiments.config_rules import (
    SEED_MAX,
    Arguments,
    Bool,
    Context,
    Int,
    JobConfigError,
    ListOf,
    MapOf,
    Num,
    Optional,
    Passthrough,
    Record,
    Spec,
    Str,
    fail,
    join,
)
from discountsim.simulators.contact_cap import MAX_WINDOW
from discountsim.simulators.memory import check_memory
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from omegaconf.errors import OmegaConfBaseException


@dataclass(frozen=True)
class SegmentsSpec(Spec):
    """``auto`` or a number of segments in [1, 12]."""

    def check(self, path: str, value: Any, ctx: Context) -> Any:
        if value == "auto":
            return value
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 12:
            raise fail(path, value, "auto, or an integer number of segments in [1, 12]")
        return value


@dataclass(frozen=True)
class PolicySpec(Spec):
    """One policy entry (see ``experiments.policies``): a built-in name, a checkpoint path, a
    ``'package.module:Class'``, or a mapping with exactly one of ``name``/``path``/``target``,
    an optional ``label`` and keyword arguments for the policy."""

    allowed = (
        f"a built-in policy name {sorted(POLICIES)}, a checkpoint path (.zip/.json), 'package.module:Class', "
        "or a mapping with one of the keys name, path, target (and optional label and arguments)"
    )

    def check(self, path: str, value: Any, ctx: Context) -> Any:
        if isinstance(value, str):
            if not value:
                raise fail(path, value, self.allowed)
            looks_named = not (value.endswith((".zip", ".json")) or "/" in value or ":" in value)
            if looks_named and value not in POLICIES:
                raise _unknown_policy(path, value)
            return value
        if not isinstance(value, Mapping):
            raise fail(path, value, self.allowed)
        kinds = [k for k in ("name", "path", "target") if k in value]
        if len(kinds) != 1:
            raise fail(path, value, self.allowed)
        kind = kinds[0]
        Str().check(join(path, kind), value[kind], ctx)
        if kind == "name" and value["name"] not in POLICIES:
            raise _unknown_policy(join(path, "name"), value["name"])
        if kind == "name":
            accepted = _policy_arguments(POLICIES[value["name"]])
            unknown = sorted(str(k) for k in value if k not in ("name", "label", *accepted))
            if unknown:
                raise JobConfigError(
                    f"{path}: unknown argument(s) {unknown} for policy {value['name']!r}; allowed: {accepted}"
                )
            for key, spec in _POLICY_ARGUMENTS.items():
                if key in value:
                    spec.check(join(path, key), value[key], ctx)
        if "label" in value:
            Str().check(join(path, "label"), value["label"], ctx)
        return dict(value)

    def covers(self, parts: list[str]) -> bool:
        return True  # keyword arguments are checked by the policy's constructor


def _policy_arguments(cls: type) -> list[str]:
    """Keyword arguments a built-in policy's constructor accepts (its own and its base classes')."""
    names: list[str] = []
    for klass in cls.__mro__:
        if "__init__" in vars(klass) and klass is not object:
            for name, p in inspect.signature(klass.__init__).parameters.items():
                if name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and name not in names:
                    names.append(name)
    return names


def _unknown_policy(path: str, name: str) -> JobConfigError:
    return JobConfigError(
        f"{path}: unknown policy {name!r}; allowed: {sorted(POLICIES)}, a checkpoint path (.zip/.json) "
        "or 'package.module:Class'"
    )


COUNT = Int(1)
# Periods are weeks: 20 years is far beyond any promotion plan, and a typo like horizon=10000000 would
# otherwise run for hours with nothing to show.
HORIZON = Int(1, 1040)
SEED = Int(0, SEED_MAX)
DISCOUNT = Num(0.0, "d_max")
SIMULATOR = Passthrough("a scenario, checked by the scenario schema")
# Typed arguments of built-in policies given in a config (the others are checked by the policy).
_POLICY_ARGUMENTS: dict[str, Spec] = {"depth": DISCOUNT, "seed": SEED}
# fit_supervised's arguments besides scenario and seed (which the job sets): the behaviour log,
# the closed loop, SupervisedPolicy's model and SupervisedPolicy.fit's training settings.
SUPERVISED = Record(
    {
        "n_shoppers": COUNT,
        "horizon": HORIZON,
        "retrain_every": Optional(COUNT),
        "epsilon": Num(0.0, 1.0),
        "grid": ListOf(DISCOUNT),
        "hidden": ListOf(COUNT),
        "epochs": COUNT,
        "batch_size": COUNT,
        "learning_rate": Num(0.0, lo_open=True),
        "val_fraction": Num(0.0, 1.0),
        "patience": COUNT,
    }
)

CONTACT_CAP = Optional(
    Record({"max_offers": Int(1), "window": Int(1, MAX_WINDOW)}, required=("max_offers",)),
)
AGENT_ENV: dict[str, Spec] = {
    "n_envs": COUNT,
    "action_type": Str(choices=ACTION_TYPES),
    "n_levels": Int(2),
    "reward_scale": Num(0.0, lo_open=True),
    "offer_threshold": Num(-1.0, 1.0, hi_open=True),
    "contact_cap": CONTACT_CAP,
}
DISTILL = Record(
    {
        "teacher": Str(choices=TEACHERS),
        "rounds": COUNT,
        "shoppers": COUNT,
        "epochs": COUNT,
        "batch_size": COUNT,
        "learning_rate": Num(0.0, lo_open=True),
    }
)
AGENT = Record(
    {
        "name": Str(),
        "algorithm": Passthrough("SB3 algorithm arguments, checked by SB3"),
        "policy": Arguments(
            "a policy's constructor arguments, checked by the policy",
            fields={**SUPERVISED.fields, **_POLICY_ARGUMENTS, "d_max": Num(0.0, 1.0, lo_open=True)},
        ),
        "env": Record(AGENT_ENV),
        "total_timesteps": Int(0),
        "action_noise_sd": Num(0.0, lo_open=True),
        "distill": Optional(DISTILL),
    },
    required=("name",),
)
_EVALUATION = Record(
    {"every": COUNT, "n_shoppers": Int(2), "horizon": HORIZON, "seed": SEED, "oracle": Bool()}, required=("n_shoppers",)
)

# Each job's keys; ``hydra`` is Hydra's own node (present only when composed with return_hydra_config).
_IGNORED = ("hydra",)
_N = Int(2)  # evaluations report intervals, which need two shoppers
_SHARE = Num(0.0, 1.0, lo_open=True, hi_open=True)
JOB_SCHEMAS: dict[str, Record] = {
    "simulate": Record(
        {"simulator": SIMULATOR, "n_shoppers": COUNT, "horizon": HORIZON, "seed": SEED, "discounts": ListOf(DISCOUNT)},
        required=("simulator", "n_shoppers", "horizon", "seed", "discounts"),
        ignored=_IGNORED,
    ),
    "train": Record(
        {
            "simulator": SIMULATOR,
            "agent": AGENT,
            "env": Record({"horizon": HORIZON, "overrides": Record(AGENT_ENV)}),
            "seed": SEED,
            "total_timesteps": Int(0),
            "checkpoint_every": COUNT,
            "optimized_metric": Str(choices=SHOP_METRICS),
            "resume": Bool(),
            "progress_bar": Bool(),
            "evaluation": _EVALUATION,
            "lagrangian": Optional(
                Record(
                    {
                        "budget_per_shopper_week": Num(0.0, lo_open=True),
                        "dual_lr": Num(0.0, lo_open=True),
                        "initial_multiplier": Num(0.0),
                        "every": COUNT,
                        "kp": Num(0.0),
                        "keep_best_feasible": Bool(),
                        "feasibility_margin": Num(0.0, 1.0, hi_open=True),
                    },
                    required=("budget_per_shopper_week",),
                )
            ),
            "fairness_lagrangian": Optional(
                Record(
                    {
                        "floor": Num(0.0, 1.0, lo_open=True),
                        "dual_lr": Num(0.0, lo_open=True),
                        "every": COUNT,
                        "kp": Num(0.0),
                        "keep_best_feasible": Bool(),
                        "feasibility_margin": Num(0.0, 1.0, hi_open=True),
                    },
                    required=("floor",),
                )
            ),
        },
        required=("simulator", "agent", "env", "seed", "total_timesteps", "checkpoint_every", "evaluation"),
        ignored=_IGNORED,
    ),
    "evaluate": Record(
        {
            "simulator": Optional(SIMULATOR),
            "policies": ListOf(PolicySpec(), mapping_is_item=True),
            "scenarios": Optional(ListOf(Str(what="a scenario name or YAML path"))),
            "n_shoppers": _N,
            "horizon": HORIZON,
            "seed": SEED,
            "oracle": Bool(),
            "budget_per_period": Optional(Num(0.0)),
            "campaign_budget": Optional(Num(0.0)),
            "contact_cap": CONTACT_CAP,
            "disparity_floor": Optional(Num(0.0, 1.0, lo_open=True)),
        },
        required=("policies", "n_shoppers", "horizon", "seed"),
        ignored=_IGNORED,
    ),
    "compare": Record(
        {
            "simulator": SIMULATOR,
            "agents": Optional(ListOf(Str(choices=tuple(ALGORITHMS)), min_len=0)),
            "timesteps": Optional(COUNT),
            "agent_timesteps": MapOf(COUNT, keys=tuple(ALGORITHMS)),
            "distill": Optional(DISTILL),
            "uniform_depth": DISCOUNT,
            "uniform_curve": ListOf(DISCOUNT),
            "supervised": Optional(SUPERVISED),
            "closed_loop": Optional(SUPERVISED),
            "oracle": Bool(),
            "n_shoppers": _N,
            "horizon": HORIZON,
            "seed": SEED,
            "train_seed": SEED,
            "ope_data": Optional(Str(what="a .csv or .parquet log with propensities")),
            "budget_per_period": Optional(Num(0.0)),
            "campaign_budget": Optional(Num(0.0)),
            "contact_cap": CONTACT_CAP,
            "disparity_floor": Optional(Num(0.0, 1.0, lo_open=True)),
        },
        required=("simulator", "n_shoppers", "horizon", "seed"),
        ignored=_IGNORED,
    ),
    "stress": Record(
        {
            "simulator": SIMULATOR,
            "policy": PolicySpec(),
            "cases": MapOf(
                Record(
                    {"scenario": Str(what="a scenario name or YAML path"), "budget_share": Optional(Num(0.0))},
                    required=("scenario",),
                ),
                min_len=1,
            ),
            "n_shoppers": _N,
            "horizon": HORIZON,
            "seed": SEED,
        },
        required=("simulator", "policy", "cases", "n_shoppers", "horizon", "seed"),
        ignored=_IGNORED,
    ),
    "export_log": Record(
        {
            "simulator": SIMULATOR,
            "n_shoppers": COUNT,
            "horizon": HORIZON,
            "logging": Str(choices=("random", "targeted")),
            "exploration": Num(0.0, 1.0),
            "seed": SEED,
            "out": Optional(Str(what="a .csv or .parquet path")),
            "shards": Int(1, 100_000),
        },
        required=("simulator", "n_shoppers", "horizon", "logging", "exploration", "seed", "shards"),
        ignored=_IGNORED,
    ),
    "calibrate": Record(
        {
            "simulator": SIMULATOR,
            "data": Optional(Str(what="a .csv or .parquet log, a folder of them or a glob")),
            "out": Str(what="a .yaml path for the fitted scenario"),
            "workers": Int(0, 100_000),
            "ray_address": Optional(Str(what="a Ray cluster address, or auto")),
            "segments": SegmentsSpec(),
            "max_segments": Int(1, 12),
            "held_out": Num(0.0, 0.5),
            "seed": SEED,
            "start_week": Optional(Int(0, 51)),
            "shard_size": Int(50, 10_000_000),
            "max_iter": Int(1, 100_000),
            "key_file": Optional(Str(what="a path to a file holding the id-hashing key")),
            "name": Optional(Str(what="a scenario name")),
        },
        required=(
            "simulator",
            "out",
            "segments",
            "max_segments",
            "held_out",
            "seed",
            "shard_size",
            "max_iter",
            "workers",
        ),
        ignored=_IGNORED,
    ),
    "abtest": Record(
        {
            "simulator": SIMULATOR,
            "treatment": PolicySpec(),
            "control": PolicySpec(),
            "n_shoppers": Int(4),
            "weeks": HORIZON,
            "split": _SHARE,
            "pre_weeks": Int(0, 1040),
            "seed": SEED,
            "plan": Bool(),
            "plan_weeks": ListOf(HORIZON),
            "pilot_shoppers": _N,
            "metric": Str(choices=AB_METRICS),
            "mde": Optional(Num(0.0, lo_open=True)),
            "alpha": _SHARE,
            "power": _SHARE,
        },
        required=(
            "simulator",
            "treatment",
            "control",
            "n_shoppers",
            "weeks",
            "split",
            "pre_weeks",
            "seed",
            "plan",
            "metric",
        ),
        ignored=_IGNORED,
    ),
    "ope": Record(
        {
            "simulator": SIMULATOR,
            "data": Optional(Str(what="a .csv or .parquet log with propensities")),
            "policies": ListOf(PolicySpec(), mapping_is_item=True),
            "trajectories": Bool(),
            "burn_in": Int(0, 1040),
            "dm_epochs": COUNT,
            "seed": SEED,
            "key_file": Optional(Str(what="a path to a file holding the id-hashing key")),
        },
        required=("simulator", "policies", "trajectories", "burn_in", "dm_epochs", "seed"),
        ignored=_IGNORED,
    ),
    "regress": Record(
        {
            "policies": ListOf(PolicySpec(), mapping_is_item=True),
            "scenarios": ListOf(Str(what="a scenario name or YAML path")),
            "n_shoppers": _N,
            "horizon": HORIZON,
            "seed": SEED,
            "baseline_file": Optional(Str(what="a path to a baseline JSON file")),
            "tolerance": Record(
                {"profit": Num(0.0), "roi": Num(0.0), "uplift_captured": Num(0.0)},
                required=("profit", "roi", "uplift_captured"),
            ),
            "update": Bool(),
        },
        required=("policies", "scenarios", "n_shoppers", "horizon", "seed", "tolerance"),
        ignored=_IGNORED,
    ),
}


def check_job_config(job: str, cfg: DictConfig) -> DictConfig:
    """Validate the composed config of ``job`` and its memory estimate; returns a normalised copy.

    Raises:
        JobConfigError: A key with a wrong value (the message names the key, the value and what is allowed).
        MemoryEstimateError: The job would not fit in the available memory (with the largest size that does).
    """
    schema = JOB_SCHEMAS[job]
    try:
        plain = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None)
        raise JobConfigError(f"{key or 'config'}: {str(err).splitlines()[0]}") from err
    normalised = schema.check("", plain, Context(_d_max(plain.get("simulator"))))
    if job == "train" and normalised["agent"].get("distill") is not None:
        _check_distilled_agent(normalised["agent"], normalised.get("env") or {})
    if job == "train" and "algorithm" in normalised["agent"]:
        agent = normalised["agent"]
        least = 0 if agent.get("distill") is not None else 1  # a distilled agent may stop after distillation
        for key, value in (
            ("agent.total_timesteps", agent.get("total_timesteps")),
            ("total_timesteps", normalised["total_timesteps"]),
        ):
            if value is not None and value < least:
                raise JobConfigError(
                    f"{key}: expected an integer >= {least} to train SB3 agent {agent['name']!r}, got {value!r}"
                )
    _check_job_memory(job, normalised)
    out = copy.deepcopy(cfg)
    with read_write(out), open_dict(out):
        _write_back(out, plain, normalised)
    return out


def _d_max(simulator: Any) -> float:
    value = simulator.get("d_max") if isinstance(simulator, Mapping) else None
    ok = isinstance(value, int | float) and not isinstance(value, bool) and 0.0 < value <= 1.0
    return float(value) if ok else 1.0  # an invalid d_max is the scenario schema's to report


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _write_back(node: DictConfig, raw: Mapping[str, Any], normalised: Mapping[str, Any]) -> None:
    """Replace the values that normalisation changed, leaving the others (and their interpolations) alone."""
    for key, value in normalised.items():
        if _same(raw.get(key), value):
            continue
        child = node.get(key)
        if isinstance(child, DictConfig) and isinstance(value, Mapping) and isinstance(raw.get(key), Mapping):
            _write_back(child, raw[key], value)
        else:
            node[key] = value


def _check_job_memory(job: str, cfg: dict[str, Any]) -> None:
    """Estimate each population the job will hold at once (see ``simulators.memory``) and fail if one cannot fit."""
    n, horizon = cfg.get("n_shoppers"), cfg.get("horizon", 1)
    if job == "simulate":
        check_memory("n_shoppers", n, results=2)
    elif job in ("evaluate", "regress"):
        oracle = bool(cfg.get("oracle")) or any(_is_oracle(p) for p in cfg["policies"])
        check_memory("n_shoppers", n, results=len(cfg["policies"]) + 2, oracle_horizon=horizon if oracle else 0)
    elif job == "compare":
        policies = 4 + len(cfg.get("agents") or []) + 2 * bool(cfg.get("oracle")) + 2
        check_memory("n_shoppers", n, results=policies, oracle_horizon=horizon if cfg.get("oracle") else 0)
        for key in ("supervised", "closed_loop"):
            fit = cfg.get(key) or {}
            if "n_shoppers" in fit:
                check_memory(f"{key}.n_shoppers", fit["n_shoppers"], log_periods=fit.get("horizon", 26))
    elif job == "abtest":
        if not cfg.get("plan"):  # a plan only puts n_shoppers into the detectable-effect formula
            check_memory("n_shoppers", n, results=4)
        check_memory("pilot_shoppers", cfg.get("pilot_shoppers", 2), results=4)
    elif job == "export_log":
        check_memory("n_shoppers", n, log_periods=horizon)
    elif job == "stress":
        check_memory("n_shoppers", n, results=3, oracle_horizon=horizon if _is_oracle(cfg["policy"]) else 0)
    elif job == "train":
        evaluation = cfg["evaluation"]
        oracle = _is_oracle(cfg["agent"].get("name")) or bool(evaluation.get("oracle"))
        check_memory(
            "evaluation.n_shoppers",
            evaluation["n_shoppers"],
            results=3,
            oracle_horizon=evaluation.get("horizon", 52) if oracle else 0,
        )
        envs = {**(cfg["agent"].get("env") or {}), **(cfg["env"].get("overrides") or {})}
        if "n_envs" in envs:
            check_memory("agent.env.n_envs", envs["n_envs"])
        policy = cfg["agent"].get("policy") or {}
        if isinstance(policy.get("n_shoppers"), int):
            check_memory("agent.policy.n_shoppers", policy["n_shoppers"], log_periods=policy.get("horizon") or 26)
        distill = cfg["agent"].get("distill")
        if distill is not None:  # every round's shopper-weeks are kept; the oracle plans for each round's shoppers
            check_memory(
                "agent.distill.shoppers",
                distill.get("shoppers", DistillSettings.shoppers),
                log_periods=distill.get("rounds", DistillSettings.rounds) * cfg["env"].get("horizon", 52),
                oracle_horizon=cfg["env"].get("horizon", 52),
            )
    if job == "regress":
        for i, spec in enumerate(cfg["policies"]):
            if isinstance(spec, Mapping) and isinstance(spec.get("n_shoppers"), int):
                periods = spec.get("horizon") if isinstance(spec.get("horizon"), int) else 26
                check_memory(f"policies[{i}].n_shoppers", spec["n_shoppers"], log_periods=periods)


_STUDENTS = ("stable_baselines3.PPO", "stable_baselines3.A2C")


def _check_distilled_agent(agent: Mapping[str, Any], env: Mapping[str, Any]) -> None:
    """An ``agent.distill`` block needs a PPO or A2C agent with discrete actions (``agents.distillation``)."""
    target = (agent.get("algorithm") or {}).get("_target_")
    if target not in _STUDENTS:
        raise JobConfigError(
            f"agent.distill: only PPO and A2C agents (an actor-critic without memory) can be distilled into; "
            f"agent {agent.get('name')!r} is {target or 'not an SB3 agent'}"
        )
    envs = {**(agent.get("env") or {}), **(env.get("overrides") or {})}
    if envs.get("action_type", "continuous") != "discrete":
        raise JobConfigError(
            f"agent.distill: the student needs discrete actions; got agent.env.action_type="
            f"{envs.get('action_type', 'continuous')!r} (allowed: 'discrete')"
        )


def _is_oracle(spec: Any) -> bool:
    name = spec.get("name") if isinstance(spec, Mapping) else spec
    return name == "oracle"
