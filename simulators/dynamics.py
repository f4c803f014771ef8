"""The shopper-response equations, one pure NumPy function per behaviour.

All arrays are ``(n_shoppers,)`` float64 unless stated; ``discount`` is a fraction of list price.
Notation follows the purchase model (per shopper i, period t):

    u = a_i + season(t) + eps_t + b_i d + g_i max(d - r, 0) - l_i max(r - d, 0) - k_i f - h_i s
    P(buy) = sigmoid(u)

with r the reference discount, f offer fatigue and s stock on hand. Because b_i, g_i, l_i >= 0,
u (and so P(buy)) never falls as d deepens at a fixed state.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from discountsim.simulators.params import PERIODS_PER_YEAR, BehaviourParams, SeasonalityParams
from numpy.typing import NDArray

Array = NDArray[np.float64]


def sigmoid(x: Array) -> Array:
    """Logistic function, written with tanh so that it never overflows (a Python float for a scalar)."""
    t = np.tanh(0.5 * x)
    return 0.5 * (1.0 + (t if isinstance(t, np.ndarray) else float(t)))


def positive_part(x: Array) -> Array:
    """max(x, 0) elementwise; ``max`` for one shopper's scalar (same value, without NumPy's per-call cost)."""
    return np.maximum(x, 0.0) if isinstance(x, np.ndarray) else max(x, 0.0)


def logit(p: float) -> float:
    """Inverse of ``sigmoid`` for a probability strictly inside (0, 1); clipped at the ends."""
    p = min(max(p, 1e-12), 1.0 - 1e-12)
    return float(np.log(p / (1.0 - p)))


def holiday_bumps(seasonality: SeasonalityParams) -> Array:
    """``(n_holidays, 52)``: exp(-dist_h(w)^2 / (2 width_h^2)) per holiday and week of year (uplift not applied).

    ``dist_h(w)`` is the circular distance in weeks between week w and the holiday's week.
    """
    week = np.arange(PERIODS_PER_YEAR, dtype=np.float64)
    bumps = np.zeros((len(seasonality.holidays), PERIODS_PER_YEAR))
    for h, holiday in enumerate(seasonality.holidays):
        dist = np.abs(week - holiday.week)
        dist = np.minimum(dist, PERIODS_PER_YEAR - dist)
        bumps[h] = np.exp(-0.5 * (dist / holiday.width) ** 2)
    return bumps


@lru_cache(maxsize=64)
def _calendar_tables(seasonality: SeasonalityParams) -> tuple[Array, Array]:
    week = np.arange(PERIODS_PER_YEAR, dtype=np.float64)
    cycle = seasonality.amplitude * np.cos(2.0 * np.pi * (week - seasonality.peak_week) / PERIODS_PER_YEAR)
    bumps = holiday_bumps(seasonality)
    uplift = np.array([holiday.uplift for holiday in seasonality.holidays])
    spikes = np.zeros(PERIODS_PER_YEAR)
    for h in range(len(uplift)):  # summed in holiday order, as always (bit-identical seasons)
        spikes += uplift[h] * bumps[h]
    proximity = bumps.max(axis=0) if len(uplift) else np.zeros(PERIODS_PER_YEAR)
    season = cycle + spikes
    season.flags.writeable = False
    proximity.flags.writeable = False
    return season, proximity


def season_by_week(seasonality: SeasonalityParams) -> Array:
    """Seasonal utility shift for each week of the year, ``(52,)`` logit units.

    season(w) = amplitude cos(2 pi (w - peak_week) / 52) + sum_h uplift_h exp(-dist_h(w)^2 / (2 width_h^2)),
    the usual trigonometric-plus-event-dummy form of retail demand models, with smooth holiday bumps.
    """
    return _calendar_tables(seasonality)[0]


def holiday_proximity_by_week(seasonality: SeasonalityParams) -> Array:
    """Public calendar signal in [0, 1] per week of year: the largest holiday bump (uplift ignored)."""
    return _calendar_tables(seasonality)[1]


def week_of_year(seasonality: SeasonalityParams, t: NDArray[np.int64]) -> NDArray[np.int64]:
    """Week of year (0-51) of period ``t`` counted from the scenario's start week."""
    return (seasonality.start_week + t) % PERIODS_PER_YEAR


def purchase_utility(
    *,
    intent: Array,
    season: Array,
    shock: Array,
    discount: Array,
    reference: Array,
    discount_sensitivity: Array,
    gain_weight: Array,
    loss_weight: Array,
    fatigue: Array,
    fatigue_sensitivity: Array,
    stock: Array,
    stock_sensitivity: Array,
) -> Array:
    """Purchase utility u (logit scale) of the binary-logit purchase model: the one purchase equation.

        u = a + season + eps + b d + g max(d - r, 0) - l max(r - d, 0) - k f - h s

    Keyword-only, so that two weights of the same shape can never be swapped silently;
    ``transition`` and the planner (``planning``) both call it. Arguments broadcast (the planner
    passes grids of states).

    The asymmetric gain/loss terms around the reference discount follow reference-price models
    (Kalyanaram & Winer, 1995, Marketing Science; Popescu & Wu, 2007, Operations Research) with
    loss aversion l_i > g_i (Hardie, Johnson & Fader, 1993, Marketing Science). Fatigue is
    promotional wear-out; stock is the inventory effect of stockpiling (Hendel & Nevo, 2006,
    Econometrica).

    Args:
        intent: a_i, baseline utility (logit).
        season: season(t), the calendar's shift (logit).
        shock: eps_t, this period's intent shock (logit).
        discount: d, the discount offered (fraction of list price).
        reference: r, the discount the shopper expects (fraction).
        discount_sensitivity: b_i, utility per unit of discount.
        gain_weight: g_i, utility per unit of discount above the reference.
        loss_weight: l_i, utility lost per unit of discount below the reference.
        fatigue: f, offer fatigue.
        fatigue_sensitivity: k_i, utility lost per unit of fatigue.
        stock: s, stock on hand (baskets).
        stock_sensitivity: h_i, utility lost per basket of stock.
    """
    gain = positive_part(discount - reference)
    loss = positive_part(reference - discount)
    return (
        intent
        + season
        + shock
        + discount_sensitivity * discount
        + gain_weight * gain
        - loss_weight * loss
        - fatigue_sensitivity * fatigue
        - stock_sensitivity * stock
    )


