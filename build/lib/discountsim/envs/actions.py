"""Mapping agent actions to discount depths.

Continuous: ``Box(-1, 1)`` (what SB3's checker recommends), rescaled linearly to [0, d_max];
values outside [-1, 1] are clipped to it (SB3 clips too, but sampled actions of other agents may
overshoot). Discrete: ``Discrete(k)`` picks one of ``k`` evenly spaced levels 0, ..., d_max (for DQN).
NaN, infinite and wrongly shaped actions raise ``ValueError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
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
    """

    d_max: float
    action_type: ActionType = "continuous"
    n_levels: int = 11
    width: int = 1

    def __post_init__(self) -> None:
        if self.action_type not in ACTION_TYPES:
            raise ValueError(f"action_type: {self.action_type!r} is not one of {list(ACTION_TYPES)}")
        if self.action_type == "discrete":
            if int(self.n_levels) != self.n_levels or self.n_levels < 2:
                raise ValueError(f"n_levels: expected an integer >= 2, got {self.n_levels!r}")
            if self.width != 1:
                raise ValueError("action_type 'discrete' supports one discount per action (width 1)")

    @property
    def levels(self) -> NDArray[np.float64]:
        """Discount of each discrete action, ``(n_levels,)``."""
        return np.linspace(0.0, self.d_max, self.n_levels)

    def space(self) -> spaces.Space:
        if self.action_type == "discrete":
            return spaces.Discrete(self.n_levels)
        return spaces.Box(-1.0, 1.0, shape=(self.width,), dtype=np.float32)

    def to_discount(self, actions: NDArray, batch: int | None = None) -> NDArray[np.float64]:
        """Discounts for one action (``batch=None``) or a batch of ``batch`` actions.

        Returns:
            ``(width,)`` for one action, ``(batch, width)`` for a batch; fractions in [0, d_max].
        """
        a = np.asarray(actions)
        if self.action_type == "discrete":
            expected: tuple[int, ...] = () if batch is None else (batch,)
            if a.shape not in (expected, (*expected, 1)):
                raise ValueError(f"action: expected shape {expected} of level indices, got {a.shape}")
            if not np.issubdtype(a.dtype, np.integer):
                if not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
                    raise ValueError(f"action: expected integer levels in [0, {self.n_levels - 1}], got {a!r}")
            index = a.astype(np.int64).reshape(expected)
            if np.any((index < 0) | (index >= self.n_levels)):
                raise ValueError(f"action: level out of range; allowed: 0 .. {self.n_levels - 1}")
            return self.levels[index].reshape(*expected, 1)
        expected = (self.width,) if batch is None else (batch, self.width)
        if a.shape != expected:
            raise ValueError(f"action: expected shape {expected}, got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError("action: NaN or infinite values; allowed: finite values in [-1, 1]")
        return (np.clip(a.astype(np.float64), -1.0, 1.0) + 1.0) * (0.5 * self.d_max)

    def from_discount(self, discounts: NDArray) -> NDArray:
        """Actions that map to the given discounts, ``(batch,)`` -> ``(batch, width)`` or ``(batch,)`` levels.

        Continuous: the exact inverse of ``to_discount``. Discrete: the nearest level.

        Raises:
            ValueError: On NaN, infinite or out-of-range [0, d_max] discounts.
        """
        d = np.asarray(discounts, dtype=np.float64)
        if not np.all(np.isfinite(d)) or np.any((d < 0.0) | (d > self.d_max + 1e-9)):
            raise ValueError(f"discount: expected finite values in [0, {self.d_max}]")
        if self.action_type == "discrete":
            return np.abs(d.reshape(-1)[:, None] - self.levels[None, :]).argmin(axis=1)
        actions = np.clip(d / self.d_max * 2.0 - 1.0, -1.0, 1.0).astype(np.float32)
        return actions.reshape(-1, self.width)
