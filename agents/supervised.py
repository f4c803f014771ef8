"""The seeds' supervised deep-learning pipeline, as a discount policy.

1. Log behaviour under a logging policy (random offers on a grid, known propensities).
2. Preprocess: drop rows with missing values, standardise features, keep the one-hot category.
3. Train a torch MLP (default 128-64, ReLU, Adam, MSE, validation split, early stopping) that
   predicts a shopper's immediate outcome, purchase (0/1) and profit, from observation and discount.
4. Offer each shopper the grid discount with the highest predicted immediate profit.

It is myopic by construction: it learns this period's response, not what the offer does to the
shopper's reference discount, fatigue, stock or churn.

Optional closed loop (``train_supervised_closed_loop``): deploy the model with a little
exploration, and every K periods refit it on the log its own offers produced (the seeds'
"feedback -> model adjustment" step).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from discountsim.agents.base import DiscountPolicy
from discountsim.simulators import (
    RandomGridLoggingPolicy,
    ShopperSimulator,
    SimulatorParams,
    check_count,
    feature_names,
    generate_behaviour_log,
)
from discountsim.simulators.behaviour_log import log_periods
from numpy.typing import NDArray
from torch import nn

TARGETS = ("purchased", "profit")


@dataclass
class FitReport:
    """What training measured.

    Attributes:
        train_loss, val_loss: final MSE on standardised targets (train, held-out validation).
        epochs: epochs run before early stopping.
        calibration: per decile of predicted purchase probability on validation rows, the mean
            prediction and the observed purchase rate.
    """

    train_loss: float
    val_loss: float
    epochs: int
    calibration: pd.DataFrame


def _mlp(n_inputs: int, hidden: Sequence[int], n_outputs: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(n_inputs, width), nn.ReLU()]
        n_inputs = width
    layers.append(nn.Linear(n_inputs, n_outputs))
    return nn.Sequential(*layers)


class SupervisedPolicy(DiscountPolicy):
    """Gives each shopper the grid discount that maximises predicted immediate profit.

    Args:
        scenario: Scenario whose observation layout and d_max the policy uses.
        grid: Candidate discounts (fractions in [0, d_max]).
        hidden: Hidden layer widths of the MLP.
        seed: Seed of weight initialisation and the train/validation split.
    """

    name = "supervised"

    def __init__(
        self,
        scenario: str | Path | SimulatorParams | dict[str, Any] = "default",
        grid: Sequence[float] = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3),
        hidden: Sequence[int] = (128, 64),
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(scenario, **kwargs)
        params = self.scenario
        self.grid = np.asarray(grid, dtype=np.float64)
        if self.grid.ndim != 1 or self.grid.size == 0 or np.any((self.grid < 0) | (self.grid > self.d_max)):
            raise ValueError(f"grid: expected discounts in [0, {self.d_max}], got {list(grid)!r}")
        self.hidden = tuple(int(h) for h in hidden)
        self.seed = int(seed)
        self.features = feature_names(params)
        torch.manual_seed(self.seed)
        self.model = _mlp(len(self.features) + 1, self.hidden, len(TARGETS))
        self.x_mean = np.zeros(len(self.features) + 1, dtype=np.float32)
        self.x_std = np.ones(len(self.features) + 1, dtype=np.float32)
        self.y_mean = np.zeros(len(TARGETS), dtype=np.float32)
        self.y_std = np.ones(len(TARGETS), dtype=np.float32)
        self.fitted = False

    def fit(
        self,
        log: pd.DataFrame,
        epochs: int = 50,
        batch_size: int = 1024,
        learning_rate: float = 1e-3,
        val_fraction: float = 0.2,
        patience: int = 5,
    ) -> FitReport:
        """Train the outcome model on a behaviour log (``simulators.generate_behaviour_log``).

        Raises:
            ValueError: If the log lacks a feature, ``discount`` or a target column, or has
                fewer than 10 usable rows.
        """
        needed = [*self.features, "discount", *TARGETS]
        missing = [c for c in needed if c not in log.columns]
        if missing:
            raise ValueError(f"log: missing columns {missing}; a behaviour log has {needed}")
        clean = log[needed].replace([np.inf, -np.inf], np.nan).dropna()
        if len(clean) < 10:
            raise ValueError(f"log: only {len(clean)} usable rows after dropping missing values; need >= 10")
        x = clean[[*self.features, "discount"]].to_numpy(np.float32)
        y = clean[list(TARGETS)].to_numpy(np.float32)
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(len(x))
        n_val = max(1, int(len(x) * val_fraction))
        val, train = order[:n_val], order[n_val:]
        self.x_mean, self.x_std = x[train].mean(0), x[train].std(0) + 1e-6
        self.y_mean, self.y_std = y[train].mean(0), y[train].std(0) + 1e-6
        xs = torch.from_numpy((x - self.x_mean) / self.x_std)
        ys = torch.from_numpy((y - self.y_mean) / self.y_std)
        torch.manual_seed(self.seed)
        self.model = _mlp(x.shape[1], self.hidden, len(TARGETS))
        optimiser = torch.optim.Adam(self.model.parameters(), lr=learning_rate)
        loss_fn = nn.MSELoss()
        best, best_state, waited, epochs_run, train_loss = float("inf"), None, 0, 0, float("nan")
        generator = torch.Generator().manual_seed(self.seed)
        train_t = torch.from_numpy(train)
        for epoch in range(1, epochs + 1):
            epochs_run = epoch
            self.model.train()
            total = 0.0
            for batch in train_t[torch.randperm(len(train_t), generator=generator)].split(batch_size):
                optimiser.zero_grad()
                loss = loss_fn(self.model(xs[batch]), ys[batch])
                loss.backward()
                optimiser.step()
                total += float(loss.detach()) * len(batch)
            train_loss = total / len(train)
            val_loss = self._loss(xs[val], ys[val])
            if val_loss < best - 1e-5:
                best, waited = val_loss, 0
                best_state = {k: v.clone() for k, v in self.model.state_dict().items()}
            else:
                waited += 1
                if waited >= patience:
                    break
        if best_state is not None:
            self.model.load_state_dict(best_state)
        self.fitted = True
        predicted = self._predict_outcomes(x[val])[:, 0]
        deciles = pd.qcut(predicted, 10, labels=False, duplicates="drop")
        calibration = (
            pd.DataFrame({"decile": deciles, "predicted": predicted, "observed": y[val, 0]})
            .groupby("decile")
            .mean()
            .reset_index()
        )
        return FitReport(train_loss=train_loss, val_loss=best, epochs=epochs_run, calibration=calibration)

    def _loss(self, xs: torch.Tensor, ys: torch.Tensor) -> float:
        self.model.eval()
        with torch.no_grad():
            return float(nn.functional.mse_loss(self.model(xs), ys))

    def _predict_outcomes(self, x: NDArray[np.float32]) -> NDArray[np.float32]:
        """Predicted (purchase, profit) in original units for inputs ``(m, n_features + 1)``."""
        self.model.eval()
        with torch.no_grad():
            out = self.model(torch.from_numpy(((x - self.x_mean) / self.x_std).astype(np.float32))).numpy()
        return out * self.y_std + self.y_mean

    def predict_profit(self, observations: NDArray[np.float32], discounts: NDArray[np.float64]) -> NDArray[np.float64]:
        """Predicted immediate profit ``(n,)`` (currency) of offering ``discounts[i]`` to shopper ``i``."""
        x = np.concatenate([np.asarray(observations, np.float32), np.asarray(discounts, np.float32)[:, None]], axis=1)
        return self._predict_outcomes(x)[:, 1].astype(np.float64)

    def expected_profit(self, observations: NDArray[np.float32]) -> NDArray[np.float64]:
        """Predicted immediate profit of each grid discount, ``(n, len(grid))`` currency."""
        n, k = observations.shape[0], self.grid.size
        x = np.concatenate([np.repeat(observations, k, axis=0), np.tile(self.grid, n)[:, None]], axis=1)
        return self._predict_outcomes(x.astype(np.float32))[:, 1].reshape(n, k).astype(np.float64)

    def config(self) -> dict[str, Any]:
        return {
            **super().config(),
            "grid": self.grid.tolist(),
            "hidden": list(self.hidden),
            "seed": self.seed,
        }

    def get_state(self) -> dict[str, Any]:
        """Learned weights and scalers as nested lists (float32 values, exact through JSON)."""
        if not self.fitted:
            return {}
        weights = {k: v.numpy().tolist() for k, v in self.model.state_dict().items()}
        scalers = {k: getattr(self, k).tolist() for k in ("x_mean", "x_std", "y_mean", "y_std")}
        return {"weights": weights, "scalers": scalers}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore ``get_state``'s weights and scalers.

        Raises:
            ValueError: Keys are missing, or shapes do not fit this policy's features and hidden layers.
        """
        if not state:
            return
        if not isinstance(state, dict) or not {"weights", "scalers"} <= set(state):
            raise ValueError(f"state: expected keys ['scalers', 'weights'], got {sorted(state)}")
        expected = {k: tuple(v.shape) for k, v in self.model.state_dict().items()}
        try:
            weights = {k: torch.tensor(v, dtype=torch.float32) for k, v in state["weights"].items()}
        except (TypeError, ValueError, AttributeError) as err:
            raise ValueError(f"state.weights: not numeric arrays ({err})") from err
        shapes = {k: tuple(v.shape) for k, v in weights.items()}
        if shapes != expected:
            raise ValueError(
                f"state.weights: shapes {shapes} do not fit {len(self.features)} features and hidden layers "
                f"{list(self.hidden)} (expected {expected})"
            )
        scalers = state["scalers"]
        sizes = {"x_mean": len(self.features) + 1, "x_std": len(self.features) + 1}
        sizes |= {"y_mean": len(TARGETS), "y_std": len(TARGETS)}
        if not isinstance(scalers, dict) or set(scalers) != set(sizes):
            raise ValueError(f"state.scalers: expected keys {sorted(sizes)}, got {sorted(scalers)}")
        arrays = {k: np.asarray(v, dtype=np.float32) for k, v in scalers.items()}
        for key, size in sizes.items():
            if arrays[key].shape != (size,) or not np.isfinite(arrays[key]).all():
                raise ValueError(f"state.scalers.{key}: expected {size} finite numbers, got shape {arrays[key].shape}")
        self.model.load_state_dict(weights)
        for key, values in arrays.items():
            setattr(self, key, values)
        self.fitted = True

    def discounts(self, observations: NDArray[np.float32]) -> NDArray[np.float64]:
        if not self.fitted:
            raise RuntimeError("supervised policy: call fit(log) or train_supervised(...) before predicting")
        return self.grid[np.argmax(self.expected_profit(observations), axis=1)]


