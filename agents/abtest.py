"""Randomised A/B tests as they run live, their analysis (Welch, CUPED) and their planning.

A live test assigns each shopper to one arm at random and compares the arms' means: every
shopper is seen under one policy only, so the comparison carries the full between-shopper
variance. (The evaluator instead runs both policies on the *same* shoppers with common random
numbers; ``paired_interval`` gives its interval for comparison.)

- Welch's t-test (unequal variances) for the difference in means, with the Welch-Satterthwaite
  degrees of freedom.
- CUPED (Deng, Xu, Kohavi & Walker 2013, "Improving the sensitivity of online controlled
  experiments by utilizing pre-experiment data"): ``y - theta (x - mean x)`` with
  ``theta = cov(y, x) / var(x)`` pooled over both arms, where ``x`` is each shopper's spend in the
  weeks before the test. The adjusted means differ by the same amount in expectation (randomisation
  makes ``x`` independent of the arm), with variance reduced by the share ``corr(y, x)^2``.
- Sample size for a two-sided test at level alpha and power ``1 - beta`` with a share ``split``
  treated: ``N = (z_{1-alpha/2} + z_{1-beta})^2 (s_t^2 / split + s_c^2 / (1 - split)) / delta^2``
  (the normal approximation, e.g. Kohavi, Tang & Xu 2020, "Trustworthy Online Controlled
  Experiments", ch. 17).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from discountsim.agents.evaluation import policy_rule
from discountsim.simulators import SimulatorParams, check_count, rollout, spawn_keys
from discountsim.simulators.errors import DiscountSimInputError
from discountsim.simulators.rollout import RolloutTotals
from numpy.typing import NDArray
from scipy import stats
from stable_baselines3.common.type_aliases import PolicyPredictor

METRICS = ("profit", "revenue", "conversion")
"""Per-shopper outcomes of a test: profit and revenue (currency over the test weeks), conversion
(share of test weeks with a purchase)."""

ASSIGNMENT_STREAM = 0x6162746573
"""Spawn key of the arm assignment's stream, apart from the shopper keys (``default_rng(seed)``)."""


@dataclass(frozen=True)
class Comparison:
    """Treatment minus control for one metric.

    Attributes:
        difference: Difference in mean per shopper (currency, or a share for conversion).
        se: Its standard error.
        ci_low, ci_high: 95 % interval (Welch's t).
        p_value: Two-sided p-value of no difference.
        df: Welch-Satterthwaite degrees of freedom.
    """

    difference: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    df: float


def welch(treated: NDArray[np.float64], control: NDArray[np.float64], level: float = 0.95) -> Comparison:
    """Welch's unequal-variance t-test of ``mean(treated) - mean(control)``; each arm needs two shoppers."""
    t, c = np.asarray(treated, dtype=np.float64), np.asarray(control, dtype=np.float64)
    if t.size < 2 or c.size < 2:
        raise ValueError(f"welch: each arm needs at least 2 shoppers, got {t.size} treated and {c.size} control")
    vt, vc = t.var(ddof=1) / t.size, c.var(ddof=1) / c.size
    se = math.sqrt(vt + vc)
    diff = float(t.mean() - c.mean())
    if se == 0.0:  # identical constant arms: no evidence either way
        return Comparison(diff, 0.0, diff, diff, 1.0 if diff == 0.0 else 0.0, math.inf)
    df = (vt + vc) ** 2 / (vt**2 / (t.size - 1) + vc**2 / (c.size - 1))
    q = float(stats.t.ppf(0.5 + level / 2, df))
    p = float(2.0 * stats.t.sf(abs(diff) / se, df))
    return Comparison(diff, se, diff - q * se, diff + q * se, p, float(df))


def cuped(outcome: NDArray[np.float64], covariate: NDArray[np.float64]) -> tuple[NDArray[np.float64], float]:
    """CUPED-adjusted outcomes ``y - theta (x - mean x)`` and ``theta = cov(y, x) / var(x)`` over all shoppers.

    A constant covariate carries nothing: theta is 0 and the outcomes are returned unchanged.
    """
    y, x = np.asarray(outcome, dtype=np.float64), np.asarray(covariate, dtype=np.float64)
    var = x.var(ddof=1) if x.size > 1 else 0.0
    theta = float(np.cov(y, x, ddof=1)[0, 1] / var) if var > 0 else 0.0
    return y - theta * (x - x.mean()), theta


