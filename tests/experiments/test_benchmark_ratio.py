"""``discountsim benchmark`` prints Shopper-v0's rate against CartPole-v1's with the load average (not timed here)."""

from __future__ import annotations

from discountsim.experiments import benchmark


def test_benchmark_prints_the_cartpole_ratio_and_load(capsys) -> None:
    results = benchmark.main(["--seconds", "0.05", "--n-sim", "200", "--n-vec", "8"])
    out = capsys.readouterr().out
    ratio = results["Shopper-v0 / CartPole-v1"]
    shopper = results["Shopper-v0 (gymnasium.make) step loop"]
    cartpole = results["CartPole-v1 (gymnasium.make) step loop, same process"]
    assert shopper > 0 and cartpole > 0 and ratio == shopper / cartpole
    assert "Shopper-v0 / CartPole-v1" in out and f"{ratio:.2f}" in out and "(goal >= 0.30)" in out
    assert "load avg (1 min)" in out
