from __future__ import annotations

import numpy as np
import pytest
from discountsim.agents import POLICIES, PrivilegedPolicy, evaluate, load_policy, make_policy, save_policy
from discountsim.simulators import feature_names, load_scenario

OBS = np.random.default_rng(0).uniform(0.0, 1.0, (64, len(feature_names(load_scenario("default"))))).astype(np.float32)
KWARGS = {
    "uniform": {"depth": 0.15},
    "random": {"seed": 3, "levels": [0.0, 0.2]},
    "rule_based": {"scenario": "holiday_season", "tiers": [[0.0, 0.2], [0.5, 0.0]]},
    "myopic_oracle": {"decision_levels": 6},
    "oracle": {"grid": {"reference_nodes": 3, "fatigue_nodes": 3, "stock_nodes": [0.0, 1.0]}},
    "twin": {"model": "default", "plan_horizon": 4, "grid": {"reference_nodes": 3, "fatigue_nodes": 3}},
}


# The supervised policy needs training first; its round trip is in test_supervised.py.
@pytest.mark.parametrize("name", sorted(set(POLICIES) - {"supervised"}))
def test_save_load_round_trip_gives_identical_predictions(name, tmp_path) -> None:
    policy = make_policy(name, **KWARGS.get(name, {}))
    path = save_policy(policy, tmp_path / f"{name}.json")
    loaded = load_policy(path)
    fresh = make_policy(name, **KWARGS.get(name, {}))  # a random policy is compared from the same seed
    assert type(loaded) is type(policy) and loaded.config() == policy.config()
    if isinstance(policy, PrivilegedPolicy):  # acts on the true state: compare whole runs
        runs = [evaluate(p, "default", n_shoppers=16, horizon=3, seed=1).totals for p in (loaded, fresh)]
        np.testing.assert_array_equal(runs[0].discount_sum, runs[1].discount_sum)
        with pytest.raises(TypeError, match="true state"):
            loaded.predict(OBS)
        return
    np.testing.assert_array_equal(loaded.predict(OBS)[0], fresh.predict(OBS)[0])
    assert not list(tmp_path.glob(".*.tmp"))


def test_missing_or_malformed_checkpoints(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"policy checkpoint not found: .*nope\.json"):
        load_policy(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a saved policy"):
        load_policy(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text('{"format": "something-else"}')
    with pytest.raises(ValueError, match="expected format 'discountsim-policy'"):
        load_policy(tmp_path / "other.json")
    with pytest.raises(TypeError, match="DiscountPolicy"):
        save_policy(object(), tmp_path / "x.json")