@dataclass
class ABTestData:
    """One simulated test: who was in which arm and what each shopper did.

    Attributes:
        treated: ``(n_shoppers,)`` True for the treatment arm.
        outcomes: Metric -> ``(n_shoppers,)`` per-shopper value over the test weeks (``METRICS``).
        pre_spend: ``(n_shoppers,)`` revenue in the ``pre_weeks`` before the test, all under control (currency).
        weeks, pre_weeks: Length of the test and of the pre-period.
    """

    treated: NDArray[np.bool_]
    outcomes: dict[str, NDArray[np.float64]]
    pre_spend: NDArray[np.float64]
    weeks: int
    pre_weeks: int


def outcomes_of(totals: RolloutTotals, weeks: int) -> dict[str, NDArray[np.float64]]:
    """Per-shopper test outcomes from a rollout's totals."""
    return {"profit": totals.profit, "revenue": totals.revenue, "conversion": totals.purchases / weeks}


def _check_design(n_shoppers: int, weeks: int, split: float, pre_weeks: int) -> None:
    check_count("n_shoppers", n_shoppers)
    check_count("weeks", weeks)
    if isinstance(pre_weeks, bool) or not isinstance(pre_weeks, int | np.integer) or pre_weeks < 0:
        raise ValueError(f"pre_weeks: expected an integer >= 0, got {pre_weeks!r}")
    if not (isinstance(split, int | float) and 0.0 < split < 1.0):
        raise ValueError(f"split: expected the treated share in (0, 1), got {split!r}")


PRE_PERIOD_STREAM = 0x707265
"""Offset of the seed a stochastic control draws from in the pre-period: its test-period draws differ."""


def _pre_period(params: SimulatorParams, control: PolicyPredictor, keys, pre_weeks: int, seed: int):
    """The shoppers after ``pre_weeks`` under ``control`` and their spend then (None, zeros if no pre-period)."""
    n = len(keys)
    if not pre_weeks:
        return None, np.zeros(n)
    pre_seed = (seed + PRE_PERIOD_STREAM) % 2**32
    pre = rollout(params, keys, policy_rule(control, params, n, pre_weeks, pre_seed), pre_weeks)
    return pre.final_state, pre.revenue


def simulate_ab_test(
    params: SimulatorParams,
    treatment: PolicyPredictor,
    control: PolicyPredictor,
    n_shoppers: int,
    weeks: int,
    split: float = 0.5,
    seed: int = 0,
    pre_weeks: int = 8,
) -> ABTestData:
    """A randomised test as it would run live on ``n_shoppers`` new shoppers of ``params``.

    Every shopper lives ``pre_weeks`` under ``control`` (business as usual; their spend is the
    CUPED covariate), then is assigned to treatment with probability ``split`` (a stream of its
    own, from ``seed``) and lives ``weeks`` more under its arm's policy. Each shopper is seen under
    one arm only: nothing is paired across arms.
    """
    _check_design(n_shoppers, weeks, split, pre_weeks)
    keys = spawn_keys(np.random.default_rng(seed), n_shoppers)
    assign = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(ASSIGNMENT_STREAM,)))
    treated = assign.random(n_shoppers) < split
    arms = (int(treated.sum()), int((~treated).sum()))
    if min(arms) < 2:
        raise DiscountSimInputError(
            f"split: {split} of {n_shoppers} shoppers put {arms[0]} in treatment and {arms[1]} in control; each arm "
            "needs at least 2 (raise n_shoppers or move split towards 0.5)"
        )
    state, pre_spend = _pre_period(params, control, keys, pre_weeks, seed)
    t_rule = policy_rule(treatment, params, n_shoppers, weeks, seed)
    c_rule = policy_rule(control, params, n_shoppers, weeks, seed)

    def rule(observations: NDArray[np.float32], shoppers) -> NDArray[np.float64]:
        return np.where(treated, t_rule(observations, shoppers), c_rule(observations, shoppers))

    test = rollout(params, keys, rule, weeks, state=state)
    return ABTestData(treated, outcomes_of(test, weeks), pre_spend, weeks, pre_weeks)


