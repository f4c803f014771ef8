"""The README's two commands are the ones that work: CI runs the test command verbatim."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bash_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def test_readme_commands_install_torch_first_and_ci_runs_the_test_command() -> None:
    blocks = _bash_blocks()
    main_command, test_command = blocks[0].strip(), blocks[1].strip()
    for command in (main_command, test_command):
        assert command.startswith("pip install torch==2.13.0 && ")
    assert main_command.endswith("discountsim compare")
    assert test_command.endswith("pytest")
    assert test_command in (ROOT / ".ci" / "run").read_text()


def test_pyproject_keeps_torch_unpinned() -> None:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "torch>=2.3" in dependencies
    assert not any(d.startswith("torch==") for d in dependencies)
