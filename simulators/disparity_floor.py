"""Disparity floor: every attribute level's offered share at least ``floor`` times the largest.

The fairness view (``agents.evaluation.fairness``) measures, per observable attribute (region, age
band, ...), the share of each level's shoppers offered anything so far, and the disparity ratio
min / max over levels; the four-fifths rule (0.8) is the threshold people know. This module holds
every policy to such a floor by projection onto the feasible set, the same for every policy:

* each period, a first offer to a shopper never offered before counts towards its levels' shares;
* if, with this period's first offers, a level's share would exceed ``lowest share / floor`` for
  some attribute, that level's first offers are withheld, latest arrival first (the order of the
  period's ``Slot.ARRIVAL`` uniforms, which the budget also serves by), until it does not;
  withholding offers in one attribute's level lowers shares in the others, so this repeats until
  nothing changes (the kept set only shrinks, so it ends);
* offers to shoppers offered before are never withheld: they do not change any share.

The shares are monotone in time and the lowest share never falls, so if the ratio holds before a
period it holds after it: every prefix of the horizon, and the horizon, meets the floor. This is
"levelling down": it never adds an offer, so it costs no promotion money, but it serves the
over-offered levels less rather than the under-offered ones more (Mittelstadt, Wachter & Russell,
2023, on levelling down in fair machine learning).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from discountsim.simulators.errors import DiscountSimInputError
from discountsim.simulators.random_streams import Slot, period_uniforms
from discountsim.simulators.state import ShopperState
from numpy.typing import NDArray

_MAX_ROUNDS = 64  # rounds over the attributes; each round either changes nothing or withholds an offer


@dataclass(frozen=True)
class DisparityFloor:
    """Every attribute level's offered share at least ``floor`` times the largest level's.

    Attributes:
        floor: The ratio to hold, in (0, 1]; 0.8 is the four-fifths rule.
    """

    floor: float = 0.8

    def __post_init__(self) -> None:
        value = self.floor
        ok = isinstance(value, int | float | np.floating) and not isinstance(value, bool)
        if not ok or not 0.0 < float(value) <= 1.0:
            raise DiscountSimInputError(
                f"disparity_floor: expected a ratio in (0, 1] (0.8: four-fifths rule), got {value!r}"
            )

    def project(
        self, state: ShopperState, discount: NDArray[np.float64], offered_before: NDArray[np.bool_]
    ) -> NDArray[np.float64]:
        """The discounts with the first offers the floor forbids set to 0, ``(n_shoppers,)`` fractions.

        Args:
            state: The shoppers at the start of this period (attributes, keys and period are used).
            discount: ``(n,)`` the discounts the policy asked for.
            offered_before: ``(n,)`` whether each shopper was offered anything in an earlier period.
        """
        attributes = state.traits.attributes
        first = (discount > 0.0) & ~offered_before
        if attributes.shape[1] == 0 or not first.any():
            return discount
        arrival = period_uniforms(state.key, state.t)[Slot.ARRIVAL]
        kept = first.copy()
        for _ in range(_MAX_ROUNDS):
            changed = False
            for j in range(attributes.shape[1]):
                withheld = self._withheld(attributes[:, j], offered_before, kept, arrival)
                if withheld.any():
                    kept &= ~withheld
                    changed = True
            if not changed:
                break
        return np.where(first & ~kept, 0.0, discount)

    def _withheld(
        self, codes: NDArray[np.int8], before: NDArray[np.bool_], kept: NDArray[np.bool_], arrival: NDArray
    ) -> NDArray[np.bool_]:
        """First offers of one attribute to withhold: in each level over the cap, the latest arrivals."""
        n_levels = int(codes.max()) + 1
        size = np.bincount(codes, minlength=n_levels).astype(np.float64)
        offered = np.bincount(codes, weights=before | kept, minlength=n_levels)
        present = size > 0
        share = np.where(present, offered / np.where(present, size, 1.0), np.inf)
        cap = share[present].min() / self.floor
        # Shoppers a level may have offered: its share at most the cap (a hair of slack for rounding).
        allowed = np.floor(cap * size + 1e-9)
        excess = offered - allowed
        if not (excess > 0).any():
            return np.zeros(codes.size, dtype=bool)
        candidates = np.flatnonzero(kept & (excess[codes] > 0))
        # Within each level, rank its kept first offers from the latest arrival: the first ``excess`` go.
        order = candidates[np.lexsort((-arrival[candidates], codes[candidates]))]
        level = codes[order]
        start = np.searchsorted(level, level, side="left")
        rank = np.arange(order.size) - start
        withheld = np.zeros(codes.size, dtype=bool)
        withheld[order[rank < excess[level]]] = True
        return withheld

    def config(self) -> dict[str, float]:
        """The floor as a mapping (``disparity_floor`` in a job config)."""
        return {"floor": self.floor}


def disparity_floor_arg(value: Any) -> DisparityFloor | None:
    """A ``disparity_floor`` setting as a ``DisparityFloor``: None, a ``DisparityFloor``, a ratio, or ``{floor: r}``."""
    if value is None or isinstance(value, DisparityFloor):
        return value
    if isinstance(value, Mapping):
        if set(value) != {"floor"}:
            raise DiscountSimInputError(f"disparity_floor: expected a ratio or {{floor: r}}, got keys {sorted(value)}")
        value = value["floor"]
    if isinstance(value, str | bytes) or isinstance(value, bool):
        raise DiscountSimInputError(f"disparity_floor: expected a ratio in (0, 1] or null, got {value!r}")
    return DisparityFloor(value)
