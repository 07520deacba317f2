"""A run's work folder: one run at a time (``run.lock``), a backup resumed only with the
settings that made it (``settings.json``), and resuming from the backup -- mending a backup
stopped while being saved, agreeing on the epoch among the workers of a cluster and replaying
the data order -- so that a resumed run ends bit-identical to an uninterrupted one. Used by
:func:`tf_introspect.pipeline.training.run`; BUILD.md tables the faults ("Faults and bad input")."""

import contextlib
import filecmp
import json
import os
import platform
import shutil
import time

from absl import logging

from tf_introspect.pipeline import settings
from tf_introspect.pipeline.config import ConfigError

LOCK = "run.lock"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def code_version():
    """``(commit, uncommitted_changes)`` of the code this process runs: the git commit of the
    package's checkout and whether its code, flag files or plans differ from it; ``("unknown",
    None)`` outside a git checkout (an installed package). A run records it in ``metrics.json``
    at its (last) start, so a record names the code that trained it, not the code that was
    there when the runner found it finished."""
    import subprocess

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "tf_introspect", "flags", "experiments"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown", None
    return commit, bool(dirty)


def machine():
    """What the run's speed and (floating-point) result may depend on."""
    import tensorflow as tf

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_model": cpu_model(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
    }


def cpu_model():
    """The CPU's model name (``/proc/cpuinfo``; ``None`` where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


STARTS = "starts.json"


def record_start(workdir, after_epoch, code):
    """Add this start of the run to ``<workdir>/starts.json`` and return the list: when,
    after how many finished epochs (0: from scratch), with which code (``[commit,
    uncommitted changes]``) and on which machine. A run resumed from its backup, on this
    machine or on another after :mod:`tf_introspect.lab.parking` carried the backup there,
    so names every machine and commit that trained part of it (``metrics.json``'s
    ``starts``); a run that starts from scratch begins a new list, and one resumed from a
    backup begun before starts were recorded gets an unknown first start (``None``s)."""
    from tf_introspect import atomic

    path = os.path.join(workdir, STARTS)
    starts = []
    if after_epoch and os.path.exists(path):
        with open(path) as f:
            starts = [s for s in json.load(f) if s["after_epoch"] < after_epoch]
    elif after_epoch:  # a backup made before starts were recorded: its start is unknown
        starts = [{"started": None, "after_epoch": 0, "code_version": None, "machine": None}]
    starts.append(
        {
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "after_epoch": after_epoch,
            "code_version": list(code),
            "machine": machine(),
        }
    )
    atomic.write_json(path, starts)
    return starts


@contextlib.contextmanager
def claim(workdir, wait=False):
    """Create ``workdir`` and hold its lock, ``<workdir>/run.lock`` (this process's PID),
    while the block runs: one run at a time per work folder. A busy folder is a
    ``ConfigError``, or with ``wait`` (a shared teacher folder) waited for.

    Creating the lock is also the write probe: a folder that cannot be written (or a file in
    the way) is a ``ConfigError`` here, before any training. The lock is an ``fcntl.flock``
    on the file, which the kernel drops when its process ends in any way, so the lock of a
    killed run (its PID dead) is simply taken over; the file is removed when the block ends,
    also on an error.
    """
    import fcntl

    if os.path.exists(workdir) and not os.path.isdir(workdir):
        raise ConfigError(
            f"--workdir={workdir} is a file, not a folder; name a folder (it is "
            "created if missing)."
        )
    path = os.path.join(workdir, LOCK)
    try:
        os.makedirs(workdir, exist_ok=True)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
                if wait:
                    print(
                        f"{workdir} is in use by another run (PID {holder}); waiting for it.",
                        flush=True,
                    )
                    fcntl.flock(fd, fcntl.LOCK_EX)
                else:
                    os.close(fd)
                    raise ConfigError(
                        f"--workdir={workdir} is in use by another run (PID "
                        f"{holder}, lock {path}); wait for it to end, or use "
                        "another --workdir."
                    ) from None
            try:
                if os.path.samestat(os.fstat(fd), os.stat(path)):
                    break
            except FileNotFoundError:
                pass
            os.close(fd)  # its holder removed the file as we opened it: try again
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
    except OSError as e:
        raise ConfigError(
            f"--workdir={workdir} cannot be written ({e.strerror}: "
            f"{e.filename}); give a folder you can write to."
        ) from None
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
        os.close(fd)


def in_use(workdir):
    """Whether a live run holds ``workdir``'s lock (:func:`claim`: an ``fcntl.flock`` the
    kernel drops when the run ends), without taking it."""
    import fcntl

    try:
        fd = os.open(os.path.join(workdir, LOCK), os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


BACKUP_SETTINGS = "settings.json"


def check_settings(cfg):
    """Resume a backup only with the settings that made it; with ``--overwrite`` clear what
    an old run left (a finished run, or a backup of other settings).

    ``<workdir>/settings.json`` records the result-deciding settings
    (``settings.result_settings``) of the run training in the folder. An unfinished run's backup
    found with other settings is a ``ConfigError`` naming the differences (resuming would mix
    the backup's optimizer state and epochs with the new settings) unless ``--overwrite``
    clears it; a backup of the same settings is resumed, also with ``--overwrite`` (a
    resubmitted job keeps its progress). Then the settings are recorded for the next start."""
    from tf_introspect import atomic
    from tf_introspect.pipeline import outputs

    workdir = cfg.workdir
    path = os.path.join(workdir, BACKUP_SETTINGS)
    expected = json.loads(json.dumps(settings.result_settings(cfg)))  # as stored
    backup = os.path.join(workdir, "backup")
    wrong = {}
    if os.path.isdir(backup) and os.listdir(backup) and os.path.exists(path):
        with open(path) as f:
            recorded = json.load(f)
        wrong = settings.settings_differences(recorded, expected)
    if cfg.overwrite and (wrong or outputs.load(workdir) is not None):
        # trained again from scratch: an old run's history and backup must not mix in
        shutil.rmtree(backup, ignore_errors=True)
        for name in ("history.csv", "metrics.json", BACKUP_SETTINGS):
            if os.path.exists(os.path.join(workdir, name)):
                os.remove(os.path.join(workdir, name))
        wrong = {}
    if wrong:
        changes = ", ".join(f"--{k}: {old!r} -> {new!r}" for k, (old, new) in wrong.items())
        raise ConfigError(
            f"{workdir} holds the backup of an unfinished run with other settings "
            f"({changes}); run its own command again to resume it, add --overwrite to "
            "start this one from scratch there, or give another --workdir."
        )
    atomic.write_json(path, expected)


# Keras 3's EpochIterator (fit without steps_per_epoch) makes an iterator over the training
# data at the start of each epoch and one more at its end, dropped at the next start.
ITERATORS_PER_EPOCH = 2


def _epoch_of(metadata):
    """The finished epoch count in a ``BackupAndRestore`` metadata file; None if unreadable."""
    try:
        with open(metadata) as f:
            return int(json.load(f)["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _take_previous(backup):
    """Replace the backup's pair by its previous one (``*.bkp``): the epoch count first, so
    that a stop between the two copies leaves equal counts, which :func:`backup_epoch` mends."""
    for name in ("training_metadata.json", "latest.weights.h5"):
        shutil.copyfile(os.path.join(backup, name + ".bkp"), os.path.join(backup, name))


def _clear(backup):
    """Remove the backup's files (train from the start)."""
    for name in ("training_metadata.json", "latest.weights.h5"):
        for path in (os.path.join(backup, name), os.path.join(backup, name + ".bkp")):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)


