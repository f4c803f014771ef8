"""Off-policy evaluation of DiscountSim policies on a log: targets, weights, outcome model, every estimator.

The log is a behaviour log (``simulators.generate_behaviour_log``: one row per shopper-week with
the observation the logger saw, the logged ``discount`` and ``propensity``, and the outcome,
``profit`` being the reward). A target policy is any policy the evaluator runs that reads
observations only: hand-written, supervised, an SB3 model (deterministic action), or the twin;
deterministic ones enter as indicators of the logged discount, and a stochastic one (a policy
with a grid ``levels`` and ``propensity(discounts)``, as ``random``) with its probabilities.
The oracles read the latent state, which a log does not hold, and are refused; recurrent SB3
models are refused too (their memory depends on the target's own past actions, which the log
does not hold).

The direct method's outcome model is the supervised model family (``SupervisedPolicy``'s MLP),
fitted on the log itself (the same rows it then scores: stated in the report; cross-fitting is
not done).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import pandas as pd
from discountsim.agents.base import PrivilegedPolicy
from discountsim.agents.evaluation import policy_rule
from discountsim.agents.ope import (
    Estimate,
    bandwidth_rule,
    deterministic_probability,
    direct_method,
    doubly_robust,
    importance_weights,
    ips,
    kernel_weights,
    pdis,
    sequential_dr,
    snips,
    wpdis,
)
from discountsim.agents.supervised import SupervisedPolicy
from discountsim.simulators import SimulatorParams, feature_names, observe, spawn_keys, transition
from discountsim.simulators.errors import DiscountSimInputError
from discountsim.simulators.population import initial_state
from numpy.typing import NDArray

log = logging.getLogger(__name__)

ONE_PERIOD = ("ips", "snips", "dm", "dr")
TRAJECTORY = ("pdis", "wpdis", "sequential_dr")
KERNEL = ("kernel_ips", "kernel_dr")


def target_discounts(
    policy: Any, params: SimulatorParams, observations: NDArray[np.float32], n_shoppers: int | None = None
) -> NDArray[np.float64]:
    """The discount a deterministic target policy gives each row ``(n_rows,)``, from the rows' observations.

    With ``n_shoppers``, the rows are ``n_shoppers`` shoppers' consecutive weeks (shopper-major) and the
    policy is run week by week, as in a rollout: a policy with memory (the twin's posterior, a
    recurrent network) then follows each shopper's logged history in order. Without it, every row
    is acted on at once, which only a memoryless policy allows.
    """
    if isinstance(policy, PrivilegedPolicy):
        raise DiscountSimInputError(
            f"policies: {getattr(policy, 'name', policy)!r} reads the latent state (an oracle); a log holds only "
            "observations, so it cannot be evaluated off-policy"
        )
    obs = np.ascontiguousarray(observations, dtype=np.float32)
    if n_shoppers is None:
        if callable(getattr(policy, "reset", None)) or getattr(getattr(policy, "policy", None), "lstm_actor", None):
            raise DiscountSimInputError(
                "policies: a policy with memory (twin, recurrent) needs the log's shoppers week by week: "
                "give a balanced log (every shopper in every week)"
            )
        return np.asarray(policy_rule(policy, params, obs.shape[0], 1)(obs, None), dtype=np.float64)
    weeks = obs.shape[0] // n_shoppers
    by_week = obs.reshape(n_shoppers, weeks, -1)
    rule = policy_rule(policy, params, n_shoppers, weeks)
    out = np.empty((n_shoppers, weeks))
    for t in range(weeks):
        out[:, t] = rule(np.ascontiguousarray(by_week[:, t]), None)
    return out.ravel()


def fit_outcome_model(
    frame: pd.DataFrame, params: SimulatorParams, epochs: int = 20, seed: int = 0
) -> SupervisedPolicy:
    """The direct method's model of a shopper-week's profit given observation and discount, fitted on ``frame``."""
    model = SupervisedPolicy(params, seed=seed)
    model.fit(frame, epochs=epochs)
    return model


def unsupported_share(target: NDArray[np.float64], logged: NDArray[np.float64]) -> float:
    """Share of rows whose target discount the logger never offered anywhere in the log (no support)."""
    offered = np.unique(np.round(logged, 6))
    return float(1.0 - np.isin(np.round(target, 6), offered).mean())


def _row(policy: str, estimate: Estimate, unsupported: float, horizon: int) -> dict[str, Any]:
    return {
        "policy": policy,
        "estimator": estimate.estimator,
        "value": estimate.value,
        "ci_low": estimate.ci_low,
        "ci_high": estimate.ci_high,
        "se": estimate.se,
        "ess": estimate.ess,
        "max_weight": estimate.max_weight,
        "n": estimate.n,
        "unsupported_share": unsupported,
        "horizon": horizon,
    }


def off_policy_estimates(
    frame: pd.DataFrame,
    policies: dict[str, Any],
    params: SimulatorParams,
    outcome_model: SupervisedPolicy | None = None,
    trajectories: bool = False,
    density: bool = False,
) -> pd.DataFrame:
    """Every estimator's value of every target policy on the log ``frame``.

    Args:
        frame: A behaviour log (observation columns, ``discount``, ``propensity``, ``profit``;
            with ``shopper`` and ``period`` for trajectories).
        policies: Label -> policy.
        params: The scenario whose observation layout the log and policies use.
        outcome_model: DM's model; None: fitted on ``frame`` (``fit_outcome_model``).
        trajectories: Also estimate each policy's value per shopper over the log's periods
            (PDIS, WPDIS, sequential DR), as well as per shopper-week.
        density: The propensities are densities of a continuous logger: add kernel IPS and DR
            (for deterministic targets; a stochastic one is smoothed by its own probabilities).

    Returns:
        One row per policy and estimator: value (currency per shopper-week, or per shopper over
        the horizon for the trajectory estimators; ``horizon`` says which), 95 % interval, se,
        effective sample size, largest weight, rows or shoppers, and the share of rows where
        the target's discount was never logged (``unsupported_share``).
    """
    names = list(feature_names(params))
    missing = [c for c in (*names, "discount", "propensity", "profit") if c not in frame.columns]
    if missing:
        raise DiscountSimInputError(
            f"log: missing columns {missing}; a behaviour log has the observation, discount, propensity and profit"
        )
    n_shoppers = _balanced_shoppers(frame)
    if trajectories and n_shoppers is None:
        raise DiscountSimInputError("log: trajectories need every shopper in every period (a balanced panel)")
    if n_shoppers is not None:  # shopper-major, weeks in order: policies with memory follow each shopper
        frame = frame.sort_values(["shopper", "period"], kind="stable")
    observations = frame[names].to_numpy(np.float32)
    logged = frame["discount"].to_numpy(np.float64)
    propensity = frame["propensity"].to_numpy(np.float64)
    reward = frame["profit"].to_numpy(np.float64)
    # a shopper's weeks are one cluster for the per-row intervals (None: rows taken as independent)
    clusters = frame["shopper"].to_numpy() if "shopper" in frame.columns else None
    model = outcome_model if outcome_model is not None else fit_outcome_model(frame, params)
    q_logged = model.predict_profit(observations, logged)
    rows = []
    for label, policy in policies.items():
        stochastic = callable(getattr(policy, "propensity", None)) and hasattr(policy, "levels")
        if stochastic:  # pi(a | x) from the policy; DM's value is the expectation over its levels
            levels = np.asarray(policy.levels, dtype=np.float64)
            pi = np.asarray(policy.propensity(logged), dtype=np.float64)
            mass = np.asarray(policy.propensity(levels), dtype=np.float64)
            q_target = sum(
                m * model.predict_profit(observations, np.full(len(logged), d))
                for d, m in zip(levels, mass, strict=True)
            )
            target = levels[np.argmax(mass)] * np.ones(len(logged))
            unsupported = float(mass[~np.isin(np.round(levels, 6), np.unique(np.round(logged, 6)))].sum())
        else:
            target = target_discounts(policy, params, observations, n_shoppers)
            pi = deterministic_probability(target, logged)
            q_target = model.predict_profit(observations, target)
            unsupported = unsupported_share(target, logged)
        if unsupported > 0:
            log.warning(
                "%s: %.1f %% of its offers (rows) were never logged: no support there; IPS-type estimates miss them",
                label,
                100 * unsupported,
            )
        weights = importance_weights(pi, propensity)
        estimates = [
            ips(reward, weights, clusters=clusters),
            snips(reward, weights, clusters=clusters),
            direct_method(q_target, clusters),
            doubly_robust(reward, weights, q_logged, q_target, clusters=clusters),
        ]
        if density and not stochastic:  # kernel smoothing around a deterministic target's discount
            kw = kernel_weights(target, logged, propensity, bandwidth_rule(logged))
            estimates += [
                ips(reward, kw, "kernel_ips", clusters),
                doubly_robust(reward, kw, q_logged, q_target, "kernel_dr", clusters),
            ]
        rows += [_row(label, e, unsupported, 1) for e in estimates]
        _warn_thin(label, estimates)
        if trajectories:
            shape = (n_shoppers, len(frame) // n_shoppers)
            parts = [a.reshape(shape) for a in (reward, weights, q_logged, q_target)]
            trajectory = [pdis(*parts[:2]), wpdis(*parts[:2]), sequential_dr(*parts)]
            rows += [_row(label, estimate, unsupported, shape[1]) for estimate in trajectory]
            _warn_thin(label, trajectory)
    return pd.DataFrame(rows)


THIN = 30.0
"""Below this effective sample size an importance-weighted estimate and its normal interval are not to be trusted."""


def _warn_thin(label: str, estimates: list[Estimate]) -> None:
    thin = [f"{e.estimator} (ESS {e.ess:.0f})" for e in estimates if not math.isnan(e.ess) and e.ess < THIN]
    if thin:
        log.warning(
            "%s: %s rest on fewer than %d effective rows or shoppers: the estimate and its interval are not to be "
            "trusted (NaN where nothing in the log supports the target)",
            label,
            ", ".join(thin),
            THIN,
        )


def _balanced_shoppers(frame: pd.DataFrame) -> int | None:
    """Number of shoppers if every shopper appears once in every period of ``frame``, else None."""
    if not {"shopper", "period"} <= set(frame.columns) or frame.empty:
        return None
    n, weeks = frame["shopper"].nunique(), frame["period"].nunique()
    unique = not frame.duplicated(["shopper", "period"]).any()
    return int(n) if unique and n * weeks == len(frame) else None


def one_period_truth(
    params: SimulatorParams, logger: Any, policy: Any, n_shoppers: int, horizon: int, seed: int
) -> tuple[float, float]:
    """A target's true value per shopper-week on the states a logger's log visits, and its standard error (currency).

    The logger runs ``n_shoppers`` for ``horizon`` weeks; in every week each shopper's profit had
    the target's discount been offered instead is computed from the same state and random draws
    (the simulator's transition is a pure function of the state). This is what a one-period
    estimator estimates from such a log. The standard error is over shoppers (each shopper's mean
    over its weeks), the truth's own sampling.
    """
    state = initial_state(params, spawn_keys(np.random.default_rng(seed), n_shoppers))
    rule = policy_rule(policy, params, n_shoppers, horizon, seed)
    per_shopper = np.zeros(n_shoppers)
    for _ in range(horizon):
        obs = observe(params, state)
        discount, _ = logger(obs)
        _, counterfactual = transition(params, state, rule(obs, state))
        per_shopper += counterfactual.profit
        state, _ = transition(params, state, discount)
    per_shopper /= horizon
    return float(per_shopper.mean()), float(per_shopper.std(ddof=1) / np.sqrt(n_shoppers))
