"""The notebook's language for the few strings helpers print outside the lesson's prose.

English is the source of every string: code calls ``t("English text")`` and gets it back unchanged unless the
notebook is a Chinese one and ``ZH`` has the text. A string missing from ``ZH`` stays English (never an error).
Covered: ``helpers.setup()``'s lines and what every explorer shares (Run buttons, busy/status words, the board
hint, the progress label) through ``t``; every other line a lesson prints (its own sentences, helpers' training
lines and verdicts, the exercises' self-checks) through the translation files' ``"prints"`` templates
(``translate_printed``; ``install`` applies them to a Chinese kernel's stdout); the explorers' captions through
the same templates (``caption``, called by every ``helpers.ui.caption.Caption`` widget). Figures keep English
labels (translations/zh-CN/README.md says why); library error messages stay English.

Which language: ``WORKBOOK_LANG`` (``zh-CN``/``zh`` or ``en``) when set; otherwise Chinese when the notebook lies
in a ``zh-CN`` folder, read from ``JPY_SESSION_NAME`` (the notebook path jupyter_server gives each kernel it
starts: jupyter_server/services/sessions/sessionmanager.py, ``get_kernel_env``) or from the kernel's working
directory (the notebook's folder under JupyterLab, Voilà and nbconvert; in Colab, where ``helpers.colab`` moves).
"""

from __future__ import annotations

import functools
import html
import json
import os
import re
import string
import sys
from pathlib import Path

from .config import WorkbookConfigError

ENGLISH, CHINESE = "en", "zh-CN"
_ACCEPTED = {"en": ENGLISH, "en-us": ENGLISH, "en-gb": ENGLISH, "zh": CHINESE, "zh-cn": CHINESE, "zh_cn": CHINESE}

#: translations/zh-CN/ui.json: the Chinese of every string helpers pass to ``t`` (``helpers.setup()``'s lines, the
#: explorers' controls), keyed by the English; the lessons' translation files sit beside it.
TRANSLATIONS = Path(__file__).resolve().parents[1] / "translations" / CHINESE
UI_FILE = "ui.json"


def _read_strings(folder: Path = TRANSLATIONS) -> dict[str, str]:
    """``ui.json``'s ``"strings"`` (English -> Chinese); empty when the file is missing or unreadable (every
    string then stays English, never an error)."""
    try:
        strings = json.loads((folder / UI_FILE).read_text(encoding="utf-8"))["strings"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {k: v for k, v in strings.items() if isinstance(k, str) and isinstance(v, str)} if isinstance(strings, dict) else {}


#: Chinese for English source strings (``{name}`` fields are filled after the lookup, by the caller).
ZH = _read_strings()


def language() -> str:
    """``"zh-CN"`` or ``"en"`` for this kernel, read each call (see the module docstring for the order).

    Raises ``WorkbookConfigError`` for a ``WORKBOOK_LANG`` it does not know.
    """
    wanted = os.environ.get("WORKBOOK_LANG", "").strip()
    if wanted:
        try:
            return _ACCEPTED[wanted.lower()]
        except KeyError:
            raise WorkbookConfigError(
                f"WORKBOOK_LANG={wanted!r} is not understood. Use WORKBOOK_LANG=zh-CN (Chinese) or WORKBOOK_LANG=en, "
                "or leave it unset (the notebook's folder decides)."
            ) from None
    session = os.environ.get("JPY_SESSION_NAME")
    places = [Path(session).parent] if session else []
    places.append(Path.cwd())  # Colab sets no useful session name; helpers.colab moves into the lesson's folder
    return CHINESE if any(CHINESE in place.parts for place in places) else ENGLISH


def t(english: str, **fields) -> str:
    """``english`` in the notebook's language, its ``{name}`` fields filled from ``fields`` (in a Chinese notebook
    a field that is itself a ``ZH`` string, or a ``ZH`` template filled with them, in Chinese too:
    ``label_in_chinese``)."""
    if language() != CHINESE:
        return english.format(**fields) if fields else english
    text = ZH.get(english, english)
    return text.format(**{k: label_in_chinese(v) if isinstance(v, str) else v for k, v in fields.items()}) if fields else text


@functools.lru_cache(maxsize=1)
def _patterns() -> list[tuple[re.Pattern, str]]:
    """Each ``ZH`` source string as a regex (``{name}`` -> a named group), longest first."""
    out = []
    for english in sorted(ZH, key=len, reverse=True):
        parts = re.split(r"\{(\w+)\}", english)
        regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts))
        out.append((re.compile(regex), english))
    return out


