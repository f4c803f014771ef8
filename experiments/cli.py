"""``discountsim`` console script: ``discountsim <command> [overrides...]`` runs ``discountsim.experiments.<command>``.

Commands: ``simulate``, ``train``, ``evaluate``, ``compare``, ``stress``, ``regress`` (Hydra
overrides follow) and
``benchmark`` (its own flags follow).
"""

from __future__ import annotations

import importlib
import sys

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
    # Hydra and argparse both read sys.argv; present the remaining arguments as the module's own.
    sys.argv = [f"discountsim {command}", *rest]
    try:
        module.main()
    except DiscountSimInputError as err:  # Hydra jobs report their own; this catches the argparse ones (benchmark)
        if full_error():
            raise
        print(f"discountsim {command}: error: {err}", file=sys.stderr)
        raise SystemExit(1) from err


if __name__ == "__main__":
    main()
