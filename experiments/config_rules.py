"""The rules a job config is checked with: one small ``Spec`` per kind of value, each naming what it allows.

``check(path, value, ctx)`` returns the value normalised or raises ``JobConfigError`` with the key
(``path``), the value and what is allowed; ``covers(parts)`` tells whether a nested key is checked,
so a test can require that every key of every job's YAML has a rule. The job schemas built from
these rules are in ``experiments/job_config.py``; ``cli_*`` are the same rules as argparse types.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from discountsim.simulators.errors import DiscountSimInputError

SEED_MAX = 2**32 - 1  # SB3 seeds NumPy's legacy generator, which takes 32-bit seeds


class JobConfigError(DiscountSimInputError):
    """A job's config value is invalid; the message names the key, the value and what is allowed."""


@dataclass(frozen=True)
class Context:
    """What some bounds depend on: the selected scenario's deepest discount."""

    d_max: float = 1.0


def fail(path: str, value: Any, allowed: str) -> JobConfigError:
    return JobConfigError(f"{path or 'config'}: expected {allowed}, got {value!r}")


def join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


class Spec:
    """A rule for one value: ``check`` returns it normalised or raises ``JobConfigError``."""

    allowed = "a value"

    def check(self, path: str, value: Any, ctx: Context) -> Any:
        raise NotImplementedError

    def covers(self, parts: list[str]) -> bool:
        """Whether the nested key ``parts`` (below this value) is checked by this spec."""
        return not parts


@dataclass(frozen=True)
class Int(Spec):
    lo: int = 0
    hi: int | None = None

    @property
    def allowed(self) -> str:  # type: ignore[override]
        return f"an integer >= {self.lo}" if self.hi is None else f"an integer in [{self.lo}, {self.hi}]"

    def check(self, path: str, value: Any, ctx: Context) -> int:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        if not ok or value != int(value):
            raise fail(path, value, self.allowed + (" (not a fraction)" if ok else ""))
        if value < self.lo or (self.hi is not None and value > self.hi):
            raise fail(path, value, self.allowed)
        return int(value)


@dataclass(frozen=True)
class Num(Spec):
    """A finite number in ``[lo, hi]``; ``hi="d_max"`` is the selected scenario's deepest discount."""

    lo: float = -math.inf
    hi: float | str = math.inf
    lo_open: bool = False
    hi_open: bool = False

    def bounds(self, ctx: Context) -> tuple[float, float]:
        return self.lo, ctx.d_max if self.hi == "d_max" else float(self.hi)

    def describe(self, ctx: Context) -> str:
        lo, hi = self.bounds(ctx)
        if hi == math.inf:
            return f"a finite number {'>' if self.lo_open else '>='} {lo:g}"
        return f"a number in {'(' if self.lo_open else '['}{lo:g}, {hi:g}{')' if self.hi_open else ']'}" + (
            " (the scenario's d_max)" if self.hi == "d_max" else ""
        )

    def check(self, path: str, value: Any, ctx: Context) -> float:
        lo, hi = self.bounds(ctx)
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        if not ok or value < lo or value > hi or (self.lo_open and value == lo) or (self.hi_open and value == hi):
            raise fail(path, value, self.describe(ctx))
        return float(value)


@dataclass(frozen=True)
class Bool(Spec):
    allowed = "true or false"

    def check(self, path: str, value: Any, ctx: Context) -> bool:
        if not isinstance(value, bool):
            raise fail(path, value, self.allowed)
        return value


@dataclass(frozen=True)
class Str(Spec):
    choices: tuple[str, ...] = ()
    what: str = "a non-empty string"

    @property
    def allowed(self) -> str:  # type: ignore[override]
        return f"one of {list(self.choices)}" if self.choices else self.what

    def check(self, path: str, value: Any, ctx: Context) -> str:
        if not isinstance(value, str) or not value or (self.choices and value not in self.choices):
            raise fail(path, value, self.allowed)
        return value


@dataclass(frozen=True)
class Optional(Spec):
    inner: Spec

    def check(self, path: str, value: Any, ctx: Context) -> Any:
        return None if value is None else self.inner.check(path, value, ctx)

    def covers(self, parts: list[str]) -> bool:
        return self.inner.covers(parts)


