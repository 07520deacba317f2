"""Models and methods from a run's configuration (the command line's resolved flags).

The one place that turns a configuration dict into Keras objects, used by the command line
(:mod:`tf_introspect.main`), the teachers (:mod:`tf_introspect.teachers`) and the benchmark
(:mod:`tf_introspect.bench`):

* :func:`make_model`: model ``name`` for the configuration's data set (classes, input shape)
  and weight decay (a student, a teacher or an assistant);
* :func:`make_method`: the student and its method (not compiled); bad combinations of
  method, model and teacher fail here, before any data is read, as ``ConfigError``.
"""

from tf_introspect.flags import ConfigError


def make_model(cfg, name, **options):
    """Model ``name`` for ``cfg``'s data set (classes, input shape) and weight decay.

    A model the data set does not fit (every built-in model takes every built-in data set;
    this guards a new one) is a ``ConfigError`` naming the model, the data set and its input
    shape and classes."""
    from tf_introspect import data, models
    info = data.info(cfg["dataset"])
    try:
        return models.get(name, num_classes=info.num_classes, input_shape=info.input_shape,
                          weight_decay=cfg["weight_decay"], **options)
    except ValueError as e:
        raise ConfigError(f"model {name} cannot be built for {cfg['dataset']} (inputs "
                          f"{info.input_shape}, {info.num_classes} classes): {e}") from None


def make_method(cfg, teacher=None):
    """The student of ``cfg`` wrapped in its method (not compiled). Fails fast, as
    ``ConfigError``, on bad combinations of method, model and teacher."""
    from tf_introspect import methods
    try:
        spec = methods.entry(cfg["method"])
        model = make_model(cfg, cfg["model"], **spec.model_options(cfg))
        return methods.build(cfg["method"], model, cfg, teacher)
    except ConfigError:
        raise
    except ValueError as e:
        message = str(e)
        if teacher is not None and cfg.get("teacher") and spec.teacher != "assistant":
            # a teacher file's model has whatever name it was saved with: say which is which
            message += (f" (student: --model={cfg['model']}; teacher: --teacher="
                        f"{cfg['teacher']}, model {teacher.name!r})")
        raise ConfigError(message) from e
