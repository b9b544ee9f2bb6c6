"""The README's numbers are what the committed JSON files give, and its quick start is two commands."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_readme_tables_match_the_committed_results():
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "readme_tables.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_quick_start_is_two_commands_install_and_run_then_test():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Quick start\s+```bash\n(.*?)```", text, re.S).group(1)
    commands = [line for line in block.splitlines() if line.strip()]
    assert len(commands) == 2
    assert commands[0].startswith("pip install") and "distilled-datasets" in commands[0]
    assert commands[1].startswith("pip install") and "pytest" in commands[1]
    # CI installs and tests exactly as the README says: a wheel (not editable), then the same test command.
    ci = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    install, test = commands[1].split(" && ")
    assert install == "pip install '.[test]'" and "python -m pip install -q '.[test]'" in ci
    assert test in ci
