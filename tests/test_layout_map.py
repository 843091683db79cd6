"""helpers/ keeps the shape helpers/README.md describes: a core, ui/, one package per lesson, imports one way.

The rules (helpers/README.md): the core imports only the core; ``ui`` imports the core and ``ui``; a lesson's
package imports the core, ``ui`` and other lessons' technique modules, never another package's explorer; the
packages import each other without a cycle; every module is on the map (``helpers.PACKAGES``).
Read from the source (no import), so a broken module still gets a clear failure here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

HELPERS = Path(__file__).resolve().parent.parent / "helpers"
EXPLORERS = {"explorer", "board_explorer", "latency_explorer"}
MAX_LINES = 400
LONGER: dict[str, int] = {}  # none: every module is under MAX_LINES
SCRIPTS = {"microcontroller.tflm_probe"}  # run as a process of its own (TFLM can crash), never imported  # known: the one measurement record; split it before it grows further


def _packages_map() -> dict[str, tuple[str, ...]]:
    tree = ast.parse((HELPERS / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
            if any(isinstance(t, ast.Name) and t.id == "PACKAGES" for t in targets):
                return ast.literal_eval(node.value)
    raise AssertionError("helpers/__init__.py has no PACKAGES map")


def _module_of(path: Path) -> str:
    parts = path.relative_to(HELPERS).with_suffix("").parts
    return ".".join(parts)


def imports(path: Path) -> set[str]:
    """Every helpers module or package ``path`` imports (module level and inside functions), dotted below helpers."""
    here = _module_of(path).split(".")
    package = here[:-1] if path.name != "__init__.py" else here[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                if node.level - 1 > len(package):
                    continue
            elif node.module and (node.module == "helpers" or node.module.startswith("helpers.")):
                base = []
                node_module = node.module.split(".", 1)[1] if "." in node.module else ""
                prefix = node_module.split(".") if node_module else []
                found.update(_targets(prefix, node.names))
                continue
            else:
                continue
            prefix = base + (node.module.split(".") if node.module else [])
            found.update(_targets(prefix, node.names))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("helpers."):
                    found.add(alias.name.split(".", 1)[1])
    return found


def _targets(prefix: list[str], names) -> set[str]:
    out = set()
    for alias in names:
        candidate = [*prefix, alias.name]
        if (HELPERS.joinpath(*candidate).with_suffix(".py")).exists() or HELPERS.joinpath(*candidate).is_dir():
            out.add(".".join(candidate))
        elif prefix:
            out.add(".".join(prefix))
    return out


def layer(module: str) -> str:
    """'core' for helpers/*.py, else the package's name (``ui`` or a lesson's)."""
    return module.split(".")[0] if "." in module else "core"


def problems(edges: dict[str, set[str]]) -> list[str]:
    """What breaks the rules in an import graph {module: modules it imports} (dotted below helpers)."""
    found = []
    for src, targets in sorted(edges.items()):
        src_layer = layer(src)
        for dst in sorted(targets):
            dst_layer = layer(dst)
            if dst in {"ui", *{layer(m) for m in edges}} - {"core"} and "." not in dst:
                dst_layer = dst  # a package itself
            if src_layer == "core" and dst_layer != "core":
                found.append(f"{src} (core) imports {dst}: the core imports only the core")
            elif src_layer == "ui" and dst_layer not in ("core", "ui"):
                found.append(f"{src} (ui) imports {dst}: ui imports only the core and ui")
            elif (
                src_layer not in ("core", "ui")
                and dst_layer not in ("core", "ui", src_layer)
                and dst.rsplit(".", 1)[-1] in EXPLORERS
            ):
                found.append(f"{src} imports another lesson's explorer {dst}")
    # package-level cycles
    graph: dict[str, set[str]] = {}
    for src, targets in edges.items():
        for dst in targets:
            a, b = layer(src), layer(dst) if "." in dst else dst if dst in {layer(m) for m in edges} else "core"
            if a != b and a != "core":
                graph.setdefault(a, set()).add(b)
    state: dict[str, int] = {}

    def visit(node, stack):
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                found.append("import cycle between packages: " + " -> ".join([*stack, node, nxt]))
            elif nxt not in state:
                visit(nxt, [*stack, node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return found


def _graph() -> dict[str, set[str]]:
    return {
        _module_of(p): imports(p)
        for p in HELPERS.rglob("*.py")
        if not (p.name == "__init__.py" and p.parent == HELPERS) and p.name != "__init__.py"
    }


def test_imports_run_one_way_and_packages_have_no_cycle():
    assert problems(_graph()) == []


def test_the_rules_catch_an_upward_import_a_cycle_and_a_borrowed_explorer():
    bad = {
        "measure": {"pruning.magnitude"},
        "ui.board_plots": {"combining.export"},
        "pruning.magnitude": {"quantization.quantize"},
        "quantization.quantize": {"pruning.sparsity"},
        "combining.clustering": {"pruning.explorer"},
        "results": {"config"},
    }
    found = problems(bad)
    assert any("measure (core) imports pruning.magnitude" in p for p in found)
    assert any("ui.board_plots (ui) imports combining.export" in p for p in found)
    assert any("cycle" in p and "pruning" in p and "quantization" in p for p in found)
    assert any("another lesson's explorer pruning.explorer" in p for p in found)
    assert problems({"results": {"config"}, "pruning.magnitude": {"measure", "ui.verdict"}}) == []


def test_every_module_is_on_the_map_and_the_map_names_only_modules():
    mapped = {f"{pkg}.{mod}" for pkg, mods in _packages_map().items() for mod in mods}
    on_disk = {m for m in _graph() if "." in m} - SCRIPTS
    assert on_disk - mapped == set(), "modules missing from helpers.PACKAGES (and helpers/README.md)"
    assert mapped - on_disk == set(), "helpers.PACKAGES names modules that do not exist"
    readme = (HELPERS / "README.md").read_text(encoding="utf-8")
    for pkg, mods in _packages_map().items():
        assert f"`{pkg}/`" in readme, f"helpers/README.md does not map {pkg}/"
        for mod in mods:
            assert f"`{mod}`" in readme, f"helpers/README.md does not name {pkg}/{mod}.py"


@pytest.mark.parametrize("path", sorted(HELPERS.rglob("*.py")), ids=lambda p: str(p.relative_to(HELPERS)))
def test_modules_stay_small(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= LONGER.get(str(path.relative_to(HELPERS)), MAX_LINES), f"{path.name}: {lines} lines: split it"