def _chinese_line(line: str) -> str | None:
    """``line`` read as a sequence of ``t()`` strings (how ``helpers.setup()`` builds its first line), in
    Chinese; None when it is not one."""
    if not line:
        return ""
    for pattern, english in _patterns():
        for end in range(len(line), 0, -1):  # the longest piece first, so a field may hold what follows
            match = pattern.fullmatch(line, 0, end)
            if match is None:
                continue
            rest = _chinese_line(line[end:])
            if rest is not None:
                return ZH[english].format(**{k: label_in_chinese(v) for k, v in match.groupdict().items()}) + rest
    return None


def localize(text: str) -> str:
    """Printed ``text`` as a Chinese kernel would have printed it: every line made only of ``t()`` strings
    (``helpers.setup()``'s lines) in Chinese, every other line unchanged. ``tools/translate.py`` applies it to
    the output of each Chinese lesson's ``helpers.setup()`` cell, so that output is what the reader's own run
    shows. A ``{field}`` matches any text, so a line that only *starts* like a ``t()`` string may be read as
    one ("epoch 3/5 of x" as "epoch {epoch}/{epochs}"): use it on output made of ``t()`` lines only."""
    out = []
    for line in text.splitlines(keepends=True):
        body, end = _split(line)
        chinese = _chinese_line(body)
        out.append((body if chinese is None else chinese) + end)
    return "".join(out)


def _split(line: str) -> tuple[str, str]:
    body = line.rstrip("\r\n")
    return body, line[len(body):]


# ----------------------------------------------------------------------------- the lessons' printed sentences

#: The translation files (``TRANSLATIONS``) hold ``"prints"`` tables (English template -> Chinese template) that
#: translate what the lessons print: translations/zh-CN/README.md, "Printed sentences".
_FORMATTER = string.Formatter()
_MIN_LETTERS = 6  # a template needs this many literal letters: "{a} {b}" alone would read every line as a sentence


def template_fields(template: str) -> list[str]:
    """The ``{name}`` fields of a print template, in order (``{{``/``}}`` are literal braces, as in str.format).

    Raises ``ValueError`` for a template str.format cannot read."""
    return [name for _, name, _, _ in _FORMATTER.parse(template) if name is not None]


def _template_regex(english: str, min_letters: int = _MIN_LETTERS) -> re.Pattern:
    """``english`` as a regex: its literal text escaped, each field a named group of any text (possibly empty)."""
    fields = template_fields(english)
    if len(set(fields)) != len(fields) or any(not f.isidentifier() for f in fields):
        raise ValueError(f"print template {english!r}: fields must be distinct names, got {fields}")
    if sum(ch.isalpha() for literal, *_ in _FORMATTER.parse(english) for ch in literal) < min_letters:
        raise ValueError(f"print template {english!r} has fewer than {_MIN_LETTERS} literal letters: it would match "
                         "lines it does not describe")
    regex = "".join(re.escape(literal) + (f"(?P<{name}>.*?)" if name is not None else "")
                    for literal, name, _, _ in _FORMATTER.parse(english))
    return re.compile(regex, re.DOTALL)


def _literal_length(english: str) -> int:
    return sum(len(literal) for literal, *_ in _FORMATTER.parse(english))


def read_print_tables(folder: Path = TRANSLATIONS) -> dict[str, str | None]:
    """Every ``"prints"`` entry of the translation files in ``folder``, merged (English template -> Chinese, or
    None for a line kept English on purpose: a printed file such as a model card, which is English on disk).
    A template two files translate differently keeps the first file's (tests/test_translations.py forbids it).
    An unreadable or missing folder gives an empty table: the lines stay English."""
    table: dict[str, str] = {}
    for path in sorted(Path(folder).glob("*.json")):
        try:
            prints = json.loads(path.read_text(encoding="utf-8")).get("prints", {})
        except (OSError, ValueError):
            continue
        for english, chinese in prints.items():
            table.setdefault(english, chinese)
    return table


@functools.lru_cache(maxsize=8)
def _print_patterns(folder: str) -> tuple[tuple[re.Pattern, str, str], ...]:
    """(regex, English, Chinese) per template of ``folder``'s tables, the most literal text first (so
    "{label} epoch {epoch}/{epochs} …" is tried before a shorter template that also fits)."""
    table = read_print_tables(Path(folder))
    out = []
    for english in sorted(table, key=lambda e: (-_literal_length(e), e)):
        try:
            out.append((_template_regex(english, 0 if table[english] is None else _MIN_LETTERS), english, table[english]))
        except ValueError:
            continue  # a malformed template is skipped here (printing must never fail); tests/test_translations.py names it
    return tuple(out)


def matching_template(line: str, folder: Path | None = None) -> tuple[str, str | None] | None:
    """(English template, Chinese or None for kept English) of the first template ``line`` matches whole."""
    for regex, english, chinese in _print_patterns(str(TRANSLATIONS if folder is None else folder)):
        if regex.fullmatch(line):
            return english, chinese
    return None


