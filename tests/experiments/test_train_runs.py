"""A train run directory holds one run: finished runs are reported, not retrained; resume checks what it resumes.

Also: the timesteps trained are whole rollouts, said in the log and recorded in metrics.json, and a
run resumed from a checkpoint ends where an uninterrupted one does.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

import discountsim.experiments.train as train_module
import numpy as np
import pytest
from discountsim.agents import load_policy
from discountsim.agents.callbacks import SHOP_METRICS, ShopMetricsCallback
from discountsim.experiments.train import latest_checkpoint, train
from hydra import compose, initialize_config_dir

CONF = Path(__file__).resolve().parents[2] / "conf"
# PPO in rollouts of 16 shoppers x 16 steps = 256 timesteps; 600 asked -> 768 trained.
TINY = [
    "experiment=quick",
    "progress_bar=false",
    "agent.env.n_envs=16",
    "agent.algorithm.batch_size=64",
    "agent.algorithm.n_epochs=1",
    "env.horizon=4",
    "evaluation.n_shoppers=20",
    "evaluation.horizon=4",
    "evaluation.every=256",
    "total_timesteps=600",
    "checkpoint_every=300",
]
HAND_WRITTEN = ["experiment=quick", "agent=uniform", "evaluation.n_shoppers=20", "evaluation.horizon=4"]


def _cfg(overrides: list[str]):
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        return compose("train", overrides=overrides)


def _hashes(run: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(run.glob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished tiny PPO run (trained once for the module; tests work on copies)."""
    run = tmp_path_factory.mktemp("finished")
    train(_cfg(TINY), run)
    return run


@pytest.fixture
def finished_copy(finished, tmp_path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    return run


def test_the_final_metrics_are_the_evaluators_on_the_same_shoppers(finished) -> None:
    # The train job reuses its callback's no-discount and oracle runs; the numbers must be evaluate's.
    from discountsim.agents import evaluate

    saved = json.loads((finished / "metrics.json").read_text())
    fresh = evaluate(load_policy(finished / "model.zip"), "default", 20, 4, seed=12345, oracle=True).summary.iloc[0]
    for metric in ("profit", "incremental_profit", "uplift_captured", "oracle_share"):
        assert saved[metric] == pytest.approx(float(fresh[metric]), rel=1e-12), metric


def test_timesteps_are_rounded_up_to_whole_rollouts_said_and_recorded(finished) -> None:
    saved = json.loads((finished / "metrics.json").read_text())
    assert saved["timesteps"] == 768  # 600 asked, 3 rollouts of 256
    assert load_policy(finished / "model.zip").num_timesteps == 768
    assert json.loads((finished / "run.json").read_text())["total_timesteps"] == 600
    # The checkpoint sits on a rollout boundary: the first at or after 300 timesteps.
    assert latest_checkpoint(finished / "checkpoints")[1] == 512


def test_the_rounding_is_said_in_the_log(tmp_path, caplog) -> None:
    with caplog.at_level(logging.INFO):
        train(_cfg([*TINY, "total_timesteps=200"]), tmp_path)
    assert "ppo: total_timesteps 200 rounded up to 256: SB3 trains in whole rollouts of 256 timesteps" in caplog.text
    assert "ppo: trained 256 timesteps" in caplog.text
    assert json.loads((tmp_path / "metrics.json").read_text())["timesteps"] == 256


def test_resume_on_a_finished_run_reports_it_and_changes_nothing(finished_copy, caplog) -> None:
    before = _hashes(finished_copy)
    saved = json.loads((finished_copy / "metrics.json").read_text())
    cfg = _cfg([*TINY, "resume=true"])
    with caplog.at_level(logging.INFO):
        metrics = train(cfg, finished_copy)
    assert _hashes(finished_copy) == before  # byte-identical model.zip, metrics.json, run.json, checkpoints
    assert sorted(p.name for p in finished_copy.iterdir()) == [
        "checkpoints",
        "metrics.json",
        "model.zip",
        "run.json",
        "tensorboard",
    ]
    assert metrics == {k: saved[k] for k in SHOP_METRICS}
    assert f"{finished_copy} is complete: {finished_copy / 'model.zip'} holds 768 trained timesteps" in caplog.text
    assert "nothing changed" in caplog.text


def test_training_into_a_finished_run_is_refused(finished_copy) -> None:
    shutil.rmtree(finished_copy / "checkpoints")  # model.zip alone must be enough to refuse
    before = _hashes(finished_copy)
    with pytest.raises(FileExistsError) as error:
        train(_cfg(TINY), finished_copy)
    message = str(error.value)
    assert f"{finished_copy / 'model.zip'} already holds a trained model of 768 timesteps" in message
    assert "resume=true" in message and "hydra.run.dir=" in message
    assert _hashes(finished_copy) == before


def test_a_killed_run_without_metrics_is_finished_by_evaluating_only(finished_copy) -> None:
    (finished_copy / "metrics.json").unlink()
    model = (finished_copy / "model.zip").read_bytes()
    metrics = train(_cfg([*TINY, "resume=true"]), finished_copy)
    assert (finished_copy / "model.zip").read_bytes() == model  # not retrained
    saved = json.loads((finished_copy / "metrics.json").read_text())
    assert saved["timesteps"] == 768 and saved["profit"] == pytest.approx(metrics["profit"])


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("agent=a2c", "agent: the run holds 'ppo', this one asks for 'a2c'"),
        ("simulator=myopic", "simulator: the run holds 'default', this one asks for 'myopic'"),
        ("seed=3", "seed: the run holds 0, this one asks for 3"),
        ("total_timesteps=5000", "total_timesteps: the run holds 600, this one asks for 5000"),
        (
            "agent.algorithm.learning_rate=0.001",
            "settings.learning_rate: the run holds 0.0003, this one asks for 0.001",
        ),
        ("simulator.d_max=0.3", "simulator (its definition): the run holds"),
    ],
)
def test_resume_with_other_settings_fails_naming_them(finished_copy, override, expected) -> None:
    shutil.rmtree(finished_copy / "checkpoints")
    (finished_copy / "model.zip").unlink()  # an interrupted run: resumable, but only as itself
    before = _hashes(finished_copy)
    tiny = [o for o in TINY if not o.startswith("agent.algorithm.")] if override == "agent=a2c" else TINY
    with pytest.raises(ValueError, match=r"resume: .* holds another run") as error:
        train(_cfg([*tiny, "resume=true", override]), finished_copy)
    assert expected in str(error.value)
    assert "hydra.run.dir=" in str(error.value)
    if override == "agent=a2c":  # another agent: its own settings are not listed one by one
        assert "settings." not in str(error.value)
    assert _hashes(finished_copy) == before


