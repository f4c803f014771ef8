"""Calibration: the likelihood against the simulator and hand-computed values, the fit, identification."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from discountsim.simulators import ShopperSimulator, load_scenario
from discountsim.simulators.calibration import calibrate
from discountsim.simulators.calibration.fit import Layout, interior, shards_of, total_loglik
from discountsim.simulators.calibration.likelihood import (
    Calendar,
    Fixed,
    PanelTensors,
    as_tensors,
    basket_loglik,
    forward,
    mixture_loglik,
)
from discountsim.simulators.calibration.panel import Panel, build_panel
from discountsim.simulators.calibration.parameters import (
    clip_to_schema,
    natural_from_scenario,
    scenario_from_natural,
    season_coefficients,
    season_shape,
)
from discountsim.simulators.calibration.source import held_out_mask
from discountsim.simulators.config_schema import to_dict
from discountsim.simulators.errors import DiscountSimInputError
from scipy.stats import multivariate_normal


def _exact(churn: bool = True, segments: list[str] | None = None) -> dict:
    """The default scenario with every within-segment spread and the intent shock off: the model family exactly."""
    d = to_dict(load_scenario("default"))
    if segments:
        d["segments"] = {k: v for k, v in d["segments"].items() if k in segments}
        total = sum(s["share"] for s in d["segments"].values())
        for s in d["segments"].values():
            s["share"] /= total
    for seg in d["segments"].values():
        for key, value in seg.items():
            if isinstance(value, dict) and "sd" in value and key != "basket_value":
                value["sd"] = 0.0
    d["behaviour"]["intent_shock_sd"] = 0.0
    d["dynamics"]["churn"] = churn
    return d


def _simulate(params, n: int, periods: int, seed: int = 3):
    sim = ShopperSimulator(params, n, seed)
    sim.reset()
    rng = np.random.default_rng(seed)
    shape = (n, periods)
    discount, bought, basket, p_buy = np.zeros(shape), np.zeros(shape), np.zeros(shape), np.zeros(shape)
    for t in range(periods):
        outcome = sim.step(rng.choice([0.0, 0.1, 0.2, 0.3], size=n))
        discount[:, t], bought[:, t] = outcome.discount, outcome.purchased
        basket[:, t], p_buy[:, t] = outcome.basket_value, outcome.purchase_probability
    cats = params.category_names
    panel = Panel(
        discount,
        bought,
        basket,
        np.ones(shape, bool),
        sim.state.traits.category.astype(np.int64),
        cats,
        0,
        np.arange(n).astype(object),
    )
    return panel, p_buy, sim.state.traits.segment.astype(int)


def test_rebuilt_state_gives_the_simulators_purchase_probability_exactly() -> None:
    """Reference, fatigue and stock rebuilt from the log by the likelihood equal the simulator's: same P(buy)."""
    params = load_scenario(_exact(churn=False))
    panel, p_buy, segment = _simulate(params, 300, 20)
    natural = natural_from_scenario(params, params.category_names)
    fwd = forward(as_tensors(natural), PanelTensors.of(panel), Calendar.of(params, 0, 20), Fixed.of(params), True)
    mine = fwd.predicted.numpy()[np.arange(300), :, segment]
    np.testing.assert_allclose(mine, p_buy, rtol=0, atol=1e-9)  # season via its cos/sin basis: rounding only


