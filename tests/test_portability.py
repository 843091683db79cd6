"""Nothing in helpers/ or tools/ that only POSIX has (students bring Windows laptops), and the
platform check's marker logic (tools/platforms.py, run by CI against the package index)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import platforms  # noqa: E402

POSIX_ONLY_MODULES = {"fcntl", "termios", "tty", "pty", "pwd", "grp", "resource", "posix", "crypt", "syslog"}
POSIX_ONLY_CALLS = {("os", "fork"), ("os", "getuid"), ("os", "geteuid"), ("os", "getpgid"), ("os", "killpg"),
                    ("os", "setsid"), ("os", "mkfifo"), ("os", "chown"), ("signal", "SIGKILL"), ("signal", "SIGALRM"),
                    ("signal", "alarm"), ("signal", "SIGHUP")}
# Files that run only where TFLM runs (Linux x86-64): the TFLM probe's child process.
LINUX_ONLY = {"helpers/microcontroller/tflm_probe.py"}


def _sources():
    for folder in ("helpers", "tools"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel not in LINUX_ONLY:
                yield rel, ast.parse(path.read_text(encoding="utf-8"))


def _posix_only_uses(tree) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in POSIX_ONLY_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in POSIX_ONLY_MODULES:
            found.append(node.module)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if (node.value.id, node.attr) in POSIX_ONLY_CALLS:
                found.append(f"{node.value.id}.{node.attr}")
    return found


@pytest.mark.parametrize("rel,tree", list(_sources()), ids=lambda v: v if isinstance(v, str) else "")
def test_no_posix_only_code(rel, tree):
    assert _posix_only_uses(tree) == [], f"{rel} uses what Windows lacks"


def _text_io_without_encoding(tree) -> list[int]:
    """Lines that read or write text without naming the encoding (Windows defaults to its ANSI code page)."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or any(k.arg == "encoding" for k in node.keywords):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in ("read_text", "write_text"):
            found.append(node.lineno)
        elif isinstance(func, ast.Name) and func.id == "open":
            mode = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "mode"), None)
            if not (isinstance(mode, ast.Constant) and "b" in str(mode.value)):
                found.append(node.lineno)
    return found


@pytest.mark.parametrize("rel,tree", list(_sources()), ids=lambda v: v if isinstance(v, str) else "")
def test_text_files_name_their_encoding(rel, tree):
    assert _text_io_without_encoding(tree) == [], f"{rel}: add encoding='utf-8' on these lines"


def test_the_scan_finds_what_it_looks_for():
    tree = ast.parse("p.read_text()\np.write_text('x', encoding='utf-8')\nopen(f)\nopen(f, 'rb')\nopen(f, 'w')\n")
    assert _text_io_without_encoding(tree) == [1, 3, 5]
    tree = ast.parse("import fcntl\nfrom pwd import getpwnam\nimport os\nos.fork()\nimport signal\nsignal.alarm(1)\n")
    assert _posix_only_uses(tree) == ["fcntl", "pwd", "os.fork", "signal.alarm"]


def test_helpers_import_where_there_is_no_fcntl():
    """As on Windows: with fcntl unavailable, `import helpers` and a locked append still work."""
    code = (
        "import sys, tempfile, pathlib; sys.modules['fcntl'] = None\n"
        "import helpers\n"
        "from helpers import results\n"
        "p = pathlib.Path(tempfile.mkdtemp()) / 'log.jsonl'\n"
        "results.append_line(p, b'{}\\n'); print(p.read_bytes())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "b'{}\\n'" in done.stdout


REQS = """# comment
tensorflow==2.21.0
tflite-micro==0.dev1; sys_platform == "linux" and platform_machine == "x86_64"
only-old==1.0; python_version < "3.12"
-r other.txt
"""


def test_markers_are_evaluated_for_the_target_not_this_machine():
    assert platforms.requirements_for(REQS, "manylinux_2_28_x86_64", "3.11") == [
        "tensorflow==2.21.0", "tflite-micro==0.dev1", "only-old==1.0"]
    assert platforms.requirements_for(REQS, "win_amd64", "3.11") == ["tensorflow==2.21.0", "only-old==1.0"]
    assert platforms.requirements_for(REQS, "macosx_14_0_arm64", "3.13") == ["tensorflow==2.21.0"]


def test_the_real_requirements_leave_tflm_out_off_linux():
    text = (ROOT / "requirements.txt").read_text()
    for target in ("win_amd64", "macosx_14_0_arm64"):
        pins = platforms.requirements_for(text, target, "3.12")
        assert not any(p.startswith("tflite-micro") for p in pins)
        assert any(p.startswith("tensorflow==") for p in pins) and any(p.startswith("filelock==") for p in pins)
