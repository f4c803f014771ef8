"""SB3 callbacks: business metrics in TensorBoard, SB3's own scalars on a schedule, progress with an ETA.

``ShopMetricsCallback`` evaluates the model being trained with ``agents.evaluate`` (the same
code and numbers as ``metrics.json``) every ``eval_every`` timesteps and records ``shop/<metric>``
scalars; at the start of training it records the run's hyperparameters as a TensorBoard HParams
entry whose metrics are those ``shop/`` scalars, so the runs of a sweep compare in one view.
``DumpLogsCallback`` writes SB3's ``time/`` and ``rollout/`` scalars every so many timesteps and at
the end of training; ``ProgressCallback`` shows a progress bar with an ETA on a terminal and logs
a start and a finish line.

Periodic work happens at the start of a rollout, when the previous update is done: the weights
then are those of the timestep count they are logged (or saved) under.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

from discountsim.agents.evaluation import EvaluationShoppers
from discountsim.agents.storage import write_json
from discountsim.simulators import SimulatorParams
from discountsim.simulators.contact_cap import ContactCap, contact_cap_arg
from discountsim.simulators.errors import DiscountSimInputError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import HParam, Logger, configure

logger = logging.getLogger(__name__)

SHOP_METRICS = (
    "profit",
    "revenue",
    "promotion_cost",
    "incremental_profit",
    "roi",
    "conversion",
    "retention",
    "avg_discount",
    "uplift_captured",
)
"""Evaluator columns logged as ``shop/<metric>`` (means per shopper; currency or fractions).

