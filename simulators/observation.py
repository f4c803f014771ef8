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
_COLUMN = {f[0]: j for j, f in enumerate(BASE_FEATURES)}
_CALENDAR = ("week_sin", "week_cos", "holiday")  # the columns of ``_calendar``, in this order
_CALENDAR_COLUMNS = slice(_COLUMN[_CALENDAR[0]], _COLUMN[_CALENDAR[-1]] + 1)
assert [_COLUMN[name] for name in _CALENDAR] == list(range(_CALENDAR_COLUMNS.start, _CALENDAR_COLUMNS.stop))
_LOG_53 = np.log(53.0)
_LOG_1000 = np.log(1000.0)
_LOG_11 = np.log(11.0)


def feature_names(params: SimulatorParams) -> tuple[str, ...]:
    """Column names of ``observe``'s output: base features then one ``category=<name>`` per category."""
    return tuple(f[0] for f in BASE_FEATURES) + tuple(f"category={c}" for c in params.category_names)


def feature_bounds(params: SimulatorParams) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Lower and upper bounds of every feature, ``(n_features,)`` float32 each."""
    k = len(params.catalogue)
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


def observe(params: SimulatorParams, state: ShopperState) -> NDArray[np.float32]:
    """Observation of every shopper at the start of its current period.

    Returns:
        ``(n_shoppers, n_features)`` float32, columns as in ``feature_names(params)``, each
        within ``feature_bounds(params)``.
    """
    n = state.n_shoppers
    n_base = len(BASE_FEATURES)
    _, high = feature_bounds(params)
    week = dynamics.week_of_year(params.seasonality, state.t)
    obs = np.zeros((n, n_base + len(params.catalogue)), dtype=np.float32)
    # Only features without a natural upper bound are clipped (each with scalar bounds: fast).
    for name, values in (
        ("recency", np.log1p(state.recency) / _LOG_53),
        ("frequency", state.frequency),
        ("monetary", np.log1p(state.monetary) / _LOG_1000),
        ("browse", np.log1p(state.browse) / _LOG_11),
        ("reviews", np.log1p(state.reviews) / _LOG_11),
        ("tenure", state.tenure / PERIODS_PER_YEAR),
    ):
        j = _COLUMN[name]
        np.minimum(values, high[j], out=obs[:, j], casting="unsafe")
    obs[:, _COLUMN["cart"]] = state.cart
    obs[:, _COLUMN["last_discount"]] = state.last_discount
    obs[:, _COLUMN["avg_discount"]] = state.avg_discount
    obs[:, _COLUMN["recent_offers"]] = recent_offers(state) / 4.0
    obs[:, _COLUMN["purchased_last"]] = state.purchased_last
    obs[:, _CALENDAR_COLUMNS] = _calendar(params.seasonality)[week]
    obs[np.arange(n), n_base + state.traits.category] = 1.0
    return obs
