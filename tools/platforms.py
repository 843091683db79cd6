"""Does the pinned runtime stack install on the platforms students bring? Asks pip, without installing.

    python tools/platforms.py                      # macOS arm64 and Windows x86-64, Python 3.11-3.13
    python tools/platforms.py --platform win_amd64 --python 3.13

For each platform and Python version, requirements.txt's environment markers are evaluated for that
target (pip would evaluate them for *this* machine), and ``pip install --dry-run --only-binary=:all:
--platform ... --python-version ...`` must find a wheel for every remaining pin and its dependencies.
Needs the package index (CI runs it; it is not part of the offline test suite). Exit status 1 if any
target fails, with pip's reason.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
# (pip platform tag, the marker environment of such a machine)
PLATFORMS = {
    "macosx_14_0_arm64": {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "arm64",
                          "os_name": "posix"},
    "win_amd64": {"sys_platform": "win32", "platform_system": "Windows", "platform_machine": "AMD64", "os_name": "nt"},
    # Linux: for marker evaluation (tests); pip's --platform wants a wheel's exact manylinux tag, and CI
    # installs on Linux for real anyway.
    "manylinux_2_28_x86_64": {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
                              "os_name": "posix"},
}
PYTHONS = ("3.11", "3.12", "3.13")


def requirements_for(text: str, platform: str, python: str) -> list[str]:
    """The pins of a requirements file that apply on ``platform`` under ``python`` ("3.12"), markers dropped.

    Comments, blank lines and ``-r`` includes are skipped; a pin whose marker is false there is left out.
    """
    env = {**PLATFORMS[platform], "python_version": python, "python_full_version": f"{python}.0",
           "implementation_name": "cpython", "platform_python_implementation": "CPython"}
    kept = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate(env):
            kept.append(f"{req.name}{req.specifier}")
    return kept


def check(platform: str, python: str, requirements: Path) -> tuple[bool, str]:
    """Run pip's resolver for that target; (resolved?, the last lines pip printed)."""
    pins = requirements_for(requirements.read_text(encoding="utf-8"), platform, python)
    with tempfile.TemporaryDirectory() as tmp:
        listed = Path(tmp) / "requirements.txt"
        listed.write_text("\n".join(pins) + "\n", encoding="utf-8")
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
               "--only-binary=:all:", "--platform", platform, "--python-version", python,
               "--implementation", "cp", "--target", str(Path(tmp) / "target"), "-r", str(listed)]
        done = subprocess.run(cmd, capture_output=True, text=True)
    lines = [x for x in (done.stdout + done.stderr).splitlines() if x.strip() and "is ignored: it is neither" not in x]
    return done.returncode == 0, "\n".join(lines[-4:])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--platform", action="append", choices=sorted(PLATFORMS),
                        help="pip platform tag (default: macosx_14_0_arm64 and win_amd64)")
    parser.add_argument("--python", action="append", choices=PYTHONS, help="Python version (default: 3.11-3.13)")
    parser.add_argument("--requirements", type=Path, default=ROOT / "requirements.txt")
    args = parser.parse_args(argv)
    failed = 0
    for platform in args.platform or ["macosx_14_0_arm64", "win_amd64"]:
        for python in args.python or list(PYTHONS):
            ok, tail = check(platform, python, args.requirements)
            print(f"{platform:24s} Python {python}: {'resolves' if ok else 'FAILS'}", flush=True)
            if not ok:
                failed += 1
                print("    " + tail.replace("\n", "\n    "))
    print(f"{'all targets resolve' if not failed else f'{failed} target(s) fail'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
