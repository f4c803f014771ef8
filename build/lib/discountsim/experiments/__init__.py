"""Hydra entry points of DiscountSim: ``discountsim <name>``, or ``python -m discountsim.experiments.<name>``."""

# Hydra reads the configs from the installed package, so every job runs from any directory.
CONFIG_DIR = "pkg://discountsim.conf"
