"""Lesson 01's exercise self-checks: each prints a verdict (✓/✗ and a hint) and returns True/False.
"""

from __future__ import annotations

from ..ui.verdict import answered_number, unanswered, verdict


def pruned_nonzeros(answer, model, sparsity: float) -> bool:
    """Exercise: nonzero parameters left when every Dense/Conv2D kernel of ``model`` is pruned
    to ``sparsity`` (biases are never pruned)."""
    answer = answered_number(answer)
    if answer is None:
        return False
    from .. import measure
    kernels = [layer.kernel.shape.num_elements() for layer in measure.kernel_layers(model)]
    biases = model.count_params() - sum(kernels)
    kept = sum(n - int(round(sparsity * n)) for n in kernels)
    expected = kept + biases
    slack = len(kernels)  # rounding per layer
    if abs(answer - expected) <= slack:
        return verdict(
            True, f"{expected:,}: {kept:,} kernel weights survive, plus all {biases:,} biases (never pruned)."
        )
    if abs(answer - kept) <= slack:
        return verdict(
            False, f"{answer:,} counts the kernels only: TF-MOT never prunes biases, add the {biases:,} of them."
        )
    if abs(answer - round((1 - sparsity) * model.count_params())) <= slack:
        return verdict(
            False, f"{answer:,} applies {sparsity:.0%} to every parameter; biases are not pruned, only kernels."
        )
    if abs(answer - round(sparsity * model.count_params())) <= slack:
        return verdict(False, f"{answer:,} is the number of zeros, not of nonzeros.")
    return verdict(
        False, f"{answer:,} is off by {answer - expected:+,}. Per kernel, (1 - sparsity) of its weights survive."
    )


MAX_OUTPUT_SPARSITY = 0.5  # above this the check refuses pruning the output layer (see per_layer_choice)


def per_layer_choice(
    choice, base, data, baseline, control, epochs: int = 2, max_drop_pp: float = 1.0, max_size_fraction: float = 0.25
) -> bool:
    """Exercise: per-layer sparsities ``{layer name: sparsity}`` that make the gzipped .tflite
    at most a quarter of ``baseline``'s, losing at most ``max_drop_pp`` against ``control`` (the
    dense model fine-tuned as long, ``epochs``: the extra epochs alone raise accuracy). Prunes,
    fine-tunes for ``epochs`` and measures your choice, then says what is off.

    The typical wrong answer, every layer at 90 % including the output layer, can pass both numbers
    (one seed); it is refused before training: the output layer holds 0.4 % of the weights and is
    the most sensitive one (the lesson's scan), so pruning it above ``MAX_OUTPUT_SPARSITY`` saves
    almost nothing and risks the most."""
    from .. import measure
    from . import magnitude, schedule
    if unanswered(choice):
        return False
    if not isinstance(choice, dict) or not choice:
        return verdict(False, "Give a dict {layer name: sparsity}, e.g. {'dense_0': 0.9}.")
    names = [layer.name for layer in measure.kernel_layers(base)]
    unknown = [k for k in choice if k not in names]
    if unknown:
        return verdict(False, f"No layer named {unknown}; the prunable layers are {names}.")
    bad = {k: v for k, v in choice.items() if not isinstance(v, (int, float)) or not 0 <= v < 1}
    if bad:
        return verdict(False, f"Sparsities are fractions in [0, 1): {bad}.")
    output = names[-1]
    if choice.get(output, 0) > MAX_OUTPUT_SPARSITY:
        weights = base.get_layer(output).kernel.shape.num_elements()
        share = weights / sum(base.get_layer(n).kernel.shape.num_elements() for n in names)
        return verdict(False, f"{output!r} at {choice[output]:.0%}: the output layer holds {weights:,} weights "
                              f"({share:.1%} of them) and is the most sensitive layer in the scan. Pruning it saves "
                              "almost nothing and costs the most: keep it dense (or light) and prune where the bytes are.")  # fmt: skip
    steps = magnitude.steps_per_epoch(len(data.x_train)) * epochs
    schedules = {k: schedule.gradual_schedule(v, steps) for k, v in choice.items() if v > 0}
    if not schedules:
        return verdict(False, "Every sparsity is 0: nothing is pruned, so nothing shrinks.")
    result = magnitude.prune_and_finetune(base, data, schedules, epochs)
    m = measure.measure("your per-layer choice", data, result.model, runs=50, batch_runs=3)
    drop = (control.tflite_accuracy - m.tflite_accuracy) * 100
    fraction = m.tflite_gz / baseline.tflite_gz
    size_ok, acc_ok = fraction <= max_size_fraction, drop <= max_drop_pp
    summary = (f"gzipped .tflite {m.tflite_gz:,} B = {fraction:.0%} of the baseline; accuracy {m.tflite_accuracy:.2%} "
               f"({-drop:+.2f} pp against the dense control fine-tuned as long, {control.tflite_accuracy:.2%})")
    if size_ok and acc_ok:
        return verdict(True, summary + ". Both targets met.")
    hints = []
    if not size_ok:
        hints.append(
            f"too big (target ≤ {max_size_fraction:.0%}): raise the sparsity of the largest layers, where the bytes are"
        )
    if not acc_ok:
        hints.append(
            f"too much accuracy lost (target ≤ {max_drop_pp:g} pp): lower the sparsity of the layers the scan shows are sensitive"
        )
    return verdict(False, summary + "; " + "; ".join(hints) + ".")
