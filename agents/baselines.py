"""Simple baselines: no discount, one uniform depth for everyone, and random offers on a grid."""

from __future__ import annotations

import numbers
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
        seed: Which stream of draws, an integer >= 0 or None. Called directly, the policy draws from
            ``default_rng(seed)``. In an evaluation the evaluator reseeds it (``reseed``) from the
            evaluation seed, mixed with this ``seed`` when it is given, so the same evaluation seed
            gives the same offers and another seed other offers.
    """

    name = "random"

    def __init__(
        self, levels: Sequence[float] = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3), seed: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if np.any(np.asarray(levels, dtype=np.float64) > self.d_max):
            raise ValueError(f"levels: expected a non-empty list of discounts in [0, {self.d_max}], got {levels!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0):
            raise ValueError(f"seed: expected an integer >= 0 or null, got {seed!r}")
        self.sampler = RandomGridLoggingPolicy(levels, seed=seed)
        self.seed = None if seed is None else int(seed)

    @property
    def levels(self) -> NDArray[np.float64]:
        return self.sampler.levels

    def discounts(self, observations: NDArray[np.float32]) -> NDArray[np.float64]:
        return self.sampler(observations)[0]

    def reseed(self, seed: np.random.SeedSequence) -> None:
        """Draw from ``seed`` from now on (mixed with this policy's own ``seed``, if any)."""
        if self.seed is not None:
            seed = np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, self.seed))
        self.sampler.rng = np.random.default_rng(seed)

    def propensity(self, discounts: NDArray[np.float64]) -> NDArray[np.float64]:
        """Probability with which this policy offers each given discount, ``(n,)``."""
        return (np.asarray(discounts)[:, None] == self.levels[None, :]) @ self.sampler.probabilities

    def config(self) -> dict[str, Any]:
        return {**super().config(), "levels": self.levels.tolist(), "seed": self.seed}
