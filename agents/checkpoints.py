"""Saving and loading policies: hand-written ones as JSON, SB3 models as their zip; each with its fingerprint.

A saved policy carries the ``Fingerprint`` of the scenario it was built or trained on (feature
names and order, categories, d_max, action mapping, scenario name and hash), so the evaluator
can refuse a scenario on which its inputs or outputs would mean something else. A checkpoint
that cannot be loaded raises ``PolicyLoadError`` naming the file and what is wrong with it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from discountsim.agents.base import DiscountPolicy, PrivilegedPolicy
from discountsim.agents.fingerprint import Fingerprint, PolicyLoadError, remember
from discountsim.agents.registry import POLICIES, make_policy
from discountsim.agents.sb3_agents import load_sb3, save_sb3
from discountsim.agents.storage import write_json
from stable_baselines3.common.base_class import BaseAlgorithm

POLICY_FORMAT = "discountsim-policy"
POLICY_VERSION = 2  # 2: with a fingerprint; 1 (no fingerprint) is refused
_KEYS = ("name", "config", "state", "fingerprint")


def save_policy(policy: Any, path: str | Path) -> Path:
    """Save a policy atomically: a hand-written one as JSON (name, constructor arguments, learned state and
    fingerprint), an SB3 model as its zip (``.zip`` is appended if missing)."""
    if isinstance(policy, BaseAlgorithm):
        return save_sb3(policy, path)
    if not isinstance(policy, DiscountPolicy):
        raise TypeError(
            f"policy: save_policy stores DiscountPolicy objects and SB3 models; got {type(policy).__name__}"
        )
    fingerprint = None if isinstance(policy, PrivilegedPolicy) else policy.fingerprint().to_dict()
    return write_json(
        path,
        {
            "format": POLICY_FORMAT,
            "version": POLICY_VERSION,
            "name": policy.name,
            "config": policy.config(),
            "state": policy.get_state(),
            "fingerprint": fingerprint,
        },
    )


def load_policy(path: str | Path, algorithm: str | None = None) -> Any:
    """Load a policy saved by ``save_policy``: JSON for hand-written policies, a zip for SB3 models.

    Args:
        algorithm: For an SB3 zip saved outside DiscountSim, its algorithm (``ppo``, ``dqn``, ...).

    Raises:
        FileNotFoundError: The file does not exist (the message names it).
        PolicyLoadError: The file is not a saved DiscountSim policy, is damaged, or was saved
            without a fingerprint (the message names the file and what is wrong).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"policy checkpoint not found: {path}")
    if path.suffix == ".zip":
        return load_sb3(path, algorithm)
    if algorithm is not None:
        raise PolicyLoadError(f"{path}: algorithm={algorithm!r} applies to SB3 zips; this is a JSON checkpoint")
    data = _read(path)
    name = data["name"]
    if name not in POLICIES:
        raise PolicyLoadError(f"{path}: names unknown policy {name!r}; allowed: {sorted(POLICIES)}")
    if not isinstance(data["config"], dict) or not isinstance(data["state"], dict):
        raise PolicyLoadError(f"{path}: 'config' and 'state' must be mappings")
    try:
        policy = make_policy(name, **data["config"])
    except (TypeError, ValueError, KeyError) as err:
        raise PolicyLoadError(f"{path}: its config does not rebuild a {name!r} policy: {err}") from err
    try:
        policy.set_state(data["state"])
    except (TypeError, ValueError, KeyError, RuntimeError) as err:
        raise PolicyLoadError(f"{path}: its learned state does not fit the policy: {err}") from err
    _check_fingerprint(path, policy, data["fingerprint"])
    remember(policy, str(path))
    return policy


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise PolicyLoadError(f"{path}: not a saved policy (invalid JSON: {err}); the file is damaged") from err
    if not isinstance(data, dict) or data.get("format") != POLICY_FORMAT:
        raise PolicyLoadError(f"{path}: not a saved policy (expected format {POLICY_FORMAT!r})")
    version = data.get("version")
    if version in (None, 1):
        raise PolicyLoadError(
            f"{path}: saved by an older DiscountSim (format version 1) without the scenario fingerprint that "
            "says what its inputs mean; rebuild and re-save it (make_policy(name, scenario=..., ...), save_policy), "
            "or retrain a learned policy"
        )
    if version != POLICY_VERSION:
        raise PolicyLoadError(f"{path}: format version {version!r} is not supported; expected {POLICY_VERSION}")
    missing = [k for k in _KEYS if k not in data]
    if missing:
        raise PolicyLoadError(f"{path}: missing {missing}; a saved policy has the keys {list(_KEYS)}")
    return data


def _check_fingerprint(path: Path, policy: DiscountPolicy, saved: Any) -> None:
    """The saved fingerprint must be the one the rebuilt policy has (else the file was edited or mixed)."""
    if isinstance(policy, PrivilegedPolicy):
        if saved is not None:
            raise PolicyLoadError(f"{path}: {policy.name} reads the true model and has no fingerprint; found one")
        return
    if saved is None:
        raise PolicyLoadError(f"{path}: fingerprint is null; a {policy.name!r} policy needs one (re-save it)")
    stored = Fingerprint.from_dict(saved, str(path)).to_dict()
    rebuilt = policy.fingerprint().to_dict()
    diffs = [k for k in rebuilt if stored[k] != rebuilt[k]]
    if diffs:
        listed = "; ".join(f"{k}: fingerprint {stored[k]!r}, config {rebuilt[k]!r}" for k in diffs)
        raise PolicyLoadError(
            f"{path}: its fingerprint does not match the policy its config rebuilds ({listed}); "
            "the file was edited or mixes two policies"
        )
