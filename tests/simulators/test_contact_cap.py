"""The contact cap: its projection by hand, and that no policy, env or evaluation ever breaks it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from discountsim.agents import evaluate_lineup, make_policy
from discountsim.envs import ShopperVecEnv
from discountsim.simulators import ContactCap, DiscountSimInputError, initial_state, load_scenario, rollout, spawn_keys
from discountsim.simulators.contact_cap import contact_cap_arg, offers_in_last
from hypothesis import given, settings
from hypothesis import strategies as st

PARAMS = load_scenario("default")


def _with_history(bits: list[int]):
    state = initial_state(PARAMS, spawn_keys(np.random.default_rng(0), len(bits)))
    return dataclasses.replace(state, offer_history=np.array(bits, dtype=np.uint8))


def test_projection_by_hand() -> None:
    # Bit j: an offer j + 1 periods ago. A window of 4 looks at the last 3 periods (bits 0-2).
    state = _with_history([0b000, 0b001, 0b011, 0b101, 0b111, 0b1000, 0b11000])
    assert offers_in_last(state, 3).tolist() == [0, 1, 2, 2, 3, 0, 0]
    cap = ContactCap(max_offers=2, window=4)
    assert cap.allowed(state).tolist() == [True, True, False, False, False, True, True]
    projected = cap.project(state, np.full(7, 0.2))
    assert projected.tolist() == [0.2, 0.2, 0.0, 0.0, 0.0, 0.2, 0.2]
    # A cap of one offer per week-long window never forbids anything; one per 2 weeks forbids after an offer.
    assert ContactCap(1, window=1).allowed(state).all()
    assert ContactCap(1, window=2).allowed(state).tolist() == [True, False, False, False, False, True, True]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"max_offers": 0}, r"contact_cap\.max_offers: expected an integer >= 1, got 0"),
        ({"max_offers": 2, "window": 9}, r"contact_cap\.window: expected an integer in \[1, 8\], got 9"),
        ({"max_offers": 2.5}, r"contact_cap\.max_offers: expected an integer >= 1, got 2\.5"),
        ({"max_offers": True}, r"contact_cap\.max_offers: expected an integer >= 1, got True"),
        ({"window": 4}, r"contact_cap: expected keys max_offers \(required\) and window"),
        ({"max_offers": 2, "weeks": 4}, r"contact_cap: expected keys max_offers \(required\) and window"),
        (3, r"contact_cap: expected null \(no cap\) or \{max_offers: k, window: w\}, got 3"),
    ],
)
def test_a_bad_cap_is_refused_naming_the_field(value: object, message: str) -> None:
    with pytest.raises(DiscountSimInputError, match=message):
        contact_cap_arg(value)


@settings(max_examples=25, deadline=None)
@given(
    max_offers=st.integers(1, 4),
    window=st.integers(1, 8),
    depth=st.sampled_from([0.05, 0.2, 0.5]),
    seed=st.integers(0, 2**16),
)
def test_no_window_ever_holds_more_offers_than_the_cap(max_offers: int, window: int, depth: float, seed: int) -> None:
    cap = ContactCap(max_offers, window)
    keys = spawn_keys(np.random.default_rng(seed), 30)
    rng = np.random.default_rng(seed + 1)

    def greedy(observations: np.ndarray, _state: object) -> np.ndarray:  # offers to most shoppers every week
        return np.where(rng.random(observations.shape[0]) < 0.9, depth, 0.0)

    totals = rollout(PARAMS, keys, greedy, 20, contact_cap=cap)
    assert totals.window_periods == window
    assert totals.max_window_offers.max() <= max_offers
    # The greedy rule asks for more than any cap below the window allows, so the cap binds.
    if max_offers < window:
        assert totals.max_window_offers.max() == max_offers


def test_capped_rollout_equals_the_rollout_of_the_projected_rule() -> None:
    cap = ContactCap(2, 4)
    keys = spawn_keys(np.random.default_rng(3), 50)
    every_week = make_policy("uniform", depth=0.1).discount_rule(PARAMS)
    capped = rollout(PARAMS, keys, every_week, 12, contact_cap=cap)
    by_hand = rollout(PARAMS, keys, lambda obs, state: cap.project(state, every_week(obs, state)), 12)
    np.testing.assert_array_equal(capped.profit, by_hand.profit)
    np.testing.assert_array_equal(capped.offers, by_hand.offers)
    assert capped.offers.max() == 6  # weeks 1, 2, 5, 6, 9, 10 of 12: two offers in every 4 weeks
    free = rollout(PARAMS, keys, every_week, 12)
    assert free.offers.max() == 12 and free.max_window_offers.max() == 4


def test_the_evaluator_reports_whether_the_cap_held() -> None:
    policies = {"uniform": make_policy("uniform", depth=0.1), "none": make_policy("no_discount")}
    free = evaluate_lineup(policies, "default", 40, 8, seed=1, oracle=False).summary.set_index("policy")
    assert free.loc["uniform", "max_offers_in_window"] == 4.0 and np.isnan(free.loc["uniform", "contact_cap_held"])
    capped = evaluate_lineup(
        policies, "default", 40, 8, seed=1, oracle=True, contact_cap={"max_offers": 2}
    ).summary.set_index("policy")
    assert capped.loc["uniform", "max_offers_in_window"] == 2.0
    assert (capped["contact_cap_held"] == 1.0).all()
    # Fewer offers sent: the capped uniform policy pays for half as many.
    assert capped.loc["uniform", "promotion_cost"] < free.loc["uniform", "promotion_cost"]


def test_the_training_env_projects_the_same_way() -> None:
    cap = {"max_offers": 1, "window": 3}
    env = ShopperVecEnv(n_envs=16, horizon=12, action_type="discrete", seed=4, contact_cap=cap)
    env.reset()
    offered = []
    for _ in range(12):
        _, _, _, infos = env.step(np.full(16, 2))  # 10 % to everyone, every week
        offered.append(sum(info["discount"] > 0.0 for info in infos))
        # Each row's current shopper (a churned one is replaced within the step) is within the cap.
        assert offers_in_last(env._state, 3).max() <= 1
    assert offered[:3] == [16, 0, 0]  # everyone offered in week 1, nobody in weeks 2-3
    assert sum(offered) < 16 * 12 / 2


def test_a_null_window_is_the_default_and_an_integral_float_is_an_integer() -> None:
    assert contact_cap_arg({"max_offers": 2, "window": None}) == ContactCap(2, 4)
    assert contact_cap_arg({"max_offers": 2.0, "window": 3.0}) == ContactCap(2, 3)
    with pytest.raises(DiscountSimInputError, match=r"contact_cap\.max_offers: expected an integer >= 1, got 2\.5"):
        contact_cap_arg({"max_offers": 2.5})
