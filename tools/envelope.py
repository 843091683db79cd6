"""A lesson's resource envelope: peak memory of its kernel's process tree, CPU seconds and wall time,
at a given number of CPUs. What an instructor sizes a Binder, a JupyterHub or a lab machine by.

    python tools/envelope.py                       # every lesson, fast mode, at 1 and 2 CPUs
    python tools/envelope.py --cpus 1 --mode full notebooks/03_distillation.ipynb
    python tools/envelope.py --imports             # only what the imports alone cost

How: each lesson runs in its own process (``nbclient``, a temporary copy: the committed notebook is not
touched), started under ``taskset -c 0`` (1 CPU) or ``taskset -c 0,1`` (2 CPUs) on Linux; the kernel
inherits that affinity, and helpers.config sizes TensorFlow's and LiteRT's threads to it. A cgroup is not
used (on a machine without a writable cgroup v2 tree there is none to make); taskset limits which CPUs
run the kernel, not how much memory it may take. Peak memory: the kernel's own high-water mark
(``VmHWM`` in /proc, exact) and the sampled sum of resident memory over the kernel and every process it
starts (every 0.1 s; the larger is reported). CPU seconds: user + system of that tree, children included.
Wall time: the kernel's start to its last cell (kernel start-up included).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LESSONS = ("00", "01", "01b", "02", "02b", "03", "04", "05", "06")
GB = 1e9


def _cpu_list(cpus: int) -> str:
    return ",".join(str(i) for i in range(cpus))


def restricted(command: list[str], cpus: int | None) -> tuple[list[str], str]:
    """``command`` restricted to ``cpus`` CPUs, and how (for the report). Linux: taskset. Elsewhere the
    command runs unrestricted and the report says so."""
    if cpus is None:
        return command, "unrestricted"
    if shutil.which("taskset") and hasattr(os, "sched_getaffinity"):
        if cpus > len(os.sched_getaffinity(0)):
            raise SystemExit(f"{cpus} CPUs asked for, but this process may use only {len(os.sched_getaffinity(0))}.")
        return ["taskset", "-c", _cpu_list(cpus), *command], f"taskset -c {_cpu_list(cpus)}"
    return command, "unrestricted (no taskset here)"


def _tree(root) -> list:
    import psutil

    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _hwm(pid: int) -> int:
    """A process's peak resident memory in bytes from /proc (Linux), else 0."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def watch(command: list[str], env: dict, interval: float = 0.1) -> dict:
    """Run ``command`` (which starts one Jupyter kernel) and follow that kernel's process tree.
    Returns peak_rss (bytes), cpu_s, wall_s (the runner's whole run), returncode."""
    import psutil

    start = time.perf_counter()
    runner = psutil.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak_sum = peak_hwm = 0
    cpu: dict[int, float] = {}
    kernel = None
    while runner.poll() is None:
        if kernel is None:
            kernel = next((p for p in _tree(runner)[1:] if "ipykernel" in " ".join(_safe(p.cmdline))), None)
        if kernel is not None:
            total = 0
            for proc in _tree(kernel):
                try:
                    total += proc.memory_info().rss
                    times = proc.cpu_times()
                    cpu[proc.pid] = times.user + times.system + times.children_user + times.children_system
                except psutil.Error:
                    pass
            peak_sum = max(peak_sum, total)
            peak_hwm = max(peak_hwm, _hwm(kernel.pid))
        time.sleep(interval)
    output = runner.stdout.read()
    return {"peak_rss": max(peak_sum, peak_hwm), "cpu_s": sum(cpu.values()), "wall_s": time.perf_counter() - start,
            "returncode": runner.returncode, "output": output[-2000:]}  # fmt: skip


def _safe(call):
    try:
        return call()
    except Exception:  # a process that just ended
        return []