def effective_discount(discount: Array, member_price_cut: Array) -> Array:
    """Discount off list a shopper sees: e = m + (1 - m) d, an offer d stacked on a member price m.

    A member pays (1 - m)(1 - d) of list on an offer d; a non-member (m = 0) sees e = d exactly.
    The purchase utility and the reference update take e (``MembershipParams``).
    """
    return member_price_cut + (1.0 - member_price_cut) * discount


def update_reference(reference: Array, discount: Array, memory: Array) -> Array:
    """Reference discount after an offer: r' = w r + (1 - w) d (exponential smoothing).

    Shoppers offered deep discounts come to expect them; adaptive expectations as in
    Kalyanaram & Little (1994) and the reference-effect pricing literature (Popescu & Wu, 2007).
    """
    return memory * reference + (1.0 - memory) * discount


def update_fatigue(fatigue: Array, offered: NDArray[np.bool_], decay: float) -> Array:
    """Offer fatigue f' = decay * f + 1[offer sent]: a decayed count of recent offers."""
    return decay * fatigue + offered


def basket_multiplier(discount: Array, forward_buying: Array) -> Array:
    """Basket size relative to a normal basket: 1 + phi_i d (forward buying on a deal).

    Deal-driven purchase acceleration and quantity increase (Neslin, Henderson & Quelch, 1985,
    Marketing Science; Blattberg, Briesch & Fox, 1995).
    """
    return 1.0 + forward_buying * discount


def update_stock(
    stock: Array, purchased: NDArray[np.bool_], discount: Array, forward_buying: Array, consumption: float
) -> Array:
    """Stock s' = max(s - c, 0) + 1[buy] phi_i d, in baskets: the extra quantity bought on a deal
    is consumed at ``consumption`` baskets per period and suppresses demand until then."""
    return positive_part(stock - consumption) + purchased * forward_buying * discount


def churn_hazard(
    churn_logit: Array,
    recency: Array,
    fatigue: Array,
    offered: NDArray[np.bool_],
    satisfaction: Array,
    fatigue_churn: Array,
    offer_churn: Array,
    behaviour: BehaviourParams,
) -> Array:
    """Per-period churn probability.

    q = sigmoid(logit(churn_rate_i) + c_rec log(1 + recency) + c_fat,i f + c_off,i 1[offer]
                - c_sat satisfaction).

    A hazard growing with time since the last purchase is the "buy till you die" view of
    non-contractual customers (Fader, Hardie & Lee, 2005, Marketing Science); offers that push
    some customers away ("sleeping dogs") are documented by Ascarza, Iyengar & Schleicher (2016,
    Journal of Marketing Research) and Radcliffe & Surry (2011).
    """
    return sigmoid(
        churn_logit
        + behaviour.recency_churn * np.log1p(recency)
        + fatigue_churn * fatigue
        + offer_churn * offered
        - behaviour.satisfaction_churn * satisfaction
    )


def update_intent_shock(shock: Array, z: Array, behaviour: BehaviourParams) -> Array:
    """AR(1) weekly intent shock with stationary sd sigma: eps' = rho eps + sqrt(1 - rho^2) sigma z."""
    rho = behaviour.intent_shock_persistence
    # math.sqrt: a correctly rounded square root like np.sqrt, without a NumPy call per period.
    return rho * shock + math.sqrt(1.0 - rho * rho) * behaviour.intent_shock_sd * z


def browse_rate(intent_now: Array, behaviour: BehaviourParams) -> Array:
    """Expected browse sessions in a period: browse_max * sigmoid(intent + browse_offset)."""
    return behaviour.browse_max * sigmoid(intent_now + behaviour.browse_offset)


def geometric_count(mean: Array, u: Array) -> Array:
    """Draw from the geometric distribution on {0, 1, ...} with the given mean by inversion.

    P(N >= k) = q^k with q = mean / (1 + mean); N = floor(log u / log q). Over-dispersed counts,
    as browse sessions are.
    """
    q = mean / (1.0 + mean)
    with np.errstate(divide="ignore"):
        log_q = np.log(q)
    return np.where(mean > 0.0, np.floor(np.log(u) / np.where(mean > 0.0, log_q, -1.0)), 0.0)


def cart_probability(intent_now: Array, behaviour: BehaviourParams) -> Array:
    """Probability of a cart add in a period: sigmoid(intent + cart_offset)."""
    return sigmoid(intent_now + behaviour.cart_offset)
