"""What a policy's inputs and outputs mean, saved with it and checked against the scenario it runs on.

A policy reads observation columns by position and answers in an action space whose meaning
depends on ``d_max``. A checkpoint therefore carries a ``Fingerprint``: the feature names in
order, the categories, ``d_max``, the action mapping, and the training scenario's name and a hash
of its parameters. ``check_scenario`` is the one place that compares it with a scenario:

- **layout** (features, categories, ``d_max``) must be equal, or ``PolicyScenarioMismatch``
  names each differing field with the saved and the scenario's value;
- **dynamics** (the parameter hash) may differ: running a trained policy on other dynamics is
  what stress tests do, so this is logged at INFO level and allowed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import weakref
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any

import numpy as np
from discountsim.envs import DiscountActions, ShopperVecEnv
from discountsim.simulators import SimulatorParams, feature_names
from discountsim.simulators.errors import DiscountSimInputError
from discountsim.simulators.params import definition
from gymnasium import spaces

log = logging.getLogger(__name__)

LAYOUT_FIELDS = ("features", "categories", "d_max")


class PolicyLoadError(DiscountSimInputError):
    """A checkpoint cannot be loaded; the message names the file and what is wrong with it."""


class PolicyScenarioMismatch(DiscountSimInputError):
    """A policy's inputs or outputs mean something else on this scenario; the message names each difference."""


