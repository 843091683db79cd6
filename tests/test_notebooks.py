"""Committed notebooks are clean, and the hygiene checker really catches each kind of defect."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import hygiene  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_lessons():
    assert [p.name for p in NOTEBOOKS][:1] == ["00_baseline.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_is_clean(path):
    assert hygiene.problems(path) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_lesson_follows_the_template(path):
    nb = json.loads(path.read_text())
    text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    for heading in ("Learning objectives", "Exercises", "Summary", "<details>"):
        assert heading in text, f"{path.name} lacks {heading!r}"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    # The Colab cell comes first (tests/test_colab.py checks it; it imports nothing that loads TensorFlow).
    first_code = code[1] if "google.colab" in "".join(code[0]["source"]) else code[0]
    assert "".join(first_code["source"]).startswith("import helpers"), "helpers must be imported before TensorFlow"
    sources = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert "pip install" not in sources
    assert "assert " in sources, "lesson claims are assert cells"


def _notebook(tmp_path, outputs, counts=(1,), kernel="python3", cell_metadata=None):
    cells = []
    for i, count in enumerate(counts):
        cells.append(
            {
                "cell_type": "code",
                "execution_count": count,
                "metadata": dict(cell_metadata or {}),
                "outputs": outputs if i == 0 else [],
                "source": "x = 1",
            }
        )
    nb = {"cells": cells, "metadata": {"kernelspec": {"name": kernel}}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb))
    return path


def _stream(text, name="stdout"):
    return {"output_type": "stream", "name": name, "text": text}


def test_clean_notebook_passes(tmp_path):
    assert hygiene.problems(_notebook(tmp_path, [_stream("accuracy 88.2 %\n")], counts=(1, 2))) == []


@pytest.mark.parametrize(
    ("outputs", "counts", "expected"),
    [
        ([], (2, 1), "execution counts"),
        ([], (1, None), "execution counts"),
        ([{"output_type": "error", "ename": "ValueError", "evalue": "boom", "traceback": []}], (1,), "stored an error"),
        ([_stream("saved to /root/project/model.h5\n")], (1,), "absolute path"),
        ([_stream("see /home/ana/x\n")], (1,), "absolute path"),
        ([_stream("read /usr/share/datasets/fashion-mnist/x.gz\n")], (1,), "absolute path"),
        ([_stream("!!!\nOFFLINE FALLBACK - this run does NOT use Fashion-MNIST.\n")], (1,), "offline fallback"),
        ([_stream("WARNING: All log messages before absl::InitializeLog() is called\n", "stderr")], (1,), "log noise"),
        ([_stream("I0000 00:00:1795 cudart_stub.cc:31] Could not find cuda drivers\n", "stderr")], (1,), "log noise"),
        ([_stream("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n", "stderr")], (1,), "log noise"),
        (
            [{"output_type": "display_data", "data": {"text/plain": "W0000 12:00:01.5 x.cc:1] hi"}, "metadata": {}}],
            (1,),
            "log noise",
        ),
    ],
)
def test_each_defect_is_caught(tmp_path, outputs, counts, expected):
    found = hygiene.problems(_notebook(tmp_path, outputs, counts=counts))
    assert any(expected in line for line in found), found


def test_relative_paths_are_fine(tmp_path):
    assert hygiene.problems(_notebook(tmp_path, [_stream("logs in data/cache/logs/x.log\n")])) == []


def test_wrong_kernel_and_timing_metadata_and_size(tmp_path, monkeypatch):
    assert any("kernelspec" in p for p in hygiene.problems(_notebook(tmp_path, [], kernel="venv-3.11")))
    path = _notebook(tmp_path, [], cell_metadata={"execution": {"iopub.status.busy": "2026"}})
    assert any("timing metadata" in p for p in hygiene.problems(path))
    hygiene.strip_metadata(path)
    assert hygiene.problems(path) == []
    monkeypatch.setattr(hygiene, "MAX_BYTES", 10)
    assert any("MB" in p for p in hygiene.problems(path))


def test_unreadable_notebook(tmp_path):
    path = tmp_path / "broken.ipynb"
    path.write_text("{not json")
    assert "not a readable notebook" in hygiene.problems(path)[0]


def test_cli_exit_code(tmp_path, capsys):
    bad = _notebook(tmp_path, [], counts=(3,))
    assert hygiene.main([str(bad)]) == 1
    assert "execution counts" in capsys.readouterr().out


def test_importing_helpers_in_a_kernel_shows_no_tensorflow_noise(tmp_path):
    """C++ output (absl, CUDA stub, oneDNN, XNNPACK, the int8 converter's fd-1 lines) must not reach cell outputs."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import helpers\nhelpers.setup();"),
        nbformat.v4.new_code_cell(
            "import numpy as np\n"
            "import tensorflow as tf\n"
            "converter = tf.lite.TFLiteConverter.from_keras_model(helpers.models.build_mlp())\n"
            "converter.optimizations = [tf.lite.Optimize.DEFAULT]\n"
            "converter.representative_dataset = lambda: ([np.zeros((1, 28, 28), 'float32')] for _ in range(4))\n"
            "converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]\n"
            "converter.convert()  # the int8 converter prints 'fully_quantize: ...' from C++ to fd 1\n"
            "tflite = helpers.measure.to_tflite(helpers.models.build_mlp())\n"
            "print(helpers.measure.tflite_latency(tflite, np.zeros((2, 28, 28), 'float32'), runs=2) > 0)"
        ),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = "\n".join(hygiene._output_text(o) for cell in nb.cells for o in cell.outputs)
    assert "True" in outputs  # the cells ran (conversion and LiteRT included)
    assert not hygiene.TF_NOISE.search(outputs), hygiene.TF_NOISE.search(outputs).group(0)
    assert "tensorflow-native.log" in outputs


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_helper_a_lesson_calls_exists(path):
    """Notebooks and helpers must not drift apart: each helpers.<module>.<name> used exists."""
    import re

    import helpers

    nb = json.loads(path.read_text())
    sources = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    used = set(re.findall(r"\bhelpers\.(\w+)\.(\w+)", sources))
    assert used, "the lesson uses helpers"
    missing = [f"helpers.{m}.{n}" for m, n in sorted(used) if not hasattr(getattr(helpers, m, None), n)]
    assert missing == []
