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

config.setup_tf_threads(tf)  # pools sized to the CPUs this process may use (cgroup quota, affinity)
import tf_keras as keras  # noqa: E402

config.quiet_python_logs()

import importlib  # noqa: E402

from . import colab, conversion_check, data, i18n, keras_compat, measure, models, precomputed, results  # noqa: E402

# The map (helpers/README.md says the same in prose): the core above, then the user-interface plumbing
# every explorer shares, then one package per lesson. A module imports only the core, helpers.ui and
# its own or an earlier lesson's package (tests/test_layout_map.py fails on anything else, and on a cycle).
PACKAGES = {
    "ui": ("verdict", "caption", "layout", "raster", "board_plots", "board_figure", "pointable_board", "explorer", "class_board"),
    "baseline": ("figures", "exercises"),  # lesson 00
    "pruning": ("sparsity", "schedule", "magnitude", "figures", "explorer", "exercises"),  # lesson 01
    "structured_pruning": ("units", "graph", "graph_rebuild", "speed", "figures", "explorer", "exercises"),  # lesson 01b
    "quantization": ("quantize", "qat", "figures", "explorer", "exercises"),  # lesson 02
    "low_bit": ("quantizer", "sizes", "mixed_precision", "explorer", "exercises"),  # lesson 02b
    "distillation": ("distiller", "studies", "figures", "explorer", "exercises"),  # lesson 03
    "combining": ("clustering", "headline", "export", "figures", "board_explorer", "latency_explorer", "exercises"),  # 04
    "microcontroller": (  # lesson 05
        "tflm",
        "tflm_run", "tflm_ops", "lut", "footprint", "devices", "c_export", "designs", "design_training", "ablation",
        "int4",
        "figures", "explorer", "exercises",
    ),
    "your_model": ("model_files", "reader_data", "compress", "memory", "mobilenet"),  # lesson 06
}
for _package, _modules in PACKAGES.items():
    for _module in _modules:
        importlib.import_module(f"{__name__}.{_package}.{_module}")
from . import (  # noqa: E402
    baseline,
    combining,
    distillation,
    low_bit,
    microcontroller,
    pruning,
    quantization,
    structured_pruning,
    ui,
    your_model,
)

DEFAULT_SEED = models.DEFAULT_SEED

__all__ = [
    "baseline",
    "colab",
    "combining",
    "config",
    "conversion_check",
    "data",
    "distillation",
    "i18n",
    "keras",
    "keras_compat",
    "low_bit",
    "measure",
    "microcontroller",
    "models",
    "precomputed",
    "pruning",
    "quantization",
    "results",
    "setup",
    "structured_pruning",
    "tf",
    "ui",
    "your_model",
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
    t = i18n.t  # Chinese in a notebook under notebooks/zh-CN/ (helpers/i18n.py)
    if i18n.language() == i18n.CHINESE:  # a WORKBOOK_LANG it does not understand fails here, before any output
        i18n.install()  # the lesson's printed sentences in Chinese from here on (translations/zh-CN/*.json "prints")
    print(
        t("mode: {mode} (WORKBOOK_FAST={flag})", mode=mode.name.upper(), flag="1" if mode.fast else "0")
        + t(" - class-balanced subset, few epochs" if mode.fast else " - all data, full training")
        + t(" · seed {seed}", seed=seed)
    )
    print(
        f"python {platform.python_version()} · tensorflow {tf.__version__} · tf_keras {keras.__version__}"
        f" · tfmot {_version('tensorflow-model-optimization')} · ai-edge-litert {_version('ai-edge-litert')}"
    )
    print(t("data: {source}", source=data.describe_source()))
    log = config.native_log_path()
    if log is not None:
        print(t("TensorFlow's C++ log lines go to {path}, not to this notebook.", path=config.display_path(log)))
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
