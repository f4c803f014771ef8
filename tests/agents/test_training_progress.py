"""Training shows progress honestly: a bar that ends at its total on a terminal, log lines otherwise."""

from __future__ import annotations

import io
import logging
import re

from discountsim.agents import make_model
from discountsim.agents.callbacks import ProgressCallback, ShopMetricsCallback
from discountsim.agents.sb3_agents import rollout_size, whole_rollouts
from rich.console import Console

A2C = {"hyperparams": {"n_steps": 8}, "env": {"n_envs": 4}, "horizon": 4}  # rollouts of 32 timesteps


def test_whole_rollouts_are_what_sb3_trains() -> None:
    model = make_model("a2c", **A2C)
    assert rollout_size(model) == 32
    assert [whole_rollouts(model, t) for t in (1, 32, 33, 100)] == [32, 32, 64, 128]
    model.learn(100)
    assert model.num_timesteps == 128  # SB3 itself overshoots 100 to the next whole rollout
    dqn = make_model("dqn", hyperparams={"train_freq": 2, "learning_starts": 0}, env={"n_envs": 3}, horizon=4)
    assert rollout_size(dqn) == 6 and whole_rollouts(dqn, 10) == 12


def test_the_bar_ends_at_its_total_with_label_and_eta(caplog) -> None:
    model = make_model("a2c", **A2C)
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120)
    total = whole_rollouts(model, 100)
    with caplog.at_level(logging.INFO):
        model.learn(total, callback=ProgressCallback("a2c", total, console=console))
    text = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", screen.getvalue())
    assert "a2c" in text and "128/128 timesteps" in text and "ETA" in text
    counts = [int(n.replace(",", "")) for n in re.findall(r"([\d,]+)/128 timesteps", text)]
    assert counts and max(counts) == 128  # never beyond its total
    assert "a2c: training to 128 timesteps" in caplog.text and "a2c: trained 128 timesteps" in caplog.text


def test_no_bar_when_stdout_is_not_a_terminal(caplog) -> None:
    screen = io.StringIO()
    callback = ProgressCallback("a2c", 64, console=Console(file=screen))  # bar=None: a bar only on a terminal
    assert callback.bar is False
    model = make_model("a2c", **A2C)
    with caplog.at_level(logging.INFO):
        model.learn(64, callback=callback)
    assert screen.getvalue() == ""
    assert "a2c: trained 64 timesteps" in caplog.text


def test_learning_curve_points_stay_on_multiples_of_eval_every_after_a_resume() -> None:
    model = make_model("a2c", hyperparams={"n_steps": 4}, env={"n_envs": 4}, horizon=4)  # rollouts of 16
    model.learn(48)  # as if a run were stopped at 48 timesteps
    callback = ShopMetricsCallback("default", eval_every=64, n_shoppers=10, horizon=4)
    model.learn(160 - 48, callback=callback, reset_num_timesteps=False)
    assert [h["timesteps"] for h in callback.history] == [64.0, 128.0, 160.0]  # not 48 + 64 = 112
