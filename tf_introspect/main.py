"""Train one model with one method: ``python -m tf_introspect.main --method=le --model=resnet8``.

The flags are defined in :mod:`tf_introspect.pipeline.flags` (``--helpfull``; unset ones take
the paper's values for the model, :mod:`tf_introspect.pipeline.config`); flag files for the
paper's table cells are in ``flags/`` (``--flagfile=flags/table3/mlp1024_le.flags``). This
module parses them into a :class:`~tf_introspect.pipeline.config.RunConfig` and runs it
(:func:`tf_introspect.pipeline.training.run`, which documents the outputs).
"""

import os

from absl import app, logging
from absl import flags as absl_flags

from tf_introspect.pipeline import config, flags, method_flags, settings, training

flags.define_flags()
for module in (flags, method_flags):  # --helpshort lists them
    absl_flags.adopt_module_key_flags(module)
FLAGS = flags.FLAGS


def warn_unused_flags(cfg):
    """Warn about given flags that have no effect with ``cfg``'s method (not a teacher's
    flags for a method without one, nor ``--assistant_model`` but with TAKD: the run refuses
    them with its own error), and about flags that nothing else in ``cfg`` uses: the
    teacher-training flags beside ``--teacher=PATH``, ``--explanation_samples`` for a method
    that explains nothing, ``--data_dir`` with a ``folder:PATH`` data set."""
    from tf_introspect.pipeline import registry, teachers

    given = [name for name in flags.flag_names() if FLAGS[name].present]
    spec = registry.entry(cfg.method)
    unused = settings.unused_method_flags(cfg.method, given)
    refused = teachers.TEACHER_FLAGS if spec.teacher == "none" else ("assistant_model",)
    unused = [name for name in unused if name not in refused]
    if unused:
        own = settings.METHOD_FLAGS.get(cfg.method, ())
        logging.warning(
            "%s: no effect with --method=%s (its own flags: %s).",
            ", ".join(f"--{name}" for name in unused),
            cfg.method,
            ", ".join(f"--{name}" for name in own) or "none",
        )
    idle = []  # (flags, why they have no effect)
    if spec.teacher != "none" and cfg.teacher:  # TAKD's assistant still trains: epochs, seed
        training = ("teacher_model", "teacher_workdir")
        if spec.teacher != "assistant":
            training += ("teacher_epochs", "teacher_seed")
        idle.append((training, "a trained --teacher=PATH (the teacher is not trained here)"))
    if not spec.explains:
        idle.append((("explanation_samples",), f"--method={cfg.method}, which explains nothing"))
    if cfg.dataset.startswith("folder:"):
        idle.append((("data_dir",), "a folder:PATH data set (the path is --dataset's)"))
    for names, why in idle:
        present = [f"--{name}" for name in names if name in given]
        if present:
            logging.warning("%s: no effect with %s.", ", ".join(present), why)


def warn_schedule(cfg):
    """Warn about learning-rate settings that never act: boundaries at or beyond the run's
    last epoch (Hint's and FSP's counted from stage 2, as their schedule is), and a given
    ``--lr_decay`` with no boundary to apply it at."""
    late = [b for b in cfg.lr_boundaries if b >= cfg.epochs]
    if late:
        logging.warning(
            "--lr_boundaries %s: at or beyond --epochs=%d, so the learning rate never decays "
            "there%s. Give boundaries below %d, or --lr_boundaries= for a constant rate.",
            ",".join(map(str, cfg.lr_boundaries)),
            cfg.epochs,
            " (the boundaries are the paper's for 160 epochs)"
            if not FLAGS["lr_boundaries"].present
            else "",
            cfg.epochs,
        )
    if FLAGS["lr_decay"].present and not cfg.lr_boundaries:
        logging.warning(
            "--lr_decay=%g: no effect, there are no --lr_boundaries to apply it at (%s).",
            cfg.lr_decay,
            "--lr_schedule=step without boundaries: a constant rate"
            if cfg.lr_schedule == "step"
            else f"--lr_schedule={cfg.lr_schedule} decays to 0 by itself",
        )


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    from tf_introspect import data
    from tf_introspect.callbacks import TrainingDiverged

    if FLAGS.list_models:
        from tf_introspect import models

        print("The paper's models: " + ", ".join(models.list_models()))
        print(
            "Keras Applications (--model=keras:NAME): "
            + ", ".join(models.external.application_names())
        )
        print("A saved classifier: --model=PATH.keras")
        return

    try:
        cfg = config.from_flags(FLAGS)
        warn_unused_flags(cfg)
        warn_schedule(cfg)
        from tf_introspect.models import external

        if external.is_external(cfg.model):
            logging.info(
                "%s is not one of the paper's models: the ResNet family's defaults apply unless "
                "flags say otherwise (batch %d, SGD lr %g, momentum %g, weight decay %g, "
                "%d epoch(s), --lr_schedule=%s with boundaries at epochs %s).",
                cfg.model,
                cfg.batch_size,
                cfg.lr,
                cfg.momentum,
                cfg.weight_decay,
                cfg.epochs,
                cfg.lr_schedule,
                ",".join(map(str, cfg.lr_boundaries)) or "-",
            )
        metrics = training.run(cfg)
    except (
        config.ConfigError,
        data.DataNotFoundError,
        data.DataFormatError,
        TrainingDiverged,
    ) as e:
        raise SystemExit(f"error: {e}") from None
    print(
        f"{cfg.method} {cfg.model} {cfg.dataset}: test accuracy "
        f"{metrics['test_accuracy']:.4f} (error {metrics['test_error']:.4f}) after "
        f"{cfg.epochs} epoch(s), {metrics['wall_time_s']} s; wrote "
        f"{os.path.join(os.path.dirname(metrics['model_path']), 'metrics.json')}"
    )


def parse_flags(argv):
    """absl's flag parsing with a one-line error: the bad flag or value, where it came from
    (the command line or a --flagfile) and where to look; exit status 1, no traceback."""
    try:
        return FLAGS(argv)
    except absl_flags.Error as e:
        files = [a.split("=", 1)[1] for a in argv[1:] if a.startswith("--flagfile=")]
        source = f" (command line or --flagfile={', '.join(files)})" if files else ""
        message = " ".join(str(e).split()).rstrip(".")
        raise SystemExit(
            f"error: {message}{source}; python -m tf_introspect.main --helpshort lists the flags."
        ) from None


def run_cli():
    """Console-script entry point (``tf-introspect``)."""
    app.run(main, flags_parser=parse_flags)


if __name__ == "__main__":
    run_cli()
