"""The command line's training pipeline (:mod:`tf_introspect.pipeline`), set up for the
benchmark's fit, keras and user_api parts: the one module of the benchmark that builds a run
configuration (a :class:`~tf_introspect.pipeline.config.RunConfig`, which the fit, user_api
and protocols modules read) and uses the pipeline's functions.

A case is a paper cell's flag file resolved as the command line resolves it
(``pipeline.config.from_args``), cut with ``--train_limit`` / ``--test_limit`` to the bench's
batches; its data set comes from ``--data_dir`` or the first of ``<repo>/data`` and
``<repo>/../shared/data`` holding it, else random pixels go through the real pipeline (fine for
timing, and reported). The method is built by ``pipeline.build.make_method`` (teachers: the
architecture with random weights) and compiled by ``pipeline.training.compile_method``
(``--jit_compile=auto``: XLA for the MLP), the data comes from ``pipeline.training.datasets``
(the real pipeline: shuffling, CIFAR augmentation), under the command line's op determinism
(``pipeline.training.seed_everything``: on unless XLA).
"""

import contextlib
import dataclasses
import math
import os

from tf_introspect.bench.cases import REPO, TEST_SIZE, TRAIN_SIZE


def define_flags():
    """The command line's flags, defined on absl's global flags (the bench reads
    ``--precision``, ``--data_dir`` and ``--steps_per_execution`` of them)."""
    from tf_introspect.pipeline import flags

    flags.define_flags()


def config(args):
    """The command line's configuration of its arguments ``args``."""
    from tf_introspect.pipeline import config as run_config

    return run_config.from_args(args)


def cell_config(flagfile, extra=()):
    """The configuration of the flag file ``flagfile`` (a path in the repository) and ``extra``
    arguments."""
    return config([f"--flagfile={os.path.join(REPO, flagfile)}", *extra])


def case_config(flagfile, batches, eval_batches, data_dir, extra=()):
    """The command line's configuration for a paper cell's flag file, cut to ``batches``
    training and ``eval_batches`` test batches."""
    batch = cell_config(flagfile, extra).batch_size
    args = [f"--train_limit={batch * batches}", f"--test_limit={batch * eval_batches}", *extra]
    if data_dir:
        args.append(f"--data_dir={data_dir}")
    return cell_config(flagfile, args)


def find_data_dir(dataset, data_dir=None):
    """``(data_dir, True)`` where ``dataset`` is found, else ``(None, False)``."""
    from tf_introspect import data

    candidates = (
        [data_dir]
        if data_dir
        else [os.path.join(REPO, "data"), os.path.join(REPO, "..", "shared", "data")]
    )
    for folder in candidates:
        try:
            data.load_arrays(dataset, "test", os.path.abspath(folder))
            return os.path.abspath(folder), True
        except (data.DataNotFoundError, data.DataFormatError, OSError):
            continue
    return None, False


def data_source(folder, found):
    return (
        f"real ({os.path.relpath(folder, REPO)})" if found else "random pixels (data set not found)"
    )


@contextlib.contextmanager
def random_pixels():
    """``data.load_arrays`` gives random uint8 images of the data set's shape (the full
    split's size): the real pipeline on fake pixels, for timing without the data."""
    import numpy as np

    from tf_introspect import data
    from tf_introspect.data import pipeline  # make_dataset's own name for it

    real = data.load_arrays

    def fake(name, split, data_dir=None):
        info = data.info(name)
        n = TEST_SIZE if split == "test" else TRAIN_SIZE[name]
        rng = np.random.default_rng(0)
        return (
            rng.integers(0, 256, size=(n, *info.input_shape), dtype=np.uint8),
            rng.integers(0, info.num_classes, size=n).astype(np.int64),
        )

    data.load_arrays = pipeline.load_arrays = fake
    try:
        yield
    finally:
        data.load_arrays = pipeline.load_arrays = real


@contextlib.contextmanager
def cell_data(flagfile, data_dir):
    """``(folder, found)`` of the data set of the flag file ``flagfile`` (:func:`find_data_dir`);
    inside, random pixels through the real pipeline when it is not found (:func:`random_pixels`)."""
    folder, found = find_data_dir(cell_config(flagfile).dataset, data_dir)
    with contextlib.nullcontext() if found else random_pixels():
        yield folder, found


@contextlib.contextmanager
def cli_determinism(cfg):
    """TensorFlow's op determinism as ``seed_everything`` sets it for ``cfg`` (on with
    ``--deterministic`` unless the step is XLA-compiled), put back as it was afterwards."""
    from tf_introspect.pipeline import training

    with contextlib.ExitStack() as cleanup:
        training.seed_everything(cfg, cleanup)
        yield bool(cfg.deterministic and not cfg.jit_compile)


def cli_method(cfg, steps_per_execution=None):
    """Method built and compiled as ``pipeline.run`` does (teacher: the architecture,
    untrained); the learning-rate schedule counts full-size epochs. ``steps_per_execution``:
    instead of the command line's choice."""
    from tf_introspect.pipeline import registry, teachers, training
    from tf_introspect.pipeline.build import make_method

    if steps_per_execution:
        cfg = dataclasses.replace(cfg, steps_per_execution=steps_per_execution)
    teacher = teachers.architecture(cfg, registry.entry(cfg.method).teacher)
    method = make_method(cfg, teacher)
    full = math.ceil(TRAIN_SIZE[cfg.dataset] / cfg.batch_size)
    training.compile_method(method, cfg, full)
    return method


def datasets(cfg):
    """``(train, validation, test)`` as the command line builds them for ``cfg``."""
    from tf_introspect.pipeline import training

    return training.datasets(cfg)