def backup_epoch(backup):
    """Epochs finished in the ``BackupAndRestore`` folder ``backup`` (0 if there is none),
    after making its weights and epoch count agree.

    Keras saves a backup in four writes (``double_checkpoint``): the weights and the epoch
    count are copied to ``*.bkp`` (from the second save on), then the new weights and the new
    count are written. It falls back to the ``*.bkp`` pair itself only when the weights
    cannot be read. The other stops in between are mended here, so that a resumed run again
    ends bit-identical to an uninterrupted one (tested):

    - stopped during the first save (weights, no count yet): the weights are removed and the
      run starts from scratch (Keras would load them and train their epoch again);
    - stopped after the copies, before the new count is written: both counts are equal and
      the weights may already be the next epoch's; the copied weights of that count return;
    - stopped while writing the count (``training_metadata.json`` truncated): the ``*.bkp``
      pair, one epoch earlier, replaces the current one, with a warning.

    With no readable pair the run stops and says which folder to delete."""
    metadata = os.path.join(backup, "training_metadata.json")
    weights = os.path.join(backup, "latest.weights.h5")
    if not os.path.exists(metadata):
        if os.path.exists(weights):
            logging.warning(
                "%s has weights but no epoch count (a run stopped during its "
                "first backup): training from the start.",
                backup,
            )
            _clear(backup)
        return 0
    finished, previous = _epoch_of(metadata), _epoch_of(metadata + ".bkp")
    previous_pair = previous is not None and os.path.exists(weights + ".bkp")
    if finished is None and not previous_pair:
        raise ConfigError(
            f"the backup in {backup} is unreadable ({metadata} is not the JSON "
            "Keras writes) and has no readable previous backup; delete that "
            "folder to train from the start."
        )
    if finished is None:
        logging.warning(
            "%s is unreadable (a run killed while writing it?): resuming from the "
            "previous backup, %d finished epoch(s).",
            metadata,
            previous,
        )
        _take_previous(backup)
        return previous
    if (
        previous_pair
        and previous == finished
        and not (os.path.exists(weights) and filecmp.cmp(weights, weights + ".bkp", shallow=False))
    ):
        logging.warning(
            "The backup in %s was stopped while being saved (its weights may be "
            "newer than its %d finished epoch(s)): resuming with the weights "
            "saved with that count.",
            backup,
            finished,
        )
        shutil.copyfile(weights + ".bkp", weights)
    return finished


