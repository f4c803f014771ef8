"""The ``twin`` policy: decisions planned on a scenario calibrated to the shop's own log.

A shop can deploy it, because it reads only what the shop observes. For each shopper it keeps
the posterior over the fitted segments, and over whether the shopper is still active, given
that shopper's offers and purchases so far (updated every period, by the same equations the
calibration's likelihood and the simulator use), and each segment's reconstructed reference
discount, fatigue, stock, recency and satisfaction. It offers the discount that maximises this
period's expected profit under the fitted model, averaged over that posterior:

    argmax_d  sum_k P(k, active | history) sigmoid(u_k(d)) V_i (1 + phi_k d)(m_i - d) - c 1[d > 0]

with V_i the shopper's observed average basket (``monetary``; the segment's mean before any
purchase) and m_i its category's margin. With ``plan=True`` (the default) it also counts what
each discount does to the future: the planner of ``simulators.planning`` solves the fitted
dynamic programme once for a representative shopper of each segment and category, and each
shopper's value of a discount adds, per segment, the planned profit to go from the state that
discount leads to (scaled by the shopper's basket), weighted by the same posterior (the QMDP
approximation: it plans as if the segment would be known from the next period on).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from discountsim.agents.base import DiscountPolicy
from discountsim.simulators import ScenarioError, SimulatorParams, dynamics, feature_names, load_scenario
from discountsim.simulators.calibration.parameters import natural_from_scenario
from discountsim.simulators.config_schema import to_dict
from discountsim.simulators.errors import DiscountSimInputError
from discountsim.simulators.observation import category_slice, feature_index
from discountsim.simulators.params import PERIODS_PER_YEAR
from discountsim.simulators.planning import PlanningGrid, ShopperPlan, action_values, solve
from discountsim.simulators.rollout import DiscountRule
from discountsim.simulators.state import ShopperState, ShopperTraits
from numpy.typing import NDArray

_LOG_53 = np.log(53.0)
_LOG_1000 = np.log(1000.0)


@dataclass(frozen=True)
class SegmentTable:
    """The fitted scenario's segments as ``(K,)`` arrays (traits at their means)."""

    share: NDArray[np.float64]
    intent: NDArray[np.float64]
    discount_sensitivity: NDArray[np.float64]
    gain_weight: NDArray[np.float64]
    loss_weight: NDArray[np.float64]
    reference_memory: NDArray[np.float64]
    initial_reference: NDArray[np.float64]
    fatigue_sensitivity: NDArray[np.float64]
    stock_sensitivity: NDArray[np.float64]
    forward_buying: NDArray[np.float64]
    churn_logit: NDArray[np.float64]
    fatigue_churn: NDArray[np.float64]
    offer_churn: NDArray[np.float64]
    basket_value: NDArray[np.float64]
    basket_sd: NDArray[np.float64]
    category_scale: NDArray[np.float64]

    @classmethod
    def of(cls, params: SimulatorParams) -> SegmentTable:
        """The scenario's segments in the calibration's terms (``natural_from_scenario``): one set of numbers."""
        nat = natural_from_scenario(params, params.category_names)
        first = params.catalogue[params.category_names[0]].basket_scale  # natural baskets are in its units
        fields = {f: np.asarray(nat[f], dtype=np.float64) for f in cls.__dataclass_fields__ if f in nat}
        return cls(
            **fields,
            basket_value=np.exp(nat["log_basket_value"]) / first,
            category_scale=np.exp(nat["category_log_scale"]) * first,
        )

    def basket(self, segment: NDArray[np.intp], category: NDArray[np.intp]) -> NDArray[np.float64]:
        """Mean list-price basket (currency) of a shopper of ``segment`` whose category is ``category``."""
        return self.basket_value[segment] * self.category_scale[category]


