"""Run a discount rule over a horizon and total each shopper's money and behaviour.

The same keys give the same shoppers with the same random draws, so two rules rolled out on
one set of keys are compared under common random numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from discountsim.simulators.budget import budget_left
from discountsim.simulators.config_schema import check_count
from discountsim.simulators.contact_cap import ContactCap, offers_in_last
from discountsim.simulators.disparity_floor import DisparityFloor, disparity_floor_arg
from discountsim.simulators.observation import observe
from discountsim.simulators.params import SimulatorParams
from discountsim.simulators.population import initial_state
from discountsim.simulators.state import MONEY_FIELDS, ShopperState
from discountsim.simulators.transition import check_discount, offers_sent, transition
from numpy.typing import NDArray

DiscountRule = Callable[[NDArray[np.float32], ShopperState], NDArray]
"""Maps observations ``(n, n_features)`` and the true state to a discount per shopper ``(n,)`` in [0, d_max].

Only privileged rules (the oracles) may read the state; every other policy sees observations only.
"""


@dataclass
class RolloutTotals:
    """Per-shopper totals over a horizon, every array ``(n_shoppers,)``; money in currency.

    Attributes:
        profit, revenue, discount_cost, offer_cost, promotion_cost, cogs: summed over periods.
        purchases: number of periods with a purchase.
        offers: number of periods with an offer sent.
        discount_sum: sum of discounts offered (fractions), for the average discount given.
        active: still active (not churned) at the end of the horizon.
        segment: latent segment index.
        profit_by_period: ``(horizon,)`` population profit per period (currency).
        initial_observation: ``(n_shoppers, n_features)`` what the marketer saw in the first
            period (for breakdowns by observable cohort).
        final_state: The shoppers after the last period (a later rollout can continue from it).
        max_window_offers: Most offers each shopper got in any ``window_periods`` consecutive
            periods of this rollout (periods before it count towards windows that end in it).
        window_periods: The window of ``max_window_offers``: the contact cap's, or 4 without one.
        attributes: ``(n_shoppers, n_attributes)`` level of each observable attribute.
    """

    profit: NDArray[np.float64]
    revenue: NDArray[np.float64]
    discount_cost: NDArray[np.float64]
    offer_cost: NDArray[np.float64]
    promotion_cost: NDArray[np.float64]
    cogs: NDArray[np.float64]
    purchases: NDArray[np.float64]
    offers: NDArray[np.float64]
    discount_sum: NDArray[np.float64]
    active: NDArray[np.bool_]
    segment: NDArray[np.int8]
    profit_by_period: NDArray[np.float64]
    initial_observation: NDArray[np.float32]
    final_state: ShopperState | None = field(default=None, repr=False)
    max_window_offers: NDArray[np.int8] | None = None
    window_periods: int = 4
    attributes: NDArray[np.int8] | None = None


_SUMMED = MONEY_FIELDS


def rollout(
    params: SimulatorParams,
    keys: NDArray[np.uint64],
    rule: DiscountRule,
    horizon: int,
    budget_per_period: float | None = None,
    state: ShopperState | None = None,
    contact_cap: ContactCap | None = None,
    campaign_budget: float | None = None,
    disparity_floor: DisparityFloor | float | None = None,
) -> RolloutTotals:
    """Simulate the shoppers with ``keys`` for ``horizon`` periods under ``rule``.

    Args:
        params: The scenario.
        keys: ``(n,)`` uint64 shopper keys.
        rule: Discount rule, called once per period with the current observations and state.
        horizon: Number of periods.
        budget_per_period: Promotion budget for the whole population, renewed every period
            (currency; unspent money does not carry over), or None for none. Each period it is the
            ``budget_left`` of ``transition``.
        state: Continue these shoppers (``final_state`` of an earlier rollout on the same ``keys``)
            instead of starting them afresh; their random draws go on from where they stopped.
        contact_cap: Offers the cap forbids are not sent (``ContactCap.project``), whatever the
            rule asked, before the budget (if any) is applied; None: no cap.
        campaign_budget: Promotion budget for the whole horizon, all shoppers together (currency;
            unspent money carries over), alone or with ``budget_per_period`` (the tighter binds);
            None for none. The same notion as ``envs.CampaignEnv``'s.
        disparity_floor: First offers the floor forbids are not sent (``DisparityFloor.project``),
            after the contact cap and after dropping the offers the budget cannot send, so that the
            budget withholds nothing the floor counted on; a ratio, a ``DisparityFloor`` or None
            (no floor). Shares count from the start of this rollout.
    """
    horizon = check_count("horizon", horizon)
    for name, amount in (("budget_per_period", budget_per_period), ("campaign_budget", campaign_budget)):
        if amount is not None and not (np.isfinite(amount) and amount >= 0.0):
            raise ValueError(f"{name}: expected a finite amount >= 0 (currency), got {amount}")
    disparity_floor = disparity_floor_arg(disparity_floor, params)
    if state is None:
        state = initial_state(params, keys)
    elif state.n_shoppers != len(keys):
        raise ValueError(f"state: holds {state.n_shoppers} shoppers, keys {len(keys)}; expected the same shoppers")
    n = state.n_shoppers
    totals = {name: np.zeros(n) for name in (*_SUMMED, "purchases", "offers", "discount_sum")}
    by_period = np.zeros(horizon)
    window = 4 if contact_cap is None else contact_cap.window
    most = np.zeros(n, dtype=np.int8)
    campaign_left = campaign_budget
    first = observe(params, state)
    for t in range(horizon):
        observation = first if t == 0 else observe(params, state)
        discount = rule(observation, state)
        if contact_cap is not None:
            discount = contact_cap.project(state, check_discount(params, discount, n))
        left = budget_left(budget_per_period, campaign_left)
        if disparity_floor is not None:  # after the offers the budget cannot send, which it would otherwise drop
            discount = disparity_floor.project(state, offers_sent(params, state, discount, left), totals["offers"] > 0)
        state, outcome = transition(params, state, discount, left)
        if campaign_left is not None:  # as envs.CampaignEnv keeps it
            campaign_left = max(campaign_left - float(outcome.promotion_cost.sum()), 0.0)
        np.maximum(most, offers_in_last(state, window), out=most)
        for name in _SUMMED:
            totals[name] += getattr(outcome, name)
        totals["purchases"] += outcome.purchased
        totals["offers"] += outcome.offered
        totals["discount_sum"] += outcome.discount
        by_period[t] = outcome.profit.sum()
    return RolloutTotals(
        **totals,
        active=state.active,
        segment=state.traits.segment,
        profit_by_period=by_period,
        initial_observation=first,
        final_state=state,
        max_window_offers=most,
        window_periods=window,
        attributes=state.traits.attributes,
    )
