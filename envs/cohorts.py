"""Observable cohorts of shoppers: RFM recency tier x preferred category.

Segments are latent, so a marketer targets groups it can see. Recency tiers use the observed
weeks since last purchase: ``active`` (<= 4 weeks), ``lapsing`` (<= 13) and ``dormant`` (> 13).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from discountsim.simulators import SimulatorParams, feature_index
from discountsim.simulators.observation import category_slice
from numpy.typing import NDArray

RECENCY_TIERS = ("active", "lapsing", "dormant")
_LOG_53 = np.log(53.0)


@dataclass(frozen=True)
class CohortMap:
    """Assigns shoppers to cohorts from their observations.

    Args:
        params: Scenario (for the category list and observation layout).
        recency_cuts: Upper weeks-since-purchase bounds of the first tiers, ascending.
    """

    params: SimulatorParams
    recency_cuts: tuple[float, float] = (4.0, 13.0)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f"{tier}/{cat}" for tier in RECENCY_TIERS for cat in self.params.category_names)

    @property
    def n_cohorts(self) -> int:
        return len(RECENCY_TIERS) * len(self.params.catalogue)

    def assign(self, observations: NDArray[np.float32]) -> NDArray[np.int64]:
        """Cohort index of each shopper, ``(n,)``, from observations ``(n, n_features)``."""
        # Recency is observed as log(1 + weeks) / log(53); compare on that scale.
        cuts = (np.log1p(np.asarray(self.recency_cuts)) / _LOG_53).astype(np.float32)
        tier = np.searchsorted(cuts, observations[:, feature_index(self.params, "recency")], side="left")
        category = np.argmax(observations[:, category_slice(self.params)], axis=1)
        return tier * len(self.params.catalogue) + category
