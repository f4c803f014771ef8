"""The disparity Lagrangian: offer rates, the per-group offer prices, the dual update and the train job's option."""

from __future__ import annotations

import json

import numpy as np
import pytest
from discountsim.agents.disparity_lagrangian import LagrangianDisparityCallback, offer_rates
from discountsim.agents.evaluation import offer_disparity
from discountsim.agents.sb3_agents import make_model
from discountsim.simulators import load_scenario, rollout, spawn_keys
from discountsim.simulators.errors import DiscountSimInputError
from stable_baselines3.common.logger import Logger

from tests.conftest import scenario_with
from tests.experiments.test_train_runs import HAND_WRITTEN, TINY, _cfg


def test_offer_rates_and_disparity_match_a_hand_count() -> None:
    params = load_scenario("default")
    keys = spawn_keys(np.random.default_rng(1), 400)
    # Offer only to the north region (level 0 of the first attribute), in week 0.
    totals = rollout(
        params,
        keys,
        lambda obs, s: np.where((s.traits.attributes[:, 0] == 0) & (s.t == 0), 0.1, 0.0),
        3,
    )
    rates = offer_rates(params, totals)
    np.testing.assert_array_equal(rates["region"], [1.0, 0.0, 0.0, 0.0])
    north = totals.attributes[:, 0] == 0
    for level in range(4):
        in_level = totals.attributes[:, 1] == level
        assert rates["age_band"][level] == pytest.approx(north[in_level].mean())
    assert offer_disparity(rates["region"]) == 0.0
    assert offer_disparity(np.array([0.4, np.nan, 0.5])) == pytest.approx(0.8)  # an empty level does not count
    assert offer_disparity(np.zeros(3)) == 1.0  # nobody offered: no disparity


def _callback(**settings) -> LagrangianDisparityCallback:
    callback = LagrangianDisparityCallback(floor=0.8, n_shoppers=200, horizon=4, **settings)
    model = make_model("ppo", "default", env={"n_envs": 4}, hyperparams={"n_steps": 8, "batch_size": 32})
    model.set_logger(Logger(None, []))
    callback.init_callback(model)
    return callback


def test_an_under_offered_level_is_priced_up_and_the_top_level_down() -> None:
    callback = _callback(dual_lr=1.0, kp=0.0)
    rates = {"region": np.array([0.5, 0.2, 0.5, 0.5]), "age_band": np.array([0.5, 0.5, 0.5, 0.45])}
    callback.measure = lambda: (rates, 100.0)  # type: ignore[method-assign]
    callback.on_schedule()
    # region south at 0.2 / 0.5 = 0.4 of the top: e = 0.8 - 0.4 = 0.4; every other level is above the floor.
    np.testing.assert_allclose(callback.multipliers, [0.0, 0.4, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    shares = callback._level_shares()
    prices = callback.prices
    assert prices[1] == pytest.approx(0.4 / shares[1])  # mu_g / s_g for the under-offered level
    assert prices[0] == pytest.approx(-0.8 * 0.4 / shares[0])  # the top level (the first of the largest)
    np.testing.assert_array_equal(prices[[2, 3, 4, 5, 6, 7]], 0.0)
    assert np.array_equal(callback.training_env.get_attr("offer_bonus")[0], prices)
    assert callback.best is None  # 0.4 < 0.8: not feasible
    # Once every level is within the floor, the violation is negative and the multiplier decays.
    rates = {"region": np.array([0.5, 0.45, 0.5, 0.5]), "age_band": np.full(4, 0.5)}
    callback.measure = lambda: (rates, 90.0)  # type: ignore[method-assign]
    callback.on_schedule()
    assert callback.multipliers[1] == pytest.approx(0.4 + (0.8 - 0.9))
    assert callback.best is not None and callback.best["profit"] == 90.0 and callback.best["region"] == 0.9


def test_bad_settings_and_scenarios_without_attributes_are_refused() -> None:
    with pytest.raises(DiscountSimInputError, match=r"fairness_lagrangian\.floor: expected a number in \(0, 1\]"):
        LagrangianDisparityCallback(floor=1.5)
    with pytest.raises(DiscountSimInputError, match=r"fairness_lagrangian\.dual_lr: expected a number > 0"):
        LagrangianDisparityCallback(dual_lr=float("nan"))
    bare = scenario_with(segments={name: {"attributes": None} for name in load_scenario("default").segments})
    with pytest.raises(DiscountSimInputError, match="has no observable attributes"):
        LagrangianDisparityCallback(scenario=bare)


def test_the_train_job_prices_offers_by_group_and_reports_the_floor(tmp_path) -> None:
    fair = "+fairness_lagrangian={floor:0.8,every:256}"
    train_module = pytest.importorskip("discountsim.experiments.train")
    train_module.train(_cfg([*TINY, fair, "+simulator.observe_attributes=true"]), tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["disparity_floor"] == 0.8
    assert metrics["disparity_floor_met"] == float(metrics["offer_disparity"] >= 0.8)
    saved = json.loads((tmp_path / "checkpoints" / "disparity_lagrangian.json").read_text())
    assert len(saved["multipliers"]) == 8 and saved["timesteps"] >= 256
    assert json.loads((tmp_path / "run.json").read_text())["fairness_lagrangian"]["floor"] == 0.8
    with pytest.raises(DiscountSimInputError, match="fairness_lagrangian: prices offers into an SB3 agent"):
        train_module.train(_cfg([*HAND_WRITTEN, fair]), tmp_path / "hand")
    with pytest.raises(Exception, match=r"fairness_lagrangian\.floor: expected a number in \(0, 1\]"):
        train_module.train(_cfg([*TINY, "+fairness_lagrangian={floor:0}"]), tmp_path / "zero")


def test_a_corrupt_state_file_is_a_user_error_naming_it(tmp_path) -> None:
    from discountsim.agents.callbacks import LagrangianBudgetCallback

    state = tmp_path / "state.json"
    state.write_text('{"integral": [1, 2]')  # cut off mid-write by hand
    with pytest.raises(DiscountSimInputError, match=r"state\.json: not this run's disparity duals .*delete it"):
        _callback(state_file=state)._on_training_start()
    budget = LagrangianBudgetCallback(1.0, scenario="default", state_file=state)
    budget.init_callback(_callback().model)
    with pytest.raises(DiscountSimInputError, match=r"state\.json: not a Lagrangian state .*delete it to restart"):
        budget._on_training_start()
    state.write_text('{"integral": [0, 0], "multipliers": [0, 0], "prices": [0, 0]}')  # another scenario's levels
    with pytest.raises(DiscountSimInputError, match="expected 8 finite values per entry"):
        _callback(state_file=state)._on_training_start()
