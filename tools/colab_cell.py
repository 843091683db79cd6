"""Give every lesson the Colab cell (helpers/colab.py's BOOTSTRAP) as its first code cell, or refresh it.

    python tools/colab_cell.py notebooks/*.ipynb

tests/test_colab.py fails when a lesson lacks it or holds an old copy; re-execute changed lessons after.
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "helpers"))
import colab  # noqa: E402 - helpers/colab.py alone: no TensorFlow needed to edit notebooks


def ensure(path: Path) -> bool:
    """Insert or refresh the Colab cell in ``path``; True if the file changed."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = nb["cells"]
    first = next(i for i, c in enumerate(cells) if c["cell_type"] == "code")
    source = colab.BOOTSTRAP.splitlines(keepends=True)
    if "google.colab" in "".join(cells[first]["source"]):
        if cells[first]["source"] == source:
            return False
        cells[first]["source"] = source
    else:
        cells.insert(first, {"cell_type": "code", "execution_count": None, "id": uuid.uuid4().hex[:8],
                             "metadata": {}, "outputs": [], "source": source})
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return True


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(f"{name}: {'updated' if ensure(Path(name)) else 'already has it'}")
