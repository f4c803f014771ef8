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
from collections.abc import Callable

import numpy as np
from discountsim.simulators import dynamics
from discountsim.simulators.observation import (
    attribute_one_hot,
    calendar_features,
    observe_one,
    response_features,
    state_feature_caps,
)
from discountsim.simulators.params import SimulatorParams
from discountsim.simulators.population import current_intent, initial_state, signals
from discountsim.simulators.random_streams import N_SLOTS, Slot, period_uniforms
from discountsim.simulators.state import Outcome, ShopperState, ShopperTraits
from discountsim.simulators.transition import advance, period_draws
from numpy.typing import NDArray

# Shoppers prepared together when ``reset`` is told which shoppers come next.
PREFETCH = 32
# Longest block of periods prepared at once (memory: PREFETCH x MAX_BLOCK x 14 floats).
MAX_BLOCK = 256


class _Rows:
    """A batched state with its arrays as Python lists, to hand out one shopper's scalars cheaply."""

    def __init__(self, state: ShopperState) -> None:
        self.traits = {f.name: getattr(state.traits, f.name).tolist() for f in dataclasses.fields(state.traits)}
        self.state = {f.name: getattr(state, f.name).tolist() for f in dataclasses.fields(state) if f.name != "traits"}

    def row(self, i: int) -> ShopperState:
        traits = ShopperTraits(**{name: column[i] for name, column in self.traits.items()})
        return ShopperState(traits=traits, **{name: column[i] for name, column in self.state.items()})


# Per period in _Ahead.values: the N_SLOTS uniforms (indexed by Slot), then these.
_SEASON, _NORMAL_BASKET, _Z_SHOCK, _BROWSE, _CART, _INTENT_NOW = range(N_SLOTS, N_SLOTS + 6)
_WIDTH = N_SLOTS + 6


class _Ahead:
    """One shopper's discount-independent draws for periods t0 .. t0 + block - 1 in one flat Python list.

    ``values[_WIDTH * i : _WIDTH * (i + 1)]`` is period t0 + i (one flat list per shopper: nested
    lists would cost a Python object per period, and the garbage collector's time with them).
    """

    __slots__ = ("block", "calendar", "t0", "values")

    def __init__(self, t0: int, block: int, values: list[float], calendar: list[list[float]]) -> None:
        self.t0, self.block, self.values, self.calendar = t0, block, values, calendar

    def period(self, i: int) -> list[float]:
        return self.values[_WIDTH * i : _WIDTH * (i + 1)]


def _ahead(
    params: SimulatorParams, keys: NDArray[np.uint64], t0: int, traits: ShopperTraits, shock: NDArray, block: int
) -> list[_Ahead]:
    """Draws of periods t0 .. t0 + block - 1 for shoppers ``keys`` (all at period ``t0``), batched functions only.

    Args:
        traits: The shoppers' traits, ``(k,)`` arrays.
        shock: Their intent shock at period ``t0``, ``(k,)``.
    """
    k = keys.shape[0]
    t = np.arange(t0, t0 + block, dtype=np.int64)
    # (k, block) flattened: shopper-major, every array below is elementwise in it.
    t_flat = np.tile(t, k)
    u = period_uniforms(np.repeat(keys, block), t_flat)
    season, normal_basket, z_shock = period_draws(params, t_flat, np.repeat(traits.basket_value, block), u)
    # The intent shock ignores discounts: its path, and with it next periods' browse and cart.
    z = z_shock.reshape(k, block)
    path = np.empty((k, block))
    eps = np.asarray(shock, dtype=np.float64)
    for j in range(block):
        eps = dynamics.update_intent_shock(eps, z[:, j], params.behaviour)
        path[:, j] = eps
    intent_now = current_intent(params, np.repeat(traits.intent, block), t_flat + 1, path.reshape(-1))
    browse, cart = signals(params, intent_now, True, u[Slot.BROWSE], u[Slot.CART])
    table = np.concatenate([u, np.stack([season, normal_basket, z_shock, browse, cart, intent_now])])
    values = table.T.reshape(k, block * _WIDTH).tolist()
    calendar = calendar_features(params, np.arange(t0, t0 + block + 1)).tolist()  # observations up to t0 + block
    return [_Ahead(t0, block, values[i], calendar) for i in range(k)]


