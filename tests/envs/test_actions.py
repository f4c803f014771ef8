from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from discountsim import envs
from discountsim.envs import DiscountActions


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
