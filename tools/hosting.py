"""Hosted launch links: mybinder.org and Colab per lesson, JupyterHub (nbgitpuller) links, all from one address.

    python tools/hosting.py                         # print the launch links for the address in helpers/colab.py
    python tools/hosting.py --home https://github.com/me/workbook/tree/main   # set it everywhere (below)
    python tools/hosting.py --check                 # exit 1 if the README or a lesson disagrees with it
    python tools/hosting.py --hub https://hub.example.edu   # nbgitpuller links for a JupyterHub

The workbook's GitHub address lives in one place, ``helpers.colab.HOME``; ``--home`` rewrites that line,
every lesson's first (Colab) cell, which passes it to the bootstrap, and the README's launch block
between ``<!-- launch-links:start -->`` and ``<!-- launch-links:end -->``. Link formats:
mybinder.org ``/v2/gh/<owner>/<repo>/<branch>?labpath=<file>`` (mybinder.org docs, "How to link to a
notebook"); Colab ``colab.research.google.com/github/<owner>/<repo>/blob/<branch>/<file>``;
nbgitpuller ``<hub>/hub/user-redirect/git-pull?repo=&branch=&urlpath=`` (nbgitpuller docs, "link").
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
from pathlib import Path
from urllib.parse import quote, urlencode

ROOT = Path(__file__).resolve().parent.parent


def _load_colab():
    """helpers/colab.py by itself: it imports nothing from helpers (so no TensorFlow start-up here)."""
    spec = importlib.util.spec_from_file_location("workbook_colab", ROOT / "helpers" / "colab.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


colab = _load_colab()

START, END = "<!-- launch-links:start -->", "<!-- launch-links:end -->"
BINDER_BADGE = "https://mybinder.org/badge_logo.svg"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"


def lessons() -> list[str]:
    return [p.name for p in sorted((ROOT / "notebooks").glob("*.ipynb"))]


def binder_url(home: str, path: str | None = None) -> str:
    owner, repo, branch = colab.parse_home(home)
    url = f"https://mybinder.org/v2/gh/{owner}/{repo}/{quote(branch, safe='')}"
    return url + (f"?labpath={quote(path, safe='')}" if path else "")


def colab_url(home: str, path: str) -> str:
    owner, repo, branch = colab.parse_home(home)
    return f"https://colab.research.google.com/github/{owner}/{repo}/blob/{branch}/{path}"


def nbgitpuller_url(hub: str, home: str, path: str) -> str:
    """A link that clones (or updates) the workbook into the student's hub home, then opens ``path`` in
    JupyterLab. nbgitpuller clones into a folder named after the repository."""
    owner, repo, branch = colab.parse_home(home)
    query = urlencode({"repo": f"https://github.com/{owner}/{repo}", "branch": branch, "urlpath": f"lab/tree/{repo}/{path}"})
    return f"{hub.rstrip('/')}/hub/user-redirect/git-pull?{query}"


def readme_block(home: str = colab.HOME) -> str:
    rows = [f"| `{name}` | [![Binder]({BINDER_BADGE})]({binder_url(home, 'notebooks/' + name)}) | "
            f"[![Open In Colab]({COLAB_BADGE})]({colab_url(home, 'notebooks/' + name)}) |" for name in lessons()]  # fmt: skip
    note = "" if colab.home_is_set(home) else (
        "\n\n**These links name no real repository yet** (`OWNER/REPO`): set the workbook's GitHub address once with "
        "`python tools/hosting.py --home https://github.com/<owner>/<repo>/tree/<branch>`.")  # fmt: skip
    return "\n".join([START, "| lesson | Binder (1 CPU, 2 GB) | Colab |", "|---|---|---|", *rows]) + note + "\n" + END


def top_badge(home: str = colab.HOME) -> str:
    return f"[![Binder]({BINDER_BADGE})]({binder_url(home, 'notebooks/00_baseline.ipynb')})"


def first_cells() -> dict[str, str]:
    out = {}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = [c for c in json.loads(path.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]
        out[path.name] = "".join(cells[0]["source"])
    return out


def problems(home: str = colab.HOME) -> list[str]:
    """Where the README or a lesson does not say what ``home`` says (empty: all agree)."""
    found = []
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    if readme_block(home) not in readme:
        found.append("README.md: the launch block differs from `python tools/hosting.py` (run it with --home)")
    if re.search(r"\[!\[Binder\]", readme.split(START)[0]) and top_badge(home) not in readme:
        found.append("README.md: the top Binder badge names another address")
    want = colab.bootstrap_cell(home) if hasattr(colab, "bootstrap_cell") else colab.BOOTSTRAP
    found += [f"notebooks/{name}: first cell is not colab's bootstrap cell" for name, cell in first_cells().items() if cell != want]
    return found


def set_home(home: str) -> None:
    """Write ``home`` into helpers/colab.py, every lesson's first cell and the README."""
    colab.parse_home(home)
    source = ROOT / "helpers" / "colab.py"
    text = source.read_text(encoding="utf-8")
    source.write_text(re.sub(r'^HOME = ".*"$', f'HOME = "{home}"', text, count=1, flags=re.MULTILINE), encoding="utf-8")
    old_block = readme_block(colab.HOME)
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8").replace(old_block, readme_block(home)).replace(top_badge(colab.HOME), top_badge(home))
    readme.write_text(text, encoding="utf-8")
    if hasattr(colab, "bootstrap_cell"):
        cell = colab.bootstrap_cell(home)
        for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
            nb = json.loads(path.read_text(encoding="utf-8"))
            first = next(c for c in nb["cells"] if c["cell_type"] == "code")
            first["source"] = cell.splitlines(keepends=True)
            path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    colab.HOME = home


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", help="https://github.com/<owner>/<repo>/tree/<branch>: write it everywhere")
    parser.add_argument("--check", action="store_true", help="exit 1 if the README or a lesson disagrees")
    parser.add_argument("--hub", help="a JupyterHub's address: print nbgitpuller links for it")
    args = parser.parse_args(argv)
    if args.home:
        set_home(args.home)
        print(f"The workbook's address is now {args.home}: helpers/colab.py, the lessons' first cells and the README.")
    if args.check:
        found = problems()
        print("\n".join(found) or f"README and lessons agree with {colab.HOME}")
        return 1 if found else 0
    if not colab.home_is_set():
        print(f"(helpers/colab.py's HOME is still the placeholder {colab.HOME}: set it with --home)")
    for name in lessons():
        print(f"{name}\n  Binder: {binder_url(colab.HOME, 'notebooks/' + name)}\n  Colab:  {colab_url(colab.HOME, 'notebooks/' + name)}")
        if args.hub:
            print(f"  hub:    {nbgitpuller_url(args.hub, colab.HOME, 'notebooks/' + name)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
