"""Off-policy evaluation: what a target policy would have earned on the shoppers a log holds.

A log row is one shopper-week: the observation ``x``, the logged discount ``a`` with the logging
policy's probability ``mu(a | x)`` (``propensity``), and the reward ``r`` (that week's profit,
currency). The importance weight of a row is ``w = pi(a | x) / mu(a | x)``: for a deterministic
target, ``1[a = pi(x)] / mu(a | x)``.

Per-week value (the mean reward per shopper-week under the target):

- IPS: ``mean(w r)`` (Horvitz & Thompson 1952).
- SNIPS: ``sum(w r) / sum(w)`` (self-normalised; Swaminathan & Joachims 2015).
- DM: ``mean(q(x, pi(x)))`` with ``q`` an outcome model fitted on the log.
- DR: ``mean(q(x, pi(x)) + w (r - q(x, a)))`` (Dudik, Langford & Li 2011).
- Kernel IPS and DR (Kallus & Zhou 2018), for a deterministic target when the logger draws
  discounts from a density: ``w = K_h(a - pi(x)) / mu(a | x)`` with a Gaussian kernel ``K_h`` and
  the bandwidth ``h = 1.06 sd(a) n^(-1/5)`` (Silverman's rule, ``bandwidth_rule``).

Value over ``H`` weeks per shopper (trajectories; ``rho_t`` the product of a shopper's weights up
to week ``t``):

- PDIS: ``sum_t mean_i(rho_it r_it)`` (per-decision importance sampling; Precup, Sutton & Singh 2000).
- WPDIS: ``sum_t sum_i rho_it r_it / sum_i rho_it``.
- Sequential DR (Jiang & Li 2016): per shopper, backwards from ``v_{H+1} = 0``,
  ``v_t = q(x_t, pi(x_t)) + w_t (r_t + v_{t+1} - q(x_t, a_t))``; the estimate is ``mean_i v_i1``. It is
  unbiased for any ``q``; here ``q`` is the one-week outcome model (it does not predict the value to
  go), so it reduces variance only in each week's own reward.

Every estimate comes with a 95 % interval, normal on the per-shopper (or per-row) terms: for the
self-normalised ones by the delta method (linearised terms ``w (r - V) / mean(w)``). Per-row
estimates on a log of shopper-weeks take the shopper as a cluster (``clustered_se``): a shopper's
weeks are not independent, and treating them so makes the interval too narrow. The effective
sample size is Kish's ``(sum w)^2 / sum w^2`` (for trajectories, of the final product weights).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Z95 = 1.959963984540054
MATCH_TOLERANCE = 1e-6
"""Two discounts closer than this are the same action (a deterministic target's indicator)."""


@dataclass(frozen=True)
class Estimate:
    """One estimator's value of one target policy.

    Attributes:
        estimator: Its name (``ips``, ``snips``, ``dm``, ``dr``, ``kernel_ips``, ``kernel_dr``,
            ``pdis``, ``wpdis``, ``sequential_dr``).
        value: Estimated value (currency per shopper-week, or per shopper over the horizon).
        se: Standard error (normal approximation, stated in the module docstring).
        ci_low, ci_high: 95 % interval.
        ess: Effective sample size of the weights (rows, or shoppers for trajectories); NaN for DM.
        max_weight: Largest importance weight (NaN for DM).
        n: Rows or shoppers the estimate averages over.
    """

    estimator: str
    value: float
    se: float
    ci_low: float
    ci_high: float
    ess: float
    max_weight: float
    n: int


def _from_terms(
    name: str,
    terms: NDArray[np.float64],
    weights: NDArray[np.float64] | None,
    value: float | None = None,
    clusters: NDArray | None = None,
) -> Estimate:
    n = terms.size
    v = float(terms.mean()) if value is None else float(value)
    se = clustered_se(terms, clusters)
    ess = effective_sample_size(weights) if weights is not None else math.nan
    top = float(weights.max()) if weights is not None and weights.size else math.nan
    return Estimate(name, v, se, v - Z95 * se, v + Z95 * se, ess, top, n)


def clustered_se(terms: NDArray[np.float64], clusters: NDArray | None = None) -> float:
    """Standard error of ``mean(terms)``; with ``clusters`` (a shopper per row), cluster-robust.

    A shopper's weeks are not independent draws (the same shopper, its own history), so with
    clusters the residuals are summed per shopper first: ``se^2 = G / (G - 1) sum_g (sum_{i in g}
    e_i)^2 / n^2`` with ``G`` shoppers (Liang & Zeger 1986; the small-sample factor of CR1).
    """
    n = terms.size
    if n < 2:
        return math.nan
    if clusters is None:
        return float(terms.std(ddof=1) / math.sqrt(n))
    codes = np.unique(np.asarray(clusters), return_inverse=True)[1].ravel()
    groups = int(codes.max()) + 1
    if groups < 2:
        return math.nan
    sums = np.bincount(codes, terms - terms.mean(), groups)
    return float(math.sqrt(groups / (groups - 1) * float((sums * sums).sum())) / n)


def _unsupported(name: str, weights: NDArray[np.float64]) -> Estimate:
    """No estimate: the target never takes an action the log holds (every weight 0)."""
    return Estimate(name, math.nan, math.nan, math.nan, math.nan, 0.0, float(weights.max(initial=0.0)), weights.size)


def effective_sample_size(weights: NDArray[np.float64]) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2`` (0 when every weight is 0)."""
    w = np.asarray(weights, dtype=np.float64)
    denominator = float((w * w).sum())
    return float(w.sum() ** 2 / denominator) if denominator > 0 else 0.0


def _check(**arrays: NDArray) -> int:
    sizes = {name: np.shape(a) for name, a in arrays.items()}
    first = next(iter(sizes.values()))
    if any(s != first for s in sizes.values()):
        raise ValueError(f"expected arrays of one shape, got {sizes}")
    for name, a in arrays.items():
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name}: contains NaN or infinite values")
    return int(first[0]) if first else 0


def importance_weights(target_probability: NDArray[np.float64], propensity: NDArray[np.float64]) -> NDArray[np.float64]:
    """``pi(a | x) / mu(a | x)`` per row; propensities must be in (0, 1] (or a positive density)."""
    p = np.asarray(propensity, dtype=np.float64)
    if np.any(~np.isfinite(p)) or np.any(p <= 0):
        bad = int(np.flatnonzero(~np.isfinite(p) | (p <= 0))[0])
        raise ValueError(f"propensity: row {bad} has {p[bad]}; allowed: > 0 (the logger's probability of its offer)")
    return np.asarray(target_probability, dtype=np.float64) / p


def deterministic_probability(target_discount: NDArray, logged_discount: NDArray) -> NDArray[np.float64]:
    """``pi(a | x)`` of a deterministic target: 1 where it picks the logged discount, else 0."""
    return (np.abs(np.asarray(target_discount) - np.asarray(logged_discount)) <= MATCH_TOLERANCE).astype(np.float64)


def ips(reward: NDArray, weights: NDArray, name: str = "ips", clusters: NDArray | None = None) -> Estimate:
    """Inverse propensity scoring: ``mean(w r)``; ``clusters`` (a shopper per row) for a cluster-robust interval."""
    _check(reward=reward, weights=weights)
    w, r = np.asarray(weights, np.float64), np.asarray(reward, np.float64)
    if not np.any(w > 0):  # no logged row the target would have made: no estimate, not a certain 0
        return _unsupported(name, w)
    return _from_terms(name, w * r, w, clusters=clusters)


def snips(reward: NDArray, weights: NDArray, name: str = "snips", clusters: NDArray | None = None) -> Estimate:
    """Self-normalised IPS: ``sum(w r) / sum(w)``, delta-method interval."""
    _check(reward=reward, weights=weights)
    w, r = np.asarray(weights, np.float64), np.asarray(reward, np.float64)
    if w.sum() <= 0:
        return _unsupported(name, w)
    value = float((w * r).sum() / w.sum())
    terms = w * (r - value) / w.mean()
    return _from_terms(name, terms, w, value, clusters)


def direct_method(q_target: NDArray, clusters: NDArray | None = None) -> Estimate:
    """Direct method: ``mean(q(x, pi(x)))``; the interval covers the sampling of rows, not the model's error."""
    _check(q_target=q_target)
    return _from_terms("dm", np.asarray(q_target, np.float64), None, clusters=clusters)


def doubly_robust(
    reward: NDArray,
    weights: NDArray,
    q_logged: NDArray,
    q_target: NDArray,
    name: str = "dr",
    clusters: NDArray | None = None,
) -> Estimate:
    """Doubly robust: ``mean(q(x, pi(x)) + w (r - q(x, a)))``."""
    _check(reward=reward, weights=weights, q_logged=q_logged, q_target=q_target)
    w = np.asarray(weights, np.float64)
    terms = np.asarray(q_target, np.float64) + w * (np.asarray(reward, np.float64) - np.asarray(q_logged, np.float64))
    return _from_terms(name, terms, w, clusters=clusters)


def bandwidth_rule(logged_discount: NDArray) -> float:
    """Silverman's rule ``1.06 sd(a) n^(-1/5)`` over the logged discounts (a floor of 1e-3)."""
    a = np.asarray(logged_discount, dtype=np.float64)
    return max(1.06 * float(a.std(ddof=1)) * a.size ** (-0.2), 1e-3) if a.size > 1 else 1e-3


def kernel_weights(
    target_discount: NDArray, logged_discount: NDArray, density: NDArray, bandwidth: float
) -> NDArray[np.float64]:
    """Kallus & Zhou's weights ``K_h(a - pi(x)) / mu(a | x)`` with a Gaussian kernel of sd ``bandwidth``."""
    if not (bandwidth > 0 and math.isfinite(bandwidth)):
        raise ValueError(f"bandwidth: expected a finite number > 0, got {bandwidth}")
    u = (np.asarray(logged_discount, np.float64) - np.asarray(target_discount, np.float64)) / bandwidth
    kernel = np.exp(-0.5 * u * u) / (math.sqrt(2 * math.pi) * bandwidth)
    return importance_weights(kernel, density)


def _trajectory_arrays(reward: NDArray, weights: NDArray) -> tuple[NDArray, NDArray]:
    r, w = np.asarray(reward, np.float64), np.asarray(weights, np.float64)
    if r.ndim != 2 or r.shape != w.shape:
        raise ValueError(f"expected (n_shoppers, horizon) arrays of one shape, got {r.shape} and {w.shape}")
    _check(reward=r, weights=w)
    return r, np.cumprod(w, axis=1)


def pdis(reward: NDArray, weights: NDArray) -> Estimate:
    """Per-decision IS over ``(n_shoppers, horizon)`` arrays: the value per shopper over the horizon."""
    r, rho = _trajectory_arrays(reward, weights)
    if not np.any(rho[:, 0] > 0):
        return _unsupported("pdis", rho[:, -1])
    return _from_terms("pdis", (rho * r).sum(axis=1), rho[:, -1])


def wpdis(reward: NDArray, weights: NDArray) -> Estimate:
    """Weighted per-decision IS: each week's reward self-normalised by that week's product weights."""
    r, rho = _trajectory_arrays(reward, weights)
    totals = rho.sum(axis=0)
    if np.any(totals <= 0):  # a week no shopper reaches on the target's path: its mean is undefined
        return _unsupported("wpdis", rho[:, -1])
    safe = np.where(totals > 0, totals, 1.0)
    value = float(((rho * r).sum(axis=0) / safe * (totals > 0)).sum())
    # delta method per week, summed per shopper: the linearised contribution of shopper i
    means = (rho * r).sum(axis=0) / safe
    terms = (rho * (r - means) / np.where(totals > 0, totals / r.shape[0], 1.0)).sum(axis=1)
    return _from_terms("wpdis", terms + value, rho[:, -1], value)


def sequential_dr(reward: NDArray, weights: NDArray, q_logged: NDArray, q_target: NDArray) -> Estimate:
    """Jiang & Li's doubly robust estimator over ``(n_shoppers, horizon)`` arrays (backward recursion)."""
    r, w = np.asarray(reward, np.float64), np.asarray(weights, np.float64)
    _trajectory_arrays(r, w)
    _check(reward=r, q_logged=np.asarray(q_logged, np.float64), q_target=np.asarray(q_target, np.float64))
    if not np.any(w[:, 0] > 0):
        return _unsupported("sequential_dr", np.cumprod(w, axis=1)[:, -1])
    v = np.zeros(r.shape[0])
    for t in range(r.shape[1] - 1, -1, -1):
        v = q_target[:, t] + w[:, t] * (r[:, t] + v - q_logged[:, t])
    return _from_terms("sequential_dr", v, np.cumprod(w, axis=1)[:, -1])
