"""Calibrate a scenario to a shop log: the whole procedure, from a validated log to a scenario.

1. The log becomes a panel (``panel``) read through a ``source.LogSource`` (this process, or shards
   on workers); about 20 % of shoppers (a seeded hash of the id) are set aside.
2. Models with K = 1, 2, ... segments are fitted by maximum likelihood (``fit``), each warm-started
   from the last; K is the one with the smallest BIC among those whose every segment has at
   least ``MIN_SHOPPERS`` shoppers behind it (or the K asked for).
3. Standard errors come from the observed information. A value whose error is too large to say
   much is *weakly identified* if its 95 % interval still excludes the base scenario's value (the
   log rejects the base: the estimate is kept). Otherwise, a per-segment value not identified in
   two or more segments is estimated once, shared by those segments (pooled: the population may
   identify what no one segment does); a value still not identified, or that the logging policy
   never exercised, is reported as not identified and kept at the base scenario's value. The
   model is refitted after each of these steps.
4. The held-out shoppers score the final model: log-likelihood per row and calibration by decile.
5. The estimates become an ordinary scenario (``parameters.scenario_from_natural``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from discountsim.simulators.calibration.checks import deciles
from discountsim.simulators.calibration.fit import (
    FitResult,
    Layout,
    at_bound,
    fit_segments,
    not_identified,
    split_largest,
    standard_errors,
    starting_values,
)
from discountsim.simulators.calibration.likelihood import Calendar, Fixed
from discountsim.simulators.calibration.panel import MIN_SHOPPERS, Panel, build_panel
from discountsim.simulators.calibration.parameters import (
    SPEC,
    clip_to_schema,
    default_natural,
    scenario_from_natural,
)
from discountsim.simulators.calibration.source import LogSource, PanelSource, score_panel
from discountsim.simulators.errors import DiscountSimInputError
from discountsim.simulators.params import PERIODS_PER_YEAR, SimulatorParams
from discountsim.simulators.scenarios import build_scenario
from numpy.typing import NDArray

log = logging.getLogger(__name__)

SHARD_SIZE = 4000
"""Default shoppers per shard of the likelihood: about 0.2 GB of autograd graph at K = 4, 52 weeks."""

OFFER_PARAMETERS = (
    "discount_sensitivity",
    "gain_weight",
    "loss_weight",
    "reference_memory",
    "initial_reference",
    "fatigue_sensitivity",
    "stock_sensitivity",
    "forward_buying",
    "offer_churn",
    "fatigue_churn",
    "fatigue_decay",
    "stock_consumption",
)
"""Parameters that only offers move: none of them can be learnt from a log without offers."""


@dataclass
class HeldOut:
    """Fit on shoppers the estimation never saw: per-row log-likelihood and calibration by decile."""

    n_shoppers: int
    rows: int
    loglik_per_row: float
    deciles: pd.DataFrame


@dataclass
class Calibration:
    """Everything a calibration produced; segment-level only (no per-shopper value).

    Attributes:
        scenario: The fitted scenario as a plain mapping (``load_scenario`` accepts it).
        params: The same, built.
        natural: Estimates (natural units, ``parameters`` layout; segments in fit order).
        se: Their standard errors (NaN where not estimated).
        fits: The model fitted for each K tried (BIC path).
        chosen: The final model.
        not_identified: ``(parameter, segment or index, value kept)``: the base scenario's value it was held at.
        pooled: Per-segment parameter -> the segments (fit order) that share one estimated value of it,
            because none of them identified it alone.
        weakly_identified: ``(parameter, index)`` estimated after the refit but with a wide interval.
        held_out: Scores on the held-out shoppers.
        warnings: What the user must know (not-identified values, extrapolation, the key's source).
        n_shoppers, n_rows: Size of the log.
        n_fit: Shoppers fitted (the rest held out).
        panel: The shoppers the report's checks replay: the whole log, or a sample of a sharded one
            (kept in memory; never written).
        fit_index, held_out_index: Rows of ``panel`` fitted and held out.
    """

    scenario: dict
    params: SimulatorParams
    natural: dict[str, NDArray]
    se: dict[str, NDArray]
    fits: list[FitResult]
    chosen: FitResult
    not_identified: list[tuple[str, int, float]]
    pooled: dict[str, list[int]]
    weakly_identified: list[tuple[str, int]]
    held_out: HeldOut
    warnings: list[str]
    n_shoppers: int
    n_rows: int
    n_fit: int
    start_week: int
    panel: Panel = field(repr=False)
    fit_index: NDArray[np.intp] = field(repr=False)
    held_out_index: NDArray[np.intp] = field(repr=False)


def where_label(natural: dict[str, NDArray], categories: tuple[str, ...], name: str, index: int) -> str:
    """How the tables name a value: its segment as in the scenario (``segment_<rank by share>``), category or index."""
    shape = SPEC[name].shape if name in SPEC else "segment"
    if shape == "segment":
        order = np.argsort(-np.asarray(natural["share"]), kind="stable")
        return f"segment_{int(np.flatnonzero(order == index)[0]) + 1}"
    if shape == "category":
        return categories[index]
    return "population" if shape == "population" else f"holiday {index}"


def _smallest_segment(fit: FitResult, n_shoppers: int) -> float:
    return float(np.min(fit.natural["share"]) * n_shoppers)


def _select(fits: list[FitResult], n_shoppers: int) -> FitResult:
    admissible = [f for f in fits if _smallest_segment(f, n_shoppers) >= MIN_SHOPPERS]
    return min(admissible or fits[:1], key=lambda f: f.bic)


def calibrate(
    frame: pd.DataFrame,
    base: SimulatorParams,
    segments: int | str = "auto",
    max_segments: int = 4,
    held_out: float = 0.2,
    seed: int = 0,
    start_week: int | None = None,
    shard_size: int = SHARD_SIZE,
    name: str = "calibrated",
    max_iter: int = 300,
    progress: Callable[[str], None] = log.info,
) -> Calibration:
    """Fit a scenario to a validated log (``shop_log.read_shop_log(...).frame``), in this process.

    Args:
        frame: The log, ids already hashed.
        base: Scenario that supplies what a log cannot (margins, offer cost, calendar of holidays,
            d_max) and the values kept for anything not identified.
        segments: ``"auto"`` (BIC over 1..``max_segments``) or a number of segments.
        held_out: Share of shoppers held out of the fit, in [0, 0.5] (``source.held_out_mask``).
        seed: Seed of the held-out split.
        start_week: Week of year of the log's first week (default: the base scenario's).
        shard_size: Shoppers per shard of the likelihood (bounds memory; the optimum is the same).
    """
    panel = build_panel(frame)
    start_week = base.seasonality.start_week if start_week is None else int(start_week)
    source = PanelSource.from_base(panel, base, start_week, held_out, seed, shard_size)
    return calibrate_source(
        source, base, panel.category_names, segments, max_segments, start_week, name, max_iter, progress
    )


def _rejects_base(
    natural: dict[str, NDArray], se: dict[str, NDArray], defaults: dict[str, NDArray], name: str, j: int
) -> bool:
    """The base value lies outside the estimate's 95 % interval (a finite one)."""
    est, err = float(np.atleast_1d(natural[name])[j]), float(np.atleast_1d(se[name])[j])
    return bool(np.isfinite(err) and abs(est - float(np.atleast_1d(defaults[name])[j])) > 1.96 * err)


