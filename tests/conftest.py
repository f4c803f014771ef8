"""Shared fixtures: small populations and short horizons so the suite runs in minutes on 2 cores."""

from __future__ import annotations

import numpy as np
import pytest
from discountsim.simulators import SimulatorParams, initial_state, load_scenario, spawn_keys


@pytest.fixture(scope="session")
def params() -> SimulatorParams:
    return load_scenario("default")


@pytest.fixture(scope="session")
def keys() -> np.ndarray:
    return spawn_keys(np.random.default_rng(1234), 500)


@pytest.fixture(scope="session")
def state(params, keys):
    return initial_state(params, keys)


def scenario_with(base: str = "default", **changes) -> SimulatorParams:
    """A built-in scenario with top-level fields or nested mappings replaced (deep merge)."""
    from discountsim.simulators.config_schema import to_dict
    from discountsim.simulators.scenarios import _deep_merge

    return load_scenario(_deep_merge(to_dict(load_scenario(base)), changes))
