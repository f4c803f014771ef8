from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from discountsim import envs
from discountsim.envs import DiscountActions
from discountsim.simulators.errors import DiscountSimInputError


def test_continuous_mapping_and_clipping() -> None:
    acts = DiscountActions(0.5)
    np.testing.assert_allclose(acts.to_discount(np.array([-1.0])), [0.0])
    np.testing.assert_allclose(acts.to_discount(np.array([0.0])), [0.25])
    np.testing.assert_allclose(acts.to_discount(np.array([1.0])), [0.5])
    np.testing.assert_allclose(acts.to_discount(np.array([3.0])), [0.5])  # documented clipping
    np.testing.assert_allclose(acts.to_discount(np.array([[0.0], [1.0]]), batch=2), [[0.25], [0.5]])


def test_discrete_levels() -> None:
    acts = DiscountActions(0.5, "discrete", n_levels=6)
    np.testing.assert_allclose(acts.levels, [0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    assert acts.to_discount(np.int64(3))[0] == pytest.approx(0.3)
    np.testing.assert_allclose(acts.to_discount(np.array([0, 5]), batch=2)[:, 0], [0.0, 0.5])


@pytest.mark.parametrize(
    "action, message",
    [
        (np.array([np.nan], dtype=np.float32), "NaN or infinite"),
        (np.array([np.inf], dtype=np.float32), "NaN or infinite"),
        (np.array([0.1, 0.2], dtype=np.float32), r"expected shape \(1,\)"),
        (np.float32(0.1), r"expected shape \(1,\)"),
    ],
)
def test_bad_continuous_actions_raise(action, message) -> None:
    env = gym.make("DiscountSim/Shopper-v0")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=message):
        env.step(action)


@pytest.mark.parametrize("action, message", [(11, "level out of range"), (-1, "level out of range"), (1.5, "integer")])
def test_bad_discrete_actions_raise(action, message) -> None:
    env = gym.make("DiscountSim/ShopperDiscrete-v0").unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match=message):
        env.step(action)


def test_bad_constructor_arguments() -> None:
    with pytest.raises(ValueError, match="action_type: 'wavy' is not one of"):
        DiscountActions(0.5, "wavy")
    with pytest.raises(ValueError, match="n_levels"):
        DiscountActions(0.5, "discrete", n_levels=1)
    with pytest.raises(ValueError, match="horizon"):
        gym.make("DiscountSim/Shopper-v0", horizon=0)
    with pytest.raises(ValueError, match="render_mode"):
        envs.ShopperEnv(render_mode="human")


def test_from_discount_inverts_to_discount() -> None:
    acts = DiscountActions(0.5)
    d = np.array([0.0, 0.1, 0.37, 0.5])
    np.testing.assert_allclose(acts.to_discount(acts.from_discount(d), batch=4)[:, 0], d, atol=1e-7)
    discrete = DiscountActions(0.5, "discrete", n_levels=11)
    np.testing.assert_array_equal(discrete.from_discount(np.array([0.0, 0.12, 0.5])), [0, 2, 10])
    with pytest.raises(ValueError, match=r"finite values in \[0, 0.5\]"):
        acts.from_discount(np.array([0.6]))


def test_offer_threshold_sends_no_offer_at_or_below_it_and_rescales_above() -> None:
    actions = DiscountActions(0.5, "continuous", offer_threshold=0.0)
    got = actions.to_discount(np.array([[-1.0], [-0.3], [0.0], [0.5], [1.0], [3.0]]), batch=6)[:, 0]
    np.testing.assert_allclose(got, [0.0, 0.0, 0.0, 0.25, 0.5, 0.5])
    # A tanh-squashed action (SAC, TD3) never reaches -1: without the zone it always offers something.
    squashed = np.tanh(np.array([[-5.0]], dtype=np.float32))
    assert DiscountActions(0.5, "continuous").to_discount(squashed, batch=1)[0, 0] > 0.0
    assert actions.to_discount(squashed, batch=1)[0, 0] == 0.0
    # The fast single-action path and the inverse agree with it.
    for a in (-0.7, 0.0, 0.3, 1.0):
        one = np.array([a], dtype=np.float32)
        assert actions.discount_of(one) == float(actions.to_discount(one)[0])
    d = np.array([0.0, 0.1, 0.25, 0.5])
    np.testing.assert_allclose(actions.to_discount(actions.from_discount(d), batch=4)[:, 0], d, atol=1e-7)


@pytest.mark.parametrize("threshold", [1.0, -1.5, float("nan"), "0", True])
def test_offer_threshold_outside_its_range_is_refused(threshold) -> None:
    with pytest.raises(DiscountSimInputError, match="offer_threshold"):
        DiscountActions(0.5, "continuous", offer_threshold=threshold)


def test_a_model_trained_with_an_offer_threshold_is_evaluated_with_it(tmp_path) -> None:
    from discountsim.agents import evaluate
    from discountsim.agents.fingerprint import model_actions
    from discountsim.agents.sb3_agents import load_sb3, save_sb3
    from discountsim.envs import ShopperVecEnv
    from discountsim.simulators import load_scenario
    from stable_baselines3 import TD3

    env = ShopperVecEnv(scenario="default", n_envs=4, horizon=4, seed=0, offer_threshold=0.5)
    model = TD3("MlpPolicy", env, learning_starts=10, policy_kwargs={"net_arch": [8]}, seed=0)
    model.learn(40)
    loaded = load_sb3(save_sb3(model, tmp_path / "td3.zip"))
    assert model_actions(loaded, load_scenario("default")).offer_threshold == 0.5
    evaluate(loaded, "default", n_shoppers=20, horizon=3, seed=1)


@pytest.mark.parametrize("threshold", [0.3, 0.1, -0.9])
def test_no_offer_round_trips_and_the_float32_threshold_sends_none(threshold) -> None:
    actions = DiscountActions(0.5, "continuous", offer_threshold=threshold)
    d = np.array([0.0, 0.1, 0.5])
    np.testing.assert_allclose(actions.to_discount(actions.from_discount(d), batch=3)[:, 0], d, atol=1e-7)
    assert actions.to_discount(actions.from_discount(np.zeros(1)), batch=1)[0, 0] == 0.0
    assert actions.discount_of(np.array([threshold], dtype=np.float32)) == 0.0


def test_offer_threshold_is_refused_for_discrete_actions() -> None:
    with pytest.raises(DiscountSimInputError, match="continuous actions only"):
        DiscountActions(0.5, "discrete", offer_threshold=0.5)
