"""``discountsim benchmark identification``: exact worlds, a never-offered control group, and its tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
from discountsim.experiments.identification_benchmark import NeverOffered, exact_world, main
from discountsim.simulators import generate_behaviour_log
from discountsim.simulators.behaviour_log import RandomGridLoggingPolicy


def test_the_exact_world_has_no_spread_and_no_shock() -> None:
    world = exact_world()
    assert world.behaviour.intent_shock_sd == 0.0
    for segment in world.segments.values():
        assert segment.intent.sd == 0.0 and segment.discount_sensitivity.sd == 0.0
    dogs = exact_world(["sleeping_dog"])
    assert list(dogs.segments) == ["sleeping_dog"] and dogs.segments["sleeping_dog"].share == 1.0


def test_the_control_group_is_never_offered_and_the_rest_are() -> None:
    log = generate_behaviour_log(exact_world(), NeverOffered(RandomGridLoggingPolicy(seed=0), 0.5, 3), 200, 6, 0)
    offers = log.groupby("shopper")["discount"].max()
    control = offers[offers == 0].index
    assert 60 < control.size < 140  # about half, seeded
    rows = log[log["shopper"].isin(control)]
    assert (rows["propensity"] == 1.0).all()
    assert (log[~log["shopper"].isin(control)]["discount"] > 0).mean() > 0.7


def test_the_benchmark_writes_its_tables(tmp_path) -> None:
    args = ["--n-shoppers", "120", "--n-dogs", "80", "--horizon", "4", "--n-eval", "30", "--replicates", "2"]
    args += ["--out", str(tmp_path)]
    estimates = main(args)
    assert set(estimates["log"]) == {"exact", "exact_holdout", "sleeping_dogs"}
    fidelity = pd.read_csv(tmp_path / "fidelity.csv")
    assert set(fidelity["policy"]) == {"no_discount", "uniform_5", "uniform_10", "uniform_20", "rule_based"}
    assert np.isfinite(fidelity["profit_gap_pct"]).all()
    assert (tmp_path / "estimates.csv").is_file()
    spread = pd.read_csv(tmp_path / "sampling.csv")
    fit_rows = spread[spread["what"].str.startswith("fit from the truth")]
    assert list(fit_rows["policy"]) == list(fidelity["policy"].unique()) and (spread["replicates"] == 2).all()
    assert len(spread) == 2 * len(fit_rows)  # and the evaluation-noise rows
    assert (spread["profit_gap_pct_sd"] >= 0).all() and np.isfinite(spread["profit_gap_pct_mean"]).all()


def test_the_fit_from_the_truth_recovers_a_scenario_that_builds(tmp_path) -> None:
    from discountsim.experiments.identification_benchmark import _log, fit_from_truth

    truth = exact_world(["occasional"])
    fitted = fit_from_truth(_log(truth, 300, 12, 0), truth, max_iter=40)
    assert len(fitted.segments) == 1 and fitted.name == "mle"
    segment = next(iter(fitted.segments.values()))
    assert abs(segment.intent.mean - truth.segments["occasional"].intent.mean) < 0.5
