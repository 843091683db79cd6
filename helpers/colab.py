"""Google Colab: a lesson opened there fetches the workbook and its pinned stack, then goes on.

Every lesson's first code cell is the same few lines (``bootstrap_cell(HOME)``, checked by
tests/test_colab.py). Only where ``google.colab`` is imported do they run. The cell names the workbook's
GitHub branch itself (``WORKBOOK = HOME``, set once with ``tools/hosting.py --home``): it does not read
the page's address (``eval_js("location.href")`` runs inside the cell's output frame and may return that
frame's address). It loads this file from that branch and calls ``bootstrap``, which

* does nothing when ``helpers`` can already be imported (the reader cloned the workbook himself);
* clones the branch into ``/content/workbook``;
* says, before pip runs, that pip's red "dependency conflicts" ERROR is about Colab's own packages;
* installs requirements.txt's pins except what Colab ships and the workbook does not need to
  replace (its Jupyter, NumPy, Matplotlib, ipywidgets, scikit-learn; ``COLAB_KEEPS``), and the
  helpers package itself (``pip install --no-deps -e``);
* puts the workbook on ``sys.path``, moves into its ``notebooks/`` folder and prints one line.

If the file cannot be fetched (the address is still the placeholder, a private fork, no network), the
cell prints the two commands that do the same by hand: ``!git clone ...`` and
``%run /content/workbook/helpers/colab.py`` (this file run as a script installs from its own clone).

This file imports nothing from ``helpers`` (it runs before helpers exists, and before TensorFlow
is imported: the TensorFlow it installs must be the one the lesson imports). Not verified in
Colab itself (no Colab here); the decisions below and the cell are unit-tested against stand-ins.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

TARGET = Path("/content/workbook")
#: Where the workbook lives on GitHub: the one place an instructor sets it (``python tools/hosting.py --home
#: https://github.com/<owner>/<repo>/tree/<branch>`` rewrites this line, every lesson's first cell and the
#: README's launch links; tests/test_hosting.py fails when they disagree). Until set, it is this placeholder.
HOME = "https://github.com/OWNER/REPO/tree/main"
_HOME = re.compile(r"^https://github\.com/([\w.-]+)/([\w.-]+)/tree/(\S+?)/?$")
# Colab's own copies stay: replacing its Jupyter front-end stack or NumPy under a running kernel breaks it.
COLAB_KEEPS = {"numpy", "matplotlib", "ipywidgets", "jupyterlab", "voila", "ipykernel", "scikit-learn"}
_GITHUB = re.compile(r"colab\.research\.google\.com/github/([\w.-]+)/([\w.-]+)/blob/([^/]+)/")

PIP_CONFLICT_NOTE = (
    "Installing the workbook's pinned stack (1-2 minutes). pip may end with a red \"ERROR: pip's dependency resolver "
    "does not currently take into account all the packages that are installed ... dependency conflicts\" and a "
    "list: those are packages Colab ships for other work that would want other versions (of TensorFlow, say). "
    "It is not a failure and the lesson does not use them. A step that really fails stops this cell with a "
    "message from the workbook."
)


def bootstrap_cell(home: str) -> str:
    """The lines every lesson's first code cell holds, naming the workbook's branch ``home``."""
    return f'''\
# Colab only (README, "Colab"): fetch the workbook and its pinned stack, then go on. Elsewhere nothing happens.
WORKBOOK = "{home}"  # tools/hosting.py --home sets it
import sys

if "google.colab" in sys.modules:
    from urllib.request import urlopen

    colab = {{}}
    try:
        exec(urlopen(WORKBOOK.replace("//github.com/", "//raw.githubusercontent.com/").replace("/tree/", "/", 1)
                     + "/helpers/colab.py").read(), colab)
    except Exception as error:  # the address is not set, the repository is private, or there is no network
        print(f"Could not fetch the workbook from {{WORKBOOK}} ({{error}}). Set it up by hand: in a new cell run\\n"
              "  !git clone --depth=1 https://github.com/<owner>/<repo> /content/workbook\\n"
              "  %run /content/workbook/helpers/colab.py\\n(with the workbook's real address), then run this lesson again.")
        raise
    colab["bootstrap"](WORKBOOK)'''


class ColabError(RuntimeError):
    """The lesson was opened in a way the bootstrap cannot follow; the message says what to do."""

    def _render_traceback_(self) -> list[str]:  # IPython: the message alone, no traceback
        return [f"{type(self).__name__}: {self}"]


def parse_home(home: str = HOME) -> tuple[str, str, str]:
    """(owner, repository, branch) of a ``https://github.com/<owner>/<repo>/tree/<branch>`` address.
    Raises ColabError for anything else."""
    found = _HOME.match(home.strip())
    if not found:
        raise ColabError(f"{home!r} is not a GitHub branch address: write it as https://github.com/<owner>/<repo>/tree/<branch>.")
    owner, repo, branch = found.groups()
    return owner, repo.removesuffix(".git"), branch


def home_is_set(home: str = HOME) -> bool:
    """False while ``HOME`` is still the placeholder (no real repository named)."""
    return parse_home(home)[:2] != ("OWNER", "REPO")


def needs_bootstrap(modules=None, find_spec=importlib.util.find_spec) -> bool:
    """True in Colab (``google.colab`` imported) when ``helpers`` cannot be imported yet."""
    modules = sys.modules if modules is None else modules
    return "google.colab" in modules and find_spec("helpers") is None


def repository(href: str) -> tuple[str, str]:
    """(clone URL, branch) from ``https://github.com/<owner>/<repo>/tree/<branch>`` (what the first cell
    passes) or, for older copies of the cell, the address Colab shows for a notebook opened from GitHub.

    Raises ColabError for any other address, or the unset placeholder, with the commands to run by hand.
    """
    if _HOME.match((href or "").strip()):
        owner, repo, branch = parse_home(href)
    else:
        found = _GITHUB.search(href or "")
        if not found:
            raise ColabError(f"{href!r} does not name the workbook's GitHub branch. " + BY_HAND)
        owner, repo, branch = found.groups()
    if (owner, repo) == ("OWNER", "REPO"):
        raise ColabError("This copy of the workbook does not name its GitHub repository yet (WORKBOOK in the "
                         "lesson's first cell). " + BY_HAND)  # fmt: skip
    return f"https://github.com/{owner}/{repo.removesuffix('.git')}", branch


BY_HAND = (f"Set it up by hand: in a new cell run `!git clone --depth=1 https://github.com/<owner>/<repo> {TARGET}` "
           f"and `%run {TARGET}/helpers/colab.py` (with the workbook's real address), then run the lesson again.")  # fmt: skip


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
    return _install(commands(href, target), target, "{} ({})".format(*repository(href)), run, lesson_folder(href))


def bootstrap_local(target: Path, run=subprocess.run) -> bool:
    """The by-hand path (``%run /content/workbook/helpers/colab.py`` after a clone): install from ``target``."""
    if not needs_bootstrap():
        return False
    steps = [[sys.executable, "-m", "pip", "install", "--quiet", "-r", str(target / "colab-requirements.txt")],
             [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "-e", str(target)]]  # fmt: skip
    return _install(steps, target, str(target), run)


def _install(steps: list[list[str]], target: Path, source: str, run, folder: str = "notebooks") -> bool:
    for i, cmd in enumerate(steps):
        if "-r" in cmd:  # after the clone: write the Colab subset of the pins next to requirements.txt
            pins = colab_requirements((target / "requirements.txt").read_text(encoding="utf-8"))
            (target / "colab-requirements.txt").write_text("\n".join(pins) + "\n", encoding="utf-8")
            print(PIP_CONFLICT_NOTE, flush=True)
        done = run(cmd, check=False)
        if getattr(done, "returncode", 0) != 0:
            raise ColabError(f"Setting up the workbook in Colab failed at step {i + 1} ({' '.join(cmd[:4])} ...); "
                             "see the lines above, then Runtime > Restart session and run this cell again.")
    sys.path.insert(0, str(target))
    os.chdir(target / folder)
    print(f"Colab: installed the workbook from {source} and its pinned stack into {target}; Colab's own Jupyter, "
          "NumPy, Matplotlib and ipywidgets stay. Explorers: where a click on a board cannot be read, a list under "
          "the board picks a point.")  # fmt: skip
    return True


#: The first cell as committed (tests/test_colab.py: every lesson starts with it).
BOOTSTRAP = bootstrap_cell(HOME)

if __name__ == "__main__":  # %run /content/workbook/helpers/colab.py: install from this clone
    bootstrap_local(Path(__file__).resolve().parent.parent)
