"""Per-shopper arrays: latent traits, dynamic state and one period's outcome.

Every array's first axis is the shopper: shape ``(n_shoppers,)``. The single-shopper path
(``simulators.single``) runs the same equations on one shopper whose fields are Python scalars;
``select`` and ``as_float`` are the two operations written for both.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


def select(condition, if_true, if_false):
    """``np.where`` for arrays; a plain conditional for one shopper's scalars (the single-shopper path)."""
    if isinstance(condition, np.ndarray):
        return np.where(condition, if_true, if_false)
    return if_true if condition else if_false


def as_float(flag):
    """A boolean array as float64 0/1, or one shopper's flag as a Python float."""
    return flag.astype(np.float64) if isinstance(flag, np.ndarray) else float(flag)


def _take(obj, index):
    return type(obj)(**{f.name: _take_field(getattr(obj, f.name), index) for f in dataclasses.fields(obj)})


def _take_field(value, index):
    return _take(value, index) if dataclasses.is_dataclass(value) else value[index]


def _assign(target, mask, source) -> None:
    for f in dataclasses.fields(target):
        value = getattr(target, f.name)
        if dataclasses.is_dataclass(value):
            _assign(value, mask, getattr(source, f.name))
        else:
            value[mask] = getattr(source, f.name)


@dataclass
class ShopperTraits:
    """Latent, fixed traits of each shopper (never observed by policies).

    Attributes:
        segment: ``int8`` index into ``SimulatorParams.segment_names``.
        category: ``int8`` index of the preferred category (observed through the observation).
        intent: a_i, baseline purchase utility (logit).
        discount_sensitivity: b_i (logit per unit discount).
        gain_weight: g_i (logit per unit discount above reference).
        loss_weight: l_i (logit per unit discount below reference).
        reference_memory: w_i in [0, 1].
        fatigue_sensitivity: k_i (logit per unit fatigue).
        fatigue_churn: churn logit per unit fatigue.
        offer_churn: churn logit added in a period with an offer.
        stock_sensitivity: h_i (logit per basket of stock).
        forward_buying: phi_i (extra baskets per unit discount).
        basket_value: V_i, mean list-price basket value (currency), category scale included.
        margin: m of the preferred category, fraction of list price.
        churn_logit: logit of the base weekly churn probability.
        review_rate: probability of a review after a purchase.
        attributes: ``(n, n_attributes)`` ``int8`` level index of each observable attribute
            (``SimulatorParams.attribute_levels``); ``(n, 0)`` without attributes.
        member: the shopper is a paid member (``MembershipParams``); its ``churn_logit``
            includes the members' churn shift.
        member_price_cut: m_i, the member price below list (fraction); 0 for non-members.
        membership_fee: F_i, the fee paid per active period (currency); 0 for non-members.
    """

    segment: NDArray[np.int8]
    category: NDArray[np.int8]
    intent: Array
    discount_sensitivity: Array
    gain_weight: Array
    loss_weight: Array
    reference_memory: Array
    fatigue_sensitivity: Array
    fatigue_churn: Array
    offer_churn: Array
    stock_sensitivity: Array
    forward_buying: Array
    basket_value: Array
    margin: Array
    churn_logit: Array
    review_rate: Array
    attributes: NDArray[np.int8]
    member: NDArray[np.bool_]
    member_price_cut: Array
    membership_fee: Array


