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
from discountsim.simulators.state import Outcome, ShopperState, as_float, select
from numpy.typing import NDArray

_RECENT_OFFER_WINDOW = 4
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


def offers_in_last(state: ShopperState, periods: int) -> NDArray[np.int8]:
    """Offers sent to each shopper in its last ``periods`` periods (0 to 8), ``(n,)``."""
    return _POPCOUNT[state.offer_history & np.uint8((1 << periods) - 1)]


def recent_offers(state: ShopperState) -> NDArray[np.int8]:
    """Number of offers sent in the last four periods, ``(n,)``."""
    return offers_in_last(state, _RECENT_OFFER_WINDOW)


def seen_discount(params: SimulatorParams, state: ShopperState, depth: NDArray) -> NDArray:
    """The discount off list each shopper sees at offer ``depth``: ``depth`` itself, or for members
    the offer stacked on the member price (``dynamics.effective_discount``)."""
    if not params.has_members:
        return depth
    return dynamics.effective_discount(depth, state.traits.member_price_cut)


def purchase_probability(
    params: SimulatorParams, state: ShopperState, season: NDArray, depth: NDArray
) -> NDArray[np.float64]:
    """P(buy) of each shopper at offer ``depth`` (0 for churned shoppers); arrays, or scalars for one shopper."""
    traits = state.traits
    utility = dynamics.purchase_utility(
        intent=traits.intent,
        season=season,
        shock=state.intent_shock,
        discount=seen_discount(params, state, depth),
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


def period_draws(
    params: SimulatorParams, t: NDArray[np.int64], basket_value: NDArray, u: NDArray[np.float64]
) -> tuple[NDArray, NDArray, NDArray]:
    """What period ``t`` brings whatever the discount: seasonal utility, basket list value, intent-shock normal.

    Args:
        t: Period of each shopper's life, ``(n,)``.
        basket_value: Each shopper's mean basket value V_i (currency), ``(n,)`` or a scalar.
        u: ``(N_SLOTS, n)`` uniforms of period ``t`` (``period_uniforms``).

    Returns:
        ``season``, ``normal_basket`` (the list value of a basket bought without a discount) and
        ``z_shock`` (the standard normal that drives the intent shock), each ``(n,)``. The
        single-shopper path computes them for a whole episode at once, with ``t`` running over it.
    """
    season = dynamics.season_by_week(params.seasonality)[dynamics.week_of_year(params.seasonality, t)]
    z_basket, z_shock = box_muller(u[Slot.NORMAL_RADIUS], u[Slot.NORMAL_ANGLE])
    noise_sd = params.behaviour.basket_noise_sd
    basket_noise = np.exp(noise_sd * z_basket - 0.5 * noise_sd**2)
    return season, basket_value * basket_noise, z_shock


def transition(
    params: SimulatorParams,
    state: ShopperState,
    discount: NDArray,
    budget_left: float | None = None,
) -> tuple[ShopperState, Outcome]:
    """Advance every shopper by one period.

    Order of events in period t: offers are sent (within ``budget_left``, if any); each active shopper
    buys with probability sigmoid(u) (see ``dynamics.purchase_utility``); money is booked; the
    shopper may churn; reference, fatigue, stock, history and next period's intent shock and
    browse/cart signals are updated.

    Args:
        params: The scenario.
        state: State at the start of period t (not modified).
        discount: ``(n,)`` discount offered to each shopper, a fraction in [0, d_max]; a scalar is
            offered to everyone.
        budget_left: Money left for promotion costs this period (currency), or None for no limit.
            Offer costs and redeemed discounts are charged first come, first served, and their
            total never exceeds it; an offer that no longer fits is not sent, and a shopper whose
            coupon no longer fits at checkout decides at list price.

    Returns:
        The state at the start of period t + 1 and the outcome of period t.
    """
    n = state.n_shoppers
    d = check_discount(params, discount, n)
    if budget_left is not None and not (np.isfinite(budget_left) and budget_left >= 0.0):
        raise ValueError(f"budget_left: expected a finite amount >= 0 (currency), got {budget_left}")
    u = period_uniforms(state.key, state.t)
    season, normal_basket, z_shock = period_draws(params, state.t, state.traits.basket_value, u)
    if budget_left is None:
        next_state, outcome = advance(params, state, d, u, season, normal_basket, z_shock)
    else:
        order = np.argsort(u[Slot.ARRIVAL], kind="stable")
        d = _sendable(params, d, order, budget_left)
        offered, offer_cost, p_buy, purchased, redeemed = _offer_and_buy(params, state, d, u, season)
        # Redemptions are charged in arrival order against what the sent offers left over.
        multiplier = dynamics.basket_multiplier(d, state.traits.forward_buying)
        claim = np.where(redeemed, _price_paid(params, state, normal_basket * multiplier) * d, 0.0)
        honoured = within_budget(claim, order, budget_left - float(offer_cost.sum()))
        declined = redeemed & ~honoured
        # Declined at checkout: the shopper decides at list price with the same draw (CRN), and
        # since P(buy) rises with the discount, only some of them still buy.
        p_full = purchase_probability(params, state, season, np.zeros(n))
        purchased = np.where(declined, u[Slot.PURCHASE] < p_full, purchased)
        redeemed &= honoured
        next_state, outcome = _settle(
            params, state, d, u, offered, offer_cost, p_buy, purchased, redeemed, normal_basket, z_shock
        )
    draw_signals(params, next_state, u)
    return next_state, outcome


def _sendable(params: SimulatorParams, d: NDArray, order: NDArray[np.intp], budget_left: float) -> NDArray:
    # An offer that no longer fits is not sent: the shopper sees no discount.
    return np.where(within_budget(params.offer_cost * (d > 0.0), order, budget_left), d, 0.0)


def offers_sent(params: SimulatorParams, state: ShopperState, discount: NDArray, budget_left: float | None) -> NDArray:
    """The discounts ``transition`` would send this period under ``budget_left``: offers whose cost
    no longer fits (first come, first served in arrival order) set to 0, ``(n,)``. Any subset of
    them fits too, so a projection applied after this one keeps the budget from withholding more."""
    d = check_discount(params, discount, state.n_shoppers)
    if budget_left is None:
        return d
    order = np.argsort(period_uniforms(state.key, state.t)[Slot.ARRIVAL], kind="stable")
    return _sendable(params, d, order, budget_left)


def advance(
    params: SimulatorParams,
    state: ShopperState,
    d: NDArray,
    u: NDArray,
    season: NDArray,
    normal_basket: NDArray,
    z_shock: NDArray,
) -> tuple[ShopperState, Outcome]:
    """The period's equations without a budget, for arrays (``transition``) or one shopper's scalars.

    Nothing is validated and next period's browse and cart signals are not drawn (``browse`` and
    ``cart`` are carried over): ``transition`` does both around it, and the single-shopper path
    (``simulators.single``) checks the discount once and draws a whole episode's signals ahead.

    Args:
        d: Discount per shopper, already checked (fractions in [0, d_max]).
        u: This period's uniforms, indexed by ``Slot``.
        season, normal_basket, z_shock: From ``period_draws`` for this period.
    """
    offered, offer_cost, p_buy, purchased, redeemed = _offer_and_buy(params, state, d, u, season)
    return _settle(params, state, d, u, offered, offer_cost, p_buy, purchased, redeemed, normal_basket, z_shock)


def _offer_and_buy(params: SimulatorParams, state: ShopperState, d: NDArray, u: NDArray, season: NDArray):
    offered = d > 0.0
    offer_cost = params.offer_cost * offered
    p_buy = purchase_probability(params, state, season, d)
    purchased = u[Slot.PURCHASE] < p_buy
    return offered, offer_cost, p_buy, purchased, purchased & offered


def _price_paid(params: SimulatorParams, state: ShopperState, list_value: NDArray) -> NDArray:
    """What a basket of ``list_value`` costs before any offer: list, or the member price V (1 - m)."""
    if not params.has_members:
        return list_value
    return list_value * (1.0 - state.traits.member_price_cut)


def _settle(
    params: SimulatorParams,
    state: ShopperState,
    d: NDArray,
    u: NDArray,
    offered: NDArray,
    offer_cost: NDArray,
    p_buy: NDArray,
    purchased: NDArray,
    redeemed: NDArray,
    normal_basket: NDArray,
    z_shock: NDArray,
) -> tuple[ShopperState, Outcome]:
    # Money, churn and the next state; written for arrays and for one shopper's scalars alike.
    traits = state.traits
    behaviour = params.behaviour
    depth_paid = select(redeemed, d, 0.0)
    basket = select(purchased, normal_basket * dynamics.basket_multiplier(depth_paid, traits.forward_buying), 0.0)
    at_price = _price_paid(params, state, basket)
    discount_cost = at_price * depth_paid
    revenue = at_price - discount_cost
    if params.has_members:  # the fee of every member who starts the period active
        revenue = revenue + traits.membership_fee * state.active
    cogs = basket * (1.0 - traits.margin)
    promotion_cost = discount_cost + offer_cost
    profit = revenue - offer_cost - cogs
    recency = select(purchased, 0.0, state.recency + 1.0)

    if params.dynamics.churn:
        hazard = dynamics.churn_hazard(
            traits.churn_logit,
            recency,
            state.fatigue,
            offered,
            state.satisfaction,
            traits.fatigue_churn,
            traits.offer_churn,
            behaviour,
        )
        churned = state.active & (u[Slot.CHURN] < hazard)
    else:
        churned = state.active & False

    memory = behaviour.history_memory
    bought = as_float(purchased)
    next_state = ShopperState(
        key=state.key,
        t=state.t + 1,
        traits=traits,
        active=state.active ^ churned,  # churned implies active: active & ~churned
        reference=dynamics.update_reference(state.reference, seen_discount(params, state, d), traits.reference_memory),
        fatigue=dynamics.update_fatigue(state.fatigue, offered, behaviour.fatigue_decay),
        stock=dynamics.update_stock(
            state.stock, purchased, depth_paid, traits.forward_buying, behaviour.stock_consumption
        ),
        satisfaction=behaviour.satisfaction_memory * state.satisfaction
        + (1.0 - behaviour.satisfaction_memory) * bought,
        intent_shock=dynamics.update_intent_shock(state.intent_shock, z_shock, behaviour),
        recency=recency,
        frequency=memory * state.frequency + bought,
        monetary=select(purchased, memory * state.monetary + (1.0 - memory) * basket, state.monetary),
        tenure=state.tenure + 1.0,
        last_discount=d,
        avg_discount=memory * state.avg_discount + (1.0 - memory) * d,
        offer_history=((state.offer_history << 1) | offered) & 0xFF,
        reviews=state.reviews + (purchased & (u[Slot.REVIEW] < traits.review_rate)),
        browse=state.browse,
        cart=state.cart,
        purchased_last=bought,
        weeks_seen=behaviour.response_memory * state.weeks_seen + 1.0,
        offer_weeks=behaviour.response_memory * state.offer_weeks + as_float(offered),
        purchases_seen=behaviour.response_memory * state.purchases_seen + bought,
        offer_purchases=behaviour.response_memory * state.offer_purchases + as_float(offered & purchased),
    )
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
