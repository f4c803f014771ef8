"""Disparity floor: every attribute level's offered share at least ``floor`` times the largest.

The fairness view (``agents.evaluation.fairness``) measures, per observable attribute (region, age
band, ...), the share of each level's shoppers offered anything so far, and the disparity ratio
min / max over levels; the four-fifths rule (0.8) is the threshold people know. This module holds
every policy to such a floor by projection onto the feasible set, the same for every policy:

* each period, a first offer to a shopper never offered before counts towards its levels' shares;
* while, with this period's first offers, some attribute's lowest level share is below ``floor``
  times its highest, first offers are withheld greedily: those whose levels are the most
  over-offered (the sum over attributes of the level's share / that attribute's lowest share)
  first, ties latest arrival first (the period's ``Slot.ARRIVAL`` uniforms, which the budget also
  serves by), a tenth of the offers over the caps per pass (at least one), until the ratio holds
  for every attribute (at the latest when no first offer is left);
* offers to shoppers offered before are never withheld: they do not change any share.

Withholding every first offer leaves the shares of the period before, which met the floor, so the
floor holds after every period: over every prefix of the horizon, and the horizon. Under a budget,
``rollout`` drops the offers the budget cannot send before this projection, so the budget never
withholds an offer the floor counted on. This is
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
from discountsim.simulators.params import SimulatorParams
from discountsim.simulators.random_streams import Slot, period_uniforms
from discountsim.simulators.state import ShopperState
from numpy.typing import NDArray


@dataclass(frozen=True)
class DisparityFloor:
    """Every attribute level's offered share at least ``floor`` times the largest level's.

    Attributes:
        floor: The ratio to hold, in (0, 1]; 0.8 is the four-fifths rule.
    """

    floor: float = 0.8

    def __post_init__(self) -> None:
        value = self.floor
        ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool | np.bool_)
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
        while kept.any():
            offered = offered_before | kept
            counts = [_counts(attributes[:, j], offered) for j in range(attributes.shape[1])]
            shares = [_shares(size, count) for size, count in counts]
            lows = [float(share[np.isfinite(share)].min()) for share in shares]
            highs = [float(share[np.isfinite(share)].max()) for share in shares]
            if all(high == 0.0 or low >= self.floor * high - 1e-12 for low, high in zip(lows, highs, strict=True)):
                break
            # How over-offered each kept first offer's levels are, summed over attributes.
            candidates = np.flatnonzero(kept)
            score = np.zeros(candidates.size)
            for j, (share, low) in enumerate(zip(shares, lows, strict=True)):
                score += share[attributes[candidates, j]] / max(low, 1e-9)
            # A tenth of the offers over the caps per pass (at least one), the most over-offered first and,
            # among equals, the latest arrival: close to withholding them one at a time, in few passes.
            over = sum(_excess(size, count, low, self.floor) for (size, count), low in zip(counts, lows, strict=True))
            batch = max(1, int(np.ceil(0.1 * over)))
            order = candidates[np.lexsort((-arrival[candidates], -score))]
            kept[order[:batch]] = False
        return np.where(first & ~kept, 0.0, discount)

    def config(self) -> dict[str, float]:
        """The floor as a mapping (``disparity_floor`` in a job config)."""
        return {"floor": self.floor}


def _counts(codes: NDArray[np.int8], offered: NDArray[np.bool_]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Shoppers and shoppers offered in each level of one attribute."""
    size = np.bincount(codes, minlength=int(codes.max()) + 1).astype(np.float64)
    return size, np.bincount(codes, weights=offered, minlength=size.size)


def _shares(size: NDArray[np.float64], count: NDArray[np.float64]) -> NDArray[np.float64]:
    """Offered share of each level, ``inf`` for a level without shoppers."""
    return np.where(size > 0, count / np.where(size > 0, size, 1.0), np.inf)


def _excess(size: NDArray[np.float64], count: NDArray[np.float64], lowest: float, floor: float) -> float:
    """Offers above the caps (``lowest`` share / floor) of one attribute's levels, summed."""
    return float(np.maximum(count - np.floor(lowest / floor * size + 1e-9), 0.0).sum())


def disparity_floor_arg(value: Any, params: SimulatorParams | None = None) -> DisparityFloor | None:
    """A ``disparity_floor`` setting as a ``DisparityFloor``: None, a ``DisparityFloor``, a ratio, or ``{floor: r}``.

    With ``params``, a floor on a scenario whose shoppers have no attributes is refused as well.
    """
    if value is None or isinstance(value, DisparityFloor):
        floor = value
    else:
        if isinstance(value, Mapping):
            if set(value) != {"floor"}:
                raise DiscountSimInputError(
                    f"disparity_floor: expected a ratio or {{floor: r}}, got keys {sorted(value)}"
                )
            value = value["floor"]
        if isinstance(value, str | bytes) or isinstance(value, bool):
            raise DiscountSimInputError(f"disparity_floor: expected a ratio in (0, 1] or null, got {value!r}")
        floor = DisparityFloor(value)
    if floor is not None and params is not None and not params.attribute_levels:
        raise DiscountSimInputError(
            f"disparity_floor: scenario {params.name!r} gives its shoppers no attributes to hold a floor across; "
            "set segments' attributes (as default.yaml does) or drop the floor"
        )
    return floor
