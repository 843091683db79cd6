"""Every lesson in a real browser: JupyterLab from the project's .venv, driven through Debian's
Chromium with Playwright, the way students and instructors use the workbook.

For each ``notebooks/*.ipynb`` (a new lesson is picked up by the glob): open it, restart the
kernel and run all cells (fast mode), then check that no cell stored an error, that the cells
marked NBVAL_CHECK_OUTPUT print what they committed (nbval's own comparison; where this test runs,
it is the lesson's only run of the session: tests/conftest.py), that every widget
panel rendered ("Error displaying widget" or "Loading widget..." fail), and, for a lesson listed
in ``EXPLORERS``, that moving one control redraws the explorer's plot and a nonsense value shows
the panel's message. ``test_presenting_voila`` does the same in the presenting view (Voilà) for
every lesson with an explorer. Both check what a projector needs (issue 18): at 1280x720 and
1920x1080 (JupyterLab: sidebar open and closed) no widget label or button is cut off; at 1280x720
every explorer figure takes >= 60 % of its panel, and clicking a board marker shows its name.

Nothing is saved: autosave is off (a throw-away JupyterLab settings directory), checkpoints go to a
temporary directory, and each lesson's file is compared before and after. The lessons themselves
write to data/cache (baselines, results log) as they do in JupyterLab.

Needs ``/usr/bin/chromium`` (``sudo apt-get install chromium``) and the pinned ``playwright``
package (``make setup``; never ``playwright install``: its browser download is not used). Without
them the tests are skipped, unless ``WORKBOOK_REQUIRE_BROWSER=1`` (set by .ci/run) turns that into a
failure. Artifacts (git-ignored) in tests/artifacts/browser/: a screenshot per failed lesson,
``times.json`` with each lesson's wall time, ``layout.json`` with what the layout check saw, and
each explorer at 1280x720 (``explorer-lab-NN_x.png``, ``explorer-voila-NN_x.png``).

    WORKBOOK_FAST=1 .venv/bin/python -m pytest tests/test_browser.py -v -s      # ~5 minutes on 2 cores
    .venv/bin/python -m pytest tests/test_browser.py -k 02_quantization        # one lesson
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest

from helpers import i18n

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
LESSONS = sorted(NOTEBOOKS.glob("*.ipynb"))
ARTIFACTS = ROOT / "tests" / "artifacts" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
# Fast-mode lessons compute for 5-90 s on 2 cores; a loaded CI machine can be several times slower.
LESSON_TIMEOUT_S = float(os.environ.get("WORKBOOK_BROWSER_TIMEOUT", "900"))
UI_TIMEOUT_S = 30  # a widget update, a message, a dialog
PRESENT_LESSON = "02_quantization.ipynb"  # the quickest lesson with an explorer
# Projector sizes (issue 18): no label or button cut off at either; at the first, every explorer
# figure takes at least FIGURE_SHARE of its panel's width (helpers/ui/layout.py sets the rule).
SIZES = [(1280, 720), (1920, 1080)]
SHOW_TAG = "show-in-voila"  # code cells the presenting view shows (share/jupyter/voila/templates/workbook)
FIGURE_SHARE = 0.60
# Taken when this module is imported, before any test's monkeypatch (WORKBOOK_CACHE, ...) applies.
_ENV_AT_IMPORT = dict(os.environ)


# ----------------------------------------------------------------------------- what to check per lesson


@dataclasses.dataclass(frozen=True)
class Slider:
    """Keys pressed on the focused handle of the slider labelled ``label`` (noUiSlider: arrows,
    Home/End). Sliders clamp, so an out-of-range value needs a slider whose range is wider than
    the valid values (the bit-width and alpha sliders are)."""

    label: str
    keys: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Toggle:
    """Click the option ``text`` of a ToggleButtons."""

    text: str


@dataclasses.dataclass(frozen=True)
class Type:
    """Type ``text`` into the Text box labelled ``label``, press Enter, then click the button
    ``then_click`` if there is one and it is enabled (a panel may validate on typing instead)."""

    label: str
    text: str
    then_click: str | None = None


@dataclasses.dataclass(frozen=True)
class Explorer:
    """``panel``: a control label only this explorer shows (finds its panel). ``move`` must change
    an image in the panel; ``invalid`` must make ``message`` (a regex) appear in it."""

    panel: str
    move: Slider | Toggle | Type
    invalid: Slider | Toggle | Type
    message: str
    board: bool = True  # a size-vs-accuracy board whose markers answer a click


# One line per lesson with an explorer; a lesson without an entry is still run and checked for
# errors and widget rendering. Messages come from helpers (see tests/test_ui_explorer.py).
EXPLORERS = {
    "01_pruning.ipynb": Explorer(
        panel="final sparsity",
        move=Slider("final sparsity", ("ArrowLeft",) * 10),  # 0.90 -> 0.80: another curve
        invalid=Slider("final sparsity", ("End",)),  # 1.0: "final_sparsity must lie in [0, 1)"
        message=r"\[0, 1\)",
    ),
    "01b_structured_pruning.ipynb": Explorer(
        panel="units kept: dense_0",
        move=Slider("units kept: dense_0", ("ArrowLeft",) * 10),  # 100 -> 90 units: other bars
        invalid=Slider("units kept: dense_0", ("Home",)),  # 0 units: "keep at least 1 unit"
        message=r"keep at least 1 unit",
    ),
    "02_quantization.ipynb": Explorer(
        panel="weight bits",
        move=Slider("weight bits", ("ArrowLeft",)),  # 4 -> 3 bits: another grid
        invalid=Slider("weight bits", ("End",)),  # 10 bits
        message=r"choose a whole number from 2 to 8",
    ),
    "02b_low_bit.ipynb": Explorer(
        panel="budget KB",
        move=Type("budget KB", "100", then_click="Allocate"),  # the allocator's plan: other bars
        invalid=Type("budget KB", "0", then_click="Allocate"),
        message=r"give a positive number of bytes",
    ),
    "03_distillation.ipynb": Explorer(
        panel="temperature T",
        move=Slider("temperature T", ("ArrowLeft",) * 4),  # T 4 -> 2: sharper soft targets
        invalid=Slider("alpha", ("End",)),  # alpha 1.25 (the slider allows -0.25..1.25)
        message=r"alpha must lie in \[0, 1\]",
    ),
    "04_combined.ipynb": Explorer(
        panel="size budget",
        move=Toggle("stored size"),  # the board's size axis
        invalid=Type("size budget", "-5 KB", then_click="Export best under budget"),
        message=r"above zero bytes",
    ),
    "05_microcontroller.ipynb": Explorer(
        panel="RAM",
        move=Type("RAM", "8 KiB"),  # a custom board: the budget line and the colours change
        invalid=Type("flash", "0 KB"),
        message=r"flash budget: .*above zero bytes",
        board=False,  # flash and arena bars, not a size-vs-accuracy board
    ),
}


# ----------------------------------------------------------------------------- skip or fail without a browser


def _require_browser() -> None:
    missing = []
    if not CHROMIUM.exists():
        missing.append("Debian's Chromium at /usr/bin/chromium (sudo apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (make setup installs the pinned one; no `playwright install`)")
    if missing:
        message = "the browser test needs " + " and ".join(missing)
        if os.environ.get("WORKBOOK_REQUIRE_BROWSER") == "1":
            pytest.fail(message + " (WORKBOOK_REQUIRE_BROWSER=1)", pytrace=False)
        pytest.skip(message)


# ----------------------------------------------------------------------------- the JupyterLab server


@dataclasses.dataclass
class Server:
    url: str
    token: str
    process: subprocess.Popen
    log: Path

    def api(self, method: str, path: str, timeout: float = 10) -> object:
        request = urllib.request.Request(
            f"{self.url}{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """End every session and kernel (the lesson's, Voila's), so the next starts from nothing."""
        for kind in ("sessions", "kernels"):
            with contextlib.suppress(OSError, ValueError):
                for item in self.api("GET", f"/api/{kind}"):
                    with contextlib.suppress(OSError):
                        self.api("DELETE", f"/api/{kind}/{item['id']}", timeout=30)

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_settings(settings_dir: Path) -> None:
    """JupyterLab user settings for the test only: never save, no news toast, every cell in the DOM."""
    settings = {
        "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
        "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
        "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    }
    for name, values in settings.items():
        path = settings_dir / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def _stop(process: subprocess.Popen, grace: float) -> None:
    """Wait up to ``grace`` s, then SIGTERM and finally SIGKILL the whole process group."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(grace)
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(10)
            return


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory):
    """JupyterLab from the project's .venv on 127.0.0.1, a free port, a random token, fast mode."""
    _require_browser()
    home = tmp_path_factory.mktemp("jupyterlab")
    dirs = {name: home / name for name in ("config", "data", "runtime", "settings", "workspaces", "checkpoints")}
    for path in dirs.values():
        path.mkdir()
    _write_settings(dirs["settings"])
    env = {k: v for k, v in _ENV_AT_IMPORT.items() if k != "MPLBACKEND"}  # tests force Agg; lessons plot inline
    env.update(
        WORKBOOK_FAST="1",
        JUPYTER_CONFIG_DIR=str(dirs["config"]),
        JUPYTER_DATA_DIR=str(dirs["data"]),
        JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
        JUPYTERLAB_SETTINGS_DIR=str(dirs["settings"]),
        JUPYTERLAB_WORKSPACES_DIR=str(dirs["workspaces"]),
        JUPYTER_PATH=str(ROOT / "share" / "jupyter"),  # the presenting template (as `make lab` / `make present`)
        PYTHONUNBUFFERED="1",
    )
    venv_python = ROOT / ".venv" / "bin" / "python"
    python = str(venv_python) if venv_python.exists() else sys.executable
    port, token = _free_port(), secrets.token_hex(16)
    command = [
        python, "-m", "jupyterlab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={NOTEBOOKS}",
        f"--FileCheckpoints.checkpoint_dir={dirs['checkpoints']}",  # absolute: nothing lands in notebooks/
        "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: run commands, read cell outputs
        "--VoilaConfiguration.template=workbook",  # Voila shows the cells tagged show-in-voila
    ]  # fmt: skip
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = home / "server.log"
    with log.open("w") as log_file:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(f"http://127.0.0.1:{port}", token, process, log)
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"JupyterLab exited with code {process.returncode}:\n{server.log_tail()}", pytrace=False)
            with contextlib.suppress(OSError, ValueError):
                server.api("GET", "/api/status", timeout=2)
                break
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not answer within 120 s:\n{server.log_tail()}", pytrace=False)
            time.sleep(0.5)
        yield server
    finally:
        server.shutdown_kernels()
        with contextlib.suppress(OSError, ValueError):
            server.api("POST", "/api/shutdown")
        _stop(process, grace=20)


