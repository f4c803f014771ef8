"""``ShopperVecEnv``: N shoppers in lockstep as one Stable-Baselines3 ``VecEnv``.

One simulator call per step for all rows, with ``DummyVecEnv.step_wait``'s semantics: ``dones =
terminated | truncated``; done rows are reset within the same step; only done rows carry
``terminal_observation`` and ``TimeLimit.truncated`` in their info; ``reset()`` returns the
observations only. Row i seeded with s produces the same trajectory as ``ShopperEnv`` reset
with seed s + i (SB3's ``VecEnv.seed`` convention).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from discountsim.envs.actions import ActionType, DiscountActions
from discountsim.envs.checks import scale_arg, scenario_arg, seed_arg
from discountsim.envs.info import step_infos
from discountsim.envs.seeding import SEED_SPACE, ShopperSequences
from discountsim.simulators import (
    ShopperState,
    SimulatorParams,
    feature_bounds,
    initial_state,
    observe,
    reset_where,
    transition,
)
from discountsim.simulators.config_schema import check_count
from discountsim.simulators.contact_cap import ContactCap, contact_cap_arg
from discountsim.simulators.errors import DiscountSimInputError
from discountsim.simulators.memory import check_memory
from gymnasium import spaces
from numpy.typing import NDArray
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvObs, VecEnvStepReturn


class ShopperVecEnv(VecEnv):
    """N independent shoppers advanced together; the fast path for SB3 training.

    Args:
        n_envs: Number of shoppers (rows) N.
        scenario: Built-in scenario name, YAML path, mapping or ``SimulatorParams``.
        horizon: Periods per episode.
        action_type: ``"continuous"`` (``Box(-1, 1, (1,))``) or ``"discrete"`` (``Discrete(n_levels)``).
        n_levels: Discount levels of the discrete variant.
        offer_threshold: Continuous actions at or below it send no offer (``DiscountActions``); -1: none.
        reward_scale: Multiplier applied to profit to form the reward.
        seed: Seed for the first ``reset()``; row i uses ``seed + i``. None: random.
        render_mode: Must be None (nothing to render for a batch).
        contact_cap: At most ``max_offers`` offers per shopper in any ``window`` periods
            (``simulators.ContactCap`` or ``{max_offers: k, window: w}``): an offer the cap forbids
            is not sent, whatever the action (the evaluator projects the same way). None: no cap.

    Attributes:
        cost_multiplier: Lagrange multiplier lam on promotion spend: the reward is
            ``(profit - lam * promotion_cost) / (1 + lam) * reward_scale``. 0 (the default) is the
            plain profit; ``agents.callbacks.LagrangianBudgetCallback`` raises it while spend
            exceeds a budget. Set it with ``set_attr("cost_multiplier", value)``.
        offer_bonus: None (the default), or a price on offers by observable group, added to the
            reward of every shopper-week with an offer: ``(n_levels,)`` currency per offer, one
            per level of every attribute in ``SimulatorParams.attribute_levels`` order (the order
            of ``simulators.attribute_columns``); a shopper's bonus is the sum over its levels.
            ``agents.disparity_lagrangian.LagrangianDisparityCallback`` sets it from the measured
            offer-rate disparity. Set it with ``set_attr("offer_bonus", values)``.
    """

    def __init__(
        self,
        n_envs: int = 1024,
        scenario: str | Path | SimulatorParams | dict[str, Any] = "default",
        horizon: int = 52,
        action_type: ActionType = "continuous",
        n_levels: int = 11,
        offer_threshold: float = -1.0,
        reward_scale: float = 1.0,
        seed: int | None = None,
        render_mode: str | None = None,
        contact_cap: ContactCap | dict[str, int] | None = None,
    ) -> None:
        n_envs = check_count("n_envs", n_envs)
        self.contact_cap = contact_cap_arg(contact_cap)
        check_memory("n_envs", n_envs)
        if render_mode is not None:
            raise DiscountSimInputError(
                f"render_mode: ShopperVecEnv renders nothing; allowed: None, got {render_mode!r}"
            )
        self.render_mode = render_mode
        seed = seed_arg("seed", seed)
        self.params = scenario_arg(scenario)
        self.horizon = check_count("horizon", horizon)
        self.reward_scale = scale_arg("reward_scale", reward_scale)
        self.actions = DiscountActions(self.params.d_max, action_type, n_levels, offer_threshold=offer_threshold)
        low, high = feature_bounds(self.params)
        super().__init__(n_envs, spaces.Box(low, high, dtype=np.float32), self.actions.space())
        self._sequences = ShopperSequences(self.num_envs)
        self._entropy = np.random.default_rng()
        self._state: ShopperState | None = None
        self._actions: NDArray | None = None
        self.cost_multiplier = 0.0
        self.offer_bonus: NDArray[np.float64] | None = None
        levels = list(self.params.attribute_levels.values())
        self._level_offsets = np.cumsum([0] + [len(names) for names in levels[:-1]]).astype(np.int64)
        self._n_levels = sum(len(names) for names in levels)
        if seed is not None:
            self.seed(seed)

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        """Seed row i with ``seed + i`` at the next ``reset()`` (SB3's convention); None: random."""
        seed_arg("seed", seed)
        return super().seed(seed)

    def reset(self) -> VecEnvObs:
        keys = self._sequences.reset(
            self._seeds, lambda count: self._entropy.integers(SEED_SPACE, size=count, dtype=np.uint64)
        )
        self._state = initial_state(self.params, keys)
        self._reset_seeds()
        self._reset_options()
        self.reset_infos = [{} for _ in range(self.num_envs)]
        return observe(self.params, self._state)

    def step_async(self, actions: NDArray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        if self._state is None or self._actions is None:
            raise RuntimeError("call reset() and step_async() before step_wait()")
        discount = self.actions.to_discount(self._actions, batch=self.num_envs)[:, 0]
        if self.contact_cap is not None:
            discount = self.contact_cap.project(self._state, discount)
        self._actions = None
        self._state, outcome = transition(self.params, self._state, discount)
        terminated = outcome.churned
        truncated = (self._state.t >= self.horizon) & ~terminated
        dones = terminated | truncated
        if self.cost_multiplier:
            lam = self.cost_multiplier
            rewards = ((outcome.profit - lam * outcome.promotion_cost) / (1.0 + lam) * self.reward_scale).astype(
                np.float32
            )
        else:
            rewards = (outcome.profit * self.reward_scale).astype(np.float32)
        if self.offer_bonus is not None:
            rewards += self._bonus(self._state.traits.attributes, discount > 0.0)
        infos = step_infos(outcome)
        obs = observe(self.params, self._state)
        if dones.any():
            for i in np.flatnonzero(dones).tolist():
                infos[i]["terminal_observation"] = obs[i].copy()  # obs rows are overwritten below
                infos[i]["TimeLimit.truncated"] = bool(truncated[i])
            self._state = reset_where(self.params, self._state, dones, self._sequences.advance(dones))
            obs[dones] = observe(self.params, self._state.take(dones))
        return obs, rewards, dones, infos

    def _bonus(self, attributes: NDArray[np.int8], offered: NDArray[np.bool_]) -> NDArray[np.float32]:
        """``offer_bonus`` of each row's levels where an offer was sent, times ``reward_scale``, ``(n_envs,)``."""
        bonus = np.asarray(self.offer_bonus, dtype=np.float64)
        if bonus.shape != (self._n_levels,) or not np.all(np.isfinite(bonus)):
            raise DiscountSimInputError(
                f"offer_bonus: expected {self._n_levels} finite amounts, one per level of "
                f"{dict(self.params.attribute_levels)}, got {self.offer_bonus!r}"
            )
        per_row = bonus[attributes.astype(np.int64) + self._level_offsets].sum(axis=1)
        return (per_row * offered * self.reward_scale).astype(np.float32)

    def close(self) -> None:
        self._state = None

    def get_images(self) -> Sequence[NDArray | None]:
        return [None for _ in range(self.num_envs)]

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """Attribute of the (shared) environment, once per selected row."""
        value = getattr(self, attr_name)
        return [value for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set an attribute of the shared environment; all rows share it, so ``indices`` must be all."""
        if len(list(self._get_indices(indices))) != self.num_envs:
            raise ValueError("set_attr: rows share one simulator; set attributes for all rows (indices=None)")
        setattr(self, attr_name, value)

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **kwargs: Any
    ) -> list[Any]:
        """Call a method of the shared environment once and return its result per selected row."""
        result = getattr(self, method_name)(*method_args, **kwargs)
        return [result for _ in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]

    def _get_indices(self, indices: VecEnvIndices) -> Iterable[int]:
        if indices is None:
            return range(self.num_envs)
        if isinstance(indices, int):
            return [indices]
        return indices
