"""Lesson 05: the model as a C++ array for a TFLM firmware project, with its arena declaration.

``c_source`` / ``write_c_files`` write ``name.h`` and ``name.cc`` (a 16-byte aligned array, its
length and the arena size to declare); ``bytes_from_c_source`` reads the bytes back.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from .. import config
from . import footprint, tflm


def _c_name(name: str) -> str:
    name = re.sub(r"\W", "_", name.strip())
    if not name or name[0].isdigit():
        raise tflm.MicroError(f"{name!r} is not usable as a C identifier; use letters, digits and _ (not first a digit).")
    return name


def arena_declaration_line(name: str = "g_model") -> str:
    """The C++ line that declares the tensor arena for ``name``: ``alignas(16)`` goes first.

    ``static uint8_t tensor_arena[N] alignas(16);`` compiles with g++ but clang++ rejects it
    ("'alignas' attribute cannot be applied to types"): C++11 [dcl.align] lets ``alignas`` appertain
    to a declaration (written before it) or a declarator-id (right after the name), not after ``[N]``."""
    return f"alignas(16) static uint8_t tensor_arena[{_c_name(name)}_arena_size];"


def c_source(model: bytes, name: str = "g_model", arena: int | None = None, margin: float = 0.0) -> tuple[str, str]:
    """(header, source) of a C++ pair for a TFLM firmware project: the model as a 16-byte aligned
    array, its length, and the arena to declare (the measured smallest plus ``margin``, rounded up
    to 16 B). The arena was measured on this 64-bit host: TFLM's bookkeeping is smaller on a 32-bit
    device, but optimized kernels may ask for scratch space, so confirm it on the device."""
    name = _c_name(name)
    blob = bytes(model)
    guard = name.upper() + "_H_"
    lines = [
        f"#ifndef {guard}",
        f"#define {guard}",
        "",
        "#include <cstddef>",
        "#include <cstdint>",
        "",
        f"// {len(blob):,} bytes of .tflite flatbuffer (sha256 {hashlib.sha256(blob).hexdigest()[:16]}...).",
        f"extern const unsigned char {name}[];",
        f"extern const unsigned int {name}_len;",
    ]
    if arena is not None:
        declared = footprint.arena_declaration(int(arena), margin)
        lines += [
            "",
            f"// Smallest tensor arena measured with TFLM on a 64-bit host: {arena:,} B"
            + (f", plus a {margin:.0%} margin" if margin else "")
            + f", rounded up to 16 B, plus {tflm.ALIGN} B of alignment slack (TFLM aligns the arena start to 16 B).",
            f"// Declare it 16-byte aligned: {arena_declaration_line(name)}",
            "// (alignas before the declaration: clang, and so Arm Compiler 6 and Apple clang, reject it after the name.)",
            "// Confirm the size on the device with RecordingMicroAllocator.",
            f"constexpr std::size_t {name}_arena_size = {declared};",
        ]
    lines += ["", f"#endif  // {guard}", ""]
    header = "\n".join(lines)
    body = ",\n".join(
        "  " + ", ".join(f"0x{b:02x}" for b in blob[i : i + 12]) for i in range(0, len(blob), 12)
    )
    source = (
        f'#include "{name}.h"\n\n'
        f"alignas(16) const unsigned char {name}[] = {{\n{body}\n}};\n"
        f"const unsigned int {name}_len = {len(blob)};\n"
    )
    return header, source


def bytes_from_c_source(source: str) -> bytes:
    """The bytes of the array in a ``c_source`` source file, read back from its text."""
    match = re.search(r"\[\]\s*=\s*\{(.*?)\};", source, re.S)
    if not match:
        raise tflm.MicroError("No byte array found in this C source.")
    length = re.search(r"_len\s*=\s*(\d+);", source)
    blob = bytes(int(tok, 16) for tok in re.findall(r"0x([0-9a-fA-F]{2})", match.group(1)))
    if length and int(length.group(1)) != len(blob):
        raise tflm.MicroError(f"The length constant says {length.group(1)} bytes but the array holds {len(blob)}.")
    return blob


def write_c_files(model: bytes, directory: Path, name: str = "g_model", arena: int | None = None) -> tuple[Path, Path]:
    """Write ``name.h`` and ``name.cc``; then read the array back and check it is the model, byte for byte."""
    header, source = c_source(model, name, arena)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    h, cc = directory / f"{_c_name(name)}.h", directory / f"{_c_name(name)}.cc"
    config.write_atomic(h, header.encode())
    config.write_atomic(cc, source.encode())
    if bytes_from_c_source(cc.read_text(encoding="utf-8")) != bytes(model):
        raise tflm.MicroError(f"{config.display_path(cc)} does not hold the model's exact bytes.")
    return h, cc