@pytest.fixture(scope="module")
def browser(jupyter, tmp_path_factory):
    """Debian's Chromium, headless, a fresh profile; closed (and Playwright stopped) whatever happens."""
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()
    finally:
        playwright.stop()


# ----------------------------------------------------------------------------- driving JupyterLab


# The notebook panel of `path` in window.jupyterapp (exposed by --LabApp.expose_app_in_browser).
FIND_PANEL = """(path) => {
  const app = window.jupyterapp;
  if (!app) return null;
  for (const w of app.shell.widgets('main')) {
    if (w.context && w.context.path === path && w.content && w.content.model) return w;
  }
  return null;
}"""
READY = f"""(path) => {{
  const panel = ({FIND_PANEL})(path);
  return !!panel && panel.context.isReady && panel.sessionContext.session?.kernel?.status === 'idle';
}}"""
STATE = f"""(path) => {{
  const panel = ({FIND_PANEL})(path);
  const cells = panel.content.model.cells, code = [];
  for (let i = 0; i < cells.length; i++) {{
    const cell = cells.get(i);
    if (cell.type !== 'code' || !cell.sharedModel.getSource().trim()) continue;
    const outputs = cell.outputs.toJSON();
    code.push({{
      index: i,
      count: cell.executionCount,
      errors: outputs.filter(o => o.output_type === 'error').map(o => `${{o.ename}}: ${{o.evalue}}`),
      widgets: outputs.filter(o => o.data && o.data['application/vnd.jupyter.widget-view+json']).length,
      // a cell nbval compares (NBVAL_CHECK_OUTPUT): its outputs, as nbformat JSON
      outputs: cell.sharedModel.getSource().includes('NBVAL_CHECK_OUTPUT') ? outputs : null,
    }});
  }}
  return {{status: panel.sessionContext.session?.kernel?.status ?? 'none', code}};
}}"""
RUN_ALL = f"""(path) => {{
  const panel = ({FIND_PANEL})(path);
  window.jupyterapp.shell.activateById(panel.id);
  // cleared first, so stale execution counts cannot look like a finished run
  return window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs').then(() => {{
    window.jupyterapp.commands.execute('notebook:restart-run-all');  // opens the "Restart kernel?" dialog
  }});
}}"""
# Rendered widgets, in JupyterLab and in Voila: the outermost widget views and whether any shows nothing.
WIDGETS = """(root) => {
  const views = [...root.querySelectorAll('.jupyter-widgets')].filter(e => !e.parentElement.closest('.jupyter-widgets'));
  const text = root.innerText;
  return {
    views: views.length,
    empty: views.filter(v => v.getBoundingClientRect().height < 2).length,
    errorDisplaying: text.includes('Error displaying widget'),
    loading: text.includes('Loading widget'),
  };
}"""


