"""compare shows what it trains: per agent a bar with ETA on a terminal, start and finish lines in the log."""

from __future__ import annotations

import logging

from discountsim.experiments.lineup import build_lineup


def test_the_lineup_logs_start_and_finish_per_agent_and_prints_nothing_else(params, capsys, caplog) -> None:
    with caplog.at_level(logging.INFO):
        lineup = build_lineup(params, {"a2c": 100}, supervised={"n_shoppers": 50, "horizon": 3, "epochs": 1})
    assert capsys.readouterr().out == ""  # pytest's stdout is not a terminal: no bar, no spinner
    lines = [r.getMessage() for r in caplog.records]
    assert "default: fitting supervised (n_shoppers=50, horizon=3, epochs=1)" in lines
    assert any(line.startswith("default: fitted supervised in") for line in lines)
    assert "a2c: total_timesteps 100 rounded up to 4,096: SB3 trains in whole rollouts of 4,096 timesteps" in lines
    assert "a2c: training to 4,096 timesteps" in lines
    assert any(line.startswith("a2c: trained 4,096 timesteps in") for line in lines)
    assert lineup.curves["timesteps"].max() == 4096  # the learning curve ends where training did
