"""Turning a policy given in a config into a policy object: a built-in name, a checkpoint, or a user's class.

Accepted forms (each also as a mapping with a ``label`` for the tables):

- ``"rule_based"`` or ``{name: uniform, depth: 0.2}``: a built-in policy by ``agents.make_policy`` name,
  built for the scenario (``Policy.for_scenario``);
- ``"runs/train/ppo-default-seed0/model.zip"`` or ``{path: ...}``: a saved policy (``agents.load_policy``),
  checked against the scenario: its feature layout and d_max must be the scenario's (other dynamics are fine);
- ``"my_package.pricing:MyPolicy"`` or ``{target: ..., **kwargs}``: a user's class by import path,
  built with the kwargs; it must have SB3's ``predict`` (e.g. a ``DiscountPolicy`` subclass).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from discountsim.agents import POLICIES, DiscountPolicy, load_policy
from discountsim.agents.base import check_policy
from discountsim.simulators import SimulatorParams
from discountsim.simulators.errors import DiscountSimInputError


def _build(cls: Any, params: SimulatorParams, kwargs: dict[str, Any]) -> Any:
    """A hand-written policy (``DiscountPolicy``) is built for ``params``; any other class gets the kwargs alone."""
    if "scenario" in kwargs:
        raise DiscountSimInputError(
            f"policy entry: scenario={kwargs['scenario']!r} is not allowed; a policy is built for the scenario it is "
            "evaluated on (to run one built on another scenario, save it and give its path)"
        )
    if isinstance(cls, type) and issubclass(cls, DiscountPolicy):
        return cls.for_scenario(params, **kwargs)
    what = getattr(cls, "__qualname__", repr(cls))
    if not callable(cls):
        raise DiscountSimInputError(f"policy target {what}: not a class or factory; expected one returning a policy")
    try:
        policy = cls(**kwargs)
    except TypeError as err:  # wrong arguments for it, or not a policy constructor at all
        raise DiscountSimInputError(
            f"policy target {what}: cannot be called with {kwargs} ({err}); expected a policy class or factory"
        ) from err
    if not callable(getattr(policy, "predict", None)):
        raise DiscountSimInputError(
            f"policy target {what}: returned {type(policy).__name__}, which has no predict(); "
            "expected a policy (SB3's predict(observation) -> (actions, state), or a DiscountPolicy subclass)"
        )
    return policy


def import_class(target: str) -> type:
    """The class at ``"package.module:Name"`` (or ``"package.module.Name"``), with a clear error if missing."""
    module_name, _, name = target.partition(":") if ":" in target else target.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError) as err:
        raise DiscountSimInputError(
            f"policy target {target!r}: cannot import it ({err}); expected 'package.module:ClassName'"
        ) from err


def resolve_policy(spec: str | Mapping[str, Any], params: SimulatorParams) -> tuple[str, Any]:
    """``(label, policy)`` for one entry of a config's policy list (see the module docstring)."""
    if isinstance(spec, str):
        spec = {"path": spec} if _looks_like_path(spec) else {"target": spec} if ":" in spec else {"name": spec}
    spec = dict(spec)
    label = spec.pop("label", None)
    if "path" in spec:
        path = Path(spec.pop("path"))
        policy = load_policy(path, **spec)
        check_policy(policy, params)  # fail before any rollout; the evaluator checks again where it runs
        # A training run saves model.zip / policy.json: its directory names the run.
        return label or (path.parent.name if path.stem in ("model", "policy") else path.stem), policy
    if "target" in spec:
        target = spec.pop("target")
        policy = _build(import_class(target), params, spec)
        if not callable(getattr(policy, "predict", None)):
            raise TypeError(f"policy target {target!r}: built a {type(policy).__name__}, which has no predict()")
        return label or target.rpartition(":")[2] or target, policy
    if "name" in spec:
        name = spec.pop("name")
        if name not in POLICIES:
            raise DiscountSimInputError(
                f"unknown policy {name!r}; allowed: {sorted(POLICIES)}, a checkpoint path, or 'package.module:Class'"
            )
        policy = _build(POLICIES[name], params, spec)
        if getattr(policy, "fitted", True) is False:  # a learned policy built by name has learned nothing yet
            raise DiscountSimInputError(
                f"policy {name!r} is learned from data and this one is untrained: train it first "
                f"(discountsim train agent={name}) and give its checkpoint (runs/train/.../policy.json)"
            )
        return label or name, policy
    raise DiscountSimInputError(f"policy entry {spec!r}: expected one of the keys name, path or target")


def _looks_like_path(text: str) -> bool:
    return text.endswith((".zip", ".json")) or "/" in text
