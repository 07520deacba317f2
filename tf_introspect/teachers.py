"""Teachers for the teacher- and peer-based methods of the command line (paper 3, 5.2, 5.3).

What a method needs is its registry entry's ``teacher`` kind (:mod:`tf_introspect.methods`):

* ``teacher`` (kd, cwtm*, dkpp, hint, at, fsp): ``--teacher=PATH.keras``, or
  ``--teacher_model=NAME`` trained first with CE into ``--teacher_workdir`` (default
  ``<workdir>/teacher``; point several runs at one folder to share one teacher);
* ``self`` (ban, ban_l): the same, with ``--teacher_model`` defaulting to the student's model;
* ``assistant`` (takd): a teacher as above, then ``--assistant_model`` distilled from it with KD
  into ``<workdir>/assistant``; the student learns from the assistant.

Trained teachers are cached: a sub-run whose ``metrics.json`` exists is reused (after checking
it holds the same model and data set), and an interrupted one resumes from its own backup. :func:`architecture` gives the model to build the
method with *before* any training (so bad combinations fail at start); :func:`prepare` trains
what is missing and loads the weights into it.
"""

import os

from tf_introspect.build import make_model
from tf_introspect.flags import ConfigError

TEACHER_FLAGS = ("teacher", "teacher_model", "assistant_model", "teacher_workdir")


def teacher_model_name(cfg, kind):
    return cfg.get("teacher_model") or (cfg["model"] if kind == "self" else None)


def architecture(cfg, kind):
    """The (untrained, or loaded) model the method distils from, or None. Validates flags."""
    import keras
    method = cfg["method"]
    given = [f"--{f}" for f in TEACHER_FLAGS if cfg.get(f)]
    if kind == "none":
        if given:
            raise ConfigError(f"--method={method} uses no teacher; remove {', '.join(given)}.")
        return None
    if cfg.get("teacher") and cfg.get("teacher_model"):
        raise ConfigError("Give either --teacher=PATH.keras or --teacher_model=NAME, not both.")
    if kind == "assistant":
        if not cfg.get("assistant_model"):
            raise ConfigError(f"--method={method} needs --assistant_model=NAME (e.g. resnet14) "
                              "besides the teacher.")
        if not (cfg.get("teacher") or cfg.get("teacher_model")):
            raise ConfigError(f"--method={method} needs --teacher=PATH.keras or "
                              "--teacher_model=NAME (e.g. resnet26).")
        return make_model(cfg, cfg["assistant_model"])
    if cfg.get("assistant_model"):
        raise ConfigError(f"--assistant_model is for --method=takd, not {method}.")
    if cfg.get("teacher"):
        if not os.path.exists(cfg["teacher"]):
            raise ConfigError(f"--teacher={cfg['teacher']}: no such file.")
        try:
            teacher = keras.models.load_model(cfg["teacher"])
        except (ValueError, OSError) as e:
            raise ConfigError(f"--teacher={cfg['teacher']} is not a Keras model file (a "
                              f".keras file written by model.save, e.g. a run's model.keras): "
                              f"{e}") from None
        return check_teacher(cfg, teacher)
    name = teacher_model_name(cfg, kind)
    if name is None:
        raise ConfigError(f"--method={method} needs a teacher: --teacher=PATH.keras or "
                          "--teacher_model=NAME (e.g. resnet26, or cnn10 for Table 1).")
    return make_model(cfg, name)


def _sub_run(cfg, run, sub, workdir=None, **changes):
    """Train (or reuse) a sub-model in ``workdir`` (default ``<workdir>/<sub>``); return its
    model.keras path. ``run`` reuses a finished run after checking it has the same settings.

    A sub-model is trained with ``--teacher_seed`` (one teacher for every seed of a cell, as
    the paper's five trials share theirs) on the student's training data: with
    ``--validation_split`` it is trained without the held-out images, in its own folder
    (``<workdir>_holdout<N>``), so that no teacher has seen a grid's validation set.
    """
    workdir = workdir or os.path.join(cfg["workdir"], sub)
    if cfg.get("validation_split"):
        workdir = f"{workdir.rstrip(os.sep)}_holdout{cfg['validation_split']}"
    sub_cfg = {**cfg, "workdir": workdir, "epochs": cfg.get("teacher_epochs") or cfg["epochs"],
               "seed": cfg.get("teacher_seed") or 0, "teacher": None, "teacher_model": None,
               "assistant_model": None, "teacher_workdir": None, "overwrite": False,
               **changes}
    print(f"The {sub}: {sub_cfg['method']} {sub_cfg['model']} in {workdir}.")
    metrics = run(sub_cfg, shared=True)   # a shared teacher folder: wait, then reuse
    print(f"The {sub} has test accuracy {metrics['test_accuracy']:.4f}.")
    return metrics["model_path"]


def check_teacher(cfg, teacher):
    """A given teacher must take the data set's inputs and predict its classes."""
    from tf_introspect import data
    info = data.info(cfg["dataset"])
    if (tuple(teacher.input_shape[1:]) != tuple(info.input_shape)
            or teacher.output_shape[-1] != info.num_classes):
        raise ConfigError(f"--teacher={cfg['teacher']} maps {teacher.input_shape[1:]} to "
                          f"{teacher.output_shape[-1]} classes; {cfg['dataset']} needs "
                          f"{info.input_shape} to {info.num_classes}.")
    return teacher


def prepare(cfg, kind, model, run):
    """Train what ``model`` (from :func:`architecture`) needs and load its weights into it.

    ``run`` is :func:`tf_introspect.main.run`. Returns a dict of the paths used, for the
    run's ``metrics.json``.
    """
    import keras
    if kind == "none" or (kind != "assistant" and cfg.get("teacher")):
        return {"teacher": cfg.get("teacher")} if cfg.get("teacher") else {}
    teacher_path = cfg.get("teacher") or _sub_run(
        cfg, run, "teacher", cfg.get("teacher_workdir"), method="ce",
        model=teacher_model_name(cfg, kind))
    used = {"teacher": teacher_path}
    if kind == "assistant":
        used["assistant"] = path = _sub_run(cfg, run, "assistant", method="kd",
                                            model=cfg["assistant_model"], teacher=teacher_path)
    else:
        path = teacher_path
    model.set_weights(keras.models.load_model(path).get_weights())
    return used