def _poolable(weak: list[tuple[str, int]]) -> dict[str, list[int]]:
    """Per-segment parameters not identified in two or more segments: those segments, to share one value."""
    by_name: dict[str, list[int]] = {}
    for n, j in weak:
        if SPEC[n].shape == "segment":
            by_name.setdefault(n, []).append(j)
    return {n: sorted(js) for n, js in by_name.items() if len(js) >= 2}


def _refit(
    k: int,
    previous: FitResult,
    defaults: dict[str, NDArray],
    source: LogSource,
    kept: set[tuple[str, int]],
    pooled: dict[str, list[int]],
    max_iter: int,
    progress: Callable[[str], None],
) -> tuple[FitResult, dict[str, NDArray]]:
    """The K-segment model refitted from ``previous`` with ``kept`` at the base and ``pooled`` shared; its errors."""
    fit = fit_segments(k, previous.natural, defaults, source, kept, max_iter, progress, pooled)
    layout = Layout({n: int(np.atleast_1d(v).size) for n, v in fit.natural.items()})
    fit.se = standard_errors(layout, fit.theta, fit.coords, source)
    return fit, fit.se


CHECK_SHOPPERS = 50_000
"""Shoppers a sharded fit gathers for the report's checks (replays, rates, decile table rows kept)."""


