"""SB3 callbacks that log DiscountSim's business metrics to TensorBoard through SB3's logger.

``ShopMetricsCallback`` evaluates the model being trained with ``agents.evaluate`` (the same
code and numbers as ``metrics.json``) every ``eval_every`` timesteps and records ``shop/<metric>``
scalars; at the start of training it records the run's hyperparameters as a TensorBoard HParams
entry whose metrics are those ``shop/`` scalars, so the runs of a sweep compare in one view.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from discountsim.agents.evaluation import evaluate
from discountsim.simulators import SimulatorParams
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import HParam, Logger, configure

SHOP_METRICS = (
    "profit",
    "revenue",
    "promotion_cost",
    "incremental_profit",
    "roi",
    "conversion",
    "retention",
    "avg_discount",
)
"""Evaluator columns logged as ``shop/<metric>`` (means per shopper; currency or fractions)."""


def _loggable(value: Any) -> bool | int | float | str:
    # TensorBoard's HParams accept only bool, int, float and str values.
    return value if isinstance(value, bool | int | float | str) else str(value)


def record_hparams(logger: Logger, hparams: dict[str, Any]) -> None:
    """Record ``hparams`` as a TensorBoard HParams entry whose metrics are the ``shop/`` scalars."""
    metrics = {f"shop/{m}": 0.0 for m in SHOP_METRICS}  # placeholders: the view reads the logged scalars
    logger.record(
        "hparams",
        HParam({k: _loggable(v) for k, v in hparams.items()}, metrics),
        exclude=("stdout", "log", "json", "csv"),
    )


def log_shop_metrics(folder: str | Path, metrics: dict[str, float], hparams: dict[str, Any], step: int = 0) -> None:
    """Write one TensorBoard run (``folder``) with ``shop/`` scalars and HParams, for policies that SB3
    does not train (hand-written, supervised), so that they sit beside the SB3 runs of a sweep."""
    logger = configure(str(folder), ["tensorboard"])
    record_hparams(logger, hparams)
    for metric in SHOP_METRICS:
        logger.record(f"shop/{metric}", float(metrics[metric]))
    logger.dump(step)
    logger.close()


class ShopMetricsCallback(BaseCallback):
    """Evaluate on fixed shoppers every ``eval_every`` timesteps and log ``shop/`` scalars and HParams.

    Evaluations happen between model updates (at the start of a rollout, once ``eval_every`` timesteps
    have passed since the last one) and once at the end of training, so every point of ``history`` is
    a different model and its ``timesteps`` are strictly increasing.

    Args:
        scenario: Scenario evaluated on (usually the training one).
        eval_every: Timesteps between evaluations, at least; rounded up to the next model update.
        n_shoppers: Shoppers per evaluation.
        horizon: Periods per evaluation.
        seed: Seed of the evaluation shoppers: every evaluation sees the same shoppers.
        hparams: The run's hyperparameters for the HParams view (flattened ``key.sub`` names).
    """

    def __init__(
        self,
        scenario: str | Path | SimulatorParams | dict[str, Any] = "default",
        eval_every: int = 100_000,
        n_shoppers: int = 500,
        horizon: int = 52,
        seed: int = 12345,
        hparams: dict[str, Any] | None = None,
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        if eval_every < 1:
            raise ValueError(f"eval_every: expected a positive number of timesteps, got {eval_every}")
        self.scenario = scenario
        self.eval_every = int(eval_every)
        self.n_shoppers = n_shoppers
        self.horizon = horizon
        self.seed = seed
        self.hparams = dict(hparams or {})
        self.last: dict[str, float] = {}
        self.history: list[dict[str, float]] = []  # one entry per evaluation: timesteps and metrics
        self._next_eval = 0

    def _on_training_start(self) -> None:
        self._next_eval = self.num_timesteps + self.eval_every
        record_hparams(self.logger, {"algorithm": type(self.model).__name__, **self.hparams})

    def _on_rollout_start(self) -> None:
        # Evaluate between updates, never during a rollout: the model only changes in train(), so a
        # point recorded mid-rollout repeats the previous update's model under a later timestep (the
        # doubled points of the learning curves). At a rollout's start the model has seen exactly
        # num_timesteps transitions; several due evaluations collapse into one.
        if self.num_timesteps >= self._next_eval:
            while self._next_eval <= self.num_timesteps:
                self._next_eval += self.eval_every
            self.evaluate_now()

    def _on_step(self) -> bool:
        return True

    def _on_training_end(self) -> None:
        if not self.history or self.history[-1]["timesteps"] != self.num_timesteps:  # not just evaluated
            self.evaluate_now()
        self.logger.dump(self.num_timesteps)

    def evaluate_now(self) -> dict[str, float]:
        """Evaluate the model now and record ``shop/<metric>``; returns the metrics."""
        row = evaluate(self.model, self.scenario, self.n_shoppers, self.horizon, self.seed).summary.iloc[0]
        self.last = {m: float(row[m]) for m in SHOP_METRICS}
        self.history.append({"timesteps": float(self.num_timesteps), **self.last})
        for metric, value in self.last.items():
            self.logger.record(f"shop/{metric}", value)
        return self.last