def train_supervised(
    scenario: str | Path | SimulatorParams | dict[str, Any] = "default",
    n_shoppers: int = 2000,
    horizon: int = 26,
    seed: int = 0,
    **kwargs: Any,
) -> tuple[SupervisedPolicy, FitReport]:
    """Log random offers on ``scenario`` and fit a ``SupervisedPolicy`` to them (the seeds' pipeline)."""
    fit_keys = {"epochs", "batch_size", "learning_rate", "val_fraction", "patience"}
    fit_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in fit_keys}
    policy = SupervisedPolicy(scenario, seed=seed, **kwargs)
    log = generate_behaviour_log(
        policy.scenario,
        RandomGridLoggingPolicy(policy.grid, seed=seed),
        n_shoppers=n_shoppers,
        horizon=horizon,
        seed=seed + 1,
    )
    return policy, policy.fit(log, **fit_kwargs)


@dataclass
class EpsilonGreedyLogger:
    """Logging policy of a deployed model: its own offer, or a random grid level with probability ``epsilon``.

    The propensities are exact: (1 - epsilon) + epsilon / k for the model's level, epsilon / k for the others.
    """

    policy: SupervisedPolicy
    epsilon: float
    rng: np.random.Generator

    def __call__(self, observations: NDArray[np.float32]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        grid = self.policy.grid
        greedy = np.argmax(self.policy.expected_profit(observations), axis=1)
        explore = self.rng.random(observations.shape[0]) < self.epsilon
        chosen = np.where(explore, self.rng.integers(0, grid.size, observations.shape[0]), greedy)
        share = self.epsilon / grid.size
        return grid[chosen], np.where(chosen == greedy, 1.0 - self.epsilon + share, share)


def train_supervised_closed_loop(
    scenario: str | Path | SimulatorParams | dict[str, Any] = "default",
    n_shoppers: int = 2000,
    horizon: int = 52,
    retrain_every: int = 13,
    epsilon: float = 0.1,
    seed: int = 0,
    **kwargs: Any,
) -> tuple[SupervisedPolicy, list[FitReport]]:
    """The seeds' feedback loop: fit on a random-offer log, then deploy and refit every ``retrain_every`` periods.

    The first ``retrain_every`` periods of the population are logged under random offers; from
    then on the current model makes the offers (exploring with probability ``epsilon``) to the
    same shoppers, and after each block it is refit on everything logged so far.

    Args:
        horizon: Periods the population is followed in total.
        retrain_every: K, periods between refits.
        epsilon: Exploration probability of the deployed model, in [0, 1].
        kwargs: ``SupervisedPolicy`` and ``fit`` arguments.

    Returns:
        The last model and the fit report of every refit (the first is the random-log fit).
    """
    horizon = check_count("horizon", horizon)
    retrain_every = check_count("retrain_every", retrain_every)
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon: expected a probability in [0, 1], got {epsilon}")
    fit_keys = {"epochs", "batch_size", "learning_rate", "val_fraction", "patience"}
    fit_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in fit_keys}
    policy = SupervisedPolicy(scenario, seed=seed, **kwargs)
    sim = ShopperSimulator(policy.scenario, n_shoppers, seed + 1)
    sim.reset()
    logs = [log_periods(sim, RandomGridLoggingPolicy(policy.grid, seed=seed), min(retrain_every, horizon))]
    reports = [policy.fit(pd.concat(logs, ignore_index=True), **fit_kwargs)]
    deployed = EpsilonGreedyLogger(policy, epsilon, np.random.default_rng(seed + 2))
    for start in range(retrain_every, horizon, retrain_every):
        logs.append(log_periods(sim, deployed, min(retrain_every, horizon - start), first_period=start))
        reports.append(policy.fit(pd.concat(logs, ignore_index=True), **fit_kwargs))
    return policy, reports


def fit_supervised(
    scenario: str | Path | SimulatorParams | dict[str, Any] = "default",
    n_shoppers: int = 3000,
    horizon: int = 26,
    seed: int = 0,
    retrain_every: int | None = None,
    epsilon: float = 0.1,
    **kwargs: Any,
) -> SupervisedPolicy:
    """The trained ``supervised`` policy alone (for configs): open loop, or closed loop if ``retrain_every`` is set."""
    if retrain_every is None:
        return train_supervised(scenario, n_shoppers, horizon, seed, **kwargs)[0]
    return train_supervised_closed_loop(scenario, n_shoppers, horizon, retrain_every, epsilon, seed, **kwargs)[0]
