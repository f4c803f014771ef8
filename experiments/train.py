"""Train one agent on one scenario.

    discountsim train agent=ppo simulator=default [total_timesteps=...] [seed=...]
    discountsim train agent=ppo resume=true      # continue after a kill

SB3 agents train on ``ShopperVecEnv`` (inside SB3's ``VecMonitor``) with their tuned settings
(``conf/agent/<name>.yaml``) for ``total_timesteps`` rounded up to whole rollouts (SB3 trains in
whole rollouts; the log says so), write an atomic checkpoint every ``checkpoint_every`` timesteps
(at rollout boundaries) to ``<run>/checkpoints``, log SB3's scalars plus ``shop/`` business
metrics and HParams to ``<run>/tensorboard``, and save ``<run>/model.zip``. ``resume=true``
loads the newest checkpoint (and replay buffer) of the run directory and trains the remaining
timesteps, with TensorBoard's step count continuing; on a finished run it reports the run and
changes nothing. ``<run>/run.json`` records what the run is (agent, scenario, seed, settings);
a resume asking for anything else fails naming the difference. Hand-written and supervised
agents are built (fitted) and saved to ``<run>/policy.json``. Both end by evaluating the policy
and writing ``<run>/metrics.json`` (for SB3 agents with the ``timesteps`` actually trained).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path
from typing import Any

import hydra
from discountsim.agents import ALGORITHMS, load_policy, save_policy
from discountsim.agents.callbacks import (
    SHOP_METRICS,
    LagrangianBudgetCallback,
    RolloutScheduleCallback,
    ShopMetricsCallback,
    log_shop_metrics,
)
from discountsim.agents.disparity_lagrangian import LagrangianDisparityCallback
from discountsim.agents.distillation import DistillationCallback, DistillSettings
from discountsim.agents.evaluation import EvaluationShoppers
from discountsim.agents.sb3_agents import build_model, learn, make_vec_env, save_sb3, saved_timesteps
from discountsim.agents.storage import atomic_write, write_json
from discountsim.experiments import CONFIG_DIR
from discountsim.experiments.job_config import check_job_config
from discountsim.experiments.run_dir import job_main
from discountsim.simulators import SimulatorParams
from discountsim.simulators.errors import DiscountSimInputError
from discountsim.simulators.params import definition
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from stable_baselines3.common.base_class import BaseAlgorithm

logger = logging.getLogger(__name__)

_STEPS = re.compile(r"_(\d+)_steps\.zip$")
RUN_FILE = "run.json"
"""What a train run directory holds a run of (agent, scenario, seed, settings); resume checks it."""
MODEL_FILE = "model.zip"
POLICY_FILE = "policy.json"
ANOTHER_DIR = "choose another directory with hydra.run.dir=..."


class AtomicCheckpointCallback(RolloutScheduleCallback):
    """Save a checkpoint atomically every ``save_every`` timesteps, at the start of a rollout.

    At a rollout's start the previous update is done, so the saved weights are those of the
    timestep count in the file name (``<prefix>_<steps>_steps.zip``), and a run resumed from it
    continues in whole rollouts to the same end as an uninterrupted run. Checkpoints fall on the
    first rollout boundary at or after each multiple of ``save_every`` (SB3 counts whole rollouts,
    not single timesteps). Off-policy algorithms also save their replay buffer
    (``<prefix>_replay_buffer__<steps>_steps.pkl``), first, so that a kill mid-save leaves the
    previous checkpoint as the newest complete one.
    """

    def __init__(self, save_every: int, directory: str | Path, prefix: str, verbose: int = 0) -> None:
        super().__init__(save_every, "checkpoint_every", verbose)
        self.directory = Path(directory)
        self.prefix = prefix

    def on_schedule(self) -> None:
        self.save()

    def save(self) -> Path:
        """Write the checkpoint of the current timestep count now; returns the model's path."""
        steps = int(self.num_timesteps)
        buffer = getattr(self.model, "replay_buffer", None)
        if buffer is not None:
            atomic_write(
                self.directory / f"{self.prefix}_replay_buffer__{steps}_steps.pkl", self.model.save_replay_buffer
            )
        path = save_sb3(self.model, self.directory / f"{self.prefix}_{steps}_steps.zip")
        logger.debug("saved checkpoint %s", path)
        return path


