"""Mapping agent actions to discount depths.

Continuous: ``Box(-1, 1)`` (what SB3's checker recommends), rescaled linearly to [0, d_max];
values outside [-1, 1] are clipped to it (SB3 clips too, but sampled actions of other agents may
overshoot). With an ``offer_threshold`` tau > -1, actions at or below tau send no offer and
(tau, 1] maps linearly onto (0, d_max]: d = d_max (a - tau) / (1 - tau). SAC and TD3 squash their
actions with tanh, which never reaches -1, so without such a no-offer zone every shopper gets an
offer (and its cost) every week. Discrete: ``Discrete(k)`` picks one of ``k`` evenly spaced
levels 0, ..., d_max (for DQN).
NaN, infinite, non-numeric and wrongly shaped actions raise ``DiscountSimInputError`` (a ``ValueError``)
naming the action and what is allowed.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np
from discountsim.simulators.errors import DiscountSimInputError
from gymnasium import spaces
from numpy.typing import NDArray

ActionType = Literal["continuous", "discrete"]
ACTION_TYPES = ("continuous", "discrete")


@dataclass(frozen=True)
class DiscountActions:
    """Action space and mapping for ``width`` discounts chosen at once (1 per shopper or cohort).

    Args:
        d_max: Deepest discount, fraction of list price.
        action_type: ``"continuous"`` or ``"discrete"``.
        n_levels: Number of discount levels of the discrete variant (>= 2).
        width: Discounts per action (``Box`` shape ``(width,)``; discrete supports width 1 only).
        offer_threshold: Continuous actions at or below it send no offer, in [-1, 1); -1 (the
            default) maps [-1, 1] linearly onto [0, d_max].
    """

    d_max: float
    action_type: ActionType = "continuous"
    n_levels: int = 11
    width: int = 1
    offer_threshold: float = -1.0

    def __post_init__(self) -> None:
        if not isinstance(self.action_type, str) or self.action_type not in ACTION_TYPES:
            raise DiscountSimInputError(f"action_type: {self.action_type!r} is not one of {list(ACTION_TYPES)}")
        if self.action_type == "discrete":
            ok = isinstance(self.n_levels, numbers.Integral) and not isinstance(self.n_levels, bool)
            if not ok or self.n_levels < 2:
                raise DiscountSimInputError(f"n_levels: expected an integer >= 2, got {self.n_levels!r}")
            if self.width != 1:
                raise DiscountSimInputError("action_type 'discrete' supports one discount per action (width 1)")
        tau = self.offer_threshold
        if isinstance(tau, bool) or not isinstance(tau, numbers.Real) or not -1.0 <= float(tau) < 1.0:
            raise DiscountSimInputError(f"offer_threshold: expected a number in [-1, 1), got {tau!r}")
        if self.action_type == "discrete" and float(tau) != -1.0:
            raise DiscountSimInputError(
                f"offer_threshold: {tau!r} applies to continuous actions only; discrete level 0 is the no-offer action"
            )

    @cached_property
    def _zone(self) -> float:
        """The no-offer threshold as compared: the larger of it and its float32 rounding, so that an
        action equal to the threshold in an agent's float32 is no offer too."""
        return max(float(self.offer_threshold), float(np.float32(self.offer_threshold)))

    @property
    def levels(self) -> NDArray[np.float64]:
        """Discount of each discrete action, ``(n_levels,)``."""
        return np.linspace(0.0, self.d_max, self.n_levels)

    def space(self) -> spaces.Space:
        if self.action_type == "discrete":
            return spaces.Discrete(self.n_levels)
        return spaces.Box(-1.0, 1.0, shape=(self.width,), dtype=np.float32)

    def allowed(self, batch: int | None = None) -> str:
        """What an action (or a batch of ``batch`` actions) may be, for error messages."""
        if self.action_type == "discrete":
            one = f"an int in [0, {self.n_levels}) (Discrete({self.n_levels}))"
            return one if batch is None else f"an int array of shape ({batch},), each {one}"
        shape = (self.width,) if batch is None else (batch, self.width)
        return (
            f"a finite float array of shape {shape} in [-1, 1] (Box(-1, 1, ({self.width},), float32); "
            "values beyond -1 and 1 are clipped to them)"
        )

    def _error(self, actions: Any, batch: int | None, problem: str) -> DiscountSimInputError:
        shown = " ".join(repr(actions).split())
        if len(shown) > 200:
            shown = shown[:200] + "..."
        return DiscountSimInputError(f"action: {problem}, got {shown}; allowed: {self.allowed(batch)}")

    def to_discount(self, actions: NDArray, batch: int | None = None) -> NDArray[np.float64]:
        """Discounts for one action (``batch=None``) or a batch of ``batch`` actions.

        Returns:
            ``(width,)`` for one action, ``(batch, width)`` for a batch; fractions in [0, d_max].

        Raises:
            DiscountSimInputError: On a non-numeric, NaN, infinite, wrongly shaped or (discrete)
                out-of-range action, naming the action and what is allowed.
        """
        try:
            a = np.asarray(actions)
        except (TypeError, ValueError) as exc:  # e.g. a ragged list
            raise self._error(actions, batch, "not a numeric array") from exc
        if a.dtype.kind not in "iuf":  # strings, None (object), bools
            raise self._error(actions, batch, f"expected numbers, not {type(actions).__name__} of dtype {a.dtype}")
        if self.action_type == "discrete":
            expected: tuple[int, ...] = () if batch is None else (batch,)
            if a.shape not in (expected, (*expected, 1)):
                raise self._error(actions, batch, f"expected shape {expected} of level indices, not {a.shape}")
            if a.dtype.kind == "f" and (not np.all(np.isfinite(a)) or np.any(a != np.round(a))):
                raise self._error(actions, batch, "expected integer levels")
            index = a.astype(np.int64).reshape(expected)
            if np.any((index < 0) | (index >= self.n_levels)):
                raise self._error(actions, batch, f"level out of range 0 .. {self.n_levels - 1}")
            return self.levels[index].reshape(*expected, 1)
        expected = (self.width,) if batch is None else (batch, self.width)
        if a.shape != expected:
            raise self._error(actions, batch, f"expected shape {expected}, not {a.shape}")
        if not np.all(np.isfinite(a)):
            raise self._error(actions, batch, "NaN or infinite values")
        clipped = np.clip(a.astype(np.float64), -1.0, 1.0)
        if self.offer_threshold == -1.0:
            return (clipped + 1.0) * (0.5 * self.d_max)
        tau = self._zone
        return np.maximum(clipped - tau, 0.0) * (self.d_max / (1.0 - tau))

    def discount_of(self, action: Any) -> float:
        """``to_discount(action)[0]`` for one action of width 1, as a Python float, with fast paths
        for what agents pass (a ``(1,)`` float array, an int level); the same value bit for bit."""
        if self.width == 1:
            if self.action_type == "discrete":
                if type(action) is int or (isinstance(action, np.integer) and not isinstance(action, np.bool_)):
                    index = int(action)
                    if 0 <= index < self.n_levels:
                        return self._level_list[index]
            elif type(action) is np.ndarray and action.shape == (1,) and action.dtype.kind == "f":
                x = float(action[0])
                if math.isfinite(x):
                    # to_discount's clip and rescale, on a float: the same IEEE operations.
                    clipped = min(max(x, -1.0), 1.0)
                    if self.offer_threshold == -1.0:
                        return (clipped + 1.0) * (0.5 * self.d_max)
                    tau = self._zone
                    return max(clipped - tau, 0.0) * (self.d_max / (1.0 - tau))
        return float(self.to_discount(action)[0])

    @cached_property
    def _level_list(self) -> list[float]:
        return self.levels.tolist()

    def from_discount(self, discounts: NDArray) -> NDArray:
        """Actions that map to the given discounts, ``(batch,)`` -> ``(batch, width)`` or ``(batch,)`` levels.

        Continuous: the inverse of ``to_discount`` (no offer maps to -1). Discrete: the nearest level.

        Raises:
            ValueError: On NaN, infinite or out-of-range [0, d_max] discounts.
        """
        d = np.asarray(discounts, dtype=np.float64)
        if not np.all(np.isfinite(d)) or np.any((d < 0.0) | (d > self.d_max + 1e-9)):
            raise ValueError(f"discount: expected finite values in [0, {self.d_max}]")
        if self.action_type == "discrete":
            return np.abs(d.reshape(-1)[:, None] - self.levels[None, :]).argmin(axis=1)
        if self.offer_threshold == -1.0:
            actions = np.clip(d / self.d_max * 2.0 - 1.0, -1.0, 1.0).astype(np.float32)
        else:  # no offer: -1, deep in the zone; an offer: above the threshold, as to_discount reads it
            tau = self._zone
            actions = np.where(d > 0.0, np.clip(tau + d / self.d_max * (1.0 - tau), -1.0, 1.0), -1.0).astype(np.float32)
        return actions.reshape(-1, self.width)
