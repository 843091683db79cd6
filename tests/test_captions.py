"""The explorers' captions (summaries, verdicts, notes, errors, status lines, the board's hints and recipe) in
the notebook's language: ``helpers.ui.caption.Caption`` passes what an explorer writes through the "prints"
templates of translations/zh-CN/ in a Chinese notebook, and ``tools/translate.py`` does the same to the committed
Chinese lessons' saved widget state.

A caption shows only when a reader moves a control, so most never reach a committed output: the captions are
read from the source here (expressions as placeholders), the way the exercises' messages are in
test_translations.py, and each must have its template."""

from __future__ import annotations

import ast
import html
import json
import re

import pytest
from test_translations import PATHS, ROOT, TRANSLATED, source_texts, translate

from helpers import i18n
from helpers.ui.caption import Caption

#: Where the explorers write their captions.
CAPTION_MODULES = sorted(
    [*(ROOT / "helpers").glob("*/explorer.py"), ROOT / "helpers/combining/board_explorer.py",
     ROOT / "helpers/combining/latency_explorer.py", ROOT / "helpers/ui/pointable_board.py"]
)  # fmt: skip
TAGS = re.compile(r"<[^>]+>")


def _line_nodes(node) -> list:
    """The elements of a list display (of both lists of a conditional), or the node itself."""
    if isinstance(node, ast.IfExp):
        return _line_nodes(node.body) + _line_nodes(node.orelse)
    return list(node.elts) if isinstance(node, (ast.List, ast.Tuple)) else [node]


#: Variables whose text becomes a field of a caption ("{what}, gradual schedule …"): each value must translate
#: on its own (``caption_in_chinese`` translates a field that is itself a caption).
FIELD_VARIABLES = ("what",)


def caption_samples() -> list[tuple[str, str]]:
    """(place, HTML) for every caption the explorers write: a ``.value`` set to text, a ``Caption(text)``, each
    line of a ``_message(kind, [lines])`` (escaped as it shows), the reference and note lines a panel lists, what
    ``_report_point`` makes of its detail, the values of ``FIELD_VARIABLES`` and of ``*_text()`` functions, and
    the module's and classes' upper-case text constants (hints, prompts, tooltips)."""
    samples = []
    for path in CAPTION_MODULES:
        place = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            found: list[tuple[str, bool]] = []  # (text, escaped when shown)
            if isinstance(node, ast.FunctionDef) and node.name.endswith("_text"):
                found += [(t, True) for r in ast.walk(node) if isinstance(r, ast.Return) and r.value for t in source_texts(r.value)]
            if isinstance(node, (ast.Assign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Attribute) and t.attr == "value" for t in targets):
                    found += [(t, False) for t in source_texts(node.value)]
                if any(isinstance(t, ast.Name) and t.id in ("lines", "notes") for t in targets):
                    found += [(t, True) for n in _line_nodes(node.value) for t in source_texts(n)]
                if any(isinstance(t, ast.Name) and (t.id in FIELD_VARIABLES or t.id.isupper()) for t in targets):
                    found += [(t, False) for t in source_texts(node.value) if t != "Y"]
            elif isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name == "Caption" and node.args:
                    found += [(t, False) for t in source_texts(node.args[0])]
                elif name == "_message" and len(node.args) == 2:
                    found += [(t, True) for n in _line_nodes(node.args[1]) for t in source_texts(n)]
                elif name == "append" and getattr(node.func.value, "id", None) in ("lines", "notes", "problems"):
                    found += [(t, True) for t in source_texts(node.args[0])]
                elif name == "_report_point" and len(node.args) == 3:
                    found += [(f"<b>X0</b>: accuracy X1, {html.escape(t)} — added to the board", False)
                              for t in source_texts(node.args[2])]
            for text, escaped in found:
                text = html.escape(text) if escaped else text
                if " " in TAGS.sub("", text).strip() and sum(ch.isalpha() for ch in TAGS.sub("", text).replace("Y", "").replace("X", "")) >= 6:
                    samples.append((f"{place}:{node.lineno}", text))
    return samples


CJK = re.compile(r"[\u4e00-\u9fff]")
#: An English word in a caption: three lower-case letters or more (stricter than translate.SENTENCE, which needs
#: two words in a row and so misses "X1: accuracy X3"), other than names that stay as they are.
ENGLISH_WORD = re.compile(r"(?<![\w.])(?!(?:tflite|alpha|gzip|ipyevents|make|precompute|checkout|logits)\b)[a-z]{3,}\b")