@dataclass(frozen=True)
class ListOf(Spec):
    """A list of ``item``; a single item (not a list) is taken as a one-item list."""

    item: Spec
    min_len: int = 1
    mapping_is_item: bool = False  # a single mapping is one item (a policy entry), not a wrong kind of list

    def check(self, path: str, value: Any, ctx: Context) -> list[Any]:
        if not isinstance(value, list | tuple):
            if isinstance(value, Mapping) and not self.mapping_is_item:
                raise fail(path, value, f"a list of {_allowed(self.item, ctx)}")
            value = [value]
        if len(value) < self.min_len:
            raise fail(path, value, f"a list of at least {self.min_len} x {_allowed(self.item, ctx)}")
        return [self.item.check(f"{path}[{i}]", v, ctx) for i, v in enumerate(value)]

    def covers(self, parts: list[str]) -> bool:
        return not parts or (parts[0].isdigit() and self.item.covers(parts[1:]))


@dataclass(frozen=True)
class MapOf(Spec):
    """A mapping of names (``keys`` if given) to ``value``."""

    value: Spec
    keys: tuple[str, ...] = ()
    min_len: int = 0

    def check(self, path: str, value: Any, ctx: Context) -> dict[str, Any]:
        what = f"a mapping of {'names' if not self.keys else list(self.keys)} to {_allowed(self.value, ctx)}"
        if not isinstance(value, Mapping) or len(value) < self.min_len:
            raise fail(path, value, what + (f" with at least {self.min_len} entry" if self.min_len else ""))
        unknown = sorted(str(k) for k in value if self.keys and k not in self.keys)
        if unknown:
            raise JobConfigError(f"{path}: unknown key(s) {unknown}; allowed: {list(self.keys)}")
        return {str(k): self.value.check(join(path, k), v, ctx) for k, v in value.items()}

    def covers(self, parts: list[str]) -> bool:
        return not parts or self.value.covers(parts[1:])


@dataclass(frozen=True)
class Record(Spec):
    """A mapping with the given keys; ``required`` ones must be present; others are rejected."""

    fields: dict[str, Spec]
    required: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()  # keys that are not the job's (``hydra`` when composed with it)

    def check(self, path: str, value: Any, ctx: Context) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise fail(path, value, f"a mapping with keys {list(self.fields)}")
        unknown = sorted(str(k) for k in value if k not in self.fields and k not in self.ignored)
        if unknown:
            raise JobConfigError(f"{path or 'config'}: unknown key(s) {unknown}; allowed: {list(self.fields)}")
        missing = [k for k in self.required if k not in value]
        if missing:
            raise JobConfigError(f"{path or 'config'}: missing key(s) {missing}")
        out = dict(value)
        for key, spec in self.fields.items():
            if key in value:
                out[key] = spec.check(join(path, key), value[key], ctx)
        return out

    def covers(self, parts: list[str]) -> bool:
        if not parts:
            return True
        spec = self.fields.get(parts[0])
        return spec is not None and spec.covers(parts[1:])


@dataclass(frozen=True)
class Passthrough(Spec):
    """A value checked by another layer (named in ``by``) when it is used; here only its kind."""

    by: str
    kind: type | tuple[type, ...] = (dict,)

    def check(self, path: str, value: Any, ctx: Context) -> Any:
        if not isinstance(value, self.kind):
            raise fail(path, value, f"a mapping ({self.by})")
        return value

    def covers(self, parts: list[str]) -> bool:
        return True


@dataclass(frozen=True)
class Arguments(Passthrough):
    """Constructor arguments checked by the constructor, with the common ones (``fields``) typed here first."""

    fields: dict[str, Spec] = dataclasses.field(default_factory=dict)

    def check(self, path: str, value: Any, ctx: Context) -> Any:
        super().check(path, value, ctx)
        return {k: self.fields[k].check(join(path, k), v, ctx) if k in self.fields else v for k, v in value.items()}


def _allowed(spec: Spec, ctx: Context) -> str:
    return spec.describe(ctx) if isinstance(spec, Num) else spec.allowed


# --- command-line flags (``discountsim benchmark``): the same rules as argparse types ---------------


def cli_int(lo: int = 1, hi: int | None = None) -> Callable[[str], int]:
    """An argparse ``type`` for an integer flag in ``[lo, hi]``; argparse prints the flag with the message."""
    spec = Int(lo, hi)

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not lo <= value <= (hi if hi is not None else value):
            raise argparse.ArgumentTypeError(f"expected {spec.allowed}, got {text!r}")
        return value

    return parse


def cli_positive_number(text: str) -> float:
    """An argparse ``type`` for a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0.0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def cli_scenario(text: str) -> str:
    """An argparse ``type`` for a built-in scenario name or a scenario YAML file."""
    from discountsim.simulators import available_scenarios

    if text not in available_scenarios() and not Path(text).is_file():
        raise argparse.ArgumentTypeError(
            f"unknown scenario {text!r}; allowed: {available_scenarios()} or a scenario YAML file"
        )
    return text
