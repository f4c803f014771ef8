"""The single-shopper path (simulators.single) equals rows of the batched transition bit for bit."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from discountsim.simulators import episode_keys, initial_state, load_scenario, observe, spawn_keys, transition
from discountsim.simulators.single import SingleShopper

from tests.conftest import scenario_with


def _scenarios():
    base = load_scenario("default")
    return {
        "default": base,
        "holiday_season": load_scenario("holiday_season"),
        "reference_heavy": load_scenario("reference_heavy"),
        "churny": scenario_with(segments={name: {"churn_rate": 0.25} for name in base.segments}),
        "observed_attributes": scenario_with(observe_attributes=True, observe_responses=True),
        "win_back": load_scenario("win_back"),
        "members": load_scenario("members"),
        "no_dynamics": scenario_with(
            dynamics={"reference_effects": False, "fatigue": False, "stockpiling": False, "churn": False}
        ),
    }


def _same_bits(single_value, batched_row: np.ndarray) -> bool:
    return np.asarray(single_value, dtype=batched_row.dtype).tobytes() == batched_row.tobytes()


def _assert_row_equal(single, batched, i: int, what: str) -> None:
    for f in dataclasses.fields(batched):
        value, column = getattr(single, f.name), getattr(batched, f.name)
        if dataclasses.is_dataclass(column):
            _assert_row_equal(value, column, i, f"{what}.{f.name}")
        else:
            assert _same_bits(value, column[i]), f"{what}.{f.name}: single {value!r} != batched {column[i]!r}"


@pytest.mark.parametrize("name", list(_scenarios()))
def test_single_shopper_equals_the_batched_rows(name) -> None:
    params = _scenarios()[name]
    rng = np.random.default_rng(7)
    n, periods = 8, 13
    keys = spawn_keys(rng, n)
    discounts = rng.uniform(0.0, params.d_max, (periods, n))
    discounts[rng.uniform(size=(periods, n)) < 0.3] = 0.0
    discounts[rng.uniform(size=(periods, n)) < 0.1] = params.d_max
    state = initial_state(params, keys)
    # block 5: periods 5 and 10 are computed when the run gets there, not at reset.
    singles = [SingleShopper(params, block=5) for _ in range(n)]
    for i, single in enumerate(singles):
        np.testing.assert_array_equal(single.reset(int(keys[i])), observe(params, state)[i])
        _assert_row_equal(single.state, state, i, "initial state")
    churned = 0
    for t in range(periods):
        state, outcome = transition(params, state, discounts[t])
        obs = observe(params, state)
        for i, single in enumerate(singles):
            single_outcome = single.step(float(discounts[t, i]))
            _assert_row_equal(single_outcome, outcome, i, f"t={t} outcome")
            _assert_row_equal(single.state, state, i, f"t={t} state")
            assert single.observation().tobytes() == obs[i].tobytes()
        churned += int(outcome.churned.sum())
    if name == "churny":
        assert churned > 0 and not state.active.all()  # the churned shopper's path is exercised


def test_prefetched_shoppers_equal_fresh_ones() -> None:
    params = load_scenario("default")
    keys = episode_keys(np.full(5, 5, dtype=np.uint64), np.arange(5))
    shopper = SingleShopper(params, block=3)
    shopper.reset(int(keys[0]), lambda: keys[1:])
    assert shopper.prepared == 4
    for key in keys[1:].tolist():
        obs = shopper.reset(key)  # served from the batch of five
        fresh = SingleShopper(params, block=3)
        np.testing.assert_array_equal(obs, fresh.reset(key))
        for _ in range(4):  # beyond the block of 3
            a, b = shopper.step(0.1), fresh.step(0.1)
            assert dataclasses.astuple(a) == dataclasses.astuple(b)
        assert shopper.observation().tobytes() == fresh.observation().tobytes()
    assert shopper.prepared == 0
    shopper.reset(12345)  # a key that was not prepared is computed on the spot
    np.testing.assert_array_equal(shopper.observation(), SingleShopper(params).reset(12345))
