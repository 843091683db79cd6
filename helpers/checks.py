"""Self-checks for the exercises: each says what is right, or what is off and a hint.

Every check prints its verdict and returns True/False, so a notebook can also ``assert`` it.
An unanswered exercise (``None``) is not an error: the check says what to fill in.
"""

from __future__ import annotations

import numpy as np


def _verdict(ok: bool, message: str) -> bool:
    print(("✓ " if ok else "✗ ") + message)
    return ok


def _unanswered(answer) -> bool:
    if answer is None or answer is ...:
        print("… Not answered yet: replace the None with your answer and run the cell again.")
        return True
    return False


def _number(answer):
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


def _yes_no(answer):
    """True/False from True, False, "true", "no", 1, 0 ...; else None."""
    if isinstance(answer, (bool, np.bool_)):
        return bool(answer)
    text = str(answer).strip().lower()
    return {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}.get(text)


def _not_a_number(answer, what: str = "a number") -> bool:
    return _verdict(False, f"{answer!r} is not {what}; write it as a plain number, e.g. 123456.")


def _answered_number(answer):
    """The reader's answer as a number, or None after saying what is missing or not a number."""
    if _unanswered(answer):
        return None
    value = _number(answer)
    if value is None:
        _not_a_number(answer)
    return value


def dense_params(inputs: int, units: int) -> int:
    """Weights plus biases of one Dense layer."""
    return inputs * units + units


def mlp_params(answer, layer_sizes=(784, 300, 100, 10)) -> bool:
    """Exercise: the parameter count of an MLP with these layer sizes."""
    answer = _answered_number(answer)
    if answer is None:
        return False
    pairs = list(zip(layer_sizes[:-1], layer_sizes[1:], strict=True))
    expected = sum(dense_params(a, b) for a, b in pairs)
    weights_only = sum(a * b for a, b in pairs)
    if answer == expected:
        return _verdict(True, f"{expected:,} parameters: weights and biases of all {len(pairs)} layers.")
    if answer == weights_only:
        return _verdict(False, f"{answer:,} counts the weights only: each Dense layer also has one bias per unit.")
    for a, b in pairs:
        if answer == expected - dense_params(a, b):
            return _verdict(False, f"{answer:,} leaves out the {a}->{b} layer; count every layer.")
    return _verdict(
        False, f"{answer:,} is off by {answer - expected:+,}. A Dense layer from n to m has n*m + m parameters."
    )


def _file_size_guess(answer, params: int, measured_bytes: int, tolerance: float, why: str, mistakes, unit: str) -> bool:
    """Shared by the file-size exercises: within ``tolerance`` of the measurement is right (``why``
    explains it); ``mistakes`` are (bytes per parameter, what that answer got wrong)."""
    if _unanswered(answer):
        return False
    answer = _number(answer)
    if answer is None or answer <= 0:
        return _verdict(False, "A file size is a positive number of bytes, e.g. 123456.")
    error = answer / measured_bytes - 1
    if abs(error) <= tolerance:
        return _verdict(
            True, f"{answer:,.0f} B is within {abs(error):.1%} of the measured {measured_bytes:,} B: {why}."
        )
    for bytes_per_param, message in mistakes:
        if abs(answer / (bytes_per_param * params) - 1) <= tolerance:
            return _verdict(False, message)
    return _verdict(
        False,
        f"{answer:,.0f} B is {error:+.0%} off the measured {measured_bytes:,} B. Hint: how many bytes is one {unit}?",
    )


def float_tflite_bytes(answer, params: int, measured_bytes: int, tolerance: float = 0.05) -> bool:
    """Exercise: predict the float32 .tflite size from the parameter count."""
    return _file_size_guess(
        answer, params, measured_bytes, tolerance,
        "4 bytes per float32 parameter, plus a little for the graph",
        [(1, "That is one byte per parameter: a float32 takes 4 bytes."),
         (32, "That is 32 per parameter: bits, not bytes (8 bits to a byte).")],
        unit="float32",
    )  # fmt: skip


def gzip_ratio_guess(answer, raw: int, gz: int) -> bool:
    """Exercise: will gzip shrink a float model's file by more than 10 %? (answer True/False)."""
    if _unanswered(answer):
        return False
    guess = _yes_no(answer)
    if guess is None:
        return _verdict(False, f"{answer!r}: answer True or False.")
    shrinks = gz < 0.9 * raw
    if guess == shrinks:
        return _verdict(
            True,
            f"gzip took {raw:,} B to {gz:,} B ({gz / raw:.0%} of the raw size): trained float32 weights look almost random to gzip.",
        )
    return _verdict(
        False,
        f"Measured: {raw:,} B -> {gz:,} B ({gz / raw:.0%}). Random-looking float32 mantissas leave gzip little to find.",
    )


