"""Models and methods from a :class:`~tf_introspect.pipeline.config.RunConfig`.

The one place that turns a configuration into Keras objects, used by the training run
(:mod:`tf_introspect.pipeline.training`), the teachers (:mod:`tf_introspect.pipeline.teachers`)
and the benchmark (:mod:`tf_introspect.bench`):

* :func:`make_model`: model ``name`` for the configuration's data set (classes, input shape)
  and weight decay (a student, a teacher or an assistant);
* :func:`make_method`: the student and its method (not compiled); bad combinations of
  method, model and teacher fail here, before any data is read, as ``ConfigError``.
"""

from tf_introspect.pipeline import registry
from tf_introspect.pipeline.config import ConfigError, RunConfig


def make_model(config: RunConfig, name: str, **options):
    """Model ``name`` for ``config``'s data set (classes, input shape) and weight decay.

    A model the data set does not fit (every built-in model takes every built-in data set;
    this guards a new one) is a ``ConfigError`` naming the model, the data set and its input
    shape and classes."""
    from tf_introspect import models
    from tf_introspect.models import external

    info = config.dataset_info()
    if name == config.model and external.is_application(name) and config.weights:
        options = {**options, "weights": config.weights}
    if name == config.model and external.is_saved(name) and config.reinitialize:
        options = {**options, "reinitialize": True}
    try:
        return models.get(
            name,
            num_classes=info.num_classes,
            input_shape=info.input_shape,
            weight_decay=config.weight_decay,
            **options,
        )
    except ValueError as e:
        raise ConfigError(
            f"model {name} cannot be built for {config.dataset} (inputs "
            f"{info.input_shape}, {info.num_classes} classes): {e}"
        ) from None


def make_method(config: RunConfig, teacher=None):
    """The student of ``config`` wrapped in its method (not compiled). Fails fast, as
    ``ConfigError``, on bad combinations of method, model and teacher."""
    try:
        spec = registry.entry(config.method)
        model = make_model(config, config.model, **spec.model_options(config))
        return registry.build(model, config, teacher)
    except ConfigError:
        raise
    except ValueError as e:
        message = str(e)
        if teacher is not None and config.teacher and spec.teacher != "assistant":
            # a teacher file's model has whatever name it was saved with: say which is which
            message += (
                f" (student: --model={config.model}; teacher: --teacher="
                f"{config.teacher}, model {teacher.name!r})"
            )
        raise ConfigError(message) from e
