"""``discountsim`` console script: ``discountsim <command> [overrides...]`` runs ``experiments.<command>``.

Commands: ``simulate``, ``train``, ``evaluate``, ``compare``, ``stress``, ``regress`` (Hydra
overrides follow) and
``benchmark`` (its own flags follow).
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "simulate": "experiments.simulate",
    "train": "experiments.train",
    "evaluate": "experiments.evaluate",
    "compare": "experiments.compare",
    "stress": "experiments.stress",
    "regress": "experiments.regress",
    "benchmark": "experiments.benchmark",
}


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(f"usage: discountsim <command> [args...]\ncommands: {', '.join(COMMANDS)}")
        return
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        raise SystemExit(f"discountsim: unknown command {command!r}; allowed: {', '.join(COMMANDS)}")
    module = importlib.import_module(COMMANDS[command])
    # Hydra and argparse both read sys.argv; present the remaining arguments as the module's own.
    sys.argv = [f"discountsim {command}", *rest]
    module.main()


if __name__ == "__main__":
    main()