# ----------------------------------------------------------------------------- lesson 01


def pruned_nonzeros(answer, model, sparsity: float) -> bool:
    """Exercise: nonzero parameters left when every Dense/Conv2D kernel of ``model`` is pruned
    to ``sparsity`` (biases are never pruned)."""
    answer = _answered_number(answer)
    if answer is None:
        return False
    from . import measure

    kernels = [layer.kernel.shape.num_elements() for layer in measure.kernel_layers(model)]
    biases = model.count_params() - sum(kernels)
    kept = sum(n - int(round(sparsity * n)) for n in kernels)
    expected = kept + biases
    slack = len(kernels)  # rounding per layer
    if abs(answer - expected) <= slack:
        return _verdict(
            True, f"{expected:,}: {kept:,} kernel weights survive, plus all {biases:,} biases (never pruned)."
        )
    if abs(answer - kept) <= slack:
        return _verdict(
            False, f"{answer:,} counts the kernels only: TF-MOT never prunes biases, add the {biases:,} of them."
        )
    if abs(answer - round((1 - sparsity) * model.count_params())) <= slack:
        return _verdict(
            False, f"{answer:,} applies {sparsity:.0%} to every parameter; biases are not pruned, only kernels."
        )
    if abs(answer - round(sparsity * model.count_params())) <= slack:
        return _verdict(False, f"{answer:,} is the number of zeros, not of nonzeros.")
    return _verdict(
        False, f"{answer:,} is off by {answer - expected:+,}. Per kernel, (1 - sparsity) of its weights survive."
    )


def per_layer_choice(
    choice, base, data, baseline, epochs: int = 2, max_drop_pp: float = 1.0, max_size_fraction: float = 0.25
) -> bool:
    """Exercise: per-layer sparsities ``{layer name: sparsity}`` that make the gzipped .tflite
    at most a quarter of ``baseline``'s with at most 1 pp accuracy loss. Prunes, fine-tunes
    for ``epochs`` and measures your choice, then says what is off."""
    from . import measure, pruning

    if _unanswered(choice):
        return False
    if not isinstance(choice, dict) or not choice:
        return _verdict(False, "Give a dict {layer name: sparsity}, e.g. {'dense_0': 0.9}.")
    names = [layer.name for layer in measure.kernel_layers(base)]
    unknown = [k for k in choice if k not in names]
    if unknown:
        return _verdict(False, f"No layer named {unknown}; the prunable layers are {names}.")
    bad = {k: v for k, v in choice.items() if not isinstance(v, (int, float)) or not 0 <= v < 1}
    if bad:
        return _verdict(False, f"Sparsities are fractions in [0, 1): {bad}.")
    steps = pruning.steps_per_epoch(len(data.x_train)) * epochs
    schedules = {k: pruning.gradual_schedule(v, steps) for k, v in choice.items() if v > 0}
    if not schedules:
        return _verdict(False, "Every sparsity is 0: nothing is pruned, so nothing shrinks.")
    result = pruning.prune_and_finetune(base, data, schedules, epochs)
    m = measure.measure("your per-layer choice", data, result.model, runs=50, batch_runs=3)
    drop = (baseline.tflite_accuracy - m.tflite_accuracy) * 100
    fraction = m.tflite_gz / baseline.tflite_gz
    size_ok, acc_ok = fraction <= max_size_fraction, drop <= max_drop_pp
    summary = f"gzipped .tflite {m.tflite_gz:,} B = {fraction:.0%} of the baseline; accuracy {m.tflite_accuracy:.2%} ({-drop:+.2f} pp)"
    if size_ok and acc_ok:
        return _verdict(True, summary + ". Both targets met.")
    hints = []
    if not size_ok:
        hints.append(
            f"too big (target ≤ {max_size_fraction:.0%}): raise the sparsity of the largest layers, where the bytes are"
        )
    if not acc_ok:
        hints.append(
            f"too much accuracy lost (target ≤ {max_drop_pp:g} pp): lower the sparsity of the layers the scan shows are sensitive"
        )
    return _verdict(False, summary + "; " + "; ".join(hints) + ".")


# ----------------------------------------------------------------------------- lesson 02


