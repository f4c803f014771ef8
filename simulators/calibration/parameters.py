"""The parameters a calibration estimates: names, constraints, defaults, and their place in a scenario.

Natural values are kept in a plain ``dict[str, ndarray]``: per-segment parameters ``(K,)``,
population ones ``()``, holiday uplifts ``(n_holidays,)``, category log-scales ``(n_categories,)``
(the first category's is 0 by convention: basket means are in its units). ``likelihood.py`` reads
the same dict as torch tensors, so the fitted model, the true scenario (``natural_from_scenario``)
and the scenario written back (``scenario_from_natural``) are one set of numbers.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from discountsim.simulators import dynamics
from discountsim.simulators.config_schema import to_dict
from discountsim.simulators.params import (
    PERIODS_PER_YEAR,
    BehaviourParams,
    CategoryParams,
    NormalTrait,
    PositiveTrait,
    SegmentParams,
    SimulatorParams,
)
from numpy.typing import NDArray

Transform = Literal["identity", "positive", "unit"]


@dataclass(frozen=True)
class ParamSpec:
    """One estimated quantity.

    Attributes:
        name: Key in the natural-values dict.
        shape: ``"segment"`` (one per segment), ``"population"`` (one), ``"holiday"`` or ``"category"``.
        transform: How an unconstrained number maps to it: identity, softplus (>= 0) or sigmoid ((0, 1)).
        scale: Natural-unit size below which an interval counts as informative: the parameter is
            reported as not identified when its standard error exceeds half of max(|estimate|, scale).
        meaning: What it is, for the parameter table (units).
    """

    name: str
    shape: Literal["segment", "population", "holiday", "category"]
    transform: Transform
    scale: float
    meaning: str


SPECS: tuple[ParamSpec, ...] = (
    ParamSpec("intent", "segment", "identity", 0.5, "a: baseline purchase utility (logit)"),
    ParamSpec("discount_sensitivity", "segment", "positive", 1.0, "b: utility per unit of discount"),
    ParamSpec("gain_weight", "segment", "positive", 1.0, "g: utility per unit of discount above the reference"),
    ParamSpec("loss_weight", "segment", "positive", 1.0, "l: utility lost per unit of discount below the reference"),
    ParamSpec("reference_memory", "segment", "unit", 0.2, "w: weight of the old reference discount"),
    ParamSpec("initial_reference", "segment", "unit", 0.05, "r0: reference discount at the log's start"),
    ParamSpec("fatigue_sensitivity", "segment", "positive", 0.2, "k: utility lost per unit of offer fatigue"),
    ParamSpec("stock_sensitivity", "segment", "positive", 0.5, "h: utility lost per basket of stock"),
    ParamSpec("forward_buying", "segment", "positive", 0.5, "phi: extra baskets per unit of discount"),
    ParamSpec("churn_logit", "segment", "identity", 1.0, "logit of the weekly churn probability"),
    ParamSpec("offer_churn", "segment", "positive", 1.0, "churn logit added in a week with an offer"),
    ParamSpec("fatigue_churn", "segment", "positive", 0.2, "churn logit per unit of offer fatigue"),
    ParamSpec("log_basket_value", "segment", "identity", 0.1, "log of the mean list-price basket (currency)"),
    ParamSpec("basket_sd", "segment", "positive", 0.1, "sd of log basket value between shoppers"),
    ParamSpec("season_cos", "population", "identity", 0.1, "annual cycle, cosine coefficient (logit)"),
    ParamSpec("season_sin", "population", "identity", 0.1, "annual cycle, sine coefficient (logit)"),
    ParamSpec("holiday_uplift", "holiday", "identity", 0.2, "holiday utility spike (logit)"),
    ParamSpec("fatigue_decay", "population", "unit", 0.2, "share of offer fatigue that survives a week"),
    ParamSpec("stock_consumption", "population", "positive", 0.3, "baskets of stock used up per week"),
    ParamSpec("recency_churn", "population", "positive", 0.2, "churn logit per unit of log(1 + weeks since purchase)"),
    ParamSpec("basket_noise_sd", "population", "positive", 0.05, "sd of log basket value within a shopper"),
    ParamSpec("category_log_scale", "category", "identity", 0.1, "log basket scale of a category (first = 0)"),
)
SPEC = {s.name: s for s in SPECS}
KEPT_FROM_BASE = {
    "satisfaction_churn": "churn logit removed per unit of satisfaction: confounded with recency in a log",
    "satisfaction_memory": "smoothing of satisfaction: enters only through satisfaction_churn",
    "margin": "gross margin per category: a log holds list prices, not costs",
    "offer_cost": "cost of sending an offer: not in a log",
    "initial_tenure": "weeks since acquisition before the log: not in a log",
    "review_rate, browse and cart signals": "only used for the observation; kept unless the log has them",
    "intent_shock_sd": "set to 0: the fitted model's segments absorb week-to-week intent noise",
    "trait sds within a segment": "set to 0 except basket_value: heterogeneity is carried by the segments",
}
"""What calibration does not estimate, and why: reported in the fit report."""


def sizes(n_segments: int, n_holidays: int, n_categories: int) -> dict[str, int]:
    """Number of values of each parameter."""
    by_shape = {"segment": n_segments, "population": 1, "holiday": n_holidays, "category": n_categories}
    return {s.name: by_shape[s.shape] for s in SPECS}


def _weighted(params: SimulatorParams, value) -> float:
    """The share-weighted median of a per-segment value: what the typical shopper of ``params`` has.

    A median, not a mean, so that a trait of one minority segment (the sleeping dogs' offer churn,
    say) is not smeared over every fitted segment whose own value the log cannot identify.
    """
    segments = list(params.segments.values())
    shares = np.array([s.share for s in segments], dtype=np.float64)
    values = np.array([value(s) for s in segments], dtype=np.float64)
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(shares[order]) / shares.sum()
    return float(values[order][np.searchsorted(cumulative, 0.5)])


def season_coefficients(amplitude: float, peak_week: float) -> tuple[float, float]:
    """(cos, sin) coefficients of A cos(2 pi (w - peak) / 52) = c cos(2 pi w / 52) + s sin(2 pi w / 52)."""
    angle = 2.0 * math.pi * peak_week / PERIODS_PER_YEAR
    return amplitude * math.cos(angle), amplitude * math.sin(angle)


def season_shape(cos: float, sin: float) -> tuple[float, float]:
    """(amplitude, peak_week in [0, 52)) of the cycle c cos + s sin: the inverse of ``season_coefficients``."""
    peak = (math.atan2(sin, cos) * PERIODS_PER_YEAR / (2.0 * math.pi)) % PERIODS_PER_YEAR
    return math.hypot(cos, sin), 0.0 if peak >= PERIODS_PER_YEAR - 1e-9 else peak


def _category_log_scales(params: SimulatorParams, categories: tuple[str, ...]) -> NDArray[np.float64]:
    scale = {name: c.basket_scale for name, c in params.catalogue.items()}
    logs = np.array([math.log(scale.get(name, 1.0)) for name in categories])
    return logs - logs[0]


def _reference_scale(params: SimulatorParams, categories: tuple[str, ...]) -> float:
    return params.catalogue[categories[0]].basket_scale if categories[0] in params.catalogue else 1.0


def default_natural(base: SimulatorParams, n_segments: int, categories: tuple[str, ...]) -> dict[str, NDArray]:
    """The base scenario's values for a K-segment model: each per-segment one is the share-weighted median.

    These are the values kept for anything the log cannot identify, and the starting point of a fit.
    """
    k = n_segments
    b = base.behaviour
    cos, sin = season_coefficients(base.seasonality.amplitude, base.seasonality.peak_week)
    ref = math.log(_reference_scale(base, categories))
    churn = _weighted(base, lambda s: s.churn_rate)
    per_segment = {
        "intent": _weighted(base, lambda s: s.intent.mean),
        "discount_sensitivity": _weighted(base, lambda s: s.discount_sensitivity.mean),
        "gain_weight": _weighted(base, lambda s: s.gain_weight.mean),
        "loss_weight": _weighted(base, lambda s: s.loss_weight.mean),
        "reference_memory": _weighted(base, lambda s: s.reference_memory),
        "initial_reference": _weighted(base, lambda s: s.initial_reference),
        "fatigue_sensitivity": _weighted(base, lambda s: s.fatigue_sensitivity.mean),
        "stock_sensitivity": _weighted(base, lambda s: s.stock_sensitivity.mean),
        "forward_buying": _weighted(base, lambda s: s.forward_buying.mean),
        "churn_logit": dynamics.logit(churn),
        "offer_churn": _weighted(base, lambda s: s.offer_churn),
        "fatigue_churn": _weighted(base, lambda s: s.fatigue_churn),
        "log_basket_value": _weighted(base, lambda s: math.log(s.basket_value.mean)) + ref,
        "basket_sd": _weighted(base, lambda s: s.basket_value.sd),
    }
    natural = {name: np.full(k, value) for name, value in per_segment.items()}
    natural.update(
        season_cos=np.array(cos),
        season_sin=np.array(sin),
        holiday_uplift=np.array([h.uplift for h in base.seasonality.holidays]),
        fatigue_decay=np.array(b.fatigue_decay),
        stock_consumption=np.array(b.stock_consumption),
        recency_churn=np.array(b.recency_churn),
        basket_noise_sd=np.array(b.basket_noise_sd),
        category_log_scale=_category_log_scales(base, categories),
        share=np.full(k, 1.0 / k),
    )
    return natural


def natural_from_scenario(params: SimulatorParams, categories: tuple[str, ...]) -> dict[str, NDArray]:
    """A scenario's own values in the fitted model's terms: its segments, with each trait at its mean.

    The likelihood of a log under these is "the true scenario's" likelihood in the benchmark. Traits
    drawn log-normally enter at their mean; the intent shock and within-segment spread are not
    represented (as in every fitted model).
    """
    segs = list(params.segments.values())
    on = params.dynamics
    ref = math.log(_reference_scale(params, categories))

    def column(value, active: bool = True) -> NDArray:
        return np.array([value(s) if active else 0.0 for s in segs], dtype=np.float64)

    natural = default_natural(params, len(segs), categories)
    natural.update(
        intent=column(lambda s: s.intent.mean),
        discount_sensitivity=column(lambda s: s.discount_sensitivity.mean),
        gain_weight=column(lambda s: s.gain_weight.mean, on.reference_effects),
        loss_weight=column(lambda s: s.loss_weight.mean, on.reference_effects),
        reference_memory=column(lambda s: s.reference_memory),
        initial_reference=column(lambda s: s.initial_reference),
        fatigue_sensitivity=column(lambda s: s.fatigue_sensitivity.mean, on.fatigue),
        stock_sensitivity=column(lambda s: s.stock_sensitivity.mean, on.stockpiling),
        forward_buying=column(lambda s: s.forward_buying.mean, on.stockpiling),
        churn_logit=column(lambda s: dynamics.logit(s.churn_rate)) if on.churn else np.full(len(segs), -30.0),
        offer_churn=column(lambda s: s.offer_churn, on.churn),
        fatigue_churn=column(lambda s: s.fatigue_churn, on.churn and on.fatigue),
        log_basket_value=column(lambda s: math.log(s.basket_value.mean)) + ref,
        basket_sd=column(lambda s: s.basket_value.sd),
        share=column(lambda s: s.share) / sum(s.share for s in segs),
    )
    if not on.churn:
        natural["recency_churn"] = np.array(0.0)
    return natural


def initial_recency(intent: NDArray) -> NDArray:
    """Weeks since the last purchase at the log's start, per segment: (1 - p) / p with p = sigmoid(a).

    The mean wait of a shopper buying with probability p each week (the geometric distribution);
    a log does not reach back before its first week, so this stationary value stands in.
    """
    p = np.clip(dynamics.sigmoid(np.asarray(intent, dtype=np.float64)), 1e-6, 1.0)
    return np.minimum((1.0 - p) / p, 520.0)


def scenario_from_natural(
    natural: dict[str, NDArray],
    base: SimulatorParams,
    categories: tuple[str, ...],
    category_shares: NDArray[np.float64],
    name: str,
    start_week: int,
) -> dict[str, Any]:
    """The fitted scenario as a plain mapping (``load_scenario`` builds it): segment-level values only.

    Segments are named ``segment_1``.. in decreasing share. Anything not estimated comes from ``base``.
    """
    out = to_dict(base)
    out["name"] = name
    out.pop("segments")
    order = np.argsort(-np.asarray(natural["share"]), kind="stable")
    tenure = _weighted(base, lambda s: s.initial_tenure)
    review = _weighted(base, lambda s: s.review_rate)
    satisfaction = base.behaviour.satisfaction_churn
    recency = initial_recency(natural["intent"])

    def f(key: str, k: int) -> float:
        return round(float(natural[key][k]), 6)

    segments = {}
    for rank, k in enumerate(order, start=1):
        segments[f"segment_{rank}"] = {
            "share": round(float(natural["share"][k]), 6),
            "intent": {"mean": f("intent", k), "sd": 0.0},
            "discount_sensitivity": {"mean": f("discount_sensitivity", k), "sd": 0.0},
            "gain_weight": {"mean": f("gain_weight", k), "sd": 0.0},
            "loss_weight": {"mean": f("loss_weight", k), "sd": 0.0},
            "reference_memory": f("reference_memory", k),
            "fatigue_sensitivity": {"mean": f("fatigue_sensitivity", k), "sd": 0.0},
            "fatigue_churn": f("fatigue_churn", k),
            "offer_churn": f("offer_churn", k),
            "stock_sensitivity": {"mean": f("stock_sensitivity", k), "sd": 0.0},
            "forward_buying": {"mean": f("forward_buying", k), "sd": 0.0},
            "basket_value": {
                "mean": round(math.exp(float(natural["log_basket_value"][k])), 4),
                "sd": f("basket_sd", k),
            },
            "churn_rate": round(float(dynamics.sigmoid(np.array(natural["churn_logit"][k]))), 8),
            "initial_reference": f("initial_reference", k),
            "initial_recency": round(float(recency[k]), 4),
            "initial_tenure": round(tenure, 4),
            "review_rate": round(review, 6),
        }
    shares = np.asarray(natural["share"])[order]
    # Shares rounded to 6 digits: renormalise the last so that they sum to 1 exactly as written.
    segments[f"segment_{len(order)}"]["share"] = round(1.0 - sum(round(float(s), 6) for s in shares[:-1]), 6)
    out["segments"] = segments
    margin = {n: c.margin for n, c in base.catalogue.items()}
    mean_margin = float(np.mean(list(margin.values())))
    # The base scenario's category order where names match, so that observations keep its layout
    # (a policy trained on the base scenario runs on the fitted one and back).
    order_names = [c for c in base.catalogue if c in categories] + [c for c in categories if c not in base.catalogue]
    out["catalogue"] = {
        c: {
            "share": round(float(category_shares[categories.index(c)]), 6),
            "margin": margin.get(c, mean_margin),
            "basket_scale": round(math.exp(float(natural["category_log_scale"][categories.index(c)])), 6),
        }
        for c in order_names
    }
    amplitude, peak = season_shape(float(natural["season_cos"]), float(natural["season_sin"]))
    seasonality = out["seasonality"]
    seasonality.update(start_week=int(start_week), amplitude=round(min(amplitude, 5.0), 6), peak_week=round(peak, 4))
    for h, holiday in enumerate(seasonality["holidays"]):
        holiday["uplift"] = round(float(np.clip(natural["holiday_uplift"][h], -10, 10)), 6)
    behaviour = out["behaviour"]
    behaviour.update(
        intent_shock_sd=0.0,
        fatigue_decay=round(float(natural["fatigue_decay"]), 6),
        stock_consumption=round(max(float(natural["stock_consumption"]), 1e-6), 6),
        recency_churn=round(float(natural["recency_churn"]), 6),
        basket_noise_sd=round(float(natural["basket_noise_sd"]), 6),
        satisfaction_churn=satisfaction,
    )
    out["dynamics"] = {"reference_effects": True, "fatigue": True, "stockpiling": True, "churn": True}
    return out


def _ranges(cls: type) -> dict[str, Any]:
    return {f.name: f.metadata.get("range") for f in dataclasses.fields(cls)}


def _clip(path: str, value: float, allowed: Any, clipped: list[str]) -> float:
    if allowed is None or allowed.contains(value):
        return value
    tiny = 1e-6 * max(1.0, abs(allowed.lo), abs(allowed.hi) if math.isfinite(allowed.hi) else 1.0)
    lo = allowed.lo + tiny if allowed.lo_open else allowed.lo
    hi = allowed.hi - tiny if allowed.hi_open else allowed.hi
    kept = float(min(max(value, lo), hi))
    clipped.append(f"{path} = {value:.6g} (written as {kept:.6g}, the edge of {allowed})")
    return kept


def clip_to_schema(scenario: dict[str, Any]) -> list[str]:
    """Clip a fitted scenario's estimates into the scenario schema's ranges, in place; what was clipped.

    A short or small log can push a weakly informed estimate far out (a recency-churn slope of
    300, say); the scenario cannot hold it, so it is written at the edge and reported.
    """
    clipped: list[str] = []
    segment_ranges = _ranges(SegmentParams)
    trait_types = {f.name: f.type for f in dataclasses.fields(SegmentParams)}
    for name, segment in scenario["segments"].items():
        for key, value in segment.items():
            if isinstance(value, dict) and "mean" in value:  # a trait's {mean, sd} (the type is a string)
                ranges = _ranges(NormalTrait if str(trait_types.get(key)) == "NormalTrait" else PositiveTrait)
                for part in ("mean", "sd"):
                    value[part] = _clip(f"segments.{name}.{key}.{part}", value[part], ranges[part], clipped)
            elif isinstance(value, int | float):
                segment[key] = _clip(f"segments.{name}.{key}", value, segment_ranges.get(key), clipped)
    category_ranges = _ranges(CategoryParams)
    for name, category in scenario["catalogue"].items():
        for key in ("share", "basket_scale"):
            category[key] = _clip(f"catalogue.{name}.{key}", category[key], category_ranges[key], clipped)
    behaviour_ranges = _ranges(BehaviourParams)
    for key, value in scenario["behaviour"].items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            scenario["behaviour"][key] = _clip(f"behaviour.{key}", value, behaviour_ranges.get(key), clipped)
    return clipped
