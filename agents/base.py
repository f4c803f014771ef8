"""One policy interface for everything that picks discounts: SB3's ``PolicyPredictor`` protocol.

``predict(observation, state=None, episode_start=None, deterministic=True) -> (actions, state)``,
batched over shoppers, actions in the environment's action space. Trained SB3 models satisfy it
as they are; hand-written baselines subclass ``DiscountPolicy``, which turns a discount rule
(observations -> discount fractions) into environment actions, so one evaluator serves all.
The evaluator takes a hand-written policy's discounts directly (``discount_rule``, float64);
only SB3 models' actions go through the action mapping.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from discountsim.agents.fingerprint import Fingerprint, check_scenario, describe, model_actions
from discountsim.envs import DiscountActions
from discountsim.envs.actions import ActionType
from discountsim.simulators import ShopperState, SimulatorParams, feature_names, load_scenario
from discountsim.simulators.config_schema import to_dict
from discountsim.simulators.rollout import DiscountRule
from numpy.typing import NDArray


class DiscountPolicy(ABC):
    """A hand-written discount policy, bound to the scenario whose observations it reads.

    The scenario fixes the observation layout (feature names and order, categories) and ``d_max``;
    ``fingerprint()`` records them and the evaluator checks them against the scenario it runs on.
    Build a policy for a scenario with ``Policy.for_scenario(params, **settings)`` (or the
    constructor's ``scenario=``).

    Args:
        scenario: Scenario name, YAML path, mapping or ``SimulatorParams``.
        action_type: Action space ``predict`` answers in: ``"continuous"`` or ``"discrete"``.
        n_levels: Discount levels of the discrete action space.
    """

    name: ClassVar[str]

    def __init__(
        self,
        scenario: str | Path | SimulatorParams | dict[str, Any] = "default",
        action_type: ActionType = "continuous",
        n_levels: int = 11,
        **unexpected: Any,
    ) -> None:
        for key in ("d_max", "n_features"):
            if key in unexpected:
                raise TypeError(
                    f"{type(self).__name__}: {key} comes from the scenario; "
                    f"pass scenario=... (or use {type(self).__name__}.for_scenario(params)) instead of {key}="
                )
        if unexpected:
            raise TypeError(f"{type(self).__name__}: unexpected arguments {sorted(unexpected)}")
        self.scenario = load_scenario(scenario)
        self.actions = DiscountActions(self.scenario.d_max, action_type, n_levels)
        self.n_features = len(feature_names(self.scenario))

    @classmethod
    def for_scenario(cls, params: str | Path | SimulatorParams | dict[str, Any], **settings: Any) -> DiscountPolicy:
        """This policy built for ``params``, with its own ``settings`` (the policy's other arguments)."""
        if "scenario" in settings:
            raise TypeError(f"{cls.__name__}.for_scenario: the scenario is given once, as params; drop scenario=")
        return cls(scenario=params, **settings)

    @property
    def d_max(self) -> float:
        return self.actions.d_max

    def fingerprint(self) -> Fingerprint:
        """What this policy's observations and actions mean (saved with it, checked where it runs)."""
        return Fingerprint.of(self.scenario, self.actions)

    @abstractmethod
    def discounts(self, observations: NDArray[np.float32]) -> NDArray[np.float64]:
        """Discount per shopper, ``(n,)`` fractions in [0, d_max], from observations ``(n, n_features)``."""

    def _checked(self, observation: NDArray) -> NDArray[np.float32]:
        obs = np.asarray(observation, dtype=np.float32)
        batch = obs[None, :] if obs.ndim == 1 else obs
        if batch.ndim != 2:
            raise ValueError(f"observation: expected shape (n_shoppers, n_features), got {obs.shape}")
        if batch.shape[1] != self.n_features:
            raise ValueError(f"observation: expected {self.n_features} features per shopper, got {batch.shape[1]}")
        return batch

    def discount_rule(self, params: SimulatorParams, what: str | None = None) -> DiscountRule:
        """The rule that runs this policy in a rollout on ``params``: its discounts, float64, as they are.

        Discounts go to the simulator directly, not through ``predict``'s float32 actions, so a
        policy's 0.4 reaches it as 0.4. Checks the policy's fingerprint against ``params`` first.

        Raises:
            PolicyScenarioMismatch: The scenario's layout or ``d_max`` differs from the policy's.
        """
        check_scenario(self.fingerprint(), params, what or describe(self))
        return lambda observations, _state: np.asarray(self.discounts(self._checked(observations)), dtype=np.float64)

    def predict(
        self,
        observation: NDArray,
        state: tuple[NDArray, ...] | None = None,
        episode_start: NDArray | None = None,
        deterministic: bool = True,
    ) -> tuple[NDArray, tuple[NDArray, ...] | None]:
        """SB3's ``PolicyPredictor.predict``: actions for one observation or a batch."""
        batch = self._checked(observation)
        discounts = np.asarray(self.discounts(batch), dtype=np.float64)
        actions = self.actions.from_discount(discounts)
        return (actions[0] if np.ndim(observation) == 1 else actions), state

    def config(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this policy (``make_policy(name, **config())``)."""
        return {
            "scenario": to_dict(self.scenario),
            "action_type": self.actions.action_type,
            "n_levels": self.actions.n_levels,
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


class PrivilegedPolicy(DiscountPolicy):
    """A yardstick that reads the simulator's true state instead of observations (the oracles).

    No marketer can see latent traits, so these policies do not answer ``predict`` on
    observations; the evaluator (``agents.evaluate``) calls ``act_on_state`` with the true state
    and params each period, after ``reset`` at the start of a run. They read ``d_max`` and
    everything else from the params they are given, so they are bound to no scenario and have no
    fingerprint.
    """

    def __init__(self, **unexpected: Any) -> None:
        if unexpected:
            raise TypeError(
                f"{type(self).__name__}: unexpected arguments {sorted(unexpected)}; "
                "it reads d_max and the rest from the scenario it runs on"
            )

    @classmethod
    def for_scenario(cls, params: str | Path | SimulatorParams | dict[str, Any], **settings: Any) -> DiscountPolicy:
        return cls(**settings)  # reads the scenario at run time

    def fingerprint(self) -> Fingerprint:
        raise TypeError(f"{self.name}: reads the true model of whatever scenario it runs on; it has no fingerprint")

    def discount_rule(self, params: SimulatorParams, what: str | None = None) -> DiscountRule:
        raise TypeError(f"{self.name}: acts on the true state; the evaluator calls act_on_state")

    def config(self) -> dict[str, Any]:
        return {}

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

    def predict(
        self,
        observation: NDArray,
        state: tuple[NDArray, ...] | None = None,
        episode_start: NDArray | None = None,
        deterministic: bool = True,
    ) -> tuple[NDArray, tuple[NDArray, ...] | None]:
        return self.discounts(np.asarray(observation)), state


def check_policy(policy: Any, params: SimulatorParams, what: str | None = None) -> None:
    """Fail unless ``policy`` (hand-written or SB3) reads and answers the same way on ``params`` (``check_scenario``).

    The oracles read the true model of whatever scenario they run on: nothing to check.
    """
    if isinstance(policy, PrivilegedPolicy):
        return
    if isinstance(policy, DiscountPolicy):
        check_scenario(policy.fingerprint(), params, what or describe(policy))
        return
    model_actions(policy, params, what)
