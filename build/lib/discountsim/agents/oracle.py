"""Policies that know the true model: the ``oracle`` (dynamic programme) and the ``myopic_oracle``.

Both read each shopper's latent traits and exact state, which no real marketer can see, so they
are yardsticks, not deployable policies. The ``oracle`` plans by backward induction over the
shopper's own state (``simulators.planning``); the ``myopic_oracle`` maximises this period's
expected profit only, which shows what ignoring the future costs. On a scenario with no
inter-period dynamics the two coincide exactly.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
from discountsim.agents.base import PrivilegedPolicy
from discountsim.simulators import ShopperState, SimulatorParams
from discountsim.simulators.planning import PlanningGrid, ShopperPlan, action_values, solve
from numpy.typing import NDArray


class MyopicOraclePolicy(PrivilegedPolicy):
    """Offers each shopper the discount that maximises this period's expected profit under the true model.

    Args:
        decision_levels: Discount levels compared, equally spaced on [0, d_max] of the scenario.
    """

    name = "myopic_oracle"

    def __init__(self, decision_levels: int = 21, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if int(decision_levels) < 2:
            raise ValueError(f"decision_levels: expected an integer >= 2, got {decision_levels}")
        self.decision_levels = int(decision_levels)

    def levels(self, params: SimulatorParams) -> NDArray[np.float64]:
        return np.linspace(0.0, params.d_max, self.decision_levels)

    def act_on_state(self, params: SimulatorParams, state: ShopperState, horizon: int) -> NDArray[np.float64]:
        levels = self.levels(params)
        return levels[np.argmax(action_values(params, state, levels), axis=1)]

    def config(self) -> dict[str, Any]:
        return {**super().config(), "decision_levels": self.decision_levels}


class OraclePolicy(PrivilegedPolicy):
    """Offers each shopper the first step of its optimal plan under the true model.

    When it first sees a batch of shoppers it solves a dynamic programme over each one's
    reference discount, fatigue, stock and recency for the rest of the horizon; each period it
    then compares discount levels at the shopper's exact state: this period's expected profit
    (with the actual intent shock) plus the planned profit to go. ``coverage(params)`` in
    ``simulators.planning`` says whether that plan is optimal for a scenario (up to the grid) or
    a reference that approximates some dynamics.

    Args:
        grid: Discretisation, as ``simulators.planning.PlanningGrid`` fields.
        chunk: Shoppers solved together (working memory).
    """

    name = "oracle"

    def __init__(self, grid: dict[str, Any] | None = None, chunk: int = 256, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in (grid or {}).items()}
        try:
            self.grid = PlanningGrid(**fields)
        except TypeError as err:
            allowed = sorted(PlanningGrid.__dataclass_fields__)
            raise ValueError(f"grid: unknown field in {sorted(fields)}; allowed: {allowed}") from err
        self.chunk = int(chunk)
        self.plan: ShopperPlan | None = None
        self._planned_for: tuple[int, NDArray[np.uint64]] | None = None

    def reset(self) -> None:
        self.plan = None
        self._planned_for = None

    def act_on_state(self, params: SimulatorParams, state: ShopperState, horizon: int) -> NDArray[np.float64]:
        if not self._covers(params, state):
            remaining = horizon - int(state.t.min()) if state.n_shoppers else horizon
            self.plan = solve(params, state, max(remaining, 1), self.grid, self.chunk)
            self._planned_for = (id(params), state.key.copy())
        levels = np.linspace(0.0, params.d_max, self.grid.decision_levels)
        return levels[np.argmax(action_values(params, state, levels, self.plan), axis=1)]

    def _covers(self, params: SimulatorParams, state: ShopperState) -> bool:
        if self.plan is None or self._planned_for is None:
            return False
        params_id, keys = self._planned_for
        steps = state.t - self.plan.start
        return (
            params_id == id(params)
            and keys.shape == state.key.shape
            and bool(np.all(keys == state.key))
            and bool(np.all((steps >= 0) & (steps < self.plan.horizon)))
        )

    def config(self) -> dict[str, Any]:
        grid = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self.grid).items()}
        return {**super().config(), "grid": grid, "chunk": self.chunk}
