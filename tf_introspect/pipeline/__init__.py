"""The training pipeline: a run configuration in, a finished run out.

* :mod:`~tf_introspect.pipeline.flags`: the command line's flags (absl);
* :mod:`~tf_introspect.pipeline.config`: :class:`RunConfig`, the one frozen, typed
  configuration of a run, built once from the flags with every default resolved and checked;
* :mod:`~tf_introspect.pipeline.settings`: which settings decide a result, and comparing them;
* :mod:`~tf_introspect.pipeline.registry`: how each method is built from a configuration;
* :mod:`~tf_introspect.pipeline.build`, :mod:`~tf_introspect.pipeline.teachers`: models,
  methods and teachers from a configuration;
* :mod:`~tf_introspect.pipeline.workdir`, :mod:`~tf_introspect.pipeline.outputs`: the work
  folder's lock, backup and resuming; the output files read back;
* :mod:`~tf_introspect.pipeline.distribute`: ``--strategy``;
* :mod:`~tf_introspect.pipeline.training`: :func:`run`, from a configuration to the outputs.

``python -m tf_introspect.main`` parses the flags and calls :func:`run`; the benchmark and
the experiment runner use the same functions. It builds on the library (``data``, ``models``,
``explainers``, ``targets``, ``methods``, ``callbacks``), which reads no configuration.
"""

from tf_introspect.pipeline import (  # noqa: F401
    build,
    config,
    distribute,
    flags,
    outputs,
    registry,
    settings,
    teachers,
    training,
    workdir,
)
from tf_introspect.pipeline.config import ConfigError, RunConfig, from_args, resolve
from tf_introspect.pipeline.training import run

__all__ = ["ConfigError", "RunConfig", "from_args", "resolve", "run"]
