"""Logged behaviour data: what a shop's database would hold after running a logging policy.

One row per shopper and period with the observation the logging policy saw, the discount it
offered and its propensity (probability of that offer, for off-policy estimators), and what
happened. Supervised baselines train on this; latent columns (``segment``) are kept for
analysis only and must not be used as features.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from discountsim.simulators.config_schema import check_count
from discountsim.simulators.params import SimulatorParams
from discountsim.simulators.simulator import ShopperSimulator
from discountsim.simulators.state import MONEY_FIELDS
from numpy.typing import NDArray

LoggingPolicy = Callable[[NDArray[np.float32]], tuple[NDArray[np.float64], NDArray[np.float64]]]
"""Maps observations ``(n, n_features)`` to discounts ``(n,)`` and their propensities ``(n,)``."""

OUTCOME_COLUMNS = (
    "purchased",
    "basket_value",
    *MONEY_FIELDS,
    "churned",
)


@dataclass
class RandomGridLoggingPolicy:
    """Offers each shopper a discount drawn independently from a grid of levels.

    Args:
        levels: Discount levels (fractions of list price).
        probabilities: Probability of each level (uniform if None).
        seed: Seed of the policy's own generator.
    """

    levels: Sequence[float] = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3)
    probabilities: Sequence[float] | None = None
    seed: int | None = None
    rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.levels = np.asarray(self.levels, dtype=np.float64)
        if self.levels.ndim != 1 or self.levels.size == 0 or np.any(self.levels < 0.0):
            raise ValueError(f"levels: expected a non-empty list of discounts >= 0, got {self.levels!r}")
        if self.probabilities is None:
            self.probabilities = np.full(self.levels.size, 1.0 / self.levels.size)
        p = np.asarray(self.probabilities, dtype=np.float64)
        if p.shape != self.levels.shape or np.any(p < 0.0) or not np.isclose(p.sum(), 1.0):
            raise ValueError(f"probabilities: expected {self.levels.size} non-negative values summing to 1, got {p}")
        self.probabilities = p
        self.rng = np.random.default_rng(self.seed)

    def __call__(self, observations: NDArray[np.float32]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        index = self.rng.choice(self.levels.size, size=observations.shape[0], p=self.probabilities)
        return self.levels[index], self.probabilities[index]


def generate_behaviour_log(
    scenario: str | Path | SimulatorParams | dict[str, Any],
    logging_policy: LoggingPolicy | None = None,
    n_shoppers: int = 1000,
    horizon: int = 52,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Simulate ``horizon`` periods of ``n_shoppers`` under a logging policy and log every row.

    Args:
        scenario: Scenario name, path, mapping or params.
        logging_policy: Callable returning discounts and propensities; defaults to
            ``RandomGridLoggingPolicy(seed=seed)``.
        n_shoppers: Number of shoppers.
        horizon: Number of periods.
        seed: Seed of the population.

    Returns:
        ``n_shoppers * horizon`` rows with columns ``shopper, period, week_of_year, segment``, the
        observation features, ``discount, propensity`` and the outcome columns (currency).
    """
    horizon = check_count("horizon", horizon)
    sim = ShopperSimulator(scenario, n_shoppers, seed)
    policy = logging_policy if logging_policy is not None else RandomGridLoggingPolicy(seed=seed)
    sim.reset()
    return log_periods(sim, policy, horizon)


def log_periods(
    sim: ShopperSimulator, logging_policy: LoggingPolicy, periods: int, first_period: int = 0
) -> pd.DataFrame:
    """Run an already reset simulator ``periods`` more periods under ``logging_policy`` and log each row.

    Lets a deployed policy keep logging the same shoppers between refits (a closed loop).

    Args:
        first_period: Value of the ``period`` column for the first logged period.
    """
    periods = check_count("periods", periods)
    n_shoppers = sim.n_shoppers
    names = sim.feature_names
    obs = sim.observe()
    frames = []
    for period in range(first_period, first_period + periods):
        discount, propensity = logging_policy(obs)
        discount = np.asarray(discount, dtype=np.float64)
        propensity = np.asarray(propensity, dtype=np.float64)
        if propensity.shape != (n_shoppers,) or np.any((propensity <= 0.0) | (propensity > 1.0)):
            raise ValueError("logging policy: propensities must be (n_shoppers,) values in (0, 1]")
        outcome = sim.step(discount)
        columns: dict[str, Any] = {
            "shopper": np.arange(n_shoppers),
            "period": np.full(n_shoppers, period),
            "segment": np.asarray(sim.params.segment_names)[outcome.segment],
        }
        columns.update({name: obs[:, j] for j, name in enumerate(names)})
        columns["discount"] = outcome.discount
        columns["propensity"] = propensity
        columns.update({name: getattr(outcome, name) for name in OUTCOME_COLUMNS})
        frames.append(pd.DataFrame(columns))
        obs = sim.observe()
    return pd.concat(frames, ignore_index=True)
