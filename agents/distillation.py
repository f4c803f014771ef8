"""Distil a privileged teacher (the oracle) into an SB3 policy that reads only observations: DAgger.

The oracle knows each shopper's latent traits, reference price, fatigue, stock and this week's
intent; a marketer sees none of them. Reinforcement learning from the reward alone recovers a
third of the oracle's incremental profit here (README, "What each learning lever buys").
Teacher-student distillation is the simulator's other way to a deployable policy: the student
reads the same observations as any other policy and is trained by supervised learning to pick the
teacher's discount in the states the student itself visits.

DAgger (Ross, Gordon & Bagnell, 2011, "A reduction of imitation learning and structured
prediction to no-regret online learning", AISTATS): round 0 rolls the teacher out and records
(observation, teacher's action); every later round rolls the *student* out on fresh shoppers and
records the teacher's action in the states the student reached, so the student learns to recover
from its own mistakes; after each round the student is fitted on everything recorded so far
(cross-entropy, i.e. the negative log-likelihood of the teacher's action under the SB3 policy's
action distribution). The privileged-teacher form is that of "Learning by Cheating" (Chen, Zhou,
Koltun & Krähenbühl, 2019, CoRL) and of the teacher-student training of legged-robot controllers
(Lee et al., 2020, Science Robotics): the teacher uses what only the simulator knows, the student
what deployment has.

The student is the SB3 model's own policy network (PPO or A2C: an ``ActorCriticPolicy``), so it is
saved, loaded, fingerprinted and evaluated as any SB3 agent, and PPO can go on training it on the
reward (``total_timesteps`` after distillation). ``DistillationCallback`` runs DAgger when training
starts and logs ``distill/`` scalars through SB3's logger.
"""

from __future__ import annotations

import logging
import numbers
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
from discountsim.agents.base import PrivilegedPolicy
from discountsim.agents.oracle import MyopicOraclePolicy, OraclePolicy
from discountsim.envs import ShopperVecEnv
from discountsim.simulators import check_count, rollout, spawn_keys
from discountsim.simulators.errors import DiscountSimInputError
from discountsim.simulators.memory import check_memory
from numpy.typing import NDArray
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.policies import ActorCriticPolicy

logger = logging.getLogger(__name__)

DISTILL_STREAM = 0x64616767  # "dagg": the shoppers DAgger rolls out, apart from training and evaluation
TEACHERS = ("oracle", "myopic_oracle")


@dataclass(frozen=True)
class DistillSettings:
    """How the student is distilled.

    Attributes:
        teacher: The privileged policy imitated: ``oracle`` (plans over the horizon) or
            ``myopic_oracle`` (this week's best offer).
        rounds: DAgger rounds: round 0 follows the teacher, later rounds the student.
        shoppers: Fresh shoppers rolled out per round (each for the env's horizon).
        epochs: Passes over all the data recorded so far, after each round.
        batch_size: Observations per gradient step.
        learning_rate: Adam's step size for the student's network (its own optimiser, not the
            algorithm's, so PPO's later training starts from its configured state).
    """

    teacher: str = "oracle"
    rounds: int = 3
    shoppers: int = 5000
    epochs: int = 10
    batch_size: int = 4096
    learning_rate: float = 1e-3

    def __post_init__(self) -> None:
        if self.teacher not in TEACHERS:
            raise DiscountSimInputError(f"distill.teacher: unknown {self.teacher!r}; allowed: {list(TEACHERS)}")
        for name in ("rounds", "shoppers", "epochs", "batch_size"):  # 2.0 is 2; 2.5 and "2" are refused
            object.__setattr__(self, name, check_count(f"distill.{name}", getattr(self, name)))
        rate = self.learning_rate
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not np.isfinite(rate) or rate <= 0:
            raise DiscountSimInputError(f"distill.learning_rate: expected a positive number, got {rate!r}")
        object.__setattr__(self, "learning_rate", float(rate))

    @classmethod
    def from_dict(cls, settings: dict[str, Any] | None) -> DistillSettings:
        """Settings from a config mapping (``distill:`` of an agent YAML); unknown keys are refused by name."""
        settings = dict(settings or {})
        allowed = [f.name for f in fields(cls)]
        unknown = sorted(set(settings) - set(allowed))
        if unknown:
            raise DiscountSimInputError(f"distill: unknown settings {unknown}; allowed: {allowed}")
        return cls(**settings)


