"""The evaluator: every policy, run by the same code on the same shoppers as the no-discount counterfactual.

Both runs use the same shopper keys, so every purchase, basket and churn draw is shared (common
random numbers). Incremental profit is therefore paired per shopper, and a no-discount policy
has exactly zero incremental profit.

There is one code path: ``evaluate`` is a line-up of one (``evaluate_lineup``), so a policy's
metrics do not depend on the entry point. Stochastic policies are reseeded from the evaluation
seed (``policy_seed``), so their numbers repeat too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from discountsim.agents.base import DiscountPolicy, PrivilegedPolicy, check_policy
from discountsim.agents.fingerprint import model_actions
from discountsim.envs import CohortMap, DiscountActions
from discountsim.simulators import RolloutTotals, SimulatorParams, check_count, load_scenario, rollout, spawn_keys
from discountsim.simulators.contact_cap import ContactCap, contact_cap_arg
from discountsim.simulators.disparity_floor import DisparityFloor, disparity_floor_arg
from discountsim.simulators.rollout import DiscountRule
from numpy.typing import NDArray
from stable_baselines3.common.type_aliases import PolicyPredictor

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
            (``<metric>``, ``<metric>_ci_low``, ``<metric>_ci_high``), plus ``roi``, ``oracle_share``
            and ``uplift_captured`` with their intervals (see ``summarise``) and the totals
            ``total_profit`` and ``total_incremental_profit`` (currency), ``max_offers_in_window``
            and ``contact_cap_held`` (1.0 or 0.0 under a contact cap, NaN without one), the
            ``offer_disparity`` ratios and ``disparity_floor_held`` (1.0 or 0.0 under a disparity
            floor, NaN without one).
        by_segment: Per latent segment: shoppers, mean profit, incremental profit, promotion
            cost, average discount and share of shoppers offered anything.
        by_cohort: The same per observable cohort (recency tier x preferred category).
        totals: Per-shopper totals of the policy run.
        baseline: Per-shopper totals of the no-discount run on the same shoppers.
        by_group: Fairness view, per level of each observable attribute (region, age band...):
            shoppers, share offered anything, mean depth per shopper-week, incremental profit
            and retention (see ``fairness``); empty for a scenario without attributes.
    """

    summary: pd.DataFrame
    by_segment: pd.DataFrame
    by_cohort: pd.DataFrame
    totals: RolloutTotals
    baseline: RolloutTotals
    by_group: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)


def action_mapping(policy: Any, params: SimulatorParams) -> DiscountActions:
    """How the policy's actions map to discounts on ``params``, after checking its fingerprint against them.

    Raises:
        PolicyScenarioMismatch: The policy's feature layout or d_max is not the scenario's.
    """
    if isinstance(policy, DiscountPolicy):
        check_policy(policy, params)
        return policy.actions
    return model_actions(policy, params)


def _mean_ci(values: NDArray[np.float64]) -> tuple[float, float, float]:
    mean = float(values.mean())
    half = _Z95 * float(values.std(ddof=1)) / np.sqrt(values.size) if values.size > 1 else 0.0
    return mean, mean - half, mean + half


POLICY_STREAM = 0x706F6C6963
"""Spawn key of the stream stochastic policies draw from, apart from the shopper keys (``default_rng(seed)``)."""


def policy_seed(seed: int) -> np.random.SeedSequence:
    """The seed sequence every stochastic policy is reseeded from in an evaluation with ``seed``.

    The same for every policy and every line-up, so a policy's draws depend on the evaluation seed
    alone (not on its place in a line-up, nor on earlier evaluations in the process).
    """
    return np.random.SeedSequence(seed, spawn_key=(POLICY_STREAM,))


