"""Stable-Baselines3 agents trained on the batched ``ShopperVecEnv``, used as they are.

A trained SB3 model already follows the ``PolicyPredictor`` protocol, so it is a policy without a
wrapper. This module holds what is DiscountSim's own: the tuned defaults (one YAML per algorithm
in ``conf/agent/``, rl-baselines3-zoo style), building the training env from them, and saving a
model so that ``load_policy`` knows which algorithm to load it with.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from discountsim.agents.distillation import DistillationCallback, DistillSettings
from discountsim.agents.fingerprint import Fingerprint, PolicyLoadError, model_fingerprint, remember
from discountsim.agents.storage import atomic_write
from discountsim.envs import ShopperVecEnv
from discountsim.simulators import SimulatorParams, load_scenario
from discountsim.simulators.config_schema import to_dict
from discountsim.simulators.package_data import conf_dir
from sb3_contrib import RecurrentPPO
from stable_baselines3 import A2C, DQN, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.noise import NormalActionNoise
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.type_aliases import TrainFrequencyUnit
from stable_baselines3.common.vec_env import VecMonitor

ALGORITHMS: dict[str, type[BaseAlgorithm]] = {
    "ppo": PPO,
    "a2c": A2C,
    "sac": SAC,
    "td3": TD3,
    "dqn": DQN,
    "recurrent_ppo": RecurrentPPO,
    # PPO whose policy network first learns the oracle's offers by DAgger (agents.distillation),
    # then trains on the reward; saved and loaded as PPO.
    "ppo_distilled": PPO,
}
AGENT_CONFIG_DIR = conf_dir() / "agent"
SB3_METADATA = "discountsim.json"
SB3_FORMAT = "discountsim-sb3"
SB3_VERSION = 2  # 2: with a fingerprint; older zips are refused
# Keys of conf/agent/<name>.yaml's ``algorithm`` block that are Hydra's or ours, not SB3 arguments.
_NOT_SB3 = ("_target_", "_partial_", "_convert_")
# TensorBoard dumps per run (time/, rollout/ and train/ scalars): enough for a curve, few enough for long runs.
LOG_POINTS = 200

logger = logging.getLogger(__name__)


def agent_config(algorithm: str) -> dict[str, Any]:
    """The tuned defaults of ``algorithm`` from ``conf/agent/<algorithm>.yaml``.

    Returns:
        ``{"name", "algorithm": {...SB3 arguments...}, "env": {...ShopperVecEnv arguments...},
        "total_timesteps"}``.
    """
    _check_algorithm(algorithm)
    with open(AGENT_CONFIG_DIR / f"{algorithm}.yaml") as fh:
        return yaml.safe_load(fh)


def is_distilled(algorithm: str) -> bool:
    """Whether ``algorithm``'s YAML distils the oracle into it (``distill:``) before it learns from the reward."""
    return agent_config(algorithm).get("distill") is not None


def _check_algorithm(algorithm: str) -> None:
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm: unknown {algorithm!r}; allowed: {sorted(ALGORITHMS)}")


def _merge(base: dict[str, Any], override: dict[str, Any] | None) -> dict[str, Any]:
    out = dict(base)
    for key, value in (override or {}).items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def make_model(
    algorithm: str,
    scenario: str | Path | SimulatorParams | dict[str, Any] = "default",
    seed: int = 0,
    horizon: int = 52,
    hyperparams: dict[str, Any] | None = None,
    env: dict[str, Any] | None = None,
    action_noise_sd: float | None = None,
    tensorboard_log: str | Path | None = None,
    verbose: int = 0,
) -> BaseAlgorithm:
    """An untrained SB3 model on a ``ShopperVecEnv``, with the tuned defaults plus overrides.

    Args:
        algorithm: One of ``ALGORITHMS``.
        scenario: Scenario trained on.
        seed: Seeds the model and the env's shopper sequences.
        horizon: Periods per training episode.
        hyperparams: Overrides of the SB3 arguments in ``conf/agent/<algorithm>.yaml``.
        env: Overrides of ``ShopperVecEnv`` arguments (``n_envs``, ``action_type``, ``reward_scale``...).
        action_noise_sd: sd of Gaussian exploration noise for off-policy agents (default: the YAML's).
        tensorboard_log: Directory for SB3's TensorBoard logger, or None.
    """
    defaults = agent_config(algorithm)
    arguments = {k: v for k, v in _merge(defaults["algorithm"], hyperparams).items() if k not in _NOT_SB3}
    nested = sorted(k for k, v in arguments.items() if isinstance(v, dict) and "_target_" in v)
    if nested:  # Hydra builds those in the train job; this layer does not use Hydra
        raise ValueError(
            f"{algorithm}: {nested} (conf/agent/{algorithm}.yaml or hyperparams=) are Hydra _target_ nodes "
            "(a learning-rate schedule), which the train job builds; here pass the object itself in hyperparams= "
            "(e.g. learning_rate=stable_baselines3.common.utils.LinearSchedule(3e-4, 0.0, 1.0))"
        )
    return build_model(
        functools.partial(ALGORITHMS[algorithm], **arguments),
        scenario,
        seed,
        horizon,
        _merge(defaults.get("env", {}), env),
        action_noise_sd if action_noise_sd is not None else defaults.get("action_noise_sd"),
        tensorboard_log,
        verbose,
    )


