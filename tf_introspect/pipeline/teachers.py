"""Teachers for the teacher- and peer-based methods of the command line (paper 3, 5.2, 5.3).

What a method needs is its registry entry's ``teacher`` kind
(:mod:`tf_introspect.pipeline.registry`):

* ``teacher`` (kd, cwtm*, dkpp, hint, at, fsp): ``--teacher=PATH.keras``, or
  ``--teacher_model=NAME`` trained first with CE into ``--teacher_workdir`` (default
  ``<workdir>/teacher``; point several runs at one folder to share one teacher);
* ``self`` (ban, ban_l, tfkd_self): the same, with ``--teacher_model`` defaulting to the
  student's model;
* ``assistant`` (takd): a teacher as above, then ``--assistant_model`` distilled from it with KD
  into ``<workdir>/assistant``; the student learns from the assistant.

Trained teachers are cached: a sub-run whose ``metrics.json`` exists is reused (after checking
it holds the same model and data set), and an interrupted one resumes from its own backup.
:func:`architecture` gives the model to build the method with *before* any training (so bad
combinations fail at start); :func:`prepare` trains what is missing and loads the weights into
it.
"""

import os

from tf_introspect.pipeline.build import make_model
from tf_introspect.pipeline.config import ConfigError, RunConfig

TEACHER_FLAGS = ("teacher", "teacher_model", "assistant_model", "teacher_workdir")


def architecture(cfg: RunConfig, kind: str):
    """The (untrained, or loaded) model the method distils from, or None. Validates flags."""
    import keras

    method = cfg.method
    given = [f"--{f}" for f in TEACHER_FLAGS if getattr(cfg, f)]
    if kind == "none":
        if given:
            raise ConfigError(f"--method={method} uses no teacher; remove {', '.join(given)}.")
        return None
    if cfg.teacher and cfg.teacher_model:
        raise ConfigError("Give either --teacher=PATH.keras or --teacher_model=NAME, not both.")
    if kind == "assistant":
        if not cfg.assistant_model:
            raise ConfigError(
                f"--method={method} needs --assistant_model=NAME (e.g. resnet14) "
                "besides the teacher."
            )
        if not (cfg.teacher or cfg.teacher_model):
            raise ConfigError(
                f"--method={method} needs --teacher=PATH.keras or "
                "--teacher_model=NAME (e.g. resnet26)."
            )
        return make_model(cfg, cfg.assistant_model)
    if cfg.assistant_model:
        raise ConfigError(f"--assistant_model is for --method=takd, not {method}.")
    if cfg.teacher:
        if not os.path.exists(cfg.teacher):
            raise ConfigError(f"--teacher={cfg.teacher}: no such file.")
        try:
            teacher = keras.models.load_model(cfg.teacher)
        except (ValueError, OSError) as e:
            raise ConfigError(
                f"--teacher={cfg.teacher} is not a Keras model file (a "
                f".keras file written by model.save, e.g. a run's model.keras): "
                f"{e}"
            ) from None
        return check_teacher(cfg, teacher)
    name = cfg.teacher_model_name(kind)
    if name is None:
        raise ConfigError(
            f"--method={method} needs a teacher: --teacher=PATH.keras or "
            "--teacher_model=NAME (e.g. resnet26, or cnn10 for Table 1)."
        )
    return make_model(cfg, name)


def _sub_run(cfg, run, sub, **changes):
    """Train (or reuse) a sub-model (:meth:`RunConfig.sub_run`); return its model.keras path.
    ``run`` reuses a finished run after checking it has the same settings."""
    sub_cfg = cfg.sub_run(sub, **changes)
    print(f"The {sub}: {sub_cfg.method} {sub_cfg.model} in {sub_cfg.workdir}.")
    metrics = run(sub_cfg, shared=True)  # a shared teacher folder: wait, then reuse
    print(f"The {sub} has test accuracy {metrics['test_accuracy']:.4f}.")
    return metrics["model_path"]


def check_teacher(cfg: RunConfig, teacher):
    """A given teacher must take the data set's inputs and predict its classes."""
    info = cfg.dataset_info()
    if (
        tuple(teacher.input_shape[1:]) != tuple(info.input_shape)
        or teacher.output_shape[-1] != info.num_classes
    ):
        raise ConfigError(
            f"--teacher={cfg.teacher} maps {teacher.input_shape[1:]} to "
            f"{teacher.output_shape[-1]} classes; {cfg.dataset} needs "
            f"{info.input_shape} to {info.num_classes}."
        )
    return teacher


def prepare(cfg: RunConfig, kind: str, model, run) -> dict:
    """Train what ``model`` (from :func:`architecture`) needs and load its weights into it.

    ``run`` is :func:`tf_introspect.pipeline.training.run`. Returns a dict of the paths used,
    for the run's ``metrics.json``.
    """
    import keras

    if kind == "none" or (kind != "assistant" and cfg.teacher):
        return {"teacher": cfg.teacher} if cfg.teacher else {}
    teacher_path = cfg.teacher or _sub_run(
        cfg, run, "teacher", method="ce", model=cfg.teacher_model_name(kind)
    )
    used = {"teacher": teacher_path}
    if kind == "assistant":
        used["assistant"] = path = _sub_run(
            cfg, run, "assistant", method="kd", model=cfg.assistant_model, teacher=teacher_path
        )
    else:
        path = teacher_path
    model.set_weights(keras.models.load_model(path).get_weights())
    return used
