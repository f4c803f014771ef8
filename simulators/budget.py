"""First-come-first-served promotion budget.

A campaign's budget pays for offers sent and discounts redeemed. Offers are sent, and coupons
redeemed, in the order shoppers arrive during the period (a random order drawn per shopper);
once the next cost would exceed what is left, later shoppers get nothing. This is how "while
budget lasts" coupon pools behave, and it guarantees that spending never exceeds the budget.

Names, one meaning each: ``budget_left`` is the money still available when costs are charged
(``within_budget``, ``transition``); ``budget_per_period`` is a cap renewed every period;
``campaign_budget`` is one amount for a whole horizon, whose unspent part is carried to the next
period. Both are taken, alone or together (the tighter binds), by ``rollout``, ``agents.evaluate``
and ``envs.CampaignEnv`` alike, and ``budget_left`` turns them into each period's money.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def within_budget(costs: NDArray[np.float64], order: NDArray[np.intp], budget_left: float) -> NDArray[np.bool_]:
    """Which costs are paid when they are charged in ``order`` against ``budget_left``.

    Args:
        costs: ``(n,)`` non-negative cost of each shopper's claim (currency).
        order: ``(n,)`` permutation of shopper indices: the order of arrival.
        budget_left: Money left to pay them from (currency).

    Returns:
        ``(n,)`` bool: True for the claims paid, i.e. the longest prefix of arrivals whose
        cumulative cost fits in the budget. Zero-cost claims are always "paid".
    """
    paid = np.zeros(costs.shape[0], dtype=bool)
    cumulative = np.cumsum(costs[order])
    paid[order] = cumulative <= budget_left
    return paid | (costs == 0.0)


def budget_left(budget_per_period: float | None, campaign_left: float | None) -> float | None:
    """Money available this period: the weekly cap, what the campaign has left, or the smaller of the two.

    Args:
        budget_per_period: Cap renewed every period (currency), or None.
        campaign_left: What is left of the campaign budget after earlier periods (currency; the
            campaign budget minus what was spent, never below 0), or None without one.

    Returns:
        The period's ``budget_left`` for ``transition`` (currency), or None when there is no budget.
    """
    if budget_per_period is None:
        return campaign_left
    return budget_per_period if campaign_left is None else min(budget_per_period, campaign_left)
