"""tf_introspect: introspective learning -- a classifier distilling knowledge from its own online
explanations (Gu, Wu and Tresp, "Introspective Learning by Distilling Knowledge from Online
Self-explanation"), with the baselines the paper compares against, on Keras 3 / TensorFlow.

Public names: :class:`Introspective` (the training wrapper), :class:`WarmupSwitch` (warm-up
callback), :class:`ExplanationImages` (TensorBoard images), :class:`SimilarityDiagnostics`
(does LE's target point where the model errs?), and the modules ``explainers``, ``targets``,
``models``, ``methods`` (every method of the paper), ``data``, ``calibration`` (NLL, ECE),
``diagnostics`` (LE's targets against label smoothing).
"""

from tf_introspect import startup

# before anything imports TensorFlow: its start-up lines stay off the terminal unless
# TF_CPP_MIN_LOG_LEVEL asks for them (tf_introspect/startup.py)
startup.import_tensorflow_quietly()

from tf_introspect import (  # noqa: E402
    calibration,
    data,
    diagnostics,
    explainers,
    methods,
    models,
    targets,
)
from tf_introspect.callbacks import (  # noqa: E402
    ExplanationImages,
    SimilarityDiagnostics,
    WarmupSwitch,
)
from tf_introspect.methods import Introspective  # noqa: E402

__all__ = [
    "ExplanationImages",
    "Introspective",
    "SimilarityDiagnostics",
    "WarmupSwitch",
    "calibration",
    "data",
    "diagnostics",
    "explainers",
    "methods",
    "models",
    "targets",
]
