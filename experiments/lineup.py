"""The whole line-up of policies for one scenario, with what needs training trained on a budget."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from discountsim.agents import fit_supervised, make_policy, train_sb3
from discountsim.agents.callbacks import ShopMetricsCallback
from discountsim.agents.distillation import DistillSettings
from discountsim.agents.sb3_agents import agent_config, is_distilled
from discountsim.simulators import SimulatorParams
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

logger = logging.getLogger(__name__)


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
    contact_cap: Mapping[str, int] | None = None,
    distill: Mapping[str, Any] | None = None,
    distill_scale: float = 1.0,
) -> TrainedLineup:
    """no_discount, uniform, rule_based, supervised (and its closed loop), SB3 agents, myopic_oracle, oracle.

    Args:
        agents: SB3 algorithm -> training timesteps (tuned settings from ``conf/agent``).
        seed: Training seed of the supervised model and the agents.
        supervised: ``fit_supervised`` arguments; None skips it.
        closed_loop: ``fit_supervised`` arguments with ``retrain_every`` for the closed loop; None skips it.
        curve_points: Evaluations of each agent during training (500 shoppers) for learning curves.
        contact_cap: The contact cap the SB3 agents train under (``ShopperVecEnv``'s), and their
            learning curves are measured under; None: none.
        distill: Overrides of the distilled agents' ``distill:`` blocks (``ppo_distilled``), e.g.
            ``{"shoppers": 1000}``; other agents ignore it.
        distill_scale: Multiplies the distilled agents' shoppers per round (at least 2), as a
            benchmark's ``--timesteps-scale`` multiplies training timesteps.
    """
    console = console or Console()
    lineup = TrainedLineup(
        {
            "no_discount": make_policy("no_discount", scenario=params),
            f"uniform_{round(uniform_depth * 100)}": make_policy("uniform", scenario=params, depth=uniform_depth),
            "rule_based": make_policy("rule_based", scenario=params),
        }
    )

    def timed(label: str, build: Callable[[], Any]) -> None:
        start = time.perf_counter()
        lineup.policies[label] = build()
        lineup.seconds[label] = time.perf_counter() - start

    def fit(label: str, arguments: Mapping[str, Any]) -> Any:
        logger.info("%s: fitting %s (%s)", params.name, label, ", ".join(f"{k}={v}" for k, v in arguments.items()))
        start = time.perf_counter()
        with _spinner(f"{params.name}: fitting {label}", console):  # epochs stop early: no ETA to give
            policy = fit_supervised(params, seed=seed, **arguments)
        logger.info("%s: fitted %s in %.0f s", params.name, label, time.perf_counter() - start)
        return policy

    for label, arguments in (("supervised", supervised), ("supervised_closed_loop", closed_loop)):
        if arguments is not None:
            timed(label, lambda lb=label, a=arguments: fit(lb, a))
    curves = []
    for algorithm, steps in agents.items():
        every = max(int(steps) // max(curve_points, 1), 1)
        callback = ShopMetricsCallback(params, every, n_shoppers=500, contact_cap=contact_cap)
        env = {} if contact_cap is None else {"contact_cap": dict(contact_cap)}
        # A bar with ETA per agent on a terminal; start and finish lines through logging either way.
        timed(
            algorithm,
            lambda a=algorithm, s=steps, c=callback, e=env: train_sb3(
                a,
                params,
                int(s),
                seed,
                callback=c,
                progress_bar=None,
                env=e,
                distill=_distill_overrides(a, distill, distill_scale),
            ),
        )
        curve = pd.DataFrame(callback.history)  # what each point was evaluated on, for the plot's labels
        curves.append(curve.assign(policy=algorithm, n_shoppers=callback.n_shoppers, horizon=callback.horizon))
    lineup.curves = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame()
    lineup.policies["myopic_oracle"] = make_policy("myopic_oracle")
    lineup.policies["oracle"] = make_policy("oracle")
    return lineup


def _distill_overrides(algorithm: str, distill: Mapping[str, Any] | None, scale: float) -> dict[str, Any] | None:
    """``train_sb3``'s ``distill=`` for ``algorithm``: None unless it is distilled."""
    if not is_distilled(algorithm):
        return None
    overrides = dict(distill or {})
    if scale != 1.0:
        shoppers = overrides.get(
            "shoppers", agent_config(algorithm)["distill"].get("shoppers", DistillSettings.shoppers)
        )
        overrides["shoppers"] = max(2, round(shoppers * scale))
    return overrides


@contextmanager
def _spinner(description: str, console: Console) -> Iterator[None]:
    """A spinner with the elapsed time while something without a known length runs, on a terminal only."""
    if not console.is_terminal:
        yield
        return
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as bar:
        bar.add_task(description, total=None)
        yield
