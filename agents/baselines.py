"""Simple baselines: no discount, one uniform depth for everyone, and random offers on a grid."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from agents.base import DiscountPolicy


class NoDiscountPolicy(DiscountPolicy):
    """Never offers a discount: the counterfactual every other policy is measured against."""

    name = "no_discount"

    def discounts(self, observations: NDArray[np.float32]) -> NDArray[np.float64]:
        return np.zeros(observations.shape[0])


class UniformPolicy(DiscountPolicy):
    """Offers everyone the same depth every period.

    Args:
        depth: Discount offered (fraction of list price) in [0, d_max].
    """

    name = "uniform"

    def __init__(self, depth: float = 0.1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not np.isfinite(depth) or not 0.0 <= depth <= self.d_max:
            raise ValueError(f"depth: {depth!r} is outside the allowed range [0, {self.d_max}]")
        self.depth = float(depth)

    def discounts(self, observations: NDArray[np.float32]) -> NDArray[np.float64]:
        return np.full(observations.shape[0], self.depth)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "depth": self.depth}


class RandomPolicy(DiscountPolicy):
    """Offers each shopper a depth drawn uniformly from a grid (the default logging policy).

    Args:
        levels: Discount grid (fractions in [0, d_max]); each is drawn with probability 1 / len(levels).
        seed: Seed of the policy's own generator.
    """

    name = "random"

    def __init__(
        self, levels: Sequence[float] = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3), seed: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        grid = np.asarray(levels, dtype=np.float64)
        if grid.ndim != 1 or grid.size == 0 or np.any((grid < 0.0) | (grid > self.d_max)):
            raise ValueError(f"levels: expected a non-empty list of discounts in [0, {self.d_max}], got {levels!r}")
        self.levels = grid
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def discounts(self, observations: NDArray[np.float32]) -> NDArray[np.float64]:
        return self.levels[self.rng.integers(self.levels.size, size=observations.shape[0])]

    def propensity(self, discounts: NDArray[np.float64]) -> NDArray[np.float64]:
        """Probability with which this policy offers each given discount, ``(n,)``."""
        counts = (np.asarray(discounts)[:, None] == self.levels[None, :]).sum(axis=1)
        return counts / self.levels.size

    def config(self) -> dict[str, Any]:
        return {**super().config(), "levels": self.levels.tolist(), "seed": self.seed}