def test_one_shopper_two_weeks_against_hand_computation() -> None:
    """K = 1: week 1 offer 0.2 and a purchase, week 2 no offer and none; churn hazard between the weeks."""
    params = load_scenario(_exact(segments=["occasional"]))
    panel = Panel(
        np.array([[0.2, 0.0]]),
        np.array([[1.0, 0.0]]),
        np.array([[50.0, 0.0]]),
        np.ones((1, 2), bool),
        np.array([0]),
        params.category_names,
        0,
        np.array(["x"], dtype=object),
    )
    nat = natural_from_scenario(params, params.category_names)
    s = params.segments["occasional"]
    b = params.behaviour
    season = params.seasonality.amplitude * np.cos(2 * np.pi * (np.arange(2) - params.seasonality.peak_week) / 52)
    season += sum(
        h.uplift * np.exp(-0.5 * (min(abs(w - h.week), 52 - abs(w - h.week)) / h.width) ** 2)
        for h in params.seasonality.holidays
        for w in [0]
    ) * np.array([1, 0])
    season[1] += sum(
        h.uplift * np.exp(-0.5 * (min(abs(1 - h.week), 52 - abs(1 - h.week)) / h.width) ** 2)
        for h in params.seasonality.holidays
    )
    r0 = s.initial_reference
    u1 = s.intent.mean + season[0] + s.discount_sensitivity.mean * 0.2 + s.gain_weight.mean * max(0.2 - r0, 0)
    p1 = 1 / (1 + math.exp(-u1))
    r1 = s.reference_memory * r0 + (1 - s.reference_memory) * 0.2
    f1 = 1.0
    st1 = s.forward_buying.mean * 0.2
    u2 = (
        s.intent.mean
        + season[1]
        - s.loss_weight.mean * r1
        - s.fatigue_sensitivity.mean * f1
        - s.stock_sensitivity.mean * st1
    )
    p2 = 1 / (1 + math.exp(-u2))
    sat0 = 1 / (1 + math.exp(-s.intent.mean))
    q = 1 / (
        1
        + math.exp(
            -(
                math.log(s.churn_rate / (1 - s.churn_rate))
                + b.recency_churn * math.log1p(0.0)
                + s.fatigue_churn * 0.0
                + s.offer_churn * 1.0
                - b.satisfaction_churn * sat0
            )
        )
    )
    expected = math.log(p1) + math.log((1 - q) * (1 - p2) + q)
    fwd = forward(as_tensors(nat), PanelTensors.of(panel), Calendar.of(params, 0, 2), Fixed.of(params))
    assert float(fwd.purchase_loglik[0, 0]) == pytest.approx(expected, rel=1e-10)


def test_basket_density_is_the_compound_symmetric_normal() -> None:
    """Three baskets of one shopper: the closed form equals scipy's multivariate normal with a shared effect."""
    params = load_scenario(_exact(segments=["loyal_regular"]))
    cats = params.category_names
    baskets = np.array([[60.0, 0.0, 1.0, 45.0]])  # a basket of exactly 1: log 0, still a basket
    discount = np.array([[0.0, 0.1, 0.2, 0.0]])
    panel = Panel(
        discount,
        (baskets > 0).astype(float),
        baskets,
        np.ones((1, 4), bool),
        np.array([1]),
        cats,
        0,
        np.array(["x"], dtype=object),
    )
    nat = natural_from_scenario(params, cats)
    got = float(basket_loglik(as_tensors(nat), PanelTensors.of(panel))[0, 0])
    sd_v, sd_e = nat["basket_sd"][0], nat["basket_noise_sd"]
    mu = nat["log_basket_value"][0] - sd_v**2 / 2 - sd_e**2 / 2 + nat["category_log_scale"][1]
    logs = np.log([60.0, 1.0, 45.0])
    means = mu + np.log1p(nat["forward_buying"][0] * np.array([0.0, 0.2, 0.0]))
    cov = sd_e**2 * np.eye(3) + sd_v**2 * np.ones((3, 3))
    expected = multivariate_normal(means, cov).logpdf(logs) - logs.sum()
    assert got == pytest.approx(expected, rel=1e-10)


def test_shards_give_the_full_batch_likelihood_and_gradient() -> None:
    params = load_scenario(_exact())
    panel, _, _ = _simulate(params, 120, 8)
    nat = natural_from_scenario(params, params.category_names)
    layout = Layout({k: int(np.atleast_1d(v).size) for k, v in nat.items()})
    cal, fixed, data = Calendar.of(params, 0, 8), Fixed.of(params), PanelTensors.of(panel)
    grads = []
    for size in (120, 7):
        theta = torch.tensor(layout.pack(nat), requires_grad=True)
        value = total_loglik(layout, theta, shards_of(data, size), cal, fixed)
        value.backward()
        grads.append((float(value.detach()), theta.grad.numpy().copy()))
    assert grads[0][0] == pytest.approx(grads[1][0], rel=1e-12)
    np.testing.assert_allclose(grads[0][1], grads[1][1], rtol=1e-9, atol=1e-9)


