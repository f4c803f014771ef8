"""A shop log as the simulator's observations: what each shopper looked like to a policy, week by week.

A policy reads observations (``observation.observe``), a shop log holds offers and purchases.
Off-policy evaluation needs, for every logged row, the observation a target policy would have
acted on; this module rebuilds it by running the simulator's own update equations for the
observable history over the log (``transition``: recency, the smoothed frequency, monetary value
and discount with ``behaviour.history_memory``, the last discount, the 4-week offer count,
tenure, last week's purchase), then calls ``observe`` itself, so the features are the
simulator's by construction.

What a log does not reach back to is stated, not guessed per shopper: every shopper starts the
log with the base scenario's *median* starting history (recency, frequency, monetary value,
tenure, reviews, average discount), the same for all; the first weeks' features are therefore
approximate and converge as the log's own history accumulates (the smoothing forgets the start
at ``history_memory`` per week). ``browse``, ``cart`` and ``reviews`` come from the log when it
has them (reviews counted from the start), else are 0 (browse, cart) or the median start.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from discountsim.simulators.errors import DiscountSimInputError
from discountsim.simulators.observation import feature_names, observe
from discountsim.simulators.params import SimulatorParams
from discountsim.simulators.population import initial_state, spawn_keys

START_SAMPLE = 10_000
"""Shoppers of the base scenario whose starting history gives the medians every log shopper starts from."""


def _start(params: SimulatorParams, n: int):
    sample = initial_state(params, spawn_keys(np.random.default_rng(0), START_SAMPLE))
    fields = ("recency", "frequency", "monetary", "tenure", "reviews", "avg_discount", "weeks_seen", "purchases_seen")
    medians = {f: float(np.median(getattr(sample, f))) for f in fields}
    template = initial_state(params, spawn_keys(np.random.default_rng(1), n))
    return template, medians


def behaviour_frame(frame: pd.DataFrame, params: SimulatorParams) -> pd.DataFrame:
    """A validated shop log (``shop_log.read_shop_log(...).frame``) as a behaviour log of ``params``.

    Every shopper must appear in every period of the log (a balanced panel, as ``export-log``
    writes); rows are returned sorted by shopper and period, with ``shopper`` (0..n-1 in order of
    first appearance in the log), ``period`` (0 = the log's first week, which is taken to be the scenario's
    ``seasonality.start_week``), the observation columns (``feature_names(params)``), ``discount``,
    ``propensity``, ``purchased``, ``basket_value`` and ``profit`` (currency: basket x (margin of
    the shopper's category - discount) - the scenario's offer cost when an offer was made).

    Raises:
        DiscountSimInputError: No ``propensity`` column, an unbalanced panel, a category the
            scenario does not have, or a scenario that observes attributes or has members.
    """
    if params.observe_attributes:
        raise DiscountSimInputError(
            f"simulator: {params.name!r} observes shopper attributes (observe_attributes: true), which a shop log "
            "does not hold; use a scenario that does not observe them"
        )
    if params.has_members:
        raise DiscountSimInputError(
            f"simulator: {params.name!r} has paid members (segments' member_share > 0), whose member prices and "
            "fees a shop log does not record; use a scenario without members"
        )
    if "propensity" not in frame.columns or frame["propensity"].isna().any():
        raise DiscountSimInputError(
            "data: every row needs a propensity (the logger's probability of its offer) for off-policy evaluation"
        )
    # Shoppers in order of first appearance in the log: the order, and so the outcome model fitted on the
    # rows, does not depend on the key that hashed the ids.
    codes, _ = pd.factorize(frame["shopper_id"], sort=False)
    periods = frame["period"].to_numpy(np.int64)
    t_index = periods - periods.min()
    n, horizon = int(codes.max()) + 1, int(t_index.max()) + 1
    if len(frame) != n * horizon:
        raise DiscountSimInputError(
            f"data: {len(frame)} rows for {n} shoppers x {horizon} weeks; off-policy evaluation needs every shopper "
            "in every week (a balanced log, as export-log writes), to rebuild each shopper's history"
        )
    order = np.lexsort((t_index, codes))
    rows = frame.iloc[order]

    def grid(column: str, default: float = 0.0) -> np.ndarray:
        if column not in rows.columns:
            return np.full((n, horizon), default)
        return rows[column].fillna(default).to_numpy(np.float64).reshape(n, horizon)

    discount, purchased, basket = grid("discount"), grid("purchased"), grid("basket_value")
    names = list(params.category_names)
    if "category" in rows.columns and rows["category"].notna().any():
        labels = rows["category"].astype(str).to_numpy().reshape(n, horizon)[:, 0]
        unknown = sorted(set(labels) - set(names))
        if unknown:
            raise DiscountSimInputError(f"data: categories {unknown} are not the scenario's; allowed: {names}")
        category = np.array([names.index(c) for c in labels], dtype=np.int8)
    elif len(names) == 1:
        category = np.zeros(n, dtype=np.int8)
    else:  # margins differ by category: profit cannot be computed without it
        raise DiscountSimInputError(
            f"data: no category column; the scenario's categories {names} have different margins, so each "
            "shopper's category is needed to compute its profit"
        )
    template, start = _start(params, n)
    traits = dataclasses.replace(template.traits, category=category)
    memory = params.behaviour.history_memory
    recency = np.full(n, start["recency"])
    frequency = np.full(n, start["frequency"])
    monetary = np.full(n, start["monetary"])
    tenure = np.full(n, start["tenure"])
    avg_discount = np.full(n, start["avg_discount"])
    reviews_seen = grid("reviews")
    reviews = np.full(n, start["reviews"])  # reviews written before the log are not in it
    last_discount, purchased_last = np.zeros(n), np.zeros(n)
    offer_history = np.zeros(n, dtype=np.uint8)
    response = params.behaviour.response_memory
    weeks_seen = np.full(n, start["weeks_seen"])
    purchases_seen = np.full(n, start["purchases_seen"])
    offer_weeks, offer_purchases = np.zeros(n), np.zeros(n)
    browse, cart = grid("browse"), grid("cart")
    obs = np.empty((n, horizon, len(feature_names(params))), dtype=np.float32)
    for t in range(horizon):
        state = dataclasses.replace(
            template,
            t=np.full(n, t, dtype=np.int64),
            traits=traits,
            recency=recency,
            frequency=frequency,
            monetary=monetary,
            tenure=tenure,
            last_discount=last_discount,
            avg_discount=avg_discount,
            offer_history=offer_history,
            reviews=reviews,
            browse=browse[:, t],
            cart=cart[:, t],
            purchased_last=purchased_last,
            weeks_seen=weeks_seen,
            offer_weeks=offer_weeks,
            purchases_seen=purchases_seen,
            offer_purchases=offer_purchases,
        )
        obs[:, t] = observe(params, state)
        # The simulator's updates of the observable history (transition._settle), from the logged week.
        bought, d = purchased[:, t] > 0, discount[:, t]
        recency = np.where(bought, 0.0, recency + 1.0)
        frequency = memory * frequency + bought
        monetary = np.where(bought, memory * monetary + (1.0 - memory) * basket[:, t], monetary)
        tenure = tenure + 1.0
        last_discount = d
        avg_discount = memory * avg_discount + (1.0 - memory) * d
        offer_history = ((offer_history << 1) | (d > 0)).astype(np.uint8) & np.uint8(0xFF)
        reviews = reviews + reviews_seen[:, t]
        purchased_last = bought.astype(np.float64)
        weeks_seen = response * weeks_seen + 1.0
        offer_weeks = response * offer_weeks + (d > 0)
        purchases_seen = response * purchases_seen + bought
        offer_purchases = response * offer_purchases + (bought & (d > 0))
    margin = np.array([params.catalogue[c].margin for c in names])[category][:, None]
    profit = basket * (margin - discount) - params.offer_cost * (discount > 0)
    out = pd.DataFrame(obs.reshape(n * horizon, -1), columns=feature_names(params))
    out.insert(0, "period", np.tile(np.arange(horizon), n))
    out.insert(0, "shopper", np.repeat(np.arange(n), horizon))
    out["discount"] = discount.ravel()
    out["propensity"] = grid("propensity", 1.0).ravel()
    out["purchased"] = purchased.ravel()
    out["basket_value"] = basket.ravel()
    out["profit"] = profit.ravel()
    return out
