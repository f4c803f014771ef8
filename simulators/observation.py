"""What a marketer can see of each shopper: a noisy, partial observation.

Recency, frequency and monetary value (RFM), this period's browse sessions and cart add (noisy
signals of the latent intent), reviews, the discounts the shopper has received, tenure, the
preferred category and the calendar. Segment, intent, sensitivities, reference discount,
fatigue, stock and whether the shopper has churned are latent.

Features are scaled to roughly [0, 1]-sized ranges so that neural policies need no further
normalisation, and lie within the bounds in ``feature_bounds``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
from discountsim.simulators import dynamics
from discountsim.simulators.params import PERIODS_PER_YEAR, SeasonalityParams, SimulatorParams
from discountsim.simulators.state import ShopperState
from discountsim.simulators.transition import recent_offers
from numpy.typing import NDArray

# name, low, high, meaning
BASE_FEATURES: tuple[tuple[str, float, float, str], ...] = (
    ("recency", 0.0, 3.0, "log(1 + weeks since last purchase) / log(53)"),
    ("frequency", 0.0, 10.0, "smoothed purchase count (purchases per ~10 weeks)"),
    ("monetary", 0.0, 3.0, "log(1 + smoothed basket list value) / log(1000)"),
    ("browse", 0.0, 3.0, "log(1 + browse sessions this period) / log(11)"),
    ("cart", 0.0, 1.0, "an item was added to the cart this period"),
    ("reviews", 0.0, 3.0, "log(1 + reviews written) / log(11)"),
    ("last_discount", 0.0, 1.0, "discount offered last period (fraction)"),
    ("avg_discount", 0.0, 1.0, "smoothed discount offered (fraction)"),
    ("recent_offers", 0.0, 1.0, "offers sent in the last 4 periods / 4"),
    ("tenure", 0.0, 10.0, "years since acquisition (capped at 10)"),
    ("purchased_last", 0.0, 1.0, "bought last period"),
    ("week_sin", -1.0, 1.0, "sin(2 pi week / 52)"),
    ("week_cos", -1.0, 1.0, "cos(2 pi week / 52)"),
    ("holiday", 0.0, 1.0, "proximity of a holiday (public calendar)"),
)
RESPONSE_FEATURES: tuple[tuple[str, float, float, str], ...] = (
    ("offer_response", 0.0, 1.0, "(smoothed purchases in weeks with an offer + plain_response) / (such weeks + 1)"),
    ("plain_response", 0.0, 1.0, "smoothed purchases in weeks without an offer / (smoothed such weeks + 1)"),
    ("offer_rate", 0.0, 1.0, "smoothed weeks with an offer / smoothed weeks"),
)
"""The response history, last in the observation when the scenario has ``observe_responses``.

Counts are smoothed with ``BehaviourParams.response_memory``. ``offer_response`` is shrunk towards
the shopper's own ``plain_response`` by one pseudo-week: a shopper never offered shows no lift, not
a rate of 0 (which would read as "does not answer offers" and keep it from ever being offered)."""
_COLUMN = {f[0]: j for j, f in enumerate(BASE_FEATURES)}
_CALENDAR = ("week_sin", "week_cos", "holiday")  # the columns of ``_calendar``, in this order
_CALENDAR_COLUMNS = slice(_COLUMN[_CALENDAR[0]], _COLUMN[_CALENDAR[-1]] + 1)
assert [_COLUMN[name] for name in _CALENDAR] == list(range(_CALENDAR_COLUMNS.start, _CALENDAR_COLUMNS.stop))
_LOG_53 = np.log(53.0)
_LOG_1000 = np.log(1000.0)
_LOG_11 = np.log(11.0)


def attribute_columns(params: SimulatorParams) -> tuple[str, ...]:
    """``<attribute>=<level>`` one-hot columns of the observation: every level when the scenario
    observes its shoppers' attributes (``observe_attributes``), none otherwise."""
    if not params.observe_attributes:
        return ()
    return tuple(f"{a}={level}" for a, levels in params.attribute_levels.items() for level in levels)


