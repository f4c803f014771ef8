"""Gymnasium's and SB3's env checkers pass with no warnings for every registered id."""

from __future__ import annotations

import warnings

import gymnasium as gym
import pytest
from discountsim import envs
from discountsim.envs import INFO_KEYS
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_env_checkers_pass_without_warnings(env_id: str) -> None:
    kwargs = {"n_shoppers": 50} if "Campaign" in env_id else {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = gym.make(env_id, **kwargs)
        gym_check_env(env.unwrapped)
        sb3_check_env(env.unwrapped, warn=True)
        env.close()


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_info_carries_money_and_purchases(env_id: str) -> None:
    kwargs = {"n_shoppers": 50} if "Campaign" in env_id else {}
    env = gym.make(env_id, **kwargs)
    env.reset(seed=0)
    _, reward, _, _, info = env.step(env.action_space.sample())
    for key in ("revenue", "promotion_cost", "cogs", "profit"):
        assert isinstance(info[key], float)
    assert ("purchased" in info) or ("purchases" in info)
    scale = env.unwrapped.reward_scale
    assert reward == pytest.approx(info["profit"] * scale)
    if "Campaign" not in env_id:
        assert set(INFO_KEYS) <= set(info)
