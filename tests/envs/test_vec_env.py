"""The batched VecEnv: DummyVecEnv semantics and equality with independent Shopper-v0 envs."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from discountsim import envs
from discountsim.envs import ShopperVecEnv
from discountsim.simulators.errors import DiscountSimInputError
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv

from tests.conftest import scenario_with

N = 12


@pytest.fixture(scope="module")
def churny():
    # High churn so that episodes end at staggered times (terminated) as well as at the horizon.
    base = scenario_with()
    return scenario_with(segments={name: {"churn_rate": 0.15} for name in base.segments})


def _run_pair(vec, make_single, steps, seed, actions_fn):
    vec.seed(seed)
    obs = vec.reset()
    singles = [make_single() for _ in range(vec.num_envs)]
    dummy = DummyVecEnv([lambda e=e: e for e in singles])
    dummy.seed(seed)
    dummy_obs = dummy.reset()
    np.testing.assert_array_equal(obs, dummy_obs)
    done_counts = np.zeros(vec.num_envs)
    for t in range(steps):
        actions = actions_fn(t)
        obs, rewards, dones, infos = vec.step(actions)
        d_obs, d_rewards, d_dones, d_infos = dummy.step(actions)
        np.testing.assert_array_equal(obs, d_obs)
        np.testing.assert_array_equal(rewards, d_rewards)
        np.testing.assert_array_equal(dones, d_dones)
        for i in range(vec.num_envs):
            for key in envs.INFO_KEYS:
                assert infos[i][key] == d_infos[i][key]
            if dones[i]:
                np.testing.assert_array_equal(infos[i]["terminal_observation"], d_infos[i]["terminal_observation"])
                assert infos[i]["TimeLimit.truncated"] == d_infos[i]["TimeLimit.truncated"]
            else:
                assert "terminal_observation" not in infos[i] and "TimeLimit.truncated" not in infos[i]
        done_counts += dones
    return done_counts


def test_vec_env_equals_independent_single_envs_with_staggered_episodes(churny) -> None:
    rng = np.random.default_rng(0)
    vec = ShopperVecEnv(N, churny, horizon=6)
    done_counts = _run_pair(
        vec,
        lambda: gym.make("DiscountSim/Shopper-v0", scenario=churny, horizon=6).unwrapped,
        steps=30,
        seed=11,
        actions_fn=lambda t: rng.uniform(-1.5, 1.5, (N, 1)).astype(np.float32),
    )
    assert done_counts.min() >= 4 and len(set(done_counts)) > 1  # staggered, several episodes each


def test_discrete_vec_env_equals_single_envs() -> None:
    rng = np.random.default_rng(1)
    vec = ShopperVecEnv(N, "default", horizon=4, action_type="discrete")
    _run_pair(
        vec,
        lambda: gym.make("DiscountSim/ShopperDiscrete-v0", horizon=4).unwrapped,
        steps=9,
        seed=3,
        actions_fn=lambda t: rng.integers(0, 11, N),
    )


def test_reset_returns_observations_only_and_seed_is_used_once() -> None:
    vec = ShopperVecEnv(4, seed=5, horizon=3)
    first = vec.reset()
    assert isinstance(first, np.ndarray) and first.shape == (4, vec.observation_space.shape[0])
    second = vec.reset()  # next shoppers of the same sequences
    assert not np.array_equal(first, second)
    vec.seed(5)
    np.testing.assert_array_equal(vec.reset(), first)
    assert all(vec.observation_space.contains(o) for o in first)


def test_vec_env_attributes_and_bad_actions() -> None:
    vec = ShopperVecEnv(3, horizon=3, seed=0)
    vec.reset()
    assert vec.get_attr("horizon") == [3, 3, 3] and vec.env_is_wrapped(gym.Wrapper) == [False] * 3
    with pytest.raises(ValueError, match="NaN or infinite"):
        vec.step(np.full((3, 1), np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match=r"expected shape \(3, 1\)"):
        vec.step(np.zeros((2, 1), dtype=np.float32))
    with pytest.raises(ValueError, match="n_envs"):
        ShopperVecEnv(0)


@pytest.mark.parametrize("action_type", ["continuous", "discrete"])
def test_sb3_learns_on_the_vec_env(action_type) -> None:
    from stable_baselines3 import DQN

    vec = ShopperVecEnv(16, horizon=8, seed=0, action_type=action_type, reward_scale=0.01)
    if action_type == "continuous":
        model = PPO("MlpPolicy", vec, n_steps=16, batch_size=64, n_epochs=1, seed=0, device="cpu")
    else:
        model = DQN("MlpPolicy", vec, learning_starts=32, train_freq=1, seed=0, device="cpu")
    model.learn(256)
    actions, _ = model.predict(vec.reset(), deterministic=True)
    assert actions.shape[0] == 16


def test_a_cost_multiplier_prices_promotion_spend_into_the_reward() -> None:

    env = ShopperVecEnv(n_envs=64, horizon=4, action_type="discrete", reward_scale=0.1, seed=3)
    env.reset()
    env.set_attr("cost_multiplier", 2.0)
    _, rewards, _, infos = env.step(np.full(64, 4))  # 20 % to everyone
    expected = [(i["profit"] - 2.0 * i["promotion_cost"]) / 3.0 * 0.1 for i in infos]
    np.testing.assert_allclose(rewards, expected, rtol=1e-6)
    assert any(i["promotion_cost"] > 0 for i in infos)


def test_an_offer_bonus_prices_offers_by_group_into_the_reward() -> None:
    env = ShopperVecEnv(n_envs=64, horizon=4, action_type="discrete", reward_scale=0.1, seed=3)
    env.reset()
    # default: region (north, south, east, west), then age band (18-29, 30-44, 45-59, 60+)
    bonus = np.array([1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0, 40.0])
    env.set_attr("offer_bonus", bonus)
    attributes = env._state.traits.attributes.astype(int)
    actions = np.where(np.arange(64) % 2 == 0, 4, 0)  # 20 % to every other shopper, nothing to the rest
    _, rewards, _, infos = env.step(actions)
    per_shopper = bonus[attributes[:, 0]] + bonus[4 + attributes[:, 1]]
    expected = [(i["profit"] + per_shopper[k] * (actions[k] > 0)) * 0.1 for k, i in enumerate(infos)]
    np.testing.assert_allclose(rewards, expected, rtol=1e-5)
    env.set_attr("offer_bonus", np.ones(3))
    with pytest.raises(DiscountSimInputError, match=r"offer_bonus: expected 8 finite amounts, one per level of"):
        env.step(actions)