class SingleShopper:
    """One simulated shopper, stepped period by period; equal to row ``i`` of the batched simulator.

    Args:
        params: The scenario.
        block: Periods of discount-independent draws computed ahead at a time (e.g. the horizon).
    """

    def __init__(self, params: SimulatorParams, block: int = 52) -> None:
        self.params = params
        self.block = min(max(int(block), 1), MAX_BLOCK)
        self._caps = state_feature_caps(params)
        n_categories = len(params.catalogue)
        self._one_hot = [[1.0 if c == k else 0.0 for c in range(n_categories)] for k in range(n_categories)]
        self.state: ShopperState | None = None
        self._queue: list[tuple[int, _Rows, int, _Ahead]] = []  # key, batch, row, draws

    def reset(self, key: int, next_keys: Callable[[], NDArray[np.uint64]] | None = None) -> NDArray[np.float32]:
        """Start the shopper with stream key ``key``; returns its observation, ``(n_features,)`` float32.

        Args:
            next_keys: Called when ``key`` was not prepared: keys of the shoppers likely to follow it
                (its episode sequence), prepared in the same batch, so that a later ``reset`` with the
                next of them is nearly free.
        """
        if not self._queue or self._queue[0][0] != key:
            following = [] if next_keys is None else np.asarray(next_keys(), dtype=np.uint64).tolist()
            keys = np.array([key, *following], dtype=np.uint64)
            states = initial_state(self.params, keys)
            ahead = _ahead(self.params, keys, 0, states.traits, states.intent_shock, self.block)
            rows = _Rows(states)
            self._queue = [(int(keys[i]), rows, i, ahead[i]) for i in range(keys.shape[0])]
        _, rows, i, self._ahead = self._queue.pop(0)
        state = rows.row(i)
        self.state = state
        member = [float(state.traits.member)] if self.params.has_members else []
        self._category_row = self._one_hot[state.traits.category] + self._attribute_row(state) + member
        return self.observation()

    def _attribute_row(self, state: ShopperState) -> list[float]:
        """The shopper's attribute columns of the observation (none unless the scenario observes them)."""
        if not self.params.observe_attributes:
            return []
        levels = np.asarray(state.traits.attributes, dtype=np.int8).reshape(1, -1)
        return attribute_one_hot(self.params, levels)[0].tolist()

    @property
    def prepared(self) -> int:
        """Shoppers prepared ahead and not used yet."""
        return len(self._queue)

    def step(self, discount: float) -> Outcome:
        """One period at ``discount`` (a float in [0, d_max], already checked); returns its outcome (scalars)."""
        state = self.state
        if state is None:
            raise RuntimeError("call reset() before step()")
        ahead = self._ahead
        i = state.t - ahead.t0
        if i == ahead.block:  # past the prepared periods (a run beyond the horizon): prepare the next block
            keys = np.array([state.key], dtype=np.uint64)
            shock = np.array([state.intent_shock])
            ahead = self._ahead = _ahead(self.params, keys, state.t, _batch_of_one(state.traits), shock, self.block)[0]
            i = 0
        u = ahead.period(i)
        state, outcome = advance(self.params, state, discount, u, u[_SEASON], u[_NORMAL_BASKET], u[_Z_SHOCK])
        if state.active:
            state.browse, state.cart = u[_BROWSE], u[_CART]
        else:  # churned: draw_signals' rule for inactive shoppers, through the same function
            browse, cart = signals(self.params, u[_INTENT_NOW], False, u[Slot.BROWSE], u[Slot.CART])
            state.browse, state.cart = float(browse), float(cart)
        self.state = state
        return outcome

    def observation(self) -> NDArray[np.float32]:
        """The shopper's observation now, ``(n_features,)`` float32 (``observe``'s row)."""
        state = self.state
        if state is None:
            raise RuntimeError("call reset() before observation()")
        calendar = self._ahead.calendar[state.t - self._ahead.t0]
        responses = response_features(state) if self.params.observe_responses else []
        return observe_one(state, self._caps, calendar + self._category_row + responses)


def _batch_of_one(traits: ShopperTraits) -> ShopperTraits:
    return ShopperTraits(**{f.name: np.array([getattr(traits, f.name)]) for f in dataclasses.fields(traits)})
