"""Hosted launch (Binder / repo2docker, Colab, JupyterHub links), checked as far as a machine without Docker can.

repo2docker's own detection runs when its CLI is found (``repo2docker`` on the PATH, or
``WORKBOOK_REPO2DOCKER=/path/to/repo2docker``; it is not a pinned dependency: it pulls Docker's client
library into the stack). Otherwise the files are checked by content."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("hosting", ROOT / "tools" / "hosting.py")
hosting = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hosting)
HOME = "https://github.com/someone/compression-workbook/tree/term-1"


def test_readme_and_lessons_agree_with_the_one_address():
    assert hosting.problems() == []


def test_a_launch_link_per_lesson_and_each_well_formed():
    block = hosting.readme_block(HOME)
    lessons = hosting.lessons()
    assert len(lessons) >= 9
    for name in lessons:
        binder = urlparse(hosting.binder_url(HOME, f"notebooks/{name}"))
        assert (binder.scheme, binder.netloc, binder.path) == ("https", "mybinder.org", "/v2/gh/someone/compression-workbook/term-1")
        labpath = unquote(parse_qs(binder.query)["labpath"][0])
        assert (ROOT / labpath).is_file(), labpath  # a link to a notebook that exists
        assert binder.geturl() in block
        colab = hosting.colab_url(HOME, f"notebooks/{name}")
        assert colab == f"https://colab.research.google.com/github/someone/compression-workbook/blob/term-1/notebooks/{name}"
    assert "name no real repository" not in block  # said only while the placeholder stands
    assert "name no real repository" in hosting.readme_block("https://github.com/OWNER/REPO/tree/main")


def test_a_branch_with_a_slash_is_one_path_segment_on_binder():
    assert hosting.binder_url("https://github.com/a/b/tree/class/2027").endswith("/v2/gh/a/b/class%2F2027")


@pytest.mark.parametrize("bad", ["github.com/a/b", "https://gitlab.com/a/b/tree/main", "https://github.com/a/b"])
def test_a_home_that_is_not_a_branch_address_is_refused(bad):
    with pytest.raises(hosting.colab.ColabError, match="tree/<branch>"):
        hosting.binder_url(bad)


def test_nbgitpuller_link_opens_the_lesson_inside_the_cloned_folder():
    url = urlparse(hosting.nbgitpuller_url("https://hub.example.edu/", HOME, "notebooks/03_distillation.ipynb"))
    assert url.path == "/hub/user-redirect/git-pull"
    query = parse_qs(url.query)
    assert query == {"repo": ["https://github.com/someone/compression-workbook"], "branch": ["term-1"],
                     "urlpath": ["lab/tree/compression-workbook/notebooks/03_distillation.ipynb"]}  # fmt: skip


def test_set_home_rewrites_every_place_and_check_then_passes(tmp_path, monkeypatch):
    for part in ("README.md", "helpers/colab.py", "notebooks"):
        src, dst = ROOT / part, tmp_path / part
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
    monkeypatch.setattr(hosting, "ROOT", tmp_path)
    monkeypatch.setattr(hosting.colab, "HOME", hosting.colab.HOME)
    hosting.set_home(HOME)
    assert f'HOME = "{HOME}"' in (tmp_path / "helpers" / "colab.py").read_text()
    assert hosting.problems(HOME) == []
    assert "OWNER/REPO" not in (tmp_path / "README.md").read_text().split(hosting.START)[1].split(hosting.END)[0]
    assert hosting.problems("https://github.com/OWNER/REPO/tree/main")  # the old address no longer matches


def test_binder_files_by_content():
    assert (ROOT / "apt.txt").read_text().split() == ["dataset-fashion-mnist"]  # the real data, offline
    start = ROOT / "start"
    assert os.access(start, os.X_OK)
    text = start.read_text()
    assert 'WORKBOOK_FAST="${WORKBOOK_FAST:-1}"' in text and text.rstrip().endswith('exec "$@"')
    assert not (ROOT / "postBuild").exists()  # nothing needs it: `-e .` is in environment.yml
    assert not (ROOT / "binder").exists()  # repo2docker would then ignore the top-level files
    env = (ROOT / "environment.yml").read_text()
    assert "      - -e .\n" in env


def _repo2docker() -> str | None:
    return os.environ.get("WORKBOOK_REPO2DOCKER") or shutil.which("repo2docker")


@pytest.mark.skipif(_repo2docker() is None, reason="repo2docker not installed (pip install jupyter-repo2docker "
                    "in another venv and set WORKBOOK_REPO2DOCKER); the files were checked by content")  # fmt: skip
def test_repo2docker_builds_this_repository_as_intended():
    """repo2docker's own buildpack detection and generated Dockerfile (``--no-build --debug``: no Docker needed)."""
    done = subprocess.run([_repo2docker(), "--no-build", "--debug", "--user-id", "1000", "--user-name", "jovyan", str(ROOT)],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-2000:]
    assert "Building conda environment for python=3.11" in out  # environment.yml chosen, its Python
    assert "install --yes --no-install-recommends dataset-fashion-mnist" in out  # apt.txt
    copy, update = out.index("COPY --chown=1000:1000 src/"), out.index('env update -p ${NB_PYTHON_PREFIX} --file "environment.yml"')
    assert copy < update  # the environment is installed after the repository is copied in, so `-e .` finds it
    assert 'ENV R2D_ENTRYPOINT="${REPO_DIR}/start"' in out
