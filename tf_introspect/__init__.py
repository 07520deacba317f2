"""tf_introspect: introspective learning -- a classifier distilling knowledge from its own online
explanations (Gu, Wu and Tresp, "Introspective Learning by Distilling Knowledge from Online
Self-explanation"), with the baselines the paper compares against, on Keras 3 / TensorFlow.

Public names: :class:`Introspective` (the training wrapper), :class:`WarmupSwitch` (warm-up
callback), and the modules ``explainers``, ``targets``, ``models``, ``methods``, ``data``.
"""

import os

# Hide TensorFlow's C++ INFO lines (oneDNN notices etc.) unless the user chose a level.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

from tf_introspect import explainers, methods, models, targets  # noqa: E402
from tf_introspect.callbacks import ExplanationImages, WarmupSwitch  # noqa: E402
from tf_introspect.methods import Introspective  # noqa: E402


def __getattr__(name):
    # ``data`` imports tensorflow-datasets lazily; load it on first use.
    if name == "data":
        import importlib
        return importlib.import_module("tf_introspect.data")
    raise AttributeError(f"module 'tf_introspect' has no attribute {name!r}")


__all__ = ["ExplanationImages", "Introspective", "WarmupSwitch", "data", "explainers", "methods",
           "models", "targets"]
