"""The fit's view of a log: its summary, its log-likelihood and gradient, held-out scores, a sample.

``calibrate_source`` reads a log only through this interface, so the same fit runs on one panel
in this process (``PanelSource``) or on shards of shoppers held by Ray workers
(``experiments/ray_calibration.py``), each worker a ``PanelSource`` over its own files: the
driver sums the workers' log-likelihoods and gradients (shoppers are independent, so the sum is
the full-batch value) and L-BFGS never knows the difference.

Which shoppers are held out depends only on the (hashed) id and the seed, never on which
shard a shopper is in, so a sharded fit and a one-process fit of the same log are the same fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd
import torch
from discountsim.simulators.calibration.fit import Layout, backward_by_shard, shards_of, total_loglik
from discountsim.simulators.calibration.likelihood import (
    DTYPE,
    Calendar,
    Fixed,
    PanelTensors,
    as_tensors,
    forward,
    mixture_loglik,
    one_step_predictions,
)
from discountsim.simulators.calibration.panel import Panel
from discountsim.simulators.params import SimulatorParams
from numpy.typing import NDArray

RATE_SAMPLE = 20_000
"""Fitting shoppers' purchase rates a source reports at most (starting values need only their quantiles)."""


def held_out_mask(ids: NDArray[np.object_], held_out: float, seed: int) -> NDArray[np.bool_]:
    """``(n_shoppers,)`` True for the shoppers held out: a seeded hash of the id below ``held_out``.

    A function of the id alone, so it is the same whichever file or shard a shopper sits in; about
    ``held_out`` of the shoppers (a binomial count), the same ones for the same ids and seed.
    """
    key = f"{int(seed) % 10**16:016d}"  # pandas' hash key: 16 characters
    hashed = pd.util.hash_array(np.asarray(ids, dtype=object), hash_key=key, categorize=False)
    return hashed.astype(np.float64) / 2.0**64 < held_out


@dataclass(frozen=True)
class LogSummary:
    """What the fit needs to know of the whole log before fitting; merged over shards by ``merge``.

    Attributes:
        n_shoppers, n_rows: Shoppers and shopper-weeks (rows in the shoppers' windows).
        n_fit, n_held_out: Shoppers fitted and held out.
        category_counts: ``(n_categories,)`` shoppers per main category (the panel's category order).
        any_offer: The log holds at least one offer (discount > 0).
        deepest_offer: The deepest discount logged (fraction of list price).
        rates: Purchase rates (purchases per week in the window) of up to ``RATE_SAMPLE`` fitting shoppers.
    """

    n_shoppers: int
    n_rows: int
    n_fit: int
    n_held_out: int
    category_counts: NDArray[np.int64]
    any_offer: bool
    deepest_offer: float
    rates: NDArray[np.float64]

    @classmethod
    def merge(cls, parts: list[LogSummary], seed: int = 0) -> LogSummary:
        rates = np.concatenate([p.rates for p in parts])
        if rates.size > RATE_SAMPLE:
            rates = np.random.default_rng(seed).choice(rates, RATE_SAMPLE, replace=False)
        return cls(
            sum(p.n_shoppers for p in parts),
            sum(p.n_rows for p in parts),
            sum(p.n_fit for p in parts),
            sum(p.n_held_out for p in parts),
            np.sum([p.category_counts for p in parts], axis=0),
            any(p.any_offer for p in parts),
            max(p.deepest_offer for p in parts),
            rates,
        )


@dataclass(frozen=True)
class HeldOutScores:
    """One-step forecasts and outcomes of held-out rows (all, or a sample), and the exact totals.

    Attributes:
        predicted, observed: ``(m,)`` P(buy | earlier weeks) and the purchase (0/1), for the decile table.
        loglik: Purchase log-likelihood of every held-out shopper (churn marginalised; baskets not scored).
        rows: Held-out shopper-weeks scored.
        n_shoppers: Held-out shoppers.
    """

    predicted: NDArray[np.float64]
    observed: NDArray[np.float64]
    loglik: float
    rows: int
    n_shoppers: int

    @classmethod
    def merge(cls, parts: list[HeldOutScores]) -> HeldOutScores:
        return cls(
            np.concatenate([p.predicted for p in parts]),
            np.concatenate([p.observed for p in parts]),
            sum(p.loglik for p in parts),
            sum(p.rows for p in parts),
            sum(p.n_shoppers for p in parts),
        )


def score_panel(
    natural: dict[str, NDArray], panel: Panel, calendar: Calendar, fixed: Fixed, shard_size: int
) -> HeldOutScores:
    """Every row of ``panel`` scored under ``natural``: one-step forecasts, outcomes, purchase log-likelihood."""
    nat = as_tensors(natural)
    predicted, observed, loglik = [np.zeros(0)], [np.zeros(0)], 0.0
    with torch.no_grad():
        for shard in shards_of(PanelTensors.of(panel), shard_size):
            fwd = forward(nat, shard, calendar, fixed, keep_predictions=True)
            here = shard.present.numpy()
            predicted.append(one_step_predictions(nat, fwd).numpy()[here])
            observed.append(shard.purchased.numpy()[here])
            loglik += float(mixture_loglik(nat, fwd, baskets=False).sum())
    observed_all = np.concatenate(observed)
    return HeldOutScores(np.concatenate(predicted), observed_all, loglik, int(observed_all.size), panel.n_shoppers)