def analyse(data: ABTestData, alpha: float = 0.05) -> pd.DataFrame:
    """One row per metric and method (``welch``, ``cuped``): arm means, difference, ``1 - alpha`` interval, p-value.

    ``variance_reduction`` is CUPED's: ``1 - var(adjusted) / var(raw)`` over all shoppers (0 for Welch).
    """
    if data.treated.sum() < 2 or (~data.treated).sum() < 2:
        raise DiscountSimInputError(
            "split: an arm has fewer than 2 shoppers; raise n_shoppers or move split towards 0.5"
        )
    rows = []
    for metric in METRICS:
        y = data.outcomes[metric]
        adjusted, theta = cuped(y, data.pre_spend)
        raw_var = y.var(ddof=1)
        for method, values in (("welch", y), ("cuped", adjusted)):
            result = welch(values[data.treated], values[~data.treated], 1.0 - alpha)
            rows.append(
                {
                    "metric": metric,
                    "method": method,
                    "treatment_mean": float(y[data.treated].mean()),
                    "control_mean": float(y[~data.treated].mean()),
                    "difference": result.difference,
                    "ci_low": result.ci_low,
                    "ci_high": result.ci_high,
                    "se": result.se,
                    "p_value": result.p_value,
                    "theta": theta if method == "cuped" else 0.0,
                    "variance_reduction": (1.0 - values.var(ddof=1) / raw_var) if raw_var > 0 else 0.0,
                    "n_treated": int(data.treated.sum()),
                    "n_control": int((~data.treated).sum()),
                }
            )
    return pd.DataFrame(rows)


def _z(alpha: float, power: float) -> float:
    if not 0.0 < alpha < 1.0 or not 0.0 < power < 1.0:
        raise ValueError(f"alpha and power: expected values in (0, 1), got {alpha} and {power}")
    return float(stats.norm.ppf(1.0 - alpha / 2.0) + stats.norm.ppf(power))


def required_shoppers(
    effect: float, sd_treated: float, sd_control: float, split: float = 0.5, alpha: float = 0.05, power: float = 0.8
) -> float:
    """Shoppers in the whole test (both arms) to detect ``effect`` (two-sided, normal approximation); inf if 0."""
    if effect == 0.0:
        return math.inf
    spread = sd_treated**2 / split + sd_control**2 / (1.0 - split)
    return _z(alpha, power) ** 2 * spread / effect**2


def minimum_detectable_effect(
    n_shoppers: float, sd_treated: float, sd_control: float, split: float = 0.5, alpha: float = 0.05, power: float = 0.8
) -> float:
    """Smallest true difference a test of ``n_shoppers`` detects with ``power`` (two-sided, level ``alpha``)."""
    spread = sd_treated**2 / split + sd_control**2 / (1.0 - split)
    return _z(alpha, power) * math.sqrt(spread / n_shoppers)


@dataclass(frozen=True)
class Pilot:
    """What a plan needs for one metric and test length, from a paired pilot simulation.

    Attributes:
        weeks: Test length.
        effect: Treatment minus control per shopper, paired on the same shoppers (precise).
        effect_se: Its standard error (paired).
        sd_treated, sd_control: Between-shopper sds of the metric in each arm.
        sd_treated_cuped, sd_control_cuped: The same after the CUPED adjustment.
    """

    weeks: int
    effect: float
    effect_se: float
    sd_treated: float
    sd_control: float
    sd_treated_cuped: float
    sd_control_cuped: float


