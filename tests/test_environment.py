"""One source of truth for the pinned stack: requirements*.txt; environment.yml must agree."""

import re
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^\s*(?:-\s+)?'?([A-Za-z0-9_.\-]+)==([^\s#;']+)(?:\s*;\s*([^#']+))?'?")


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = PIN.match(line)
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def _markers(path: Path) -> dict[str, str]:
    """name -> environment marker, for the pins that carry one (e.g. tflite-micro: Linux x86-64 only)."""
    return {m.group(1).lower(): m.group(3).strip() for m in map(PIN.match, path.read_text().splitlines()) if m and m.group(3)}


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
    assert _markers(ROOT / "environment.yml") == _markers(ROOT / "requirements.txt")


def test_tflite_micro_is_installed_only_where_it_has_wheels():
    """tflite-micro publishes Linux x86-64 wheels only: elsewhere pip must skip it, not fail."""
    line = next(x for x in (ROOT / "requirements.txt").read_text().splitlines() if x.startswith("tflite-micro"))
    marker = Requirement(line).marker
    assert marker is not None
    linux = {"sys_platform": "linux", "platform_machine": "x86_64"}
    assert marker.evaluate(linux)
    for other in ({"sys_platform": "darwin", "platform_machine": "arm64"}, {"sys_platform": "win32", "platform_machine": "AMD64"},
                  {"sys_platform": "linux", "platform_machine": "aarch64"}):
        assert not marker.evaluate(other), other


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

    markers = _markers(ROOT / "requirements.txt")
    for name, pinned in _requirements().items():
        if name in markers and not Requirement(f"{name}=={pinned}; {markers[name]}").marker.evaluate():
            continue  # not for this platform (e.g. tflite-micro off Linux x86-64)
        assert version(name) == pinned, f"{name}: installed {version(name)}, pinned {pinned}; run make setup"


def test_python_version_in_environment_yml():
    assert re.search(r"^\s*-\s*python=3\.11\s*$", (ROOT / "environment.yml").read_text(), re.MULTILINE)


def test_supported_pythons_agree():
    """pyproject's requires-python, the Makefile's check and the README all say 3.11-3.13."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'requires-python = ">=3.11,<3.14"' in pyproject
    makefile = (ROOT / "Makefile").read_text()
    assert "(3, 11) <= sys.version_info[:2] <= (3, 13)" in makefile
    assert "3.11, 3.12 or 3.13" in (ROOT / "README.md").read_text()


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and re.search(r"^make test PYTHON=python3.11$", ci, re.MULTILINE)
    assert re.search(r"^make test VENV=.venv-3.13 PYTHON=", ci, re.MULTILINE)  # the second Python
    assert "tools/platforms.py" in ci  # macOS and Windows resolution
    assert "dataset-fashion-mnist" in ci


def test_environment_yml_installs_the_workbook_itself():
    """Binder (repo2docker) installs environment.yml only: it must also install helpers (`-e .`)."""
    assert re.search(r"^\s+- -e \.\s*$", (ROOT / "environment.yml").read_text(), re.MULTILINE)


def test_pip_install_e_finds_every_helpers_package():
    """pyproject's package list names only packages that exist, and all of them: a stale name
    (helpers.pruning.magnitude.magnitude.magnitude) made `pip install -e .` fail for Binder, Colab and make setup."""
    import tomllib

    from setuptools import find_packages

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "helpers").rglob("__init__.py")}
    listed = config.get("packages")
    if isinstance(listed, list):
        assert set(listed) == on_disk
    else:
        assert set(find_packages(str(ROOT), include=listed["find"]["include"])) == on_disk
