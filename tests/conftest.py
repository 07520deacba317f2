"""Shared test set-up: quiet TensorFlow, deterministic seeds, paths to the shared real data."""

import os
import pathlib
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def process_env(**more):
    """The environment of the processes tests start, from the test's own (as monkeypatch left
    it) at the call: TensorFlow's C++ log quiet, no attempt to download through tfds (no
    internet here; tests read local files), output unbuffered; ``more`` added."""
    return {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "TF_INTROSPECT_NO_TFDS": "1",
        "PYTHONUNBUFFERED": "1",
        **more,
    }


def python(*args, env=None, cwd=REPO, timeout=300):
    """``python ARGS`` with this interpreter in ``cwd`` and ``env`` (default
    :func:`process_env`): the finished process, its output captured as text."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=process_env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def cli(*args, timeout=300):
    """``python -m tf_introspect.main ARGS``, as :func:`python` runs it."""
    return python("-m", "tf_introspect.main", *args, timeout=timeout)


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)


def require(path, how):
    """``path`` if it exists; else fail in CI (which must have it) or skip, saying ``how``."""
    path = pathlib.Path(path)
    if not path.exists():
        message = f"real data not found at {path} ({how})"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def require_shared_data(sub):
    """Path to ``../shared/data/<sub>``; fail in CI if missing, else skip with the reason."""
    return require(SHARED_DATA / sub, "see ../shared/data/README.md")


def run_config(*args, **settings):
    """A ``RunConfig`` as the command line resolves ``args`` (on ``mlp1024`` unless they name
    a model), with ``settings`` replaced: how tests build methods through the pipeline's
    registry (``registry.build(model, run_config(method="kd", lam=0.5), teacher)``)."""
    import dataclasses

    from tf_introspect.pipeline import config

    model = [] if any(a.startswith("--model=") for a in args) else ["--model=mlp1024"]
    return dataclasses.replace(config.from_args([*model, *args]), **settings)


def start_error(args):
    """The error a run of ``args`` stops with before training, in this process: one that the
    command line (``main``) prints as its single ``error:`` line. Fails if none is raised."""
    from tf_introspect import data, pipeline

    with pytest.raises((pipeline.ConfigError, data.DataNotFoundError)) as error:
        pipeline.run(pipeline.config.from_args(list(args)))
    return str(error.value)


def stop_after_backup(args, epoch, monkeypatch):
    """Run ``args`` in this process and stop it (KeyboardInterrupt, as a kill would) right
    after its ``BackupAndRestore`` has saved the backup of ``epoch`` (1-based); fails if
    the run does not get there."""
    from tf_introspect import pipeline

    save = keras.callbacks.BackupAndRestore.on_epoch_end

    def stopped_after_the_backup(self, index, logs=None):
        save(self, index, logs)
        if index == epoch - 1:
            raise KeyboardInterrupt(f"stopped right after the backup of epoch {epoch}")

    with monkeypatch.context() as patch:
        patch.setattr(keras.callbacks.BackupAndRestore, "on_epoch_end", stopped_after_the_backup)
        with pytest.raises(KeyboardInterrupt, match=f"backup of epoch {epoch}"):
            pipeline.run(pipeline.config.from_args(list(args)))