``uplift_captured`` is incremental profit as a share of the oracle's on the same shoppers; NaN (and
not logged) when the evaluation runs without the oracle."""


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
        if not math.isnan(float(metrics[metric])):
            logger.record(f"shop/{metric}", float(metrics[metric]))
    logger.dump(step)
    logger.close()


class RolloutScheduleCallback(BaseCallback):
    """Call ``on_schedule()`` between model updates, every ``every`` timesteps.

    SB3 changes the model only in ``train()``, after a rollout, so anything that reads or saves the
    model (an evaluation, a checkpoint, a log dump) runs at the first rollout start at or after each
    multiple of ``every`` timesteps (also after a resume); several due multiples collapse into one.
    Timesteps are the model's ``num_timesteps``, not callback calls (one per step of ``n_envs``).
    """

    def __init__(self, every: int, name: str = "every", verbose: int = 0) -> None:
        super().__init__(verbose)
        if every < 1:
            raise ValueError(f"{name}: expected a positive number of timesteps, got {every}")
        self.every = int(every)
        self._next = 0

    def _on_training_start(self) -> None:
        self._next = next_multiple(self.num_timesteps, self.every)

    def _on_rollout_start(self) -> None:
        if self.num_timesteps >= self._next:
            self._next = next_multiple(self.num_timesteps, self.every)
            self.on_schedule()

    def _on_step(self) -> bool:
        return True

    def on_schedule(self) -> None:
        """What to do when due."""
        raise NotImplementedError


class ShopMetricsCallback(RolloutScheduleCallback):
    """Evaluate on fixed shoppers every ``eval_every`` timesteps and log ``shop/`` scalars and HParams.

    Evaluations happen between model updates (at the first rollout start at or after each multiple of
    ``eval_every``, also after a resume) and once at the end of training unless it just evaluated, so
    every point of ``history`` is a different model and its ``timesteps`` are strictly increasing.

    Args:
        scenario: Scenario evaluated on (usually the training one).
        eval_every: Timesteps between evaluations, counted in the model's ``num_timesteps`` (not in
            callback calls, which SB3 makes once per vectorised step of ``n_envs`` timesteps).
        n_shoppers: Shoppers per evaluation.
        horizon: Periods per evaluation.
        seed: Seed of the evaluation shoppers: every evaluation sees the same shoppers.
        hparams: The run's hyperparameters for the HParams view (flattened ``key.sub`` names).
        oracle: Also measure ``uplift_captured`` against the oracle on the same shoppers. The
            oracle and no-discount runs are made once, at the first evaluation, and reused.
        contact_cap: The contact cap the agent trains under: evaluations keep it (``evaluate``).
    """

    def __init__(
        self,
        scenario: str | Path | SimulatorParams | dict[str, Any] = "default",
        eval_every: int = 100_000,
        n_shoppers: int = 500,
        horizon: int = 52,
        seed: int = 12345,
        hparams: dict[str, Any] | None = None,
        oracle: bool = True,
        contact_cap: ContactCap | dict[str, int] | None = None,
        verbose: int = 0,
    ) -> None:
        super().__init__(eval_every, "eval_every", verbose)
        self.oracle = bool(oracle)
        self.contact_cap = contact_cap_arg(contact_cap)
        self._shoppers: EvaluationShoppers | None = None
        self.scenario = scenario
        self.n_shoppers = n_shoppers
        self.horizon = horizon
        self.seed = seed
        self.hparams = dict(hparams or {})
        self.last: dict[str, float] = {}
        self.history: list[dict[str, float]] = []  # one entry per evaluation: timesteps and metrics

    @property
    def eval_every(self) -> int:
        return self.every

    @property
    def shoppers(self) -> EvaluationShoppers | None:
        """The evaluation shoppers with their no-discount and oracle runs, once the first evaluation made them."""
        return self._shoppers

    def _on_training_start(self) -> None:
        super()._on_training_start()
        record_hparams(self.logger, {"algorithm": type(self.model).__name__, **self.hparams})

    def on_schedule(self) -> None:
        # Never mid-rollout: a point recorded there repeats the previous update's model under a later timestep.
        self.evaluate_now()

    def _on_training_end(self) -> None:
        if not self.history or self.history[-1]["timesteps"] != self.num_timesteps:  # not just evaluated
            self.evaluate_now()
        self.logger.dump(self.num_timesteps)

    def evaluate_now(self) -> dict[str, float]:
        """Evaluate the model now and record ``shop/<metric>``; returns the metrics."""
        if self._shoppers is None:
            self._shoppers = EvaluationShoppers.make(
                self.scenario, self.n_shoppers, self.horizon, self.seed, self.oracle, contact_cap=self.contact_cap
            )
        row = self._shoppers.evaluate(self.model, type(self.model).__name__).summary.iloc[0]
        self.last = {m: float(row[m]) for m in SHOP_METRICS}
        self.history.append({"timesteps": float(self.num_timesteps), **self.last})
        for metric, value in self.last.items():
            if not math.isnan(value):
                self.logger.record(f"shop/{metric}", value)
        return self.last


class BestFeasibleIterate:
    """The most profitable feasible policy a constrained run has measured, restored at its end.

    Where a Lagrangian run's last iterate lands swings with its multipliers' last oscillation, so the
    constraint callbacks keep the best feasible one (the common practice of reporting the best
    feasible policy of a constrained run). ``best`` holds the kept iterate's figures (``timesteps``,
    ``profit`` and the constraint's own), or None.
    """

    def __init__(self) -> None:
        self.best: dict[str, float] | None = None
        self._weights: dict[str, Any] | None = None

    def offer(self, model: Any, feasible: bool, figures: dict[str, float]) -> None:
        """Keep ``model``'s weights if ``feasible`` and more profitable (``figures["profit"]``) than the kept ones."""
        if feasible and (self.best is None or figures["profit"] > self.best["profit"]):
            self.best = dict(figures)
            self._weights = copy.deepcopy(model.policy.state_dict())

    def restore(self, model: Any) -> bool:
        """Load the kept weights into ``model``; False when no iterate was feasible."""
        if self._weights is None:
            return False
        model.policy.load_state_dict(self._weights)
        return True