def policy_rule(
    policy: PolicyPredictor, params: SimulatorParams, n_shoppers: int, horizon: int, seed: int = 0
) -> DiscountRule:
    """The discount rule that runs ``policy`` in a rollout: its deterministic action, mapped to discounts.

    Privileged policies (the oracles) get the true state; hand-written ones give discounts directly;
    recurrent ones get their state carried. Policies are checked against the scenario first
    (``agents.base.check_policy``). A policy that draws random numbers (one with a
    ``reseed(seed_sequence)`` method, as ``DiscountPolicy`` has) is reseeded from ``policy_seed(seed)``
    first, so its draws repeat with the evaluation seed.
    """
    reseed = getattr(policy, "reseed", None)
    if callable(reseed):
        reseed(policy_seed(seed))
    if isinstance(policy, PrivilegedPolicy):
        policy.reset()
        return lambda _observations, state: policy.act_on_state(params, state, horizon)
    if isinstance(policy, DiscountPolicy):  # hand-written: its float64 discounts as they are, checked
        return policy.discount_rule(params)
    mapping = action_mapping(policy, params)  # SB3 models: fingerprint checked, actions mapped
    memory: dict[str, Any] = {"state": None, "start": np.ones(n_shoppers, dtype=bool)}

    def rule(observations: NDArray[np.float32], _state: Any) -> NDArray[np.float64]:
        actions, memory["state"] = policy.predict(
            observations, state=memory["state"], episode_start=memory["start"], deterministic=True
        )
        memory["start"] = np.zeros(n_shoppers, dtype=bool)
        return mapping.to_discount(np.asarray(actions), batch=n_shoppers)[:, 0]

    return rule


def _no_discount(observations: NDArray[np.float32], _state: Any) -> NDArray[np.float64]:
    return np.zeros(observations.shape[0])


def evaluate(
    policy: PolicyPredictor,
    scenario: str | Path | SimulatorParams | dict[str, Any] = "default",
    n_shoppers: int = 1000,
    horizon: int = 52,
    seed: int = 0,
    name: str | None = None,
    oracle: bool | PrivilegedPolicy = False,
    budget_per_period: float | None = None,
    contact_cap: ContactCap | dict[str, int] | None = None,
    campaign_budget: float | None = None,
    disparity_floor: DisparityFloor | float | dict[str, float] | None = None,
) -> Evaluation:
    """Run ``policy`` and the no-discount counterfactual on the same shoppers and compare them.

    A line-up of one: ``evaluate_lineup({name: policy}, ...)``, so every metric of a policy is the
    same whichever of the two evaluates it.

    Args:
        policy: Anything with SB3's ``predict`` (an SB3 model or a ``DiscountPolicy``), or an
            oracle; its deterministic action is used. Recurrent policies get their state carried over.
        scenario: Scenario name, YAML path, mapping or params.
        n_shoppers: Shoppers simulated.
        horizon: Periods.
        seed: Seed of the shopper keys and of the draws of stochastic policies (see
            ``policy_seed``): the same seed gives identical numbers.
        name: Label of the policy in the tables (default: its ``name`` or class name).
        oracle: True to also run the ``oracle`` on the same shoppers, under the same budget, and
            report ``oracle_share`` and ``uplift_captured``; or the yardstick to run (e.g. an
            ``OraclePolicy`` with another planning grid). False leaves both NaN.
        budget_per_period: Promotion budget for all shoppers together, renewed every period
            (currency): offers and redemptions beyond it are not made (first come, first served),
            for the policy and the oracle alike. None: no budget.
        contact_cap: At most ``max_offers`` offers per shopper in any ``window`` periods
            (``simulators.ContactCap`` or ``{max_offers: k, window: w}``), enforced by projection
            for the policy and the oracle alike; the summary reports whether it held. None: no cap.
        campaign_budget: Promotion budget for the whole horizon, all shoppers together (currency;
            unspent money carries over, as in ``envs.CampaignEnv``), alone or with
            ``budget_per_period`` (the tighter binds). None: none.
        disparity_floor: Hold every attribute level's offered share to at least this ratio of
            the largest (``simulators.DisparityFloor``, e.g. 0.8 for the four-fifths rule), by
            projection for the policy and the oracle alike; the summary reports whether it held
            (``disparity_floor_held``). None: no floor.
    """
    label = name or getattr(policy, "name", type(policy).__name__)
    lineup = evaluate_lineup(
        {label: policy},
        scenario,
        n_shoppers,
        horizon,
        seed,
        oracle,
        budget_per_period,
        contact_cap,
        campaign_budget,
        disparity_floor=disparity_floor,
    )
    return lineup.evaluations[label]