def translate_line(line: str, folder: Path | None = None) -> str | None:
    """One printed line (no newline) in Chinese from the first template it matches whole; None when no template
    matches or it is kept English. A field that is itself a template's line or a list of ``ZH`` words is
    translated too (``_field_in_chinese``: a warning's cause, a data summary inside a longer line); any other
    field (numbers, names) is carried over as printed. ``folder``: the translation files (default
    ``TRANSLATIONS``)."""
    return _template_in_chinese(line, folder, 0)


def translate_printed(text: str, folder: Path | None = None) -> str:
    """Printed ``text`` with every line a template matches in Chinese, every other line unchanged (numbers,
    names and tables stay as printed). ``tools/translate.py`` applies it to the committed Chinese lessons'
    outputs; in a Chinese kernel ``install`` applies it to what the lesson prints as it runs."""
    out = []
    for line in text.splitlines(keepends=True):
        body, end = _split(line)
        chinese = translate_line(body, folder) if body.strip() else None
        out.append((body if chinese is None else chinese) + end)
    return "".join(out)


# ----------------------------------------------------------------------------- the explorers' captions

#: Where an explorer caption (HTML) is cut into runs of text, each translated whole: block tags, line breaks and
#: ``<span>`` (the grey hint and reference words). Inline ``<b>``/``<i>``/``<code>`` stay inside a run, so a
#: template spells them out: "<b>{fits} of {total}</b> of your models fit {device}. …".
_CAPTION_BREAKS = re.compile(r"(<(?:/?(?:li|ul|ol|div|p|span|table|tr|td|th)\b[^>]*)>|<br\s*/?>|\n)", re.IGNORECASE)


def caption_in_chinese(value: str, folder: Path | None = None) -> str:
    """An explorer caption (HTML, as set on an ``ipywidgets.HTML``) with every run of text between the
    ``_CAPTION_BREAKS`` that a "prints" template matches whole in Chinese; tags, numbers and other runs unchanged.
    The templates are the raw text (as printed or raised): a run ``html.escape`` wrote ("the lesson&#x27;s") is
    matched unescaped and its Chinese escaped again. A run wrapped whole in ``<b>``/``<i>``/``<code>`` is read
    without the tag; a run that is exactly a field-free ``ZH`` string (the board's hint, built with ``t``) gets
    its ``ZH`` Chinese. A field of a matched template is
    translated the same way when it is itself a caption ("20 labelled images per class") or a list of ``ZH``
    words ("per-channel, symmetric"), and carried over as shown otherwise (numbers, names).
    ``tools/translate.py`` applies it to the committed Chinese lessons' widget state; ``caption`` in a kernel."""
    pieces = _CAPTION_BREAKS.split(value)
    for i in range(0, len(pieces), 2):  # even indexes: text between two breaks
        body = pieces[i].strip()
        chinese = _run_in_chinese(body, folder) if body else None
        if chinese is not None:
            start = pieces[i].index(body)
            pieces[i] = pieces[i][:start] + chinese + pieces[i][start + len(body):]
    return "".join(pieces)


_WRAPPED = re.compile(r"(<(b|i|code)>)(.*)(</\2>)", re.DOTALL)


def _run_in_chinese(body: str, folder: Path | None, depth: int = 0) -> str | None:
    """One run of a caption in Chinese, or None when nothing translates it (see ``caption_in_chinese``)."""
    wrapped = _WRAPPED.fullmatch(body)
    if wrapped is not None and "<" not in wrapped.group(3):
        inner = _run_in_chinese(wrapped.group(3), folder, depth)
        return None if inner is None else wrapped.group(1) + inner + wrapped.group(4)
    if "{" not in body and body in ZH:
        return ZH[body]
    found = _template_in_chinese(body, folder, depth)
    raw = html.unescape(body)
    if found is None and raw != body:  # text html.escape wrote ("the lesson&#x27;s"): the templates are raw text
        found = _template_in_chinese(raw, folder, depth)
        found = None if found is None else html.escape(found)
    return found


def _template_in_chinese(text: str, folder: Path | None, depth: int) -> str | None:
    """``text`` from the first template it matches whole (fields through ``_field_in_chinese``); None when none
    matches, the template keeps English, or its Chinese cannot be filled (printing must never fail:
    tests/test_translations.py names such a template)."""
    for regex, _, chinese in _print_patterns(str(TRANSLATIONS if folder is None else folder)):
        match = regex.fullmatch(text)
        if match is not None:
            if chinese is None:
                return None
            try:
                return chinese.format(**{k: _field_in_chinese(v, folder, depth + 1) for k, v in match.groupdict().items()})
            except (KeyError, IndexError, ValueError):
                return None
    return None


