"""Pruning schedules (lesson 01): the knobs checked, the curve TF-MOT follows, the explorer's preview.

* ``ScheduleSettings``: the knobs of a schedule, checked with messages a reader can act on
  (TF-MOT itself accepts a decreasing schedule or ``end_step == begin_step`` without a word).
* ``schedule_curve``: sparsity per training step, computed by TF-MOT's own schedule object.
* ``gradual_schedule``: the sweep's default schedule.
* ``explorer_preview``: what the schedule explorer draws, as a plain function.

Sources: TF-MOT's ``PolynomialDecay``/``ConstantSparsity``
(tensorflow_model_optimization/python/core/sparsity/keras/pruning_schedule.py); Zhu & Gupta 2017.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import tensorflow as tf
import tensorflow_model_optimization as tfmot

from .sparsity import PruningSettingsError

sparsity_api = tfmot.sparsity.keras


@dataclasses.dataclass(frozen=True)
class ScheduleSettings:
    """A pruning schedule as the reader sets it.

    ``kind="polynomial"``: Zhu & Gupta's gradual schedule (2017), TF-MOT's ``PolynomialDecay``:
    sparsity rises from ``initial_sparsity`` at ``begin_step`` to ``final_sparsity`` at
    ``end_step`` as s_f + (s_i - s_f)(1 - t)^power, fast at first and gently at the end, pruning
    every ``frequency`` steps. ``kind="constant"``: ``ConstantSparsity``, ``final_sparsity`` from
    ``begin_step`` on (``initial_sparsity`` and ``power`` unused).
    """

    kind: str = "polynomial"
    initial_sparsity: float = 0.5
    final_sparsity: float = 0.9
    begin_step: int = 0
    end_step: int = 1000
    frequency: int = 100
    power: float = 3.0

    def problems(self) -> list[str]:
        """Everything wrong with these settings, each with what to do (empty when fine)."""
        found = []
        if self.kind not in ("polynomial", "constant"):
            found.append(f"kind must be 'polynomial' or 'constant', not {self.kind!r}.")
        for name in ("initial_sparsity", "final_sparsity"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 <= value < 1:
                found.append(f"{name} = {value!r}: a sparsity is a fraction of weights in [0, 1), e.g. 0.9 for 90 %.")
        polynomial = self.kind == "polynomial"
        if polynomial and not found and self.final_sparsity < self.initial_sparsity:
            found.append(
                f"final_sparsity {self.final_sparsity:g} < initial_sparsity {self.initial_sparsity:g}: pruned "
                "weights never come back, so sparsity can only rise. Swap them."
            )
        steps_ok = True
        for name in ("begin_step", "end_step", "frequency"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
                found.append(f"{name} = {value!r}: a whole number of training steps.")
                steps_ok = False
        if steps_ok:
            if self.begin_step < 0:
                found.append(f"begin_step = {self.begin_step}: steps count from 0.")
            if polynomial and self.end_step <= self.begin_step:
                found.append(
                    f"end_step {self.end_step} <= begin_step {self.begin_step}: the schedule needs steps to rise "
                    "in. Make end_step larger."
                )
            if self.frequency <= 0:
                found.append(f"frequency = {self.frequency}: prune every 1 or more steps (TF-MOT's default is 100).")
        if polynomial and not (isinstance(self.power, (int, float)) and math.isfinite(self.power) and self.power > 0):
            found.append(f"power = {self.power!r}: a positive number (3 is Zhu & Gupta's choice).")
        return found

    def build(self):
        """The TF-MOT schedule object; raises ``PruningSettingsError`` listing every problem."""
        problems = self.problems()
        if problems:
            raise PruningSettingsError("Invalid pruning schedule: " + " ".join(problems))
        if self.kind == "constant":
            return sparsity_api.ConstantSparsity(
                target_sparsity=float(self.final_sparsity),
                begin_step=int(self.begin_step),
                frequency=int(self.frequency),
            )
        return sparsity_api.PolynomialDecay(
            initial_sparsity=float(self.initial_sparsity),
            final_sparsity=float(self.final_sparsity),
            begin_step=int(self.begin_step),
            end_step=int(self.end_step),
            power=float(self.power),
            frequency=int(self.frequency),
        )

    def describe(self) -> str:
        if self.kind == "constant":
            return f"constant {self.final_sparsity:.0%} from step {self.begin_step}, every {self.frequency} steps"
        return (
            f"polynomial {self.initial_sparsity:.0%}→{self.final_sparsity:.0%}, steps {self.begin_step}–"
            f"{self.end_step}, every {self.frequency}, power {self.power:g}"
        )


def schedule_curve(schedule, total_steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(steps, target sparsity at each step, steps where the mask is updated), from TF-MOT's
    schedule object itself, evaluated on all steps at once.

    The steps are 1..total_steps because that is what the wrapper sees: ``UpdatePruningStep``
    counts from 1, so a schedule beginning at step 0 first prunes at step ``frequency`` (and a
    fine-tune shorter than ``frequency`` steps is never pruned at all).
    """
    steps = tf.range(1, int(total_steps) + 1, dtype=tf.int64)
    should_prune, target = schedule(steps)
    target = np.broadcast_to(np.asarray(target, dtype=np.float32), (len(steps),))
    should_prune = np.broadcast_to(np.asarray(should_prune), (len(steps),))
    return steps.numpy(), target.copy(), steps.numpy()[should_prune]


