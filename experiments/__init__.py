"""Hydra entry points of DiscountSim; run each as ``python -m experiments.<name>`` or ``discountsim <name>``."""

from pathlib import Path

# Absolute, so that Hydra finds conf/ whether an entry point runs as __main__ or is imported by the CLI.
CONFIG_DIR = str(Path(__file__).resolve().parents[1] / "conf")
