"""Faults and bad input, each with real processes and real files (BUILD.md, "Faults and bad
input"): a training process killed mid-epoch resumes to bit-identical weights; NaN stops at
once and keeps the last backup; bad work folders, teachers, shapes and flag files fail at
start with one line; one run at a time per work folder; results are written atomically."""

import concurrent.futures
import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import (
    REPO,
    cli,
    process_env,
    python,
    require_shared_data,
    start_error,
    stop_after_backup,
)


def command(*args):
    return [sys.executable, "-m", "tf_introspect.main", *args]


@pytest.fixture(scope="module")
def mnist_dir():
    return str(require_shared_data("mnist").parent)


def history(workdir):
    return (workdir / "history.csv").read_text().splitlines()


def tensorboard_scalars(folder, tag):
    """``{step: value}`` of ``tag`` over every event file in ``folder`` (later files win)."""
    values = {}
    for path in sorted(folder.glob("events.out.tfevents.*"), key=os.path.getmtime):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.tag == tag:
                    values[event.step] = float(tf.make_ndarray(value.tensor))
    return values


# LE on the MLP: 32 steps an epoch, 1 warm-up epoch, the learning rate divided by 10 after
# epoch 3 (at step 96): resuming must restore the stage, the optimizer's step count (the
# schedule) and the data order.
RESUME_ARGS = [
    "--flagfile=flags/quickstart/mnist_le.flags",
    "--train_limit=1024",
    "--test_limit=256",
    "--epochs=4",
    "--warmup_epochs=1",
    "--batch_size=32",
    "--lr_boundaries=3",
    "--deterministic",
]


