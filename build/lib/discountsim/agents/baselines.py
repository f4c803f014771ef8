"""Simple baselines: no discount, one uniform depth for everyone, and random offers on a grid."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from discountsim.agents.base import DiscountPolicy
from discountsim.simulators import RandomGridLoggingPolicy
from numpy.typing import NDArray


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
    """Offers each shopper a depth drawn uniformly from a grid: the default logging policy.

    The draws are ``simulators.RandomGridLoggingPolicy``'s, so a log generated with it and this
    policy's offers come from one sampler with one propensity rule.

    Args:
        levels: Discount grid (fractions in [0, d_max]); each is drawn with probability 1 / len(levels).
        seed: Seed of the policy's own generator.
    """

    name = "random"

    def __init__(
        self, levels: Sequence[float] = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3), seed: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if np.any(np.asarray(levels, dtype=np.float64) > self.d_max):
            raise ValueError(f"levels: expected a non-empty list of discounts in [0, {self.d_max}], got {levels!r}")
        self.sampler = RandomGridLoggingPolicy(levels, seed=seed)
        self.seed = seed

    @property
    def levels(self) -> NDArray[np.float64]:
        return self.sampler.levels

    def discounts(self, observations: NDArray[np.float32]) -> NDArray[np.float64]:
        return self.sampler(observations)[0]

    def propensity(self, discounts: NDArray[np.float64]) -> NDArray[np.float64]:
        """Probability with which this policy offers each given discount, ``(n,)``."""
        return (np.asarray(discounts)[:, None] == self.levels[None, :]) @ self.sampler.probabilities

    def config(self) -> dict[str, Any]:
        return {**super().config(), "levels": self.levels.tolist(), "seed": self.seed}