def pilot(
    params: SimulatorParams,
    treatment: PolicyPredictor,
    control: PolicyPredictor,
    n_shoppers: int,
    weeks: int,
    metric: str = "profit",
    seed: int = 0,
    pre_weeks: int = 8,
) -> Pilot:
    """Effect and arm spreads of ``metric`` over ``weeks``: both policies on the same pilot shoppers.

    The shoppers live ``pre_weeks`` under control, then each policy runs from that same state with
    the same random draws (common random numbers), so the effect is measured paired. The arm sds are
    those a live test would see; CUPED's use the pre-period spend, with theta pooled as ``cuped``.
    """
    if metric not in METRICS:
        raise ValueError(f"metric: {metric!r} is not one of {list(METRICS)}")
    _check_design(n_shoppers, weeks, 0.5, pre_weeks)
    keys = spawn_keys(np.random.default_rng(seed), n_shoppers)
    state, pre_spend = _pre_period(params, control, keys, pre_weeks, seed)
    arms = {}
    for name, policy in (("treated", treatment), ("control", control)):
        totals = rollout(params, keys, policy_rule(policy, params, n_shoppers, weeks, seed), weeks, state=state)
        arms[name] = outcomes_of(totals, weeks)[metric]
    paired = arms["treated"] - arms["control"]
    both = np.concatenate([arms["treated"], arms["control"]])
    _, theta = cuped(both, np.concatenate([pre_spend, pre_spend]))
    centred = pre_spend - pre_spend.mean()
    return Pilot(
        weeks,
        float(paired.mean()),
        float(paired.std(ddof=1) / math.sqrt(n_shoppers)),
        float(arms["treated"].std(ddof=1)),
        float(arms["control"].std(ddof=1)),
        float((arms["treated"] - theta * centred).std(ddof=1)),
        float((arms["control"] - theta * centred).std(ddof=1)),
    )


def _whole(shoppers: float) -> float:
    """Shoppers rounded up to a whole number (inf stays inf: no size detects a zero effect)."""
    return float(math.ceil(shoppers)) if math.isfinite(shoppers) else shoppers


def plan_rows(
    pilots: list[Pilot],
    split: float = 0.5,
    alpha: float = 0.05,
    power: float = 0.8,
    n_shoppers: int | None = None,
    effect: float | None = None,
) -> pd.DataFrame:
    """For each pilot's test length: the shoppers needed (without and with CUPED) and, given
    ``n_shoppers``, the minimum detectable effect. The effect to detect is ``effect`` if given,
    else the pilot's simulated one."""
    rows = []
    for p in pilots:
        target = p.effect if effect is None else float(effect)
        row = {
            "weeks": p.weeks,
            "effect": target,
            "simulated_effect": p.effect,
            "simulated_effect_se": p.effect_se,
            "shoppers_needed": _whole(required_shoppers(target, p.sd_treated, p.sd_control, split, alpha, power)),
            "shoppers_needed_cuped": _whole(
                required_shoppers(target, p.sd_treated_cuped, p.sd_control_cuped, split, alpha, power)
            ),
        }
        if n_shoppers is not None:
            row["mde"] = minimum_detectable_effect(n_shoppers, p.sd_treated, p.sd_control, split, alpha, power)
            row["mde_cuped"] = minimum_detectable_effect(
                n_shoppers, p.sd_treated_cuped, p.sd_control_cuped, split, alpha, power
            )
        rows.append(row)
    return pd.DataFrame(rows)


def paired_interval(
    params: SimulatorParams,
    treatment: PolicyPredictor,
    control: PolicyPredictor,
    n_shoppers: int,
    weeks: int,
    seed: int = 0,
    metric: str = "profit",
    pre_weeks: int = 8,
    alpha: float = 0.05,
) -> Comparison:
    """The evaluator's view of the same test: both policies on the same shoppers (the test's ``seed`` and
    pre-period) with common random numbers, paired; a normal ``1 - alpha`` interval."""
    p = pilot(params, treatment, control, n_shoppers, weeks, metric, seed, pre_weeks)
    half = stats.norm.ppf(1.0 - alpha / 2.0) * p.effect_se
    if p.effect_se > 0:
        p_value = float(2 * stats.norm.sf(abs(p.effect / p.effect_se)))
    else:  # no spread at all: the policies act alike on every shopper (p = 1) or differ by a constant
        p_value = 1.0 if p.effect == 0 else 0.0
    return Comparison(p.effect, p.effect_se, p.effect - half, p.effect + half, p_value, math.inf)
