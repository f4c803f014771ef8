"""``DiscountSim/Shopper-v0``: one shopper, one discount per period, reward = the period's profit."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from discountsim.envs.actions import ActionType, DiscountActions
from discountsim.envs.checks import render_mode_arg, scale_arg, scenario_arg
from discountsim.envs.info import shopper_info
from discountsim.envs.seeding import SEED_SPACE, ShopperSequences
from discountsim.simulators import SimulatorParams, feature_bounds
from discountsim.simulators.config_schema import check_count
from discountsim.simulators.single import MAX_BLOCK, PREFETCH, SingleShopper
from gymnasium import spaces
from numpy.typing import NDArray


class ShopperEnv(gym.Env):
    """A single simulated shopper over a finite horizon.

    Observation: the shopper's observable features (``simulators.feature_names``), float32.
    Action: ``Box(-1, 1, (1,))`` mapped to a discount in [0, d_max] (clipped to [-1, 1] first), or
    ``Discrete(n_levels)`` levels with ``action_type="discrete"``.
    Reward: the period's profit = revenue - offer cost - cost of goods (currency) x ``reward_scale``.
    Episode end: ``terminated`` when the shopper churns (it will never buy again, so all future
    reward is zero under a sensible policy); ``truncated`` after ``horizon`` periods.
    Info (every step): revenue, discount_cost, offer_cost, promotion_cost, cogs, profit (currency),
    purchased (0/1), discount (fraction).

    Seeding: ``reset(seed=s)`` starts the shopper sequence of seed ``s``; each later ``reset()``
    draws the next shopper of that sequence. Row i of ``ShopperVecEnv`` seeded with s follows the
    sequence of seed s + i, so the two produce identical trajectories.

    Speed: steps run through ``simulators.single`` (the batched equations on one shopper's Python
    scalars, with the discount-independent draws of the next shoppers of the sequence prepared in
    batches), which equals the batched simulator bit for bit; ``discountsim benchmark`` prints its
    rate against CartPole-v1's.

    Args:
        scenario: Built-in scenario name, YAML path, mapping or ``SimulatorParams``.
        horizon: Periods per episode (weeks).
        action_type: ``"continuous"`` or ``"discrete"``.
        n_levels: Discount levels of the discrete variant.
        offer_threshold: Continuous actions at or below it send no offer (``DiscountActions``); -1: none.
        reward_scale: Multiplier applied to the profit to form the reward.
        render_mode: ``None`` or ``"ansi"`` (a one-line text summary of the last period).
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        scenario: str | Path | SimulatorParams | dict[str, Any] = "default",
        horizon: int = 52,
        action_type: ActionType = "continuous",
        n_levels: int = 11,
        offer_threshold: float = -1.0,
        reward_scale: float = 1.0,
        render_mode: str | None = None,
    ) -> None:
        self.render_mode = render_mode_arg(render_mode, self.metadata["render_modes"])
        self.params = scenario_arg(scenario)
        self.horizon = check_count("horizon", horizon)
        self.reward_scale = scale_arg("reward_scale", reward_scale)
        self.actions = DiscountActions(self.params.d_max, action_type, n_levels, offer_threshold=offer_threshold)
        self.action_space = self.actions.space()
        low, high = feature_bounds(self.params)
        self.observation_space = spaces.Box(low, high, dtype=np.float32)
        self._sequences = ShopperSequences(1)
        # The simulator's single-shopper path: transition's equations on scalars (see simulators.single).
        self._shopper = SingleShopper(self.params, block=min(self.horizon, MAX_BLOCK))
        self._last_info: dict[str, float] = {}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[NDArray[np.float32], dict[str, Any]]:
        super().reset(seed=seed)
        key = self._sequences.reset(
            [seed], lambda count: self.np_random.integers(SEED_SPACE, size=count, dtype=np.uint64)
        )
        self._last_info = {}
        return self._shopper.reset(int(key[0]), lambda: self._sequences.following(PREFETCH - 1)), {}

    def step(self, action: Any) -> tuple[NDArray[np.float32], float, bool, bool, dict[str, Any]]:
        shopper = self._shopper
        if shopper.state is None:
            raise RuntimeError("call reset() before step()")
        outcome = shopper.step(self.actions.discount_of(action))
        info = shopper_info(outcome)
        self._last_info = info
        terminated = bool(outcome.churned)
        truncated = shopper.state.t >= self.horizon and not terminated
        reward = float(outcome.profit) * self.reward_scale
        return shopper.observation(), reward, terminated, truncated, info

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        state = self._shopper.state
        if state is None:
            return "(call reset() first)"
        info = self._last_info
        return (
            f"t={state.t} discount={info.get('discount', 0.0):.2f} "
            f"purchased={int(info.get('purchased', 0))} profit={info.get('profit', 0.0):.2f} {self.params.currency}"
        )
