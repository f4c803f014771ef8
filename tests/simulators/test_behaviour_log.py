from __future__ import annotations

import numpy as np
import pytest
from discountsim.simulators import RandomGridLoggingPolicy, feature_names, generate_behaviour_log, load_scenario
from discountsim.simulators.behaviour_log import OUTCOME_COLUMNS


def test_log_rows_columns_and_propensities() -> None:
    levels = (0.0, 0.1, 0.2, 0.3)
    log = generate_behaviour_log("default", RandomGridLoggingPolicy(levels, seed=1), n_shoppers=200, horizon=6, seed=2)
    params = load_scenario("default")
    assert len(log) == 200 * 6
    expected = {"shopper", "period", "segment", "discount", "propensity", *feature_names(params), *OUTCOME_COLUMNS}
    assert expected <= set(log.columns)
    assert set(np.round(log["discount"], 6)) <= set(levels)
    np.testing.assert_allclose(log["propensity"], 0.25)
    # Every level is logged (the random policy explores) and outcomes are consistent.
    assert set(np.round(log["discount"], 6)) == set(levels)
    np.testing.assert_allclose(log["profit"], log["revenue"] - log["offer_cost"] - log["cogs"], atol=1e-9)
    assert (log.loc[~log["purchased"], "basket_value"] == 0).all()
    # The observation columns equal the features the next period's observation reports.
    assert log.groupby("shopper")["period"].nunique().eq(6).all()


def test_log_is_deterministic_and_shows_the_discount_response() -> None:
    a = generate_behaviour_log("default", n_shoppers=3000, horizon=4, seed=7)
    b = generate_behaviour_log("default", n_shoppers=3000, horizon=4, seed=7)
    assert a.equals(b)
    rate = a.groupby("discount")["purchased"].mean()
    assert rate.iloc[-1] > rate.iloc[0]


def test_bad_logging_policy_inputs() -> None:
    with pytest.raises(ValueError, match="probabilities"):
        RandomGridLoggingPolicy((0.0, 0.1), probabilities=(0.2, 0.2))
    with pytest.raises(ValueError, match="levels"):
        RandomGridLoggingPolicy(())
    with pytest.raises(ValueError, match="horizon"):
        generate_behaviour_log("default", horizon=0)
