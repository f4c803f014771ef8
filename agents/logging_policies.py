"""Logging policies built from a policy: what a shop runs while it collects a log, with exact propensities."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from discountsim.agents.base import DiscountPolicy
from numpy.typing import NDArray

SAME_OFFER = 1e-9
"""Two discounts closer than this are one offer (float sums such as 0.1 + 0.05 included)."""


@dataclass
class ExploringLogger:
    """A hand-written policy's discount, or a uniformly drawn grid level with probability ``epsilon``.

    The propensity of the offer made is exact: ``(1 - epsilon) * [d == policy's] + epsilon / k * [d in levels]``.

    Args:
        policy: The targeting policy (e.g. ``rule_based``), bound to the logged scenario.
        levels: The exploration grid (fractions of list price), ``k`` levels.
        epsilon: Probability of exploring, in [0, 1].
        seed: Seed of the logger's own generator (exploration draws only).
    """

    policy: DiscountPolicy
    levels: Sequence[float] = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3)
    epsilon: float = 0.2
    seed: int | None = None
    rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.levels = np.asarray(self.levels, dtype=np.float64)
        if (
            self.levels.ndim != 1
            or self.levels.size == 0
            or np.any((self.levels < 0) | (self.levels > self.policy.d_max))
        ):
            raise ValueError(f"levels: expected discounts in [0, {self.policy.d_max}], got {self.levels!r}")
        if not 0.0 <= self.epsilon <= 1.0:
            raise ValueError(f"epsilon: expected a probability in [0, 1], got {self.epsilon!r}")
        self.rng = np.random.default_rng(self.seed)

    def __call__(self, observations: NDArray[np.float32]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        n = observations.shape[0]
        targeted = np.asarray(self.policy.discounts(observations), dtype=np.float64)
        # A policy's 0.1 + 0.05 is 0.15000000000000002: the same offer as the grid's 0.15. Snapped to the
        # level, so that the log holds one value per offer and the propensity counts both ways to make it.
        near = np.abs(targeted[:, None] - self.levels[None, :]) <= SAME_OFFER
        targeted = np.where(near.any(axis=1), self.levels[near.argmax(axis=1)], targeted)
        explore = self.rng.random(n) < self.epsilon
        drawn = self.levels[self.rng.integers(0, self.levels.size, n)]
        discount = np.where(explore, drawn, targeted)
        on_grid = (discount[:, None] == self.levels[None, :]).any(axis=1)
        propensity = (1.0 - self.epsilon) * (discount == targeted) + self.epsilon / self.levels.size * on_grid
        return discount, propensity
