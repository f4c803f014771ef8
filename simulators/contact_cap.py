"""Contact cap: at most ``max_offers`` offers to a shopper in any ``window`` consecutive periods.

CRM teams cap how often a customer may be contacted, to limit the fatigue and unsubscribes that
over-contact causes (frequency capping, as in e-mail marketing and online advertising; the
offer-fatigue dynamics it guards against are in ``dynamics.py``). The cap is enforced by projection onto the feasible
set, the same for every policy: an offer to a shopper who already received ``max_offers`` offers
in the last ``window - 1`` periods is not sent (the shopper sees no discount). Any window of
``window`` consecutive periods then holds at most ``max_offers`` offers, whatever the policy asked.

The count uses ``ShopperState.offer_history`` (bit j set when an offer was sent j + 1 periods
ago), which holds eight periods, so windows of 1 to 8 periods can be capped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from discountsim.simulators.errors import DiscountSimInputError
from discountsim.simulators.state import ShopperState
from discountsim.simulators.transition import offers_in_last
from numpy.typing import NDArray

MAX_WINDOW = 8
"""Longest window the offer history can count (``offer_history`` is a ``uint8`` bit mask)."""


@dataclass(frozen=True)
class ContactCap:
    """At most ``max_offers`` offers per shopper in any ``window`` consecutive periods.

    Attributes:
        max_offers: Offers allowed per window (k >= 1).
        window: Periods per window (1 to 8; 4 = "any 4 weeks").
    """

    max_offers: int
    window: int = 4

    def __post_init__(self) -> None:
        for name, value, low, high in (
            ("max_offers", self.max_offers, 1, None),
            ("window", self.window, 1, MAX_WINDOW),
        ):
            bad = isinstance(value, bool) or not isinstance(value, int | np.integer)
            if bad or value < low or (high is not None and value > high):
                allowed = f"an integer >= {low}" if high is None else f"an integer in [{low}, {high}]"
                raise DiscountSimInputError(f"contact_cap.{name}: expected {allowed}, got {value!r}")

    def allowed(self, state: ShopperState) -> NDArray[np.bool_]:
        """``(n_shoppers,)``: whether an offer may be sent this period without breaking the cap."""
        return offers_in_last(state, self.window - 1) < self.max_offers

    def project(self, state: ShopperState, discount: NDArray[np.float64]) -> NDArray[np.float64]:
        """The discounts with every offer the cap forbids set to 0, ``(n_shoppers,)`` fractions."""
        return np.where(self.allowed(state), discount, 0.0)

    def config(self) -> dict[str, int]:
        """The cap as a mapping (``contact_cap`` in a job config)."""
        return {"max_offers": self.max_offers, "window": self.window}


def contact_cap_arg(value: Any) -> ContactCap | None:
    """A ``contact_cap`` setting as a ``ContactCap``: None, a ``ContactCap``, or ``{max_offers: k, window: w}``."""
    if value is None or isinstance(value, ContactCap):
        return value
    if not isinstance(value, Mapping):
        raise DiscountSimInputError(
            f"contact_cap: expected null (no cap) or {{max_offers: k, window: w}}, got {value!r}"
        )
    unknown = sorted(set(value) - {"max_offers", "window"})
    if unknown or "max_offers" not in value:
        raise DiscountSimInputError(
            f"contact_cap: expected keys max_offers (required) and window (default 4), got {sorted(value)}"
        )
    settings = {str(k): v for k, v in value.items() if not (k == "window" and v is None)}  # null: the default
    for key, v in settings.items():  # 2.0 from a YAML or CLI is the integer 2, as the job config reads it
        if isinstance(v, float) and v.is_integer():
            settings[key] = int(v)
    return ContactCap(**settings)
