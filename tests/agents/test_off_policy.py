"""OPE of DiscountSim policies on behaviour logs: targets, support, refusals and the one-period truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from discountsim.agents import DiscountPolicy, make_policy
from discountsim.agents.off_policy import fit_outcome_model, off_policy_estimates, one_period_truth, target_discounts
from discountsim.simulators import DiscountSimInputError, feature_names, generate_behaviour_log, load_scenario
from discountsim.simulators.behaviour_log import RandomGridLoggingPolicy


@pytest.fixture(scope="module")
def setting():
    params = load_scenario("myopic")
    frame = generate_behaviour_log(params, RandomGridLoggingPolicy(seed=2), 300, 4, 2)
    return params, frame, fit_outcome_model(frame, params, epochs=2)


def test_the_logger_itself_gets_the_logged_mean_and_every_estimator_a_row(setting) -> None:
    params, frame, model = setting
    policies = {
        "random": make_policy("random", scenario=params),
        "uniform_10": make_policy("uniform", scenario=params, depth=0.1),
    }
    table = off_policy_estimates(frame, policies, params, model, trajectories=True).set_index(["policy", "estimator"])
    assert set(table.index.get_level_values("estimator")) == {
        "ips",
        "snips",
        "dm",
        "dr",
        "pdis",
        "wpdis",
        "sequential_dr",
    }
    logged_mean = frame["profit"].mean()
    assert table.loc[("random", "ips"), "value"] == pytest.approx(logged_mean)
    assert table.loc[("random", "snips"), "value"] == pytest.approx(logged_mean)
    assert table.loc[("random", "ips"), "ess"] == pytest.approx(len(frame))
    per_shopper = frame.groupby("shopper")["profit"].sum().mean()
    assert table.loc[("random", "pdis"), "value"] == pytest.approx(per_shopper)
    uniform = table.loc[("uniform_10", "ips")]
    hits = frame["discount"].sub(0.1).abs() < 1e-9
    expected = (frame["profit"] * hits / frame["propensity"]).mean()
    assert uniform["value"] == pytest.approx(expected) and uniform["max_weight"] == pytest.approx(6.0)


def test_an_unsupported_target_is_named_and_an_oracle_refused(setting, caplog) -> None:
    params, frame, model = setting
    with caplog.at_level("WARNING"):
        table = off_policy_estimates(frame, {"u12": make_policy("uniform", scenario=params, depth=0.12)}, params, model)
    assert (table["unsupported_share"] == 1.0).all() and "100.0 % of its offers" in caplog.text
    by_estimator = table.set_index("estimator")
    assert np.isnan(by_estimator.loc["ips", "value"]) and np.isnan(by_estimator.loc["snips", "value"])  # no support
    assert "not to be trusted" in caplog.text
    with pytest.raises(ValueError, match="latent state"):
        off_policy_estimates(frame, {"oracle": make_policy("myopic_oracle", scenario=params)}, params, model)
    with pytest.raises(ValueError, match=r"missing columns \['propensity'\]"):
        off_policy_estimates(frame.drop(columns="propensity"), {}, params, model)


def test_one_period_truth_of_the_logger_is_its_own_logged_mean() -> None:
    params = load_scenario("myopic")

    def logger(obs):
        return np.full(obs.shape[0], 0.1), np.ones(obs.shape[0])

    frame: pd.DataFrame = generate_behaviour_log(params, logger, 200, 3, 5)
    truth, se = one_period_truth(params, logger, make_policy("uniform", scenario=params, depth=0.1), 200, 3, 5)
    assert truth == pytest.approx(frame["profit"].mean(), rel=1e-12)
    assert se == pytest.approx(frame.groupby("shopper")["profit"].mean().std() / np.sqrt(200), rel=1e-9)


class WeekCounter(DiscountPolicy):
    """A policy with memory: 0.05 x the number of weeks it has acted so far (reset by each new run)."""

    name = "week_counter"

    def reset(self) -> None:
        self.calls = 0

    def discount_rule(self, params, what=None):
        self.reset()
        return super().discount_rule(params, what)

    def discounts(self, observations):
        value = min(0.05 * self.calls, self.d_max)
        self.calls += 1
        return np.full(observations.shape[0], value)


def test_a_policy_with_memory_follows_each_shopper_week_by_week(setting) -> None:
    params, frame, model = setting
    shuffled = frame.sample(frac=1.0, random_state=1)  # row order must not matter
    counter = WeekCounter.for_scenario(params)
    targets = target_discounts(
        counter,
        params,
        shuffled.sort_values(["shopper", "period"])[list(feature_names(params))].to_numpy(np.float32),
        300,
    )
    np.testing.assert_allclose(targets.reshape(300, 4), np.tile(0.05 * np.arange(4), (300, 1)))
    table = off_policy_estimates(shuffled, {"counter": counter}, params, model, trajectories=True)
    assert len(table) == 7
    with pytest.raises(DiscountSimInputError, match="week by week"):
        off_policy_estimates(shuffled.iloc[1:], {"counter": counter}, params, model)


def test_a_targeted_logger_counts_a_float_sum_and_the_grid_level_as_one_offer() -> None:
    from discountsim.agents.logging_policies import ExploringLogger

    class Sum(DiscountPolicy):
        name = "sum"

        def discounts(self, observations):
            return np.full(observations.shape[0], 0.1 + 0.05)  # 0.15000000000000002

    logger = ExploringLogger(Sum.for_scenario(load_scenario("default")), epsilon=0.2, seed=0)
    discount, propensity = logger(np.zeros((2000, len(feature_names(load_scenario("default")))), np.float32))
    at_level = discount == 0.15
    assert at_level.mean() > 0.8 and not np.any((np.abs(discount - 0.15) < 1e-9) & ~at_level)
    np.testing.assert_allclose(propensity[at_level], 0.8 + 0.2 / 6)
