"""Hand-written policies by short name: ``POLICIES`` and ``make_policy``."""

from __future__ import annotations

from typing import Any

from discountsim.agents.base import DiscountPolicy
from discountsim.agents.baselines import NoDiscountPolicy, RandomPolicy, UniformPolicy
from discountsim.agents.oracle import MyopicOraclePolicy, OraclePolicy
from discountsim.agents.rule_based import RuleBasedPolicy
from discountsim.agents.supervised import SupervisedPolicy
from discountsim.agents.twin import TwinPolicy

POLICIES: dict[str, type[DiscountPolicy]] = {
    cls.name: cls
    for cls in (
        NoDiscountPolicy,
        UniformPolicy,
        RandomPolicy,
        RuleBasedPolicy,
        SupervisedPolicy,
        MyopicOraclePolicy,
        OraclePolicy,
        TwinPolicy,
    )
}


def make_policy(name: str, **kwargs: Any) -> DiscountPolicy:
    """Build the policy called ``name`` with its constructor arguments (``scenario=`` binds it to a scenario;
    the oracles read theirs at run time and ignore it)."""
    if name not in POLICIES:
        raise ValueError(f"unknown policy {name!r}; allowed: {sorted(POLICIES)}")
    if "scenario" in kwargs:
        scenario = kwargs.pop("scenario")
        return POLICIES[name].for_scenario(scenario, **kwargs)
    return POLICIES[name](**kwargs)
