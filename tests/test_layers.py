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


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layer_imports(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files or package == "agents"
    for path in files:
        bad = _imports(path) & FORBIDDEN[package]
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}, which layer {package!r} must not use"
