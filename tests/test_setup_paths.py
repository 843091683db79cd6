"""The README's set-up without make (bash and PowerShell) runs the same commands as the Makefile."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _blocks(language: str) -> list[list[str]]:
    readme = (ROOT / "README.md").read_text()
    return [b.strip().splitlines() for b in re.findall(rf"```{language}\n(.*?)```", readme, re.DOTALL)]


def _without_make(language: str) -> list[str]:
    """The README block of that language holding the pip path: its commands, one per `;`/`&&` part."""
    block = next(b for b in _blocks(language) if any("pip install -r requirements-dev.txt" in x for x in b))
    return [part.strip() for line in block for part in re.split(r"\s*(?:&&|;)\s*", line) if part.strip()]


def _make_commands(target: str) -> list[str]:
    """A Makefile target's recipe, as a user would type it in an activated venv."""
    text = (ROOT / "Makefile").read_text()
    recipe = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", text, re.MULTILINE).group(1)
    commands = []
    for line in recipe.splitlines():
        line = line.strip().lstrip("@")
        if line.startswith(("command -v", "$(PYTHON)", "touch")) or "pip --version" in line:
            continue  # the Makefile's own checks and stamp
        line = line.replace("$(BIN)/", "").replace(" --quiet", "").replace("$(TESTS)", "tests notebooks")
        commands.append(line)
    return commands


def test_the_makefile_test_recipe_is_the_readme_commands():
    make = _make_commands("test")
    assert make == [
        "python -m ruff check helpers tests tools notebooks",
        "WORKBOOK_FAST=1 python -m pytest tests notebooks --nbval-lax --nbval-current-env --sanitize-with tests/nbval_sanitize.cfg",
    ]
    bash = _without_make("bash")
    powershell = _without_make("powershell")
    for command in make:
        assert command in bash, f"README (bash) lacks: {command}"
        ps = command.replace("WORKBOOK_FAST=1 ", "")
        assert ps in powershell, f"README (PowerShell) lacks: {ps}"
    assert '$env:WORKBOOK_FAST = "1"' in powershell  # fast mode, PowerShell's way


def test_the_makefile_install_is_the_readme_install():
    make = [c for c in _make_commands(r"\$\(STAMP\)") if "pip install" in c and "--upgrade pip" not in c]
    assert make == ["python -m pip install -r requirements-dev.txt", "python -m pip install --no-deps -e ."]
    for language in ("bash", "powershell"):
        for command in make:
            assert command in _without_make(language), f"README ({language}) lacks: {command}"


def test_readme_opens_the_lessons_the_same_way():
    assert "jupyter lab notebooks" in _without_make("bash") and "jupyter lab notebooks" in _without_make("powershell")
    assert "--notebook-dir=notebooks" in (ROOT / "Makefile").read_text()
