"""DAgger distillation of the oracle into an SB3 policy: it learns the teacher, deterministically, and
refuses what it cannot do."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from discountsim.agents import load_policy, make_model, train_sb3
from discountsim.agents.distillation import DistillSettings, distill
from discountsim.agents.oracle import MyopicOraclePolicy
from discountsim.simulators import initial_state, load_scenario, observe, spawn_keys
from discountsim.simulators.errors import DiscountSimInputError
from hydra import compose, initialize_config_dir

from tests.experiments.test_entry_points import CONF, TINY_TRAIN

TINY = DistillSettings(teacher="myopic_oracle", rounds=2, shoppers=48, epochs=30, batch_size=64, learning_rate=3e-3)


def _student(seed: int = 0, **env):
    return make_model(
        "ppo_distilled",
        "myopic",
        seed=seed,
        horizon=4,
        env={"n_envs": 4, **env},
        hyperparams={"n_steps": 8, "batch_size": 32},
    )


def _teacher_agreement(model, params, n: int = 400) -> float:
    """Share of fresh shoppers' first weeks on which the model picks the myopic oracle's level."""
    state = initial_state(params, spawn_keys(np.random.default_rng(99), n))
    teacher = MyopicOraclePolicy(decision_levels=11)  # the student's levels, as distillation's teacher
    wanted = model.get_env().unwrapped.actions.from_discount(teacher.act_on_state(params, state, 4))
    picked, _ = model.predict(observe(params, state), deterministic=True)
    return float(np.mean(picked == wanted))


def test_the_student_learns_the_teachers_offers() -> None:
    params = load_scenario("myopic")
    model = _student()
    before = _teacher_agreement(model, params)
    rows = distill(model, TINY, seed=3)
    after = _teacher_agreement(model, params)
    assert [r["round"] for r in rows] == [0.0, 1.0]
    assert [r["samples"] for r in rows] == [48 * 4, 2 * 48 * 4]  # every round's shopper-weeks are kept
    assert rows[0]["agreement"] == 1.0  # round 0: the teacher acts
    assert 0.0 <= rows[1]["agreement"] <= 1.0
    assert rows[-1]["loss"] < np.log(11) - 0.5  # far below a uniform guess over the 11 levels
    assert after > before + 0.2 and after > 0.6


def test_distillation_is_deterministic_per_seed() -> None:
    first, second, other = _student(), _student(), _student()
    distill(first, TINY, seed=3)
    distill(second, TINY, seed=3)
    distill(other, TINY, seed=4)
    a, b, c = (torch.nn.utils.parameters_to_vector(m.policy.parameters()) for m in (first, second, other))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_train_sb3_distils_then_trains_and_logs(tmp_path) -> None:
    model = train_sb3(
        "ppo_distilled",
        "myopic",
        total_timesteps=0,
        env={"n_envs": 4},
        horizon=4,
        hyperparams={"n_steps": 8, "batch_size": 32},
        distill={"teacher": "myopic_oracle", "rounds": 2, "shoppers": 48, "epochs": 30, "batch_size": 64},
        tensorboard_log=str(tmp_path),
    )
    assert model.num_timesteps == 0
    assert _teacher_agreement(model, load_scenario("myopic")) > 0.6


def test_bad_settings_and_students_are_refused() -> None:
    with pytest.raises(DiscountSimInputError, match=r"distill.teacher: unknown 'rule_based'; allowed: \['oracle'"):
        DistillSettings(teacher="rule_based")
    with pytest.raises(DiscountSimInputError, match=r"distill\.rounds"):
        DistillSettings(rounds=0)
    with pytest.raises(DiscountSimInputError, match=r"distill\.learning_rate: expected a positive number"):
        DistillSettings(learning_rate=float("nan"))
    with pytest.raises(DiscountSimInputError, match=r"distill: unknown settings \['round'\]; allowed: \['teacher'"):
        DistillSettings.from_dict({"round": 2})
    with pytest.raises(DiscountSimInputError, match=r"distill\.epochs: expected an integer >= 1, got 2\.5"):
        DistillSettings(epochs=2.5)
    whole = DistillSettings.from_dict({"rounds": 2.0, "learning_rate": np.float32(0.5)})
    assert (whole.rounds, whole.learning_rate) == (2, 0.5) and type(whole.rounds) is int
    continuous = make_model(
        "ppo", "myopic", env={"n_envs": 2, "action_type": "continuous"}, hyperparams={"n_steps": 8, "batch_size": 16}
    )
    with pytest.raises(DiscountSimInputError, match=r"distill: the student needs discrete actions"):
        distill(continuous, TINY)
    sac = make_model("sac", "myopic", env={"n_envs": 2}, hyperparams={"buffer_size": 100})
    with pytest.raises(DiscountSimInputError, match=r"actor-critic policy without memory \(PPO, A2C\); SAC"):
        distill(sac, TINY)
    recurrent = make_model("recurrent_ppo", "myopic", env={"n_envs": 2}, hyperparams={"n_steps": 8, "batch_size": 16})
    with pytest.raises(DiscountSimInputError, match="RecurrentPPO"):
        distill(recurrent, TINY)


DISTILL_TRAIN = [
    *TINY_TRAIN,
    "agent=ppo_distilled",
    "simulator=myopic",
    "agent.distill.teacher=myopic_oracle",
    "agent.distill.rounds=2",
    "agent.distill.shoppers=40",
    "agent.distill.epochs=5",
    "agent.distill.batch_size=64",
]


def _train_cfg(overrides: list[str]):
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        return compose("train", overrides=[*DISTILL_TRAIN, *overrides])


def test_the_train_job_distils_and_saves_a_ppo_checkpoint(tmp_path) -> None:
    from discountsim.experiments.train import train
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    metrics = train(_train_cfg(["total_timesteps=0"]), tmp_path)
    model = load_policy(tmp_path / "model.zip")
    assert type(model).__name__ == "PPO" and model.num_timesteps == 0
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["policy"] == "ppo_distilled" and saved["profit"] == pytest.approx(metrics["profit"])
    assert json.loads((tmp_path / "run.json").read_text())["distill"]["shoppers"] == 40
    (run,) = list((tmp_path / "tensorboard").iterdir())
    events = EventAccumulator(str(run), size_guidance={"scalars": 0})
    events.Reload()
    assert [e.value for e in events.Scalars("distill/samples")] == [40 * 13, 2 * 40 * 13]
    assert list((tmp_path / "checkpoints").glob("ppo_distilled_0_steps.zip"))  # the student, as soon as distilled


def test_a_run_killed_after_distillation_resumes_without_distilling_again(tmp_path, monkeypatch) -> None:
    import discountsim.agents.distillation as distillation
    import discountsim.experiments.train as train_module
    from discountsim.agents.callbacks import ShopMetricsCallback

    cfg = _train_cfg(["total_timesteps=4096", "checkpoint_every=100000"])

    class Killed(ShopMetricsCallback):
        def _on_step(self) -> bool:
            raise KeyboardInterrupt  # killed in PPO's first rollout, after distillation

    monkeypatch.setattr(train_module, "ShopMetricsCallback", Killed)
    with pytest.raises(KeyboardInterrupt):
        train_module.train(cfg, tmp_path)
    monkeypatch.undo()
    assert train_module.latest_checkpoint(tmp_path / "checkpoints")[1] == 0
    calls = []
    original = distillation.distill
    monkeypatch.setattr(distillation, "distill", lambda *a, **k: calls.append(1) or original(*a, **k))
    cfg.resume = True
    train_module.train(cfg, tmp_path)
    assert calls == []  # the checkpoint holds the student
    assert load_policy(tmp_path / "model.zip").num_timesteps == 4096
    with pytest.raises(Exception, match=r"distill"):  # another distill block is another run
        train_module.train(_train_cfg(["total_timesteps=4096", "resume=true", "agent.distill.shoppers=41"]), tmp_path)


def test_a_bad_distill_block_fails_before_anything_runs(tmp_path) -> None:
    from discountsim.experiments.job_config import JobConfigError
    from discountsim.experiments.train import train

    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        cfg = compose("train", overrides=[*TINY_TRAIN, "agent=ppo_distilled", "agent.distill.teacher=supervised"])
    with pytest.raises(JobConfigError, match=r"agent.distill.teacher.*oracle.*myopic_oracle"):
        train(cfg, tmp_path)
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        cfg = compose("train", overrides=[*TINY_TRAIN, "agent=ppo", "total_timesteps=0"])
    with pytest.raises(JobConfigError, match=r"total_timesteps: expected an integer >= 1 to train SB3 agent 'ppo'"):
        train(cfg, tmp_path)
    for agent, problem in (
        ("sac", "only PPO and A2C agents .* agent 'sac' is stable_baselines3.SAC"),
        ("recurrent_ppo", "only PPO and A2C agents"),
        ("supervised", "only PPO .* agent 'supervised' is not an SB3 agent"),
    ):
        with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
            cfg = compose("train", overrides=[*TINY_TRAIN, f"agent={agent}", "+agent.distill.shoppers=50"])
        with pytest.raises(JobConfigError, match=rf"agent\.distill: {problem}"):
            train(cfg, tmp_path)
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        cfg = compose("train", overrides=[*TINY_TRAIN, "agent=ppo_distilled", "agent.env.action_type=continuous"])
    with pytest.raises(JobConfigError, match=r"agent\.distill: the student needs discrete actions"):
        train(cfg, tmp_path)
    assert not list(tmp_path.iterdir())
