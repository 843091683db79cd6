"""Notebook hygiene: what a committed, executed lesson must look like.

Used by tests/test_notebooks.py and by ``make execute`` (which strips volatile metadata and
fails on a problem). Standalone on purpose: it reads JSON and never imports TensorFlow.

    python tests/hygiene.py [--strip-metadata] notebooks/*.ipynb
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

MAX_BYTES = 2_000_000
ABSOLUTE_PATH = re.compile(r"(?<![\w.])/(root|home|tmp|work|Users|usr|opt|var|mnt|srv)/")
FALLBACK = "OFFLINE FALLBACK"  # a committed lesson must have run on the real data
TF_NOISE = re.compile(
    r"absl::InitializeLog|cudart_stub|cuInit|cuda_platform|oneDNN custom operations|"
    r"XNNPACK delegate|tf_tfl_flatbuffer_helpers|rebuild TensorFlow with the appropriate|"
    r"^[IWEF]\d{4} \d\d:\d\d:\d\d|WARNING:tensorflow|WARNING:absl|fully_quantize: \d|inference_type: \d",
    re.MULTILINE,
)


def _output_text(output: dict) -> str:
    parts = []
    text = output.get("text")
    if text is not None:
        parts.append("".join(text) if isinstance(text, list) else text)
    for mime, value in (output.get("data") or {}).items():
        if mime.startswith("text/") or mime.endswith("json"):
            parts.append("".join(value) if isinstance(value, list) else str(value))
    if output.get("output_type") == "error":
        parts.append(output.get("ename", "") + ": " + output.get("evalue", ""))
    return "\n".join(parts)


def problems(path: Path) -> list[str]:
    """Everything wrong with one notebook, as readable lines (empty when clean)."""
    found: list[str] = []
    try:
        nb = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return [f"{path}: not a readable notebook ({exc})"]
    code = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    counts = [c.get("execution_count") for c in code]
    if counts != list(range(1, len(code) + 1)):
        found.append(f"{path}: execution counts are {counts}, not 1..{len(code)}; run `make execute`")
    kernel = nb.get("metadata", {}).get("kernelspec", {}).get("name")
    if kernel != "python3":
        found.append(f"{path}: kernelspec is {kernel!r}, expected 'python3'")
    for number, cell in enumerate(code, start=1):
        for output in cell.get("outputs", []):
            text = _output_text(output)
            if output.get("output_type") == "error":
                found.append(f"{path}: code cell {number} stored an error ({text[:120]})")
            noise = TF_NOISE.search(text)
            if noise:
                found.append(f"{path}: code cell {number} shows TensorFlow log noise: {noise.group(0)!r}")
            if FALLBACK in text:
                found.append(
                    f"{path}: code cell {number} ran on the offline fallback data; execute it with Fashion-MNIST"
                )
            match = ABSOLUTE_PATH.search(text)
            if match:
                found.append(
                    f"{path}: code cell {number} shows an absolute path ({text[max(0, match.start() - 20) : match.end() + 30]!r})"
                )
        if "execution" in cell.get("metadata", {}):
            found.append(f"{path}: code cell {number} carries timing metadata; run `make execute`")
    size = path.stat().st_size
    if size > MAX_BYTES:
        found.append(f"{path}: {size / 1e6:.2f} MB, over the {MAX_BYTES / 1e6:.0f} MB limit (smaller figures?)")
    return found


def strip_metadata(path: Path) -> None:
    """Remove per-cell execution timestamps (they change on every run and say nothing)."""
    nb = json.loads(path.read_text())
    for cell in nb.get("cells", []):
        cell.get("metadata", {}).pop("execution", None)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def main(argv: list[str]) -> int:
    strip = "--strip-metadata" in argv
    paths = [Path(a) for a in argv if not a.startswith("--")]
    all_problems = []
    for path in paths:
        if strip:
            strip_metadata(path)
        all_problems += problems(path)
    for line in all_problems:
        print(line)
    return 1 if all_problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