class LagrangianBudgetCallback(RolloutScheduleCallback):
    """Meet a promotion budget on average by pricing spend into the reward (a Lagrangian relaxation).

    As PPO-Lagrangian does for cost constraints (Ray, Achiam & Amodei 2019, "Benchmarking Safe
    Exploration in Deep RL"; the Lagrangian baselines of OmniSafe and Safety-Gymnasium), the
    constraint E[spend per shopper-week] <= b gets a dual variable lam >= 0. The training reward
    is ``(profit - lam * promotion_cost) / (1 + lam)`` (``ShopperVecEnv.cost_multiplier``; the
    division keeps its scale bounded however large lam grows, as OmniSafe does with the
    advantages). Every ``every`` timesteps the policy's *deterministic* spend is measured on fixed
    shoppers (what the evaluator will see; the sampled training actions spend more, through
    exploration). With e = spend / b - 1 the relative violation, the integral
    ``I <- max(0, I + dual_lr * e)`` is the classic dual ascent, and lam = max(0, I + kp * e) adds a
    proportional term that answers the current overspend at once (the PID Lagrangian of Stooke,
    Achiam & Abbeel 2020, "Responsive Safety in RL by PID Lagrangian Methods", without its
    derivative term), which damps the overshoot of pure dual ascent. lam rises while the policy
    overspends and falls when it underspends, so the policy learns where spend buys the most.

    Where the last iterate lands swings with lam's last oscillation, so by default the callback
    keeps the best *feasible* iterate (``keep_best_feasible``): at every update, a policy whose
    measured spend is at most ``(1 - feasibility_margin) * b`` and whose profit on the same
    shoppers is the highest so far is copied, and restored at the end of training (the common
    practice of reporting the best feasible policy of a constrained run; the margin leaves room
    for the spend on other shoppers to differ). Judge it on other shoppers than these. A resumed
    run considers only the iterates after the resume.

    Args:
        budget_per_shopper_week: b, the budget per shopper and week (currency); a population's
            weekly budget B over N shoppers is b = B / N.
        dual_lr: Step size of the dual update (integral gain), per unit of relative violation.
        initial_multiplier: lam (and the integral) at the start.
        kp: Proportional gain; 0 gives plain dual ascent.
        contact_cap: The contact cap the agent trains under: the spend is measured under it too.
        state_file: Where the multiplier is written after every update (atomically) and read back
            at the start of training, so that a resumed run continues it; None: not kept.
        every: Timesteps between dual updates (at rollout boundaries).
        scenario: The training scenario (the spend is measured on it).
        n_shoppers, horizon, seed: The fixed shoppers the spend is measured on.
        keep_best_feasible: Restore the best feasible iterate at the end of training (see above).
        feasibility_margin: Share of the budget an iterate must stay under to count as feasible.
    """

    def __init__(
        self,
        budget_per_shopper_week: float,
        dual_lr: float = 0.1,
        initial_multiplier: float = 0.0,
        every: int = 32_768,
        scenario: str | Path | SimulatorParams | dict[str, Any] = "default",
        n_shoppers: int = 500,
        horizon: int = 52,
        seed: int = 54321,
        kp: float = 1.0,
        contact_cap: ContactCap | dict[str, int] | None = None,
        state_file: str | Path | None = None,
        keep_best_feasible: bool = True,
        feasibility_margin: float = 0.02,
        verbose: int = 0,
    ) -> None:
        super().__init__(every, "lagrangian.every", verbose)
        if not (isinstance(feasibility_margin, int | float) and 0.0 <= feasibility_margin < 1.0):
            raise ValueError(f"lagrangian.feasibility_margin: expected a share in [0, 1), got {feasibility_margin!r}")
        self.keep_best_feasible = bool(keep_best_feasible)
        self.feasibility_margin = float(feasibility_margin)
        self.kept = BestFeasibleIterate()  # timesteps, spend, profit of the kept iterate
        self.contact_cap = contact_cap_arg(contact_cap)
        self.state_file = None if state_file is None else Path(state_file)
        if not (math.isfinite(kp) and kp >= 0.0):
            raise ValueError(f"lagrangian.kp: expected a finite value >= 0, got {kp!r}")
        self.kp = float(kp)
        for name, value in (("budget_per_shopper_week", budget_per_shopper_week), ("dual_lr", dual_lr)):
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0.0):
                raise ValueError(f"lagrangian.{name}: expected a finite amount > 0, got {value!r}")
        if not (math.isfinite(initial_multiplier) and initial_multiplier >= 0.0):
            raise ValueError(f"lagrangian.initial_multiplier: expected a finite value >= 0, got {initial_multiplier!r}")
        self.budget = float(budget_per_shopper_week)
        self.dual_lr = float(dual_lr)
        self.multiplier = float(initial_multiplier)
        self.integral = float(initial_multiplier)
        self.scenario, self.n_shoppers, self.horizon, self.seed = scenario, n_shoppers, horizon, seed
        self._shoppers: EvaluationShoppers | None = None
        self.history: list[dict[str, float]] = []  # per update: timesteps, deterministic spend, multiplier

    @property
    def best(self) -> dict[str, float] | None:
        """Timesteps, spend and profit of the kept feasible iterate, or None."""
        return self.kept.best

    def _on_training_start(self) -> None:
        super()._on_training_start()
        if self.state_file is not None and self.state_file.is_file():
            try:
                saved = json.loads(self.state_file.read_text())
                self.integral, self.multiplier = float(saved["integral"]), float(saved["multiplier"])
            except (OSError, ValueError, KeyError, TypeError) as err:
                problem = f"{self.state_file}: not a Lagrangian state ({err}); delete it to restart"
                raise DiscountSimInputError(problem) from err  # a user's file: one line, no traceback
            logger.info("continuing the budget multiplier from %s: %.4g", self.state_file, self.multiplier)
        self.training_env.set_attr("cost_multiplier", self.multiplier)

    def spend(self) -> float:
        """The model's deterministic promotion spend per shopper-week on the fixed shoppers (currency)."""
        return self._measure()[0]

    def _measure(self) -> tuple[float, float]:
        """Deterministic spend per shopper-week and profit per shopper on the fixed shoppers (currency)."""
        if self._shoppers is None:
            self._shoppers = EvaluationShoppers.make(
                self.scenario, self.n_shoppers, self.horizon, self.seed, False, contact_cap=self.contact_cap
            )
        totals = self._shoppers.run(self.model)
        return float(totals.promotion_cost.mean()) / self.horizon, float(totals.profit.mean())

    def _on_training_end(self) -> None:
        if self.kept.restore(self.model) and self.best is not None:
            logger.info(
                "lagrangian: restored the best feasible iterate (%s timesteps: spend %.4g per shopper-week against "
                "a budget of %.4g, profit %.2f on the callback's shoppers)",
                f"{int(self.best['timesteps']):,}",
                self.best["spend"],
                self.budget,
                self.best["profit"],
            )
        elif self.keep_best_feasible:
            logger.warning("lagrangian: no iterate met the budget on the callback's shoppers; keeping the last one")

    def on_schedule(self) -> None:
        spend, profit = self._measure()
        feasible = spend <= (1.0 - self.feasibility_margin) * self.budget
        if self.keep_best_feasible:
            self.kept.offer(
                self.model, feasible, {"timesteps": float(self.num_timesteps), "spend": spend, "profit": profit}
            )
        violation = spend / self.budget - 1.0
        self.integral = max(0.0, self.integral + self.dual_lr * violation)
        self.multiplier = max(0.0, self.integral + self.kp * violation)
        self.training_env.set_attr("cost_multiplier", self.multiplier)
        self.history.append({"timesteps": float(self.num_timesteps), "spend": spend, "multiplier": self.multiplier})
        if self.state_file is not None:
            state = {"integral": self.integral, "multiplier": self.multiplier, "timesteps": self.num_timesteps}
            write_json(self.state_file, state)
        self.logger.record("constraint/spend_per_shopper_week", spend)
        self.logger.record("constraint/budget_per_shopper_week", self.budget)
        self.logger.record("constraint/budget_multiplier", self.multiplier)


