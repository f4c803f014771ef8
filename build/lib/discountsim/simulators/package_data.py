"""Where the installed package keeps its configs: ``discountsim.conf``, found through ``importlib.resources``.

The same lookup serves an editable install (the repository's ``conf/``) and a wheel (``site-packages``),
so nothing depends on the working directory or on the layout of the source tree.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

CONF_PACKAGE = "discountsim.conf"


def conf_dir() -> Path:
    """The directory of DiscountSim's Hydra configs (scenarios under ``simulator/``, agents under ``agent/``)."""
    return Path(str(files(CONF_PACKAGE)))
