"""A shop log as a dense panel: one row per shopper, one column per week of the log window.

The likelihood (``likelihood.py``) reconstructs each shopper's reference discount, fatigue, stock,
recency and satisfaction by running the simulator's own update equations over these arrays, so
the panel holds exactly what those equations read: the discount offered and whether, and for how
much, the shopper bought. A period missing from the log means "no offer, no purchase" (the log
schema), which is what a zero in every array says.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from discountsim.simulators.errors import DiscountSimInputError
from numpy.typing import NDArray

MIN_SHOPPERS = 50
"""Fewest shoppers a log (and every reported segment) may have: smaller groups are not reported."""


@dataclass(frozen=True)
class Panel:
    """Shoppers x periods arrays of a log; shoppers in hashed-id order, periods from the first week.

    Attributes:
        discount: ``(n_shoppers, n_periods)`` depth offered (fraction of list price; 0 = no offer).
        purchased: ``(n_shoppers, n_periods)`` 1.0 where the shopper bought.
        basket_value: ``(n_shoppers, n_periods)`` list-price value bought (currency), 0 without a purchase.
        present: ``(n_shoppers, n_periods)`` the period lies in the shopper's window (from its
            first row to the end of the log).
        category: ``(n_shoppers,)`` index into ``category_names`` of the shopper's main category.
        category_names: Categories in the log (``("all",)`` when it has no category column).
        first_period: The log's first week (weeks of the panel count from it).
        ids: ``(n_shoppers,)`` hashed shopper ids (never raw ids), to join results back.
    """

    discount: NDArray[np.float64]
    purchased: NDArray[np.float64]
    basket_value: NDArray[np.float64]
    present: NDArray[np.bool_]
    category: NDArray[np.int64]
    category_names: tuple[str, ...]
    first_period: int
    ids: NDArray[np.object_]

    @property
    def n_shoppers(self) -> int:
        return int(self.discount.shape[0])

    @property
    def n_periods(self) -> int:
        return int(self.discount.shape[1])

    @property
    def n_rows(self) -> int:
        """Shopper-periods in the shoppers' windows (the rows of the log, missing ones included)."""
        return int(self.present.sum())

    def take(self, index: NDArray[np.intp]) -> Panel:
        """The panel of the shoppers at ``index`` (rows), same periods and categories."""
        return Panel(
            self.discount[index],
            self.purchased[index],
            self.basket_value[index],
            self.present[index],
            self.category[index],
            self.category_names,
            self.first_period,
            self.ids[index],
        )


def build_panel(
    frame: pd.DataFrame,
    max_cells: int = 2_000_000_000,
    weeks: tuple[int, int] | None = None,
    category_names: tuple[str, ...] | None = None,
    min_shoppers: int = MIN_SHOPPERS,
) -> Panel:
    """The panel of a validated log frame (``shop_log.validate_shop_log`` / ``read_shop_log``).

    Args:
        frame: One row per shopper and period with the schema's columns; ids already hashed.
        max_cells: Largest shoppers x periods panel accepted (memory guard; shard bigger logs).
        weeks: ``(first period, number of periods)`` of the whole log, when ``frame`` is one shard of
            it (default: the frame's own); every shard's panel then has the same columns.
        category_names: The whole log's categories, in order (default: the frame's own, sorted).
        min_shoppers: Fewest shoppers accepted (a shard may hold fewer than the log's minimum).

    Raises:
        DiscountSimInputError: Fewer than ``min_shoppers`` shoppers, or a panel over ``max_cells``.
    """
    codes, ids = pd.factorize(frame["shopper_id"], sort=True)
    n = len(ids)
    if n < min_shoppers:
        raise DiscountSimInputError(
            f"data: the log has {n} shoppers; calibration needs at least {MIN_SHOPPERS} "
            "(no group smaller than that is ever reported)"
        )
    period = frame["period"].to_numpy(np.int64)
    first, n_periods = (int(period.min()), int(period.max() - period.min()) + 1) if weeks is None else weeks
    t = period - first
    if n * n_periods > max_cells:
        raise DiscountSimInputError(
            f"data: {n} shoppers x {n_periods} weeks is more than {max_cells} cells; "
            "fit it in shards (calibrate shards=...)"
        )
    discount = np.zeros((n, n_periods))
    purchased = np.zeros((n, n_periods))
    basket = np.zeros((n, n_periods))
    discount[codes, t] = frame["discount"].to_numpy(np.float64)
    purchased[codes, t] = frame["purchased"].to_numpy(np.float64)
    basket[codes, t] = frame["basket_value"].to_numpy(np.float64)
    start = np.full(n, n_periods, dtype=np.int64)
    np.minimum.at(start, codes, t)
    present = np.arange(n_periods)[None, :] >= start[:, None]
    names = category_names if category_names is not None else log_categories(frame)
    if names == ("all",):
        category = np.zeros(n, dtype=np.int64)
    else:
        labels = frame["category"].fillna("unknown").astype(str) if "category" in frame.columns else "unknown"
        cat_codes = pd.Categorical(pd.Series(labels, index=frame.index), categories=list(names)).codes
        # A shopper's main category: the one on most of its rows (first such by name on ties).
        counts = np.zeros((n, len(names)), dtype=np.int64)
        np.add.at(counts, (codes, cat_codes), 1)
        category = counts.argmax(axis=1)
    return Panel(discount, purchased, basket, present, category, tuple(names), first, np.asarray(ids, dtype=object))


def log_categories(frame: pd.DataFrame) -> tuple[str, ...]:
    """The log's category names, sorted (``("all",)`` when it has no category column)."""
    if "category" not in frame.columns or not frame["category"].notna().any():
        return ("all",)
    return tuple(sorted(str(c) for c in frame["category"].fillna("unknown").astype(str).unique()))
