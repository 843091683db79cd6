"""Lesson 05's helpers: TFLM arena search, TFLM vs LiteRT, LUT compression, devices and fit, C export."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess

import numpy as np
import pytest
from test_pruning import tiny_data

from helpers import keras, measure, models, results
from helpers.microcontroller import c_export, devices, footprint, lut, tflm, tflm_run
from helpers.microcontroller import exercises as microcontroller_exercises
from helpers.microcontroller import explorer as microcontroller_explorer
from helpers.microcontroller import figures as microcontroller_figures
from helpers.quantization import quantize

# TFLM's host build has wheels for Linux x86-64 only; elsewhere tests/test_no_tflm.py covers lesson 05's path.
pytestmark = pytest.mark.skipif(not tflm.available(), reason="tflite-micro has no wheel for this platform (Linux x86-64 only)")


def _int8(model, d) -> bytes:
    return quantize.convert(model, "int8", representative=d.x_train)


@pytest.fixture(scope="module")
def tiny():
    """A trained 784-16-10 MLP, its int8 flatbuffer, and the data."""
    d = tiny_data(n=300, n_test=200)
    keras.utils.set_random_seed(0)
    model = models.compile_model(models.build_mlp(hidden=(16,)))
    models.train(model, d, 3)
    return model, _int8(model, d), d


@pytest.fixture(scope="module")
def clustered(tiny):
    """The same MLP with every kernel row snapped to 8 values (what clustering leaves), in int8."""
    model, _, d = tiny
    snapped = models.copy_model(model)
    for layer in measure.kernel_layers(snapped):
        kernel, *rest = layer.get_weights()
        out = np.empty_like(kernel)
        for j in range(kernel.shape[1]):  # one table per output channel, as TFLM stores them
            centres = np.quantile(kernel[:, j], np.linspace(0, 1, 8))
            out[:, j] = centres[np.abs(kernel[:, j][:, None] - centres[None, :]).argmin(1)]
        layer.set_weights([out, *rest])
    return _int8(snapped, d)


# ----------------------------------------------------------------------------- the arena


def test_smallest_arena_is_the_smallest_that_allocates(tiny):
    _, blob, _ = tiny
    found = tflm.smallest_arena(blob)
    assert found.bytes % tflm.ALIGN == 0
    assert tflm.allocates(blob, found.bytes)
    assert not tflm.allocates(blob, found.bytes - tflm.ALIGN)
    assert found.recorded is not None and found.recorded <= found.bytes
    assert found.processes >= 2  # a failed probe always costs a fresh process


class FakeProber:
    """Stands in for the probe process: a model that needs exactly ``need`` bytes."""

    def __init__(self, need, recorded):
        self.need, self.recorded, self.started, self.asked = need, recorded, 1, []

    def works(self, size):
        self.asked.append(size)
        return size >= self.need

    def ask(self, request):
        return str(self.recorded)


@pytest.mark.parametrize(
    ("need", "recorded", "expected"),
    [
        (6_768, 6_496, 6_768),  # the recording allocator under-reports (as for LeNet int8)
        (12_345, 12_345, 12_352),  # rounded up to 16 B
        (241_840, 241_840, 241_840),
        (300_000, -1, 300_000),  # no recording: bisection from the roomy arena
        (3_000_000, 100, 3_000_000),  # needs more than the first 64 KiB guess
        (500, 500, 1024),  # below the 1 KiB floor: reported as "at most"
    ],
)
def test_arena_search_finds_the_threshold(need, recorded, expected):
    fake = FakeProber(need, recorded)
    found = tflm._search(fake)
    assert found.bytes == expected
    assert found.at_most == (need < tflm.ARENA_FLOOR)
    assert min(fake.asked) >= tflm.ARENA_FLOOR  # never probes the crash zone
    assert all(size % tflm.ALIGN == 0 for size in fake.asked)


def test_arena_search_gives_up_above_the_ceiling(monkeypatch):
    monkeypatch.setattr(tflm, "ARENA_CEILING", 1 << 20)
    with pytest.raises(tflm.MicroError, match="could not run this model even with"):
        tflm._search(FakeProber(2 << 20, -1))


def test_arena_is_cached_in_memory_and_on_disk(tiny, isolated_cache):
    _, blob, _ = tiny
    first = tflm.smallest_arena(blob)
    cached = list((isolated_cache / "micro").glob("arena-*.json"))
    assert len(cached) == 1
    tflm.clear_memo()
    assert tflm.smallest_arena(blob) == first  # from the file
    cached[0].write_text("{not json")
    tflm.clear_memo()
    assert tflm.smallest_arena(blob).bytes == first.bytes  # damaged file: searched again
    assert tflm.smallest_arena(blob, use_cache=False).bytes == first.bytes


def test_a_crashing_probe_costs_the_probe_not_the_caller(tiny, tmp_path, monkeypatch):
    script = tmp_path / "crash.py"
    script.write_text("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n")
    monkeypatch.setattr(tflm, "_PROBE", script)
    monkeypatch.setattr(tflm, "ARENA_CEILING", 256 * 1024)
    _, blob, _ = tiny
    assert tflm.allocates(blob, 1 << 20) is False
    with pytest.raises(tflm.MicroError, match="could not run this model"):
        tflm.smallest_arena(blob, use_cache=False)


def test_interpreter_too_small_arena_is_a_clear_error(tiny):
    _, blob, _ = tiny
    with pytest.raises(tflm.MicroError, match="could not allocate"):
        tflm.interpreter(blob, 2048)


# ----------------------------------------------------------------------------- running it


def test_tflm_agrees_with_litert(tiny):
    _, blob, d = tiny
    arena = tflm.smallest_arena(blob).bytes
    tflm_out = np.argmax(tflm_run.tflm_predict(blob, d.x_test, arena), 1)
    litert = np.argmax(measure.tflite_predict(blob, d.x_test), 1)
    assert np.mean(tflm_out == litert) >= 0.99
    fp = tflm_run.footprint("tiny", blob, d.x_test, d.y_test)
    assert fp.flash == len(blob) and fp.arena == arena and fp.images == len(d.x_test)
    assert fp.agreement_pp <= 1.0 and fp.tflm_accuracy == pytest.approx(float(np.mean(tflm_out == d.y_test)))
    assert "tiny" in tflm_run.footprint_table([fp]) and f"{fp.flash:,}" in tflm_run.footprint_table([fp])


def test_tflm_runs_a_float_model_like_litert(tiny):
    """Float inputs and outputs (e.g. a PCQAT model, or plain float32) pass through unquantized."""
    model, _, d = tiny
    blob = measure.to_tflite(model)
    tflm_out = tflm_run.tflm_predict(blob, d.x_test[:50], 64 * 1024)
    assert np.allclose(tflm_out, measure.tflite_predict(blob, d.x_test[:50]), atol=1e-4)


def test_int8_detection(tiny):
    model, blob, _ = tiny
    assert tflm.input_type(blob) == "INT8"
    assert tflm.input_type(measure.to_tflite(model)) == "FLOAT32"
    assert lut.weight_tensors(measure.to_tflite(model)) == []  # float weights are no LUT candidates


# ----------------------------------------------------------------------------- LUT compression


def test_lut_round_trip_keeps_predictions_and_saves_flash(clustered, tiny):
    _, _, d = tiny
    tensors = lut.weight_tensors(clustered)
    assert {t.shape for t in tensors} == {(16, 784), (10, 16)}
    assert max(t.distinct_per_channel for t in tensors) <= 8
    lut_model = lut.lut_compress(clustered, 3, per_channel=True)
    assert len(lut_model) < 0.75 * len(clustered)
    a, b = tflm.smallest_arena(clustered).bytes, tflm.smallest_arena(lut_model).bytes
    assert b > a  # the decoded weights live in the arena
    assert np.array_equal(tflm_run.tflm_predict(clustered, d.x_test, a), tflm_run.tflm_predict(lut_model, d.x_test, b))
    fp = tflm_run.footprint("lut", lut_model, d.x_test, d.y_test)
    assert fp.litert_accuracy is None and "TFLM only" in fp.row()["LiteRT acc"]


def test_lut_with_too_few_bits_or_per_tensor_says_why(clustered, tiny):
    with pytest.raises(tflm.MicroError, match="needs [0-9] bits"):
        lut.lut_compress(clustered, 3, per_channel=False)  # per-channel scales: many values per tensor
    with pytest.raises(tflm.MicroError, match="cluster"):
        lut.lut_compress(tiny[1], 2)  # unclustered
    for bits in (0, 8, 2.5, True, "4"):
        with pytest.raises(tflm.MicroError, match="1 to 7"):
            lut.lut_compress(clustered, bits)
    with pytest.raises(tflm.MicroError, match="int8 first"):
        lut.lut_compress(measure.to_tflite(tiny[0]), 4)


# ----------------------------------------------------------------------------- devices and fit


MODELS = [
    {"name": "big", "accuracy": 0.92, "flash": 300_000, "arena": 8_000},
    {"name": "ram hungry", "accuracy": 0.91, "flash": 100_000, "arena": 40_000},
    {"name": "fits", "accuracy": 0.88, "flash": 200_000, "arena": 30_000},
    {"name": "tiny", "accuracy": 0.85, "flash": 25_000, "arena": 3_000},
    {"name": "tiny twin", "accuracy": 0.88, "flash": 20_000, "arena": 3_000},
]


def test_fit_rows_and_best_fit():
    m0 = dataclasses.replace(devices.SMALLEST_DEVICE, runtime=footprint.NO_RUNTIME)  # the model alone
    rows = {r.name: r for r in devices.footprint_rows(MODELS, m0)}
    assert not rows["big"].fits_flash and rows["big"].fits_ram
    assert rows["ram hungry"].fits_flash and not rows["ram hungry"].fits_ram
    assert rows["fits"].fits and rows["tiny"].fits
    assert devices.best_that_fits(MODELS, m0).name == "tiny twin"  # tie at 88 %: less flash wins
    esp = devices.DEVICES["ESP32 · 4 MB flash / 520 KB RAM"]
    assert devices.best_that_fits(MODELS, esp).name == "big"
    assert devices.best_that_fits(MODELS, devices.parse_device("10 KB", "64 KiB")) is None
    edge = devices.parse_device(200_000, 30_000, runtime=footprint.NO_RUNTIME)
    assert devices.footprint_rows([MODELS[2]], edge)[0].fits  # equal to the budget fits
    assert devices.best_that_fits([], m0) is None


def test_fit_counts_the_runtime_allowance():
    """The presets carry a runtime allowance: a 30 KB arena no longer "fits" 32 KB of RAM."""
    m0 = devices.SMALLEST_DEVICE
    rt = m0.runtime
    assert rt == footprint.Runtime() and rt.ram > 0
    rows = {r.name: r for r in devices.footprint_rows(MODELS, m0)}
    assert rows["fits"].fits_flash and not rows["fits"].fits_ram  # 30,000 + 16 slack + 7 KiB > 32 KiB
    assert rows["tiny"].fits and rows["tiny"].runtime_flash == rt.flash(devices.DEFAULT_OP_TYPES)
    assert rows["tiny"].runtime_ram == rt.ram + footprint.arena_declaration(3000) - 3000
    assert devices.best_that_fits(MODELS, m0).name == "tiny twin"
    # exactly at the budget with everything counted fits; one byte more does not
    ops = 2
    need_flash = 25_000 + rt.flash(ops)
    need_ram = footprint.arena_declaration(3_000) + rt.ram
    model = [{"name": "edge", "accuracy": 0.8, "flash": 25_000, "arena": 3_000, "op_types": ops}]
    assert devices.footprint_rows(model, devices.parse_device(need_flash, need_ram))[0].fits
    assert not devices.footprint_rows(model, devices.parse_device(need_flash - 1, need_ram))[0].fits_flash
    assert not devices.footprint_rows(model, devices.parse_device(need_flash, need_ram - 1))[0].fits_ram


def test_board_presets_are_what_the_table_says():
    assert [b.flash // 1024 for b in devices.DEVICES.values()] == [256, 1024, 4096]
    assert [b.ram // 1024 for b in devices.DEVICES.values()] == [32, 256, 520]
    table = devices.device_table()
    assert all(b.example in table and b.source for b in devices.DEVICES.values())


@pytest.mark.parametrize(
    ("flash", "ram", "words"),
    [
        ("0 KB", "32 KiB", "flash budget.*above zero"),
        ("256 KiB", -5, "RAM budget.*above zero"),
        ("12 parsecs", "32 KiB", "flash budget.*Unknown unit"),
        ("256 KiB", "20 GB", "RAM budget.*10 GiB"),
        ("256 KiB", "100 B", "RAM budget.*below 1 KiB"),
        (None, "32 KiB", "flash budget"),
        ("256 KiB", True, "RAM budget"),
        ("lots", "32 KiB", "flash budget.*Could not read"),
    ],
)
def test_bad_budgets_say_which_and_why(flash, ram, words):
    with pytest.raises(tflm.MicroError, match=words):
        devices.parse_device(flash, ram)


def test_parse_board_reads_units():
    b = devices.parse_device("256 KiB", "0.5 MB")
    assert (b.flash, b.ram) == (262_144, 500_000)


# ----------------------------------------------------------------------------- the results log


def test_log_models_keeps_int8_models_that_tflm_runs(tiny, clustered):
    model, blob, d = tiny
    results.record("quantization", "tiny int8", {"tflite_accuracy": 0.5}, data=d, artifact=blob, key='test/tiny int8')
    results.record("baseline", "tiny float", {"tflite_accuracy": 0.6}, data=d, artifact=measure.to_tflite(model), key='test/tiny float')
    results.record("clustering", "tiny LUT", {"tflite_accuracy": 0.4}, data=d,
                   artifact=lut.lut_compress(clustered, 3), key='test/tiny LUT')
    damaged = results.record("quantization", "damaged", {"tflite_accuracy": 0.7}, data=d, artifact=b"not a model", key='test/damaged')
    results.record("quantization", "other data", {"tflite_accuracy": 0.9}, artifact=blob, key='test/other data')
    found = {m["name"]: m for m in devices.log_models(d)}
    assert set(found) == {"tiny int8", "tiny LUT"}
    assert found["tiny int8"]["flash"] == len(blob)
    assert found["tiny int8"]["arena"] == tflm.smallest_arena(blob).bytes
    row = devices.footprint_rows([found["tiny int8"]], devices.SMALLEST_DEVICE)[0]
    assert devices.artifact_bytes(row) == blob
    results.artifact_path(damaged).unlink()
    with pytest.raises(tflm.MicroError, match="no longer"):
        devices.artifact_bytes(devices.FootprintRow("damaged", 0.7, 1, 1, True, True, damaged["id"]))


# ----------------------------------------------------------------------------- C export


@pytest.mark.parametrize("compiler", ["g++", "clang++"])
@pytest.mark.parametrize("std", ["c++11", "c++17"])
def test_c_export_compiles_with_the_declaration_it_recommends(tiny, tmp_path, compiler, std):
    """The files and the arena declaration the header recommends compile with g++ and clang (Arm Compiler 6,
    Zephyr's LLVM and Apple clang are clang). ``static uint8_t a[N] alignas(16);`` compiled with g++ only."""
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed (CI installs Debian's g++ and clang)")
    _, blob, _ = tiny
    h, cc = c_export.write_c_files(blob, tmp_path, "g_model", arena=5000)
    declaration = re.search(r"Declare it [^:]*aligned: (.*?;)", h.read_text()).group(1)
    main = tmp_path / "main.cc"
    main.write_text(
        '#include <cstdint>\n#include "g_model.h"\n'
        f"{declaration}\n"
        "static_assert(g_model_arena_size % 16 == 0, \"arena size is a multiple of 16\");\n"
        "int main() { tensor_arena[0] = g_model[0]; return static_cast<int>(g_model_len == 0); }\n"
    )
    result = subprocess.run(
        [compiler, f"-std={std}", "-Wall", "-Werror", "-o", str(tmp_path / "a.out"), str(main), str(cc)],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    assert subprocess.run([str(tmp_path / "a.out")]).returncode == 0


def test_the_old_declaration_is_what_clang_rejects(tmp_path):
    """Why the attribute comes first: clang refuses it after the declarator (this is the test's premise)."""
    if shutil.which("clang++") is None:
        pytest.skip("clang++ is not installed (CI installs Debian's clang)")
    src = tmp_path / "old.cc"
    src.write_text("#include <cstdint>\nstatic uint8_t tensor_arena[64] alignas(16);\nint main() { return tensor_arena[0]; }\n")
    result = subprocess.run(["clang++", "-std=c++17", "-fsyntax-only", str(src)], capture_output=True, text=True)
    assert result.returncode != 0 and "alignas" in result.stderr


def test_c_export_is_byte_exact(tiny, tmp_path):
    _, blob, _ = tiny
    h, cc = c_export.write_c_files(blob, tmp_path / "fw", "g_model", arena=5000)
    header, source = h.read_text(), cc.read_text()
    assert c_export.bytes_from_c_source(source) == blob
    assert "alignas(16) const unsigned char g_model[]" in source and f"g_model_len = {len(blob)};" in source
    assert "g_model_arena_size = 5024;" in header  # rounded up to 16 B, plus 16 B of alignment slack
    assert "m_arena_size = 5520;" in c_export.c_source(blob, "m", arena=5000, margin=0.1)[0]
    broken = source.replace("0x", "0X", 1).replace(f"= {len(blob)};", f"= {len(blob) + 1};")
    with pytest.raises(tflm.MicroError, match="length constant"):
        c_export.bytes_from_c_source(broken)
    with pytest.raises(tflm.MicroError, match="No byte array"):
        c_export.bytes_from_c_source("int main() {}")
    for bad in ("", "9lives"):
        with pytest.raises(tflm.MicroError, match="C identifier"):
            c_export.c_source(blob, bad)


def test_c_export_compiles_to_the_same_bytes(tiny, tmp_path):
    """A real C++ compiler reads the array: the bytes it stores are the model's."""
    compiler = shutil.which("g++") or shutil.which("c++")
    if compiler is None:
        pytest.skip("no C++ compiler (g++) here; the byte-exact text check above still ran")
    _, blob, _ = tiny
    c_export.write_c_files(blob, tmp_path, "g_model", arena=4096)
    (tmp_path / "main.cc").write_text(
        '#include <cstdio>\n#include <cstdint>\n#include "g_model.h"\n'
        "int main() { if (reinterpret_cast<std::uintptr_t>(g_model) % 16) return 3;\n"
        "  fwrite(g_model, 1, g_model_len, stdout); return g_model_arena_size == 4096 + 16 ? 0 : 4; }\n"
    )
    exe = tmp_path / "dump"
    subprocess.run([compiler, "-std=c++17", "-O0", "-o", str(exe), str(tmp_path / "main.cc"), str(tmp_path / "g_model.cc")],
                   check=True, capture_output=True)
    done = subprocess.run([str(exe)], capture_output=True, check=False)
    assert done.returncode == 0 and done.stdout == blob


# ----------------------------------------------------------------------------- the explorer and the check


def test_fit_explorer_presets_custom_and_bad_budgets():
    ex = microcontroller_explorer.FootprintExplorer(MODELS)
    assert ex.device == devices.SMALLEST_DEVICE and ex.best.name == "tiny twin"
    assert "tiny twin" in ex.verdict.value and ex._figure is not None
    ex.preset.value = "ESP32 · 4 MB flash / 520 KB RAM"
    assert ex.best.name == "big" and ex.flash.value == "4096 KiB"
    ex.flash.value = "150 KB"  # typing makes it a custom device
    assert ex.preset.value == ex.CUSTOM and ex.best.name == "ram hungry"
    figure = ex._figure
    for bad in ("0 KB", "-1 MB", "12 parsecs"):
        ex.flash.value = bad
        assert "flash budget" in ex.message.value and "last valid budget" in ex.message.value
        assert ex.best.name == "ram hungry" and ex._figure is figure  # what was shown stays
    ex.flash.value = "10 KB"
    assert ex.message.value == "" and ex.best is None and "None of your models fits" in ex.verdict.value
    ex.ram.value = "1 GB"
    ex.flash.value = "1 MB"
    assert ex.best.name == "big"


def test_fit_explorer_with_no_models_and_a_failing_reload(monkeypatch):
    ex = microcontroller_explorer.FootprintExplorer([])
    assert "No int8 models" in ex.message.value and "None of your models fits" in ex.verdict.value

    def broken(_data=None):
        raise OSError("disk on fire")

    monkeypatch.setattr(devices, "log_models", broken)
    ex.reload()
    assert "disk on fire" in ex.message.value


def test_board_pick_check(capsys):
    m0 = devices.SMALLEST_DEVICE
    assert microcontroller_exercises.device_pick("tiny twin", MODELS, m0)
    assert not microcontroller_exercises.device_pick("big", MODELS, m0)
    assert "flash" in capsys.readouterr().out
    assert not microcontroller_exercises.device_pick("ram hungry", MODELS, m0)
    assert "arena" in capsys.readouterr().out
    assert not microcontroller_exercises.device_pick("tiny", MODELS, m0)
    assert "more accurate" in capsys.readouterr().out
    assert not microcontroller_exercises.device_pick("nope", MODELS, m0)
    assert not microcontroller_exercises.device_pick(None, MODELS, m0)
    assert "Not answered" in capsys.readouterr().out


def _reference_entry(key, name, accuracy, flash, arena):
    return {"id": key, "time": "2026-01-02T03:04:05+00:00", "lesson": "05", "key": key, "technique": "quantization",
            "name": name, "settings": {"runtime": "TFLM"}, "mode": "full", "data": "fashion_mnist",
            "metrics": {"tflite_accuracy": accuracy, "tflite_bytes": flash, "tflite_gz": flash // 2, "tflm_arena": arena}}


def test_fit_explorer_shows_the_precomputed_full_mode_reference_without_starring_it():
    from helpers import precomputed

    refs = [_reference_entry("05/CNN int8", "CNN int8", 0.9149, 235_960, 31_728),
            _reference_entry("05/student", "student 22k int8", 0.8587, 25_288, 3_264)]
    precomputed.save("05", precomputed.build("05", refs, produced_by="a test"))
    assert {m["name"] for m in devices.reference_models()} == {"CNN int8", "student 22k int8"}
    ex = microcontroller_explorer.FootprintExplorer([])  # a fresh clone: nothing run yet, the reference shows at once
    assert ex.show_reference.value and {r.name for r in ex.rows if r.reference} == {"CNN int8", "student 22k int8"}
    # the CNN's 31.7 KB arena fits 32 KB on the model-only count, not with the firmware's RAM counted
    assert ex.best is None and "Full-mode reference: student 22k int8 at 85.87% fits" in ex.verdict.value
    ex = microcontroller_explorer.FootprintExplorer(MODELS)
    assert not ex.show_reference.value and not any(r.reference for r in ex.rows)  # your models first
    ex.show_reference.value = True
    assert any(r.reference for r in ex.rows) and "Full-mode reference: student 22k int8" in ex.verdict.value
    assert ex.best.name == "tiny twin"  # the reference's student (85.9 %) fits too but is not the reader's
    ex.show_reference.value = False
    assert not any(r.reference for r in ex.rows) and "Full-mode reference" not in ex.verdict.value


def test_fit_explorer_with_a_damaged_reference_says_so_and_works(tmp_path):
    from helpers import precomputed

    precomputed.path("05").parent.mkdir(parents=True, exist_ok=True)
    precomputed.path("05").write_text("{broken")
    ex = microcontroller_explorer.FootprintExplorer(MODELS)
    assert "damaged" in ex.message.value and ex.best.name == "tiny twin" and ex.show_reference.disabled


def test_fit_figure_redraws_in_place_and_rebuilds_only_for_other_models():
    chart = microcontroller_figures.FootprintFigure()
    m0, esp = devices.SMALLEST_DEVICE, devices.DEVICES["ESP32 · 4 MB flash / 520 KB RAM"]
    fig = chart.update(devices.footprint_rows(MODELS, m0), m0, devices.best_that_fits(MODELS, m0))
    bars = chart._bars[0]
    colors_m0 = bars.get_facecolor().copy()
    assert chart.starred == "tiny twin"
    assert chart.update(devices.footprint_rows(MODELS, esp), esp, devices.best_that_fits(MODELS, esp)) is fig
    assert chart._bars[0] is bars and not np.array_equal(bars.get_facecolor(), colors_m0)  # recoloured, not rebuilt
    labels = [t.get_text() for t in chart._axes[0].get_yticklabels()]
    assert labels[0] == "big · 92.0%" and chart.starred == "big" and chart._lines[1].get_xdata()[0] == esp.ram
    star_x, star_y = chart._star_text.get_position()
    assert chart._star_text.get_visible() and star_y == chart._y[0] and star_x > 300_000  # after big's flash bar
    chart.update(devices.footprint_rows(MODELS, esp), esp, None)
    assert chart.starred is None and not chart._star_text.get_visible()
    chart.update(devices.footprint_rows(MODELS[:2], esp), esp, None)
    assert chart._bars[0] is not bars and len(chart._bars[0].get_paths()) == 2 and chart.fig is fig


def _pixels(png: bytes) -> np.ndarray:
    import io

    import matplotlib.pyplot as plt

    return plt.imread(io.BytesIO(png), format="png")


@pytest.mark.parametrize("dpi", [72, 100])  # at 72 dpi the figure's height in pixels is fractional
def test_fit_figure_png_keeps_the_names_as_pixels_and_draws_the_same_chart(dpi):
    """The names' pixels must reproduce the text exactly, at the same place, on every device."""
    import matplotlib as mpl

    with mpl.rc_context({"figure.dpi": dpi}):
        _names_as_pixels()


def _names_as_pixels():
    m0, esp = devices.SMALLEST_DEVICE, devices.DEVICES["ESP32 · 4 MB flash / 520 KB RAM"]
    rows = devices.footprint_rows(MODELS, m0)
    chart = microcontroller_figures.FootprintFigure()
    chart.update(rows, m0, devices.best_that_fits(MODELS, m0))
    first = _pixels(chart.png())  # names drawn as text, then kept
    assert chart._names is not None and not chart._axes[0].yaxis.get_major_ticks()[0].label1.get_visible()
    assert np.array_equal(_pixels(chart.png()), first)  # the raster where the text was
    chart.update(devices.footprint_rows(MODELS, esp), esp, devices.best_that_fits(MODELS, esp))
    fresh = microcontroller_figures.FootprintFigure()
    fresh.update(devices.footprint_rows(MODELS, esp), esp, devices.best_that_fits(MODELS, esp))
    redrawn, drawn = _pixels(chart.png()), _pixels(fresh.png())
    assert redrawn.shape == drawn.shape and np.array_equal(redrawn, drawn)
    assert not np.array_equal(redrawn, first)  # another device: other colours and budget lines
    chart.update(devices.footprint_rows(MODELS[:3], esp), esp, None)  # other models: names drawn anew
    assert chart._names is None
    fewer = microcontroller_figures.FootprintFigure()
    fewer.update(devices.footprint_rows(MODELS[:3], esp), esp, None)
    assert np.array_equal(_pixels(chart.png()), _pixels(fewer.png()))


_FIRMWARE_MAIN = """#include "g_model.h"

ARENA_LINE

int main() {
  static_assert(g_model_arena_size % 16 == 0, "the arena size is a multiple of 16 B");
  return (g_model[0] == 0 && g_model_len == 0) ? 1 : static_cast<int>(reinterpret_cast<std::uintptr_t>(tensor_arena) % 16);
}
"""


@pytest.mark.parametrize("compiler", ["g++", "clang++"])
@pytest.mark.parametrize("standard", ["c++11", "c++17"])
def test_c_export_compiles_with_gcc_and_clang(tiny, tmp_path, compiler, standard):
    """The written pair, plus a main() that declares the arena the way the header's comment says,
    compiles and links. Rejects `static uint8_t tensor_arena[N] alignas(16);` (g++ accepts it,
    clang++ says "'alignas' attribute cannot be applied to types")."""
    import shutil
    import subprocess

    exe = shutil.which(compiler)
    if exe is None:
        pytest.skip(f"{compiler} is not installed (Debian: apt-get install {'clang' if 'clang' in compiler else 'g++'}); CI installs both")
    _, blob, _ = tiny
    h, cc = c_export.write_c_files(blob, tmp_path, "g_model", arena=5000)
    line = c_export.arena_declaration_line("g_model")
    assert line in h.read_text(), "the header's comment shows the declaration the test compiles"
    main = tmp_path / "main.cc"
    main.write_text(_FIRMWARE_MAIN.replace("ARENA_LINE", line))
    run = subprocess.run([exe, f"-std={standard}", "-Wall", "-Werror", "-I", str(tmp_path), str(cc), str(main),
                          "-o", str(tmp_path / "fw")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert subprocess.run([str(tmp_path / "fw")]).returncode == 0, "the arena is 16-byte aligned"


@pytest.mark.skipif(__import__("shutil").which("clang++") is None, reason="clang++ is not installed")
def test_clang_rejects_alignas_after_the_array(tmp_path):
    """The old declaration the lesson carried: clang++ refuses it, so the test above can tell."""
    import subprocess

    bad = tmp_path / "bad.cc"
    bad.write_text("#include <cstdint>\nstatic uint8_t tensor_arena[64] alignas(16);\nint main() { return tensor_arena[0]; }\n")
    run = subprocess.run(["clang++", "-std=c++17", "-fsyntax-only", str(bad)], capture_output=True, text=True)
    assert run.returncode != 0 and "alignas" in run.stderr
