"""One period for all shoppers: offers, purchases, money, churn and state updates.

Pure functions in the style of Gymnasium's ``FuncEnv`` and gymnax: ``transition`` maps a state
and a discount per shopper to the next state and the period's outcome, with randomness taken
from each shopper's own counter-based stream (its key and period), so it is deterministic given
the state.
"""

from __future__ import annotations

import numpy as np
from discountsim.simulators import dynamics
from discountsim.simulators.budget import within_budget
from discountsim.simulators.params import SimulatorParams
from discountsim.simulators.population import draw_signals, initial_state
from discountsim.simulators.random_streams import Slot, box_muller, period_uniforms
from discountsim.simulators.state import Outcome, ShopperState
from numpy.typing import NDArray

_RECENT_OFFER_WINDOW = 4
_LOW_BITS = np.uint8((1 << _RECENT_OFFER_WINDOW) - 1)
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.int8)


def check_discount(params: SimulatorParams, discount: NDArray, n_shoppers: int) -> NDArray[np.float64]:
    """Validate a discount per shopper and return it as float64 ``(n_shoppers,)``.

    Raises:
        ValueError: On a wrong shape, a NaN or infinite value, or a value outside [0, d_max].
    """
    d = np.asarray(discount, dtype=np.float64)
    if d.ndim == 0:
        d = np.full(n_shoppers, float(d))
    if d.shape != (n_shoppers,):
        raise ValueError(f"discount: expected shape ({n_shoppers},) (one per shopper), got {d.shape}")
    if not np.all(np.isfinite(d)):
        bad = int(np.flatnonzero(~np.isfinite(d))[0])
        raise ValueError(f"discount: NaN or infinite value {d[bad]} for shopper {bad}; allowed: [0, {params.d_max}]")
    if d.size and (d.min() < 0.0 or d.max() > params.d_max + 1e-12):
        bad = int(np.flatnonzero((d < 0.0) | (d > params.d_max + 1e-12))[0])
        raise ValueError(f"discount: value {d[bad]} for shopper {bad} is outside the allowed range [0, {params.d_max}]")
    return np.minimum(d, params.d_max)


def recent_offers(state: ShopperState) -> NDArray[np.int8]:
    """Number of offers sent in the last four periods, ``(n,)``."""
    return _POPCOUNT[state.offer_history & _LOW_BITS]