def _killed_at_600(monkeypatch, cfg, run: Path) -> None:
    class Killed(ShopMetricsCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps >= 600:
                raise KeyboardInterrupt  # as if killed during the third rollout
            return super()._on_step()

    monkeypatch.setattr(train_module, "ShopMetricsCallback", Killed)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, run)
    monkeypatch.undo()


def test_a_resumed_run_ends_where_an_uninterrupted_one_does_and_is_reproducible(tmp_path, monkeypatch) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    _killed_at_600(monkeypatch, _cfg(TINY), first)
    assert latest_checkpoint(first / "checkpoints")[1] == 512
    assert not (first / "model.zip").exists()
    shutil.copytree(first, second)
    for run in (first, second):
        train(_cfg([*TINY, "resume=true"]), run)
    models = [load_policy(run / "model.zip") for run in (first, second)]
    assert [m.num_timesteps for m in models] == [768, 768]  # 512 + one whole rollout, as uninterrupted
    assert json.loads((first / "metrics.json").read_text())["timesteps"] == 768
    # Same checkpoint, same seed: the same resumed model.
    for a, b in zip(models[0].policy.state_dict().values(), models[1].policy.state_dict().values(), strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_a_fitted_policy_is_not_overwritten_and_resume_reports_it(tmp_path, caplog) -> None:
    train(_cfg(HAND_WRITTEN), tmp_path)
    before = _hashes(tmp_path)
    with pytest.raises(FileExistsError, match=r"policy\.json already holds a fitted policy.*resume=true"):
        train(_cfg(HAND_WRITTEN), tmp_path)
    with caplog.at_level(logging.INFO):
        train(_cfg([*HAND_WRITTEN, "resume=true"]), tmp_path)
    assert f"{tmp_path} is complete: {tmp_path / 'policy.json'} holds the fitted policy" in caplog.text
    assert _hashes(tmp_path) == before


def test_checkpoint_every_must_be_positive(tmp_path) -> None:
    with pytest.raises(ValueError, match="checkpoint_every: expected an integer >= 1, got 0"):
        train(_cfg([*TINY, "checkpoint_every=0"]), tmp_path)
    assert not list(tmp_path.iterdir())  # failed before writing anything


def test_an_off_policy_run_resumes_with_its_replay_buffer_from_a_rollout_boundary(tmp_path, monkeypatch) -> None:
    dqn = [
        "experiment=quick",
        "agent=dqn",
        "progress_bar=false",
        "agent.env.n_envs=8",  # rollouts of train_freq 1 x 8 shoppers
        "agent.algorithm.learning_starts=16",
        "agent.algorithm.batch_size=16",
        "agent.algorithm.buffer_size=500",
        "agent.algorithm.gradient_steps=1",
        "env.horizon=4",
        "evaluation.n_shoppers=20",
        "evaluation.horizon=4",
        "evaluation.every=64",
        "total_timesteps=200",
        "checkpoint_every=64",
    ]

    class Killed(ShopMetricsCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps >= 150:
                raise KeyboardInterrupt
            return super()._on_step()

    monkeypatch.setattr(train_module, "ShopMetricsCallback", Killed)
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(dqn), tmp_path)
    monkeypatch.undo()
    assert latest_checkpoint(tmp_path / "checkpoints")[1] == 128
    assert (tmp_path / "checkpoints" / "dqn_replay_buffer__128_steps.pkl").is_file()
    train(_cfg([*dqn, "resume=true"]), tmp_path)
    assert json.loads((tmp_path / "metrics.json").read_text())["timesteps"] == 200


def test_an_agent_trained_under_a_contact_cap_is_evaluated_under_it(tmp_path, monkeypatch) -> None:
    caps = []
    original = ShopMetricsCallback.__init__

    def spy(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        original(self, *args, **kwargs)
        caps.append(self.contact_cap)

    monkeypatch.setattr(ShopMetricsCallback, "__init__", spy)
    train(_cfg([*TINY, "evaluation.horizon=8", "+agent.env.contact_cap={max_offers:1,window:4}"]), tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["contact_cap_held"] == 1.0 and metrics["max_offers_in_window"] <= 1.0
    assert [(c.max_offers, c.window) for c in caps] == [(1, 4)]  # TensorBoard's shop/ scalars too
    with pytest.raises(Exception, match=r"agent\.env\.contact_cap\.max_offers: expected an integer >= 1, got -1"):
        train(_cfg([*TINY, "+agent.env.contact_cap={max_offers:-1}"]), tmp_path / "bad")


def test_a_lagrangian_budget_raises_its_multiplier_while_the_agent_overspends(tmp_path, monkeypatch) -> None:
    from discountsim.agents.callbacks import LagrangianBudgetCallback

    seen: list[LagrangianBudgetCallback] = []
    original = LagrangianBudgetCallback._on_training_start

    def spy(self):  # type: ignore[no-untyped-def]
        seen.append(self)
        original(self)

    monkeypatch.setattr(LagrangianBudgetCallback, "_on_training_start", spy)
    # Far below any spend: always violated. Rollouts of 256 timesteps; updates due at 256 and 512.
    budget = "+lagrangian={budget_per_shopper_week:0.001,dual_lr:0.5,every:256,kp:0.0}"
    train(_cfg([*TINY, budget]), tmp_path)
    (callback,) = seen
    steps = [h["multiplier"] for h in callback.history]
    assert [h["timesteps"] for h in callback.history] == [256.0, 512.0]
    assert steps == sorted(steps) and steps[0] > 0.0  # the dual variable rises while the agent overspends
    for h, before in zip(callback.history, [0.0, *steps[:-1]], strict=True):
        assert h["multiplier"] == pytest.approx(before + 0.5 * (h["spend"] / 0.001 - 1.0))
    assert callback.spend() > 0.001  # the trained policy's deterministic spend, still over budget
    env = callback.training_env
    assert env.get_attr("cost_multiplier", indices=[0])[0] == steps[-1]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["budget_per_shopper_week"] == 0.001
    assert metrics["over_budget"] == pytest.approx(metrics["spend_per_shopper_week"] / 0.001 - 1.0)
    with pytest.raises(Exception, match=r"lagrangian: prices spend into an SB3 agent's training reward"):
        train(_cfg([*HAND_WRITTEN, budget]), tmp_path / "hand")
    # The proportional term answers the current violation at once: lam = I + kp * e.
    pid = LagrangianBudgetCallback(1.0, dual_lr=0.1, kp=2.0)
    pid._measure = lambda: (3.0, 0.0)  # type: ignore[method-assign]  # 200 % over
    pid.init_callback(callback.model)
    pid.on_schedule()
    assert (pid.integral, pid.multiplier) == (pytest.approx(0.2), pytest.approx(0.2 + 2.0 * 2.0))
    pid._measure = lambda: (0.5, 0.0)  # type: ignore[method-assign]  # 50 % under: the proportional term pulls lam down now
    pid.on_schedule()
    assert pid.integral == pytest.approx(0.15) and pid.multiplier == 0.0


def test_the_best_feasible_iterate_is_restored_at_the_end() -> None:
    import torch
    from discountsim.agents.callbacks import LagrangianBudgetCallback
    from discountsim.agents.sb3_agents import make_model
    from stable_baselines3.common.logger import Logger

    model = make_model("ppo", hyperparams={"n_steps": 4, "batch_size": 16}, env={"n_envs": 4}, horizon=4)
    model.set_logger(Logger(folder=None, output_formats=[]))
    weights = {k: v.clone() for k, v in model.policy.state_dict().items()}
    callback = LagrangianBudgetCallback(1.0, every=256)
    callback.init_callback(model)
    # (spend, profit) per update: the second is feasible and best; the third earns more but overspends.
    measured = iter([(2.0, 50.0), (0.9, 40.0), (1.5, 90.0), (0.5, 10.0)])
    callback._measure = lambda: next(measured)  # type: ignore[method-assign]
    for step in range(4):
        callback.num_timesteps = 256 * (step + 1)
        if step == 1:  # the iterate kept: these weights
            kept = {k: v.clone() for k, v in model.policy.state_dict().items()}
        else:  # other iterates: perturbed weights
            model.policy.load_state_dict({k: v + step for k, v in weights.items()})
        callback.on_schedule()
    assert callback.best == {"timesteps": 512.0, "spend": 0.9, "profit": 40.0}
    callback._on_training_end()
    for name, value in model.policy.state_dict().items():
        assert torch.equal(value, kept[name]), name
    # Nothing feasible (a margin no iterate meets): the last iterate stays.
    strict = LagrangianBudgetCallback(1.0, every=256, feasibility_margin=0.6)
    strict.init_callback(model)
    strict._measure = lambda: (0.5, 10.0)  # type: ignore[method-assign]
    strict.on_schedule()
    assert strict.best is None
    with pytest.raises(ValueError, match="feasibility_margin"):
        LagrangianBudgetCallback(1.0, feasibility_margin=1.0)


def test_a_resume_continues_the_budget_multiplier_and_refuses_another_budget(tmp_path, monkeypatch) -> None:
    from discountsim.agents.callbacks import LagrangianBudgetCallback

    budget = "+lagrangian={budget_per_shopper_week:0.001,every:256}"
    train(_cfg([*TINY, budget]), tmp_path)
    saved = json.loads((tmp_path / "checkpoints" / "lagrangian.json").read_text())
    assert saved["multiplier"] > 0.0 and saved["timesteps"] == 512
    (tmp_path / "model.zip").unlink()  # killed after the last checkpoint: resume from it
    (tmp_path / "metrics.json").unlink()
    with pytest.raises(Exception, match=r"lagrangian\.budget_per_shopper_week"):
        train(_cfg([*TINY, "+lagrangian={budget_per_shopper_week:0.5,every:256}", "resume=true"]), tmp_path)
    starts = []
    original = LagrangianBudgetCallback._on_training_start

    def spy(self):  # type: ignore[no-untyped-def]
        original(self)
        starts.append(self.multiplier)

    monkeypatch.setattr(LagrangianBudgetCallback, "_on_training_start", spy)
    train(_cfg([*TINY, budget, "resume=true"]), tmp_path)
    assert starts == [saved["multiplier"]]
