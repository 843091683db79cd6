"""Google Colab: a lesson opened there from GitHub fetches the workbook and its pinned stack, then goes on.

Every lesson's first code cell is the same few lines (``BOOTSTRAP``, checked by
tests/test_colab.py). Only where ``google.colab`` is imported do they run: they read the lesson's
address from the browser (``colab.research.google.com/github/<owner>/<repo>/blob/<branch>/...``),
load this file from that repository and call ``bootstrap``, which

* does nothing when ``helpers`` can already be imported (the reader cloned the workbook himself);
* clones the repository's branch into ``/content/workbook``;
* installs requirements.txt's pins except what Colab ships and the workbook does not need to
  replace (its Jupyter, NumPy, Matplotlib, ipywidgets, scikit-learn; ``COLAB_KEEPS``), and the
  helpers package itself (``pip install --no-deps -e``);
* puts the workbook on ``sys.path``, moves into its ``notebooks/`` folder and prints one line.

This file imports nothing from ``helpers`` (it runs before helpers exists, and before TensorFlow
is imported: the TensorFlow it installs must be the one the lesson imports). Not verified in
Colab itself (no Colab here); the decisions below are unit-tested.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

TARGET = Path("/content/workbook")
# Colab's own copies stay: replacing its Jupyter front-end stack or NumPy under a running kernel breaks it.
COLAB_KEEPS = {"numpy", "matplotlib", "ipywidgets", "jupyterlab", "voila", "ipykernel", "scikit-learn"}
_GITHUB = re.compile(r"colab\.research\.google\.com/github/([\w.-]+)/([\w.-]+)/blob/([^/]+)/")

#: The lines every lesson's first code cell starts with (tests/test_colab.py checks they are identical).
BOOTSTRAP = '''\
# Colab only (README, "Colab"): fetch the workbook and its pinned stack, then go on. Elsewhere nothing happens.
import sys

if "google.colab" in sys.modules:
    from urllib.request import urlopen

    from google.colab.output import eval_js

    href = eval_js("location.href")  # .../github/<owner>/<repo>/blob/<branch>/notebooks/<lesson>.ipynb
    colab = {}
    exec(urlopen(href.replace("colab.research.google.com/github", "raw.githubusercontent.com")
                 .replace("/blob/", "/").split("/notebooks/")[0] + "/helpers/colab.py").read(), colab)
    colab["bootstrap"](href)'''


class ColabError(RuntimeError):
    """The lesson was opened in a way the bootstrap cannot follow; the message says what to do."""


def needs_bootstrap(modules=None, find_spec=importlib.util.find_spec) -> bool:
    """True in Colab (``google.colab`` imported) when ``helpers`` cannot be imported yet."""
    modules = sys.modules if modules is None else modules
    return "google.colab" in modules and find_spec("helpers") is None


def repository(href: str) -> tuple[str, str]:
    """(clone URL, branch) from the address Colab shows for a notebook opened from GitHub.

    Raises ColabError for any other address (a notebook from Drive or an upload).
    """
    found = _GITHUB.search(href or "")
    if not found:
        raise ColabError(
            f"This lesson was not opened from GitHub ({href!r}), so the workbook cannot be fetched for it. "
            "Open it with File > Open notebook > GitHub, or run `!git clone <the workbook's repository> "
            f"{TARGET}` in a cell and run this cell again."
        )
    owner, repo, branch = found.groups()
    return f"https://github.com/{owner}/{repo.removesuffix('.git')}", branch


def colab_requirements(text: str) -> list[str]:
    """requirements.txt's pins minus ``COLAB_KEEPS`` (environment markers kept, so pip still skips
    tflite-micro where it has no wheel)."""
    kept = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        name = re.split(r"[=<>!~;\s\[]", line, maxsplit=1)[0].lower().replace("_", "-")
        if name not in COLAB_KEEPS:
            kept.append(line)
    return kept


def commands(href: str, target: Path = TARGET) -> list[list[str]]:
    """The commands ``bootstrap`` runs: clone (unless already there), install the pins, install helpers."""
    url, branch = repository(href)
    run = []
    if not (target / "helpers").is_dir():
        run.append(["git", "clone", "--quiet", "--depth=1", "--branch", branch, url, str(target)])
    run.append([sys.executable, "-m", "pip", "install", "--quiet", "-r", str(target / "colab-requirements.txt")])
    run.append([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "-e", str(target)])
    return run


def lesson_folder(href: str) -> str:
    """The lesson's folder in the workbook: ``notebooks`` or, for the Chinese edition, ``notebooks/zh-CN``
    (its kernel then runs there, which is how ``helpers.i18n`` knows the lesson is a Chinese one)."""
    return "notebooks/zh-CN" if "/notebooks/zh-CN/" in (href or "") else "notebooks"


def bootstrap(href: str, target: Path = TARGET, run=subprocess.run) -> bool:
    """Fetch and install the workbook in Colab (see the module's text); False when nothing was needed."""
    if not needs_bootstrap():
        return False
    steps = commands(href, target)
    for i, cmd in enumerate(steps):
        if "-r" in cmd:  # after the clone: write the Colab subset of the pins next to requirements.txt
            pins = colab_requirements((target / "requirements.txt").read_text(encoding="utf-8"))
            (target / "colab-requirements.txt").write_text("\n".join(pins) + "\n", encoding="utf-8")
        done = run(cmd, check=False)
        if getattr(done, "returncode", 0) != 0:
            raise ColabError(f"Setting up the workbook in Colab failed at step {i + 1} ({' '.join(cmd[:4])} ...); "
                             "see the lines above, then Runtime > Restart session and run this cell again.")
    sys.path.insert(0, str(target))
    os.chdir(target / lesson_folder(href))
    print(f"Colab: installed the workbook from {repository(href)[0]} ({repository(href)[1]}) and its pinned stack "
          f"into {target}; Colab's own Jupyter, NumPy and Matplotlib stay.")
    return True