def latest_checkpoint(directory: Path) -> tuple[Path, int] | None:
    """The newest checkpoint ``<prefix>_<steps>_steps.zip`` in ``directory`` and its step count."""
    found = [(p, int(m.group(1))) for p in directory.glob("*_steps.zip") if (m := _STEPS.search(p.name))]
    return max(found, key=lambda item: item[1]) if found else None


def _flat(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        if str(key).startswith("_"):
            continue
        name = f"{prefix}{key}"
        out.update(_flat(value, f"{name}.") if isinstance(value, dict) else {name: value})
    return out


LAGRANGIAN_FILE = "lagrangian.json"
"""The Lagrangian multiplier's state, beside the checkpoints, so that a resume continues it."""
DISPARITY_FILE = "disparity_lagrangian.json"
"""The disparity Lagrangian's duals and offer prices, beside the checkpoints, likewise."""


def _env_arguments(cfg: DictConfig) -> dict[str, Any]:
    agent_env = cfg.agent.get("env")
    agent_env = {} if agent_env is None else OmegaConf.to_container(agent_env, resolve=True)
    return {**agent_env, **OmegaConf.to_container(cfg.env.overrides, resolve=True)}


def _contact_cap(cfg: DictConfig) -> dict[str, int] | None:
    """The contact cap the agent trains under (``agent.env.contact_cap``), which its evaluations keep."""
    return _env_arguments(cfg).get("contact_cap") if "env" in cfg else None


def run_metadata(cfg: DictConfig, params: SimulatorParams) -> dict[str, Any]:
    """What makes a train run the run it is: a resume must ask for the same, or it would mix two runs.

    Agent, scenario (name and a hash of its full definition, in order), seed, requested timesteps,
    training env and the agent's settings. Checkpoints do not record the settings the config gives
    (a loaded SB3 model keeps its own), so a changed setting would otherwise be dropped silently.
    """
    scenario = json.dumps(definition(params), default=str)  # no sort_keys: category order is the layout
    agent = OmegaConf.to_container(cfg.agent, resolve=True)
    settings = agent.get("algorithm", agent.get("policy", {}))
    meta: dict[str, Any] = {
        "agent": agent["name"],
        "scenario": params.name,
        "scenario_sha256": hashlib.sha256(scenario.encode()).hexdigest(),
        "seed": int(cfg.seed),
        "settings": {k: v for k, v in settings.items() if k != "scenario"},
    }
    if "algorithm" in agent:
        meta |= {
            "total_timesteps": int(cfg.total_timesteps),
            "horizon": int(cfg.env.horizon),
            "env": _env_arguments(cfg),
            "action_noise_sd": agent.get("action_noise_sd"),
            "lagrangian": None if cfg.get("lagrangian") is None else OmegaConf.to_container(cfg.lagrangian),
        }
        if agent.get("distill") is not None:  # only when set: run.json of earlier runs still matches
            meta["distill"] = agent["distill"]
        if cfg.get("fairness_lagrangian") is not None:  # only when set, as distill
            meta["fairness_lagrangian"] = OmegaConf.to_container(cfg.fairness_lagrangian)
    return json.loads(json.dumps(meta, default=str))  # as read back from run.json


def _check_same_run(run: Path, meta: dict[str, Any]) -> None:
    path = run / RUN_FILE
    try:
        saved = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise DiscountSimInputError(
            f"{path}: cannot read the run's settings ({err}); resume needs it, or {ANOTHER_DIR}"
        ) from err
    old, new = _flat(saved), _flat(meta)
    changed = [key for key in dict.fromkeys([*new, *old]) if old.get(key) != new.get(key)]
    if "agent" in changed:  # another agent has other settings and env: name the agent alone
        changed = [k for k in changed if not k.startswith(("settings.", "env.", "action_noise_sd"))]
    if "scenario" in changed:
        changed.remove("scenario_sha256")
    names = {"agent": "agent", "scenario": "simulator", "scenario_sha256": "simulator (its definition)"}
    differences = [
        f"{names.get(key, key)}: the run holds {old.get(key)!r}, this one asks for {new.get(key)!r}" for key in changed
    ]
    if differences:
        raise DiscountSimInputError(
            f"resume: {run} holds another run ({path}):\n  "
            + "\n  ".join(differences)
            + f"\nResume with the run's settings, or {ANOTHER_DIR}"
        )


def train(cfg: DictConfig, output_dir: str | Path = ".") -> dict[str, float]:
    """Train (or fit) ``cfg.agent`` on ``cfg.simulator``; returns the final evaluation metrics.

    A run directory holds one run. Training into one that holds a finished run (``model.zip`` or
    ``policy.json``) or checkpoints fails unless ``resume=true``; resuming a finished run reports it
    and changes nothing; resuming with other settings than ``run.json`` records fails naming them.
    """
    cfg = check_job_config("train", cfg)  # every key, optimized_metric and checkpoint_every included
    run = Path(output_dir)
    params: SimulatorParams = instantiate(cfg.simulator)
    sb3 = "algorithm" in cfg.agent
    if sb3 and cfg.agent.name not in ALGORITHMS:
        raise DiscountSimInputError(
            f"agent.name: {cfg.agent.name!r} has an algorithm block but is not one of {sorted(ALGORITHMS)}"
        )
    if not sb3 and cfg.get("lagrangian") is not None:
        raise DiscountSimInputError(
            f"lagrangian: prices spend into an SB3 agent's training reward; agent {cfg.agent.name!r} is not trained "
            "by SB3 (run it under a budget with evaluate's budget_per_period instead)"
        )
    if not sb3 and cfg.get("fairness_lagrangian") is not None:
        raise DiscountSimInputError(
            f"fairness_lagrangian: prices offers into an SB3 agent's training reward; agent {cfg.agent.name!r} is "
            "not trained by SB3 (hold it to a floor with evaluate's disparity_floor instead)"
        )
    if cfg.get("fairness_lagrangian") is not None and not params.attribute_levels:
        raise DiscountSimInputError(
            f"fairness_lagrangian: scenario {params.name!r} has no observable attributes to hold a floor across"
        )
    meta = run_metadata(cfg, params)
    finished = run / (MODEL_FILE if sb3 else POLICY_FILE)
    checkpoints = run / "checkpoints"
    found = latest_checkpoint(checkpoints) if sb3 and checkpoints.is_dir() else None
    if not cfg.resume:
        if finished.exists():
            held = f"a trained model of {saved_timesteps(finished):,} timesteps" if sb3 else "a fitted policy"
            raise FileExistsError(
                f"{finished} already holds {held}: the run in {run} is finished. Pass resume=true to report it "
                f"(nothing is retrained or overwritten), or {ANOTHER_DIR}"
            )
        if found:
            raise FileExistsError(
                f"{checkpoints} already holds checkpoints (newest: {found[0].name}); pass resume=true to continue "
                f"them, or {ANOTHER_DIR}"
            )
    elif (run / RUN_FILE).exists():
        _check_same_run(run, meta)
    elif finished.exists() or found:
        logger.warning("%s has no %s: cannot check that it holds a run of these settings", run, RUN_FILE)
    if cfg.resume and finished.exists():
        return _finished(cfg, params, run, finished, sb3)
    write_json(run / RUN_FILE, meta)
    shoppers = None
    if sb3:
        policy, shoppers = _train_sb3(cfg, params, run, found)
    else:
        policy = instantiate(cfg.agent.policy)
        save_policy(policy, finished)
    metrics = _evaluate(cfg, params, policy, shoppers)
    if not sb3:  # SB3 runs log through ShopMetricsCallback
        hparams = {"algorithm": cfg.agent.name, "seed": int(cfg.seed)}
        settings = OmegaConf.to_container(cfg.agent.policy, resolve=True)
        hparams |= _flat({k: v for k, v in settings.items() if k != "scenario"})  # the scenario is the run's name
        log_shop_metrics(run / "tensorboard" / f"{cfg.agent.name}_1", metrics, hparams)
    _write_metrics(cfg, params, run, metrics, policy.num_timesteps if sb3 else None)
    return {k: float(metrics[k]) for k in SHOP_METRICS}


def _evaluate(
    cfg: DictConfig, params: SimulatorParams, policy: Any, shoppers: EvaluationShoppers | None = None
) -> dict[str, Any]:
    """The final evaluation: on ``shoppers`` (the training callback's, whose no-discount and oracle
    runs are done) when given, else on fresh ones drawn with the same settings (the same shoppers)."""
    evaluation = cfg.evaluation
    if shoppers is None:
        shoppers = EvaluationShoppers.make(
            params,
            evaluation.n_shoppers,
            evaluation.horizon,
            evaluation.seed,
            bool(evaluation.get("oracle", True)),
            contact_cap=_contact_cap(cfg),
        )
    row = shoppers.evaluate(policy, cfg.agent.name)
    metrics = {k: v for k, v in row.summary.iloc[0].items() if k not in ("policy", "scenario")}
    lagrangian = cfg.get("lagrangian")
    if lagrangian is not None:  # did the learner meet its budget on average, without any projection?
        budget = float(lagrangian.budget_per_shopper_week)
        spend = float(metrics["promotion_cost"]) / int(evaluation.horizon)
        metrics |= {
            "budget_per_shopper_week": budget,
            "spend_per_shopper_week": spend,
            "over_budget": spend / budget - 1,
        }
    fair = cfg.get("fairness_lagrangian")
    if fair is not None:  # did the learner hold the floor on its own, without any projection?
        metrics |= {
            "disparity_floor": float(fair.floor),
            "disparity_floor_met": float(metrics["offer_disparity"] >= float(fair.floor)),
        }
    return metrics


def _write_metrics(
    cfg: DictConfig, params: SimulatorParams, run: Path, metrics: dict[str, Any], timesteps: int | None
) -> None:
    trained = {} if timesteps is None else {"timesteps": int(timesteps)}  # what was trained, not what was asked
    write_json(run / "metrics.json", {"policy": cfg.agent.name, "scenario": params.name, **trained, **metrics})
    logger.info(
        "%s on %s: profit %.2f %s per shopper, incremental %+.2f; written to %s",
        cfg.agent.name,
        params.name,
        metrics["profit"],
        params.currency,
        metrics["incremental_profit"],
        run,
    )


def _finished(cfg: DictConfig, params: SimulatorParams, run: Path, finished: Path, sb3: bool) -> dict[str, float]:
    """``resume=true`` on a finished run: say so and change nothing (unless metrics.json was never written)."""
    held = f"holds {saved_timesteps(finished):,} trained timesteps" if sb3 else "holds the fitted policy"
    try:
        saved = json.loads((run / "metrics.json").read_text())
        metrics = {k: float(saved[k]) for k in SHOP_METRICS}
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError):
        # Killed between saving the policy and writing its metrics: finish that step only.
        logger.info("%s is complete: %s %s; evaluating it for the missing metrics.json", run, finished, held)
        policy = load_policy(finished)
        metrics = _evaluate(cfg, params, policy)
        _write_metrics(cfg, params, run, metrics, policy.num_timesteps if sb3 else None)
        return {k: float(metrics[k]) for k in SHOP_METRICS}
    logger.info(
        "%s is complete: %s %s; nothing to resume, nothing changed (%s to train again)",
        run,
        finished,
        held,
        ANOTHER_DIR,
    )
    return metrics