def kill_mid_epoch(args, epoch, steps):
    """Run the CLI with a progress bar and SIGKILL it at its first progress update inside
    ``epoch`` (1-based), i.e. after some but not all of its ``steps``; returns the output."""
    process = subprocess.Popen(
        command(*args, "--verbose=1"),
        cwd=REPO,
        env=process_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    header, output = f"Epoch {epoch}/".encode(), b""
    try:
        while True:
            chunk = os.read(process.stdout.fileno(), 65536)
            if not chunk:
                break
            output += chunk
            inside = output.partition(header)[2]
            done = [int(k) for k in re.findall(rb"\r\x1b\[1m\s*(\d+)/%d\x1b" % steps, inside)]
            if any(0 < k < steps for k in done):
                process.send_signal(signal.SIGKILL)
                break
    finally:
        process.kill()
        process.wait()
        process.stdout.close()
    assert process.returncode == -signal.SIGKILL, output.decode(errors="replace")[-2000:]
    return output.decode(errors="replace")


# the learning rate logged at each epoch's end: step decay at epoch 3 (step 96); linear decay
# to 0 over the 128 steps, read at steps 32, 64, 96, 128
SCHEDULES = {
    "step": ([], {0: 0.05, 1: 0.05, 2: 0.05, 3: 0.005}),
    "linear": (
        ["--lr_schedule=linear", "--lr_boundaries="],
        {0: 0.0375, 1: 0.025, 2: 0.0125, 3: 0.0},
    ),
}


@pytest.mark.parametrize("schedule", sorted(SCHEDULES))
def test_killed_run_resumes_from_its_backup_with_identical_weights(schedule, mnist_dir, tmp_path):
    args = [*RESUME_ARGS, f"--data_dir={mnist_dir}", *SCHEDULES[schedule][0]]
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    with concurrent.futures.ThreadPoolExecutor(2) as pool:  # the uninterrupted run, beside
        reference = pool.submit(cli, *args, f"--workdir={whole}")
        kill_mid_epoch([*args, f"--workdir={killed}"], epoch=3, steps=32)
        reference = reference.result()
    assert reference.returncode == 0, reference.stderr[-3000:]
    # --verbose by default: one line per epoch into a pipe, no progress bar
    assert "\r" not in reference.stdout and "\b" not in reference.stdout
    assert len(re.findall(r"^32/32 - ", reference.stdout, re.M)) == 4, reference.stdout

    # killed in epoch 3, after the warm-up: the backup holds 2 finished epochs, with the
    # method's stage switched on and the optimizer at step 64; nothing finished was written
    assert json.loads((killed / "backup" / "training_metadata.json").read_text())["epoch"] == 2
    assert len(history(killed)) == 3 and history(killed) == history(whole)[:3]
    assert not (killed / "metrics.json").exists() and not (killed / "model.keras").exists()
    assert (killed / "run.lock").exists()  # left by the killed process (dead PID)
    from tf_introspect import pipeline
    from tf_introspect.pipeline.build import make_method

    cfg = pipeline.config.from_args([*args, f"--workdir={killed}"])
    method = make_method(cfg)
    pipeline.training.compile_method(method, cfg, steps_per_epoch=32)
    method.optimizer.build(method.trainable_variables)
    method.load_weights(killed / "backup" / "latest.weights.h5")
    assert int(method.optimizer.iterations) == 64 and float(method.second_stage) == 1.0

    if schedule == "step":  # other settings are refused (resuming would mix them), named
        other = cli(*args, f"--workdir={killed}", "--lr=0.3")
        assert other.returncode == 1 and "Traceback" not in other.stderr, other.stderr[-3000:]
        assert re.search(
            r"holds the backup of an unfinished run with other settings "
            r"\(--lr: 0\.05 -> 0\.3\); run its own command again",
            other.stderr,
        )
        backup = json.loads((killed / "backup" / "training_metadata.json").read_text())
        assert backup["epoch"] == 2

    # the same command again (with --overwrite, which keeps a backup of the same settings:
    # a resubmitted job resumes): takes over the stale lock, resumes at epoch 3, ends equal
    resumed = cli(*args, f"--workdir={killed}", "--verbose=2", "--overwrite")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Resuming from the backup" in resumed.stderr
    assert json.loads((killed / "metrics.json").read_text())["resumed_after_epoch"] == 2
    assert json.loads((whole / "metrics.json").read_text())["resumed_after_epoch"] == 0
    assert re.findall(r"^Epoch \d/4", resumed.stdout, re.M) == ["Epoch 3/4", "Epoch 4/4"]
    assert history(killed) == history(whole)  # every column, so also the stage per epoch
    column = history(whole)[0].split(",").index("introspective")
    assert [line.split(",")[column] for line in history(killed)[1:]] == ["0.0", "1.0", "1.0", "1.0"]
    # the schedule after the resume, per step (logged at each epoch's end)
    rates = tensorboard_scalars(killed / "tb" / "train", "epoch_learning_rate")
    assert rates == tensorboard_scalars(whole / "tb" / "train", "epoch_learning_rate")
    assert rates == pytest.approx(SCHEDULES[schedule][1], abs=1e-7)
    weights = [
        keras.models.load_model(folder / "model.keras").get_weights() for folder in (whole, killed)
    ]
    assert all(np.array_equal(a, b) for a, b in zip(*weights))  # bit for bit
    assert not (killed / "run.lock").exists() and not (killed / "backup").exists()


def test_nan_loss_stops_at_once_and_keeps_the_last_backup(mnist_dir, tmp_path):
    # epoch 1 trains normally; from epoch 2 the learning rate is 5e10: the loss explodes
    result = cli(
        "--flagfile=flags/quickstart/mnist_le.flags",
        "--method=ce",
        f"--data_dir={mnist_dir}",
        "--train_limit=512",
        "--test_limit=128",
        "--epochs=3",
        "--batch_size=32",
        "--lr_boundaries=1",
        "--lr_decay=1e12",
        "--verbose=2",
        f"--workdir={tmp_path}",
    )
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert re.match(
        r"error: training diverged: the loss became (nan|inf|-inf) in epoch 2/3, "
        r"at step \d+/16 \(the loss is read every 10 step\(s\)\); stopped at once",
        message,
    ), message
    assert "--lr" in message and str(tmp_path / "backup") in message
    assert "Epoch 3/3" not in result.stdout  # stopped at once
    assert not (tmp_path / "metrics.json").exists() and not (tmp_path / "model.keras").exists()
    assert len(history(tmp_path)) == 2  # epoch 1 only
    backup = tmp_path / "backup"
    assert json.loads((backup / "training_metadata.json").read_text())["epoch"] == 1
    import h5py

    with h5py.File(backup / "latest.weights.h5") as f:  # epoch 1's weights, all finite
        arrays = []
        f.visititems(
            lambda _, item: arrays.append(item[()]) if isinstance(item, h5py.Dataset) else None
        )
    assert arrays and all(np.all(np.isfinite(a)) for a in arrays)
    assert not (tmp_path / "run.lock").exists()  # released on the error


def teacher_file(path, input_shape, classes):
    inputs = keras.Input(input_shape)
    model = keras.Model(
        inputs, keras.layers.Dense(classes)(keras.layers.Flatten()(inputs)), name=path.stem
    )
    model.save(path)
    return path


def test_bad_work_folders_teachers_shapes_and_flag_files_fail_at_start(mnist_dir, tmp_path):
    """Rows (b), (d), (e), (f): one line naming the bad value, no outputs (no work folder at
    all for the cases found while checking the settings). Two cases run as command-line
    processes (exit status 1, that line last, no traceback); the others in this process,
    where they raise the errors the command line turns into that line."""
    five = teacher_file(tmp_path / "five_classes.keras", (28, 28, 1), 5)
    cifar = teacher_file(tmp_path / "cifar_input.keras", (32, 32, 3), 10)
    mlp = teacher_file(tmp_path / "no_stages.keras", (28, 28, 1), 10)
    (tmp_path / "a_file").write_text("in the way\n")
    unknown = tmp_path / "unknown.flags"
    unknown.write_text("--method=le\n--warmup_epoch=3\n")
    cases = {  # row: (arguments, message, a work folder may exist)
        "b /sys/kernel": (
            ["--workdir=/sys/kernel"],
            "--workdir=/sys/kernel cannot be written (Permission denied",
            True,
        ),
        "b /sys/new": (
            ["--workdir=/sys/tf_introspect_test/run"],
            "--workdir=/sys/tf_introspect_test/run cannot be written (Operation not permitted",
            True,
        ),
        "b file in the way": (
            [f"--workdir={tmp_path / 'a_file' / 'run'}"],
            f"--workdir={tmp_path / 'a_file' / 'run'} cannot be written (Not a directory",
            True,
        ),
        "d classes": (
            ["--method=kd", f"--teacher={five}"],
            f"--teacher={five} maps (28, 28, 1) to 5 classes; mnist needs (28, 28, 1) to 10.",
            False,
        ),
        "d architecture": (
            ["--method=hint", "--model=resnet8", f"--teacher={mlp}"],
            "has no layer(s) ['stage2']; this method needs ['stage2'] (our "
            "ResNets and CNNs name their stage outputs stage1..stage3). "
            f"(student: --model=resnet8; teacher: --teacher={mlp}, model "
            "'no_stages')",
            False,
        ),
        "e input shape": (
            ["--method=kd", f"--teacher={cifar}"],
            f"--teacher={cifar} maps (32, 32, 3) to 10 classes; mnist needs (28, 28, 1) to 10.",
            False,
        ),
        "f unknown flag": (
            [f"--flagfile={unknown}"],
            f"error: Unknown command line flag 'warmup_epoch'. Did you mean: "
            f"warmup_epochs ? (command line or --flagfile={unknown}); python -m "
            "tf_introspect.main --helpshort lists the flags.",
            False,
        ),
    }
    if os.geteuid() != 0:  # root writes anyway; the /sys cases above fail for root too
        locked = tmp_path / "read_only"
        locked.mkdir(mode=0o555)
        cases["b read-only parent"] = (
            [f"--workdir={locked / 'run'}"],
            f"--workdir={locked / 'run'} cannot be written (Permission denied",
            True,
        )

    def args_of(name):
        workdir = tmp_path / "runs" / name.replace(" ", "_").replace("/", "")
        return [
            "--model=mlp1024",
            "--dataset=mnist",
            f"--data_dir={mnist_dir}",
            f"--workdir={workdir}",
            *cases[name][0],
        ], workdir

    through_cli = ["b /sys/kernel", "f unknown flag"]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = dict(zip(through_cli, pool.map(lambda n: cli(*args_of(n)[0]), through_cli)))
    for name, (_args, message, may_create) in cases.items():
        args, workdir = args_of(name)
        if name in through_cli:
            result = results[name]
            assert result.returncode == 1, (name, result.stderr[-2000:])
            assert "Traceback" not in result.stderr, (name, result.stderr[-2000:])
            last = result.stderr.strip().splitlines()[-1]
            assert last.startswith("error: ") and message in last, (name, last)
        else:
            error = start_error(args)
            assert message in error, (name, error)
        if not may_create:
            assert not workdir.exists(), name
    assert not os.path.exists("/sys/tf_introspect_test")


def test_every_model_takes_every_input_shape():
    """Row (e): no built-in model/data set pair fails to build (MNIST 28x28x1, CIFAR
    32x32x3), so a bad shape can only come from a --teacher file (checked above)."""
    from conftest import run_config

    from tf_introspect import data, models
    from tf_introspect.pipeline.build import make_model

    for dataset in ("mnist", "cifar100"):
        info = data.info(dataset)
        for name in models.list_models():
            model = make_model(run_config(dataset=dataset), name)
            assert model.input_shape[1:] == info.input_shape, (name, dataset)
            assert model.output_shape == (None, info.num_classes), (name, dataset)
        keras.backend.clear_session()


def test_second_run_on_a_busy_work_folder_refuses(mnist_dir, tmp_path):
    """Row (g): a run holds <workdir>/run.lock; a second one on the folder exits at once."""
    args = [
        "--model=mlp1024",
        "--method=ce",
        f"--data_dir={mnist_dir}",
        "--train_limit=512",
        "--test_limit=128",
        "--epochs=200",
        "--batch_size=32",
        "--verbose=0",
        f"--workdir={tmp_path}",
    ]
    first = subprocess.Popen(
        command(*args),
        cwd=REPO,
        env=process_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        lock = tmp_path / "run.lock"
        deadline = time.time() + 120
        while not (lock.exists() and lock.read_text().strip() == str(first.pid)):
            assert first.poll() is None and time.time() < deadline, "the first run never locked"
            time.sleep(0.2)
        second = cli(*args, timeout=120)
        assert first.poll() is None, "the first run ended before the second one checked"
    finally:
        first.kill()
        first.wait()
    assert second.returncode == 1 and "Traceback" not in second.stderr
    assert second.stderr.strip().splitlines()[-1] == (
        f"error: --workdir={tmp_path} is in use by another run (PID {first.pid}, lock {lock}); "
        "wait for it to end, or use another --workdir."
    )


def test_a_shared_teacher_folder_is_waited_for(mnist_dir, tmp_path):
    """A teacher's folder (``--teacher_workdir``, shared by the seeds of a cell) that another
    run holds is waited for, not refused: the run trains once the holder lets go."""
    import fcntl

    teacher = tmp_path / "teacher"
    teacher.mkdir()
    fd = os.open(teacher / "run.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, b"4242\n")
    process = subprocess.Popen(
        command(
            "--method=kd",
            "--model=mlp1024",
            "--teacher_model=mlp1024",
            f"--teacher_workdir={teacher}",
            f"--data_dir={mnist_dir}",
            "--train_limit=256",
            "--test_limit=64",
            "--epochs=1",
            "--batch_size=64",
            "--verbose=2",
            f"--workdir={tmp_path / 'student'}",
        ),
        cwd=REPO,
        env=process_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        waited = ""
        while "waiting for it" not in waited:
            line = process.stdout.readline()
            assert line, f"ended without waiting: {waited[-3000:]}"
            waited += line
        assert "(PID 4242)" in waited
        assert not (teacher / "metrics.json").exists()  # nothing trained meanwhile
        os.remove(teacher / "run.lock")  # let go, as a run does
        os.close(fd)
        out, _ = process.communicate(timeout=180)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 0, out[-3000:]
    assert (teacher / "metrics.json").exists() and (tmp_path / "student" / "metrics.json").exists()


def stopped_before_the_outputs(mnist_dir, workdir, monkeypatch):
    """Train CE for 2 short epochs in ``workdir`` and stop it after its last epoch, before its
    outputs (the model save fails); returns the config."""
    from tf_introspect import atomic, pipeline

    cfg = pipeline.config.from_args(
        [
            "--method=ce",
            "--model=mlp1024",
            f"--data_dir={mnist_dir}",
            "--train_limit=256",
            "--test_limit=64",
            "--epochs=2",
            "--batch_size=64",
            "--verbose=0",
            "--deterministic",
            f"--workdir={workdir}",
        ]
    )

    def killed(*_):
        raise KeyboardInterrupt("killed before the outputs")

    with monkeypatch.context() as patch:
        patch.setattr(atomic, "save_model", killed)
        with pytest.raises(KeyboardInterrupt):
            pipeline.run(cfg)
    assert json.loads((workdir / "backup" / "training_metadata.json").read_text())["epoch"] == 2
    assert not (workdir / "metrics.json").exists()
    return cfg


def test_killed_between_the_last_epoch_and_the_outputs_resumes_at_the_end(
    mnist_dir, tmp_path, monkeypatch
):
    """The backup stays until metrics.json is written: a run stopped after its last epoch but
    before its outputs (here the model save fails) finishes from the backup without training,
    taking the last epoch's logs from history.csv."""
    from tf_introspect import pipeline

    cfg = stopped_before_the_outputs(mnist_dir, tmp_path, monkeypatch)
    logged = history(tmp_path)
    metrics = pipeline.run(cfg)
    assert history(tmp_path) == logged  # no epoch trained again
    header, last = logged[0].split(","), logged[-1].split(",")
    assert metrics["final_train"] == {k: float(v) for k, v in zip(header, last) if k != "epoch"}
    assert (tmp_path / "model.keras").exists() and not (tmp_path / "backup").exists()


@pytest.mark.parametrize(
    "stop", ["after the weights", "during the epoch count", "during the first save"]
)
def test_a_backup_stopped_while_being_saved_resumes_to_identical_weights(
    mnist_dir, tmp_path, monkeypatch, caplog, stop
):
    """Keras saves a backup as: copy weights and epoch count to ``*.bkp`` (from the second
    save on), write the new weights, write the new count. A stop after the new weights leaves
    equal counts with newer weights; a stop during the count's write leaves it truncated;
    a stop during the first save leaves weights without a count. Each time the run resumes
    from a consistent state (epoch 1; the start for the first save), trains the rest again
    and ends bit-identical to an uninterrupted run; with no readable pair at all it stops,
    naming the folder."""
    from tf_introspect import pipeline
    from tf_introspect.pipeline import ConfigError

    cfg = stopped_before_the_outputs(mnist_dir, tmp_path / "stopped", monkeypatch)
    backup = tmp_path / "stopped" / "backup"
    assert json.loads((backup / "training_metadata.json.bkp").read_text())["epoch"] == 1
    previous = (backup / "latest.weights.h5.bkp").read_bytes()
    assert (backup / "latest.weights.h5").read_bytes() != previous
    if stop == "after the weights":
        (backup / "training_metadata.json").write_text(
            (backup / "training_metadata.json.bkp").read_text()
        )
    elif stop == "during the epoch count":
        (backup / "training_metadata.json").write_text('{"epoch": ')  # cut mid-write
    else:
        for name in (
            "training_metadata.json",
            "training_metadata.json.bkp",
            "latest.weights.h5.bkp",
        ):
            (backup / name).unlink()
    resume_at = 0 if stop == "during the first save" else 1
    assert pipeline.workdir.backup_epoch(str(backup)) == resume_at
    assert re.search(r"stopped while being saved|is unreadable|no epoch count", caplog.text)
    if resume_at:
        assert (backup / "latest.weights.h5").read_bytes() == previous
        assert json.loads((backup / "training_metadata.json").read_text())["epoch"] == 1
    else:
        assert not list(backup.iterdir())  # nothing left to load
    caplog.clear()
    assert pipeline.workdir.backup_epoch(str(backup)) == resume_at and not caplog.text  # said once

    pipeline.run(cfg)  # trains the rest again, then finishes
    epochs = [line.split(",")[0] for line in history(tmp_path / "stopped")[1:]]
    assert epochs == ["0", "1", *[str(e) for e in range(resume_at, 2)]]
    assert not backup.exists()
    pipeline.run(dataclasses.replace(cfg, workdir=str(tmp_path / "whole")))
    weights = [
        keras.models.load_model(tmp_path / folder / "model.keras").get_weights()
        for folder in ("whole", "stopped")
    ]
    assert all(np.array_equal(a, b) for a, b in zip(*weights))  # bit for bit

    backup.mkdir()  # nothing readable to fall back to
    (backup / "training_metadata.json").write_text("")
    with pytest.raises(
        ConfigError,
        match=r"backup in .*backup is unreadable .* delete that "
        r"folder",
    ):
        pipeline.workdir.backup_epoch(str(backup))


WRITE_MIDWAY = """
import resource, signal, sys
import keras
from tf_introspect import atomic
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)    # a too big write fails with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
kind, path = sys.argv[1:]
try:
    if kind == "json":
        atomic.write_json(path, {"numbers": list(range(5000))})
    else:
        atomic.save_model(keras.Sequential([keras.Input((784,)), keras.layers.Dense(512)]), path)
except OSError as e:
    print("failed:", e)
"""


def test_a_write_failing_midway_leaves_the_old_file_and_no_partial_file(tmp_path):
    """Item 2: a real write that fails after 4 kB (RLIMIT_FSIZE, as a full disk would): the
    old file is intact and no temporary file is left, for JSON and for a Keras model."""
    old_json = tmp_path / "metrics.json"
    old_json.write_text('{"old": true}\n')
    old_model = tmp_path / "model.keras"
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save(old_model)
    before = old_model.read_bytes()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(
            pool.map(
                lambda a: python("-c", WRITE_MIDWAY, *a, timeout=120),
                [("json", old_json), ("model", old_model)],
            )
        )
    for result in results:
        assert result.returncode == 0 and "failed:" in result.stdout, result.stderr[-2000:]
        assert "File too large" in result.stdout, result.stdout
    assert old_json.read_text() == '{"old": true}\n'
    assert old_model.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["metrics.json", "model.keras"]
    # and a write that succeeds replaces the file whole
    from tf_introspect import atomic

    atomic.write_json(old_json, {"new": 1})
    assert json.loads(old_json.read_text()) == {"new": 1}
    assert sorted(os.listdir(tmp_path)) == ["metrics.json", "model.keras"]


def test_report_help_missing_and_unfinished_folders(tmp_path):
    """Item 6: --help prints usage; a missing folder is an error naming it; an existing
    folder without metrics.json is unfinished; a finished one is a row."""
    finished, unfinished = tmp_path / "finished", tmp_path / "unfinished"
    finished.mkdir()
    unfinished.mkdir()
    (finished / "metrics.json").write_text(
        json.dumps(
            {
                "method": "le",
                "model": "mlp1024",
                "dataset": "mnist",
                "epochs": 3,
                "test_accuracy": 0.97,
                "test_error": 0.03,
                "wall_time_s": 12.5,
            }
        )
    )
    runs = {
        "help": ["--help"],
        "missing": [str(tmp_path / "nope"), str(finished)],
        "table": [str(finished), str(unfinished)],
    }
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        results = dict(
            zip(
                runs,
                pool.map(
                    lambda args: python("-m", "tf_introspect.report", *args, timeout=120),
                    runs.values(),
                ),
            )
        )
    assert results["help"].returncode == 0
    assert results["help"].stdout.startswith("usage: python -m tf_introspect.report")
    assert results["missing"].returncode == 2 and not results["missing"].stdout
    assert results["missing"].stderr.strip().splitlines()[-1] == (
        f"python -m tf_introspect.report: error: {tmp_path / 'nope'}: no such folder"
    )
    table = results["table"]
    assert table.returncode == 0, table.stderr[-2000:]
    rows = table.stdout.splitlines()
    assert rows[1].split()[:5] == [str(finished), "le", "mlp1024", "mnist", "3"]
    assert "0.9700" in rows[1]
    assert rows[2].split() == [str(unfinished), "unfinished", "(no", "metrics.json)"]


def test_killed_just_after_a_backup_keeps_that_epochs_history_row(mnist_dir, tmp_path, monkeypatch):
    """The history row of an epoch is written before its backup: a run stopped right after
    the backup of epoch 2 of 3 resumes at epoch 3 with epochs 1 and 2 in history.csv (with
    the backup first, the second epoch's row was lost). With --validation_split the test set
    is evaluated every epoch too (test_accuracy in every row) and metrics.json (schema 2)
    records the test accuracy at the epoch of best validation accuracy."""

    from tf_introspect import pipeline

    args = [
        "--method=ce",
        "--model=mlp1024",
        f"--data_dir={mnist_dir}",
        "--train_limit=512",
        "--test_limit=64",
        "--validation_split=128",
        "--epochs=3",
        "--batch_size=64",
        "--verbose=0",
        "--deterministic",
    ]
    stopped = tmp_path / "stopped"
    stop_after_backup([*args, f"--workdir={stopped}"], 2, monkeypatch)
    assert len(history(stopped)) == 3  # header and epochs 1, 2
    metrics = pipeline.run(pipeline.config.from_args([*args, f"--workdir={stopped}"]))
    whole = tmp_path / "whole"
    pipeline.run(pipeline.config.from_args([*args, f"--workdir={whole}"]))
    assert history(stopped) == history(whole)
    header = history(whole)[0].split(",")
    rows = [dict(zip(header, line.split(","))) for line in history(whole)[1:]]
    assert "test_accuracy" in header and "val_accuracy" in header
    best = max(range(3), key=lambda e: (float(rows[e]["val_accuracy"]), -e))
    assert metrics["schema_version"] == 3 and metrics["best_validation_epoch"] == best
    assert metrics["test_accuracy_at_best_validation"] == float(rows[best]["test_accuracy"])
    assert metrics["max_test_accuracy"] == max(float(r["test_accuracy"]) for r in rows)
    assert metrics["test_accuracy"] == pytest.approx(float(rows[-1]["test_accuracy"]))