@dataclass
class ShopperState:
    """Dynamic state of each shopper at the start of a period.

    Attributes:
        key: ``uint64`` random-stream key of the shopper (see ``random_streams``).
        t: ``int64`` periods since this shopper entered the simulation.
        traits: latent traits.
        active: False once the shopper has churned; churned shoppers never buy again.
        reference: reference discount r (fraction of list price).
        fatigue: offer fatigue f (decayed offer count).
        stock: stock on hand s (baskets).
        satisfaction: exponentially smoothed purchase indicator in [0, 1].
        intent_shock: this period's intent shock eps (logit).
        recency: weeks since last purchase.
        frequency: exponentially smoothed purchase count (purchases per ~1 / (1 - memory) weeks).
        monetary: exponentially smoothed list-price value of purchases (currency).
        tenure: weeks since acquisition.
        last_discount: discount offered in the previous period.
        avg_discount: exponentially smoothed discount offered.
        offer_history: ``uint8`` bit mask, bit j set when an offer was sent j + 1 periods ago.
        reviews: product reviews written so far.
        browse: browse sessions in this period so far (a noisy signal of intent).
        cart: 1.0 when an item was added to the cart this period.
        purchased_last: 1.0 when the shopper bought in the previous period.
        weeks_seen, offer_weeks: smoothed count of weeks, and of weeks with an offer
            (``BehaviourParams.response_memory``).
        purchases_seen, offer_purchases: smoothed count of purchases, and of purchases in weeks
            with an offer (same memory).
    """

    key: NDArray[np.uint64]
    t: NDArray[np.int64]
    traits: ShopperTraits
    active: NDArray[np.bool_]
    reference: Array
    fatigue: Array
    stock: Array
    satisfaction: Array
    intent_shock: Array
    recency: Array
    frequency: Array
    monetary: Array
    tenure: Array
    last_discount: Array
    avg_discount: Array
    offer_history: NDArray[np.uint8]
    reviews: Array
    browse: Array
    cart: Array
    purchased_last: Array
    weeks_seen: Array
    offer_weeks: Array
    purchases_seen: Array
    offer_purchases: Array

    @property
    def n_shoppers(self) -> int:
        return int(self.key.shape[0])

    def take(self, index) -> ShopperState:
        """The state of the shoppers selected by ``index`` (a slice, mask or index array), copied."""
        return _take(self, index)

    def assign(self, mask: NDArray[np.bool_], source: ShopperState) -> None:
        """In place: overwrite the rows selected by ``mask`` with the rows of ``source``."""
        _assign(self, mask, source)

    def copy(self) -> ShopperState:
        return self.take(slice(None))


MONEY_FIELDS = ("revenue", "discount_cost", "offer_cost", "promotion_cost", "cogs", "profit")
"""The money fields of an ``Outcome`` (currency), in the order tables and infos show them: the one list."""


@dataclass
class Outcome:
    """What happened to each shopper in one period. Money in currency units at list price basis.

    Attributes:
        discount: discount actually offered (0 where the budget stopped the offer), fraction.
        offered: an offer was sent (discount > 0).
        redeemed: the shopper bought with the offered discount.
        purchase_probability: P(buy) at the offered discount and this period's state.
        purchased: the shopper bought.
        basket_value: list-price value V of the basket bought (0 without a purchase).
        revenue: V (1 - d) on a redeemed purchase, V on a full-price purchase; for a member,
            V (1 - m)(1 - d) and V (1 - m) at member price m, plus the membership fee F of every
            period the member starts active.
        discount_cost: V d on a redeemed purchase, V (1 - m) d for a member: the discount given away.
        offer_cost: cost of sending the offer (``offer_cost`` per non-zero offer).
        promotion_cost: discount_cost + offer_cost.
        cogs: cost of goods V (1 - m).
        profit: revenue - offer_cost - cogs (= V - promotion_cost - cogs without members).
        churned: the shopper churned at the end of this period.
        active: the shopper is still active after this period.
        segment: latent segment index (for breakdowns only).
    """

    discount: Array
    offered: NDArray[np.bool_]
    redeemed: NDArray[np.bool_]
    purchase_probability: Array
    purchased: NDArray[np.bool_]
    basket_value: Array
    revenue: Array
    discount_cost: Array
    offer_cost: Array
    promotion_cost: Array
    cogs: Array
    profit: Array
    churned: NDArray[np.bool_]
    active: NDArray[np.bool_]
    segment: NDArray[np.int8]

    def take(self, index) -> Outcome:
        return _take(self, index)
