"""One policy interface for everything that picks discounts: SB3's ``PolicyPredictor`` protocol.

``predict(observation, state=None, episode_start=None, deterministic=True) -> (actions, state)``,
batched over shoppers, actions in the environment's action space. Trained SB3 models satisfy it
as they are; hand-written baselines subclass ``DiscountPolicy``, which turns a discount rule
(observations -> discount fractions) into environment actions, so one evaluator serves all.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from discountsim.envs import DiscountActions
from discountsim.envs.actions import ActionType
from discountsim.simulators import ShopperState, SimulatorParams, feature_names, load_scenario
from discountsim.simulators.config_schema import to_dict
from numpy.typing import NDArray


class DiscountPolicy(ABC):
    """A hand-written discount policy.

    Args:
        d_max: Deepest discount of the scenario (fraction of list price).
        action_type: Action space the policy answers in: ``"continuous"`` or ``"discrete"``.
        n_levels: Discount levels of the discrete action space.
        n_features: Expected observation width; None accepts any width.
    """

    name: ClassVar[str]

    def __init__(
        self,
        d_max: float = 0.5,
        action_type: ActionType = "continuous",
        n_levels: int = 11,
        n_features: int | None = None,
    ) -> None:
        self.actions = DiscountActions(float(d_max), action_type, n_levels)
        self.n_features = n_features

    @property
    def d_max(self) -> float:
        return self.actions.d_max

    @abstractmethod
    def discounts(self, observations: NDArray[np.float32]) -> NDArray[np.float64]:
        """Discount per shopper, ``(n,)`` fractions in [0, d_max], from observations ``(n, n_features)``."""

    def predict(
        self,
        observation: NDArray,
        state: tuple[NDArray, ...] | None = None,
        episode_start: NDArray | None = None,
        deterministic: bool = True,
    ) -> tuple[NDArray, tuple[NDArray, ...] | None]:
        """SB3's ``PolicyPredictor.predict``: actions for one observation or a batch."""
        obs = np.asarray(observation, dtype=np.float32)
        single = obs.ndim == 1
        batch = obs[None, :] if single else obs
        if batch.ndim != 2:
            raise ValueError(f"observation: expected shape (n_shoppers, n_features), got {obs.shape}")
        if self.n_features is not None and batch.shape[1] != self.n_features:
            raise ValueError(f"observation: expected {self.n_features} features per shopper, got {batch.shape[1]}")
        discounts = np.asarray(self.discounts(batch), dtype=np.float64)
        actions = self.actions.from_discount(discounts)
        return (actions[0] if single else actions), state

    def config(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this policy (``make_policy(name, **config())``)."""
        return {
            "d_max": self.d_max,
            "action_type": self.actions.action_type,
            "n_levels": self.actions.n_levels,
            "n_features": self.n_features,
        }

    def reseed(self, seed: np.random.SeedSequence) -> None:
        """Restart the policy's random draws from ``seed``; a no-op for a policy that draws none.

        The evaluator calls it before every run with a sequence derived from the evaluation seed
        (``agents.evaluation.policy_seed``), so a stochastic policy's numbers repeat with that seed.
        A policy that draws random numbers overrides it; any policy class (not only a
        ``DiscountPolicy``) can define ``reseed`` to take part.
        """
        return  # a rule policy draws nothing

    def get_state(self) -> dict[str, Any]:
        """Learned state to save beside ``config()`` (JSON-serialisable); empty for rule policies."""
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore what ``get_state`` returned; a rule policy accepts only an empty state."""
        if state:
            raise ValueError(f"{self.name}: has no learned state to restore, got keys {sorted(state)}")


class ScenarioPolicy(DiscountPolicy):
    """A policy that reads observations by feature name, so it needs its scenario's layout.

    ``d_max`` and ``n_features`` default to the scenario's; the scenario is saved in ``config()``.

    Args:
        scenario: Scenario name, YAML path, mapping or ``SimulatorParams``.
    """

    def __init__(self, scenario: str | Path | SimulatorParams | dict[str, Any] = "default", **kwargs: Any) -> None:
        params = load_scenario(scenario)
        kwargs.setdefault("d_max", params.d_max)
        kwargs.setdefault("n_features", len(feature_names(params)))
        super().__init__(**kwargs)
        self.scenario = params

    def config(self) -> dict[str, Any]:
        return {**super().config(), "scenario": to_dict(self.scenario)}


class PrivilegedPolicy(DiscountPolicy):
    """A yardstick that reads the simulator's true state instead of observations (the oracles).

    No marketer can see latent traits, so these policies do not answer ``predict`` on
    observations; the evaluator (``agents.evaluate``) calls ``act_on_state`` with the true state
    each period, after ``reset`` at the start of a run.
    """

    def reset(self) -> None:
        """Forget anything planned for earlier shoppers."""

    @abstractmethod
    def act_on_state(self, params: SimulatorParams, state: ShopperState, horizon: int) -> NDArray[np.float64]:
        """Discount per shopper ``(n,)`` in [0, d_max] from the true state, for a run of ``horizon`` periods."""

    def discounts(self, observations: NDArray[np.float32]) -> NDArray[np.float64]:
        raise TypeError(
            f"{self.name}: acts on the simulator's true state, not on observations; "
            "run it through agents.evaluate (or agents.evaluate_lineup)"
        )