def build_model(
    factory: Callable[..., BaseAlgorithm],
    scenario: str | Path | SimulatorParams | dict[str, Any],
    seed: int,
    horizon: int,
    env: dict[str, Any],
    action_noise_sd: float | None = None,
    tensorboard_log: str | Path | None = None,
    verbose: int = 0,
) -> BaseAlgorithm:
    """An SB3 model from a partially applied algorithm (Hydra's ``_partial_: true``) and env arguments.

    The training env is ``make_vec_env(scenario, horizon, seed, env)``; the model runs on the CPU.
    """
    vec_env = make_vec_env(scenario, horizon, seed, env)
    extra: dict[str, Any] = {}
    if action_noise_sd is not None:
        extra["action_noise"] = NormalActionNoise(np.zeros(1), np.full(1, float(action_noise_sd)))
    return factory(env=vec_env, seed=seed, device="cpu", tensorboard_log=tensorboard_log, verbose=verbose, **extra)


def make_vec_env(
    scenario: str | Path | SimulatorParams | dict[str, Any], horizon: int, seed: int, env: dict[str, Any]
) -> VecMonitor:
    """The training env: a ``ShopperVecEnv`` on ``scenario`` inside SB3's ``VecMonitor``.

    ``VecMonitor`` adds each finished episode's return and length to the done rows' ``info``
    (``"episode"``), from which SB3 logs ``rollout/ep_rew_mean`` and ``rollout/ep_len_mean``.
    The rewards it sums are the training rewards (profit times ``reward_scale``).
    """
    return VecMonitor(ShopperVecEnv(scenario=load_scenario(scenario), horizon=horizon, seed=seed, **env))


def rollout_size(model: BaseAlgorithm) -> int | None:
    """Timesteps an algorithm collects between two updates (SB3 trains in whole rollouts of this size).

    ``n_steps x n_envs`` for on-policy algorithms, ``train_freq x n_envs`` for off-policy ones that
    count ``train_freq`` in steps; None when it is counted in episodes (no fixed size).
    """
    n_envs = model.n_envs
    if isinstance(model, OnPolicyAlgorithm):
        return int(model.n_steps) * n_envs
    if isinstance(model, OffPolicyAlgorithm) and model.train_freq.unit == TrainFrequencyUnit.STEP:
        return int(model.train_freq.frequency) * n_envs
    return None


def whole_rollouts(model: BaseAlgorithm, total_timesteps: int) -> int:
    """``total_timesteps`` rounded up to whole rollouts: the timesteps SB3 will actually train.

    SB3 stops only after a whole rollout, so ``learn(50_000)`` with rollouts of 8,192 trains
    57,344 timesteps. Counting from 0 (checkpoints fall on rollout boundaries too, see
    ``experiments.train``), a run resumed from any checkpoint ends on the same number.
    """
    size = rollout_size(model)
    total_timesteps = int(total_timesteps)
    return total_timesteps if size is None else math.ceil(total_timesteps / size) * size