def member_columns(params: SimulatorParams) -> tuple[str, ...]:
    """``("member",)``, 1 for a paid member, when the scenario has members (``MembershipParams``); else none."""
    return ("member",) if params.has_members else ()


def response_columns(params: SimulatorParams) -> tuple[str, ...]:
    """The response-history columns of the observation (``RESPONSE_FEATURES``), or none."""
    return tuple(f[0] for f in RESPONSE_FEATURES) if params.observe_responses else ()


def response_features(state: ShopperState) -> list[Any]:
    """``RESPONSE_FEATURES`` of each shopper (arrays), or of one shopper (Python floats), in order."""
    plain = (state.purchases_seen - state.offer_purchases) / (state.weeks_seen - state.offer_weeks + 1.0)
    return [
        (state.offer_purchases + plain) / (state.offer_weeks + 1.0),
        plain,
        state.offer_weeks / state.weeks_seen,
    ]


def feature_names(params: SimulatorParams) -> tuple[str, ...]:
    """Column names of ``observe``'s output: base features, one ``category=<name>`` per category,
    the attribute columns (``attribute_columns``), ``member`` (``member_columns``), then the
    response history (``response_columns``)."""
    categories = tuple(f"category={c}" for c in params.category_names)
    static = categories + attribute_columns(params) + member_columns(params)
    return tuple(f[0] for f in BASE_FEATURES) + static + response_columns(params)


def attribute_one_hot(params: SimulatorParams, attributes: NDArray[np.int8]) -> NDArray[np.float32]:
    """``(n, len(attribute_columns))`` one-hot of each shopper's attribute levels (``(n, n_attributes)``)."""
    n = attributes.shape[0]
    out = np.zeros((n, len(attribute_columns(params))), dtype=np.float32)
    if out.shape[1]:
        offset = 0
        for j, levels in enumerate(params.attribute_levels.values()):
            out[np.arange(n), offset + attributes[:, j]] = 1.0
            offset += len(levels)
    return out


def category_slice(params: SimulatorParams) -> slice:
    """The one-hot ``category=<name>`` columns of the observation, right after ``BASE_FEATURES``."""
    return slice(len(BASE_FEATURES), len(BASE_FEATURES) + len(params.catalogue))