def calibrate_source(
    source: LogSource,
    base: SimulatorParams,
    categories: tuple[str, ...],
    segments: int | str = "auto",
    max_segments: int = 4,
    start_week: int = 0,
    name: str = "calibrated",
    max_iter: int = 300,
    progress: Callable[[str], None] = log.info,
    check_shoppers: int | None = None,
    seed: int = 0,
) -> Calibration:
    """Fit a scenario to a log read through ``source`` (one process, or shards on workers).

    Args:
        source: The log (``source.PanelSource`` or a sharded source).
        categories: The log's category names, in the panel's order.
        check_shoppers: Shoppers kept for the report's checks (None: all; a sharded fit passes a cap).
        seed: Seed of the sample of ``check_shoppers``.

    Other arguments as ``calibrate``.
    """
    if base.has_members:
        raise DiscountSimInputError(
            f"simulator: base scenario {base.name!r} has paid members (member_share > 0), whose member prices and "
            "fees a shop log does not record, so they cannot be fitted; calibrate from a scenario without members"
        )
    summary = source.summary
    if segments != "auto" and int(segments) * MIN_SHOPPERS > summary.n_shoppers:
        raise DiscountSimInputError(
            f"segments: {segments} segments of at least {MIN_SHOPPERS} shoppers need {int(segments) * MIN_SHOPPERS} "
            f"shoppers; the log has {summary.n_shoppers}"
        )
    if summary.n_fit < MIN_SHOPPERS:
        raise DiscountSimInputError(f"held_out: leaves {summary.n_fit} shoppers to fit; at least {MIN_SHOPPERS} needed")
    if summary.n_held_out < 10:
        raise DiscountSimInputError(
            f"held_out: holds out {summary.n_held_out} shoppers; the held-out check needs at least 10 "
            "(raise held_out, in (0, 0.5])"
        )
    warnings: list[str] = []
    offer_free = not summary.any_offer
    if offer_free:
        warnings.append(
            "the log has no offers: every response to discounts is not identified and kept at the base scenario's value"
        )

    def kept_for(k: int) -> set[tuple[str, int]]:
        if not offer_free:
            return set()
        return {(n, j) for n in OFFER_PARAMETERS for j in range(k if SPEC[n].shape == "segment" else 1)}

    counts = [int(segments)] if segments != "auto" else list(range(1, int(max_segments) + 1))
    fits: list[FitResult] = []
    previous: FitResult | None = None
    for k in counts:
        defaults = default_natural(base, k, categories)
        if previous is not None and previous.n_segments == k - 1:
            start = split_largest(previous.natural)
        else:
            start = starting_values(defaults, summary.rates, k)
        fit = fit_segments(k, start, defaults, source, kept_for(k), max_iter, progress)
        fits.append(fit)
        previous = fit
        if segments == "auto" and len(fits) >= 2 and fit.bic > fits[-2].bic:
            progress(f"BIC rose from K={k - 1} to K={k}: stopping the path")
            break
        if segments == "auto" and _smallest_segment(fit, summary.n_shoppers) < MIN_SHOPPERS:
            progress(f"K={k} has a segment with fewer than {MIN_SHOPPERS} shoppers: stopping the path")
            break
    chosen = _select(fits, summary.n_shoppers)
    k = chosen.n_segments
    if segments == "auto" and len(fits) >= 2 and chosen is fits[-1] and k == int(max_segments):
        warnings.append(
            f"BIC was still falling at max_segments = {k} (by {fits[-2].bic - chosen.bic:,.1f} from K={k - 1}): "
            "more segments may fit better; raise max_segments"
        )
    defaults = default_natural(base, k, categories)
    layout = Layout({n: int(np.atleast_1d(v).size) for n, v in chosen.natural.items()})
    progress(f"chosen K={k}; standard errors from the observed information ({int(chosen.free.sum())} values)")
    se = standard_errors(layout, chosen.theta, chosen.coords, source)
    chosen.se = se  # kept on the BIC path's model: the errors before any value was held at the base
    kept_always = kept_for(k)
    weak = [e for e in not_identified(chosen.natural, se) if e not in kept_always]
    # A wide interval that still excludes the base value is information: the log rejects the base, so
    # holding the value there would invent it. Such values keep their estimate (reported as weakly
    # identified); only values whose interval covers the base go to pooling or to the base.
    rejected = [e for e in weak if _rejects_base(chosen.natural, se, defaults, *e)]
    for n, j in rejected:
        value, error, base_value = chosen.natural[n][j], se[n][j], np.atleast_1d(defaults[n])[j]
        progress(
            f"  weakly identified: {n}[{j}] = {value:.4g} (se {error:.3g}); the log rejects the base {base_value:.4g}"
        )
    weak = [e for e in weak if e not in rejected]
    pooled: dict[str, list[int]] = {}
    if weak:
        for n, j in weak:
            value, error = np.atleast_1d(chosen.natural[n])[j], np.atleast_1d(se[n])[j]
            progress(f"  not identified: {n}[{j}] = {value:.4g} (se {error:.3g})")
        pooled = _poolable(weak)
        kept_always |= {(n, j) for n, j in weak if j not in pooled.get(n, ())}
        progress(
            f"{len(weak)} values not identified; refitting with "
            + (f"{', '.join(pooled)} shared over the segments that lack it, " if pooled else "")
            + "the rest kept at the base scenario's values"
        )
        chosen, se = _refit(k, chosen, defaults, source, kept_always, pooled, max_iter, progress)
        failed = {
            n
            for n, j in not_identified(chosen.natural, se)
            if j in pooled.get(n, ()) and not _rejects_base(chosen.natural, se, defaults, n, j)
        }
        if failed:  # the shared value is not identified either: it goes to the base, and one more refit
            progress(f"  not identified even shared: {', '.join(sorted(failed))}; refitting with them at the base")
            kept_always |= {(n, j) for n in failed for j in pooled.pop(n)}
            chosen, se = _refit(k, chosen, defaults, source, kept_always, pooled, max_iter, progress)
    for n, segs in pooled.items():
        where = ", ".join(where_label(chosen.natural, categories, n, j) for j in segs)
        shared, error = float(chosen.natural[n][segs[0]]), float(se[n][segs[0]])
        warnings.append(
            f"{n} ({SPEC[n].meaning}) is not identified in {where} alone; "
            f"one value shared by them is estimated: {shared:.4g} (se {error:.3g})"
        )
    still_weak = [e for e in not_identified(chosen.natural, se) if e not in kept_always]
    for n, j in still_weak:
        where = where_label(chosen.natural, categories, n, j)
        warnings.append(f"{n} of {where} ({SPEC[n].meaning}) is only weakly identified: its interval is wide")
    unidentified = [(n, j, float(np.atleast_1d(defaults[n])[j])) for n, j in sorted(kept_always)]
    for n, j, *_ in unidentified:
        where = where_label(chosen.natural, categories, n, j)
        warnings.append(f"{n} of {where} ({SPEC[n].meaning}) is not identified by this log; kept at the base value")
    if 0 < summary.deepest_offer < base.d_max - 1e-9:
        warnings.append(
            f"the deepest logged discount is {summary.deepest_offer:.2f}; "
            f"responses between it and d_max = {base.d_max} are extrapolated"
        )
    # The decile table needs no more rows than a year of the check sample has; the totals are over every row.
    check_rows = None if check_shoppers is None else check_shoppers * PERIODS_PER_YEAR
    scores = source.held_out_scores(chosen.natural, check_rows)
    held = HeldOut(
        scores.n_shoppers, scores.rows, scores.loglik / max(scores.rows, 1), deciles(scores.predicted, scores.observed)
    )
    shares = summary.category_counts / max(summary.n_shoppers, 1)
    scenario = scenario_from_natural(chosen.natural, base, categories, shares, name, start_week)
    for clipped in clip_to_schema(scenario):
        warnings.append(f"estimate outside what a scenario allows: {clipped}; the log cannot bound it")
    params = build_scenario(**scenario)
    panel, is_held_out = source.sample(check_shoppers, seed)
    return Calibration(
        scenario=scenario,
        params=params,
        natural=chosen.natural,
        se=se,
        fits=fits,
        chosen=chosen,
        not_identified=unidentified,
        pooled=pooled,
        weakly_identified=still_weak,
        held_out=held,
        warnings=warnings,
        n_shoppers=summary.n_shoppers,
        n_rows=summary.n_rows,
        n_fit=summary.n_fit,
        start_week=start_week,
        panel=panel,
        fit_index=np.flatnonzero(~is_held_out),
        held_out_index=np.flatnonzero(is_held_out),
    )


