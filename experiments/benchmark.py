"""Speed benchmark: shopper-steps per second of the simulator and the environments on this machine.

    discountsim benchmark [--n-sim 100000] [--n-vec 1024] [--seconds 3]
    discountsim benchmark policies [...]   # the policy benchmark (experiments/policy_benchmark.py)

Prints, for the bare simulator at N = 100 000 (transition alone, and with the observation),
for ``ShopperVecEnv`` at N = 1 024 with random actions, and for ``DiscountSim/Shopper-v0`` in a
plain Python loop, the shopper-steps per second and the VecEnv's speed-up per shopper-step.
Goals: simulator >= 5 M shopper-steps/s on one core; VecEnv >= 100x the single env.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np
from discountsim import envs
from discountsim.experiments.config_rules import cli_int, cli_positive_number
from discountsim.simulators import initial_state, load_scenario, observe, spawn_keys, transition
from rich.console import Console
from rich.table import Table


def _rate(step: Callable[[], int], seconds: float) -> float:
    """Shopper-steps per second of ``step`` (which returns the shopper-steps it did), timed for ``seconds``."""
    step()  # warm-up
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        done += step()
    return done / elapsed


def bench_simulator(n: int, seconds: float, with_observation: bool) -> float:
    params = load_scenario("default")
    state = initial_state(params, spawn_keys(np.random.default_rng(0), n))
    discount = np.random.default_rng(1).uniform(0.0, params.d_max, n)
    holder = [state]

    def step() -> int:
        holder[0], _ = transition(params, holder[0], discount)
        if with_observation:
            observe(params, holder[0])
        return n

    return _rate(step, seconds)


def bench_vec_env(n: int, seconds: float) -> float:
    env = envs.ShopperVecEnv(n, seed=0)
    env.reset()
    actions = np.random.default_rng(0).uniform(-1.0, 1.0, (n, 1)).astype(np.float32)

    def step() -> int:
        env.step(actions)
        return n

    return _rate(step, seconds)


def bench_single_env(seconds: float) -> float:
    env = gym.make("DiscountSim/Shopper-v0")
    env.reset(seed=0)
    action = np.zeros(1, dtype=np.float32)

    def step() -> int:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
        return 1

    return _rate(step, seconds)


def main(argv: list[str] | None = None) -> dict[str, float] | object:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["policies"]:
        from discountsim.experiments import policy_benchmark

        return policy_benchmark.main(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-sim", type=cli_int(1), default=100_000, help="shoppers in the bare-simulator run")
    parser.add_argument("--n-vec", type=cli_int(1), default=1024, help="shoppers (rows) in the VecEnv run")
    parser.add_argument("--seconds", type=cli_positive_number, default=3.0, help="timing window per measurement")
    args = parser.parse_args(argv)
    results = {
        f"simulator transition, N={args.n_sim:,}": bench_simulator(args.n_sim, args.seconds, False),
        f"simulator transition + observe, N={args.n_sim:,}": bench_simulator(args.n_sim, args.seconds, True),
        f"ShopperVecEnv step, N={args.n_vec:,}": bench_vec_env(args.n_vec, args.seconds),
        "Shopper-v0 (gymnasium.make) step loop": bench_single_env(args.seconds),
    }
    table = Table(title=f"DiscountSim speed ({os.cpu_count()} cores, single-threaded NumPy)")
    table.add_column("what")
    table.add_column("shopper-steps/s", justify="right")
    for name, rate in results.items():
        table.add_row(name, f"{rate:,.0f}")
    console = Console()
    console.print(table)
    rates = list(results.values())
    console.print(f"VecEnv speed-up per shopper-step over Shopper-v0: {rates[2] / rates[3]:,.0f}x (goal >= 100x)")
    console.print(f"bare simulator: {rates[0] / 1e6:.2f} M shopper-steps/s (goal >= 5 M)")
    return results


if __name__ == "__main__":
    main()