def transition(
    params: SimulatorParams,
    state: ShopperState,
    discount: NDArray,
    budget: float | None = None,
) -> tuple[ShopperState, Outcome]:
    """Advance every shopper by one period.

    Order of events in period t: offers are sent (within the budget, if any); each active shopper
    buys with probability sigmoid(u) (see ``dynamics.purchase_utility``); money is booked; the
    shopper may churn; reference, fatigue, stock, history and next period's intent shock and
    browse/cart signals are updated.

    Args:
        params: The scenario.
        state: State at the start of period t (not modified).
        discount: ``(n,)`` discount offered to each shopper, a fraction in [0, d_max]; a scalar is
            offered to everyone.
        budget: Money left for promotion costs this period (currency), or None for no limit.
            Offer costs and redeemed discounts are charged first come, first served, and their
            total never exceeds it; an offer that no longer fits is not sent, and a shopper whose
            coupon no longer fits at checkout decides at list price.

    Returns:
        The state at the start of period t + 1 and the outcome of period t.
    """
    n = state.n_shoppers
    d = check_discount(params, discount, n)
    if budget is not None and not (np.isfinite(budget) and budget >= 0.0):
        raise ValueError(f"budget: expected a finite amount >= 0 (currency), got {budget}")
    traits = state.traits
    behaviour = params.behaviour
    u = period_uniforms(state.key, state.t)

    order = np.argsort(u[Slot.ARRIVAL], kind="stable") if budget is not None else None
    offered = d > 0.0
    offer_cost = params.offer_cost * offered
    if order is not None:
        sent = within_budget(offer_cost, order, budget)
        offered &= sent
        d = np.where(sent, d, 0.0)
        offer_cost = params.offer_cost * offered

    week = dynamics.week_of_year(params.seasonality, state.t)
    season = dynamics.season_by_week(params.seasonality)[week]

    def probability(depth: NDArray[np.float64]) -> NDArray[np.float64]:
        utility = dynamics.purchase_utility(
            intent=traits.intent,
            season=season,
            shock=state.intent_shock,
            discount=depth,
            reference=state.reference,
            discount_sensitivity=traits.discount_sensitivity,
            gain_weight=traits.gain_weight,
            loss_weight=traits.loss_weight,
            fatigue=state.fatigue,
            fatigue_sensitivity=traits.fatigue_sensitivity,
            stock=state.stock,
            stock_sensitivity=traits.stock_sensitivity,
        )
        return dynamics.sigmoid(utility) * state.active

    p_buy = probability(d)
    purchased = u[Slot.PURCHASE] < p_buy
    redeemed = purchased & offered
    multiplier = dynamics.basket_multiplier(d, traits.forward_buying)
    z_basket, z_shock = box_muller(u[Slot.NORMAL_RADIUS], u[Slot.NORMAL_ANGLE])
    noise_sd = behaviour.basket_noise_sd
    basket_noise = np.exp(noise_sd * z_basket - 0.5 * noise_sd**2)
    normal_basket = traits.basket_value * basket_noise
    if order is not None:
        # Redemptions are charged in arrival order against what the sent offers left over.
        claim = np.where(redeemed, normal_basket * multiplier * d, 0.0)
        honoured = within_budget(claim, order, budget - float(offer_cost.sum()))
        declined = redeemed & ~honoured
        # Declined at checkout: the shopper decides at list price with the same draw (CRN), and
        # since P(buy) rises with the discount, only some of them still buy.
        p_full = probability(np.zeros(n))
        purchased = np.where(declined, u[Slot.PURCHASE] < p_full, purchased)
        redeemed &= honoured
    depth_paid = np.where(redeemed, d, 0.0)
    basket = np.where(purchased, normal_basket * dynamics.basket_multiplier(depth_paid, traits.forward_buying), 0.0)
    discount_cost = basket * depth_paid
    revenue = basket - discount_cost
    cogs = basket * (1.0 - traits.margin)
    promotion_cost = discount_cost + offer_cost
    profit = revenue - offer_cost - cogs

    if params.dynamics.churn:
        hazard = dynamics.churn_hazard(
            traits.churn_logit,
            np.where(purchased, 0.0, state.recency + 1.0),
            state.fatigue,
            offered,
            state.satisfaction,
            traits.fatigue_churn,
            traits.offer_churn,
            behaviour,
        )
        churned = state.active & (u[Slot.CHURN] < hazard)
    else:
        churned = np.zeros(n, dtype=bool)

    memory = behaviour.history_memory
    bought = purchased.astype(np.float64)
    next_state = ShopperState(
        key=state.key,
        t=state.t + 1,
        traits=traits,
        active=state.active & ~churned,
        reference=dynamics.update_reference(state.reference, d, traits.reference_memory),
        fatigue=dynamics.update_fatigue(state.fatigue, offered, behaviour.fatigue_decay),
        stock=dynamics.update_stock(
            state.stock, purchased, depth_paid, traits.forward_buying, behaviour.stock_consumption
        ),
        satisfaction=behaviour.satisfaction_memory * state.satisfaction
        + (1.0 - behaviour.satisfaction_memory) * bought,
        intent_shock=dynamics.update_intent_shock(state.intent_shock, z_shock, behaviour),
        recency=np.where(purchased, 0.0, state.recency + 1.0),
        frequency=memory * state.frequency + bought,
        monetary=np.where(purchased, memory * state.monetary + (1.0 - memory) * basket, state.monetary),
        tenure=state.tenure + 1.0,
        last_discount=d,
        avg_discount=memory * state.avg_discount + (1.0 - memory) * d,
        offer_history=((state.offer_history << np.uint8(1)) | offered.astype(np.uint8)).astype(np.uint8),
        reviews=state.reviews + (purchased & (u[Slot.REVIEW] < traits.review_rate)),
        browse=state.browse,
        cart=state.cart,
        purchased_last=bought,
    )
    draw_signals(params, next_state, u)
    outcome = Outcome(
        discount=d,
        offered=offered,
        redeemed=redeemed,
        purchase_probability=p_buy,
        purchased=purchased,
        basket_value=basket,
        revenue=revenue,
        discount_cost=discount_cost,
        offer_cost=offer_cost,
        promotion_cost=promotion_cost,
        cogs=cogs,
        profit=profit,
        churned=churned,
        active=next_state.active,
        segment=traits.segment,
    )
    return next_state, outcome


def reset_where(
    params: SimulatorParams, state: ShopperState, mask: NDArray[np.bool_], keys: NDArray[np.uint64]
) -> ShopperState:
    """Replace the shoppers selected by ``mask`` with new shoppers (a masked partial reset).

    Args:
        mask: ``(n,)`` bool, rows to replace.
        keys: ``(mask.sum(),)`` uint64 stream keys of the new shoppers, in row order.

    Returns:
        A new state; rows outside ``mask`` are unchanged.
    """
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return state
    fresh = initial_state(params, keys)
    if fresh.n_shoppers != int(mask.sum()):
        raise ValueError(f"keys: expected {int(mask.sum())} keys (one per reset row), got {fresh.n_shoppers}")
    merged = state.copy()
    merged.assign(mask, fresh)
    return merged