def gradual_schedule(target: float, total_steps: int) -> ScheduleSettings:
    """The sweep's default: 0 -> target over the first 70 % of fine-tuning, ~16 mask updates,
    then 30 % of the steps to recover at the final sparsity."""
    end = max(2, int(0.7 * total_steps))
    return ScheduleSettings("polynomial", 0.0, target, 0, end, max(1, end // 16), 3.0)


@dataclasses.dataclass
class Preview:
    steps: np.ndarray
    sparsity: np.ndarray
    prune_steps: np.ndarray
    epoch_steps: list[int]
    problems: list[str]  # settings that cannot run (the Run button stays off)
    notes: list[str]  # settings that run but probably not as the reader means


def no_pruning_cause(settings: ScheduleSettings, total_steps: int) -> str:
    """Why no mask update falls inside ``total_steps`` of training, naming the cause that applies.

    TF-MOT updates the mask at steps where step >= begin_step and (step - begin_step) is a
    multiple of ``frequency`` (and, for PolynomialDecay, step <= end_step); the wrapper's steps
    count from 1."""
    first = max(settings.begin_step, 1)
    offset = (first - settings.begin_step) % settings.frequency
    first += (settings.frequency - offset) % settings.frequency
    if settings.begin_step > total_steps:
        cause = (
            f"begin_step {settings.begin_step:,} comes after the last training step ({total_steps:,}). Lower begin_step "
            "or train longer."
        )
    elif settings.frequency > total_steps - settings.begin_step or first > total_steps:
        cause = (
            f"frequency {settings.frequency:,} is more than the {total_steps:,} training steps allow: the first mask update "
            f"would be at step {first:,}. Lower frequency (e.g. to {max(1, total_steps // 16)}) or train longer."
        )
    else:
        cause = f"the schedule's end_step {settings.end_step:,} comes before its first mask update at step {first:,}."
    return f"No mask update falls inside training, so the model stays dense: {cause}"


def explorer_preview(settings: ScheduleSettings, steps_in_epoch: int, epochs: int) -> Preview:
    """What the explorer draws for ``settings`` over ``epochs`` of fine-tuning: never raises."""
    total = steps_in_epoch * max(1, int(epochs)) if isinstance(epochs, (int, np.integer)) else 0
    problems = settings.problems()
    if not isinstance(epochs, (int, np.integer)) or epochs < 1:
        problems.append(f"epochs = {epochs!r}: fine-tune for at least 1 epoch.")
    if problems:
        empty = np.zeros(0)
        return Preview(empty, empty, empty, [], problems, [])
    steps, target, prune_steps = schedule_curve(settings.build(), total)
    notes = []
    last = settings.end_step if settings.kind == "polynomial" else settings.begin_step
    if last > total:
        knob = "end_step" if settings.kind == "polynomial" else "begin_step"  # ConstantSparsity has no end_step
        notes.append(
            ("The schedule ends" if knob == "end_step" else "The schedule starts")
            + f" at step {last:,} but {epochs} epoch(s) of fine-tuning are {total:,} steps: training stops at "
            f"{target[-1]:.0%} sparsity, not {settings.final_sparsity:.0%}. Lower {knob} or add epochs."
        )
    if len(prune_steps) == 0:
        notes.append(no_pruning_cause(settings, total))
    elif settings.kind == "polynomial" and settings.frequency > max(1, (settings.end_step - settings.begin_step) // 3):
        notes.append(
            f"frequency {settings.frequency} leaves only {len(prune_steps)} mask updates: sparsity jumps in few large "
            "steps, which costs accuracy. A smaller frequency prunes more gradually."
        )
    return Preview(steps, target, prune_steps, [steps_in_epoch * e for e in range(1, epochs + 1)], [], notes)
