"""Shopper-v0 runs on simulators.single; it still equals the batched VecEnv row for row."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from discountsim.envs import ShopperVecEnv
from discountsim.simulators.single import PREFETCH

from tests.envs.test_vec_env import _run_pair


def test_env_equals_vec_env_across_prefetch_batches_and_reseeds() -> None:
    # Horizon 2: more than PREFETCH episodes per row, so each row crosses prepared batches.
    rng = np.random.default_rng(3)
    n = 3
    steps = 2 * PREFETCH + 10
    vec = ShopperVecEnv(n, "default", horizon=2)
    done_counts = _run_pair(
        vec,
        lambda: gym.make("DiscountSim/Shopper-v0", horizon=2).unwrapped,
        steps=steps,
        seed=21,
        actions_fn=lambda t: rng.uniform(-1.0, 1.0, (n, 1)).astype(np.float32),
    )
    assert done_counts.min() > PREFETCH
    env = gym.make("DiscountSim/Shopper-v0", horizon=2).unwrapped
    first, _ = env.reset(seed=4)
    env.reset()
    again, _ = env.reset(seed=4)  # a reseed restarts the sequence, prepared shoppers or not
    np.testing.assert_array_equal(first, again)