def next_multiple(timesteps: int, every: int) -> int:
    """The first multiple of ``every`` after ``timesteps``."""
    return (int(timesteps) // every + 1) * every


class DumpLogsCallback(RolloutScheduleCallback):
    """Write SB3's ``time/``, ``rollout/`` and pending ``train/`` scalars every ``every`` timesteps and at the end.

    SB3 dumps every ``log_interval`` iterations (on-policy) or episodes (off-policy), so a short
    A2C run (``log_interval=100``) or an off-policy run shorter than an episode logs no ``time/``
    at all. Use with ``learn(..., log_interval=None)``; dumps go through the model's own
    ``dump_logs``, so the tags are SB3's.
    """

    def __init__(self, every: int, verbose: int = 0) -> None:
        super().__init__(every, "every", verbose)
        self.dumped_at: list[int] = []  # timesteps of each dump

    def _on_training_end(self) -> None:
        if not self.dumped_at or self.dumped_at[-1] != self.num_timesteps:
            self.on_schedule()

    def on_schedule(self) -> None:
        self.model.dump_logs()
        self.dumped_at.append(int(self.num_timesteps))


class ProgressCallback(BaseCallback):
    """A progress bar (label, timesteps done/total, elapsed, ETA) on a terminal; start and finish log lines.

    Args:
        label: What is trained (the agent's name).
        total_timesteps: Timesteps the run ends at, counting those trained before a resume; the
            bar starts at the model's ``num_timesteps``.
        bar: Show the bar: True, False, or None for "when stdout is a terminal". The log lines
            (``logging``, so they reach a job's log file) are written either way, before the bar
            appears and after it stops, so that they never interleave with it.
        console: Where the bar is drawn (default: stdout).
    """

    def __init__(
        self,
        label: str,
        total_timesteps: int,
        bar: bool | None = None,
        console: Console | None = None,
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        self.label = label
        self.total_timesteps = int(total_timesteps)
        self.console = console
        self.bar = (console or Console()).is_terminal if bar is None else bool(bar)
        self._progress: Progress | None = None
        self._task: Any = None
        self._started = 0.0
        self._start_timesteps = 0

    def _on_training_start(self) -> None:
        self._started = time.perf_counter()
        self._start_timesteps = int(self.num_timesteps)
        resumed = f" (resuming at {self._start_timesteps:,})" if self._start_timesteps else ""
        logger.info("%s: training to %s timesteps%s", self.label, f"{self.total_timesteps:,}", resumed)
        if self.bar:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed:,.0f}/{task.total:,.0f} timesteps"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
            )
            self._progress.start()
            # Counted from this run's first timestep, so that the ETA reflects this run's speed.
            self._task = self._progress.add_task(
                self.label, total=self.total_timesteps, completed=self._start_timesteps
            )

    def _on_step(self) -> bool:
        if self._progress is not None:
            self._progress.update(self._task, completed=min(self.num_timesteps, self.total_timesteps))
        return True

    def close(self) -> None:
        """Stop the bar (idempotent): ``learn`` calls it also when training raises, to restore the terminal."""
        if self._progress is not None:
            self._progress.update(self._task, completed=min(self.num_timesteps, self.total_timesteps))
            self._progress.stop()
            self._progress = None

    def _on_training_end(self) -> None:
        self.close()
        seconds = time.perf_counter() - self._started
        done = int(self.num_timesteps) - self._start_timesteps
        logger.info(
            "%s: trained %s timesteps in %.0f s (%s timesteps/s)",
            self.label,
            f"{int(self.num_timesteps):,}",
            seconds,
            f"{done / max(seconds, 1e-9):,.0f}",
        )
