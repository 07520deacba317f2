"""The run's data set settings, resolved with the rest of the configuration
(:func:`tf_introspect.pipeline.config.resolve`): ``--image_size`` as ``(h, w)``, the flags that
belong to the user's own data sets only (``folder:PATH``, ``tfds:NAME``), the model flags that
belong to one kind of model, and the data set's fingerprint, taken when a run reads it; the
limits and hold-out against the data's size, and a per-sample table against the data read."""

import dataclasses

from tf_introspect.pipeline.errors import ConfigError


def _image_size(text):
    if text is None or isinstance(text, tuple | list):
        return None if text is None else tuple(int(v) for v in text)
    try:
        size = tuple(int(v) for v in str(text).split(","))
    except ValueError:
        size = ()
    if len(size) != 2 or min(size) < 1:
        raise ConfigError(f"--image_size must be H,W in pixels (e.g. 64,64), got {text!r}.")
    return size


def resolve_data(values):
    """``--image_size`` as ``(h, w)``; ``--image_size`` and ``--test_split`` belong to the
    user's own data sets only, ``--weights`` to ``keras:NAME`` models, ``--reinitialize`` to
    ``PATH.keras``; a malformed ``folder:`` or ``tfds:`` name is an error. (The fingerprint is
    taken when a run reads the data: :func:`with_data_fingerprint`; a folder need not exist to
    build a configuration.)"""
    from tf_introspect.data import custom, folder, tfds_catalog
    from tf_introspect.models import external

    values["image_size"] = _image_size(values["image_size"])
    if values["weights"] and not external.is_application(values["model"]):
        raise ConfigError(
            f"--weights belongs to a Keras Applications model (--model=keras:NAME), not "
            f"--model={values['model']}."
        )
    if values["reinitialize"] and not external.is_saved(values["model"]):
        raise ConfigError(
            f"--reinitialize belongs to a saved model (--model=PATH.keras), not "
            f"--model={values['model']}."
        )
    if values["dataset"] == folder.PREFIX:
        raise ConfigError("--dataset=folder: names no folder: give --dataset=folder:PATH.")
    if tfds_catalog.is_tfds(values["dataset"]):
        try:
            tfds_catalog.tfds_name(values["dataset"])
        except ValueError as e:
            raise ConfigError(str(e)) from None
    if not custom.is_custom(values["dataset"]):
        given = [f"--{k}" for k in ("image_size", "test_split") if values[k] is not None]
        if given:
            raise ConfigError(
                f"{' and '.join(given)} belong{'s' if len(given) == 1 else ''} to your own "
                f"data set (--dataset=folder:PATH or tfds:NAME), not "
                f"--dataset={values['dataset']}."
            )
    split = values["test_split"]
    if split is not None and not 0 < split < 1:
        raise ConfigError(
            f"--test_split must be a fraction between 0 and 1 (exclusive), e.g. 0.2; got {split:g}."
        )
    values.setdefault("data_fingerprint", None)


def with_data_fingerprint(config):
    """``config`` with its own data set's fingerprint (a folder's files, labels and sizes:
    :func:`tf_introspect.data.folder.scan`; a tfds set's prepared files and version), a
    setting that decides the result: a finished run or a backup on other images is not
    reused. Built-in data sets have none."""
    from tf_introspect.data import custom

    if not custom.is_custom(config.dataset):
        return config
    fingerprint = custom.fingerprint(
        config.dataset, config.data_dir, config.image_size, config.test_split
    )
    return dataclasses.replace(config, data_fingerprint=fingerprint)


def check_sizes(cfg):
    """``--train_limit``, ``--test_limit`` and ``--validation_split`` against the data's
    size (the built-in sets' official sizes, without reading them): a ``ConfigError`` naming
    the bad value and its range, before the run changes its work folder or trains a
    teacher."""
    from tf_introspect import data
    from tf_introspect.data import pipeline

    try:
        cfg.train_examples()
        pipeline.split_size(
            cfg.dataset,
            "test",
            data_dir=cfg.data_dir,
            limit=cfg.test_limit,
            **cfg.data_options(),
        )
    except (data.DataNotFoundError, data.DataFormatError):
        raise
    except ValueError as e:
        raise ConfigError(str(e)) from None


def check_table_rows(method, cfg):
    """A per-sample table's rows (``method.num_examples``, from the official size of a
    built-in data set) must be the training examples the run reads: else a ``ConfigError``
    (the data files are not the official ones), before any step indexes past the table."""
    from tf_introspect.data import pipeline

    x, _ = pipeline.select(
        cfg.dataset,
        "train",
        data_dir=cfg.data_dir,
        limit=cfg.train_limit,
        validation_split=cfg.validation_split,
        **cfg.data_options(),
    )
    if len(x) != method.num_examples:
        raise ConfigError(
            f"--method={cfg.method} keeps a row per training example: {method.num_examples} "
            f"expected from {cfg.dataset}'s official size, but its files under "
            f"{cfg.data_dir} hold {len(x)}; use the official files (python -m "
            "tf_introspect.data info)."
        )
