"""Drawing shoppers: latent traits from the segment mixture, and their state at the start.

Each shopper's draws come from its own random stream (``random_streams.trait_uniforms``), so
shopper i is the same whatever the population size or batch it is simulated in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from discountsim.simulators import dynamics
from discountsim.simulators.memory import check_memory
from discountsim.simulators.params import SimulatorParams
from discountsim.simulators.random_streams import Slot, box_muller, period_uniforms, trait_uniforms
from discountsim.simulators.state import ShopperState, ShopperTraits, as_float
from numpy.typing import NDArray

# Traits drawn with one standard normal each, in this order.
_NORMAL_TRAITS = (
    "intent",
    "discount_sensitivity",
    "gain_weight",
    "loss_weight",
    "fatigue_sensitivity",
    "stock_sensitivity",
    "forward_buying",
    "basket_value",
)
# Uniform rows: segment, category, recency, tenure, then Box-Muller pairs (each pair gives two
# normals): one pair per two normal traits, and one pair for the initial intent shock.
_U_SEGMENT, _U_CATEGORY, _U_RECENCY, _U_TENURE = 0, 1, 2, 3
_U_NORMALS = 4
_U_SHOCK = _U_NORMALS + 2 * ((len(_NORMAL_TRAITS) + 1) // 2)
_N_TRAIT_UNIFORMS = _U_SHOCK + 2


@dataclass(frozen=True)
class _SegmentTables:
    """Segment parameters as ``(n_segments,)`` arrays, to gather per shopper by segment index."""

    cumulative_share: NDArray[np.float64]
    category_cumulative_share: NDArray[np.float64]
    margin: NDArray[np.float64]
    basket_scale: NDArray[np.float64]
    mean: dict[str, NDArray[np.float64]]
    sd: dict[str, NDArray[np.float64]]
    scalar: dict[str, NDArray[np.float64]]
    attribute_cumulative: tuple[NDArray[np.float64], ...] = ()  # per attribute, (n_segments, n_levels)
    member_share: NDArray[np.float64] | None = None  # (n_segments,), None without members


def _cumulative(shares: list[float]) -> NDArray[np.float64]:
    cum = np.cumsum(np.asarray(shares, dtype=np.float64))
    cum /= cum[-1]
    cum[-1] = 1.0
    return cum


def _tables(params: SimulatorParams) -> _SegmentTables:
    return _cached_tables(_ParamsKey(params))


class _ParamsKey:
    """Hashable identity wrapper so per-scenario tables are computed once per params object."""

    __slots__ = ("params",)

    def __init__(self, params: SimulatorParams) -> None:
        self.params = params

    def __hash__(self) -> int:
        return id(self.params)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _ParamsKey) and other.params is self.params


@lru_cache(maxsize=32)
def _cached_tables(key: _ParamsKey) -> _SegmentTables:
    params = key.params
    segments = list(params.segments.values())
    categories = list(params.catalogue.values())
    on = params.dynamics
    mean: dict[str, NDArray[np.float64]] = {}
    sd: dict[str, NDArray[np.float64]] = {}
    for name in _NORMAL_TRAITS:
        mean[name] = np.array([getattr(s, name).mean for s in segments])
        sd[name] = np.array([getattr(s, name).sd for s in segments])
    switched_off = {
        "gain_weight": not on.reference_effects,
        "loss_weight": not on.reference_effects,
        "fatigue_sensitivity": not on.fatigue,
        "stock_sensitivity": not on.stockpiling,
        "forward_buying": not on.stockpiling,
    }
    for name, off in switched_off.items():
        if off:
            mean[name] = np.zeros(len(segments))
    scalar = {
        name: np.array([float(getattr(s, name)) for s in segments])
        for name in (
            "reference_memory",
            "fatigue_churn",
            "offer_churn",
            "churn_rate",
            "initial_reference",
            "initial_recency",
            "initial_tenure",
            "review_rate",
            "initial_lapse",
            "max_initial_recency",
        )
    }
    if not on.fatigue:
        scalar["fatigue_churn"] = np.zeros(len(segments))
    scalar["churn_logit"] = np.array([dynamics.logit(s.churn_rate) for s in segments])
    return _SegmentTables(
        cumulative_share=_cumulative([s.share for s in segments]),
        category_cumulative_share=_cumulative([c.share for c in categories]),
        margin=np.array([c.margin for c in categories]),
        basket_scale=np.array([c.basket_scale for c in categories]),
        mean=mean,
        sd=sd,
        scalar=scalar,
        attribute_cumulative=tuple(
            np.stack([_cumulative(list(s.attributes[attribute].values())) for s in segments])
            for attribute in params.attribute_levels
        ),
        member_share=np.array([s.member_share for s in segments]) if params.has_members else None,
    )


def _draw_positive(mean: NDArray, sd: NDArray, z: NDArray) -> NDArray:
    # Log-normal with E[x] = mean: x = mean exp(sd z - sd^2 / 2).
    return mean * np.exp(sd * z - 0.5 * sd * sd)


def draw_traits(params: SimulatorParams, keys: NDArray[np.uint64]) -> ShopperTraits:
    """Latent traits of the shoppers with the given stream keys.

    Segment and preferred category are drawn by inverse CDF of the (normalised) shares; the
    intent is normal, all other sensitivities log-normal (non-negative, so that purchase
    probability never falls with a deeper discount).

    Args:
        params: The scenario.
        keys: ``(n,)`` uint64 stream keys.

    Returns:
        Traits with ``(n,)`` arrays, and ``attributes`` ``(n, n_attributes)``: each attribute's
        level drawn by inverse CDF of the shopper's segment's level shares. A shopper is a member
        with its segment's ``member_share``; a member's price cut and fee are the scenario's
        ``membership``, and its churn logit carries ``membership.churn_shift``.
    """
    tables = _tables(params)
    # Attribute and membership draws come after the others, so adding them changes no other trait
    # (counter-based streams).
    n_attributes = len(tables.attribute_cumulative)
    u = trait_uniforms(keys, _N_TRAIT_UNIFORMS + n_attributes + (tables.member_share is not None))
    segment = np.searchsorted(tables.cumulative_share, u[_U_SEGMENT], side="right").astype(np.int8)
    category = np.searchsorted(tables.category_cumulative_share, u[_U_CATEGORY], side="right").astype(np.int8)
    normals: list[NDArray[np.float64]] = []
    for pair in range(0, len(_NORMAL_TRAITS), 2):
        normals.extend(box_muller(u[_U_NORMALS + pair], u[_U_NORMALS + pair + 1]))
    drawn: dict[str, NDArray[np.float64]] = {}
    for name, z in zip(_NORMAL_TRAITS, normals, strict=False):
        m, s = tables.mean[name][segment], tables.sd[name][segment]
        drawn[name] = m + s * z if name == "intent" else _draw_positive(m, s, z)
    scalar = {name: values[segment] for name, values in tables.scalar.items()}
    attributes = np.zeros((segment.size, len(tables.attribute_cumulative)), dtype=np.int8)
    for j, cumulative in enumerate(tables.attribute_cumulative):  # inverse CDF of the shopper's segment's shares
        below = cumulative[segment] <= u[_N_TRAIT_UNIFORMS + j][:, None]
        attributes[:, j] = np.minimum(below.sum(axis=1), cumulative.shape[1] - 1)
    churn_logit = scalar["churn_logit"]
    if tables.member_share is None:
        member = np.zeros(segment.size, dtype=bool)
        price_cut, fee = np.zeros(segment.size), np.zeros(segment.size)
    else:
        membership = params.membership
        member = u[_N_TRAIT_UNIFORMS + n_attributes] < tables.member_share[segment]
        price_cut = np.where(member, membership.price_cut, 0.0)
        fee = np.where(member, membership.fee, 0.0)
        churn_logit = churn_logit + np.where(member, membership.churn_shift, 0.0)
    return ShopperTraits(
        segment=segment,
        category=category,
        intent=drawn["intent"],
        discount_sensitivity=drawn["discount_sensitivity"],
        gain_weight=drawn["gain_weight"],
        loss_weight=drawn["loss_weight"],
        reference_memory=scalar["reference_memory"],
        fatigue_sensitivity=drawn["fatigue_sensitivity"],
        fatigue_churn=scalar["fatigue_churn"],
        offer_churn=scalar["offer_churn"],
        stock_sensitivity=drawn["stock_sensitivity"],
        forward_buying=drawn["forward_buying"],
        basket_value=drawn["basket_value"] * tables.basket_scale[category],
        margin=tables.margin[category],
        churn_logit=churn_logit,
        review_rate=scalar["review_rate"],
        attributes=attributes,
        member=member,
        member_price_cut=price_cut,
        membership_fee=fee,
    )


def initial_state(params: SimulatorParams, keys: NDArray[np.uint64]) -> ShopperState:
    """Shoppers at the start of the simulation, with a purchase history consistent with their traits.

    Each shopper starts active with no fatigue or stock, its segment's reference discount (for a
    member, stacked on its member price: ``dynamics.effective_discount``),
    exponentially distributed tenure T and recency, history averages at their stationary values
    for its baseline purchase rate p0 = sigmoid(a_i), and a stationary intent shock. Recency is
    k0 = min(L + min(E, T), K_max) with E ~ floor(Exp(initial_recency)), L the segment's
    ``initial_lapse`` and K_max its ``max_initial_recency``; a lapsed shopper's tenure is at least
    k0, and its smoothed purchase count is the stationary one times memory^L (no purchase in the
    lapse). Its first browse and cart signals are drawn as in every later period.

    Args:
        params: The scenario.
        keys: ``(n,)`` uint64 stream keys, one per shopper.
    """
    keys = np.ascontiguousarray(keys, dtype=np.uint64)
    n = keys.shape[0]
    tables = _tables(params)
    traits = draw_traits(params, keys)
    seg = traits.segment
    u = trait_uniforms(keys, _N_TRAIT_UNIFORMS)
    behaviour = params.behaviour
    lapse = tables.scalar["initial_lapse"][seg]
    tenure = np.floor(-tables.scalar["initial_tenure"][seg] * np.log(u[_U_TENURE]))
    recency = np.minimum(np.floor(-tables.scalar["initial_recency"][seg] * np.log(u[_U_RECENCY])), tenure)
    if lapse.any():  # lapsed shoppers: L weeks without a purchase, on top; acquired before their last purchase
        recency = np.minimum(lapse + recency, tables.scalar["max_initial_recency"][seg])
        tenure = np.maximum(tenure, recency)
    else:
        recency = np.minimum(recency, tables.scalar["max_initial_recency"][seg])
    base_rate = dynamics.sigmoid(traits.intent)
    memory = behaviour.history_memory
    shock = behaviour.intent_shock_sd * box_muller(u[_U_SHOCK], u[_U_SHOCK + 1])[0]
    state = ShopperState(
        key=keys,
        t=np.zeros(n, dtype=np.int64),
        traits=traits,
        active=np.ones(n, dtype=bool),
        # A member has been paying the member price: its reference is the segment's, stacked on it.
        reference=dynamics.effective_discount(tables.scalar["initial_reference"][seg], traits.member_price_cut),
        fatigue=np.zeros(n),
        stock=np.zeros(n),
        satisfaction=base_rate.copy(),
        intent_shock=shock,
        recency=recency,
        # The stationary purchase count, decayed over the lapse weeks in which nobody bought.
        frequency=(base_rate / (1.0 - memory) if memory < 1.0 else base_rate.copy()) * memory**lapse,
        monetary=traits.basket_value.copy(),
        tenure=tenure,
        last_discount=np.zeros(n),
        avg_discount=tables.scalar["initial_reference"][seg].copy(),
        offer_history=np.zeros(n, dtype=np.uint8),
        reviews=np.floor(tenure * base_rate * traits.review_rate),
        browse=np.zeros(n),
        cart=np.zeros(n),
        purchased_last=np.zeros(n),
        # No record of offers before the simulation; purchases at the stationary rate, none in the lapse.
        weeks_seen=np.full(n, 1.0 / (1.0 - behaviour.response_memory)),
        offer_weeks=np.zeros(n),
        purchases_seen=base_rate / (1.0 - behaviour.response_memory) * behaviour.response_memory**lapse,
        offer_purchases=np.zeros(n),
    )
    draw_signals(params, state, period_uniforms(keys, np.full(n, -1, dtype=np.int64)))
    return state


def draw_signals(params: SimulatorParams, state: ShopperState, u: NDArray[np.float64]) -> None:
    """In place: this period's browse sessions and cart add, drawn from the current intent.

    intent_now = a_i + season(week) + eps. Churned shoppers neither browse nor add to cart.

    Args:
        u: ``(N_SLOTS, n)`` uniforms; rows ``Slot.BROWSE`` and ``Slot.CART`` are used.
    """
    intent_now = current_intent(params, state.traits.intent, state.t, state.intent_shock)
    state.browse, state.cart = signals(params, intent_now, state.active, u[Slot.BROWSE], u[Slot.CART])


def current_intent(params: SimulatorParams, intent: NDArray, t: NDArray[np.int64], intent_shock: NDArray) -> NDArray:
    """intent_now = a_i + season(week of period t) + eps, the utility that drives browsing and cart adds."""
    week = dynamics.week_of_year(params.seasonality, t)
    return intent + dynamics.season_by_week(params.seasonality)[week] + intent_shock


def signals(
    params: SimulatorParams, intent_now: NDArray, active: NDArray, u_browse: NDArray, u_cart: NDArray
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Browse sessions and cart add (0/1) of a period, for arrays or one shopper's scalars.

    Returns:
        ``browse`` and ``cart``, float64; both 0 where ``active`` is False.
    """
    behaviour = params.behaviour
    rate = dynamics.browse_rate(intent_now, behaviour) * active
    browse = dynamics.geometric_count(rate, u_browse)
    cart = as_float(active & (u_cart < dynamics.cart_probability(intent_now, behaviour)))
    return browse, cart


def spawn_keys(rng: np.random.Generator, n: int) -> NDArray[np.uint64]:
    """``n`` fresh shopper keys from the simulator's seeded generator."""
    if n < 0 or not math.isfinite(n):
        raise ValueError(f"n_shoppers must be >= 0, got {n}")
    check_memory("n_shoppers", n)  # fail before allocating a population that cannot fit
    return rng.integers(0, np.iinfo(np.uint64).max, size=n, dtype=np.uint64, endpoint=True)
