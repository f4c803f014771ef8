"""Imports go one way: simulators <- envs <- agents <- experiments; only experiments imports Hydra."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "simulators": {
        "gymnasium",
        "stable_baselines3",
        "sb3_contrib",
        "torch",
        "hydra",
        "omegaconf",
        "envs",
        "agents",
        "experiments",
    },
    "envs": {"torch", "hydra", "omegaconf", "agents", "experiments"},
    "agents": {"hydra", "omegaconf", "experiments"},
}


def _top(module: str) -> str:
    """The layer or distribution a module belongs to: ``discountsim.envs.x`` -> ``envs``, ``torch.nn`` -> ``torch``."""
    parts = module.split(".")
    return parts[1] if parts[0] == "discountsim" and len(parts) > 1 else parts[0]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(_top(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(_top(node.module))
    return names


def test_code_imports_only_the_installed_namespace() -> None:
    """A bare ``import agents`` would pick up another distribution's module once installed."""
    for package in (*FORBIDDEN, "experiments"):
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                bare = [m for m in modules if m.split(".")[0] in (*FORBIDDEN, "experiments")]
                assert not bare, f"{path.relative_to(ROOT)} imports {bare}; use discountsim.{bare[0]}"


# The calibration's fitting code is the one place simulators/ may use torch (CONVENTIONS: calibration
# produces SimulatorParams, so it lives here; torch only inside the fitting code, never in the simulation).
ALLOWED = {
    "simulators/calibration/likelihood.py": {"torch"},
    "simulators/calibration/fit.py": {"torch"},
    "simulators/calibration/calibrate.py": {"torch"},
    "simulators/calibration/source.py": {"torch"},
}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layer_imports(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files or package == "agents"
    for path in files:
        allowed = ALLOWED.get(str(path.relative_to(ROOT)), set())
        bad = _imports(path) & FORBIDDEN[package] - allowed
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}, which layer {package!r} must not use"
