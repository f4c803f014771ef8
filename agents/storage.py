"""Atomic writes: a result file is either the old one or the complete new one, never half-written."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Create ``path`` atomically: ``write`` fills a temporary file in the same folder, then ``os.replace``.

    The temporary file is ``.<name>.tmp-<pid>-<random><suffix>``: hidden, recognisable as a
    temporary of this writer's process (a run that finds one of another pid in its directory removes
    it: the writer was killed), and with the final suffix (some writers, like SB3's ``save``, append
    one otherwise). On any error it is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp-{os.getpid()}-", suffix=path.suffix)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; results are ordinary files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (see ``atomic_write``), flushed to disk."""

    def write(tmp: Path) -> None:
        with open(tmp, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())

    return atomic_write(path, write)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def write_json(path: str | Path, data: Any) -> Path:
    # Keys keep their order: the order of categories in a saved scenario is the observation layout.
    return atomic_write_text(path, json.dumps(data, indent=2, default=_plain) + "\n")


def write_csv(path: str | Path, frame: pd.DataFrame) -> Path:
    return atomic_write_text(path, frame.to_csv(index=False))


POLICY_FORMAT = "discountsim-policy"


def save_policy(policy: Any, path: str | Path) -> Path:
    """Save a policy atomically: a hand-written one as JSON (its name, constructor arguments and
    learned state), an SB3 model as its zip (``.zip`` is appended if missing)."""
    from discountsim.agents.base import DiscountPolicy
    from discountsim.agents.sb3_agents import save_sb3
    from stable_baselines3.common.base_class import BaseAlgorithm

    if isinstance(policy, BaseAlgorithm):
        return save_sb3(policy, path)
    if not isinstance(policy, DiscountPolicy):
        raise TypeError(
            f"policy: save_policy stores DiscountPolicy objects and SB3 models; got {type(policy).__name__}"
        )
    return write_json(
        path,
        {
            "format": POLICY_FORMAT,
            "version": 1,
            "name": policy.name,
            "config": policy.config(),
            "state": policy.get_state(),
        },
    )


def load_policy(path: str | Path, algorithm: str | None = None) -> Any:
    """Load a policy saved by ``save_policy``: JSON for hand-written policies, a zip for SB3 models.

    Args:
        algorithm: For an SB3 zip saved outside DiscountSim, its algorithm (``ppo``, ``dqn``, ...).

    Raises:
        FileNotFoundError: The file does not exist (the message names it).
        ValueError: The file is not a saved DiscountSim policy or names an unknown policy.
    """
    from discountsim.agents import make_policy
    from discountsim.agents.sb3_agents import load_sb3

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"policy checkpoint not found: {path}")
    if path.suffix == ".zip":
        return load_sb3(path, algorithm)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not a saved policy (invalid JSON: {err})") from err
    if not isinstance(data, dict) or data.get("format") != POLICY_FORMAT:
        raise ValueError(f"{path}: not a saved policy (expected format {POLICY_FORMAT!r})")
    policy = make_policy(data["name"], **data["config"])
    policy.set_state(data.get("state", {}))
    return policy
