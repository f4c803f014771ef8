"""Train one agent on one scenario.

    discountsim train agent=ppo simulator=default [total_timesteps=...] [seed=...]
    discountsim train agent=ppo resume=true      # continue after a kill

SB3 agents train on ``ShopperVecEnv`` with their tuned settings (``conf/agent/<name>.yaml``),
write an atomic checkpoint every ``checkpoint_every`` timesteps to ``<run>/checkpoints``, log
SB3's scalars plus ``shop/`` business metrics and HParams to ``<run>/tensorboard``, and save
``<run>/model.zip``. ``resume=true`` loads the newest checkpoint (and replay buffer) of the run
directory and trains the remaining timesteps, with TensorBoard's step count continuing.
Hand-written and supervised agents are built (fitted) and saved to ``<run>/policy.json``. Both
end by evaluating the policy and writing ``<run>/metrics.json``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import hydra
from discountsim.agents import ALGORITHMS, evaluate, save_policy
from discountsim.agents.callbacks import SHOP_METRICS, ShopMetricsCallback, log_shop_metrics
from discountsim.agents.sb3_agents import build_model, save_sb3
from discountsim.agents.storage import atomic_write, write_json
from discountsim.envs import ShopperVecEnv
from discountsim.experiments import CONFIG_DIR
from discountsim.experiments.job_config import check_job_config
from discountsim.simulators import SimulatorParams
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import CheckpointCallback

_STEPS = re.compile(r"_(\d+)_steps\.zip$")


class AtomicCheckpointCallback(CheckpointCallback):
    """SB3's ``CheckpointCallback``, writing each checkpoint atomically (replay buffer first, then the model).

    A kill mid-save leaves the previous checkpoint as the newest complete one.
    """

    def _on_step(self) -> bool:
        if self.n_calls % self.save_freq == 0:
            buffer = getattr(self.model, "replay_buffer", None)
            if self.save_replay_buffer and buffer is not None:
                atomic_write(self._checkpoint_path("replay_buffer_", extension="pkl"), self.model.save_replay_buffer)
            path = save_sb3(self.model, self._checkpoint_path(extension="zip"))
            if self.verbose >= 1:
                print(f"Saved checkpoint {path}")
        return True


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


def train(cfg: DictConfig, output_dir: str | Path = ".") -> dict[str, float]:
    """Train (or fit) ``cfg.agent`` on ``cfg.simulator``; returns the final evaluation metrics."""
    cfg = check_job_config("train", cfg)
    run = Path(output_dir)
    params: SimulatorParams = instantiate(cfg.simulator)
    sb3 = "algorithm" in cfg.agent
    if sb3:
        policy = _train_sb3(cfg, params, run)
    else:
        policy = instantiate(cfg.agent.policy)
        save_policy(policy, run / "policy.json")
    evaluation = cfg.evaluation
    row = evaluate(policy, params, evaluation.n_shoppers, evaluation.horizon, evaluation.seed, cfg.agent.name)
    metrics = {k: v for k, v in row.summary.iloc[0].items() if k not in ("policy", "scenario")}
    if not sb3:  # SB3 runs log through ShopMetricsCallback
        hparams = {"algorithm": cfg.agent.name, "seed": int(cfg.seed)}
        settings = OmegaConf.to_container(cfg.agent.policy, resolve=True)
        hparams |= _flat({k: v for k, v in settings.items() if k != "scenario"})  # the scenario is the run's name
        log_shop_metrics(run / "tensorboard" / f"{cfg.agent.name}_1", metrics, hparams)
    write_json(run / "metrics.json", {"policy": cfg.agent.name, "scenario": params.name, **metrics})
    Console(soft_wrap=True).print(
        f"{cfg.agent.name} on {params.name}: profit {metrics['profit']:.2f} {params.currency} per shopper, "
        f"incremental {metrics['incremental_profit']:+.2f}; written to {run}"
    )
    return {k: float(metrics[k]) for k in SHOP_METRICS}


def _train_sb3(cfg: DictConfig, params: SimulatorParams, run: Path) -> BaseAlgorithm:
    agent = cfg.agent
    if agent.name not in ALGORITHMS:
        raise ValueError(f"agent.name: {agent.name!r} has an algorithm block but is not one of {sorted(ALGORITHMS)}")
    checkpoints = run / "checkpoints"
    found = latest_checkpoint(checkpoints) if checkpoints.is_dir() else None
    if found and not cfg.resume:
        raise FileExistsError(
            f"{checkpoints} already holds checkpoints (newest: {found[0].name}); pass resume=true to continue "
            "them, or choose another directory with hydra.run.dir=..."
        )
    env_arguments = {**OmegaConf.to_container(agent.get("env", {}), resolve=True), **cfg.env.overrides}
    tensorboard = str(run / "tensorboard")
    total = int(cfg.total_timesteps)
    if found:
        path, steps = found
        env = ShopperVecEnv(scenario=params, horizon=cfg.env.horizon, seed=int(cfg.seed) + steps, **env_arguments)
        model = ALGORITHMS[agent.name].load(path, env=env, device="cpu", tensorboard_log=tensorboard)
        buffer = checkpoints / f"{agent.name}_replay_buffer__{steps}_steps.pkl"
        if buffer.is_file():
            model.load_replay_buffer(buffer)
        Console(soft_wrap=True).print(
            f"resuming {agent.name} from {path.name} ({model.num_timesteps:,} of {total:,} timesteps)"
        )
    else:
        model = build_model(
            instantiate(agent.algorithm),
            params,
            int(cfg.seed),
            int(cfg.env.horizon),
            env_arguments,
            agent.get("action_noise_sd"),
            tensorboard,
        )
    n_envs = model.get_env().num_envs
    callbacks = [
        # SB3 counts callback calls (one per vectorised step), not timesteps: divide by n_envs.
        AtomicCheckpointCallback(
            max(int(cfg.checkpoint_every) // n_envs, 1), str(checkpoints), agent.name, save_replay_buffer=True
        ),
        ShopMetricsCallback(
            params,
            int(cfg.evaluation.every),
            int(cfg.evaluation.n_shoppers),
            int(cfg.evaluation.horizon),
            int(cfg.evaluation.seed),
            hparams={"seed": int(cfg.seed), **_flat(OmegaConf.to_container(agent.algorithm, resolve=True))},
        ),
    ]
    remaining = max(total - model.num_timesteps, 0)
    model.learn(
        remaining,
        callback=callbacks,
        progress_bar=bool(cfg.progress_bar),
        reset_num_timesteps=found is None,
        tb_log_name=agent.name,
    )
    save_sb3(model, run / "model.zip")
    return model


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> float:
    # The returned value is what a sweeper (Optuna) optimises.
    return train(cfg, HydraConfig.get().runtime.output_dir)[cfg.optimized_metric]


if __name__ == "__main__":
    main()