def feature_bounds(params: SimulatorParams) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Lower and upper bounds of every feature, ``(n_features,)`` float32 each."""
    k = len(feature_names(params)) - len(BASE_FEATURES)
    low = np.array([f[1] for f in BASE_FEATURES] + [0.0] * k, dtype=np.float32)
    high = np.array([f[2] for f in BASE_FEATURES] + [1.0] * k, dtype=np.float32)
    return low, high


def feature_index(params: SimulatorParams, name: str) -> int:
    """Column of feature ``name``; raises ``KeyError`` naming the allowed names."""
    names = feature_names(params)
    if name not in names:
        raise KeyError(f"unknown feature {name!r}; allowed: {list(names)}")
    return names.index(name)


@lru_cache(maxsize=64)
def _calendar(seasonality: SeasonalityParams) -> NDArray[np.float32]:
    """``(52, 3)`` week_sin, week_cos and holiday proximity for each week of the year."""
    angle = 2.0 * np.pi * np.arange(PERIODS_PER_YEAR) / PERIODS_PER_YEAR
    proximity = dynamics.holiday_proximity_by_week(seasonality)
    table = np.stack([np.sin(angle), np.cos(angle), proximity], axis=1).astype(np.float32)
    table.flags.writeable = False
    return table


# Features without a natural upper bound, clipped to their ``feature_bounds`` high.
_CLIPPED = frozenset({"recency", "frequency", "monetary", "browse", "reviews", "tenure"})


def state_features(state: ShopperState) -> dict[str, Any]:
    """The base features read from each shopper's state (``BASE_FEATURES`` up to the calendar), unclipped, by name.

    Written for arrays (``observe``) and for one shopper's Python scalars (``observe_one``).
    """
    return {
        "recency": np.log1p(state.recency) / _LOG_53,
        "frequency": state.frequency,
        "monetary": np.log1p(state.monetary) / _LOG_1000,
        "browse": np.log1p(state.browse) / _LOG_11,
        "cart": state.cart,
        "reviews": np.log1p(state.reviews) / _LOG_11,
        "last_discount": state.last_discount,
        "avg_discount": state.avg_discount,
        "recent_offers": recent_offers(state) / 4.0,
        "tenure": state.tenure / PERIODS_PER_YEAR,
        "purchased_last": state.purchased_last,
    }


_N_STATE = len(BASE_FEATURES) - len(_CALENDAR)
_STATE_NAMES = tuple(f[0] for f in BASE_FEATURES[:_N_STATE])  # columns 0.._N_STATE-1, in observation order
assert tuple(f[0] for f in BASE_FEATURES[_N_STATE:]) == _CALENDAR


def state_feature_caps(params: SimulatorParams) -> tuple[float | None, ...]:
    """Upper clip of each ``state_features`` entry as a Python float, None where none applies."""
    _, high = feature_bounds(params)
    return tuple(float(high[j]) if f[0] in _CLIPPED else None for j, f in enumerate(BASE_FEATURES[:_N_STATE]))


def calendar_features(params: SimulatorParams, t: NDArray[np.int64]) -> NDArray[np.float32]:
    """``(n, 3)`` week_sin, week_cos and holiday proximity of period ``t``."""
    return _calendar(params.seasonality)[dynamics.week_of_year(params.seasonality, t)]


def observe(params: SimulatorParams, state: ShopperState) -> NDArray[np.float32]:
    """Observation of every shopper at the start of its current period.

    Returns:
        ``(n_shoppers, n_features)`` float32, columns as in ``feature_names(params)``, each
        within ``feature_bounds(params)``.
    """
    n = state.n_shoppers
    n_base = len(BASE_FEATURES)
    n_categories = len(params.catalogue)
    n_attributes = len(attribute_columns(params))
    obs = np.zeros((n, len(feature_names(params))), dtype=np.float32)
    features = state_features(state)
    for name, cap in zip(_STATE_NAMES, state_feature_caps(params), strict=True):
        j, values = _COLUMN[name], features[name]
        if cap is None:
            obs[:, j] = values
        else:  # a scalar bound: fast
            np.minimum(values, cap, out=obs[:, j], casting="unsafe")
    obs[:, _N_STATE:n_base] = calendar_features(params, state.t)
    obs[np.arange(n), n_base + state.traits.category] = 1.0
    if params.observe_attributes:
        obs[:, n_base + n_categories : n_base + n_categories + n_attributes] = attribute_one_hot(
            params, state.traits.attributes
        )
    start = n_base + n_categories + n_attributes
    if params.has_members:
        obs[:, start] = state.traits.member
        start += 1
    if params.observe_responses:
        for j, values in enumerate(response_features(state)):
            obs[:, start + j] = values
    return obs


def observe_one(state: ShopperState, caps: tuple[float | None, ...], rest: list[float]) -> NDArray[np.float32]:
    """``observe``'s row for one shopper whose state fields are Python scalars.

    Args:
        caps: ``state_feature_caps(params)``.
        rest: The calendar features of the shopper's period, its one-hot category, its attribute
            columns (``attribute_one_hot``), its ``member`` column if any, then its
            ``response_features`` if observed.

    Returns:
        ``(n_features,)`` float32, equal to the shopper's row of ``observe``.
    """
    features = state_features(state)
    values = [
        features[name] if cap is None else min(features[name], cap)
        for name, cap in zip(_STATE_NAMES, caps, strict=True)
    ]
    return np.array(values + rest, dtype=np.float32)
