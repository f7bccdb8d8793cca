"""Every `symgrad ...` command the README prints runs as printed (exit 0), so a newcomer who
copies one from the page gets its output, not an error."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_commands() -> list[str]:
    """The `symgrad` lines of the README's sh blocks, comments removed."""
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    lines = (line.split("  #")[0].strip() for block in blocks for line in block.splitlines())
    return [line for line in lines if line.startswith("symgrad ")]


def test_the_readme_shows_commands():
    assert len(readme_commands()) >= 5


@pytest.mark.parametrize("command", readme_commands())
def test_readme_command_runs_as_printed(command, tmp_path):
    argv = [sys.executable, "-m", "symgrad", *shlex.split(command)[1:]]
    result = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() or list(tmp_path.iterdir())  # it printed or wrote something
