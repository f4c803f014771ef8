"""Constructor arguments of the environments, checked once, with errors that name the argument.

Each check raises ``DiscountSimInputError`` (a ``ValueError``) naming the argument, the value and
what is allowed. They run in constructors and ``seed``, never per step. Sizes and horizons go
through ``simulators.config_schema.check_count``, which raises the same type.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from discountsim.simulators import SimulatorParams, load_scenario
from discountsim.simulators.errors import DiscountSimInputError

# Seeds are reduced modulo 2**64 into the shopper streams; Gymnasium wants them non-negative.
SEED_LIMIT = 2**64


def scenario_arg(scenario: Any) -> SimulatorParams:
    """The scenario given as a built-in name, a YAML path, a mapping or ``SimulatorParams``."""
    if not isinstance(scenario, str | Path | Mapping | SimulatorParams):
        raise DiscountSimInputError(
            f"scenario: expected a built-in scenario name, a YAML path, a mapping or SimulatorParams, "
            f"got {scenario!r} ({type(scenario).__name__})"
        )
    return load_scenario(scenario)


def scale_arg(name: str, value: Any) -> float:
    """A finite number > 0 (a reward scale)."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    if not ok:
        raise DiscountSimInputError(f"{name}: expected a finite number > 0, got {value!r}")
    return float(value)


def seed_arg(name: str, value: Any) -> int | None:
    """None or a whole number in [0, 2**64)."""
    if value is None:
        return None
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool) and 0 <= value < SEED_LIMIT
    if not ok:
        raise DiscountSimInputError(f"{name}: expected None or an integer in [0, 2**64), got {value!r}")
    return int(value)


def render_mode_arg(value: Any, allowed: list[str]) -> str | None:
    if value is not None and value not in allowed:
        raise DiscountSimInputError(f"render_mode: {value!r} is not one of {allowed} or None")
    return value
