"""The README's quick start is what CI runs, and the files it names exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def quick_start_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(?:bash|sh)\n(.+?)\n```", section, flags=re.S)


def test_quick_start_has_exactly_two_commands_and_ci_runs_the_second():
    commands = quick_start_commands()
    assert len(commands) == 2 and all("\n" not in c for c in commands)
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci == commands[1]
    assert commands[0].endswith("app.py") and commands[1].endswith("-m pytest")


def test_requirements_pin_the_torch_on_disk():
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    assert "torch==2.14.1" in lines and "torchvision==0.29.1" in lines


def test_top_level_layout():
    expected = {"demo", "rgmp", "train", "tests", "app.py", "requirements.txt", "README.md"}
    allowed = expected | {"pyproject.toml", "docs", ".ci", ".gitignore", ".git", ".venv"}
    allowed |= {"runs", "outputs"}  # ignored by git: where docs/training.md's commands write
    present = {p.name for p in ROOT.iterdir() if not p.name.startswith((".pytest", ".ruff", "__"))}
    assert expected <= present, expected - present
    assert present <= allowed, present - allowed
