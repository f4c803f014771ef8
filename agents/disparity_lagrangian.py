"""Meet a disparity floor on offer rates by pricing offers per group into the reward (a Lagrangian relaxation).

The constraint, for every observable attribute a and each of its levels g: the share of g's
shoppers offered anything over the horizon, r_g, is at least ``floor`` times the largest level's
share r_top (the four-fifths rule at 0.8). Each level has a dual variable mu_g >= 0, updated every
``every`` timesteps from the *deterministic* policy's offer rates on fixed shoppers (what the
evaluator will see), as ``LagrangianBudgetCallback`` does for spend: with the relative violation
e_g = floor - r_g / r_top, the integral I_g <- max(0, I_g + dual_lr * e_g) and
mu_g = max(0, I_g + kp * e_g) (a PID Lagrangian without the derivative; Stooke, Achiam & Abbeel,
2020). The Lagrangian profit + sum_g mu_g (r_g - floor * r_top) changes, per offer to a shopper of
level g, by mu_g / s_g (s_g: g's share of the population), and per offer to a shopper of the top
level by -floor * sum_g mu_g / s_top: that is the per-offer price set on the env
(``ShopperVecEnv.offer_bonus``; offers stand in for first offers, which the rates count). The
policy thus learns to offer more to under-offered groups, or less to the over-offered one,
whichever costs less profit. It can do so deliberately only if it sees the attributes
(``observe_attributes: true``); blind, it can move only through correlated features.

As with the budget, the last iterate lands wherever the multipliers' last swing left it, so the
callback keeps the best *feasible* iterate (every attribute's measured ratio at least
``floor + feasibility_margin``, highest profit on the same shoppers) and restores it at the end.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
from discountsim.agents.callbacks import BestFeasibleIterate, RolloutScheduleCallback
from discountsim.agents.evaluation import EvaluationShoppers, offer_disparity
from discountsim.agents.storage import write_json
from discountsim.simulators import RolloutTotals, SimulatorParams, load_scenario
from discountsim.simulators.contact_cap import ContactCap, contact_cap_arg
from discountsim.simulators.errors import DiscountSimInputError
from numpy.typing import NDArray

logger = logging.getLogger(__name__)


def offer_rates(params: SimulatorParams, totals: RolloutTotals) -> dict[str, NDArray[np.float64]]:
    """Share of each level's shoppers offered anything: ``{attribute: (n_levels,)}``, NaN for an empty level."""
    offered = (totals.offers > 0).astype(np.float64)
    rates = {}
    for j, (attribute, names) in enumerate(params.attribute_levels.items()):
        codes = totals.attributes[:, j].astype(np.int64)
        counts = np.bincount(codes, minlength=len(names)).astype(np.float64)
        hits = np.bincount(codes, weights=offered, minlength=len(names))
        with np.errstate(invalid="ignore", divide="ignore"):
            rates[attribute] = np.where(counts > 0, hits / counts, np.nan)
    return rates


