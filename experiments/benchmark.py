"""Speed benchmark: shopper-steps per second of the simulator and the environments on this machine.

    discountsim benchmark [--n-sim 100000] [--n-vec 1024] [--seconds 3]
    discountsim benchmark policies [...]   # the policy benchmark (experiments/policy_benchmark.py)
    discountsim benchmark calibration [...]      # calibration against known truth (calibration_benchmark.py)
    discountsim benchmark identification [...]   # what a log identifies, on exact worlds (identification_benchmark.py)
    discountsim benchmark abtest [...]           # A/B tests graded against the simulator (abtest_benchmark.py)
    discountsim benchmark ope [...]              # off-policy estimators graded against the truth (ope_benchmark.py)
    discountsim benchmark constraints [...]      # budget, contact cap and fairness: cost and whether they hold

Prints, for the bare simulator at N = 100 000 (transition alone, and with the observation),
for ``ShopperVecEnv`` at N = 1 024 with random actions, and for ``DiscountSim/Shopper-v0`` and
Gymnasium's ``CartPole-v1`` through ``gymnasium.make`` in a plain Python loop (interleaved in this
process, so that both see the same load), the shopper-steps per second with the 1-minute load
average beside each, the ratio Shopper-v0 / CartPole-v1 and the VecEnv's speed-up per shopper-step.
Goals: simulator >= 5 M shopper-steps/s on one core; Shopper-v0 >= 0.3 x CartPole-v1.
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
    """Steps per second of ``gymnasium.make("DiscountSim/Shopper-v0")`` (its default wrappers included)."""
    return _gym_rates({"DiscountSim/Shopper-v0": gym.make("DiscountSim/Shopper-v0")}, seconds, rounds=1)[
        "DiscountSim/Shopper-v0"
    ]


def _gym_steps(env: gym.Env, actions: list, seconds: float) -> tuple[int, float]:
    """Steps done by ``env`` in about ``seconds``, cycling through ``actions``, resetting at episode ends."""
    step, reset, n_actions = env.step, env.reset, len(actions)
    done, i, start = 0, 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(256):
            _, _, terminated, truncated, _ = step(actions[i])
            i = (i + 1) % n_actions
            if terminated or truncated:
                reset()
        done += 256
    return done, elapsed


def _gym_rates(made: dict[str, gym.Env], seconds: float, rounds: int = 6) -> dict[str, float]:
    """Steps per second of each env, timed in ``rounds`` interleaved slices so that load changes hit all alike.

    Each env gets a fixed cycle of 1 024 actions sampled from its action space beforehand (sampling
    is not timed), starts from ``reset(seed=0)`` and is reset whenever an episode ends.
    """
    actions = {}
    for env_id, env in made.items():
        env.action_space.seed(0)
        actions[env_id] = [env.action_space.sample() for _ in range(1024)]
        env.reset(seed=0)
        _gym_steps(env, actions[env_id], min(0.2, seconds))  # warm-up
    totals = dict.fromkeys(made, (0, 0.0))
    for _ in range(rounds):
        for env_id, env in made.items():
            done, elapsed = _gym_steps(env, actions[env_id], seconds / rounds)
            totals[env_id] = (totals[env_id][0] + done, totals[env_id][1] + elapsed)
    return {env_id: done / elapsed for env_id, (done, elapsed) in totals.items()}


def bench_gym_ratio(seconds: float) -> dict[str, float]:
    """Shopper-v0 and CartPole-v1 through ``gymnasium.make`` (default wrappers), interleaved in this process.

    Returns:
        Steps per second of each, and ``ratio`` = Shopper-v0 / CartPole-v1 (goal >= 0.3).
    """
    rates = _gym_rates(
        {"DiscountSim/Shopper-v0": gym.make("DiscountSim/Shopper-v0"), "CartPole-v1": gym.make("CartPole-v1")},
        seconds,
    )
    rates["ratio"] = rates["DiscountSim/Shopper-v0"] / rates["CartPole-v1"]
    return rates


def main(argv: list[str] | None = None) -> dict[str, float] | object:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["policies"]:
        from discountsim.experiments import policy_benchmark

        return policy_benchmark.main(argv[1:])
    if argv[:1] == ["calibration"]:
        from discountsim.experiments import calibration_benchmark

        return calibration_benchmark.main(argv[1:])
    if argv[:1] == ["identification"]:
        from discountsim.experiments import identification_benchmark

        return identification_benchmark.main(argv[1:])
    if argv[:1] == ["ope"]:
        from discountsim.experiments import ope_benchmark

        return ope_benchmark.main(argv[1:])
    if argv[:1] == ["abtest"]:
        from discountsim.experiments import abtest_benchmark

        return abtest_benchmark.main(argv[1:])
    if argv[:1] == ["constraints"]:
        from discountsim.experiments import constraints_benchmark

        return constraints_benchmark.main(argv[1:])
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="other benchmarks: discountsim benchmark "
        "{policies,calibration,identification,abtest,ope,constraints} --help",
    )
    parser.add_argument("--n-sim", type=cli_int(1), default=100_000, help="shoppers in the bare-simulator run")
    parser.add_argument("--n-vec", type=cli_int(1), default=1024, help="shoppers (rows) in the VecEnv run")
    parser.add_argument("--seconds", type=cli_positive_number, default=3.0, help="timing window per measurement")
    args = parser.parse_args(argv)
    console = Console()
    rows: list[tuple[str, float, float]] = []  # what, rate, 1-minute load average just after
    results: dict[str, float] = {}

    def record(name: str, rate: float) -> None:
        results[name] = rate
        rows.append((name, rate, os.getloadavg()[0]))

    record(f"simulator transition, N={args.n_sim:,}", bench_simulator(args.n_sim, args.seconds, False))
    record(f"simulator transition + observe, N={args.n_sim:,}", bench_simulator(args.n_sim, args.seconds, True))
    record(f"ShopperVecEnv step, N={args.n_vec:,}", bench_vec_env(args.n_vec, args.seconds))
    gym_rates = bench_gym_ratio(2.0 * args.seconds)
    record("Shopper-v0 (gymnasium.make) step loop", gym_rates["DiscountSim/Shopper-v0"])
    record("CartPole-v1 (gymnasium.make) step loop, same process", gym_rates["CartPole-v1"])
    results["Shopper-v0 / CartPole-v1"] = gym_rates["ratio"]
    table = Table(title=f"DiscountSim speed ({os.cpu_count()} cores, single-threaded NumPy)")
    table.add_column("what")
    table.add_column("shopper-steps/s", justify="right")
    table.add_column("load avg (1 min)", justify="right")
    for name, rate, load in rows:
        table.add_row(name, f"{rate:,.0f}", f"{load:.2f}")
    console.print(table)
    rates = list(results.values())
    console.print(
        f"Shopper-v0 / CartPole-v1 steps/s through gymnasium.make, interleaved in this process: "
        f"{gym_rates['ratio']:.2f} (goal >= 0.30)"
    )
    console.print(f"VecEnv speed-up per shopper-step over Shopper-v0: {rates[2] / rates[3]:,.0f}x")
    console.print(f"bare simulator: {rates[0] / 1e6:.2f} M shopper-steps/s (goal >= 5 M)")
    return results


if __name__ == "__main__":
    main()
