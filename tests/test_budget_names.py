"""One meaning per name: ``budget`` meant per period in ``evaluate``, the whole horizon in
``CampaignEnv`` and the amount left in ``transition`` (issue 10). Each meaning now has its own name."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import discountsim
import gymnasium as gym
import numpy as np
import pytest
import yaml
from discountsim.envs import CampaignEnv
from discountsim.experiments.stress import stress
from hydra import compose, initialize_config_dir

CONF = Path(__file__).resolve().parents[1] / "conf"
BUDGET_NAMES = {
    "budget_per_period": "a cap renewed every period, all shoppers together (rollout, evaluate, stress rows)",
    "budget_left": "money still available when this period's costs are charged (transition, CampaignEnv)",
    "campaign_budget": "one amount for a whole horizon, unspent money carried over (CampaignEnv, rollout, evaluate)",
    "budget_per_shopper_week": "an average spend per shopper and week a learner must meet (the Lagrangian budget)",
    "budget_share": "a stress case's budget_per_period as a share of the policy's own reference spend per period",
}


def _modules():
    for package in ("simulators", "envs", "agents", "experiments"):
        root = importlib.import_module(f"discountsim.{package}")
        yield root
        for info in pkgutil.walk_packages(root.__path__, f"{root.__name__}."):
            yield importlib.import_module(info.name)


def _parameters():
    for module in _modules():
        for owner_name, owner in vars(module).items():
            if getattr(owner, "__module__", None) != module.__name__:
                continue
            members = [(owner_name, owner)]
            if inspect.isclass(owner):
                members += [(f"{owner_name}.{k}", v) for k, v in vars(owner).items() if inspect.isfunction(v)]
            for name, member in members:
                if not callable(member):
                    continue
                try:
                    signature = inspect.signature(member)
                except (TypeError, ValueError):
                    continue
                for parameter in signature.parameters:
                    yield f"{module.__name__}.{name}", parameter


def _keys(node, path=""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield f"{path}{key}", str(key)
            yield from _keys(value, f"{path}{key}.")
    elif isinstance(node, list):
        for item in node:
            yield from _keys(item, path)


def test_every_budget_argument_has_one_of_the_distinct_names() -> None:
    assert discountsim.__name__ == "discountsim"
    found = [(where, p) for where, p in _parameters() if "budget" in p]
    assert found, "the scan found no budget argument at all: it no longer sees the package"
    wrong = sorted({(where, p) for where, p in found if p not in BUDGET_NAMES})
    assert not wrong, f"budget arguments with an ambiguous name: {wrong}; use one of {sorted(BUDGET_NAMES)}"
    assert {p for _, p in found} >= {"budget_per_period", "budget_left", "campaign_budget"}


def test_every_budget_config_key_has_one_of_the_distinct_names() -> None:
    keys = [
        (f"{path.relative_to(CONF)}:{dotted}", key)
        for path in CONF.rglob("*.yaml")
        for dotted, key in _keys(yaml.safe_load(path.read_text()) or {})
    ]
    labels = {"stress.yaml:cases.budget_cut_by_half"}  # a stress case's name, not a setting
    wrong = [where for where, key in keys if "budget" in key and key not in BUDGET_NAMES and where not in labels]
    assert not wrong, f"config keys with an ambiguous budget name: {wrong}"
    assert any(key == "budget_per_period" for _, key in keys)


def test_campaign_env_takes_campaign_budget_only() -> None:
    env = gym.make("DiscountSim/Campaign-v0", n_shoppers=50, horizon=3, campaign_budget=4.0)
    env.reset(seed=0)
    spent = sum(env.step(np.ones(15, dtype=np.float32))[4]["spent"] for _ in range(3))
    assert 0.0 < spent <= 4.0  # the whole horizon's budget, not 4 per period
    with pytest.raises(TypeError, match="budget"):
        CampaignEnv(budget=4.0)


def _stress_cfg(overrides):
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        return compose("stress", overrides=overrides)


def test_stress_half_budget_is_half_the_reference_spend_per_period(tmp_path) -> None:
    n, horizon = 40, 4
    cfg = _stress_cfg(
        [
            "policy={name:uniform,depth:0.2}",
            f"n_shoppers={n}",
            f"horizon={horizon}",
            "cases={}",
            "+cases.half={scenario:default,budget_share:0.5}",
        ]
    )
    table = stress(cfg, tmp_path).set_index("case")
    reference, half = table.loc["reference"], table.loc["half"]
    assert np.isnan(reference["budget_per_period"])
    spend_per_period = reference["promotion_cost"] * n / horizon
    assert half["budget_per_period"] == pytest.approx(0.5 * spend_per_period)
    assert half["promotion_cost"] * n <= half["budget_per_period"] * horizon + 1e-9


@pytest.mark.parametrize("share", ["-0.5", "abc", "true"])
def test_stress_rejects_a_bad_budget_share_before_running(tmp_path, share) -> None:
    cfg = _stress_cfg(
        [
            "policy=no_discount",
            "n_shoppers=10",
            "horizon=2",
            "cases={}",
            f"+cases.c={{scenario:default,budget_share:{share}}}",
        ]
    )
    with pytest.raises(ValueError, match=r"cases.c.budget_share: expected a finite number >= 0, got"):
        stress(cfg, tmp_path)
    assert not (tmp_path / "stress.csv").exists()
