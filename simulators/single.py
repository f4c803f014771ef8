"""One shopper at a time, fast: the same equations as ``transition``, on Python scalars.

A NumPy call costs about a microsecond whatever the size of its arrays, and one period of the
batched ``transition`` makes over a hundred of them, so a single shopper stepped through it (as
``gymnasium.make("DiscountSim/Shopper-v0")`` does) spends nearly all its time in call overhead.
``SingleShopper`` avoids that without a second copy of the model:

* everything a period brings whatever the discount (its uniforms, season, basket noise, intent
  shock, browse and cart signals, calendar) is computed ahead for a block of periods with the
  batched functions (``period_uniforms``, ``period_draws``, ``signals``), over the time axis;
* the discount-dependent equations run through ``transition.advance``, the function the batched
  path calls, with the shopper's state held as Python scalars (``state.select``/``as_float`` are
  the only two operations written for both); transcendental functions still go through the same
  NumPy ufuncs, so results equal the batched path bit for bit (a test keeps it so).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from discountsim.simulators import dynamics
from discountsim.simulators.observation import calendar_features, observe_one, state_feature_caps
from discountsim.simulators.params import SimulatorParams
from discountsim.simulators.population import current_intent, initial_state, signals
from discountsim.simulators.random_streams import N_SLOTS, Slot, period_uniforms
from discountsim.simulators.state import Outcome, ShopperState, ShopperTraits
from discountsim.simulators.transition import advance, period_draws
from numpy.typing import NDArray

# Periods computed ahead at a time; a longer episode computes the next block when it gets there.
BLOCK = 64


def _scalars(obj):
    """A copy of a one-shopper state or traits dataclass whose ``(1,)`` arrays become Python scalars."""
    return type(obj)(
        **{
            f.name: _scalars(v) if dataclasses.is_dataclass(v := getattr(obj, f.name)) else v[0].item()
            for f in dataclasses.fields(obj)
        }
    )


class SingleShopper:
    """One simulated shopper, stepped period by period; equal to row ``i`` of the batched simulator.

    Args:
        params: The scenario.
        block: Periods of discount-independent draws computed ahead at a time.
    """

    def __init__(self, params: SimulatorParams, block: int = BLOCK) -> None:
        self.params = params
        self.block = int(block)
        self._caps = state_feature_caps(params)
        n_categories = len(params.catalogue)
        self._one_hot = [[1.0 if c == k else 0.0 for c in range(n_categories)] for k in range(n_categories)]
        self.state: ShopperState | None = None

    def reset(self, key: int) -> NDArray[np.float32]:
        """Start the shopper with stream key ``key``; returns its observation, ``(n_features,)`` float32."""
        state = _scalars(initial_state(self.params, np.array([key], dtype=np.uint64)))
        self.state = state
        self._category_row = self._one_hot[state.traits.category]
        self._ahead(state)
        return self.observation()

    def _ahead(self, state: ShopperState) -> None:
        """Compute the discount-independent draws of periods state.t .. state.t + block - 1."""
        params, traits = self.params, state.traits
        self._t0 = state.t
        t = np.arange(state.t, state.t + self.block, dtype=np.int64)
        u = period_uniforms(np.full(self.block, state.key, dtype=np.uint64), t)
        season, normal_basket, z_shock = period_draws(params, t, traits.basket_value, u)
        # The intent shock ignores discounts: its path, and with it next periods' browse and cart.
        shock = np.empty(self.block)
        eps = state.intent_shock
        for i, z in enumerate(z_shock.tolist()):
            eps = dynamics.update_intent_shock(eps, z, params.behaviour)
            shock[i] = eps
        intent_now = current_intent(params, traits.intent, t + 1, shock)
        browse, cart = signals(params, intent_now, True, u[Slot.BROWSE], u[Slot.CART])
        self._u = u.T.tolist()
        self._draws = list(zip(season.tolist(), normal_basket.tolist(), z_shock.tolist(), strict=True))
        self._signals = list(zip(browse.tolist(), cart.tolist(), intent_now.tolist(), strict=True))
        self._calendar = calendar_features(params, t).tolist()

    def step(self, discount: float) -> Outcome:
        """One period at ``discount`` (a float in [0, d_max], already checked); returns its outcome (scalars)."""
        state = self.state
        if state is None:
            raise RuntimeError("call reset() before step()")
        i = state.t - self._t0
        season, normal_basket, z_shock = self._draws[i]
        u = self._u[i]
        state, outcome = advance(self.params, state, discount, u, season, normal_basket, z_shock)
        browse, cart, intent_now = self._signals[i]
        if state.active:
            state.browse, state.cart = browse, cart
        else:  # churned: draw_signals' rule for inactive shoppers, through the same function
            b, c = signals(self.params, intent_now, False, u[Slot.BROWSE], u[Slot.CART])
            state.browse, state.cart = float(b), float(c)
        self.state = state
        if i + 1 == self.block:
            self._ahead(state)
        return outcome

    def observation(self) -> NDArray[np.float32]:
        """The shopper's observation now, ``(n_features,)`` float32 (``observe``'s row)."""
        state = self.state
        if state is None:
            raise RuntimeError("call reset() before observation()")
        return observe_one(state, self._caps, self._calendar[state.t - self._t0] + self._category_row)


__all__ = ["N_SLOTS", "ShopperTraits", "SingleShopper"]
