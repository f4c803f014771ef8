"""Evidence of fit, computed the same way on the log and on the fitted scenario's replay of it.

Everything here is segment- or population-level: no per-shopper value leaves this module.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from discountsim.simulators.calibration.panel import Panel
from discountsim.simulators.params import SimulatorParams
from discountsim.simulators.simulator import ShopperSimulator
from numpy.typing import NDArray


def replay(params: SimulatorParams, discount: NDArray[np.float64], seed: int) -> Panel:
    """Simulate new shoppers of ``params`` under the log's own offers, row for row: a simulated log.

    Shopper i of the replay gets exactly the discounts logged for shopper i (clipped to
    ``d_max``), so observed and simulated differ only by who the shoppers are and how they respond.
    """
    n, n_periods = discount.shape
    sim = ShopperSimulator(params, n, seed)
    sim.reset()
    purchased = np.zeros((n, n_periods))
    basket = np.zeros((n, n_periods))
    offered = np.minimum(discount, params.d_max)
    for t in range(n_periods):
        outcome = sim.step(offered[:, t])
        purchased[:, t] = outcome.purchased
        basket[:, t] = outcome.basket_value
    present = np.ones((n, n_periods), dtype=bool)
    return Panel(
        offered, purchased, basket, present, np.zeros(n, dtype=np.int64), ("all",), 0, np.array([""] * n, dtype=object)
    )


def rate_by_discount(panel: Panel) -> pd.Series:
    """Purchase rate (per shopper-week in the window) by discount offered, rounded to 0.01."""
    here = panel.present
    depth = np.round(panel.discount[here], 2)
    frame = pd.DataFrame({"discount": depth, "purchased": panel.purchased[here]})
    return frame.groupby("discount")["purchased"].mean()


def inter_purchase_times(panel: Panel, longest: int = 26) -> pd.Series:
    """Share of gaps between consecutive purchases of a shopper of 1, 2, ... weeks (``longest``+ pooled)."""
    rows, weeks = np.nonzero(panel.purchased > 0)
    same = rows[1:] == rows[:-1]
    gaps = np.minimum((weeks[1:] - weeks[:-1])[same], longest)
    counts = np.bincount(gaps, minlength=longest + 1)[1:]
    return pd.Series(counts / max(counts.sum(), 1), index=pd.RangeIndex(1, longest + 1, name="weeks"))


def still_buying(panel: Panel) -> pd.Series:
    """Retention as a log shows it: share of shoppers with a purchase in week t or later, per week t."""
    bought = panel.purchased > 0
    later = np.flip(np.cumsum(np.flip(bought, axis=1), axis=1), axis=1) > 0
    return pd.Series(later.mean(axis=0), index=pd.RangeIndex(panel.n_periods, name="week"))


def deciles(predicted: NDArray[np.float64], observed: NDArray[np.float64]) -> pd.DataFrame:
    """Rows grouped by decile of predicted P(buy): mean predicted, observed rate, rows, difference (pp)."""
    order = np.argsort(predicted, kind="stable")
    groups = [g for g in np.array_split(order, 10) if g.size]
    rows = []
    for j, g in enumerate(groups, start=1):
        pred, obs = float(predicted[g].mean()), float(observed[g].mean())
        rows.append(
            {"decile": j, "predicted": pred, "observed": obs, "rows": int(g.size), "gap_pp": 100 * (obs - pred)}
        )
    return pd.DataFrame(rows)