def test_scenario_round_trip_and_season_shape() -> None:
    params = load_scenario(_exact())
    cats = params.category_names
    nat = natural_from_scenario(params, cats)
    shares = np.array([c.share for c in params.catalogue.values()])
    rebuilt = load_scenario(scenario_from_natural(nat, params, cats, shares, "twin_of_default", 0))
    again = natural_from_scenario(rebuilt, cats)
    order = np.argsort(-nat["share"], kind="stable")
    for key in ("intent", "discount_sensitivity", "loss_weight", "reference_memory", "churn_logit", "log_basket_value"):
        np.testing.assert_allclose(again[key], nat[key][order], rtol=1e-5, atol=1e-5)
    assert rebuilt.category_names == params.category_names  # the base's order: observation layouts match
    assert season_shape(*season_coefficients(0.3, 47.5)) == pytest.approx((0.3, 47.5))


def _log_frame(params, n: int, periods: int, offers: bool, seed: int = 1):
    from discountsim.simulators import generate_behaviour_log
    from discountsim.simulators.behaviour_log import RandomGridLoggingPolicy
    from discountsim.simulators.shop_log import to_shop_log, validate_shop_log

    levels = (0.0, 0.1, 0.2, 0.3) if offers else (0.0,)
    frame = to_shop_log(generate_behaviour_log(params, RandomGridLoggingPolicy(levels, seed=seed), n, periods, seed))
    return validate_shop_log(frame)[0]


def test_fit_recovers_a_one_segment_truth_and_scores_held_out_shoppers() -> None:
    params = load_scenario(_exact(churn=False, segments=["occasional"]))
    frame = _log_frame(params, 600, 16, offers=True)
    cal = calibrate(frame, params, segments=1, held_out=0.2, max_iter=150, progress=lambda _: None)
    assert cal.natural["intent"][0] == pytest.approx(-2.7, abs=0.25)
    assert cal.natural["discount_sensitivity"][0] == pytest.approx(5.0, abs=1.5)
    assert 90 <= cal.held_out.n_shoppers <= 150 and cal.n_fit + cal.held_out.n_shoppers == 600
    assert len(cal.held_out.deciles) == 10
    deciles = cal.held_out.deciles
    assert (deciles["predicted"].between(0, 1)).all() and deciles["predicted"].is_monotonic_increasing
    assert load_scenario(cal.scenario).name == "calibrated"


def test_a_log_without_offers_identifies_no_response_to_discounts() -> None:
    params = load_scenario(_exact(churn=False, segments=["occasional"]))
    frame = _log_frame(params, 200, 10, offers=False)
    cal = calibrate(frame, params, segments=1, max_iter=60, progress=lambda _: None)
    kept = {name for name, *_ in cal.not_identified}
    assert {"discount_sensitivity", "gain_weight", "loss_weight", "reference_memory", "forward_buying"} <= kept
    assert cal.params.segments["segment_1"].discount_sensitivity.mean == pytest.approx(5.0)  # the base's value
    assert any("no offers" in w for w in cal.warnings)


def test_a_log_of_fewer_than_fifty_shoppers_is_refused() -> None:
    params = load_scenario(_exact(churn=False, segments=["occasional"]))
    with pytest.raises(DiscountSimInputError, match="at least 50"):
        build_panel(_log_frame(params, 40, 4, offers=True))