#: The checks behind the explorers' controls (function names per module): their messages are what a panel
#: shows for a control at a nonsense value (in its message line, as the lesson's ``_message("error", ...)``).
SETTINGS_CHECKS = {
    "helpers/pruning/schedule.py": ("problems", "no_pruning_cause", "explorer_preview"),
    "helpers/distillation/distiller.py": ("problems",),
    "helpers/distillation/explorer.py": ("explorer_view",),
    "helpers/quantization/quantize.py": ("check_bits", "explorer_view"),
    "helpers/structured_pruning/units.py": ("check_widths",),
    "helpers/low_bit/quantizer.py": ("check_plan",),
    "helpers/low_bit/mixed_precision.py": ("allocate",),
    "helpers/microcontroller/devices.py": ("parse_device",),
    "helpers/combining/export.py": ("parse_budget", "best_under_budget", "export"),
    "helpers/combining/latency_explorer.py": ("parse_latency",),
}


def settings_messages() -> list[tuple[str, str]]:
    """(place, HTML) for every message ``SETTINGS_CHECKS`` can give (raised, appended, assigned or returned
    text of two words or more), escaped as a panel shows it."""
    samples = []
    for module, functions in SETTINGS_CHECKS.items():
        tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
        bodies = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name in functions]
        assert {b.name for b in bodies} == set(functions), f"{module}: a function of SETTINGS_CHECKS is gone"
        for body in bodies:
            for node in ast.walk(body):
                values = []
                if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args:
                    values = [node.exc.args[0]]
                elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "append" and node.args:
                    values = [node.args[0]]
                elif isinstance(node, (ast.Assign, ast.Return)) and node.value is not None:
                    values = [node.value]
                for text in (t for v in values for t in source_texts(v)):
                    if " " in text and sum(ch.isalpha() for ch in text.replace("X", "").replace("Y", "")) >= 6:
                        samples.append((f"{module}:{node.lineno}", html.escape(text)))
    return samples


def _english_runs(caption_html: str) -> list[str]:
    """The runs of text (between the breaks ``Caption`` cuts at) of ``caption_html`` with no Chinese and an
    English word: what a Chinese reader would still read in English."""
    runs = (TAGS.sub(" ", run) for run in i18n._CAPTION_BREAKS.split(caption_html)[::2])
    return [run.strip() for run in runs if not CJK.search(run) and ENGLISH_WORD.search(run)]


def _untranslated(samples: list[tuple[str, str]]) -> list[str]:
    """"place: run" for every run of the samples' text that stays English in a Chinese notebook."""
    return [f"{place}: {run}" for place, text in samples
            for run in _english_runs(i18n.caption_in_chinese(text, PATHS.translations))]  # fmt: skip


def test_every_caption_an_explorer_writes_has_chinese():
    samples = caption_samples()
    assert len(samples) >= 45
    assert _untranslated(samples) == []


def test_every_message_for_a_nonsense_setting_has_chinese():
    """What a panel says about a control at a nonsense value (a sparsity of 1.5, a budget of "-3 KB") follows the
    notebook's language too: a new check needs its template in the same change."""
    samples = settings_messages()
    assert len(samples) >= 40
    assert _untranslated(samples) == []


def test_a_caption_is_english_in_an_english_notebook_and_chinese_in_a_chinese_one(monkeypatch):
    english = "<b>None of your models fits</b> Cortex-M0+ (262,144 B flash, 32,768 B RAM)."
    monkeypatch.setenv("WORKBOOK_LANG", "en")
    assert Caption(english).value == english
    monkeypatch.setenv("WORKBOOK_LANG", "zh-CN")
    caption = Caption(english)  # the constructor's value goes through the validator too
    assert caption.value == "<b>你的模型都装不进</b> Cortex-M0+（闪存 262,144 B，内存 32,768 B）。"
    caption.value = "<div><ul><li>The view still shows the last valid plan.</li><li>no template for this line</li></ul></div>"
    assert caption.value == "<div><ul><li>视图仍显示上一个有效方案。</li><li>no template for this line</li></ul></div>"


