"""One source of truth for the pinned stack: requirements*.txt; environment.yml must agree."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^\s*(?:-\s+)?([A-Za-z0-9_.\-]+)==([^\s#]+)")


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = PIN.match(line)
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def _requirements() -> dict[str, str]:
    return {**_pins(ROOT / "requirements.txt"), **_pins(ROOT / "requirements-dev.txt")}


def test_every_requirement_is_pinned_exactly():
    for name in ("requirements.txt", "requirements-dev.txt"):
        for line in (ROOT / name).read_text().splitlines():
            line = line.split("#")[0].strip()
            if line and not line.startswith("-r"):
                assert PIN.match(line), f"{name}: {line!r} is not pinned with =="


def test_environment_yml_matches_requirements():
    assert _pins(ROOT / "environment.yml") == _requirements()


def test_the_decided_stack():
    pins = _requirements()
    assert pins["tensorflow"].startswith("2.21.")
    assert pins["tf-keras"].startswith("2.21.")
    assert pins["tensorflow-model-optimization"] == "0.8.1"
    assert pins["ipywidgets"].startswith("8.")
    assert pins["jupyterlab"].startswith("4.")
    for needed in ("ai-edge-litert", "matplotlib", "nbval", "scikit-learn", "pytest"):
        assert needed in pins


def test_installed_versions_match_the_pins():
    from importlib.metadata import version

    for name, pinned in _requirements().items():
        assert version(name) == pinned, f"{name}: installed {version(name)}, pinned {pinned}; run make setup"


def test_python_version_in_environment_yml():
    assert re.search(r"^\s*-\s*python=3\.11\s*$", (ROOT / "environment.yml").read_text(), re.MULTILINE)


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and re.search(r"^make test$", ci, re.MULTILINE)
    assert "dataset-fashion-mnist" in ci