class TwinFilter:
    """Posterior over (segment, active) and each segment's state, for a batch of shoppers; ``(n, K)`` arrays.

    Args:
        model: The fitted scenario.
        observations: ``(n, n_features)`` the shoppers' first observations (their recency).
    """

    def __init__(self, model: SimulatorParams, observations: NDArray[np.float32]) -> None:
        self.model = model
        self.seg = SegmentTable.of(model)
        n, k = observations.shape[0], self.seg.share.size
        self.log_weight = np.tile(np.log(np.maximum(self.seg.share, 1e-300)), (n, 1))
        self.alive = np.ones((n, k))
        self.reference = np.tile(self.seg.initial_reference, (n, 1))
        self.fatigue = np.zeros((n, 1))
        self.stock = np.zeros((n, k))
        self.satisfaction = np.tile(dynamics.sigmoid(self.seg.intent), (n, 1))
        recency = np.expm1(observations[:, feature_index(model, "recency")].astype(np.float64) * _LOG_53)
        self.recency = np.tile(recency[:, None], (1, k))
        self.log_weight = self.log_weight + self.history_evidence(observations)
        self.season: NDArray[np.float64] | None = None  # season of the period last decided on
        self.t = 0  # periods since these shoppers were first seen

    def history_evidence(self, observations: NDArray[np.float32]) -> NDArray[np.float64]:
        """``(n, K)`` log-likelihood of each shopper's purchase history before its first period, per segment.

        The shop's own RFM summaries, approximated as normal: the smoothed purchase count F of a
        shopper buying with probability p a week has mean p / (1 - m) and variance
        p (1 - p) / (1 - m^2) (m = ``history_memory``); the log of its average basket is normal
        around its segment's log mean basket with the segment's spread between shoppers.
        """
        s, m = self.seg, self.model.behaviour.history_memory
        p = dynamics.sigmoid(s.intent)[None, :]
        frequency = observations[:, feature_index(self.model, "frequency")].astype(np.float64)[:, None]
        var = np.maximum(p * (1.0 - p) / (1.0 - m * m), 1e-6) if m < 1.0 else np.full_like(p, 1.0)
        mean = p / (1.0 - m) if m < 1.0 else p
        out = -0.5 * ((frequency - mean) ** 2 / var + np.log(var))
        basket = np.expm1(observations[:, feature_index(self.model, "monetary")].astype(np.float64) * _LOG_1000)
        category = np.argmax(observations[:, category_slice(self.model)], axis=1)
        sd = np.maximum(s.basket_sd, 0.05)[None, :]
        centre = np.log(s.basket(np.arange(s.share.size)[None, :], category[:, None])) - 0.5 * sd * sd
        log_v = np.log(np.maximum(basket, 1e-9))[:, None]
        out = out + np.where(basket[:, None] > 0.0, -0.5 * ((log_v - centre) / sd) ** 2 - np.log(sd), 0.0)
        return out

    def probabilities(self, season: NDArray[np.float64], discount: NDArray[np.float64] | float) -> NDArray[np.float64]:
        """``(n, K)`` P(buy) of each shopper in each segment at ``discount`` (fraction), at the current state."""
        s = self.seg
        d = np.broadcast_to(np.asarray(discount, dtype=np.float64), season.shape)[:, None]
        return dynamics.sigmoid(
            dynamics.purchase_utility(
                intent=s.intent,
                season=season[:, None],
                shock=0.0,
                discount=d,
                reference=self.reference,
                discount_sensitivity=s.discount_sensitivity,
                gain_weight=s.gain_weight,
                loss_weight=s.loss_weight,
                fatigue=self.fatigue,
                fatigue_sensitivity=s.fatigue_sensitivity,
                stock=self.stock,
                stock_sensitivity=s.stock_sensitivity,
            )
        )

    def update(self, discount: NDArray[np.float64], purchased: NDArray[np.float64]) -> None:
        """Bayes' rule on last period's outcome, then churn and each segment's state update, ``(n,)`` inputs."""
        assert self.season is not None
        s = self.seg
        behaviour = self.model.behaviour
        y = purchased[:, None]
        offered = (discount > 0.0)[:, None]
        p = self.probabilities(self.season, discount)
        live = self.alive * np.where(y > 0, p, 1.0 - p)
        total = np.maximum(live + (1.0 - self.alive) * (1.0 - y), 1e-300)
        self.log_weight = self.log_weight + np.log(total)
        self.log_weight -= self.log_weight.max(axis=1, keepdims=True)  # only ratios matter
        self.recency = np.where(y > 0, 0.0, self.recency + 1.0)
        hazard = dynamics.churn_hazard(
            s.churn_logit,
            self.recency,
            self.fatigue,
            offered,
            self.satisfaction,
            s.fatigue_churn,
            s.offer_churn,
            behaviour,
        )
        self.alive = live / total * (1.0 - hazard)
        d = discount[:, None]
        self.reference = dynamics.update_reference(self.reference, d, s.reference_memory)
        self.fatigue = dynamics.update_fatigue(self.fatigue, offered, behaviour.fatigue_decay)
        self.stock = dynamics.update_stock(
            self.stock, y > 0, d * offered, s.forward_buying, behaviour.stock_consumption
        )
        m = behaviour.satisfaction_memory
        self.satisfaction = m * self.satisfaction + (1.0 - m) * y
        self.t += 1

    def weights(self) -> NDArray[np.float64]:
        """``(n, K)`` P(segment k and still active | history)."""
        w = np.exp(self.log_weight)
        return w / w.sum(axis=1, keepdims=True) * self.alive


