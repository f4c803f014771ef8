"""SB3 agents on the batched env: tuned YAML defaults, a short learn each, the evaluator, save/load."""

from __future__ import annotations

import numpy as np
import pytest
from discountsim.agents import ALGORITHMS, agent_config, evaluate, load_policy, make_model, save_policy
from discountsim.envs import ShopperVecEnv

# Tiny settings: every algorithm learns a few hundred steps in well under a second.
TINY = {
    "ppo": {"n_steps": 8, "batch_size": 32, "n_epochs": 1},
    "ppo_distilled": {"n_steps": 8, "batch_size": 32, "n_epochs": 1},
    "a2c": {"n_steps": 4},
    "recurrent_ppo": {"n_steps": 8, "batch_size": 32, "n_epochs": 1},
    "sac": {"learning_starts": 32, "batch_size": 32, "gradient_steps": 1, "buffer_size": 1000},
    "td3": {"learning_starts": 32, "batch_size": 32, "gradient_steps": 1, "buffer_size": 1000},
    "dqn": {"learning_starts": 32, "batch_size": 32, "gradient_steps": 1, "buffer_size": 1000},
}


def test_every_algorithm_has_a_yaml_with_valid_arguments() -> None:
    assert set(ALGORITHMS) == set(TINY)
    for name in ALGORITHMS:
        config = agent_config(name)
        assert config["name"] == name and config["total_timesteps"] >= (0 if config.get("distill") else 1)
        assert config["algorithm"]["_target_"].rsplit(".", 1)[1] == ALGORITHMS[name].__name__
        # Every env key is a ShopperVecEnv argument; a typo would fail when the model is built.
        assert set(config["env"]) <= set(ShopperVecEnv.__init__.__code__.co_varnames)


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_learn_evaluate_and_round_trip(name, tmp_path) -> None:
    model = make_model(name, "default", seed=1, hyperparams=TINY[name], env={"n_envs": 8})
    model.learn(total_timesteps=256)
    assert model.num_timesteps >= 256
    result = evaluate(model, "default", n_shoppers=32, horizon=6, seed=2)
    assert result.summary.loc[0, "policy"] == type(model).__name__
    assert np.isfinite(result.summary.loc[0, "profit"])
    path = save_policy(model, tmp_path / name)
    assert path.suffix == ".zip" and not list(tmp_path.glob(".*tmp*"))
    loaded = load_policy(path)
    assert type(loaded) is type(model)
    obs = model.get_env().reset()
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])
    again = evaluate(loaded, "default", n_shoppers=32, horizon=6, seed=2)
    np.testing.assert_array_equal(again.totals.profit, result.totals.profit)


def test_bad_algorithm_and_foreign_zip_fail_clearly(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"algorithm: unknown 'ppo2'; allowed: \['a2c', 'dqn', 'ppo'"):
        make_model("ppo2")
    model = make_model("ppo", hyperparams=TINY["ppo"], env={"n_envs": 4})
    model.save(tmp_path / "plain.zip")  # SB3's own save: no DiscountSim metadata
    with pytest.raises(ValueError, match="pass algorithm="):
        load_policy(tmp_path / "plain.zip")
    assert type(load_policy(tmp_path / "plain.zip", algorithm="ppo")).__name__ == "PPO"
    (tmp_path / "broken.zip").write_text("not a zip")
    with pytest.raises(ValueError, match=r"broken\.zip: not a readable zip archive .*truncated or damaged"):
        load_policy(tmp_path / "broken.zip")
    with pytest.raises(FileNotFoundError, match=r"missing\.zip"):
        load_policy(tmp_path / "missing.zip")
