"""The workbook's shared code. Import it first in every notebook, before anything touches TensorFlow:

    import helpers
    helpers.setup()

Importing sets ``TF_USE_LEGACY_KERAS=1`` (TF-MOT needs Keras 2), imports TensorFlow with its
start-up noise kept out of cell outputs, and quiets TensorFlow's Python logging.
"""

from . import config  # noqa: I001 - must run before TensorFlow is imported

if config.in_notebook_kernel():
    config.redirect_native_stderr()

import platform  # noqa: E402
from importlib.metadata import PackageNotFoundError, version  # noqa: E402

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

config.quiet_python_logs()

from . import (  # noqa: E402
    board_checks,
    board_design,
    board_explorer,
    board_fit,
    board_lowbit,
    board_training,
    boundary,
    capstone,
    checks,
    clustering,
    data,
    distillation,
    distillation_explorer,
    distillation_studies,
    export,
    fidelity,
    fit_explorer,
    fit_plots,
    latency_board,
    lowbit,
    lowbit_checks,
    lowbit_explorer,
    lowbit_mixed,
    measure,
    micro,
    micro_boards,
    micro_export,
    micro_lut,
    model_files,
    models,
    plots,
    precomputed,
    pruning,
    pruning_explorer,
    quantization,
    quantization_explorer,
    results,
    speed,
    speed_checks,
    speed_explorer,
    speed_plots,
    structured,
    widgets,
)

DEFAULT_SEED = models.DEFAULT_SEED

__all__ = [
    "board_checks",
    "board_design",
    "board_explorer",
    "board_fit",
    "board_lowbit",
    "board_training",
    "boundary",
    "capstone",
    "checks",
    "clustering",
    "config",
    "data",
    "distillation",
    "distillation_explorer",
    "distillation_studies",
    "export",
    "fidelity",
    "fit_explorer",
    "fit_plots",
    "keras",
    "latency_board",
    "lowbit",
    "lowbit_checks",
    "lowbit_explorer",
    "lowbit_mixed",
    "measure",
    "micro",
    "micro_boards",
    "micro_export",
    "micro_lut",
    "model_files",
    "models",
    "plots",
    "precomputed",
    "pruning",
    "pruning_explorer",
    "quantization",
    "quantization_explorer",
    "results",
    "setup",
    "speed",
    "speed_checks",
    "speed_explorer",
    "speed_plots",
    "structured",
    "tf",
    "widgets",
]


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def setup(seed: int = DEFAULT_SEED) -> config.Mode:
    """Start a lesson: check the mode and Keras, fix seeds, set plot defaults, print what runs.

    Raises ``WorkbookConfigError`` for a ``WORKBOOK_FAST`` value it does not understand.
    """
    mode = config.current_mode()
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    _plot_defaults()
    config.freeze_heap()

    if tf.keras.Sequential is not keras.Sequential:
        raise RuntimeError(
            "tf.keras is Keras 3 in this kernel, but TF-MOT needs Keras 2 (tf_keras). "
            "TensorFlow was imported before helpers. Restart the kernel and run "
            "`import helpers` before any other import."
        )
    print(
        f"mode: {mode.name.upper()} (WORKBOOK_FAST={'1' if mode.fast else '0'})"
        + (" - class-balanced subset, few epochs" if mode.fast else " - all data, full training")
        + f" · seed {seed}"
    )
    print(
        f"python {platform.python_version()} · tensorflow {tf.__version__} · tf_keras {keras.__version__}"
        f" · tfmot {_version('tensorflow-model-optimization')} · ai-edge-litert {_version('ai-edge-litert')}"
    )
    print(f"data: {data.describe_source()}")
    log = config.native_log_path()
    if log is not None:
        print(f"TensorFlow's C++ log lines go to {config.display_path(log)}, not to this notebook.")
    return mode


def _plot_defaults() -> None:
    import matplotlib as mpl

    mpl.rcParams.update({"figure.dpi": 72, "savefig.dpi": 72, "font.size": 9, "figure.max_open_warning": 0})
    try:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None:
            shell.run_line_magic("config", "InlineBackend.figure_formats = ['png']")
            shell.run_line_magic("matplotlib", "inline")
    except Exception:  # outside IPython there is nothing to configure
        pass