def learn(
    model: BaseAlgorithm,
    total_timesteps: int,
    callback: BaseCallback | list[BaseCallback] | None = None,
    label: str | None = None,
    progress_bar: bool | None = None,
    reset_num_timesteps: bool = True,
    tb_log_name: str | None = None,
) -> BaseAlgorithm:
    """``model.learn`` up to ``total_timesteps`` in all (rounded up to whole rollouts), with progress and logs.

    Adds ``ProgressCallback`` (a bar with ETA on a terminal, start and finish lines through logging)
    and ``DumpLogsCallback`` (SB3's ``time/`` and ``rollout/`` scalars about ``LOG_POINTS`` times per
    run and at the end, so short runs get them too).

    Args:
        total_timesteps: Timesteps of the whole run, counting those already trained when resuming
            (``reset_num_timesteps=False``); rounded up with ``whole_rollouts``.
        label: Name shown on the bar and in the log lines (default: the algorithm's).
        progress_bar: Show a bar: True, False, or None for "when stdout is a terminal".
    """
    from discountsim.agents.callbacks import DumpLogsCallback, ProgressCallback  # callbacks import this module

    label = label or algorithm_of(model)
    start = 0 if reset_num_timesteps else int(model.num_timesteps)
    total = whole_rollouts(model, total_timesteps)
    if total != int(total_timesteps):
        size = rollout_size(model)
        logger.info(
            "%s: total_timesteps %s rounded up to %s: SB3 trains in whole rollouts of %s timesteps",
            label,
            f"{int(total_timesteps):,}",
            f"{total:,}",
            f"{size:,}",
        )
    callbacks = [] if callback is None else list(callback) if isinstance(callback, list) else [callback]
    progress = ProgressCallback(label, total, bar=progress_bar)
    callbacks += [DumpLogsCallback(max((total - start) // LOG_POINTS, 1)), progress]
    try:
        return model.learn(
            max(total - start, 0),
            callback=callbacks,
            log_interval=None,  # DumpLogsCallback dumps on a timestep schedule, the same for every algorithm
            reset_num_timesteps=reset_num_timesteps,
            tb_log_name=tb_log_name or label,
        )
    finally:
        progress.close()


def train_sb3(
    algorithm: str,
    scenario: str | Path | SimulatorParams | dict[str, Any] = "default",
    total_timesteps: int | None = None,
    seed: int = 0,
    callback: BaseCallback | list[BaseCallback] | None = None,
    progress_bar: bool | None = False,
    distill: dict[str, Any] | None = None,
    **kwargs: Any,
) -> BaseAlgorithm:
    """Train ``algorithm`` on ``scenario`` with its tuned defaults (``make_model`` arguments in ``kwargs``).

    Args:
        total_timesteps: Shopper-periods of experience; default: the YAML's ``total_timesteps``.
            Rounded up to whole rollouts (``whole_rollouts``); ``model.num_timesteps`` says what was trained.
        progress_bar: Show a progress bar with ETA: True, False, or None for "when stdout is a terminal".
        distill: Overrides of the YAML's ``distill`` block (``agents.distillation.DistillSettings``);
            an agent whose YAML has one is distilled from its teacher before ``total_timesteps`` of training.
    """
    model = make_model(algorithm, scenario, seed, **kwargs)
    config = agent_config(algorithm)
    steps = int(total_timesteps if total_timesteps is not None else config["total_timesteps"])
    callbacks = [] if callback is None else list(callback) if isinstance(callback, list) else [callback]
    if config.get("distill") is not None or distill is not None:  # first: evaluations see the distilled student
        settings = DistillSettings.from_dict(_merge(config.get("distill") or {}, distill))
        callbacks.insert(0, DistillationCallback(settings, seed))
    return learn(model, steps, callbacks, label=algorithm, progress_bar=progress_bar)


def algorithm_of(model: BaseAlgorithm) -> str:
    """Short name of a model's algorithm (``ppo``, ``dqn``, ...)."""
    for name, cls in ALGORITHMS.items():
        if type(model) is cls:
            return name
    raise ValueError(f"model: {type(model).__name__} is not one of {sorted(ALGORITHMS)}")


def save_sb3(model: BaseAlgorithm, path: str | Path) -> Path:
    """Save an SB3 model as its usual zip plus ``discountsim.json`` (algorithm, fingerprint, scenario), atomically.

    Raises:
        ValueError: The model has no fingerprint: it neither trains on a ``ShopperVecEnv`` nor came
            from a DiscountSim checkpoint, so what its observations mean is unknown.
    """
    path = Path(path)
    if path.suffix != ".zip":
        path = path.with_suffix(path.suffix + ".zip")
    fingerprint = model_fingerprint(model)
    if fingerprint is None:
        raise ValueError(
            f"model: cannot tell which scenario its observations come from (its env is not a ShopperVecEnv and it "
            f"was not loaded from a DiscountSim checkpoint); {path} would have no fingerprint"
        )
    metadata: dict[str, Any] = {
        "format": SB3_FORMAT,
        "version": SB3_VERSION,
        "algorithm": algorithm_of(model),
        "fingerprint": fingerprint.to_dict(),
    }
    env = getattr(model.get_env(), "unwrapped", None)
    if isinstance(env, ShopperVecEnv):
        metadata.update(scenario=to_dict(env.params), horizon=env.horizon)

    def write(tmp: Path) -> None:
        model.save(tmp)
        with zipfile.ZipFile(tmp, "a") as archive:
            archive.writestr(SB3_METADATA, json.dumps(metadata))

    atomic_write(path, write)
    return path


def _read_json_entry(archive: zipfile.ZipFile, entry: str, path: Path) -> Any:
    try:
        return json.loads(archive.read(entry))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise PolicyLoadError(f"{path}: entry {entry!r} is not valid JSON ({err}); the file is damaged") from err


def _read_sb3_zip(path: Path) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The zip's ``discountsim.json`` (None if absent) and SB3's ``data``, after checking the archive is whole."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if "data" not in names:
                # A truncated SB3 zip can still open: the scan finds the end of the policy.pth zip inside it.
                raise PolicyLoadError(
                    f"{path}: truncated or not an SB3 model zip: no 'data' entry (entries found: {names[:6]})"
                )
            bad = archive.testzip()
            if bad is not None:
                raise PolicyLoadError(f"{path}: entry {bad!r} fails its CRC check; the file is damaged")
            data = _read_json_entry(archive, "data", path)
            metadata = _read_json_entry(archive, SB3_METADATA, path) if SB3_METADATA in names else None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as err:
        raise PolicyLoadError(f"{path}: not a readable zip archive ({err}); the file is truncated or damaged") from err
    return metadata, data


def saved_timesteps(path: str | Path) -> int:
    """``num_timesteps`` of a saved SB3 model, read from its ``data`` entry without loading torch tensors.

    Raises:
        PolicyLoadError: The file is not a whole SB3 zip, or its ``data`` has no timestep count.
    """
    _, data = _read_sb3_zip(Path(path))
    try:
        return int(data["num_timesteps"])
    except (KeyError, TypeError, ValueError) as err:
        raise PolicyLoadError(
            f"{path}: SB3's 'data' entry has no num_timesteps ({err!r}); the file is damaged"
        ) from err


def load_sb3(path: str | Path, algorithm: str | None = None) -> BaseAlgorithm:
    """Load an SB3 zip; the algorithm and fingerprint come from its ``discountsim.json``.

    A zip saved outside DiscountSim has neither: pass ``algorithm=``; the evaluator can then
    check only its observation width against a scenario (and warns).

    Raises:
        FileNotFoundError: No such file.
        PolicyLoadError: Truncated or damaged archive, invalid JSON inside, saved by DiscountSim
            before fingerprints, algorithm missing or contradicting the checkpoint, or SB3 fails
            to load it; the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"policy checkpoint not found: {path}")
    metadata, _ = _read_sb3_zip(path)
    fingerprint = None
    if metadata is not None:
        if not isinstance(metadata, dict) or metadata.get("format") != SB3_FORMAT:
            raise PolicyLoadError(f"{path}: {SB3_METADATA} is not DiscountSim's (expected format {SB3_FORMAT!r})")
        if "fingerprint" not in metadata:
            raise PolicyLoadError(
                f"{path}: saved by an older DiscountSim without the scenario fingerprint that says what its "
                "observations and actions mean; retrain it (discountsim train ...)"
            )
        fingerprint = Fingerprint.from_dict(metadata["fingerprint"], f"{path}: {SB3_METADATA}")
        saved_algorithm = metadata.get("algorithm")
        if algorithm is not None and algorithm != saved_algorithm:
            raise PolicyLoadError(f"{path}: algorithm={algorithm!r} given, but the checkpoint is {saved_algorithm!r}")
        algorithm = saved_algorithm
    if algorithm is None:
        raise PolicyLoadError(
            f"{path}: an SB3 zip not saved by DiscountSim (no {SB3_METADATA}); pass algorithm=, "
            f"one of {sorted(ALGORITHMS)}"
        )
    if algorithm not in ALGORITHMS:
        raise PolicyLoadError(f"{path}: unknown algorithm {algorithm!r}; allowed: {sorted(ALGORITHMS)}")
    try:
        model = ALGORITHMS[algorithm].load(path, device="cpu")
    except Exception as err:  # SB3 and torch raise many kinds on a damaged or mismatched file
        raise PolicyLoadError(f"{path}: SB3 cannot load it as {algorithm} ({type(err).__name__}: {err})") from err
    if fingerprint is not None:
        fingerprint.check_action_space(model.action_space, str(path))
        shape = tuple(getattr(model.observation_space, "shape", ()) or ())
        if shape != (len(fingerprint.features),):
            raise PolicyLoadError(
                f"{path}: the model reads observations of shape {shape}, its fingerprint lists "
                f"{len(fingerprint.features)} features; the checkpoint was altered or mixes two models"
            )
    remember(model, str(path), fingerprint)
    return model