def scenario_hash(params: SimulatorParams) -> str:
    """Short SHA-256 of the scenario's parameters, its name excluded (a renamed copy has the same dynamics)."""
    data = {k: v for k, v in definition(params).items() if k != "name"}
    text = json.dumps(data, separators=(",", ":"), default=float)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Fingerprint:
    """The meaning of a policy's observations and actions.

    Attributes:
        features: Observation column names, in order (``simulators.feature_names``).
        categories: Category names, in order (the one-hot columns).
        d_max: Deepest discount the actions map to (fraction of list price).
        action_type: ``"continuous"`` (``Box(-1, 1)`` rescaled to [0, d_max]) or ``"discrete"``.
        n_levels: Discount levels of the discrete action space (0 .. d_max, evenly spaced).
        scenario: Name of the scenario the policy was built or trained on.
        scenario_hash: ``scenario_hash`` of that scenario.
        offer_threshold: Continuous actions at or below it send no offer (``DiscountActions``);
            -1 for none, and in fingerprints saved before it existed.
    """

    features: tuple[str, ...]
    categories: tuple[str, ...]
    d_max: float
    action_type: str
    n_levels: int
    scenario: str
    scenario_hash: str
    offer_threshold: float = -1.0

    @classmethod
    def of(cls, params: SimulatorParams, actions: DiscountActions) -> Fingerprint:
        """The fingerprint of a policy built or trained on ``params`` that answers in ``actions``."""
        return cls(
            features=tuple(feature_names(params)),
            categories=tuple(params.category_names),
            d_max=float(params.d_max),
            action_type=actions.action_type,
            n_levels=int(actions.n_levels),
            offer_threshold=float(actions.offer_threshold),
            scenario=params.name,
            scenario_hash=scenario_hash(params),
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {**data, "features": list(self.features), "categories": list(self.categories)}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Fingerprint:
        """Parse a saved fingerprint; ``PolicyLoadError`` naming ``where`` and the field if malformed."""
        if not isinstance(data, dict):
            raise PolicyLoadError(f"{where}: fingerprint must be a mapping, got {type(data).__name__}")
        names = [f.name for f in fields(cls)]
        missing = [f.name for f in fields(cls) if f.name not in data and f.default is MISSING]
        if missing:
            raise PolicyLoadError(f"{where}: fingerprint lacks {missing}; it needs {names}")
        try:
            fp = cls(
                features=tuple(str(f) for f in data["features"]),
                categories=tuple(str(c) for c in data["categories"]),
                d_max=float(data["d_max"]),
                action_type=str(data["action_type"]),
                n_levels=int(data["n_levels"]),
                scenario=str(data["scenario"]),
                scenario_hash=str(data["scenario_hash"]),
                offer_threshold=float(data.get("offer_threshold", -1.0)),
            )
            fp.actions()
        except (TypeError, ValueError) as err:
            raise PolicyLoadError(f"{where}: malformed fingerprint ({err})") from err
        return fp

    def actions(self, width: int = 1) -> DiscountActions:
        """The action mapping this fingerprint describes."""
        return DiscountActions(
            self.d_max,
            self.action_type,  # type: ignore[arg-type]
            self.n_levels,
            width=1 if self.action_type == "discrete" else width,
            offer_threshold=self.offer_threshold,
        )

    def check_action_space(self, space: spaces.Space, where: str) -> None:
        """Raise ``PolicyLoadError`` if a model's action space is not the one this fingerprint describes."""
        if isinstance(space, spaces.Discrete):
            found = ("discrete", int(space.n))
        elif isinstance(space, spaces.Box):
            found = ("continuous", None)
        else:
            found = (type(space).__name__, None)
        expected = (self.action_type, self.n_levels if self.action_type == "discrete" else None)
        if found != expected:
            raise PolicyLoadError(
                f"{where}: the model's action space {space} does not match its fingerprint "
                f"(action_type {self.action_type!r}"
                + (f", n_levels {self.n_levels}" if self.action_type == "discrete" else "")
                + "); the checkpoint was altered or mixes two models"
            )


def differences(saved: Fingerprint, params: SimulatorParams) -> list[tuple[str, Any, Any]]:
    """Layout fields where ``saved`` and ``params`` disagree: ``(field, saved value, scenario value)``."""
    now = {"features": tuple(feature_names(params)), "categories": tuple(params.category_names), "d_max": params.d_max}
    out = []
    for name in LAYOUT_FIELDS:
        mine, theirs = getattr(saved, name), now[name]
        if name == "d_max" and float(mine) == float(theirs):
            continue
        if name != "d_max" and tuple(mine) == tuple(theirs):
            continue
        out.append((name, mine if name == "d_max" else list(mine), theirs if name == "d_max" else list(theirs)))
    return out


def _switch_hint(saved: list[str], scenario: list[str]) -> str:
    """Name the observation switch behind a layout difference (attribute, member or response-history columns)."""
    from discountsim.simulators.observation import RESPONSE_FEATURES

    responses = {f[0] for f in RESPONSE_FEATURES}
    hints = []
    for label, columns in (("saved", set(saved) - set(scenario)), ("scenario", set(scenario) - set(saved))):
        switches = sorted(
            {"observe_responses" for c in columns if c in responses}
            | {"observe_attributes" for c in columns if "=" in c and not c.startswith("category=")}
        )
        named = [f"{s}: true" for s in switches]
        if "member" in columns:
            named.append("a `member` column (paid members: member_share > 0)")
        if named:
            where = "the policy was built with" if label == "saved" else "the scenario has"
            hints.append(f"{where} {' and '.join(named)}")
    return f" ({'; '.join(hints)})" if hints else ""


def _describe(name: str, saved: Any, scenario: Any) -> str:
    if name == "features" and isinstance(saved, list):
        common = next((i for i, (a, b) in enumerate(zip(saved, scenario, strict=False)) if a != b), None)
        extra = _switch_hint(saved, scenario)
        if common is None:
            return f"features: {len(saved)} saved, {len(scenario)} in the scenario{extra}"
        return f"features: column {common} is {saved[common]!r} saved, {scenario[common]!r} in the scenario{extra}"
    return f"{name}: saved {saved!r}, scenario {scenario!r}"


def check_scenario(saved: Fingerprint, params: SimulatorParams, what: str) -> None:
    """Fail unless a policy with fingerprint ``saved`` reads and answers the same way on ``params``.

    Args:
        what: The policy, as named in messages (its label or checkpoint path).

    Raises:
        PolicyScenarioMismatch: A layout field differs; the message names each one, saved value
            and scenario value.
    """
    diffs = differences(saved, params)
    if diffs:
        listed = "; ".join(_describe(*d) for d in diffs)
        raise PolicyScenarioMismatch(
            f"{what} was built for scenario {saved.scenario!r} and cannot run on scenario {params.name!r}: "
            f"{listed}. Its observations or actions would mean something else; build or train it for this scenario"
        )
    here = scenario_hash(params)
    if here != saved.scenario_hash:
        log.info(
            "%s: built on scenario %r (params %s), running on %r (params %s): same layout, other dynamics",
            what,
            saved.scenario,
            saved.scenario_hash,
            params.name,
            here,
        )


# Fingerprints of SB3 models loaded from checkpoints (an SB3 model has no place of its own for them;
# an attribute would be pickled into the next save). Keyed weakly: it goes when the model goes.
_LOADED: weakref.WeakKeyDictionary[Any, Fingerprint] = weakref.WeakKeyDictionary()
_SOURCES: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def remember(policy: Any, source: str, fingerprint: Fingerprint | None = None) -> None:
    """Record the checkpoint a policy was loaded from, and an SB3 model's fingerprint (``load_policy``)."""
    _SOURCES[policy] = source
    if fingerprint is not None:
        _LOADED[policy] = fingerprint


def describe(policy: Any) -> str:
    """A policy as named in messages: its name, and the checkpoint it came from if any."""
    name = getattr(policy, "name", None) or type(policy).__name__
    source = _SOURCES.get(policy)
    return f"policy {name!r} ({source})" if source else f"policy {name!r}"


def model_fingerprint(model: Any) -> Fingerprint | None:
    """An SB3 model's fingerprint: from the ``ShopperVecEnv`` it trains on, else from its checkpoint, else None."""
    get_env = getattr(model, "get_env", None)
    env = get_env() if callable(get_env) else None
    env = getattr(env, "unwrapped", env)  # through VecEnvWrappers (VecMonitor, VecNormalize ...)
    if isinstance(env, ShopperVecEnv):
        return Fingerprint.of(env.params, env.actions)
    return _LOADED.get(model)


def model_actions(model: Any, params: SimulatorParams, what: str | None = None) -> DiscountActions:
    """How an SB3 model's actions map to discounts on ``params``, after checking its fingerprint.

    A model without a fingerprint (an SB3 zip saved outside DiscountSim, loaded with ``algorithm=``)
    can only be checked for its observation width; that is logged as a warning.
    """
    space = getattr(model, "action_space", None)
    if isinstance(space, spaces.Discrete):
        actions = DiscountActions(params.d_max, "discrete", int(space.n))
    elif isinstance(space, spaces.Box):
        actions = DiscountActions(params.d_max, "continuous", width=int(np.prod(space.shape)))
    else:
        raise TypeError(f"policy: cannot tell how {type(model).__name__} maps actions to discounts (no action_space)")
    what = what or describe(model)
    saved = model_fingerprint(model)
    if saved is not None:
        check_scenario(saved, params, what)
        if actions.action_type == "continuous" and saved.action_type == "continuous":
            return saved.actions(width=actions.width)  # with the threshold it was trained with
        return actions
    observation_space = getattr(model, "observation_space", None)
    shape = getattr(observation_space, "shape", None)
    n_features = len(feature_names(params))
    if shape is not None and tuple(shape) != (n_features,):
        raise PolicyScenarioMismatch(
            f"{what} reads observations of shape {tuple(shape)}; scenario {params.name!r} has {n_features} features"
        )
    log.warning(
        "%s has no scenario fingerprint (not saved by DiscountSim): only its observation width was checked "
        "against scenario %r; feature order, categories and d_max are assumed to match",
        what,
        params.name,
    )
    return actions