def _train_sb3(
    cfg: DictConfig, params: SimulatorParams, run: Path, found: tuple[Path, int] | None
) -> tuple[BaseAlgorithm, EvaluationShoppers | None]:
    """Train (or resume) the SB3 agent; returns it and the evaluation shoppers its metrics callback used."""
    agent = cfg.agent
    checkpoints = run / "checkpoints"
    env_arguments = _env_arguments(cfg)
    tensorboard = str(run / "tensorboard")
    seed = int(cfg.seed)
    if found:
        path, steps = found
        env = make_vec_env(params, int(cfg.env.horizon), seed + steps, env_arguments)
        model = ALGORITHMS[agent.name].load(path, env=env, device="cpu", tensorboard_log=tensorboard)
        model.set_random_seed(seed + steps)  # a resumed run is as reproducible as an uninterrupted one
        buffer = checkpoints / f"{agent.name}_replay_buffer__{steps}_steps.pkl"
        if buffer.is_file():
            model.load_replay_buffer(buffer)
        logger.info("resuming %s from %s (%s timesteps trained)", agent.name, path, f"{model.num_timesteps:,}")
    else:
        if cfg.resume:
            logger.info("%s holds no checkpoint to resume; starting from scratch", checkpoints)
        model = build_model(
            instantiate(agent.algorithm),
            params,
            seed,
            int(cfg.env.horizon),
            env_arguments,
            agent.get("action_noise_sd"),
            tensorboard,
        )
    metrics_callback = ShopMetricsCallback(
        params,
        int(cfg.evaluation.every),
        int(cfg.evaluation.n_shoppers),
        int(cfg.evaluation.horizon),
        int(cfg.evaluation.seed),
        hparams={"seed": seed, **_flat(OmegaConf.to_container(agent.algorithm, resolve=True))},
        oracle=bool(cfg.evaluation.get("oracle", True)),
        contact_cap=_contact_cap(cfg),
    )
    saver = AtomicCheckpointCallback(int(cfg.checkpoint_every), checkpoints, agent.name)
    callbacks = [
        # In timesteps, at rollout boundaries: no division by n_envs needed.
        saver,
        metrics_callback,
    ]
    distill = agent.get("distill")
    if distill is not None:  # first: the metrics callback's first point and every checkpoint are the student
        settings = DistillSettings.from_dict(OmegaConf.to_container(distill, resolve=True))
        # A checkpoint of the student as soon as it is distilled: a kill later resumes from it.
        callbacks.insert(0, DistillationCallback(settings, seed, skip=found is not None, on_done=saver.save))
    # Both constraint learners go before the metrics callback: at the end of training each restores
    # its best feasible iterate, which the last shop/ point and the saved model must both be. Their
    # settings are the config's keys (checked by the job schema), defaults their constructors'.
    common = {"scenario": params, "horizon": int(cfg.env.horizon), "contact_cap": _contact_cap(cfg)}
    for key, learner, state_file in (
        ("lagrangian", LagrangianBudgetCallback, LAGRANGIAN_FILE),
        ("fairness_lagrangian", LagrangianDisparityCallback, DISPARITY_FILE),
    ):
        if cfg.get(key) is not None:
            settings = OmegaConf.to_container(cfg[key], resolve=True)
            callback = learner(**common, state_file=checkpoints / state_file, **settings)
            callbacks.insert(callbacks.index(metrics_callback), callback)
    learn(
        model,
        int(cfg.total_timesteps),  # rounded up to whole rollouts, and said so in the log
        callbacks,
        label=agent.name,
        progress_bar=None if cfg.progress_bar else False,  # a bar only on a terminal
        reset_num_timesteps=found is None,
        tb_log_name=agent.name,
    )
    save_sb3(model, run / MODEL_FILE)
    return model, metrics_callback.shoppers


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
@job_main("train")
def main(cfg: DictConfig) -> float:
    # The returned value is what a sweeper (Optuna) optimises.
    return train(cfg, HydraConfig.get().runtime.output_dir)[cfg.optimized_metric]


if __name__ == "__main__":
    main()
