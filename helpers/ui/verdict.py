"""How every exercise self-check speaks: a verdict line (✓ or ✗), "not answered yet", and
reading what a reader typed (numbers with commas, yes/no). The lessons' checks live in each lesson's
``exercises`` module; this is what they share.
"""

from __future__ import annotations

import numpy as np


def verdict(ok: bool, message: str) -> bool:
    print(("✓ " if ok else "✗ ") + message)
    return ok


def unanswered(answer) -> bool:
    if answer is None or answer is ...:
        print("… Not answered yet: replace the None with your answer and run the cell again.")
        return True
    return False


def number(answer):
    """A number from what a reader typed: 266610, 266_610.0, "266,610" -> 266610; else None."""
    if isinstance(answer, bool):
        return None
    if isinstance(answer, str):
        try:
            answer = float(answer.replace(",", "").replace("_", "").strip())
        except ValueError:
            return None
    if isinstance(answer, (int, float, np.integer, np.floating)) and np.isfinite(answer):
        return int(answer) if float(answer).is_integer() else float(answer)
    return None


def yes_no(answer):
    """True/False from True, False, "true", "no", 1, 0 ...; else None."""
    if isinstance(answer, (bool, np.bool_)):
        return bool(answer)
    text = str(answer).strip().lower()
    return {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}.get(text)


def not_a_number(answer, what: str = "a number") -> bool:
    return verdict(False, f"{answer!r} is not {what}; write it as a plain number, e.g. 123456.")


def answered_number(answer):
    """The reader's answer as a number, or None after saying what is missing or not a number."""
    if unanswered(answer):
        return None
    value = number(answer)
    if value is None:
        not_a_number(answer)
    return value


def file_size_guess(answer, params: int, measured_bytes: int, tolerance: float, why: str, mistakes, unit: str) -> bool:
    """Shared by the file-size exercises: within ``tolerance`` of the measurement is right (``why``
    explains it); ``mistakes`` are (bytes per parameter, what that answer got wrong)."""
    if unanswered(answer):
        return False
    answer = number(answer)
    if answer is None or answer <= 0:
        return verdict(False, "A file size is a positive number of bytes, e.g. 123456.")
    error = answer / measured_bytes - 1
    if abs(error) <= tolerance:
        return verdict(
            True, f"{answer:,.0f} B is within {abs(error):.1%} of the measured {measured_bytes:,} B: {why}."
        )
    for bytes_per_param, message in mistakes:
        if abs(answer / (bytes_per_param * params) - 1) <= tolerance:
            return verdict(False, message)
    return verdict(
        False,
        f"{answer:,.0f} B is {error:+.0%} off the measured {measured_bytes:,} B. Hint: how many bytes is one {unit}?",
    )