def _wait(predicate, timeout: float, what: str, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def _run_all(page, name: str) -> dict:
    """Restart the kernel and run every cell; the final state (fails on an error or a dead kernel)."""
    page.evaluate(RUN_ALL, name)
    accept = page.locator(".jp-Dialog .jp-mod-accept")
    with contextlib.suppress(Exception):  # no dialog when JupyterLab is told to skip it
        accept.click(timeout=UI_TIMEOUT_S * 1000)
    deadline = time.monotonic() + LESSON_TIMEOUT_S
    while True:
        state = page.evaluate(STATE, name)
        errors = [f"cell {c['index']}: {e}" for c in state["code"] for e in c["errors"]]
        assert not errors, f"{name}: a cell raised:\n" + "\n".join(errors)
        assert state["status"] not in ("dead", "none"), f"{name}: the kernel is {state['status']}"
        counts = [c["count"] for c in state["code"]]
        if state["status"] == "idle" and None not in counts:
            assert counts == list(range(1, len(counts) + 1)), f"{name}: execution counts {counts}"
            return state
        if time.monotonic() > deadline:
            missing = [c["index"] for c in state["code"] if c["count"] is None]
            raise AssertionError(f"{name}: not finished after {LESSON_TIMEOUT_S:.0f} s; cells {missing} not run")
        page.wait_for_timeout(1000)


CHECK_OUTPUT = "NBVAL_CHECK_OUTPUT"
SANITIZE = ROOT / "tests" / "nbval_sanitize.cfg"


def _nbval_compare(outputs: list[dict], committed: list[dict]) -> str | None:
    """nbval's own comparison of a cell's outputs (``IPyNbCell.compare_outputs`` after
    ``coalesce_streams``, nbval 0.11.0 as pinned, lax mode, sanitized by tests/nbval_sanitize.cfg,
    the keys nbval skips without --nbdime); None when equal, else nbval's explanation."""
    import types
    from collections import OrderedDict

    import nbformat
    from nbval import plugin

    stand_in = types.SimpleNamespace(
        parent=types.SimpleNamespace(
            skip_compare=("metadata", "traceback", "prompt_number", "output_type", "name", "execution_count",
                          "application/vnd.jupyter.widget-view+json", "image/png", "image/jpeg"),
            sanitize_patterns=OrderedDict(plugin.get_sanitize_patterns(SANITIZE.read_text(encoding="utf-8"))),
        ),
        colors=plugin.nocolors, config=None, ihook=types.SimpleNamespace(pytest_assertrepr_compare=lambda **_: []),
    )  # fmt: skip
    stand_in.sanitize = lambda text: plugin.IPyNbCell.sanitize(stand_in, text)
    stand_in.format_output_compare = lambda *a: plugin.IPyNbCell.format_output_compare(stand_in, *a)
    def joined(o):  # a multi-line string may be stored as a list of lines (nbformat joins them on reading)
        o = {k: "".join(v) if k == "text" and isinstance(v, list) else v for k, v in o.items()}
        if isinstance(o.get("data"), dict):
            o["data"] = {k: "".join(v) if isinstance(v, list) else v for k, v in o["data"].items()}
        return nbformat.from_dict(o)

    test = plugin.coalesce_streams([joined(o) for o in outputs])
    ref = plugin.coalesce_streams([joined(o) for o in committed])
    if plugin.IPyNbCell.compare_outputs(stand_in, test, ref):
        return None
    return "\n".join(str(line) for line in stand_in.comparison_traceback)


def _check_outputs(lesson: Path, state: dict) -> int:
    """What nbval checks of the cells marked NBVAL_CHECK_OUTPUT (with a committed run), on the
    browser's run: their outputs compared by nbval's own code. Returns how many cells were
    compared (where a browser runs, the browser run is the lessons' only run: tests/conftest.py)."""
    cells = json.loads(lesson.read_text(encoding="utf-8"))["cells"]
    ran = {c["index"]: c for c in state["code"]}
    compared = 0
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "code" or CHECK_OUTPUT not in "".join(cell["source"]):
            continue
        if cell.get("execution_count") is None:  # nbval does not compare a cell never run in the file
            continue
        problem = _nbval_compare(ran[index]["outputs"] or [], cell.get("outputs", []))
        assert problem is None, f"{lesson.name}: cell {index} ({CHECK_OUTPUT}) differs from the committed output:\n{problem}"
        compared += 1
    return compared


def _check_widgets(root, expected_views: int | None, where: str) -> None:
    seen = root.evaluate(WIDGETS)
    assert not seen["errorDisplaying"], f"{where}: 'Error displaying widget'"
    assert not seen["loading"], f"{where}: 'Loading widget...' left after the run"
    assert seen["empty"] == 0, f"{where}: {seen['empty']} of {seen['views']} widgets show nothing"
    if expected_views is not None:
        assert seen["views"] == expected_views, f"{where}: {seen['views']} widgets shown, {expected_views} displayed"


# ----------------------------------------------------------------------------- the explorer checks


def _exact(text: str) -> re.Pattern:
    return re.compile(rf"^\s*{re.escape(text)}\s*$")


def _control(page, panel, css: str, label: str):
    control = panel.locator(css).filter(has=page.locator(".widget-label", has_text=_exact(label)))
    assert control.count() >= 1, f"no control {label!r} ({css}) in the panel"
    return control.first


def _do(page, panel, action) -> None:
    if isinstance(action, Slider):
        handle = _control(page, panel, ".widget-slider", action.label).locator(".noUi-handle")
        handle.scroll_into_view_if_needed()
        for key in action.keys:
            handle.press(key)
    elif isinstance(action, Toggle):
        panel.locator(".widget-toggle-button", has_text=_exact(action.text)).first.click()
    elif isinstance(action, Type):
        box = _control(page, panel, ".widget-text", action.label).locator("input")
        box.fill(action.text)
        box.press("Enter")
        if action.then_click:
            button = panel.get_by_role("button", name=action.then_click)
            if button.count() and button.first.is_enabled():
                button.first.click()
    else:
        raise TypeError(action)


def _images(panel) -> list[str]:
    return panel.locator("img").evaluate_all("imgs => imgs.map(i => i.getAttribute('src') || '')")


def _check_explorer(page, name: str, spec: Explorer):
    panels = page.locator(".jp-OutputArea-output").filter(
        has=page.locator(".widget-label", has_text=_exact(spec.panel))
    )
    _wait(lambda: panels.count() >= 1, UI_TIMEOUT_S, f"{name}: the explorer panel (a control {spec.panel!r})")
    panel = panels.first
    panel.scroll_into_view_if_needed()
    before = _images(panel)
    assert before, f"{name}: the explorer panel shows no plot"
    _do(page, panel, spec.move)
    _wait(lambda: _images(panel) != before, UI_TIMEOUT_S, f"{name}: the plot to change after {spec.move}")
    assert not re.search(spec.message, panel.inner_text()), f"{name}: {spec.message!r} shown before the bad value"
    _do(page, panel, spec.invalid)
    _wait(
        lambda: re.search(spec.message, panel.inner_text()),
        UI_TIMEOUT_S,
        f"{name}: the message {spec.message!r} after {spec.invalid}",
    )
    return panel


# Text wider than its box (shown with "..."): widget labels, buttons, toggle buttons, checkbox texts;
# and for each explorer panel (helpers.ui.layout's .wb-panel) its figures' widths as a share of it.
LAYOUT = """(root) => {
  const sel = '.widget-label, .widget-label-basic, .jupyter-button, .widget-toggle-button, .widget-checkbox label';
  const cut = [...root.querySelectorAll(sel)]
    .filter(e => e.getBoundingClientRect().width > 0 && e.scrollWidth > e.clientWidth + 1)
    .map(e => (e.innerText || e.title || e.className).trim());
  const figures = [];
  for (const panel of root.querySelectorAll('.wb-panel')) {
    const width = panel.getBoundingClientRect().width;
    for (const img of panel.querySelectorAll('img')) {
      const w = img.getBoundingClientRect().width;
      if (w > 50) figures.push({share: Math.round(1000 * w / width) / 1000, panel: Math.round(width)});
    }
  }
  return {cut, figures};
}"""
SIDEBAR = """(open) => {
  const app = window.jupyterapp;
  if (open === app.shell.leftCollapsed) app.commands.execute('application:toggle-left-area');
  return !app.shell.leftCollapsed;
}"""


def _check_layout(page, root, where: str, explorer: bool, sidebar: bool = False) -> dict:
    """At each of SIZES (and, in JupyterLab, with the sidebar open and closed): no text cut off,
    and each explorer figure >= FIGURE_SHARE of its panel at the first size. Written to
    tests/artifacts/browser/layout.json; the viewport is left at 1280x720."""
    seen, problems = {}, []
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        for side in (True, False) if sidebar else (None,):
            if side is not None:
                page.evaluate(SIDEBAR, side)
            page.wait_for_timeout(600)  # the layout settles (JupyterLab animates the sidebar)
            key = f"{width}x{height}" + ("" if side is None else f" sidebar {'open' if side else 'closed'}")
            found = seen[key] = root.evaluate(LAYOUT)
            if found["cut"]:
                problems.append(f"{key}: cut off: {found['cut']}")
            if explorer and (width, height) == SIZES[0]:
                if not found["figures"]:
                    problems.append(f"{key}: no explorer figure found in a .wb-panel")
                narrow = [f for f in found["figures"] if f["share"] < FIGURE_SHARE]
                if narrow:
                    problems.append(f"{key}: figures narrower than {FIGURE_SHARE:.0%} of their panel: {narrow}")
    if sidebar:
        page.evaluate(SIDEBAR, True)
    page.set_viewport_size({"width": SIZES[0][0], "height": SIZES[0][1]})
    _record("layout.json", where, seen)
    assert not problems, f"{where}: " + "; ".join(problems)
    return seen


def _check_board_click(page, root, where: str) -> str:
    """Click the board's most isolated marker (positions from its marker list; a lesson shows one
    pointable board, its explorer's): its name must show up once more in ``root`` (the recipe / the
    line under the board)."""
    board, markers = root.locator("img.wb-board"), root.locator(".wb-markers")
    assert board.count() == markers.count() == 1, (
        f"{where}: {board.count()} boards to point at (img.wb-board), {markers.count()} marker lists (.wb-markers)"
    )
    panel = root
    board.first.scroll_into_view_if_needed()
    box = board.first.bounding_box()
    listed = json.loads(markers.first.get_attribute("data-markers") or "[]")
    assert listed, f"{where}: the board has no markers"

    def room(m):  # distance in screen pixels to the nearest other marker
        others = [((m["fx"] - o["fx"]) * box["width"]) ** 2 + ((m["fy"] - o["fy"]) * box["height"]) ** 2
                  for o in listed if o is not m]  # fmt: skip
        return min(others, default=1e9)

    target = max(listed, key=room)
    before = panel.inner_text().count(target["name"])
    board.first.click(position={"x": target["fx"] * box["width"], "y": target["fy"] * box["height"]})
    _wait(lambda: panel.inner_text().count(target["name"]) > before, UI_TIMEOUT_S,
          f"{where}: the name {target['name']!r} after clicking its marker")  # fmt: skip
    return target["name"]


def _check_controls_visible(panel, where: str) -> None:
    """No control is squeezed out of sight by its box (it happens when a box may shrink to 0)."""
    clipped = panel.evaluate(
        """(panel) => [...panel.querySelectorAll('.widget-slider, .widget-dropdown, .widget-text, .widget-toggle-buttons')]
          .filter(el => el.offsetParent !== null)  // a control hidden on purpose (e.g. the board's picker
          .filter(el => {                           // where clicks can be read) is not squeezed
            const box = el.parentElement.closest('.widget-box');
            const w = el.getBoundingClientRect().width;
            return w < 20 || (box && box.getBoundingClientRect().width < 0.9 * w);
          })
          .map(el => (el.querySelector('.widget-label')?.innerText || el.className).trim())"""
    )
    assert not clipped, f"{where}: controls squeezed out of sight: {clipped}"


# ----------------------------------------------------------------------------- reporting


def _record(file: str, name: str, value) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / file
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        found = {}
    found[name] = value
    path.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")


def _record_time(name: str, **fields) -> None:
    _record("times.json", name, {**fields, "when": datetime.now(UTC).isoformat(timespec="seconds")})


def _shoot_explorer(page, panel, name: str) -> Path:
    """The explorer as the room sees it at 1280x720: scrolled into view, the window shot."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    panel.evaluate("el => el.scrollIntoView({block: 'start'})")
    page.screenshot(path=str(path))
    return path


def _screenshot(page, name: str) -> Path | None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    with contextlib.suppress(Exception):
        page.screenshot(path=str(path))
        return path
    return None


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@contextlib.contextmanager
def _page(browser, jupyter, name: str):
    """A fresh tab; on failure a screenshot (path printed and added to the error); always the tab
    closed and every kernel shut down."""
    page = browser.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    try:
        yield page
    except BaseException as exc:
        shot = _screenshot(page, f"failed-{name}")
        note = f"screenshot: {shot}" if shot else "no screenshot"
        if page_errors:
            note += "\nbrowser errors: " + " | ".join(page_errors[:5])
        print(f"[browser] {name}: {note}")
        exc.add_note(note)
        raise
    finally:
        with contextlib.suppress(Exception):
            page.close()
        jupyter.shutdown_kernels()


# ----------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.name)
def test_lesson_in_jupyterlab(lesson, jupyter, browser):
    name, digest = lesson.name, _digest(lesson)
    start = time.monotonic()
    with _page(browser, jupyter, name) as page:
        page.goto(f"{jupyter.url}/lab/tree/{name}?reset&token={jupyter.token}")  # ?reset: no earlier tabs
        page.wait_for_function(READY, arg=name, timeout=120_000)
        opened = time.monotonic()
        state = _run_all(page, name)
        ran = time.monotonic()
        compared = _check_outputs(lesson, state)
        stored_views = sum(c["widgets"] for c in state["code"])
        notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").first
        _check_widgets(notebook, stored_views, name)
        if name in EXPLORERS:
            panel = _check_explorer(page, name, EXPLORERS[name])
            _check_widgets(notebook, None, f"{name} after the explorer checks")
            page.set_viewport_size({"width": SIZES[0][0], "height": SIZES[0][1]})
            if EXPLORERS[name].board:
                _check_board_click(page, notebook, f"{name} in JupyterLab")
            shot = _shoot_explorer(page, panel, f"explorer-lab-{lesson.stem}")
            print(f"[browser] {name}: explorer screenshot {shot}")
        _check_layout(page, notebook, f"lab {name}", explorer=name in EXPLORERS, sidebar=True)
        total = time.monotonic() - start
        _record_time(name, open_s=round(opened - start, 1), run_all_s=round(ran - opened, 1), total_s=round(total, 1))
        print(f"[browser] {name}: open {opened - start:.1f} s, restart + run all {ran - opened:.1f} s, total {total:.1f} s; "
              f"{compared} {CHECK_OUTPUT} cells as committed")  # fmt: skip
    assert _digest(lesson) == digest, f"{name} was written to during the test (autosave must be off)"
    assert not (NOTEBOOKS / ".ipynb_checkpoints").exists(), "checkpoints were written into notebooks/"


# Voila runs the whole lesson again for each page: in CI, the quickest explorer lesson and the board's lesson
# (every explorer lesson with WORKBOOK_BROWSER_VOILA=all; CI's time budget does not hold all of them).
VOILA_LESSONS = [p for p in LESSONS if p.name in EXPLORERS and (
    os.environ.get("WORKBOOK_BROWSER_VOILA") == "all" or p.name in (PRESENT_LESSON, "04_combined.ipynb"))]


@pytest.mark.parametrize("lesson", VOILA_LESSONS, ids=lambda p: p.name)
def test_presenting_voila(lesson, jupyter, browser):
    """The presenting view (`make present`) at a projector's 1280x720: Voila renders the lesson
    without code, the explorer is live and fully visible, no text is cut off (at 1920x1080
    either), its figures fill their panel, and its board answers a click. The explorer's
    screenshot is kept in tests/artifacts/browser/."""
    name = lesson.name
    start = time.monotonic()
    with _page(browser, jupyter, f"voila-{name}") as page:
        page.set_viewport_size({"width": SIZES[0][0], "height": SIZES[0][1]})
        page.goto(f"{jupyter.url}/voila/render/{name}?token={jupyter.token}", timeout=LESSON_TIMEOUT_S * 1000)
        # the page streams while the kernel runs the lesson (complete at the load event), then the
        # widget manager starts and replaces each "Loading widget..." with its widget
        body, spec = page.locator("body"), EXPLORERS[name]
        panel = (
            page.locator(".jp-OutputArea-output")
            .filter(has=page.locator(".widget-label", has_text=_exact(spec.panel)))
            .first
        )
        _wait(
            lambda: panel.count() and "Loading widget" not in body.inner_text(),
            UI_TIMEOUT_S * 2,
            f"Voila {name}: the widgets to render",
        )
        text = body.inner_text()
        for bad in ("There was an error when executing cell", "Traceback (most recent call last)"):
            assert bad not in text, f"Voila {name}: {bad!r}"
        _check_widgets(body, None, f"Voila {name}")
        shown = [c for c in json.loads(lesson.read_text(encoding="utf-8"))["cells"]
                 if SHOW_TAG in c.get("metadata", {}).get("tags", [])]  # fmt: skip
        sources = page.locator(".wb-shown-source").evaluate_all("els => els.map(e => e.innerText)")
        assert len(sources) == len(shown) > 0, f"Voila {name}: {len(sources)} code cells shown, {len(shown)} tagged"
        for cell, text in zip(shown, sources, strict=True):
            first = "".join(cell["source"]).strip().splitlines()[0].strip()
            assert first in " ".join(text.split()) or first.split()[0] in text, f"Voila {name}: {first!r} not shown"
        panel.scroll_into_view_if_needed()
        _check_controls_visible(panel, f"Voila {name}")
        _check_layout(page, body, f"voila {name}", explorer=True)
        shot = _shoot_explorer(page, panel, f"explorer-voila-{lesson.stem}")  # as the audience first sees it
        if spec.board:
            _check_board_click(page, body, f"Voila {name}")
        _check_explorer(page, f"Voila {name}", spec)
        total = time.monotonic() - start
        _record_time(f"voila-{name}", total_s=round(total, 1))
        print(f"[browser] Voila {name}: rendered, explored and shot in {total:.1f} s -> {shot}")


def test_presenting_a_chinese_lesson(jupyter, browser):
    """The Chinese edition presents the same way (issue 26): Voila renders notebooks/zh-CN/02_quantization.ipynb,
    its prose is the Chinese translation, the explorer renders with Chinese control labels, Run button and
    captions (helpers/i18n.py: the kernel runs in zh-CN/), every control is visible and no text is cut off at a
    projector's 1280x720."""
    name = f"zh-CN/{PRESENT_LESSON}"
    assert (NOTEBOOKS / name).exists(), "make zh builds the Chinese lessons"
    start = time.monotonic()
    with _page(browser, jupyter, "voila-zh-" + PRESENT_LESSON) as page:
        page.set_viewport_size({"width": SIZES[0][0], "height": SIZES[0][1]})
        page.goto(f"{jupyter.url}/voila/render/{name}?token={jupyter.token}", timeout=LESSON_TIMEOUT_S * 1000)
        body, label = page.locator("body"), i18n.ZH[EXPLORERS[PRESENT_LESSON].panel]  # the control, in Chinese
        panel = (
            page.locator(".jp-OutputArea-output")
            .filter(has=page.locator(".widget-label", has_text=_exact(label)))
            .first
        )
        _wait(lambda: panel.count() and "Loading widget" not in body.inner_text(), UI_TIMEOUT_S * 2,
              f"Voila {name}: the widgets to render, the explorer's control labelled {label!r}")  # fmt: skip
        text = body.inner_text()
        for bad in ("There was an error when executing cell", "Traceback (most recent call last)"):
            assert bad not in text, f"Voila {name}: {bad!r}"
        assert "量化" in text, f"Voila {name}: the page shows no Chinese prose"
        run = panel.get_by_role("button", name=i18n.ZH["Run: whole model"])
        assert run.count() == 1 and run.first.is_visible(), f"Voila {name}: the explorer's Run button is not in Chinese"
        captions = panel.inner_text()  # the full-mode reference line under the controls (helpers.ui.caption.Caption)
        assert "完整模式" in captions and "Full mode, precomputed" not in captions and "whole model at" not in captions, \
            f"Voila {name}: the explorer's captions are not in Chinese"  # fmt: skip
        panel.scroll_into_view_if_needed()
        _check_controls_visible(panel, f"Voila {name}")
        _check_layout(page, body, f"voila {name}", explorer=True)
        shot = _shoot_explorer(page, panel, "explorer-voila-zh-CN-02_quantization")
        print(f"[browser] Voila {name}: rendered in Chinese in {time.monotonic() - start:.1f} s -> {shot}")


def test_explorer_table_names_lessons():
    """A misspelt key would silently skip that lesson's explorer check."""
    names = {p.name for p in LESSONS}
    assert set(EXPLORERS) <= names, set(EXPLORERS) - names
    assert PRESENT_LESSON in EXPLORERS


def test_missing_browser_is_a_skip_here_and_a_failure_in_ci(monkeypatch, tmp_path):
    """What a developer without Chromium sees (a skip saying what to install), and what CI sees."""
    monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv("WORKBOOK_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        _require_browser()
    monkeypatch.setenv("WORKBOOK_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="WORKBOOK_REQUIRE_BROWSER=1"):
        _require_browser()


def test_the_output_check_is_nbvals():
    """The NBVAL_CHECK_OUTPUT check on a browser run: the committed outputs pass (in pieces too, as
    JupyterLab may hold a stream), sanitized timings pass, other text or another stream fails."""
    lesson = NOTEBOOKS / "00_baseline.ipynb"
    cells = json.loads(lesson.read_text(encoding="utf-8"))["cells"]

    def state(edit=lambda outputs: outputs):
        return {"code": [{"index": i, "outputs": edit(json.loads(json.dumps(c.get("outputs", []))))}
                         for i, c in enumerate(cells) if c["cell_type"] == "code"]}  # fmt: skip

    def split(outputs):  # the same text in two pieces of the same stream
        out = []
        for o in outputs:
            text = "".join(o["text"]) if o["output_type"] == "stream" else None
            out += [{**o, "text": text[:5]}, {**o, "text": text[5:]}] if text else [o]
        return out

    def edit_text(old, new, name=None):
        def edit(outputs):
            for o in outputs:
                if o["output_type"] == "stream":
                    o["text"] = "".join(o["text"]).replace(old, new)
                    o["name"] = name or o["name"]
            return outputs

        return edit

    assert _check_outputs(lesson, state()) == 1
    assert _check_outputs(lesson, state(split)) == 1
    assert _nbval_compare([{"output_type": "stream", "name": "stdout", "text": "took 1.5 s"}],
                          [{"output_type": "stream", "name": "stdout", "text": "took 22 ms"}]) is None  # fmt: skip
    for edit in (edit_text("266,610", "266,611"), edit_text("mlp", "mlp", name="stderr")):
        with pytest.raises(AssertionError, match=CHECK_OUTPUT):
            _check_outputs(lesson, state(edit))


def test_each_lesson_runs_once_per_session():
    """tests/conftest.py: nbval leaves out the lessons the browser test runs (where a browser runs)."""
    from conftest import _browser_runs

    def collected(**env):
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "--nbval-lax",
             "tests/test_browser.py::test_lesson_in_jupyterlab", "notebooks/00_baseline.ipynb"],
            cwd=ROOT, capture_output=True, text=True, env={**_ENV_AT_IMPORT, **env}, timeout=300, check=False,
        )  # fmt: skip
        return [line for line in done.stdout.splitlines() if line.startswith("notebooks/")]

    cells = sum(c["cell_type"] == "code" for c in json.loads((NOTEBOOKS / "00_baseline.ipynb").read_text(encoding="utf-8"))["cells"])
    assert len(collected(WORKBOOK_NBVAL_ALWAYS="1")) == cells
    assert len(collected(WORKBOOK_NBVAL_ALWAYS="0")) == (0 if _browser_runs() else cells)