class TwinPolicy(DiscountPolicy):
    """Myopic profit maximisation under a calibrated scenario, with each shopper's segment inferred online.

    Args:
        scenario: The scenario whose observations it reads (layout and d_max).
        model: The calibrated scenario (``discountsim calibrate`` output: a YAML path, name, mapping or params).
            Its categories must match the scenario's, in order.
        decision_levels: Discount levels compared, equally spaced on [0, d_max].
        plan: Add the planned profit to go under the fitted dynamics (False: this period only).
        plan_horizon: Weeks the plan looks ahead from the shoppers' first period (re-planned after).
        grid: Planning grid, as ``simulators.planning.PlanningGrid`` fields.
    """

    name = "twin"

    def __init__(
        self,
        scenario: str | Path | SimulatorParams | dict[str, Any] = "default",
        model: str | Path | SimulatorParams | dict[str, Any] | None = None,
        decision_levels: int = 21,
        plan: bool = True,
        plan_horizon: int = 52,
        grid: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scenario=scenario, **kwargs)
        if int(plan_horizon) < 1:
            raise ValueError(f"plan_horizon: expected an integer >= 1 (weeks), got {plan_horizon}")
        self.plan, self.plan_horizon = bool(plan), int(plan_horizon)
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in (grid or {}).items()}
        try:
            self.grid = PlanningGrid(**fields)
        except TypeError as err:
            raise ValueError(
                f"grid: unknown field in {sorted(fields)}; allowed: {sorted(PlanningGrid.__dataclass_fields__)}"
            ) from err
        self._grid_config = grid
        self._plan: ShopperPlan | None = None
        if model is None:
            raise DiscountSimInputError(
                "model: the calibrated scenario is required (the YAML `discountsim calibrate` wrote), "
                "e.g. {name: twin, model: my_shop.yaml}"
            )
        try:
            self.model = load_scenario(model)
        except ScenarioError as err:
            raise ScenarioError(f"model: {err}") from err
        if feature_names(self.model) != feature_names(self.scenario):
            raise ValueError(
                f"model: its categories {list(self.model.category_names)} differ from the scenario's "
                f"{list(self.scenario.category_names)}; calibrate with that scenario as base"
            )
        if int(decision_levels) < 2:
            raise ValueError(f"decision_levels: expected an integer >= 2, got {decision_levels}")
        self.decision_levels = int(decision_levels)
        self.levels = np.linspace(0.0, self.d_max, self.decision_levels)
        self._filter: TwinFilter | None = None
        self._category_columns = category_slice(self.scenario)
        names = self.scenario.category_names
        self._margin = np.array([self.scenario.catalogue[c].margin for c in names])
        self._season = dynamics.season_by_week(self.model.seasonality)
        self._col = {
            c: feature_index(self.scenario, c)
            for c in ("last_discount", "purchased_last", "monetary", "week_sin", "week_cos")
        }

    def reset(self) -> None:
        """Forget the shoppers seen so far (a new run starts with new shoppers)."""
        self._filter = None
        self._plan = None

    def discount_rule(self, params: SimulatorParams, what: str | None = None) -> DiscountRule:
        rule = super().discount_rule(params, what)
        self.reset()  # every rollout follows its own shoppers from their first period
        return rule

    def predict(
        self,
        observation: NDArray,
        state: Any = None,
        episode_start: NDArray | None = None,
        deterministic: bool = True,
    ) -> tuple[NDArray, Any]:
        """SB3's recurrent ``predict``: pass back the returned state (the filter); ``episode_start`` restarts it."""
        batch = self._checked(observation)
        restart = episode_start is not None and bool(np.any(episode_start))
        self._filter = None if (state is None or restart) else state
        discounts = self.discounts(batch)
        actions = self.actions.from_discount(discounts)
        return (actions[0] if np.ndim(observation) == 1 else actions), self._filter

    def discounts(self, observations: NDArray[np.float32]) -> NDArray[np.float64]:
        obs = np.asarray(observations, dtype=np.float32)
        if self._filter is None or self._filter.alive.shape[0] != obs.shape[0]:
            self._filter = TwinFilter(self.model, obs)
        else:
            last = obs[:, self._col["last_discount"]].astype(np.float64)
            self._filter.update(np.round(last, 6), obs[:, self._col["purchased_last"]].astype(np.float64))
        angle = np.arctan2(obs[:, self._col["week_sin"]], obs[:, self._col["week_cos"]]).astype(np.float64)
        week = np.rint(angle * PERIODS_PER_YEAR / (2.0 * np.pi)).astype(np.int64) % PERIODS_PER_YEAR
        season = self._season[week]
        self._filter.season = season
        category = np.argmax(obs[:, self._category_columns], axis=1)
        margin = self._margin[category]
        seen = np.expm1(obs[:, self._col["monetary"]].astype(np.float64) * _LOG_1000)
        basket = np.where(
            (seen > 0.0)[:, None],
            seen[:, None],
            self._filter.seg.basket(np.arange(self._filter.seg.share.size)[None, :], category[:, None]),
        )
        weights = self._filter.weights()
        if self.plan:
            value = self._planned_values(category, margin, basket, weights)
        else:
            phi = self._filter.seg.forward_buying
            value = np.empty((obs.shape[0], self.levels.size))
            for j, d in enumerate(self.levels):
                p = self._filter.probabilities(season, d)
                gain = (weights * p * basket * dynamics.basket_multiplier(d, phi)).sum(axis=1) * (margin - d)
                value[:, j] = gain - self.scenario.offer_cost * (d > 0.0)
        return self.levels[np.argmax(value, axis=1)]

    def _representatives(self, t: int) -> ShopperState:
        """One shopper per (segment, category) with the segment's mean traits, at period ``t``, row k * C + c."""
        seg, names = self._filter.seg, self.model.category_names
        k, c = np.divmod(np.arange(seg.share.size * len(names)), len(names))
        basket = seg.basket(k, c)
        return self._virtual(
            k,
            c,
            basket,
            np.full(k.size, t),
            seg.initial_reference[k],
            np.zeros(k.size),
            np.zeros(k.size),
            np.zeros(k.size),
            dynamics.sigmoid(seg.intent)[k],
        )

    def _virtual(self, k, c, basket, t, reference, fatigue, stock, recency, satisfaction) -> ShopperState:
        """A ``ShopperState`` of virtual shoppers: segment ``k``'s mean traits, category ``c``, the given state."""
        seg, m = self._filter.seg, k.size
        zeros = np.zeros(m)
        traits = ShopperTraits(
            segment=k.astype(np.int8),
            category=c.astype(np.int8),
            intent=seg.intent[k],
            discount_sensitivity=seg.discount_sensitivity[k],
            gain_weight=seg.gain_weight[k],
            loss_weight=seg.loss_weight[k],
            reference_memory=seg.reference_memory[k],
            fatigue_sensitivity=seg.fatigue_sensitivity[k],
            fatigue_churn=seg.fatigue_churn[k],
            offer_churn=seg.offer_churn[k],
            stock_sensitivity=seg.stock_sensitivity[k],
            forward_buying=seg.forward_buying[k],
            basket_value=basket,
            margin=self._margin[c],
            churn_logit=seg.churn_logit[k],
            review_rate=zeros,
            attributes=np.zeros((m, 0), dtype=np.int8),
            member=np.zeros(m, dtype=bool),
            member_price_cut=zeros,
            membership_fee=zeros,
        )
        return ShopperState(
            key=np.zeros(m, dtype=np.uint64),
            t=np.asarray(t, dtype=np.int64),
            traits=traits,
            active=np.ones(m, bool),
            reference=reference,
            fatigue=fatigue,
            stock=stock,
            satisfaction=satisfaction,
            intent_shock=zeros,
            recency=recency,
            frequency=zeros,
            monetary=basket,
            tenure=zeros,
            last_discount=zeros,
            avg_discount=zeros,
            offer_history=np.zeros(m, dtype=np.uint8),
            reviews=zeros,
            browse=zeros,
            cart=zeros,
            purchased_last=zeros,
            weeks_seen=zeros + 1.0,
            offer_weeks=zeros,
            purchases_seen=zeros,
            offer_purchases=zeros,
        )

    def _planned_values(self, category, margin, basket, weights) -> NDArray[np.float64]:
        """``(n, L)`` posterior-weighted value of each level: this period's profit plus the planned future."""
        f = self._filter
        t = f.t
        if self._plan is None or t + 1 > int(self._plan.start[0]) + self._plan.horizon:
            self._plan = solve(self.model, self._representatives(t), self.plan_horizon, self.grid)
        n, k_count = weights.shape
        k = np.tile(np.arange(k_count), n)
        rows = np.repeat(np.arange(n), k_count)
        c = category[rows]
        plan_rows = k * len(self.model.category_names) + c
        own_basket = basket[rows, k]
        virtual = self._virtual(
            k,
            c,
            own_basket,
            np.full(n * k_count, t),
            f.reference.ravel(),
            np.repeat(f.fatigue[:, 0], k_count),
            f.stock.ravel(),
            f.recency.ravel(),
            f.satisfaction.ravel(),
        )
        scale = own_basket / f.seg.basket(k, c)  # the plan's rows are the (k, c) representatives
        values = action_values(self.model, virtual, self.levels, self._plan, plan_rows, scale)
        total = (weights[:, :, None] * values.reshape(n, k_count, -1)).sum(axis=1)
        # The offer is paid whether or not the shopper is still there.
        gone = 1.0 - weights.sum(axis=1, keepdims=True)
        return total - gone * self.scenario.offer_cost * (self.levels > 0.0)[None, :]

    def config(self) -> dict[str, Any]:
        return {
            **super().config(),
            "model": to_dict(self.model),
            "decision_levels": self.decision_levels,
            "plan": self.plan,
            "plan_horizon": self.plan_horizon,
            "grid": self._grid_config,
        }