class LagrangianDisparityCallback(RolloutScheduleCallback):
    """Hold every attribute's offer-rate ratio to ``floor`` on average through per-group offer prices (see module).

    Args:
        floor: The ratio every attribute's smallest level's offer rate must reach of its largest, in (0, 1].
        dual_lr: Integral gain (currency per offer, per unit of relative violation and update).
        kp: Proportional gain; 0 gives plain dual ascent.
        every: Timesteps between dual updates (at rollout boundaries).
        scenario: The training scenario; it must have observable attributes.
        n_shoppers, horizon, seed: The fixed shoppers the rates are measured on.
        contact_cap: The contact cap the agent trains under: the rates are measured under it too.
        keep_best_feasible: Restore the best feasible iterate at the end of training.
        feasibility_margin: How far above ``floor`` every measured ratio must be to count as feasible.
        state_file: Where the duals are written after every update (atomically) and read back at
            the start of training, so that a resumed run continues them; None: not kept.
    """

    def __init__(
        self,
        floor: float = 0.8,
        dual_lr: float = 1.0,
        kp: float = 1.0,
        every: int = 32_768,
        scenario: str | Path | SimulatorParams | dict[str, Any] = "default",
        n_shoppers: int = 500,
        horizon: int = 52,
        seed: int = 54321,
        contact_cap: ContactCap | dict[str, int] | None = None,
        keep_best_feasible: bool = True,
        feasibility_margin: float = 0.02,
        state_file: str | Path | None = None,
        verbose: int = 0,
    ) -> None:
        super().__init__(every, "fairness_lagrangian.every", verbose)
        for name, value, low, high in (
            ("floor", floor, 0.0, 1.0),
            ("dual_lr", dual_lr, 0.0, np.inf),
            ("kp", kp, 0.0, np.inf),
            ("feasibility_margin", feasibility_margin, 0.0, 1.0),
        ):
            finite = isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)
            positive = name in ("floor", "dual_lr")
            if not finite or value < low or value > high or (positive and value == low):
                bounds = f"in (0, {high:g}]" if name == "floor" else "> 0" if positive else f"in [{low:g}, {high:g}]"
                raise DiscountSimInputError(f"fairness_lagrangian.{name}: expected a number {bounds}, got {value!r}")
        self.params = load_scenario(scenario)
        if not self.params.attribute_levels:
            raise DiscountSimInputError(
                f"fairness_lagrangian: scenario {self.params.name!r} has no observable attributes to hold a floor "
                "across; add attributes to its segments (see conf/simulator/default.yaml)"
            )
        self.floor, self.dual_lr, self.kp = float(floor), float(dual_lr), float(kp)
        self.feasibility_margin = float(feasibility_margin)
        self.keep_best_feasible = bool(keep_best_feasible)
        self.contact_cap = contact_cap_arg(contact_cap)
        self.n_shoppers, self.horizon, self.seed = n_shoppers, horizon, seed
        self.state_file = None if state_file is None else Path(state_file)
        n_levels = sum(len(names) for names in self.params.attribute_levels.values())
        self.integral = np.zeros(n_levels)
        self.multipliers = np.zeros(n_levels)
        self.prices = np.zeros(n_levels)  # per-offer price of each level set on the env (currency)
        self.kept = BestFeasibleIterate()
        self._shoppers: EvaluationShoppers | None = None
        self.history: list[dict[str, float]] = []

    def _on_training_start(self) -> None:
        super()._on_training_start()
        if self.state_file is not None and self.state_file.is_file():
            try:
                saved = json.loads(self.state_file.read_text())
                values = [np.asarray(saved[k], dtype=np.float64) for k in ("integral", "multipliers", "prices")]
                if any(v.shape != self.integral.shape or not np.all(np.isfinite(v)) for v in values):
                    raise ValueError(f"expected {self.integral.size} finite values per entry, one per attribute level")
            except (OSError, ValueError, KeyError, TypeError) as err:
                raise DiscountSimInputError(  # a user's file: one line, no traceback
                    f"{self.state_file}: not this run's disparity duals ({err}); delete it to restart"
                ) from err
            self.integral, self.multipliers, self.prices = values
            logger.info("continuing the disparity multipliers from %s", self.state_file)
        self.training_env.set_attr("offer_bonus", self.prices.copy())

    def measure(self) -> tuple[dict[str, NDArray[np.float64]], float]:
        """The deterministic policy's offer rates per attribute level and profit per shopper, on the fixed shoppers."""
        totals = self._fixed_shoppers().run(self.model)
        return offer_rates(self.params, totals), float(totals.profit.mean())

    def offer_prices(
        self, multipliers: NDArray[np.float64], rates: dict[str, NDArray[np.float64]]
    ) -> NDArray[np.float64]:
        """Per-offer price of each level (currency; see module): mu_g / s_g, less floor * sum mu / s_top at the top."""
        prices = np.zeros_like(multipliers)
        shares = self._level_shares()
        start = 0
        for attribute, names in self.params.attribute_levels.items():
            block = slice(start, start + len(names))
            start += len(names)
            mu, share, rate = multipliers[block], shares[block], rates[attribute]
            held = share > 0
            prices[block][held] = mu[held] / share[held]
            if np.isfinite(rate).any():
                top = int(np.nanargmax(rate))
                prices[block][top] -= self.floor * float(mu.sum()) / share[top]
        return prices

    @property
    def best(self) -> dict[str, float] | None:
        """Timesteps, profit and ratios of the kept feasible iterate, or None."""
        return self.kept.best

    def _fixed_shoppers(self) -> EvaluationShoppers:
        if self._shoppers is None:
            self._shoppers = EvaluationShoppers.make(
                self.params, self.n_shoppers, self.horizon, self.seed, False, contact_cap=self.contact_cap
            )
        return self._shoppers

    def _level_shares(self) -> NDArray[np.float64]:
        """Each level's share of the measuring shoppers, in ``offer_bonus`` order."""
        attributes = self._fixed_shoppers().baseline.attributes
        shares = []
        for j, names in enumerate(self.params.attribute_levels.values()):
            shares.append(np.bincount(attributes[:, j].astype(np.int64), minlength=len(names)) / len(attributes))
        return np.concatenate(shares)

    def on_schedule(self) -> None:
        rates, profit = self.measure()
        ratios = {attribute: offer_disparity(r) for attribute, r in rates.items()}
        feasible = min(ratios.values()) >= self.floor + self.feasibility_margin
        if self.keep_best_feasible:
            self.kept.offer(self.model, feasible, {"timesteps": float(self.num_timesteps), "profit": profit, **ratios})
        violations = []
        for rate in rates.values():
            present = np.isfinite(rate)
            top = float(np.nanmax(rate)) if present.any() else 0.0
            relative = np.where(present, rate / top if top > 0 else 1.0, 1.0)
            violations.append(self.floor - relative)  # > 0 where a level is under the floor
        violation = np.concatenate(violations)
        self.integral = np.maximum(0.0, self.integral + self.dual_lr * violation)
        self.multipliers = np.maximum(0.0, self.integral + self.kp * violation)
        self.prices = self.offer_prices(self.multipliers, rates)
        self.training_env.set_attr("offer_bonus", self.prices.copy())
        self.history.append({"timesteps": float(self.num_timesteps), "profit": profit, **ratios})
        if self.state_file is not None:
            state = {
                "integral": self.integral.tolist(),
                "multipliers": self.multipliers.tolist(),
                "prices": self.prices.tolist(),
                "timesteps": self.num_timesteps,
            }
            write_json(self.state_file, state)
        for attribute, ratio in ratios.items():
            self.logger.record(f"constraint/offer_disparity_{attribute}", ratio)
        self.logger.record("constraint/disparity_multiplier_sum", float(self.multipliers.sum()))

    def _on_training_end(self) -> None:
        if self.kept.restore(self.model) and self.best is not None:
            logger.info(
                "fairness_lagrangian: restored the best feasible iterate (%s timesteps: ratios %s, profit %.2f on the "
                "callback's shoppers)",
                f"{int(self.best['timesteps']):,}",
                {k: round(v, 3) for k, v in self.best.items() if k not in ("timesteps", "profit")},
                self.best["profit"],
            )
        elif self.keep_best_feasible:
            logger.warning("fairness_lagrangian: no iterate met the floor on the callback's shoppers; keeping the last")
