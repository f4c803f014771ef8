"""Built-in scenarios (``conf/simulator/*.yaml``) and validation of user scenarios.

A scenario file is a Hydra config-group option: a nested mapping of ``SimulatorParams`` fields,
optionally starting with a ``defaults`` list naming sibling scenarios it extends (merged in
order, ``_self_`` last unless listed). The same files are loaded here without Hydra so that
simulators, environments and agents can be used from plain Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from discountsim.simulators.config_schema import ScenarioError, build
from discountsim.simulators.package_data import conf_dir
from discountsim.simulators.params import SimulatorParams

SCENARIO_DIR = conf_dir() / "simulator"
_HYDRA_KEYS = ("_target_", "_convert_", "_recursive_", "_partial_")


def available_scenarios() -> list[str]:
    """Names of the built-in scenarios."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def build_scenario(**fields: Any) -> SimulatorParams:
    """Validated ``SimulatorParams`` from keyword fields (the ``_target_`` of scenario configs)."""
    return build(SimulatorParams, _strip_hydra_keys(fields))


def load_scenario(scenario: str | Path | Mapping[str, Any] | SimulatorParams) -> SimulatorParams:
    """Resolve a scenario given by built-in name, YAML path, mapping or params object.

    Raises:
        ScenarioError: For an unknown name (listing the built-in ones), an unreadable or
            malformed file, or any invalid field.
    """
    if isinstance(scenario, SimulatorParams):
        return scenario
    if isinstance(scenario, Mapping):
        return build_scenario(**_plain(scenario))
    path = Path(scenario)
    if path.suffix not in (".yaml", ".yml"):
        candidate = SCENARIO_DIR / f"{scenario}.yaml"
        if not candidate.is_file():
            raise ScenarioError(f"unknown scenario {str(scenario)!r}; built-in scenarios: {available_scenarios()}")
        path = candidate
    data = _resolve_file(path, seen=())
    data.setdefault("name", path.stem)
    return build_scenario(**data)


def _resolve_file(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    if not path.is_file():
        raise ScenarioError(f"scenario file not found: {path}")
    if path in seen:
        raise ScenarioError(f"{path.name}: circular defaults {[p.name for p in (*seen, path)]}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ScenarioError(f"{path}: not valid YAML: {err}") from err
    if not data:
        raise ScenarioError(
            f"{path}: the file is empty; a scenario file holds scenario fields or `defaults: [default]`"
        )
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: expected a mapping of scenario fields at the top level")
    defaults = data.pop("defaults", [])
    if not isinstance(defaults, list):
        raise ScenarioError(f"{path}: defaults must be a list of scenario names")
    if "_self_" not in defaults:
        defaults = [*defaults, "_self_"]
    merged: dict[str, Any] = {}
    for entry in defaults:
        if entry == "_self_":
            merged = _deep_merge(merged, data)
        elif isinstance(entry, str):
            merged = _deep_merge(merged, _resolve_file(_parent_file(path, entry), (*seen, path)))
        else:
            raise ScenarioError(f"{path}: defaults entries must be scenario names, got {entry!r}")
    return merged


def _parent_file(path: Path, entry: str) -> Path:
    """The file a ``defaults`` entry names: a sibling of ``path`` if one exists, else a built-in scenario."""
    entry = entry.removesuffix(".yaml")  # `defaults: [base.yaml]` names the same file as `[base]`
    sibling = path.parent / f"{entry}.yaml"
    if sibling.is_file():
        return sibling
    builtin = SCENARIO_DIR / f"{entry}.yaml"
    if builtin.is_file():
        return builtin
    raise ScenarioError(
        f"{path}: defaults entry {entry!r} is neither a file beside it ({sibling}) nor a built-in scenario; "
        f"built-in scenarios: {available_scenarios()}"
    )


def _deep_merge(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def _strip_hydra_keys(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in _HYDRA_KEYS}


def _plain(data: Any) -> Any:
    if isinstance(data, Mapping):
        return {str(k): _plain(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_plain(v) for v in data]
    return data