def test_held_out_split_depends_on_the_id_and_seed_alone() -> None:
    ids = np.array([f"{i:032x}" for i in range(4000)], dtype=object)
    mask = held_out_mask(ids, 0.2, 7)
    assert 0.17 < mask.mean() < 0.23
    np.testing.assert_array_equal(held_out_mask(ids, 0.2, 7), mask)  # seeded
    assert not np.array_equal(held_out_mask(ids, 0.2, 8), mask)
    # A shopper's fate does not depend on which file or shard it sits in, nor on the others.
    order = np.random.default_rng(0).permutation(ids.size)
    np.testing.assert_array_equal(held_out_mask(ids[order], 0.2, 7), mask[order])
    np.testing.assert_array_equal(held_out_mask(ids[:10], 0.2, 7), mask[:10])
    assert not held_out_mask(ids, 0.0, 7).any()


def test_mixture_likelihood_is_the_log_of_the_share_weighted_sum() -> None:
    params = load_scenario(_exact())
    panel, _, _ = _simulate(params, 30, 6)
    nat = as_tensors(natural_from_scenario(params, params.category_names))
    fwd = forward(nat, PanelTensors.of(panel), Calendar.of(params, 0, 6), Fixed.of(params))
    expected = np.log((nat["share"].numpy() * np.exp(fwd.purchase_loglik.numpy() + fwd.basket_loglik.numpy())).sum(1))
    np.testing.assert_allclose(mixture_loglik(nat, fwd).numpy(), expected, rtol=1e-10)


def test_a_fit_with_nobody_held_out_is_refused_by_name() -> None:
    params = load_scenario(_exact(churn=False, segments=["occasional"]))
    frame = _log_frame(params, 120, 4, offers=True)
    with pytest.raises(DiscountSimInputError, match="held_out: holds out 0 shoppers"):
        calibrate(frame, params, segments=1, held_out=0.0, progress=lambda _: None)


def test_estimates_a_scenario_cannot_hold_are_written_at_the_edge_and_reported() -> None:
    params = load_scenario(_exact())
    nat = natural_from_scenario(params, params.category_names)
    nat["recency_churn"] = np.array(329.6)
    nat["intent"] = nat["intent"].copy()
    nat["intent"][0] = -35.0
    shares = np.array([c.share for c in params.catalogue.values()])
    scenario = scenario_from_natural(nat, params, params.category_names, shares, "edge", 0)
    clipped = clip_to_schema(scenario)
    assert scenario["behaviour"]["recency_churn"] == 10.0
    assert any(c.startswith("behaviour.recency_churn = 329.6") for c in clipped)
    assert any(".intent.mean = -35" in c for c in clipped) and len(clipped) == 2
    load_scenario(scenario)  # it builds


def test_a_value_whose_base_is_at_its_bound_is_still_estimated() -> None:
    # The base (occasional shoppers) has no offer churn; the log's shoppers (sleeping dogs) leave after
    # offers. Softplus' slope vanishes at 0, so a fit started at the base's 0 could never move: the
    # start is moved inside the range (fit.interior) and the estimate must leave the bound.
    base = load_scenario(_exact(segments=["occasional"]))
    dogs = load_scenario(_exact(segments=["sleeping_dog"]))
    assert base.segments["occasional"].offer_churn == 0.0
    frame = _log_frame(dogs, 1500, 30, offers=True)
    cal = calibrate(frame, base, segments=1, max_iter=150, progress=lambda _: None)
    assert cal.fits[0].natural["offer_churn"][0] > 0.5  # truth 2.0; a frozen start stays below 1e-7
    start = interior({"offer_churn": np.zeros(2), "reference_memory": np.array([0.0, 1.0]), "intent": np.array([-9.0])})
    assert start["offer_churn"].tolist() == [0.2, 0.2] and start["reference_memory"].tolist() == [0.01, 0.99]
    assert start["intent"].tolist() == [-9.0]  # unbounded values are left alone


def test_a_path_that_ends_with_bic_still_falling_says_so() -> None:
    params = load_scenario(_exact(churn=False, segments=["deal_seeker", "loyal_regular"]))
    frame = _log_frame(params, 800, 16, offers=True)
    cal = calibrate(frame, params, max_segments=2, max_iter=150, progress=lambda _: None)
    assert cal.fits[1].bic < cal.fits[0].bic and cal.chosen.n_segments == 2
    assert any("still falling at max_segments = 2" in w for w in cal.warnings)
