"""The twin policy: its online filter against the calibration likelihood, save/load, and its errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from discountsim.agents import evaluate, load_policy, make_policy, save_policy
from discountsim.agents.twin import TwinFilter
from discountsim.simulators import ScenarioError, ShopperSimulator, load_scenario
from discountsim.simulators.calibration.likelihood import Calendar, Fixed, PanelTensors, as_tensors, forward
from discountsim.simulators.calibration.panel import Panel
from discountsim.simulators.calibration.parameters import natural_from_scenario
from discountsim.simulators.config_schema import to_dict

from tests.simulators.test_calibration import _exact


def test_the_twins_filter_is_the_calibration_likelihoods_posterior() -> None:
    """Two implementations of Bayes' rule over segments (NumPy online, torch batch) agree on the same histories."""
    params = load_scenario(_exact(churn=False))
    n, periods = 200, 12
    sim = ShopperSimulator(params, n, 5)
    obs = sim.reset()
    rng = np.random.default_rng(1)
    twin_filter = TwinFilter(params, obs)
    evidence = twin_filter.history_evidence(obs)
    twin_filter.log_weight -= evidence  # compare on the log's weeks alone
    discount, bought = np.zeros((n, periods)), np.zeros((n, periods))
    week = np.arange(periods) % 52
    from discountsim.simulators import dynamics

    season = dynamics.season_by_week(params.seasonality)[week]
    for t in range(periods):
        d = rng.choice([0.0, 0.1, 0.3], size=n)
        outcome = sim.step(d)
        discount[:, t], bought[:, t] = outcome.discount, outcome.purchased
        twin_filter.season = np.full(n, season[t])
        twin_filter.update(outcome.discount, outcome.purchased.astype(float))
    panel = Panel(
        discount,
        bought,
        np.zeros((n, periods)),
        np.ones((n, periods), bool),
        np.zeros(n, np.int64),
        params.category_names,
        0,
        np.arange(n).astype(object),
    )
    nat = as_tensors(natural_from_scenario(params, params.category_names))
    fwd = forward(nat, PanelTensors.of(panel), Calendar.of(params, 0, periods), Fixed.of(params))
    expected = torch.softmax(torch.log(nat["share"]) + fwd.purchase_loglik, dim=1).numpy()
    got = np.exp(twin_filter.log_weight)
    np.testing.assert_allclose(got / got.sum(axis=1, keepdims=True), expected, rtol=1e-8, atol=1e-10)


def test_twin_is_evaluated_saved_and_loaded_like_any_policy(tmp_path) -> None:
    twin = make_policy("twin", scenario="default", model="default", decision_levels=6)
    first = evaluate(twin, "default", n_shoppers=40, horizon=6, seed=2)
    path = save_policy(twin, tmp_path / "twin.json")
    again = evaluate(load_policy(path), "default", n_shoppers=40, horizon=6, seed=2)
    assert first.summary["profit"].iloc[0] == pytest.approx(again.summary["profit"].iloc[0], rel=0, abs=0)
    assert 0 <= first.summary["offer_rate"].iloc[0] <= 1 if "offer_rate" in first.summary else True
    discounts = twin.discounts(np.zeros((3, twin.n_features), dtype=np.float32))
    assert set(np.round(discounts, 6)) <= set(np.round(np.linspace(0, 0.5, 6), 6))


def test_twin_predict_carries_its_filter_as_a_recurrent_state() -> None:
    twin = make_policy("twin", scenario="default", model="default")
    sim = ShopperSimulator("default", 5, 0)
    obs = sim.reset()
    actions, state = twin.predict(obs, state=None, episode_start=np.ones(5, bool))
    assert actions.shape == (5, 1) and np.all(np.abs(actions) <= 1)
    sim.step(twin.discounts(obs))
    actions, state2 = twin.predict(sim.observe(), state=state, episode_start=np.zeros(5, bool))
    assert state2 is state


def test_twin_refuses_a_model_whose_categories_differ() -> None:
    other = to_dict(load_scenario("default"))
    other["catalogue"] = {"all": {"share": 1.0, "margin": 0.3, "basket_scale": 1.0}}
    with pytest.raises(ValueError, match="model: its categories"):
        make_policy("twin", scenario="default", model=other)
    with pytest.raises(ScenarioError, match=r"model: scenario file not found: nope\.yaml"):
        make_policy("twin", scenario="default", model="nope.yaml")
    with pytest.raises(ValueError, match="model: the calibrated scenario is required"):
        make_policy("twin", scenario="default")
