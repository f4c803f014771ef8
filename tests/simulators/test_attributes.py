"""Observable shopper attributes (region, age band): drawn per segment, optional in the observation."""

from __future__ import annotations

import gymnasium
import numpy as np
import pandas as pd
import pytest
from discountsim.envs import ShopperVecEnv
from discountsim.simulators import ScenarioError, feature_names, initial_state, load_scenario, observe, spawn_keys
from discountsim.simulators.config_schema import to_dict
from discountsim.simulators.rollout import rollout
from gymnasium.utils.env_checker import check_env

from tests.conftest import scenario_with

DEFAULT = load_scenario("default")


def test_levels_are_drawn_with_each_segments_shares() -> None:
    state = initial_state(DEFAULT, spawn_keys(np.random.default_rng(0), 40_000))
    segments = np.asarray(DEFAULT.segment_names)[state.traits.segment]
    for j, (attribute, levels) in enumerate(DEFAULT.attribute_levels.items()):
        drawn = pd.crosstab(segments, np.asarray(levels)[state.traits.attributes[:, j]], normalize="index")
        for name, segment in DEFAULT.segments.items():
            for level, share in segment.attributes[attribute].items():
                assert drawn.loc[name, level] == pytest.approx(share, abs=0.02), (attribute, name, level)


def test_attributes_change_no_other_draw_and_no_outcome() -> None:
    bare = to_dict(DEFAULT)
    for segment in bare["segments"].values():
        segment["attributes"] = {}
    without = load_scenario(bare)
    assert without.attribute_levels == {}
    keys = spawn_keys(np.random.default_rng(1), 200)
    a, b = initial_state(DEFAULT, keys), initial_state(without, keys)
    np.testing.assert_array_equal(a.traits.intent, b.traits.intent)
    np.testing.assert_array_equal(a.recency, b.recency)
    assert a.traits.attributes.shape == (200, 2) and b.traits.attributes.shape == (200, 0)
    np.testing.assert_array_equal(observe(DEFAULT, a), observe(without, b))  # blind by default
    offer = lambda obs, _s: np.full(obs.shape[0], 0.1)  # noqa: E731
    np.testing.assert_array_equal(rollout(DEFAULT, keys, offer, 8).profit, rollout(without, keys, offer, 8).profit)


def test_an_observed_attribute_is_a_one_hot_column_of_the_shoppers_level() -> None:
    params = scenario_with(observe_attributes=True)
    names = feature_names(params)
    assert names[-8:] == (
        "region=north",
        "region=south",
        "region=east",
        "region=west",
        "age_band=18-29",
        "age_band=30-44",
        "age_band=45-59",
        "age_band=60+",
    )
    state = initial_state(params, spawn_keys(np.random.default_rng(2), 50))
    obs = observe(params, state)
    region, age = obs[:, -8:-4], obs[:, -4:]
    assert (region.sum(axis=1) == 1).all() and (age.sum(axis=1) == 1).all()
    np.testing.assert_array_equal(region.argmax(axis=1), state.traits.attributes[:, 0])
    np.testing.assert_array_equal(age.argmax(axis=1), state.traits.attributes[:, 1])
    check_env(gymnasium.make("DiscountSim/Shopper-v0", scenario=params, horizon=4).unwrapped)
    env = ShopperVecEnv(n_envs=4, scenario=params, horizon=4, seed=0)
    assert env.reset().shape == (4, len(names)) and env.observation_space.contains(env.reset()[0])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"deal_seeker": {"attributes": {"region": {"north": 0.5}}}}, r"deal_seeker\.attributes\.region: level shares"),
        (
            {"deal_seeker": {"attributes": {"region": {"north": 0.5, "south": 0.5, "east": 0.0, "west": 0.0}}}},
            None,
        ),
        (
            {"loyal_regular": {"attributes": {"region": {"mars": 1.0}}}},
            r"segments\.loyal_regular\.attributes: every segment must give the same attributes and levels",
        ),
    ],
)
def test_bad_attribute_shares_are_refused_naming_the_segment(change: dict, message: str | None) -> None:
    data = to_dict(DEFAULT)
    for name, update in change.items():
        region = update["attributes"]["region"]
        data["segments"][name]["attributes"]["region"] = region
    if message is None:
        load_scenario(data)  # shares of 0 are allowed
        return
    with pytest.raises(ScenarioError, match=message):
        load_scenario(data)


def test_observing_attributes_needs_attributes() -> None:
    bare = to_dict(DEFAULT)
    for segment in bare["segments"].values():
        segment["attributes"] = {}
    bare["observe_attributes"] = True
    with pytest.raises(ScenarioError, match=r"observe_attributes: true, but no segment has attributes to observe"):
        load_scenario(bare)


def test_rebuilding_observations_from_a_shop_log_refuses_observed_attributes() -> None:
    from discountsim.simulators import DiscountSimInputError
    from discountsim.simulators.log_observations import behaviour_frame

    with pytest.raises(DiscountSimInputError, match=r"observes shopper attributes .* which a shop log does not hold"):
        behaviour_frame(pd.DataFrame({"shopper_id": ["a"], "period": [0]}), scenario_with(observe_attributes=True))


def test_a_scenario_built_on_default_drops_the_attributes_with_null(tmp_path) -> None:
    lines = ["defaults: [default]", "name: no_attributes", "segments:"]
    lines += [f"  {name}: {{attributes: null}}" for name in DEFAULT.segments]
    (tmp_path / "blind.yaml").write_text("\n".join(lines) + "\n")
    params = load_scenario(tmp_path / "blind.yaml")
    assert params.attribute_levels == {}
    state = initial_state(params, spawn_keys(np.random.default_rng(0), 5))
    assert state.traits.attributes.shape == (5, 0)
