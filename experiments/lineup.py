"""The whole line-up of policies for one scenario, with what needs training trained on a budget."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from discountsim.agents import fit_supervised, make_policy, train_sb3
from discountsim.agents.callbacks import ShopMetricsCallback
from discountsim.simulators import SimulatorParams
from rich.console import Console


@dataclass
class TrainedLineup:
    """Policies by label, training seconds by label, and SB3 learning curves (``shop/`` metrics vs timesteps)."""

    policies: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)
    curves: pd.DataFrame = field(default_factory=pd.DataFrame)


def build_lineup(
    params: SimulatorParams,
    agents: Mapping[str, int],
    seed: int = 0,
    uniform_depth: float = 0.1,
    supervised: Mapping[str, Any] | None = None,
    closed_loop: Mapping[str, Any] | None = None,
    curve_points: int = 5,
    console: Console | None = None,
) -> TrainedLineup:
    """no_discount, uniform, rule_based, supervised (and its closed loop), SB3 agents, myopic_oracle, oracle.

    Args:
        agents: SB3 algorithm -> training timesteps (tuned settings from ``conf/agent``).
        seed: Training seed of the supervised model and the agents.
        supervised: ``fit_supervised`` arguments; None skips it.
        closed_loop: ``fit_supervised`` arguments with ``retrain_every`` for the closed loop; None skips it.
        curve_points: Evaluations of each agent during training (500 shoppers) for learning curves.
    """
    console = console or Console()
    lineup = TrainedLineup(
        {
            "no_discount": make_policy("no_discount", scenario=params),
            f"uniform_{round(uniform_depth * 100)}": make_policy("uniform", scenario=params, depth=uniform_depth),
            "rule_based": make_policy("rule_based", scenario=params),
        }
    )

    def timed(label: str, build) -> None:
        start = time.perf_counter()
        lineup.policies[label] = build()
        lineup.seconds[label] = time.perf_counter() - start
        console.log(f"{params.name}: trained {label} in {lineup.seconds[label]:.0f} s")

    if supervised is not None:
        timed("supervised", lambda: fit_supervised(params, seed=seed, **supervised))
    if closed_loop is not None:
        timed("supervised_closed_loop", lambda: fit_supervised(params, seed=seed, **closed_loop))
    curves = []
    for algorithm, steps in agents.items():
        callback = ShopMetricsCallback(params, max(int(steps) // max(curve_points, 1), 1), n_shoppers=500)
        timed(algorithm, lambda a=algorithm, s=steps, c=callback: train_sb3(a, params, int(s), seed, callback=c))
        curves.append(pd.DataFrame(callback.history).assign(policy=algorithm))
    lineup.curves = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame()
    lineup.policies["myopic_oracle"] = make_policy("myopic_oracle")
    lineup.policies["oracle"] = make_policy("oracle")
    return lineup
