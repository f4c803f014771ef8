"""``ShopperSimulator``: a stateful population of N shoppers advanced one period per ``step``.

A thin object over the pure functions in ``transition`` for scripts and evaluators: it holds the
scenario, the state and the one seeded ``numpy.random.Generator`` that draws shopper keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from discountsim.simulators.config_schema import check_count
from discountsim.simulators.observation import feature_names, observe
from discountsim.simulators.params import SimulatorParams
from discountsim.simulators.population import initial_state, spawn_keys
from discountsim.simulators.scenarios import load_scenario
from discountsim.simulators.state import Outcome, ShopperState
from discountsim.simulators.transition import transition
from numpy.typing import NDArray


class ShopperSimulator:
    """A batched, seeded shopper population.

    Args:
        scenario: Built-in scenario name, YAML path, mapping or ``SimulatorParams``.
        n_shoppers: Population size N.
        seed: Seed of the generator that draws shopper keys; the same seed gives bit-identical
            results, and shopper i is the same shopper for every N > i.

    Example:
        >>> sim = ShopperSimulator("default", n_shoppers=1000, seed=0)
        >>> obs = sim.reset()
        >>> outcome = sim.step(np.full(1000, 0.1))
    """

    def __init__(
        self,
        scenario: str | Path | SimulatorParams | dict[str, Any] = "default",
        n_shoppers: int = 1000,
        seed: int | None = None,
    ) -> None:
        self.n_shoppers = check_count("n_shoppers", n_shoppers)
        self.params = load_scenario(scenario)
        self.rng = np.random.default_rng(seed)
        self.state: ShopperState | None = None

    @property
    def feature_names(self) -> tuple[str, ...]:
        return feature_names(self.params)

    def reset(self, seed: int | None = None, keys: NDArray[np.uint64] | None = None) -> NDArray[np.float32]:
        """Draw a fresh population and return its observation ``(n_shoppers, n_features)``.

        Args:
            seed: Reseed the generator first.
            keys: Use these ``(n_shoppers,)`` shopper keys instead of drawing new ones (to replay
                the same shoppers under another policy: common random numbers).
        """
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        if keys is None:
            keys = spawn_keys(self.rng, self.n_shoppers)
        elif np.shape(keys) != (self.n_shoppers,):
            raise ValueError(f"keys: expected shape ({self.n_shoppers},), got {np.shape(keys)}")
        self.state = initial_state(self.params, keys)
        return observe(self.params, self.state)

    def step(self, discount: NDArray | float, budget_left: float | None = None) -> Outcome:
        """Advance all shoppers one period with the given discount per shopper (see ``transition``).

        ``budget_left``: money available for this period's promotion costs (currency), None for no limit.
        """
        if self.state is None:
            raise RuntimeError("call reset() before step()")
        self.state, outcome = transition(self.params, self.state, discount, budget_left)
        return outcome

    def observe(self) -> NDArray[np.float32]:
        """Current observation, ``(n_shoppers, n_features)`` float32."""
        if self.state is None:
            raise RuntimeError("call reset() before observe()")
        return observe(self.params, self.state)
