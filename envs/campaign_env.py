"""``DiscountSim/Campaign-v0``: the marketer's view of a budgeted campaign over a population.

Each period the agent sets one discount per observable cohort (recency tier x preferred
category; segments are latent). Promotion costs (offers sent and discounts redeemed) are charged
first come, first served against ``campaign_budget``, one amount for the whole horizon, so spending
never exceeds it; each period's ``transition`` gets what is left of it as its ``budget_left``.
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from discountsim.envs.actions import DiscountActions
from discountsim.envs.checks import render_mode_arg, scale_arg, scenario_arg
from discountsim.envs.cohorts import CohortMap
from discountsim.simulators import (
    MONEY_FIELDS,
    ShopperState,
    SimulatorParams,
    feature_index,
    initial_state,
    observe,
    spawn_keys,
    transition,
)
from discountsim.simulators.budget import budget_left
from discountsim.simulators.config_schema import check_count
from discountsim.simulators.errors import DiscountSimInputError
from gymnasium import spaces
from numpy.typing import NDArray

# Per-cohort statistics in the observation, each the cohort mean of an observed feature.
COHORT_FEATURES = ("browse", "cart", "frequency", "avg_discount", "recent_offers")
GLOBAL_FEATURES = ("budget_left", "time_left", "week_sin", "week_cos", "holiday")


class CampaignEnv(gym.Env):
    """A population of shoppers, one discount per cohort per period, under one budget for the whole campaign.

    Observation (float32): for each cohort its share of the population and the means of
    ``COHORT_FEATURES``; then the share of ``campaign_budget`` left, the share of the horizon left and the
    calendar features.
    Action: ``Box(-1, 1, (n_cohorts,))``, each mapped to a discount in [0, d_max].
    Reward: the population's profit this period (currency) x ``reward_scale``.
    Episode end: truncated after ``horizon`` periods.
    Info: revenue, discount_cost, offer_cost, promotion_cost, cogs, profit (currency totals),
    purchases, offers_sent, budget_left (currency) and spent (currency, this period).

    Args:
        scenario: Scenario name, YAML path, mapping or ``SimulatorParams``.
        n_shoppers: Population size.
        horizon: Periods in the campaign.
        campaign_budget: Promotion budget for the whole horizon, all shoppers together (currency);
            None: 2 per shopper.
        budget_per_period: Also cap each period's spend at this amount (currency; unspent money
            still carries over in the campaign budget), as ``agents.evaluate`` does; None: no cap.
            Each period's money is ``simulators.budget.budget_left``, the same for both.
        reward_scale: Multiplier applied to the profit; None: 1 / n_shoppers (profit per shopper).
        recency_cuts: Weeks-since-purchase bounds of the recency tiers.
        render_mode: None or ``"ansi"``.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        scenario: str | Path | SimulatorParams | dict[str, Any] = "default",
        n_shoppers: int = 1000,
        horizon: int = 52,
        campaign_budget: float | None = None,
        reward_scale: float | None = None,
        recency_cuts: tuple[float, float] = (4.0, 13.0),
        render_mode: str | None = None,
        budget_per_period: float | None = None,
    ) -> None:
        self.render_mode = render_mode_arg(render_mode, self.metadata["render_modes"])
        self.n_shoppers = check_count("n_shoppers", n_shoppers)
        self.params = scenario_arg(scenario)
        self.horizon = check_count("horizon", horizon)
        if campaign_budget is None:
            self.campaign_budget = 2.0 * self.n_shoppers
        elif (
            isinstance(campaign_budget, numbers.Real)
            and not isinstance(campaign_budget, bool)
            and math.isfinite(campaign_budget)
            and campaign_budget >= 0
        ):
            self.campaign_budget = float(campaign_budget)
        else:
            raise DiscountSimInputError(
                f"campaign_budget: expected None or a finite amount >= 0 (currency), got {campaign_budget!r}"
            )
        if budget_per_period is not None and not (
            isinstance(budget_per_period, numbers.Real)
            and not isinstance(budget_per_period, bool)
            and math.isfinite(budget_per_period)
            and budget_per_period >= 0
        ):
            raise DiscountSimInputError(
                "budget_per_period: expected None or a finite amount >= 0 (currency per period), "
                f"got {budget_per_period!r}"
            )
        self.budget_per_period = None if budget_per_period is None else float(budget_per_period)
        self.reward_scale = 1.0 / self.n_shoppers if reward_scale is None else scale_arg("reward_scale", reward_scale)
        self.cohorts = CohortMap(self.params, _recency_cuts(recency_cuts))
        self.actions = DiscountActions(self.params.d_max, "continuous", width=self.cohorts.n_cohorts)
        self.action_space = self.actions.space()
        k = self.cohorts.n_cohorts
        global_low = [-1.0 if name.startswith("week_") else 0.0 for name in GLOBAL_FEATURES]
        low = np.concatenate([np.zeros(k * (1 + len(COHORT_FEATURES))), global_low])
        high = np.concatenate([np.full(k, 1.0), np.full(k * len(COHORT_FEATURES), 10.0), np.ones(len(GLOBAL_FEATURES))])
        self.observation_space = spaces.Box(low.astype(np.float32), high.astype(np.float32), dtype=np.float32)
        self._columns = [feature_index(self.params, name) for name in COHORT_FEATURES]
        self._calendar = [feature_index(self.params, name) for name in ("week_sin", "week_cos", "holiday")]
        self._state: ShopperState | None = None
        self._shopper_obs: NDArray[np.float32] | None = None  # observe(state), shared by step and _observation
        self._budget_left = self.campaign_budget
        self._period = 0
        self._last_info: dict[str, Any] = {}

    @property
    def budget_left(self) -> float:
        """Part of ``campaign_budget`` not yet spent (currency)."""
        return self._budget_left

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[NDArray[np.float32], dict[str, Any]]:
        super().reset(seed=seed)
        self._state = initial_state(self.params, spawn_keys(self.np_random, self.n_shoppers))
        self._shopper_obs = observe(self.params, self._state)
        self._budget_left = self.campaign_budget
        self._period = 0
        self._last_info = {}
        return self._observation(), {"budget_left": self._budget_left}

    def step(self, action: Any) -> tuple[NDArray[np.float32], float, bool, bool, dict[str, Any]]:
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        by_cohort = self.actions.to_discount(action)
        cohort = self.cohorts.assign(self._shopper_obs)
        money = budget_left(self.budget_per_period, self._budget_left)
        self._state, outcome = transition(self.params, self._state, by_cohort[cohort], budget_left=money)
        self._shopper_obs = observe(self.params, self._state)
        spent = float(outcome.promotion_cost.sum())
        self._budget_left = max(self._budget_left - spent, 0.0)
        self._period += 1
        info: dict[str, Any] = {key: float(getattr(outcome, key).sum()) for key in MONEY_FIELDS}
        info.update(
            purchases=int(outcome.purchased.sum()),
            offers_sent=int(outcome.offered.sum()),
            spent=spent,
            budget_left=self._budget_left,
        )
        self._last_info = info
        reward = info["profit"] * self.reward_scale
        return self._observation(), reward, False, self._period >= self.horizon, info

    def _observation(self) -> NDArray[np.float32]:
        obs = self._shopper_obs
        k = self.cohorts.n_cohorts
        cohort = self.cohorts.assign(obs)
        counts = np.bincount(cohort, minlength=k).astype(np.float64)
        sums = np.stack([np.bincount(cohort, weights=obs[:, j], minlength=k) for j in self._columns], axis=1)
        means = sums / np.maximum(counts, 1.0)[:, None]
        calendar = obs[0, self._calendar]
        budget_share_left = self._budget_left / self.campaign_budget if self.campaign_budget > 0 else 0.0
        out = np.concatenate(
            [
                counts / self.n_shoppers,
                means.ravel(),
                [budget_share_left, 1.0 - self._period / self.horizon],
                calendar,
            ]
        ).astype(np.float32)
        return np.clip(out, self.observation_space.low, self.observation_space.high)

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        info = self._last_info
        if not info:
            return f"period={self._period} budget_left={self._budget_left:.2f} (no period simulated yet)"
        return (
            f"period={self._period} profit={info['profit']:.2f} spent={info['spent']:.2f} "
            f"budget_left={info['budget_left']:.2f} offers={info['offers_sent']} purchases={info['purchases']}"
        )


def _recency_cuts(cuts: Any) -> tuple[float, float]:
    """Two ascending, finite week counts >= 0 (the upper bounds of the active and lapsing tiers)."""
    try:
        values = tuple(float(c) for c in cuts if not isinstance(c, bool))
        ok = len(values) == len(tuple(cuts)) == 2 and 0.0 <= values[0] < values[1] < math.inf
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise DiscountSimInputError(
            f"recency_cuts: expected two ascending finite week counts >= 0 (e.g. (4, 13)), got {cuts!r}"
        )
    return values
