"""Built-in scenarios load; bad scenario values are rejected naming the field and its allowed range."""

from __future__ import annotations

import pytest
from discountsim.simulators import ScenarioError, available_scenarios, load_scenario

from tests.conftest import scenario_with

REQUIRED = {"default", "myopic", "reference_heavy", "fatigue_heavy", "holiday_season", "price_sensitive", "cold_start"}


def test_required_scenarios_exist_and_load() -> None:
    assert REQUIRED <= set(available_scenarios())
    for name in available_scenarios():
        params = load_scenario(name)
        assert params.name == name
        assert len(params.segments) >= 5


def test_myopic_turns_all_dynamics_off_and_inherits_the_rest() -> None:
    myopic, default = load_scenario("myopic"), load_scenario("default")
    assert not any(vars(myopic.dynamics).values())
    assert myopic.segments == default.segments and myopic.catalogue == default.catalogue


def test_derived_scenarios_change_what_they_say() -> None:
    default, ref = load_scenario("default"), load_scenario("reference_heavy")
    assert ref.segments["deal_seeker"].loss_weight.mean > default.segments["deal_seeker"].loss_weight.mean
    # A partial override keeps the other fields of the nested trait.
    assert ref.segments["deal_seeker"].loss_weight.sd == default.segments["deal_seeker"].loss_weight.sd
    assert load_scenario("holiday_season").seasonality.start_week == 40


def test_default_has_the_five_segments() -> None:
    assert set(load_scenario("default").segments) == {
        "deal_seeker",
        "loyal_regular",
        "occasional",
        "new_shopper",
        "sleeping_dog",
    }
    assert load_scenario("default").segments["sleeping_dog"].offer_churn > 0.0


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"d_max": 0.0}, r"d_max = 0.0 is out of range; allowed: \(0, 1\]"),
        ({"d_max": 1.5}, r"d_max = 1.5 is out of range; allowed: \(0, 1\]"),
        ({"offer_cost": -1.0}, r"offer_cost = -1.0 is out of range"),
        ({"segments": {"deal_seeker": {"share": 1.2}}}, r"segments.deal_seeker.share = 1.2 .* allowed: \[0, 1\]"),
        ({"segments": {"occasional": {"churn_rate": -0.1}}}, r"segments.occasional.churn_rate = -0.1"),
        ({"segments": {"occasional": {"basket_value": {"mean": -5.0}}}}, r"segments.occasional.basket_value.mean"),
        ({"segments": {"occasional": {"basket_value": {"mean": 0.0}}}}, r"basket_value.mean must be > 0"),
        ({"catalogue": {"clothing": {"margin": 2.0}}}, r"catalogue.clothing.margin = 2.0 .* allowed: \[0, 1\]"),
        ({"behaviour": {"intent_shock_persistence": 1.0}}, r"intent_shock_persistence = 1.0 .* \[0, 1\)"),
        ({"seasonality": {"start_week": 60}}, r"seasonality.start_week = 60"),
        ({"segments": {"deal_seeker": {"sharee": 0.1}}}, r"segments.deal_seeker: unknown key\(s\) \['sharee'\]"),
        ({"colour": "red"}, r"scenario: unknown key\(s\) \['colour'\]; allowed keys: \["),
        ({"d_max": "half"}, r"d_max: expected a number"),
        ({"dynamics": {"churn": "yes"}}, r"dynamics.churn: expected true or false"),
        ({"seasonality": {"holidays": [{"week": 80}]}}, r"seasonality.holidays\[0\].week = 80"),
    ],
)
def test_bad_values_name_the_field_and_range(changes, message) -> None:
    with pytest.raises(ScenarioError, match=message):
        scenario_with(**changes)


def test_unknown_scenario_lists_the_built_ins() -> None:
    with pytest.raises(ScenarioError, match=r"unknown scenario 'nope'; built-in scenarios: \[.*'default'"):
        load_scenario("nope")


def test_user_yaml_file_with_defaults(tmp_path) -> None:
    (tmp_path / "base.yaml").write_text((load_scenario.__globals__["SCENARIO_DIR"] / "default.yaml").read_text())
    (tmp_path / "mine.yaml").write_text("defaults: [base]\nname: mine\nd_max: 0.3\n")
    params = load_scenario(tmp_path / "mine.yaml")
    assert params.name == "mine" and params.d_max == 0.3
    (tmp_path / "broken.yaml").write_text("d_max: [0.3\n")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario(tmp_path / "broken.yaml")
    (tmp_path / "loop.yaml").write_text("defaults: [loop]\n")
    with pytest.raises(ScenarioError, match="circular defaults"):
        load_scenario(tmp_path / "loop.yaml")
    with pytest.raises(ScenarioError, match="not found"):
        load_scenario(tmp_path / "missing.yaml")


def test_user_yaml_anywhere_extends_a_built_in_scenario(tmp_path) -> None:
    # No copy of default.yaml beside the file: built-in names resolve from any directory.
    (tmp_path / "shop.yaml").write_text("defaults: [reference_heavy]\nname: shop\nd_max: 0.3\n")
    params = load_scenario(tmp_path / "shop.yaml")
    reference = load_scenario("reference_heavy")
    assert params.name == "shop" and params.d_max == 0.3 and params.segments == reference.segments
    (tmp_path / "typo.yaml").write_text("defaults: [defualt]\n")
    with pytest.raises(ScenarioError, match=r"defaults entry 'defualt' is neither a file beside it .* built-in"):
        load_scenario(tmp_path / "typo.yaml")