def _field_in_chinese(value: str, folder: Path | None, depth: int) -> str:
    body = value.strip()
    if depth > 2 or not body:
        return value
    found = _run_in_chinese(body, folder, depth)
    if found is not None:
        start = value.index(body)  # the spaces around it stay (" The sizes match: …" after a full stop)
        return value[:start] + found + value[start + len(body):]
    words = value.split(", ")
    return "，".join(ZH[w] for w in words) if len(words) > 1 and all(w in ZH for w in words) else value


def caption(value: str) -> str:
    """``value`` (an explorer caption, HTML) in the notebook's language: ``caption_in_chinese`` in a Chinese
    notebook, unchanged otherwise. ``helpers.ui.caption.Caption`` widgets call it on every value they are given."""
    return caption_in_chinese(value) if value and language() == CHINESE else value


def label_in_chinese(text: str) -> str:
    """A control's label (a button's or slider's description, an option) as a Chinese kernel shows it: a
    ``ZH`` string, or ``ZH`` templates whose fields are themselves labels ("show the {label} reference" with
    label "full mode, precomputed"); anything else unchanged."""
    found = ZH.get(text)
    found = _chinese_line(text) if found is None else found  # the t() strings it is made of, fields through here too
    return text if found is None else found


class _LineTranslator:
    """Wraps a text stream's ``write``/``flush``: whole lines go out translated, a partial line waits for its
    newline or the next flush (ipykernel flushes before every display and at the end of a cell)."""

    def __init__(self, stream):
        self.write_out, self.flush_out, self.pending = stream.write, stream.flush, ""

    def write(self, text: str) -> int:
        self.pending += text
        if "\n" in self.pending:
            lines, _, self.pending = self.pending.rpartition("\n")
            self.write_out(translate_printed(lines + "\n"))
        return len(text)

    def flush(self) -> None:
        if self.pending:
            text, self.pending = self.pending, ""
            self.write_out(translate_printed(text))
        self.flush_out()


def _error_in_chinese(shell, etype, value, tb, tb_offset=None):
    """IPython's handler for a ``WorkbookError`` in a Chinese notebook: the message's lines a "prints" template
    matches in Chinese, fields and fix hints included (``caption_in_chinese``; the exception keeps its type and
    traceback), then shown as IPython shows it (``WorkbookError._render_traceback_``: the message alone)."""
    english = str(value)
    chinese = caption_in_chinese(english)
    if chinese != english and len(value.args) == 1 and isinstance(value.args[0], str):
        value.args = (chinese,)
    shell.showtraceback((etype, value, tb), tb_offset=tb_offset)  # IPython discards what a custom handler returns


def _install_error_messages() -> bool:
    """In an IPython kernel: the workbook's own errors (``config.WorkbookError``: a reader's model or data a
    technique cannot take, a nonsense setting) shown in Chinese (``_error_in_chinese``). Library errors stay
    English. False outside IPython."""
    from IPython import get_ipython  # installed with Jupyter (requirements.txt)

    shell = get_ipython()
    if shell is None or not hasattr(shell, "set_custom_exc"):
        return False
    from .config import WorkbookError

    shell.set_custom_exc((WorkbookError,), _error_in_chinese)
    return True


def install(stream=None) -> bool:
    """Make ``stream`` (default ``sys.stdout``) print the lessons' sentences in Chinese (``translate_printed``);
    with the default stream, the workbook's own errors too (``_install_error_messages``).
    ``helpers.setup()`` calls it in a Chinese notebook. True when it wrapped the stream now, False when it
    was wrapped already or cannot be (a C-level file: it stays English).

    In a Jupyter kernel the stream is ipykernel's ``OutStream``: its class becomes a subclass whose
    ``_flush_buffers`` (what the kernel sends to the notebook, ipykernel/iostream.py) translates each whole
    line, so cells and widget callbacks alike print Chinese, and the object ipykernel holds stays the same.
    (Wrapping ``write`` would not last: IPython's ``InteractiveShell._tee`` wraps ``write`` for each cell and
    puts back, after the cell, what was there before it.) Any other stream gets its ``write``/``flush``
    wrapped: whole lines translated, a partial line held until its newline or the next flush."""
    if stream is None:
        _install_error_messages()
    stream = sys.stdout if stream is None else stream
    if getattr(stream, "_workbook_zh", False):
        return False
    base = type(stream)
    if callable(getattr(base, "_flush_buffers", None)):  # ipykernel's OutStream

        class ChineseOutStream(base):
            _workbook_zh = True

            def _flush_buffers(self):
                for parent, data in super()._flush_buffers():
                    yield parent, (translate_printed(data) if data else data)

        try:
            stream.__class__ = ChineseOutStream
            return True
        except TypeError:
            pass
    translator = _LineTranslator(stream)
    try:
        stream.write, stream.flush, stream._workbook_zh = translator.write, translator.flush, True
    except (AttributeError, TypeError):
        return False
    return True