def loglik_per_row(natural: dict[str, NDArray], panel: Panel, calendar: Calendar, fixed: Fixed) -> float:
    """Purchase log-likelihood per row of ``panel`` under ``natural`` (e.g. the true scenario's values)."""
    scores = score_panel(natural, panel, calendar, fixed, SHARD_SIZE)
    return scores.loglik / max(scores.rows, 1)


def bic_table(fits: list[FitResult], chosen: FitResult) -> pd.DataFrame:
    """One row per K tried: log-likelihood, values estimated, BIC, smallest segment share, chosen."""
    return pd.DataFrame(
        [
            {
                "segments": f.n_segments,
                "loglik": f.loglik,
                "values": f.n_free,
                "bic": f.bic,
                "smallest_share": float(np.min(f.natural["share"])),
                "converged": f.converged,
                "seconds": f.seconds,
                "chosen": f.n_segments == chosen.n_segments,
            }
            for f in fits
        ]
    )


def parameter_table(cal: Calibration) -> pd.DataFrame:
    """Every value: estimate, 95 % interval (observed information, delta method), status. Segments by share."""
    order = np.argsort(-np.asarray(cal.natural["share"]), kind="stable")
    kept = {(n, j) for n, j, *_ in cal.not_identified}
    shared = {(n, j) for n, segs in cal.pooled.items() for j in segs}
    weak = set(cal.weakly_identified)
    informative = ("estimated", "weakly identified", "shared (not identified per segment)")
    rows = []
    for name in (*SPEC, "share"):
        est, err = np.atleast_1d(cal.natural[name]), np.atleast_1d(cal.se[name])
        shape = SPEC[name].shape if name in SPEC else "segment"
        indices = order if shape == "segment" else range(est.size)
        for rank, j in enumerate(indices, start=1):
            label = (
                f"segment_{rank}"
                if shape == "segment"
                else (cal.panel.category_names[j] if shape == "category" else str(j) if est.size > 1 else "")
            )
            if (name, j) in kept:
                status = "kept at base (not identified)"
            elif math.isnan(err[j]):
                status = "fixed (reference)"
            elif at_bound(name, float(est[j])):
                status = "at bound"
            elif (name, j) in weak:
                status = "weakly identified"
            elif (name, j) in shared:
                status = "shared (not identified per segment)"
            else:
                status = "estimated"
            rows.append(
                {
                    "parameter": name,
                    "where": label,
                    "estimate": float(est[j]),
                    "low": float(est[j] - 1.96 * err[j]) if status in informative else math.nan,
                    "high": float(est[j] + 1.96 * err[j]) if status in informative else math.nan,
                    "se": float(err[j]) if status in informative else math.nan,
                    "status": status,
                }
            )
    return pd.DataFrame(rows)