def scale_and_zero_point(scale, zero_point, lo: float, hi: float, bits: int = 8) -> bool:
    """Exercise: the asymmetric ``bits``-bit scale and zero-point for the real range [lo, hi]."""
    from . import quantization

    if _unanswered(scale) or _unanswered(zero_point):
        return False
    scale, zero_point = _number(scale), _number(zero_point)
    if scale is None or zero_point is None:
        return _not_a_number(scale if scale is None else zero_point)
    want_scale, want_zp = quantization.scale_zero_point(lo, hi, bits, symmetric=False)
    off_by_one = abs(scale / ((hi - lo) / (2**bits)) - 1) < 0.001  # the classic: dividing by 2^b
    scale_ok = abs(scale / want_scale - 1) < 0.01 and not off_by_one
    zp_ok = abs(zero_point - want_zp) <= 1
    if scale_ok and zp_ok:
        return _verdict(
            True,
            f"scale {want_scale:.6g}, zero-point {want_zp}: {lo:g} maps to {-(2 ** (bits - 1))}, {hi:g} to {2 ** (bits - 1) - 1}.",
        )
    hints = []
    if not scale_ok:
        if off_by_one:
            hints.append(
                f"the scale divides by 2^{bits} = {2**bits}; there are 2^{bits} - 1 = {2**bits - 1} steps between the ends"
            )
        else:
            hints.append(f"scale = (hi - lo) / (2^{bits} - 1); yours is {scale:.6g}")
    if not zp_ok:
        if abs(zero_point + want_zp) <= 1:
            hints.append(
                "the zero-point has the wrong sign: it is the integer that real 0.0 maps to, qmin - lo / scale"
            )
        else:
            hints.append(
                f"zero_point = round(qmin - lo / scale) with qmin = {-(2 ** (bits - 1))}; yours is {zero_point}"
            )
    return _verdict(False, "; ".join(hints) + ".")


def int8_tflite_bytes(answer, params: int, measured_bytes: int, tolerance: float = 0.06) -> bool:
    """Exercise: predict the full-integer int8 .tflite size from the parameter count."""
    return _file_size_guess(
        answer, params, measured_bytes, tolerance,
        "one byte per weight (biases take 4), plus scales and the graph",
        [(4, "That is the float32 size (4 bytes per parameter); int8 stores one byte per weight."),
         (1 / 8, "That is one *bit* per parameter; int8 is 8 bits = one byte per weight.")],
        unit="int8 weight",
    )  # fmt: skip


# ----------------------------------------------------------------------------- lesson 03


def softmax_at_temperature(answer, logits, temperature: float) -> bool:
    """Exercise: softmax(logits / T) by hand, as a list of probabilities."""
    from . import distillation

    if _unanswered(answer):
        return False
    try:
        values = np.asarray([_number(a) for a in answer], dtype=float)
    except (TypeError, ValueError):
        return _verdict(False, f"Write the answer as a list of {len(logits)} probabilities, e.g. [0.6, 0.3, 0.1].")
    if values.shape != (len(logits),) or not np.all(np.isfinite(values)):
        return _verdict(False, f"Give {len(logits)} probabilities, one per logit, as plain numbers.")
    want = distillation.soft_targets(logits, temperature)
    if np.allclose(values, want, atol=0.01):
        return _verdict(True, f"softmax({list(logits)} / {temperature:g}) = {np.round(want, 3).tolist()}.")
    hints = []
    if abs(values.sum() - 1) > 0.02:
        hints.append(f"your numbers add up to {values.sum():.3f}; probabilities add up to 1")
    if np.allclose(values, distillation.soft_targets(logits, 1.0), atol=0.01):
        hints.append(f"that is the ordinary softmax (T = 1): divide every logit by T = {temperature:g} first")
    elif np.allclose(values, distillation.soft_targets(logits, 1 / temperature), atol=0.01):
        hints.append("you multiplied the logits by T; divide them by T")
    if not hints:
        hints.append("divide each logit by T, take exp of each, divide each by their sum")
    return _verdict(False, "Not quite: " + "; ".join(hints) + ".")