def teacher_policy(name: str, levels: int) -> PrivilegedPolicy:
    """The privileged policy called ``name`` (one of ``TEACHERS``), choosing among the student's ``levels``
    equally spaced discounts on [0, d_max], so that its choice is a level the student can take, not
    a finer one rounded to the nearest (half of the oracle's 21 levels fall midway between two of 11)."""
    if name not in TEACHERS:
        raise DiscountSimInputError(f"distill.teacher: unknown {name!r}; allowed: {list(TEACHERS)}")
    if name == "oracle":
        return OraclePolicy(grid={"decision_levels": levels})
    return MyopicOraclePolicy(decision_levels=levels)


def _student_env(model: BaseAlgorithm) -> ShopperVecEnv:
    env = getattr(model.get_env(), "unwrapped", None)
    if not isinstance(env, ShopperVecEnv):
        raise DiscountSimInputError(
            f"distill: the student must train on a ShopperVecEnv (whose scenario and action mapping it learns); "
            f"{type(model).__name__}'s env is {type(model.get_env()).__name__}"
        )
    if not isinstance(model.policy, ActorCriticPolicy) or type(model.policy).__name__.startswith("Recurrent"):
        raise DiscountSimInputError(
            f"distill: the student is an actor-critic policy without memory (PPO, A2C); "
            f"{type(model).__name__} with {type(model.policy).__name__} cannot be distilled into"
        )
    if env.actions.action_type != "discrete":
        # A Gaussian fitted to "no offer" (-1, the edge of the range) keeps its mean just inside,
        # where every action is a small offer: measured, 84 % of shoppers offered against the oracle's 53 %.
        raise DiscountSimInputError(
            f"distill: the student needs discrete actions (the teacher's levels); "
            f"got action_type={env.actions.action_type!r} (set agent.env.action_type=discrete)"
        )
    return env


def distill(
    model: BaseAlgorithm,
    settings: DistillSettings,
    seed: int = 0,
    record: Callable[[dict[str, float]], None] | None = None,
) -> list[dict[str, float]]:
    """Train ``model``'s policy network by DAgger on its env's scenario; returns one row of figures per round.

    Args:
        model: A PPO or A2C model on a ``ShopperVecEnv`` (its scenario, horizon, action mapping and
            contact cap are the student's).
        settings: Teacher, rounds, shoppers per round, epochs, batch size, learning rate.
        seed: Seeds the rounds' shoppers (a stream of their own) and the minibatch order.
        record: Called with each round's figures (e.g. to log them), or None.

    Returns:
        Per round: ``round``, ``samples`` (shopper-weeks recorded so far), ``agreement`` (share of
        this round's shopper-weeks where the acting policy already picked the teacher's action: 1 in
        round 0, where the teacher acts), ``loss`` (mean negative log-likelihood of the teacher's
        actions in the last epoch), ``seconds``.
    """
    env = _student_env(model)
    horizon = env.horizon
    check_memory("distill.shoppers", settings.shoppers, log_periods=settings.rounds * horizon, oracle_horizon=horizon)
    policy: ActorCriticPolicy = model.policy
    teacher = teacher_policy(settings.teacher, env.actions.n_levels)
    optimiser = torch.optim.Adam(policy.parameters(), lr=settings.learning_rate)
    generator = torch.Generator().manual_seed(int(seed))
    observations: list[NDArray[np.float32]] = []
    labels: list[NDArray[Any]] = []
    rows: list[dict[str, float]] = []
    for round_ in range(settings.rounds):
        start = time.perf_counter()
        keys = spawn_keys(
            np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(DISTILL_STREAM, round_))),
            settings.shoppers,
        )
        obs, label, agreement = _record_round(env, keys, teacher, None if round_ == 0 else policy)
        observations.append(obs)
        labels.append(label)
        loss = _fit(policy, optimiser, observations, labels, settings, generator)
        row = {
            "round": float(round_),
            "samples": float(sum(len(o) for o in observations)),
            "agreement": agreement,
            "loss": loss,
            "seconds": time.perf_counter() - start,
        }
        rows.append(row)
        logger.info(
            "distill round %d/%d: %s shopper-weeks, %.1f %% agreement with the %s, loss %.3f, %.0f s",
            round_ + 1,
            settings.rounds,
            f"{int(row['samples']):,}",
            100 * row["agreement"],
            settings.teacher,
            loss,
            row["seconds"],
        )
        if record is not None:
            record(row)
    policy.set_training_mode(False)
    return rows