def test_a_field_that_is_itself_a_caption_is_translated_too(monkeypatch):
    """"{what}, gradual schedule …" with what = "pruned to 90% (the swept sparsity nearest your 88%)": both
    levels Chinese; a field of control words ("per-channel, symmetric") from ``i18n.ZH``; a name stays."""
    line = ("pruned to 90% (the swept sparsity nearest your 88%), gradual schedule over 6 epochs: accuracy 88.63%, "
            "27,030 nonzeros, .tflite gzipped 31,337 B")  # fmt: skip
    chinese = i18n.caption_in_chinese(line, PATHS.translations)
    assert chinese.startswith("剪枝到 90%（扫描过的稀疏度中最接近你所选 88% 的一个），渐进剪枝调度")
    assert not _english_runs(chinese)
    how = i18n.caption_in_chinese("whole model at 4 bits (per-channel, symmetric), fake-quantized, no retraining: "
                                  "accuracy 80.00% (float 88.00%), packed 1,234 B", PATHS.translations)  # fmt: skip
    assert "（逐通道，对称）" in how
    note = i18n.caption_in_chinese("<b>MLP int8</b> · quantization · 25,000 B gz · 88.00% — click to pick", PATHS.translations)
    assert note.startswith("<b>MLP int8</b> · quantization · gzip 后 25,000 B")


def _widgetsource_texts(nb: dict) -> list[tuple[str, str]]:
    """(what, text) for every label, tooltip, placeholder and caption of the notebook's saved widget state
    (options are left out: they list results-log names, which stay as logged)."""
    states = nb["metadata"].get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    out = []
    for model in states.values():
        state = model["state"]
        out += [(f"{model['model_name']}.{key}", state[key]) for key in ("description", "tooltip", "placeholder")
                if isinstance(state.get(key), str)]  # fmt: skip
        value = state.get("value")
        if model["model_name"] in translate.CAPTION_MODELS and isinstance(value, str) and "<style>" not in value:
            out.append((f"{model['model_name']}.value", value))
    return out


@pytest.mark.parametrize("lesson", TRANSLATED)
def test_the_committed_chinese_lesson_shows_its_explorers_in_chinese(lesson):
    """What JupyterLab, nbviewer and GitHub draw for an explorer before its cell runs (the saved widget state)
    is what a Chinese kernel shows: no label or caption left in English."""
    english = json.loads((PATHS.english / f"{lesson}.ipynb").read_text(encoding="utf-8"))
    chinese = json.loads((PATHS.built / f"{lesson}.ipynb").read_text(encoding="utf-8"))
    left = [f"{what}: {run}" for what, text in _widgetsource_texts(chinese) for run in _english_runs(text)]
    assert left == []
    if any(_english_runs(text) for _, text in _widgetsource_texts(english)):
        assert _widgetsource_texts(chinese) != _widgetsource_texts(english)  # the build did translate this lesson's widgets


def test_a_chinese_readers_explorers_answer_nonsense_settings_in_chinese(monkeypatch):
    """The whole path in a Chinese notebook: explorers built and driven to their empty, bad-value and export
    states, every caption they show without an English run."""
    from test_microcontroller import MODELS
    from test_pruning import tiny_data

    from helpers.combining import latency_explorer
    from helpers.microcontroller import explorer as fit_explorer

    monkeypatch.setenv("WORKBOOK_LANG", "zh-CN")
    shown = []
    fit = fit_explorer.FootprintExplorer([])  # nothing run yet
    shown += [fit.message.value, fit.verdict.value]
    fit = fit_explorer.FootprintExplorer(MODELS)
    shown.append(fit.verdict.value)
    for bad in ("0 KB", "-1 MB", "12 parsecs", "abc"):
        fit.flash.value = bad
        shown.append(fit.message.value)
    board = latency_explorer.LatencyBudgetBoard(tiny_data(), budget="-3 KB", latency_budget="fast")
    shown += [board.message.value, board.hover.value, board.latency_note.value]
    board.export()
    shown.append(board.status.value)
    board.budget.value = "25 parsecs"
    board.export()
    shown.append(board.status.value)
    board.export_picked()
    shown.append(board.status.value)
    assert all(shown) and [run for text in shown for run in _english_runs(text)] == []
    assert "单位" in shown[-2]  # "Unknown unit 'parsecs' in '25 parsecs'; use B, KB, …" in Chinese


#: Where the errors a reader meets with their own model and data come from (lesson 06, the data loader): in a
#: Chinese notebook IPython shows them in Chinese (``i18n._error_in_chinese``).
READER_ERROR_MODULES = sorted([*(ROOT / "helpers/your_model").glob("*.py"), ROOT / "helpers/keras_compat.py",
                               ROOT / "helpers/data.py"])  # fmt: skip