def t_squared_factor(answer, t_from: float, t_to: float) -> bool:
    """Exercise: how many times smaller the soft loss's gradients get, without the T^2 factor,
    when the temperature goes from ``t_from`` to ``t_to`` (both large)."""
    value = _answered_number(answer)
    if value is None:
        return False
    ratio = t_to / t_from
    want = ratio**2
    if abs(value / want - 1) <= 0.15:
        return _verdict(
            True,
            f"about ({t_to:g}/{t_from:g})^2 = {want:g}: the gradient is (q_T - p_T) / T, and at large T the "
            "difference q_T - p_T itself shrinks like 1 / T. Hinton et al. multiply the soft loss by T^2 to undo it.",
        )
    if abs(value / ratio - 1) <= 0.15:
        return _verdict(
            False,
            f"That counts only one 1 / T (from dividing the logits by T). The difference between the two "
            f"softened distributions shrinks like 1 / T as well: square the ratio {ratio:g}.",
        )
    if 0 < value < 1:
        return _verdict(False, "Give the factor as a number above 1 (how many times smaller), e.g. 2 for half.")
    return _verdict(False, f"Not quite. Compare the gradient table's rows for T = {t_from:g} and T = {t_to:g}.")


# ----------------------------------------------------------------------------- lesson 04


def frontier_pick(answer, entries, budget: int, size_key: str = "tflite_gz") -> bool:
    """Exercise: the name of the most accurate logged experiment whose size fits ``budget``."""
    from . import results

    if _unanswered(answer):
        return False
    fitting = [e for e in results.pareto_front(entries, size_key=size_key) if e["metrics"][size_key] <= budget]
    if not fitting:
        return _verdict(False, f"Nothing on the board fits {budget:,} B yet; run the lesson's pipeline cells first.")
    best = max(fitting, key=lambda e: e["metrics"]["tflite_accuracy"])
    picked = [e for e in entries if e["name"] == str(answer).strip()]
    if not picked:
        return _verdict(False, f"No experiment is called {answer!r}; copy a name from the frontier list.")
    e = picked[-1]
    size, acc = e["metrics"].get(size_key), e["metrics"].get("tflite_accuracy")
    if e["name"] == best["name"]:
        return _verdict(True, f"{best['name']}: {acc:.2%} at {size:,} B, the best that fits {budget:,} B.")
    if size > budget:
        return _verdict(False, f"{e['name']!r} is {size:,} B: over the budget of {budget:,} B.")
    return _verdict(
        False,
        f"{e['name']!r} fits ({size:,} B) but reaches only {acc:.2%}; another model within the budget is more "
        "accurate. Look along the frontier, the most accurate point left of the budget.",
    )


def cluster_halving(answer, gz_8: int, gz_16: int) -> bool:
    """Exercise: the factor by which the gzipped file changes from 16 to 8 clusters."""
    value = _answered_number(answer)
    if value is None:
        return False
    measured = gz_8 / gz_16
    if value > 1:
        return _verdict(False, "Fewer clusters make the file smaller: give gz(8) / gz(16), a number below 1.")
    if abs(value - measured) <= 0.08 or abs(value - 0.75) <= 0.03:
        return _verdict(
            True,
            f"measured {measured:.2f}; log2(8) / log2(16) = 3/4 bits per index predicts 0.75 - gzip is not an "
            "ideal coder, so the file lands near that, not on it.",
        )
    if abs(value - 0.5) <= 0.05:
        return _verdict(False, "Half the clusters is not half the bytes: each index goes from 4 bits to 3, not to 2.")
    return _verdict(
        False, f"Not quite: think in bits per weight index (16 values: 4 bits; 8 values: ?), measured {measured:.2f}."
    )


# ----------------------------------------------------------------------------- lesson 05


def board_pick(answer, models: list[dict], board) -> bool:
    """Exercise: the name of the most accurate model that fits ``board``'s flash and RAM."""
    from . import micro_boards

    if _unanswered(answer):
        return False
    best = micro_boards.best_fit(models, board)
    if best is None:
        return _verdict(False, f"Nothing measured here fits {board.name}; run the footprint cells first.")
    rows = {r.name: r for r in micro_boards.fit_rows(models, board)}
    picked = rows.get(str(answer).strip())
    if picked is None:
        return _verdict(False, f"No model is called {answer!r}; copy a name from the footprint table.")
    if picked.name == best.name:
        return _verdict(True, f"{best.name}: {best.accuracy:.2%} with {best.flash:,} B flash and {best.arena:,} B "
                              f"arena, the most accurate model that fits {board.name}.")
    if not picked.fits_flash:
        return _verdict(False, f"{picked.name!r} needs {picked.flash:,} B of flash; the board has {board.flash:,} B. "
                               "Flash holds the model as stored: gzip does not help on the device.")
    if not picked.fits_ram:
        return _verdict(False, f"{picked.name!r} fits the flash but its tensor arena needs {picked.arena:,} B of RAM; "
                               f"the board has {board.ram:,} B.")
    return _verdict(False, f"{picked.name!r} fits, at {picked.accuracy:.2%}; another model that fits both budgets is "
                           "more accurate.")
