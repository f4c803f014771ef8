"""``discountsim`` console script: ``discountsim <command> [overrides...]`` runs ``discountsim.experiments.<command>``.

Commands: ``simulate``, ``train``, ``evaluate``, ``compare``, ``stress``, ``regress``,
``export-log``, ``calibrate``, ``abtest``, ``ope`` (Hydra overrides follow; ``simulator=<file.yaml>`` names a scenario
file anywhere) and ``benchmark`` (its own flags follow).
"""

from __future__ import annotations

import atexit
import importlib
import shutil
import sys
import tempfile
from pathlib import Path

from discountsim.experiments.run_dir import full_error
from discountsim.simulators.errors import DiscountSimInputError

COMMANDS = {
    "simulate": "discountsim.experiments.simulate",
    "train": "discountsim.experiments.train",
    "evaluate": "discountsim.experiments.evaluate",
    "compare": "discountsim.experiments.compare",
    "stress": "discountsim.experiments.stress",
    "regress": "discountsim.experiments.regress",
    "export-log": "discountsim.experiments.export_log",
    "calibrate": "discountsim.experiments.calibrate",
    "abtest": "discountsim.experiments.abtest",
    "ope": "discountsim.experiments.ope",
    "benchmark": "discountsim.experiments.benchmark",
}


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    usage = f"usage: discountsim <command> [args...]\ncommands: {', '.join(COMMANDS)}"
    if not args:  # a usage error: rc 2, as argparse
        print(usage, file=sys.stderr)
        raise SystemExit(2)
    if args[0] in ("-h", "--help"):
        print(usage)
        return
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        raise SystemExit(f"discountsim: unknown command {command!r}; allowed: {', '.join(COMMANDS)}")
    module = importlib.import_module(COMMANDS[command])
    if command != "benchmark":
        rest = scenario_file_overrides(rest)
    # Hydra and argparse both read sys.argv; present the remaining arguments as the module's own.
    sys.argv = [f"discountsim {command}", *rest]
    try:
        module.main()
    except DiscountSimInputError as err:  # Hydra jobs report their own; this catches the argparse ones (benchmark)
        if full_error():
            raise
        print(f"discountsim {command}: error: {err}", file=sys.stderr)
        raise SystemExit(1) from err


def scenario_file_overrides(args: list[str]) -> list[str]:
    """``simulator=<file.yaml>`` as a Hydra config-group choice: the file joins a private search path.

    Hydra's ``simulator`` group holds the built-in scenarios; a scenario file anywhere (a
    calibrated one, say) is linked, with the YAML files beside it (which its ``defaults`` may
    name), into ``<temporary>/simulator/`` and that folder is added to ``hydra.searchpath``, so
    ``simulator=my_shop.yaml`` works in every job as ``simulator=default`` does.
    """
    out, folders = [], []
    for arg in args:
        key, sep, value = arg.partition("=")
        if sep and key.lstrip("+~") == "simulator" and value.endswith((".yaml", ".yml")):
            path = Path(value).expanduser().resolve()
            if not path.is_file():
                raise SystemExit(f"discountsim: error: simulator: scenario file not found: {value}")
            folder = Path(tempfile.mkdtemp(prefix="discountsim-scenario-"))
            atexit.register(shutil.rmtree, folder, True)
            group = folder / "simulator"
            group.mkdir()
            for sibling in path.parent.glob("*.y*ml"):
                (group / f"{sibling.stem}.yaml").symlink_to(sibling)
            folders.append(folder)
            arg = f"{key}={path.stem}"
        out.append(arg)
    if folders:
        if any(a.partition("=")[0].lstrip("+") == "hydra.searchpath" for a in out):
            raise SystemExit("discountsim: error: simulator=<file.yaml> cannot be combined with hydra.searchpath=")
        paths = ",".join(f"file://{f}" for f in folders)
        out.append(f"hydra.searchpath=[{paths}]")
    return out


if __name__ == "__main__":
    main()
