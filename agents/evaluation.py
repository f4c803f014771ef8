"""The evaluator: every policy, run by the same code on the same shoppers as the no-discount counterfactual.

Both runs use the same shopper keys, so every purchase, basket and churn draw is shared (common
random numbers). Incremental profit is therefore paired per shopper, and a no-discount policy
has exactly zero incremental profit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from gymnasium import spaces
from numpy.typing import NDArray
from stable_baselines3.common.type_aliases import PolicyPredictor

from agents.base import DiscountPolicy
from envs import DiscountActions
from simulators import RolloutTotals, SimulatorParams, check_count, load_scenario, rollout, spawn_keys

_Z95 = 1.959963984540054
PER_SHOPPER_METRICS = (
    "profit",
    "revenue",
    "promotion_cost",
    "cogs",
    "incremental_profit",
    "conversion",
    "avg_discount",
    "offered_share",
    "retention",
)


@dataclass
class Evaluation:
    """Result of one policy on one scenario.

    Attributes:
        summary: One row per policy: for each metric its mean per shopper and 95 % interval
            (``<metric>``, ``<metric>_ci_low``, ``<metric>_ci_high``), plus ``roi`` with its interval
            and the totals ``total_profit`` and ``total_incremental_profit`` (currency).
        by_segment: Per latent segment: shoppers, mean profit, incremental profit, promotion cost
            and average discount.
        totals: Per-shopper totals of the policy run.
        baseline: Per-shopper totals of the no-discount run on the same shoppers.
    """

    summary: pd.DataFrame
    by_segment: pd.DataFrame
    totals: RolloutTotals
    baseline: RolloutTotals


def action_mapping(policy: Any, params: SimulatorParams) -> DiscountActions:
    """How the policy's actions map to discounts: its own mapping, or one built from its action space."""
    if isinstance(policy, DiscountPolicy):
        return policy.actions
    space = getattr(policy, "action_space", None)
    if isinstance(space, spaces.Discrete):
        return DiscountActions(params.d_max, "discrete", int(space.n))
    if isinstance(space, spaces.Box):
        return DiscountActions(params.d_max, "continuous", width=int(np.prod(space.shape)))
    raise TypeError(f"policy: cannot tell how {type(policy).__name__} maps actions to discounts (no action_space)")


def _mean_ci(values: NDArray[np.float64]) -> tuple[float, float, float]:
    mean = float(values.mean())
    half = _Z95 * float(values.std(ddof=1)) / np.sqrt(values.size) if values.size > 1 else 0.0
    return mean, mean - half, mean + half


def evaluate(
    policy: PolicyPredictor,
    scenario: str | Path | SimulatorParams | dict[str, Any] = "default",
    n_shoppers: int = 1000,
    horizon: int = 52,
    seed: int = 0,
    name: str | None = None,
) -> Evaluation:
    """Run ``policy`` and the no-discount counterfactual on the same shoppers and compare them.

    Args:
        policy: Anything with SB3's ``predict`` (an SB3 model or a ``DiscountPolicy``); its
            deterministic action is used. Recurrent policies get their state carried over.
        scenario: Scenario name, YAML path, mapping or params.
        n_shoppers: Shoppers simulated.
        horizon: Periods.
        seed: Seed of the shopper keys: the same seed gives identical numbers.
        name: Label of the policy in the tables (default: its ``name`` or class name).
    """
    params = load_scenario(scenario)
    n_shoppers = check_count("n_shoppers", n_shoppers, minimum=2, why="intervals need two shoppers")
    horizon = check_count("horizon", horizon)
    mapping = action_mapping(policy, params)
    keys = spawn_keys(np.random.default_rng(seed), n_shoppers)
    memory: dict[str, Any] = {"state": None, "start": np.ones(n_shoppers, dtype=bool)}

    def rule(observations: NDArray[np.float32]) -> NDArray[np.float64]:
        actions, memory["state"] = policy.predict(
            observations, state=memory["state"], episode_start=memory["start"], deterministic=True
        )
        memory["start"] = np.zeros(n_shoppers, dtype=bool)
        return mapping.to_discount(np.asarray(actions), batch=n_shoppers)[:, 0]

    totals = rollout(params, keys, rule, horizon)
    baseline = rollout(params, keys, lambda obs: np.zeros(obs.shape[0]), horizon)
    label = name or getattr(policy, "name", type(policy).__name__)
    row: dict[str, Any] = {"policy": label, "scenario": params.name, "n_shoppers": n_shoppers, "horizon": horizon}
    row.update(summarise(totals, baseline, horizon))
    return Evaluation(pd.DataFrame([row]), _by_segment(params, totals, baseline, label, horizon), totals, baseline)


def summarise(totals: RolloutTotals, baseline: RolloutTotals, horizon: int) -> dict[str, float]:
    """The evaluator's metrics of a rollout against its no-discount counterfactual on the same shoppers.

    Returns:
        For each of ``PER_SHOPPER_METRICS`` its mean per shopper and 95 % interval (``<metric>``,
        ``<metric>_ci_low``, ``<metric>_ci_high``), ``roi`` with its interval, and the totals
        ``total_profit`` and ``total_incremental_profit`` (currency).
    """
    per_shopper = {
        "profit": totals.profit,
        "revenue": totals.revenue,
        "promotion_cost": totals.promotion_cost,
        "cogs": totals.cogs,
        "incremental_profit": totals.profit - baseline.profit,
        "conversion": totals.purchases / horizon,
        "avg_discount": totals.discount_sum / horizon,
        "offered_share": (totals.offers > 0).astype(np.float64),
        "retention": totals.active.astype(np.float64),
    }
    row: dict[str, float] = {}
    for metric, values in per_shopper.items():
        row[metric], row[f"{metric}_ci_low"], row[f"{metric}_ci_high"] = _mean_ci(values)
    row.update(_roi(per_shopper["incremental_profit"], totals.promotion_cost))
    row["total_profit"] = float(totals.profit.sum())
    row["total_incremental_profit"] = float(per_shopper["incremental_profit"].sum())
    return row


def _roi(incremental: NDArray[np.float64], promotion: NDArray[np.float64]) -> dict[str, float]:
    """Promotion ROI = mean incremental profit / mean promotion cost, with a delta-method 95 % interval."""
    cost = float(promotion.mean())
    if cost <= 0.0:
        return {"roi": float("nan"), "roi_ci_low": float("nan"), "roi_ci_high": float("nan")}
    roi = float(incremental.mean()) / cost
    residual = incremental - roi * promotion
    half = _Z95 * float(residual.std(ddof=1)) / (np.sqrt(incremental.size) * cost)
    return {"roi": roi, "roi_ci_low": roi - half, "roi_ci_high": roi + half}


def _by_segment(
    params: SimulatorParams, totals: RolloutTotals, baseline: RolloutTotals, label: str, horizon: int
) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "segment": np.asarray(params.segment_names)[totals.segment],
            "profit": totals.profit,
            "incremental_profit": totals.profit - baseline.profit,
            "promotion_cost": totals.promotion_cost,
            "avg_discount": totals.discount_sum / horizon,
        }
    )
    out = frame.groupby("segment").agg(
        shoppers=("profit", "size"),
        profit=("profit", "mean"),
        incremental_profit=("incremental_profit", "mean"),
        promotion_cost=("promotion_cost", "mean"),
        avg_discount=("avg_discount", "mean"),
    )
    return out.reset_index().assign(policy=label)
