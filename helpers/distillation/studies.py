"""Lesson 03's two studies of distillation, built on ``distiller.fit_student``.

* ``compare``: scratch vs distilled students over several seeds (mean and std), with or without
  few labels: whether distillation wins, by how much, and how much of the gap to the teacher it
  recovers (``Comparison``).
* ``grid_search``: validation accuracy over temperatures x alphas (``Grid``), kept in the results
  cache so that an explorer can show it at once (``precomputed.keep_sweep``).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .. import measure, precomputed
from . import distiller
from .distiller import DEFAULT_ALPHA, DEFAULT_TEMPERATURE, StudentRun


@dataclasses.dataclass
class Comparison:
    """Scratch vs distilled students over seeds, on the test set."""

    regime: str
    labels_per_class: int | None
    scratch: list[float]
    distilled: list[float]
    teacher: float
    runs: list[StudentRun]

    @staticmethod
    def _ms(values):
        return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0

    @property
    def scratch_mean_std(self):
        return self._ms(self.scratch)

    @property
    def distilled_mean_std(self):
        return self._ms(self.distilled)

    @property
    def gain(self) -> float:
        return self.distilled_mean_std[0] - self.scratch_mean_std[0]

    @property
    def gap_recovered(self) -> float:
        """Fraction of the teacher-student gap that distillation closed (negative: it widened)."""
        gap = self.teacher - self.scratch_mean_std[0]
        return self.gain / gap if gap > 0 else float("nan")

    @property
    def clear_win(self) -> bool:
        """Distilled beats scratch by more than 2 std of either."""
        return self.gain > 2 * max(self.scratch_mean_std[1], self.distilled_mean_std[1])

    def row(self) -> str:
        (sm, ss), (dm, ds) = self.scratch_mean_std, self.distilled_mean_std
        return (
            f"{self.regime:<28} scratch {sm:.2%} ± {ss:.2%}   distilled {dm:.2%} ± {ds:.2%}   "
            f"gain {self.gain * 100:+.2f} pp   gap recovered {self.gap_recovered:+.0%}"
        )


def compare(
    data,
    teacher_accuracy: float,
    logits_train: np.ndarray,
    regime: str,
    seeds=(0, 1, 2),
    labels_per_class: int | None = None,
    epochs: int = 8,
    alpha: float = DEFAULT_ALPHA,
    temperature: float = DEFAULT_TEMPERATURE,
    verbose: bool = True,
) -> Comparison:
    """Scratch and distilled students, one of each per seed, tested on ``data``'s test set."""
    runs, scores = [], {"scratch": [], "distilled": []}
    for seed in seeds:
        for method in ("scratch", "distilled"):
            run = distiller.fit_student(data, method, seed, epochs, labels_per_class, logits_train, alpha, temperature)
            run.test_accuracy = measure.keras_accuracy(run.model, data.x_test, data.y_test)
            scores[method].append(run.test_accuracy)
            runs.append(run)
            if verbose:
                print(
                    f"  {regime}: seed {seed} {method:<9} test {run.test_accuracy:.2%} "
                    f"(best val {run.val_accuracy:.2%} at epoch {run.best_epoch}/{epochs}, {run.seconds:.1f} s)"
                )
    return Comparison(regime, labels_per_class, scores["scratch"], scores["distilled"], teacher_accuracy, runs)


# ----------------------------------------------------------------------------- choosing T and alpha


@dataclasses.dataclass
class Grid:
    """Validation accuracy of one distilled student per (temperature, alpha), one seed."""

    temperatures: tuple
    alphas: tuple
    val_accuracy: np.ndarray  # [len(temperatures), len(alphas)]
    labels_per_class: int | None
    seed: int
    epochs: int

    @property
    def best(self) -> tuple[float, float]:
        i, j = np.unravel_index(int(np.argmax(self.val_accuracy)), self.val_accuracy.shape)
        return float(self.temperatures[i]), float(self.alphas[j])

    def nearest(self, temperature: float, alpha: float) -> tuple[int, int]:
        """Grid cell closest to a setting (temperature compared on a log scale)."""
        i = int(np.argmin(np.abs(np.log(np.asarray(self.temperatures, float)) - math.log(temperature))))
        j = int(np.argmin(np.abs(np.asarray(self.alphas, float) - alpha)))
        return i, j

    def as_dict(self) -> dict:
        return {
            "temperatures": list(self.temperatures),
            "alphas": list(self.alphas),
            "val_accuracy": self.val_accuracy.round(5).tolist(),
            "labels_per_class": self.labels_per_class,
            "seed": self.seed,
            "epochs": self.epochs,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Grid:
        """The inverse of ``as_dict`` (e.g. a grid from ``data/precomputed/``); ValueError if malformed."""
        try:
            acc = np.asarray(d["val_accuracy"], dtype=float)
            grid = cls(tuple(d["temperatures"]), tuple(d["alphas"]), acc, d["labels_per_class"], d["seed"], d["epochs"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a distillation grid: {exc}") from exc
        if acc.shape != (len(grid.temperatures), len(grid.alphas)):
            raise ValueError(f"grid of shape {acc.shape} for {len(grid.temperatures)} x {len(grid.alphas)} settings")
        return grid


def grid_sweep_name(labels_per_class, temperatures, alphas, epochs, seed) -> str:
    """The name ``grid_search`` keeps a grid under in ``data/cache/sweeps/`` (see ``precomputed``)."""
    labels = "all" if labels_per_class is None else labels_per_class
    return (
        f"03-grid-{labels}-e{epochs}-s{seed}-T{'_'.join(f'{t:g}' for t in temperatures)}"
        f"-a{'_'.join(f'{a:g}' for a in alphas)}"
    )


def grid_search(
    data, logits_train, labels_per_class, temperatures=(1, 2, 4, 8), alphas=(0.0, 0.1, 0.5, 0.9), epochs=8, seed=0
) -> Grid:
    """One distilled student per (T, alpha), scored on the validation split. The grid is also
    kept in ``data/cache/sweeps/`` so ``make precompute`` can publish the full-mode one."""
    acc = np.zeros((len(temperatures), len(alphas)))
    for i, temperature in enumerate(temperatures):
        for j, alpha in enumerate(alphas):
            acc[i, j] = distiller.fit_student(
                data, "distilled", seed, epochs, labels_per_class, logits_train, alpha, temperature
            ).val_accuracy
    grid = Grid(tuple(temperatures), tuple(alphas), acc, labels_per_class, seed, epochs)
    precomputed.keep_sweep(grid_sweep_name(labels_per_class, temperatures, alphas, epochs, seed), grid.as_dict(), data)
    return grid
