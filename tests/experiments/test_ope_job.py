"""``discountsim ope`` on an exported log, and ``log_observations`` against the simulator's own observations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from discountsim.experiments.ope import run_ope
from discountsim.simulators import DiscountSimInputError, feature_names, generate_behaviour_log, load_scenario
from discountsim.simulators.behaviour_log import RandomGridLoggingPolicy
from discountsim.simulators.log_observations import behaviour_frame
from discountsim.simulators.shop_log import to_shop_log, validate_shop_log, write_table
from hydra import compose, initialize_config_dir

CONF = Path(__file__).resolve().parents[2] / "conf"
EXACT = ("last_discount", "recent_offers", "purchased_last", "week_sin", "week_cos", "holiday")


def test_rebuilt_observations_match_the_simulators_where_the_log_determines_them() -> None:
    params = load_scenario("default")
    truth = generate_behaviour_log(params, RandomGridLoggingPolicy(seed=1), 120, 8, 1)
    shop = validate_shop_log(to_shop_log(truth))[0].sample(frac=1.0, random_state=0)  # row order must not matter
    rebuilt = behaviour_frame(shop, params)
    # rebuilt shopper k is the k-th id to appear in the log (here the ids are the simulator's own)
    rank = {shopper: k for k, shopper in enumerate(pd.unique(shop["shopper_id"]))}
    truth = truth.assign(order=truth["shopper"].map(rank)).sort_values(["order", "period"]).reset_index(drop=True)
    exact = [*EXACT, *(c for c in feature_names(params) if c.startswith("category="))]
    np.testing.assert_array_equal(rebuilt[exact].to_numpy(), truth[exact].to_numpy())
    np.testing.assert_allclose(rebuilt["profit"], truth["profit"], atol=1e-9)  # money from the log's own columns
    bought_before = truth.groupby("shopper")["purchased"].cumsum().shift(1, fill_value=0) > 0
    same_shopper = truth["shopper"].eq(truth["shopper"].shift(1))
    known = bought_before & same_shopper  # recency is determined once a purchase is in the log
    np.testing.assert_allclose(rebuilt.loc[known, "recency"], truth.loc[known, "recency"], atol=1e-6)
    with pytest.raises(DiscountSimInputError, match="balanced"):
        behaviour_frame(shop.iloc[1:], params)
    with pytest.raises(DiscountSimInputError, match="propensity"):
        behaviour_frame(shop.drop(columns="propensity"), params)


def _cfg(overrides: list[str]):
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        return compose("ope", overrides=overrides)


def test_ope_job_writes_every_estimator_and_refuses_an_oracle(tmp_path: Path) -> None:
    params = load_scenario("default")
    log = to_shop_log(generate_behaviour_log(params, RandomGridLoggingPolicy(seed=4), 100, 4, 4))
    write_table(log, tmp_path / "log.csv")
    cfg = _cfg([f"data={tmp_path / 'log.csv'}", "policies=[no_discount,random]", "dm_epochs=1"])
    table = run_ope(cfg, tmp_path)
    assert len(table) == 2 * 7
    random = table[(table.policy == "random") & (table.estimator == "snips")].iloc[0]
    assert random["value"] == pytest.approx(random["value"])  # finite
    assert random["ess"] == pytest.approx(400)  # the logger's own policy: every weight 1
    assert pd.read_csv(tmp_path / "ope.csv").shape == table.shape
    assert json.loads((tmp_path / "metrics.json").read_text())[0]["policy"] == "no_discount"
    with pytest.raises(DiscountSimInputError, match="latent state"):
        run_ope(_cfg([f"data={tmp_path / 'log.csv'}", "policies=[oracle]", "dm_epochs=1"]), tmp_path / "o")
    with pytest.raises(DiscountSimInputError, match="data: required"):
        run_ope(_cfg([]), tmp_path / "n")


def test_compare_adds_each_policys_doubly_robust_estimate_on_a_log(tmp_path: Path) -> None:
    from discountsim.experiments.compare import compare

    params = load_scenario("default")
    write_table(
        to_shop_log(generate_behaviour_log(params, RandomGridLoggingPolicy(seed=4), 100, 3, 4)), tmp_path / "l.csv"
    )
    overrides = [
        "agents=[]",
        "n_shoppers=30",
        "horizon=2",
        "supervised={n_shoppers:60,horizon:3,epochs:2}",
        "uniform_curve=[0.0]",
        f"ope_data={tmp_path / 'l.csv'}",
    ]
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        cfg = compose("compare", overrides=overrides)
    board = compare(cfg, tmp_path).set_index("policy")
    assert np.isnan(board.loc["oracle", "ope_dr"])  # reads the latent state: no estimate
    assert np.isfinite(board.loc["no_discount", "ope_dr"])
    assert (
        board.loc["no_discount", "ope_dr_ci_low"]
        <= board.loc["no_discount", "ope_dr"]
        <= board.loc["no_discount", "ope_dr_ci_high"]
    )
    ope = pd.read_csv(tmp_path / "ope.csv")
    assert set(ope["policy"]) == set(board.index) - {"oracle", "myopic_oracle"}
