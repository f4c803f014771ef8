"""Typed, range-checked construction of frozen parameter dataclasses from plain dicts.

A scenario arrives as nested dicts (a YAML file or a Hydra config). ``build`` turns it into the
``*Params`` dataclasses, rejecting unknown keys and out-of-range values with an error that names
the field path (``segments.deal_seeker.share``) and what is allowed there.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from discountsim.simulators.errors import DiscountSimInputError

T = TypeVar("T")


class ScenarioError(DiscountSimInputError):
    """A scenario or parameter value is malformed; the message names the field and allowed values."""


@dataclasses.dataclass(frozen=True)
class Range:
    """Allowed interval of a numeric field; ``lo_open``/``hi_open`` exclude the end point."""

    lo: float = -math.inf
    hi: float = math.inf
    lo_open: bool = False
    hi_open: bool = False

    def contains(self, value: float) -> bool:
        above = value > self.lo if self.lo_open else value >= self.lo
        below = value < self.hi if self.hi_open else value <= self.hi
        return above and below

    def __str__(self) -> str:
        left = "(" if self.lo_open else "["
        right = ")" if self.hi_open else "]"
        return f"{left}{self.lo:g}, {self.hi:g}{right}"


def num(
    default: float,
    lo: float = -math.inf,
    hi: float = math.inf,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
) -> Any:
    """A float dataclass field with a default and an allowed range."""
    return dataclasses.field(default=default, metadata={"range": Range(lo, hi, lo_open, hi_open)})


PROBABILITY = Range(0.0, 1.0)
NON_NEGATIVE = Range(0.0)


def check_range(path: str, value: float, allowed: Range) -> None:
    """Raise ``ScenarioError`` unless ``value`` is a finite number inside ``allowed``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError(f"{path}: expected a number in {allowed}, got {value!r}")
    if not math.isfinite(value) or not allowed.contains(value):
        raise ScenarioError(f"{path} = {value!r} is out of range; allowed: {allowed}")


def check_count(name: str, value: Any, minimum: int = 1, why: str = "") -> int:
    """``value`` as an int; raises ``DiscountSimInputError`` naming ``name`` unless it is a whole number >= ``minimum``.

    Used for sizes and lengths (shoppers, rows, periods) everywhere they are accepted.
    """
    ok = (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value == int(value)
        and value >= minimum
    )
    if not ok:
        reason = f" ({why})" if why else ""
        raise DiscountSimInputError(f"{name}: expected an integer >= {minimum}{reason}, got {value!r}")
    return int(value)


def validate_ranges(obj: Any, path: str = "") -> None:
    """Check every field of dataclass ``obj`` that declares a ``Range`` in its metadata."""
    for f in dataclasses.fields(obj):
        allowed = f.metadata.get("range")
        if allowed is not None:
            check_range(_join(path, f.name), getattr(obj, f.name), allowed)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def build(cls: type[T], data: Any, path: str = "") -> T:
    """Build dataclass ``cls`` from a (possibly nested) mapping, validating names and types.

    Args:
        cls: A dataclass type whose fields are numbers, bools, strings, nested dataclasses,
            ``dict[str, Dataclass]`` or ``tuple[Dataclass, ...]``.
        data: A mapping of field names to values; missing fields take their defaults.
        path: Field path of ``data`` inside the whole scenario, used in error messages.

    Raises:
        ScenarioError: On an unknown key, a missing required field or a value of the wrong kind
            or out of range.
    """
    if isinstance(data, cls):
        return data
    if not isinstance(data, Mapping):
        raise ScenarioError(f"{path or cls.__name__}: expected a mapping of fields, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(map(str, data)) - set(names))
    if unknown:
        where = path or "scenario"
        raise ScenarioError(f"{where}: unknown key(s) {unknown}; allowed keys: {sorted(names)}")
    kwargs = {name: _convert(hints[name], data[name], _join(path, name)) for name in names if name in data}
    try:
        obj = cls(**kwargs)
    except TypeError as err:  # a required field without default is missing
        raise ScenarioError(f"{path or cls.__name__}: {err}") from err
    validate_ranges(obj, path)
    post = getattr(obj, "check", None)
    if post is not None:
        post(path)
    return obj


def _convert(hint: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, path)
    if origin is dict:
        _, value_type = typing.get_args(hint)
        if value is None and path.endswith(".attributes"):  # null drops inherited attributes
            return {}
        if not isinstance(value, Mapping):
            raise ScenarioError(f"{path}: expected a mapping of name -> settings, got {value!r}")
        return {str(k): _convert(value_type, v, f"{path}.{k}") for k, v in value.items()}
    if origin is tuple:
        item_type = typing.get_args(hint)[0]
        if isinstance(value, str | bytes | Mapping) or not hasattr(value, "__iter__"):
            raise ScenarioError(f"{path}: expected a list, got {value!r}")
        return tuple(_convert(item_type, v, f"{path}[{i}]") for i, v in enumerate(value))
    if hint is bool:
        if not isinstance(value, bool):
            raise ScenarioError(f"{path}: expected true or false, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ScenarioError(f"{path}: expected a number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScenarioError(f"{path}: expected an integer, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ScenarioError(f"{path}: expected a string, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        raise ScenarioError(f"{path}: union fields are not supported by the scenario schema")
    return value


def to_dict(obj: Any) -> Any:
    """Plain nested dict of a params dataclass (the inverse of ``build``)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return [to_dict(v) for v in obj]
    return obj