def _phrase(text: str) -> bool:
    """Text worth a template: two words or more, six letters or more besides the placeholders."""
    return " " in text.strip() and sum(ch.isalpha() for ch in text.replace("X", "").replace("Y", "")) >= 6


def _sample(paths, pick) -> list[tuple[str, str]]:
    """(place, text) for every phrase the expressions ``pick(node)`` returns for the nodes of ``paths`` can be."""
    samples = []
    for path in paths:
        place = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            samples += [(f"{place}:{node.lineno}", t) for v in pick(node) for t in source_texts(v) if _phrase(t)]
    return samples


def reader_errors() -> list[tuple[str, str]]:
    """(place, text) for every message those modules raise (two words or more), and their fix hints (upper-case
    text constants and ``hint`` variables), which the messages carry as a field."""

    def pick(node) -> list:
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args:
            name = getattr(node.exc.func, "id", None) or getattr(node.exc.func, "attr", "")
            return [node.exc.args[0]] if name.endswith("Error") else []
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and (t.id == "hint" or t.id.endswith("_HINT"))
                                                for t in node.targets):  # fmt: skip
            return [node.value]
        return []

    return _sample(READER_ERROR_MODULES, pick)


def test_every_error_a_reader_meets_with_their_own_model_or_data_has_chinese():
    samples = reader_errors()
    assert len(samples) >= 55
    assert _untranslated(samples) == []


def conversion_warnings() -> list[tuple[str, str]]:
    """(place, text) for every ``ConversionWarning`` message and part ``helpers/conversion_check.py`` writes: the
    warned texts, each likely cause, the disagreement's ``what``, and the names the converters give (the LiteRT
    Quantizer file, "int8 conversion of <model>")."""

    def pick(node) -> list:
        call = getattr(node, "func", None) if isinstance(node, ast.Call) else None
        if call is not None and getattr(call, "attr", None) == "warn" and node.args:
            return [node.args[0]]
        if call is not None and getattr(call, "attr", None) == "append" and getattr(call.value, "id", None) == "causes":
            return [node.args[0]]
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "what" for t in node.targets):
            return [node.value]
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "compared with the float" in node.value:
            return [node]
        if isinstance(node, ast.JoinedStr) and any(" conversion of " in str(getattr(v, "value", "")) for v in node.values):
            return [node]  # the name a conversion's warning starts with: "int8 conversion of small_resnet"
        return []

    files = ("conversion_check.py", "low_bit/quantizer.py", "quantization/quantize.py")
    return _sample([ROOT / "helpers" / f for f in files], pick)


def test_every_conversion_warning_has_chinese():
    samples = conversion_warnings()
    assert len(samples) >= 10
    assert _untranslated(samples) == []


def test_a_conversion_warning_is_chinese_in_a_chinese_notebook(monkeypatch):
    import warnings

    from helpers import conversion_check

    english = ("MLP int8: the .tflite and the Keras model disagree (the same class on only 37% of 300 images). "
               "Likely causes: (1) an op overflowed in the converted model (NaN/inf only there): look for huge "
               "activations. (2) ops fell back to TensorFlow or custom kernels (FlexConv2D), which run differently.")  # fmt: skip
    shown = warnings.formatwarning(english, conversion_check.ConversionWarning, "x.py", 1)
    assert shown == f"ConversionWarning: {english}\n"
    monkeypatch.setenv("WORKBOOK_LANG", "zh-CN")
    shown = warnings.formatwarning(english, conversion_check.ConversionWarning, "x.py", 1)
    assert shown == ("ConversionWarning: MLP int8：.tflite 与 Keras 模型的结果不一致（300 张图像中只有 37% 给出相同的类别）。"
                     "可能的原因：(1) 转换后的模型中有算子溢出（只有它出现 NaN/inf）：请找出特别大的激活值。 "
                     "(2) 有算子退回到了 TensorFlow 或自定义内核（FlexConv2D），它们的计算方式不同。\n")  # fmt: skip


@pytest.mark.parametrize("lesson", TRANSLATED)
def test_the_committed_chinese_lesson_shows_conversion_warnings_in_chinese(lesson):
    chinese = json.loads((PATHS.built / f"{lesson}.ipynb").read_text(encoding="utf-8"))
    lines = [line for cell in chinese["cells"] for o in cell.get("outputs", []) if o.get("name") == "stderr"
             for line in "".join(o["text"]).splitlines() if line.startswith("ConversionWarning: ")]  # fmt: skip
    assert [line for line in lines if _english_runs(line.removeprefix("ConversionWarning: "))] == []