class LogSource(Protocol):
    """A log as the fit reads it (one process or many)."""

    summary: LogSummary

    def loglik_and_grad(
        self, layout: Layout, theta: NDArray[np.float64], free: NDArray[np.bool_]
    ) -> tuple[float, NDArray[np.float64]]:
        """Sum of the fitting shoppers' log-likelihoods at ``theta`` and its gradient in the ``free`` entries."""
        ...

    def loglik(self, layout: Layout, theta: NDArray[np.float64]) -> float:
        """Sum of the fitting shoppers' log-likelihoods at ``theta``."""
        ...

    def held_out_scores(self, natural: dict[str, NDArray], max_rows: int | None = None) -> HeldOutScores:
        """The held-out shoppers scored under ``natural``; at most ``max_rows`` forecast rows kept."""
        ...

    def sample(self, max_shoppers: int | None, seed: int) -> tuple[Panel, NDArray[np.bool_]]:
        """Up to ``max_shoppers`` shoppers' panel (all when None) and which of them are held out."""
        ...


class PanelSource:
    """A log held in this process as one panel; the fitting shoppers cut into shards of ``shard_size``.

    Args:
        panel: The log's panel (``build_panel``).
        calendar, fixed: The likelihood's calendar over the panel's weeks and the constants kept from the base.
        held_out: Share of shoppers held out (``held_out_mask``), in [0, 1).
        seed: Seed of the held-out split.
        shard_size: Shoppers per shard of the likelihood (bounds the autograd graph; same values).
    """

    def __init__(
        self, panel: Panel, calendar: Calendar, fixed: Fixed, held_out: float, seed: int, shard_size: int
    ) -> None:
        self.panel = panel
        self.calendar = calendar
        self.fixed = fixed
        self.shard_size = int(shard_size)
        self.is_held_out = held_out_mask(panel.ids, held_out, seed)
        fit_panel = panel.take(np.flatnonzero(~self.is_held_out))
        self.test_panel = panel.take(np.flatnonzero(self.is_held_out))
        self.shards = shards_of(PanelTensors.of(fit_panel), self.shard_size) if fit_panel.n_shoppers else []
        window = fit_panel.present.sum(axis=1)
        rates = fit_panel.purchased.sum(axis=1) / np.maximum(window, 1)
        if rates.size > RATE_SAMPLE:
            rates = np.random.default_rng(seed).choice(rates, RATE_SAMPLE, replace=False)
        offered = panel.discount[panel.present]
        self.summary = LogSummary(
            panel.n_shoppers,
            panel.n_rows,
            fit_panel.n_shoppers,
            self.test_panel.n_shoppers,
            np.bincount(panel.category, minlength=len(panel.category_names)),
            bool((offered > 0).any()),
            float(offered.max()) if offered.size else 0.0,
            rates,
        )

    @classmethod
    def from_base(
        cls, panel: Panel, base: SimulatorParams, start_week: int, held_out: float, seed: int, shard_size: int
    ) -> PanelSource:
        """The source of ``panel`` with scenario ``base``'s calendar and constants; the log starts in ``start_week``."""
        return cls(panel, Calendar.of(base, start_week, panel.n_periods), Fixed.of(base), held_out, seed, shard_size)

    def loglik_and_grad(
        self, layout: Layout, theta: NDArray[np.float64], free: NDArray[np.bool_]
    ) -> tuple[float, NDArray[np.float64]]:
        base = torch.tensor(theta, dtype=DTYPE)
        mask = torch.tensor(free)
        x = base[mask].clone().requires_grad_(True)
        loss = backward_by_shard(layout, base, mask, x, self.shards, self.calendar, self.fixed)
        return -loss, -x.grad.numpy()

    def loglik(self, layout: Layout, theta: NDArray[np.float64]) -> float:
        with torch.no_grad():
            return float(total_loglik(layout, torch.tensor(theta, dtype=DTYPE), self.shards, self.calendar, self.fixed))

    def held_out_scores(self, natural: dict[str, NDArray], max_rows: int | None = None) -> HeldOutScores:
        scores = score_panel(natural, self.test_panel, self.calendar, self.fixed, self.shard_size)
        if max_rows is None or scores.rows <= max_rows:
            return scores
        keep = np.random.default_rng(0).choice(scores.rows, max_rows, replace=False)
        return HeldOutScores(
            scores.predicted[keep], scores.observed[keep], scores.loglik, scores.rows, scores.n_shoppers
        )

    def sample(self, max_shoppers: int | None, seed: int) -> tuple[Panel, NDArray[np.bool_]]:
        if max_shoppers is None or max_shoppers >= self.panel.n_shoppers:
            return self.panel, self.is_held_out
        rows = np.sort(np.random.default_rng(seed).choice(self.panel.n_shoppers, max_shoppers, replace=False))
        return self.panel.take(rows), self.is_held_out[rows]