def run_one(notebook: Path, out: Path) -> None:
    """The child: execute ``notebook`` in a temporary directory (as bench does) and write it to ``out``."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
    with tempfile.TemporaryDirectory() as tmp:
        NotebookClient(nb, timeout=3600, kernel_name="python3", resources={"metadata": {"path": tmp}}).execute()
    nbformat.write(nb, out)


def measure_lesson(notebook: Path, cpus: int | None, mode: str) -> dict:
    env = dict(os.environ, WORKBOOK_FAST="1" if mode == "fast" else "0", PYTHONPATH=str(ROOT))
    env.pop("WORKBOOK_THREADS", None)
    with tempfile.TemporaryDirectory() as tmp:
        command, how = restricted([sys.executable, __file__, "--child", str(notebook), str(Path(tmp) / "out.ipynb")], cpus)
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        result = watch(command, env)
    return {"lesson": notebook.stem, "mode": mode, "cpus": cpus, "how": how, "load_before": load, **result}


IMPORTS = {
    "python alone": "pass",
    "import tensorflow (Keras 2)": "import os; os.environ['TF_USE_LEGACY_KERAS'] = '1'; import tensorflow, tf_keras",
    "import helpers (TF + TF-MOT + LiteRT + all helpers)": "import helpers",
}


def measure_imports() -> list[tuple[str, float]]:
    """Peak resident memory (bytes) of a Python process that only imports, as ru_maxrss reports it."""
    rows = []
    for what, code in IMPORTS.items():
        probe = f"{code}\nimport resource, sys; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)"
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                             check=True).stdout  # fmt: skip
        rows.append((what, int(out.split()[-1])))
    return rows


def lesson_paths(names: list[str]) -> list[Path]:
    if not names:
        names = list(LESSONS)
    paths = []
    for name in names:
        path = Path(name)
        if not path.suffix:
            matches = sorted((ROOT / "notebooks").glob(f"{name}_*.ipynb"))
            if not matches:
                raise SystemExit(f"No lesson {name!r} in notebooks/ (lessons: {', '.join(LESSONS)}).")
            path = matches[0]
        paths.append(path)
    return paths


def table_row(r: dict) -> str:
    ok = "" if r["returncode"] == 0 else " FAILED"
    return (f"| {r['lesson']} | {r['mode']} | {r['cpus']} | {r['peak_rss'] / GB:.2f} GB | {r['cpu_s']:.0f} s | "
            f"{r['wall_s']:.0f} s | {r['load_before']:.1f}{ok} |")  # fmt: skip


HEADER = "| lesson | mode | CPUs | peak memory (kernel tree) | CPU time | wall time | load before |\n|---|---|---|---|---|---|---|"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["fast", "full"], default="fast")
    parser.add_argument("--cpus", default="1,2", help="comma-separated CPU counts (default 1,2)")
    parser.add_argument("--imports", action="store_true", help="only the imports' memory")
    parser.add_argument("--jsonl", type=Path, help="also append each result as one JSON line here")
    parser.add_argument("--runtimes", action="store_true",
                        help="record the fast-mode 2-CPU CPU seconds in data/runtimes.json (the README's run-time column)")
    parser.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("lessons", nargs="*", help="lesson numbers (00 01b ...) or notebook paths; default all")
    args = parser.parse_args(argv)
    if args.child:
        run_one(*args.child)
        return 0
    print("what the imports alone cost (peak resident memory of one Python process):")
    for what, peak in measure_imports():
        print(f"  {what}: {peak / GB:.2f} GB", flush=True)
    if args.imports:
        return 0
    print(HEADER, flush=True)
    failed = 0
    for cpus in [int(c) for c in args.cpus.split(",")]:
        for path in lesson_paths(args.lessons):
            result = measure_lesson(path, cpus, args.mode)
            print(table_row(result) + f" <!-- {result['how']} -->", flush=True)
            if result["returncode"]:
                failed += 1
                print(result["output"], file=sys.stderr)
            if args.jsonl:
                with args.jsonl.open("a", encoding="utf-8") as log:
                    log.write(json.dumps({k: v for k, v in result.items() if k != "output"}) + "\n")
            if args.runtimes:
                import runtimes  # tools/runtimes.py: one file for every lesson's run time

                runtimes.save(runtimes.from_envelope(runtimes.load(), [result]))
                runtimes.main(["readme"])
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
