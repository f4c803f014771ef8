"""The TensorBoard callback writes the business scalars and an HParams entry."""

from __future__ import annotations

import pytest
from discountsim.agents import make_model
from discountsim.agents.callbacks import SHOP_METRICS, ShopMetricsCallback
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def test_shop_scalars_and_hparams_reach_tensorboard(tmp_path) -> None:
    model = make_model(
        "ppo",
        hyperparams={"n_steps": 4, "batch_size": 16, "n_epochs": 1},
        env={"n_envs": 4},
        tensorboard_log=str(tmp_path),
        horizon=4,
    )
    callback = ShopMetricsCallback("default", eval_every=16, n_shoppers=10, horizon=4, hparams={"lr": 3e-4})
    model.learn(48, callback=callback)
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    events = EventAccumulator(str(run), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {f"shop/{m}" for m in SHOP_METRICS} <= tags
    assert len(events.Scalars("shop/profit")) >= 2  # periodic evaluations plus the final one
    assert events.Scalars("shop/profit")[-1].value == pytest.approx(callback.last["profit"], rel=1e-6)
    plugins = events.PluginTagToContent("hparams")
    assert plugins, "no HParams entry written"


def test_bad_frequency_is_rejected() -> None:
    with pytest.raises(ValueError, match="eval_every: expected a positive number of timesteps, got 0"):
        ShopMetricsCallback(eval_every=0)


def test_a_final_evaluation_is_not_repeated_when_the_last_step_just_evaluated() -> None:
    model = make_model("a2c", hyperparams={"n_steps": 4}, env={"n_envs": 4}, horizon=4)
    callback = ShopMetricsCallback("default", eval_every=32, n_shoppers=10, horizon=4)
    model.learn(64, callback=callback)  # evaluations due at 32 and 64; training ends at 64
    assert [h["timesteps"] for h in callback.history] == [32.0, 64.0]


def test_uplift_captured_is_logged_against_an_oracle_run_once(monkeypatch) -> None:
    from discountsim.agents import evaluation
    from discountsim.agents.oracle import OraclePolicy

    planned: list[int] = []
    act = OraclePolicy.act_on_state

    def counting(self, params, state, horizon):  # type: ignore[no-untyped-def]
        planned.append(horizon)
        return act(self, params, state, horizon)

    monkeypatch.setattr(OraclePolicy, "act_on_state", counting)
    model = make_model("a2c", hyperparams={"n_steps": 4}, env={"n_envs": 4}, horizon=4)
    callback = ShopMetricsCallback("default", eval_every=16, n_shoppers=10, horizon=4)
    model.learn(64, callback=callback)
    assert len(callback.history) >= 3
    assert len(planned) == 4  # the oracle's one run: 4 periods, whatever the number of evaluations
    # Each point is the evaluator's paired share against that one oracle run, on the same shoppers.
    lineup = evaluation.evaluate_lineup({"a2c": model}, "default", 10, 4, 12345)
    final = lineup.summary.iloc[0]
    assert callback.last["uplift_captured"] == pytest.approx(final["uplift_captured"], rel=1e-9)
    assert callback.last["incremental_profit"] == pytest.approx(final["incremental_profit"], rel=1e-9)


def test_without_the_oracle_uplift_captured_is_not_logged(tmp_path) -> None:
    model = make_model("a2c", hyperparams={"n_steps": 4}, env={"n_envs": 4}, horizon=4, tensorboard_log=str(tmp_path))
    callback = ShopMetricsCallback("default", eval_every=16, n_shoppers=10, horizon=4, oracle=False)
    model.learn(32, callback=callback)
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    events = EventAccumulator(str(run), size_guidance={"scalars": 0})
    events.Reload()
    assert "shop/profit" in events.Tags()["scalars"]
    assert "shop/uplift_captured" not in events.Tags()["scalars"]
