"""Bad input to the environments fails with DiscountSimInputError naming the argument, the value and what is allowed."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
from discountsim.envs import CampaignEnv, DiscountActions, ShopperEnv, ShopperVecEnv
from discountsim.simulators.errors import DiscountSimInputError


@pytest.fixture
def discrete():
    env = gym.make("DiscountSim/ShopperDiscrete-v0", horizon=4)
    env.reset(seed=0)
    return env


@pytest.fixture
def continuous():
    env = gym.make("DiscountSim/Shopper-v0", horizon=4)
    env.reset(seed=0)
    return env


# The repro: a string or None as a Discrete action raised a raw ufunc TypeError.
@pytest.mark.parametrize(
    "action, problem",
    [
        ("3", "expected numbers"),
        (None, "expected numbers"),
        (True, "expected numbers"),
        ([1, 2], r"expected shape \(\) of level indices"),
        (1.5, "expected integer levels"),
        (np.nan, "expected integer levels"),
        (11, r"level out of range 0 \.\. 10"),
        (-1, r"level out of range 0 \.\. 10"),
    ],
)
def test_bad_discrete_action_names_value_and_allowed(discrete, action, problem) -> None:
    with pytest.raises(DiscountSimInputError, match=problem) as info:
        discrete.step(action)
    message = str(info.value)
    assert message.startswith("action: ")
    assert repr(action) in message or str(action) in message
    assert "allowed: an int in [0, 11) (Discrete(11))" in message


@pytest.mark.parametrize(
    "action, problem",
    [
        ("0.5", "expected numbers"),
        (None, "expected numbers"),
        (np.array([np.nan], dtype=np.float32), "NaN or infinite"),
        (np.array([-np.inf], dtype=np.float32), "NaN or infinite"),
        (np.array([0.1, 0.2], dtype=np.float32), r"expected shape \(1,\), not \(2,\)"),
        (np.float32(0.1), r"expected shape \(1,\), not \(\)"),
        ([[0.1]], r"expected shape \(1,\), not \(1, 1\)"),
        (np.array([True]), "expected numbers"),
    ],
)
def test_bad_box_action_names_value_and_allowed(continuous, action, problem) -> None:
    with pytest.raises(DiscountSimInputError, match=problem) as info:
        continuous.step(action)
    assert "allowed: a finite float array of shape (1,) in [-1, 1]" in str(info.value)


def test_good_actions_in_every_accepted_form_give_the_same_discount() -> None:
    box = DiscountActions(0.4)
    for action in (np.array([0.5], dtype=np.float32), np.array([0.5]), [0.5], np.array([1]), [1]):
        expected = float(box.to_discount(np.asarray(action))[0])
        assert box.discount_of(action) == expected  # the fast path equals the general one bit for bit
    assert box.discount_of(np.array([7.0], dtype=np.float32)) == 0.4  # clipped, as documented
    levels = DiscountActions(0.4, "discrete", n_levels=5)
    for action in (3, np.int64(3), np.array(3), np.array([3]), 3.0, np.uint8(3)):
        assert levels.discount_of(action) == levels.levels[3]


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"reward_scale": math.nan}, r"reward_scale: expected a finite number > 0, got nan"),
        ({"reward_scale": math.inf}, "reward_scale"),
        ({"reward_scale": 0.0}, "reward_scale"),
        ({"reward_scale": -1.0}, "reward_scale"),
        ({"reward_scale": "1"}, "reward_scale: expected a finite number > 0, got '1'"),
        ({"reward_scale": True}, "reward_scale"),
        ({"horizon": "abc"}, "horizon: expected an integer >= 1, got 'abc'"),
        ({"horizon": 4.9}, "horizon: expected an integer >= 1, got 4.9"),
        ({"horizon": 0}, "horizon"),
        ({"scenario": 123}, r"scenario: expected a built-in scenario name.*got 123 \(int\)"),
        ({"scenario": None}, "scenario: expected"),
        ({"action_type": "wavy"}, "action_type: 'wavy' is not one of"),
        ({"action_type": "discrete", "n_levels": 2.5}, "n_levels: expected an integer >= 2, got 2.5"),
        ({"action_type": "discrete", "n_levels": "11"}, "n_levels"),
        ({"render_mode": "human"}, "render_mode: 'human' is not one of"),
    ],
)
def test_shopper_env_rejects_bad_arguments(kwargs, pattern) -> None:
    with pytest.raises(DiscountSimInputError, match=pattern):
        ShopperEnv(**kwargs)
    if "render_mode" not in kwargs:  # gym.make warns about an unknown render mode before the env can say more
        with pytest.raises(DiscountSimInputError, match=pattern):
            gym.make("DiscountSim/Shopper-v0", **kwargs)


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"n_envs": 0}, "n_envs: expected an integer >= 1, got 0"),
        ({"n_envs": "8"}, "n_envs"),
        ({"seed": "abc"}, r"seed: expected None or an integer in \[0, 2\*\*64\), got 'abc'"),
        ({"seed": -1}, r"seed: .* got -1"),
        ({"seed": 1.5}, r"seed: .* got 1\.5"),
        ({"reward_scale": math.nan}, "reward_scale: expected a finite number > 0, got nan"),
        ({"horizon": 2.5}, "horizon"),
        ({"scenario": 1.0}, "scenario"),
        ({"render_mode": "ansi"}, "render_mode"),
    ],
)
def test_vec_env_rejects_bad_arguments(kwargs, pattern) -> None:
    with pytest.raises(DiscountSimInputError, match=pattern):
        ShopperVecEnv(**{"n_envs": 2, **kwargs})


def test_vec_env_rejects_bad_seed_and_actions() -> None:
    vec = ShopperVecEnv(3, horizon=3, seed=0)
    with pytest.raises(DiscountSimInputError, match=r"seed: .* got 'x'"):
        vec.seed("x")
    vec.reset()
    with pytest.raises(
        DiscountSimInputError, match=r"action: expected numbers.*allowed: a finite float array of shape"
    ):
        vec.step(np.array([["a"], ["b"], ["c"]]))
    with pytest.raises(DiscountSimInputError, match="NaN or infinite"):
        vec.step(np.array([[0.0], [np.nan], [0.0]], dtype=np.float32))
    discrete = ShopperVecEnv(2, horizon=3, seed=0, action_type="discrete")
    discrete.reset()
    with pytest.raises(DiscountSimInputError, match=r"allowed: an int array of shape \(2,\)"):
        discrete.step(np.array([None, 1]))


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        (
            {"campaign_budget": math.nan},
            r"campaign_budget: expected None or a finite amount >= 0 \(currency\), got nan",
        ),
        ({"campaign_budget": -1.0}, "campaign_budget"),
        ({"campaign_budget": "100"}, "campaign_budget"),
        ({"reward_scale": math.nan}, "reward_scale: expected a finite number > 0, got nan"),
        ({"n_shoppers": 0}, "n_shoppers: expected an integer >= 1, got 0"),
        ({"horizon": "x"}, "horizon"),
        ({"recency_cuts": (13, 4)}, r"recency_cuts: expected two ascending finite week counts >= 0.*got \(13, 4\)"),
        ({"recency_cuts": "ab"}, "recency_cuts"),
        ({"recency_cuts": (4.0, math.inf)}, "recency_cuts"),
        ({"scenario": 5}, "scenario"),
    ],
)
def test_campaign_env_rejects_bad_arguments(kwargs, pattern) -> None:
    with pytest.raises(DiscountSimInputError, match=pattern):
        CampaignEnv(**{"n_shoppers": 20, **kwargs})


def test_campaign_env_rejects_bad_actions() -> None:
    env = CampaignEnv(n_shoppers=20, horizon=2)
    env.reset(seed=0)
    k = env.cohorts.n_cohorts
    with pytest.raises(DiscountSimInputError, match=rf"expected shape \({k},\)"):
        env.step(np.zeros(k + 1, dtype=np.float32))
    with pytest.raises(DiscountSimInputError, match="NaN or infinite"):
        env.step(np.full(k, np.nan, dtype=np.float32))
    with pytest.raises(DiscountSimInputError, match="expected numbers"):
        env.step(None)
