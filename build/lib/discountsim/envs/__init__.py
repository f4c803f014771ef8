"""Gymnasium and Stable-Baselines3 faces of the DiscountSim simulator.

Importing this package registers, for ``gymnasium.make``:

* ``DiscountSim/Shopper-v0``: one shopper, continuous discount (``Box(-1, 1, (1,))``).
* ``DiscountSim/ShopperDiscrete-v0``: one shopper, ``Discrete(11)`` discount levels (for DQN).
* ``DiscountSim/Campaign-v0``: a budgeted campaign, one discount per observable cohort.

``ShopperVecEnv`` runs many shoppers in lockstep as an SB3 ``VecEnv``.
"""

from discountsim.envs.actions import DiscountActions
from discountsim.envs.campaign_env import CampaignEnv
from discountsim.envs.cohorts import CohortMap
from discountsim.envs.info import INFO_KEYS
from discountsim.envs.shopper_env import ShopperEnv
from discountsim.envs.shopper_vec_env import ShopperVecEnv
from gymnasium.envs.registration import register, registry

ENV_IDS = ("DiscountSim/Shopper-v0", "DiscountSim/ShopperDiscrete-v0", "DiscountSim/Campaign-v0")

# Dynamics or reward changes must bump the -vN suffix.
_REGISTRATIONS = {
    "DiscountSim/Shopper-v0": ("discountsim.envs.shopper_env:ShopperEnv", {}),
    "DiscountSim/ShopperDiscrete-v0": ("discountsim.envs.shopper_env:ShopperEnv", {"action_type": "discrete"}),
    "DiscountSim/Campaign-v0": ("discountsim.envs.campaign_env:CampaignEnv", {}),
}
for _env_id, (_entry_point, _kwargs) in _REGISTRATIONS.items():
    if _env_id not in registry:
        register(id=_env_id, entry_point=_entry_point, kwargs=_kwargs)

__all__ = [
    "ENV_IDS",
    "INFO_KEYS",
    "CampaignEnv",
    "CohortMap",
    "DiscountActions",
    "ShopperEnv",
    "ShopperVecEnv",
]