def _assemble(
    params: SimulatorParams,
    label: str,
    totals: RolloutTotals,
    baseline: RolloutTotals,
    oracle: RolloutTotals | None,
    horizon: int,
) -> Evaluation:
    n_shoppers = totals.profit.size
    row: dict[str, Any] = {"policy": label, "scenario": params.name, "n_shoppers": n_shoppers, "horizon": horizon}
    row.update(summarise(totals, baseline, horizon, oracle))
    groups, disparity = fairness(params, totals, baseline, horizon)
    row.update(disparity)
    return Evaluation(
        pd.DataFrame([row]),
        _breakdown(params, totals, baseline, label, horizon, "segment"),
        _breakdown(params, totals, baseline, label, horizon, "cohort"),
        totals,
        baseline,
        groups.assign(policy=label),
    )


def fairness(
    params: SimulatorParams, totals: RolloutTotals, baseline: RolloutTotals, horizon: int
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Who is offered what, per level of each observable attribute, and the disparity of offer rates.

    Returns:
        A table with one row per (attribute, level): ``shoppers``, ``offered_share`` (offered
        anything over the horizon), ``avg_discount`` (mean depth per shopper-week, fraction),
        ``incremental_profit`` (currency per shopper) and ``retention``; and
        ``offer_disparity_<attribute>``, the smallest level's offered share divided by the largest
        (1.0 when nobody is offered anything; levels without shoppers, listed with 0 shoppers and
        NaN rates, do not count), with ``offer_disparity`` the smallest over attributes. Under the
        four-fifths rule of US employment law, a ratio below 0.8 flags adverse impact; pricing
        teams borrow the threshold. Empty and NaN without attributes. In a scenario with paid
        members, the table also has ``member`` rows (no, yes), which enter no disparity.
    """
    levels = params.attribute_levels
    if totals.attributes is None:
        return pd.DataFrame(), {"offer_disparity": float("nan")}
    groupings = {attribute: (names, totals.attributes[:, j]) for j, (attribute, names) in enumerate(levels.items())}
    if params.has_members:  # members against non-members: a breakdown, not a fairness attribute
        groupings["member"] = (("no", "yes"), totals.final_state.traits.member.astype(np.int64))
    if not groupings:
        return pd.DataFrame(), {"offer_disparity": float("nan")}
    frame = pd.DataFrame(
        {
            "offered": (totals.offers > 0).astype(np.float64),
            "avg_discount": totals.discount_sum / horizon,
            "incremental_profit": totals.profit - baseline.profit,
            "retention": totals.active.astype(np.float64),
        }
    )
    tables, disparity = [], {}
    for attribute, (names, codes) in groupings.items():
        by_level = frame.groupby(np.asarray(names)[codes], sort=False).agg(
            shoppers=("offered", "size"),
            offered_share=("offered", "mean"),
            avg_discount=("avg_discount", "mean"),
            incremental_profit=("incremental_profit", "mean"),
            retention=("retention", "mean"),
        )
        by_level = by_level.reindex(list(names))  # a level nobody holds stays, with 0 shoppers
        by_level["shoppers"] = by_level["shoppers"].fillna(0).astype(int)
        if attribute in levels:
            disparity[f"offer_disparity_{attribute}"] = offer_disparity(by_level["offered_share"].to_numpy())
        tables.append(by_level.rename_axis("level").reset_index().assign(attribute=attribute))
    disparity["offer_disparity"] = min(disparity.values()) if disparity else float("nan")
    table = pd.concat(tables, ignore_index=True)
    return table[["attribute", "level", *table.columns.drop(["attribute", "level"])]], disparity


def offer_disparity(rates: NDArray[np.float64]) -> float:
    """Smallest level's offer rate over the largest, ``rates`` ``(n_levels,)`` with NaN for a level without
    shoppers (not counted); 1.0 when nobody is offered anything."""
    present = rates[np.isfinite(rates)]
    top = float(present.max()) if present.size else 0.0
    return 1.0 if top == 0.0 else float(present.min()) / top


def summarise(
    totals: RolloutTotals, baseline: RolloutTotals, horizon: int, oracle: RolloutTotals | None = None
) -> dict[str, float]:
    """The evaluator's metrics of a rollout against its no-discount counterfactual on the same shoppers.

    Returns:
        For each of ``PER_SHOPPER_METRICS`` its mean per shopper and 95 % interval (``<metric>``,
        ``<metric>_ci_low``, ``<metric>_ci_high``), ``roi`` with its interval, ``oracle_share``
        (mean profit / the oracle's mean profit on the same shoppers) and ``uplift_captured``
        (mean incremental profit / the oracle's mean incremental profit, both against the same
        no-discount run), each with its interval (NaN without ``oracle``, or when the oracle's
        mean is not positive), ``max_offers_in_window`` (the most offers any shopper got in
        ``window_periods`` consecutive periods: the contact cap's window, or 4) and the totals
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
    row.update(_ratio("roi", per_shopper["incremental_profit"], totals.promotion_cost))
    row.update(_ratio("oracle_share", totals.profit, None if oracle is None else oracle.profit))
    oracle_incremental = None if oracle is None else oracle.profit - baseline.profit
    row.update(_ratio("uplift_captured", per_shopper["incremental_profit"], oracle_incremental))
    if totals.max_window_offers is not None:
        row["max_offers_in_window"] = float(totals.max_window_offers.max(initial=0))
        row["window_periods"] = float(totals.window_periods)
    row["total_profit"] = float(totals.profit.sum())
    row["total_incremental_profit"] = float(per_shopper["incremental_profit"].sum())
    return row


def _ratio(name: str, numerator: NDArray[np.float64], denominator: NDArray[np.float64] | None) -> dict[str, float]:
    """Ratio of means over the same shoppers, with a delta-method 95 % interval (NaN if undefined).

    ROI = mean incremental profit / mean promotion cost; oracle share = mean profit / mean oracle
    profit; oracle incremental share = mean incremental profit / mean oracle incremental profit.
    The interval is paired per shopper: it uses each shopper's residual ``numerator - ratio *
    denominator``, so what the two runs share (common random numbers) cancels.
    """
    nan = {name: float("nan"), f"{name}_ci_low": float("nan"), f"{name}_ci_high": float("nan")}
    if denominator is None or float(denominator.mean()) <= 0.0:
        return nan
    scale = float(denominator.mean())
    ratio = float(numerator.mean()) / scale
    residual = numerator - ratio * denominator
    half = _Z95 * float(residual.std(ddof=1)) / (np.sqrt(numerator.size) * scale)
    return {name: ratio, f"{name}_ci_low": ratio - half, f"{name}_ci_high": ratio + half}


def _breakdown(
    params: SimulatorParams, totals: RolloutTotals, baseline: RolloutTotals, label: str, horizon: int, by: str
) -> pd.DataFrame:
    """Who gets discounts and who earns them back: means per latent segment or per observable cohort.

    Cohorts are recency tier x preferred category as observed in the first period (``envs.CohortMap``).
    """
    if by == "segment":
        groups = np.asarray(params.segment_names)[totals.segment]
    else:
        cohorts = CohortMap(params)
        groups = np.asarray(cohorts.names)[cohorts.assign(totals.initial_observation)]
    frame = pd.DataFrame(
        {
            by: groups,
            "profit": totals.profit,
            "incremental_profit": totals.profit - baseline.profit,
            "promotion_cost": totals.promotion_cost,
            "avg_discount": totals.discount_sum / horizon,
            "offered": (totals.offers > 0).astype(np.float64),
        }
    )
    out = frame.groupby(by).agg(
        shoppers=("profit", "size"),
        profit=("profit", "mean"),
        incremental_profit=("incremental_profit", "mean"),
        promotion_cost=("promotion_cost", "mean"),
        avg_discount=("avg_discount", "mean"),
        offered_share=("offered", "mean"),
    )
    return out.reset_index().assign(policy=label)


@dataclass
class Lineup:
    """Several policies evaluated on the same shoppers: one row each in ``summary``."""

    summary: pd.DataFrame
    by_segment: pd.DataFrame
    by_cohort: pd.DataFrame
    evaluations: dict[str, Evaluation]
    by_group: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)


def evaluate_lineup(
    policies: dict[str, PolicyPredictor],
    scenario: str | Path | SimulatorParams | dict[str, Any] = "default",
    n_shoppers: int = 1000,
    horizon: int = 52,
    seed: int = 0,
    oracle: bool | PrivilegedPolicy = True,
    budget_per_period: float | None = None,
    contact_cap: ContactCap | dict[str, int] | None = None,
    campaign_budget: float | None = None,
    disparity_floor: DisparityFloor | float | dict[str, float] | None = None,
) -> Lineup:
    """Evaluate every policy on the same shoppers, sharing one no-discount run and one oracle run.

    The one code path of the evaluator (``evaluate`` is a line-up of one): each policy's metrics
    depend only on the policy, the scenario, ``n_shoppers``, ``horizon``, ``seed``, ``oracle``,
    ``budget_per_period`` and ``contact_cap``, not on which other policies are in the line-up.

    Args:
        policies: Label -> policy.
        scenario: Scenario name, YAML path, mapping or params.
        n_shoppers: Shoppers simulated (the same for every policy).
        horizon: Periods.
        seed: Seed of the shopper keys and of the draws of stochastic policies (``policy_seed``).
        oracle: True: report ``oracle_share`` and ``uplift_captured`` against the default
            ``OraclePolicy``; a ``PrivilegedPolicy``: against that one; False: NaN. The yardstick runs
            once, under the same budget as the policies (it does not plan for the budget, so with
            one it is a reference, not a bound); a member of the line-up that is the same yardstick
            reuses its run.
        budget_per_period: Promotion budget for all shoppers together, renewed every period
            (currency), applied to every policy and the oracle alike; None: no budget.
        contact_cap: Contact cap applied to every policy and the oracle alike (see ``evaluate``).
        campaign_budget: Budget for the whole horizon, applied alike (see ``evaluate``).
        disparity_floor: Disparity floor applied alike (see ``evaluate``).
    """
    if not policies:
        raise ValueError("policies: expected at least one policy to evaluate")
    shoppers = EvaluationShoppers.make(
        scenario,
        n_shoppers,
        horizon,
        seed,
        oracle,
        budget_per_period,
        contact_cap,
        campaign_budget,
        disparity_floor=disparity_floor,
    )
    evaluations = {label: shoppers.evaluate(policy, label) for label, policy in policies.items()}
    return Lineup(
        pd.concat([e.summary for e in evaluations.values()], ignore_index=True),
        pd.concat([e.by_segment for e in evaluations.values()], ignore_index=True),
        pd.concat([e.by_cohort for e in evaluations.values()], ignore_index=True),
        evaluations,
        pd.concat([e.by_group for e in evaluations.values()], ignore_index=True),
    )


@dataclass
class EvaluationShoppers:
    """Fixed shoppers with their no-discount run and yardstick (oracle) run done once, to evaluate policies on.

    What ``evaluate_lineup`` builds for a line-up, and what a training callback keeps so that each
    periodic evaluation costs one rollout of the model (the oracle plans, which costs far more).
    Build it with ``make``.

    Attributes:
        params: The scenario.
        keys: The shoppers' keys, ``(n_shoppers,)``.
        horizon: Periods per run.
        seed: The evaluation seed (shopper keys and ``policy_seed``).
        budget_per_period: Shared promotion budget per period (currency), or None.
        baseline: Per-shopper totals of the no-discount run.
        yardstick: The oracle the uplift is measured against, or None.
        reference: Per-shopper totals of the yardstick's run, or None.
        contact_cap: The contact cap every run is held to, or None.
        campaign_budget: Promotion budget for the whole horizon (currency), or None.
        disparity_floor: The disparity floor every run is held to, or None.
    """

    params: SimulatorParams
    keys: NDArray[np.uint64]
    horizon: int
    seed: int
    budget_per_period: float | None
    baseline: RolloutTotals
    yardstick: PrivilegedPolicy | None
    reference: RolloutTotals | None
    contact_cap: ContactCap | None = None
    campaign_budget: float | None = None
    disparity_floor: DisparityFloor | None = None

    @classmethod
    def make(
        cls,
        scenario: str | Path | SimulatorParams | dict[str, Any] = "default",
        n_shoppers: int = 1000,
        horizon: int = 52,
        seed: int = 0,
        oracle: bool | PrivilegedPolicy = True,
        budget_per_period: float | None = None,
        contact_cap: ContactCap | dict[str, int] | None = None,
        campaign_budget: float | None = None,
        disparity_floor: DisparityFloor | float | dict[str, float] | None = None,
    ) -> EvaluationShoppers:
        """Draw the shoppers, run no discount and the yardstick on them (arguments as ``evaluate_lineup``)."""
        params = load_scenario(scenario)
        n_shoppers = check_count("n_shoppers", n_shoppers, minimum=2, why="intervals need two shoppers")
        horizon = check_count("horizon", horizon)
        seed = check_count("seed", seed, minimum=0)
        budget_per_period = check_budget_per_period(budget_per_period)
        cap = contact_cap_arg(contact_cap)
        campaign = check_budget_per_period(campaign_budget, "campaign_budget")
        floor = disparity_floor_arg(disparity_floor, params)  # before the no-discount and oracle runs
        keys = spawn_keys(np.random.default_rng(seed), n_shoppers)
        baseline = rollout(
            params, keys, _no_discount, horizon, budget_per_period, contact_cap=cap, campaign_budget=campaign
        )
        yardstick = _yardstick(oracle, params)
        shoppers = cls(params, keys, horizon, seed, budget_per_period, baseline, yardstick, None, cap, campaign, floor)
        shoppers.reference = None if yardstick is None else shoppers.run(yardstick)
        return shoppers

    def run(self, policy: Any) -> RolloutTotals:
        """Per-shopper totals of ``policy`` on these shoppers."""
        rule = policy_rule(policy, self.params, len(self.keys), self.horizon, self.seed)
        return rollout(
            self.params,
            self.keys,
            rule,
            self.horizon,
            self.budget_per_period,
            contact_cap=self.contact_cap,
            campaign_budget=self.campaign_budget,
            disparity_floor=self.disparity_floor,
        )

    def evaluate(self, policy: Any, label: str) -> Evaluation:
        """``policy``'s evaluation against the shared no-discount and yardstick runs."""
        # The line-up's own oracle, when it is the yardstick, already ran on these shoppers.
        same = self.reference is not None and _same_yardstick(policy, self.yardstick)
        totals = self.reference if same and self.reference is not None else self.run(policy)
        evaluation = _assemble(self.params, label, totals, self.baseline, self.reference, self.horizon)
        cap = self.contact_cap
        evaluation.summary["contact_cap_held"] = (
            float("nan") if cap is None else float(evaluation.summary["max_offers_in_window"].iloc[0] <= cap.max_offers)
        )
        floor = self.disparity_floor
        evaluation.summary["disparity_floor_held"] = (
            float("nan")
            if floor is None
            else float(evaluation.summary["offer_disparity"].iloc[0] >= floor.floor - 1e-9)
        )
        return evaluation


def check_budget_per_period(budget_per_period: Any, name: str = "budget_per_period") -> float | None:
    """A budget (``budget_per_period`` or ``campaign_budget``) as a float, or None; an error naming it otherwise."""
    if budget_per_period is None:
        return None
    try:
        value = float(budget_per_period)
    except (TypeError, ValueError):
        value = float("nan")
    if isinstance(budget_per_period, bool) or not np.isfinite(value) or value < 0.0:
        unit = "currency per period" if name == "budget_per_period" else "currency for the whole horizon"
        raise ValueError(
            f"{name}: expected null (no budget) or a finite amount >= 0 ({unit}), got {budget_per_period!r}"
        )
    return value


def _yardstick(oracle: bool | PrivilegedPolicy, params: SimulatorParams) -> PrivilegedPolicy | None:
    if isinstance(oracle, PrivilegedPolicy):
        return oracle
    if isinstance(oracle, bool | np.bool_):
        from discountsim.agents.oracle import OraclePolicy

        return OraclePolicy() if oracle else None
    raise TypeError(f"oracle: expected true, false or a PrivilegedPolicy (e.g. OraclePolicy), got {oracle!r}")


def _same_yardstick(policy: Any, yardstick: PrivilegedPolicy | None) -> bool:
    """Whether ``policy`` acts exactly as ``yardstick`` (the same object, or the same class and settings)."""
    if yardstick is None:
        return False
    if policy is yardstick:
        return True
    return type(policy) is type(yardstick) and _acting_config(policy) == _acting_config(yardstick)


def _acting_config(policy: PrivilegedPolicy) -> dict[str, Any]:
    # A privileged policy acts on the scenario's own d_max, so its d_max setting does not change its offers.
    return {k: v for k, v in policy.config().items() if k != "d_max"}
