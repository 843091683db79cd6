"""The tools (tools/*.py) reach helpers by attribute (``helpers.distillation.studies.grid_search``,
or ``d = helpers.distillation.distiller`` and then ``d.student_epochs``). Most of their paths run only with a
full-mode log (``make precompute``) or a quiet machine (``make bench``), so no other test runs
them: this one checks that every such name exists, so that moving a function between modules
cannot leave a tool calling the old place."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import helpers

TOOLS = sorted((Path(__file__).resolve().parent.parent / "tools").glob("*.py"))


def _chain(node) -> list[str] | None:
    """``a.b.c`` as ["a", "b", "c"]; None for anything else (a call, a subscript ...)."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id, *reversed(parts)]
    return None


def helpers_names(source: str) -> list[tuple[int, str]]:
    """(line, dotted name) of every attribute chain rooted at ``helpers``, aliases included
    (``d = helpers.distillation.distiller`` or ``d, s = helpers.a, helpers.b`` anywhere in the file)."""
    tree = ast.parse(source)
    aliases = {"helpers": ["helpers"]}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            targets, values = node.targets[0], node.value
            pairs = zip(targets.elts, values.elts, strict=False) if isinstance(targets, ast.Tuple) and isinstance(values, ast.Tuple) else [(targets, values)]
            for target, value in pairs:
                chain = _chain(value)
                if isinstance(target, ast.Name) and chain and chain[0] == "helpers":
                    aliases[target.id] = chain
    found = []
    for node in ast.walk(tree):
        chain = _chain(node) if isinstance(node, ast.Attribute) else None
        if chain and chain[0] in aliases and not isinstance(getattr(node, "ctx", None), ast.Store):
            found.append((node.lineno, ".".join(aliases[chain[0]] + chain[1:])))
    return found


def _resolves(dotted: str) -> bool:
    obj = helpers
    for part in dotted.split(".")[1:]:
        if not hasattr(obj, part):
            return False
        obj = getattr(obj, part)
    return True


@pytest.mark.parametrize("tool", TOOLS, ids=lambda p: p.name)
def test_every_helpers_name_a_tool_uses_exists(tool):
    missing = [f"{tool.name}:{line}: {name}" for line, name in helpers_names(tool.read_text(encoding="utf-8"))
               if not _resolves(name)]  # fmt: skip
    assert not missing, "names the tool reaches that helpers does not have:\n" + "\n".join(missing)


def test_the_check_sees_aliases_and_misses():
    source = "def f(helpers):\n    d, s = helpers.distillation.distiller, helpers.distillation.studies\n    d.grid_search\n    s.grid_search\n"
    names = dict((name, line) for line, name in helpers_names(source))
    assert "helpers.distillation.distiller.grid_search" in names and "helpers.distillation.studies.grid_search" in names
    assert not _resolves("helpers.distillation.distiller.grid_search") and _resolves("helpers.distillation.studies.grid_search")
