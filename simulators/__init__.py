"""DiscountSim's shopper-population simulator: pure NumPy, batched over shoppers, seeded.

See ``dynamics`` for the equations, ``params`` for their parameters, ``transition`` for one period,
``observation`` for what policies see and ``conf/simulator/*.yaml`` for the built-in scenarios.
"""

from discountsim.simulators.behaviour_log import RandomGridLoggingPolicy, generate_behaviour_log
from discountsim.simulators.config_schema import ScenarioError, check_count
from discountsim.simulators.contact_cap import ContactCap
from discountsim.simulators.disparity_floor import DisparityFloor
from discountsim.simulators.errors import DiscountSimInputError
from discountsim.simulators.observation import feature_bounds, feature_index, feature_names, observe
from discountsim.simulators.params import (
    BehaviourParams,
    CategoryParams,
    DynamicsSwitches,
    HolidayParams,
    MembershipParams,
    NormalTrait,
    PositiveTrait,
    SeasonalityParams,
    SegmentParams,
    SimulatorParams,
)
from discountsim.simulators.population import draw_traits, initial_state, spawn_keys
from discountsim.simulators.random_streams import episode_keys
from discountsim.simulators.rollout import RolloutTotals, rollout
from discountsim.simulators.scenarios import available_scenarios, build_scenario, load_scenario
from discountsim.simulators.simulator import ShopperSimulator
from discountsim.simulators.state import MONEY_FIELDS, Outcome, ShopperState, ShopperTraits
from discountsim.simulators.transition import check_discount, reset_where, transition

__all__ = [
    "MONEY_FIELDS",
    "BehaviourParams",
    "CategoryParams",
    "ContactCap",
    "DiscountSimInputError",
    "DisparityFloor",
    "DynamicsSwitches",
    "HolidayParams",
    "MembershipParams",
    "NormalTrait",
    "Outcome",
    "PositiveTrait",
    "RandomGridLoggingPolicy",
    "RolloutTotals",
    "ScenarioError",
    "SeasonalityParams",
    "SegmentParams",
    "ShopperSimulator",
    "ShopperState",
    "ShopperTraits",
    "SimulatorParams",
    "available_scenarios",
    "build_scenario",
    "check_count",
    "check_discount",
    "draw_traits",
    "episode_keys",
    "feature_bounds",
    "feature_index",
    "feature_names",
    "generate_behaviour_log",
    "initial_state",
    "load_scenario",
    "observe",
    "reset_where",
    "rollout",
    "spawn_keys",
    "transition",
]
