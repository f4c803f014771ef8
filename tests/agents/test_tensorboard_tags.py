"""SB3's own TensorBoard tags reach the event file: rollout/ through VecMonitor, time/ even for short runs."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from discountsim.agents import make_model, train_sb3
from discountsim.agents.callbacks import DumpLogsCallback, ShopMetricsCallback
from discountsim.agents.sb3_agents import SB3_METADATA, learn, make_vec_env, save_sb3
from discountsim.envs import ShopperVecEnv
from stable_baselines3.common.vec_env import VecMonitor
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

TINY = {
    "ppo": {"n_steps": 8, "batch_size": 32, "n_epochs": 1},
    "a2c": {"n_steps": 8},  # SB3's A2C dumps every 100 iterations by default: never in a run this short
    "dqn": {"learning_starts": 64, "batch_size": 32, "buffer_size": 1000},
}


def _scalars(folder: Path) -> EventAccumulator:
    (run,) = [p for p in folder.iterdir() if p.is_dir()]
    events = EventAccumulator(str(run), size_guidance={"scalars": 0})
    events.Reload()
    return events


@pytest.mark.parametrize("algorithm", sorted(TINY))
def test_a_tiny_run_has_rollout_and_time_tags(algorithm: str, tmp_path) -> None:
    model = make_model(algorithm, hyperparams=TINY[algorithm], env={"n_envs": 4}, horizon=4, tensorboard_log=tmp_path)
    callback = ShopMetricsCallback("default", eval_every=128, n_shoppers=10, horizon=4)
    learn(model, 300, callback, progress_bar=False)
    events = _scalars(tmp_path)
    tags = set(events.Tags()["scalars"])
    assert {"rollout/ep_rew_mean", "rollout/ep_len_mean", "time/fps", "shop/profit"} <= tags
    assert 1.0 <= events.Scalars("rollout/ep_len_mean")[-1].value <= 4.0  # 4-period episodes, some churn
    assert events.Scalars("time/fps")[-1].step == model.num_timesteps  # the last dump is the end of training
    steps = [e.step for e in events.Scalars("time/fps")]
    assert len(steps) == len(set(steps)) >= 2  # periodic dumps plus the final one, never two at one step


def test_episode_returns_are_the_summed_training_rewards() -> None:
    env = make_vec_env("default", horizon=3, seed=0, env={"n_envs": 5, "reward_scale": 0.1})
    assert isinstance(env, VecMonitor) and isinstance(env.unwrapped, ShopperVecEnv)
    env.reset()
    total = np.zeros(5)
    for _ in range(3):
        _, rewards, dones, infos = env.step(np.zeros((5, 1), dtype=np.float32))
        total += rewards
    assert dones.all()
    for i, info in enumerate(infos):  # the wrapper adds "episode" and keeps the env's own keys
        assert info["episode"]["l"] == 3
        assert info["episode"]["r"] == pytest.approx(total[i], rel=1e-5)
        assert info["terminal_observation"].shape == env.observation_space.shape
        assert "TimeLimit.truncated" in info and "profit" in info


def test_a_saved_model_still_names_its_scenario(tmp_path) -> None:
    model = make_model("ppo", hyperparams=TINY["ppo"], env={"n_envs": 4}, horizon=4)
    path = save_sb3(model, tmp_path / "model.zip")
    with zipfile.ZipFile(path) as archive:
        metadata = json.loads(archive.read(SB3_METADATA))
    assert metadata["scenario"]["name"] == "default" and metadata["horizon"] == 4


def test_dump_logs_callback_rejects_a_bad_interval() -> None:
    with pytest.raises(ValueError, match="every: expected a positive number of timesteps, got 0"):
        DumpLogsCallback(0)


def test_train_sb3_trains_whole_rollouts_and_says_so(caplog) -> None:
    caplog.set_level("INFO")
    model = train_sb3("a2c", "default", 100, hyperparams=TINY["a2c"], env={"n_envs": 4}, horizon=4)
    assert model.num_timesteps == 128  # 4 rollouts of 8 steps x 4 shoppers
    assert "a2c: total_timesteps 100 rounded up to 128: SB3 trains in whole rollouts of 32 timesteps" in caplog.text