def agree_on_backup(strategy, backup):
    """Multi-worker: bring this worker's backup to the epoch every worker can resume from.

    Each worker keeps its own backup (the chief's in the work folder, worker ``i``'s in
    ``worker<i>/``), written after the same synchronised epoch; a worker stopped between the
    end of an epoch and its backup write lags one epoch behind the others, and resuming at
    different epochs would make the workers wait on each other's steps for ever. The finished
    epoch counts are all-gathered; a worker ahead of the smallest count takes its previous
    backup (``*.bkp``, one epoch earlier), or starts from scratch when that count is 0, so
    that all resume at the same epoch. Whether every worker can is gathered too: when one
    cannot (an unreadable backup), all stop with the same error instead of some waiting."""
    import tensorflow as tf

    def gather(value):
        @tf.function
        def step():
            return tf.distribute.get_replica_context().all_gather(tf.constant([value]), axis=0)

        return [int(v) for v in strategy.experimental_local_results(strategy.run(step))[0]]

    try:
        mine, problem = backup_epoch(backup), None
    except ConfigError as e:
        mine, problem = -1, e
    every = gather(mine)
    agreed = min(e for e in every if e >= 0) if max(every) >= 0 else 0
    metadata = os.path.join(backup, "training_metadata.json")
    weights = os.path.join(backup, "latest.weights.h5")
    able = problem is None and (
        mine <= agreed
        or agreed == 0
        or (_epoch_of(metadata + ".bkp") == agreed and os.path.exists(weights + ".bkp"))
    )
    if not all(gather(int(able))):
        raise problem or ConfigError(
            f"the workers' backups cannot resume together (finished epochs per worker: "
            f"{every}, -1 unreadable); delete every worker's backup folder to train from the "
            "start."
        )
    if mine > agreed:
        logging.warning(
            "Worker backups finished epochs %s: resuming this worker's previous "
            "backup, %d finished epoch(s), with the others.",
            every,
            agreed,
        )
        if agreed:
            _take_previous(backup)
        else:
            _clear(backup)


def skip_finished_epochs(train, workdir):
    """Bring ``train``'s shuffle to where a resumed run left off; returns the epochs skipped.

    ``BackupAndRestore`` restores the weights, the method's variables (the two-stage switch),
    the optimizer (its step count drives the learning-rate schedule) and the epoch, but not
    the data order: the shuffle (and CIFAR augmentation) draws new seeds each time an
    iterator over ``train`` is made, counted from the start of the process, and Keras makes
    :data:`ITERATORS_PER_EPOCH` of them an epoch. Making (and dropping) as many per finished
    epoch of the backup gives the resumed epochs the batches of an uninterrupted run: both
    end with the same weights (tested, which also guards the count against a new Keras).
    """
    finished = backup_epoch(os.path.join(workdir, "backup"))
    for _ in range(finished * ITERATORS_PER_EPOCH):
        iter(train)
    return finished