def _record_round(
    env: ShopperVecEnv, keys: NDArray[np.uint64], teacher: PrivilegedPolicy, student: ActorCriticPolicy | None
) -> tuple[NDArray[np.float32], NDArray[Any], float]:
    """Roll ``keys``' shoppers out for the env's horizon under the student (the teacher when None).

    Returns:
        Observations ``(n_shoppers * horizon, n_features)``, the teacher's level in each
        ``(n_shoppers * horizon,)``, and the share where the acting policy chose the teacher's level.
    """
    params, horizon, mapping = env.params, env.horizon, env.actions
    observations: list[NDArray[np.float32]] = []
    labels: list[NDArray[Any]] = []
    agreed = 0

    def rule(obs: NDArray[np.float32], state: Any) -> NDArray[np.float64]:
        nonlocal agreed
        wanted = teacher.act_on_state(params, state, horizon)
        label = mapping.from_discount(wanted)
        observations.append(obs.copy())
        labels.append(label)
        if student is None:
            agreed += len(obs)
            return wanted
        action, _ = student.predict(obs, deterministic=True)
        agreed += int(np.sum(np.reshape(action, label.shape) == label))
        return mapping.to_discount(action, batch=len(obs))[:, 0]

    teacher.reset()
    rollout(params, keys, rule, horizon, contact_cap=env.contact_cap)
    obs = np.concatenate(observations)
    return obs, np.concatenate(labels), agreed / max(len(obs), 1)


def _fit(
    policy: ActorCriticPolicy,
    optimiser: torch.optim.Optimizer,
    observations: list[NDArray[np.float32]],
    labels: list[NDArray[Any]],
    settings: DistillSettings,
    generator: torch.Generator,
) -> float:
    """``settings.epochs`` passes of minibatch Adam on the negative log-likelihood of the teacher's actions."""
    x = torch.as_tensor(np.concatenate(observations), device=policy.device)
    y = torch.as_tensor(np.concatenate(labels), device=policy.device)  # every round so far: DAgger's aggregate
    policy.set_training_mode(True)
    total = 0.0
    for _ in range(settings.epochs):
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for i in range(0, len(x), settings.batch_size):
            batch = order[i : i + settings.batch_size]
            distribution = policy.get_distribution(x[batch])
            loss = -distribution.log_prob(y[batch]).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item() * len(batch)
    return total / len(x)


class DistillationCallback(BaseCallback):
    """Distil the teacher into the model's policy when training starts (``distill``), logging ``distill/`` scalars.

    Put it first in the callback list, so that evaluations and checkpoints see the distilled
    student. ``skip=True`` (a resumed run, whose checkpoint already holds the student) does nothing.
    ``on_done`` is called once the student is distilled (the train job saves a checkpoint there).
    """

    def __init__(
        self,
        settings: DistillSettings,
        seed: int = 0,
        skip: bool = False,
        on_done: Callable[[], Any] | None = None,
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        self.settings = settings
        self.seed = int(seed)
        self.skip = bool(skip)
        self.on_done = on_done
        self.rounds: list[dict[str, float]] = []

    def _on_training_start(self) -> None:
        if self.skip:
            return

        def record(row: dict[str, float]) -> None:
            for key in ("samples", "agreement", "loss", "seconds"):
                self.logger.record(f"distill/{key}", row[key])
            self.logger.dump(int(row["round"]))

        self.rounds = distill(self.model, self.settings, self.seed, record)
        if self.on_done is not None:
            self.on_done()

    def _on_step(self) -> bool:
        return True
