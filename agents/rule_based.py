"""The seeds' promotion rules: a behaviour score, discount tiers by score, and category depths.

score = w_browse * browse + w_purchase * purchases + w_review * reviews, each signal scaled to
[0, 1] from the observation (browse sessions this period, smoothed purchase frequency / 3,
reviews written), default weights 0.3 / 0.5 / 0.2. The tier depth is that of the highest tier
whose threshold the score reaches; the category depth of the shopper's preferred category is
added; the sum is clipped to [0, d_max].
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from discountsim.agents.base import DiscountPolicy
from discountsim.simulators import SimulatorParams, feature_index
from numpy.typing import NDArray

_FREQUENCY_SCALE = 3.0  # smoothed purchases at which the purchase signal saturates


class RuleBasedPolicy(DiscountPolicy):
    """Rule-based discounts from observable engagement and category.

    Args:
        scenario: Scenario whose observation layout and d_max the policy uses.
        weights: Score weights of the browse, purchase and review signals.
        tiers: ``(threshold, depth)`` pairs: a score >= threshold earns at least that tier's depth
            (the highest reached tier applies). Default: re-engage low scorers, reward high ones
            lightly.
        category_depths: Extra depth by preferred category name (others get 0).
    """

    name = "rule_based"

    def __init__(
        self,
        scenario: str | Path | SimulatorParams | dict[str, Any] = "default",
        weights: Sequence[float] = (0.3, 0.5, 0.2),
        tiers: Sequence[Sequence[float]] = ((0.0, 0.15), (0.3, 0.1), (0.6, 0.05)),
        category_depths: Mapping[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scenario, **kwargs)
        params = self.scenario
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (3,) or np.any(w < 0.0) or not np.isfinite(w).all():
            raise ValueError(f"weights: expected 3 non-negative numbers (browse, purchase, review), got {weights!r}")
        table = np.asarray(tiers, dtype=np.float64)
        if table.ndim != 2 or table.shape[1] != 2 or table.shape[0] == 0 or np.any(np.diff(table[:, 0]) <= 0):
            raise ValueError(f"tiers: expected (threshold, depth) pairs with increasing thresholds, got {tiers!r}")
        if np.any((table[:, 1] < 0.0) | (table[:, 1] > self.d_max)):
            raise ValueError(f"tiers: depths must lie in [0, {self.d_max}], got {table[:, 1].tolist()}")
        depths = {"electronics": 0.10, "clothing": 0.05} if category_depths is None else dict(category_depths)
        unknown = sorted(set(depths) - set(params.category_names))
        if unknown:
            raise ValueError(f"category_depths: unknown categories {unknown}; allowed: {list(params.category_names)}")
        self.weights, self.tiers, self.category_depths = w, table, depths
        self._columns = [feature_index(params, f) for f in ("browse", "frequency", "reviews")]
        first_category = feature_index(params, f"category={params.category_names[0]}")
        self._categories = slice(first_category, first_category + len(params.catalogue))
        self._category_depth = np.array([depths.get(c, 0.0) for c in params.category_names])

    def score(self, observations: NDArray[np.float32]) -> NDArray[np.float64]:
        """Behaviour score per shopper, ``(n,)``, in [0, sum(weights)]."""
        browse, frequency, reviews = (observations[:, j].astype(np.float64) for j in self._columns)
        signals = np.stack(
            [np.minimum(browse, 1.0), np.minimum(frequency / _FREQUENCY_SCALE, 1.0), np.minimum(reviews, 1.0)], axis=1
        )
        return signals @ self.weights

    def discounts(self, observations: NDArray[np.float32]) -> NDArray[np.float64]:
        tier = np.searchsorted(self.tiers[:, 0], self.score(observations), side="right") - 1
        tier_depth = np.where(tier >= 0, self.tiers[np.maximum(tier, 0), 1], 0.0)
        category = np.argmax(observations[:, self._categories], axis=1)
        return np.clip(tier_depth + self._category_depth[category], 0.0, self.d_max)

    def config(self) -> dict[str, Any]:
        return {
            **super().config(),
            "weights": self.weights.tolist(),
            "tiers": self.tiers.tolist(),
            "category_depths": self.category_depths,
        }
