"""Parking (``experiments park`` / ``unpark``): a run stopped on one machine, carried through
the checkout's ``parked/`` to a fresh runner, ends bit-identical to an uninterrupted run and
names both starts; what is carried and when (size, progress, records, teachers, stale runs)."""

import json
import os
import shutil
import subprocess

import pytest
from conftest import require_shared_data, stop_after_backup

from tf_introspect import pipeline
from tf_introspect.lab import cli, parking, paths, runner
from tf_introspect.lab import plans as lab_plans

PLAN = """
description = "parking"
protocol = "test"
data_dir = "../shared/data"
seeds = [0, 1]
[flags]
epochs = 3
train_limit = 256
test_limit = 64
batch_size = 64
lr = 0.05
[[cell]]
name = "ce"
flagfile = "flags/table3/mlp1024_ce.flags"
"""


@pytest.fixture()
def plan(tmp_path, monkeypatch):
    """The plan ``parking`` (the only one), the checkout's ROOT ``main/`` and the runners'
    folders ``one/``, ``two/``, ``three/``."""
    path = tmp_path / "parking.toml"
    path.write_text(PLAN)
    monkeypatch.setattr(lab_plans, "list_plans", lambda: [str(path)])
    monkeypatch.setattr(paths, "ROOT", str(tmp_path / "main"))
    return str(path)


def the_run(plan, seed=0, cell="ce"):
    (run,) = [
        r
        for r in lab_plans.plan_runs(lab_plans.load_plan(plan))
        if (r.cell, r.name) == (cell, f"seed{seed}")
    ]
    return run


def fake_run(folder, epochs=0, settings=None, finished=False, size=1000):
    """A run folder as training leaves it: settings, history, a backup of ``epochs`` (with
    its previous pair), or a finished run's metrics and model."""
    os.makedirs(os.path.join(folder, "backup"), exist_ok=True)
    with open(os.path.join(folder, "settings.json"), "w") as f:
        json.dump(settings or {"seed": 0}, f)
    with open(os.path.join(folder, "history.csv"), "w") as f:
        f.write("epoch,loss\n" + "".join(f"{e},1.0\n" for e in range(epochs)))
    backup = os.path.join(folder, "backup")
    if finished:
        with open(os.path.join(folder, "metrics.json"), "w") as f:
            json.dump({"epochs": epochs}, f)
        with open(os.path.join(folder, "model.keras"), "wb") as f:
            f.write(b"m" * size)
    elif epochs:
        for name, count in (("", epochs), (".bkp", epochs - 1)):
            with open(os.path.join(backup, "training_metadata.json" + name), "w") as f:
                json.dump({"epoch": count}, f)
            with open(os.path.join(backup, "latest.weights.h5" + name), "wb") as f:
                f.write(bytes([count]) * size)
    (open(os.path.join(folder, "run.lock"), "w")).close()


def since_head(tmp_path):
    """The plan with ``since`` = this checkout's HEAD; ``[HEAD, its parent]``."""
    commits = subprocess.run(
        ["git", "rev-list", "--max-count=2", "HEAD"],
        cwd=paths.REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    (tmp_path / "parking.toml").write_text(
        PLAN.replace("[flags]", f'since = "{commits[0]}"\n[flags]')
    )
    return commits


def parked(relative):
    return os.path.join(paths.ROOT, parking.PARKED, relative)


def test_a_parked_run_resumes_on_a_fresh_runner_bit_identical(plan, tmp_path, monkeypatch):
    """Stopped after epoch 2 of 3 in runner ``one``; parked (not under the default size
    limit: the MLP's weights and momentum are 14 MB); unparked into a fresh runner ``two``,
    where the plan finishes it: the same history and test accuracy as a run in one go, and
    its metrics name both starts."""
    require_shared_data("mnist")
    run = the_run(plan)
    one = tmp_path / "one"
    stop_after_backup([*run.args, f"--workdir={one / 'runs/parking/ce/seed0'}"], 2, monkeypatch)
    logs = []
    assert parking.park(str(one), log=logs.append) == 0
    assert any("not parked: parking/ce/seed0 (14.2 MB > --max_mb=5)" in line for line in logs), logs
    assert parking.park(str(one), max_mb=40, log=logs.append) == 1
    folder = parked("parking/ce/seed0")
    assert sorted(os.listdir(os.path.join(folder, "backup"))) == [
        "latest.weights.h5",
        "training_metadata.json",
    ]
    assert {"settings.json", "history.csv", "starts.json", "parked.json"} <= set(os.listdir(folder))
    assert "run.lock" not in os.listdir(folder) and "tb" not in os.listdir(folder)
    with open(os.path.join(folder, "parked.json")) as f:
        assert json.load(f)["epochs"] == 2
    assert parking.park(str(one), max_mb=40, log=logs.append) == 0  # as far: left as it is

    two, three = tmp_path / "two", tmp_path / "three"
    assert parking.unpark(str(two), log=logs.append) == 1
    assert "unparked parking/ce/seed0: resumes after epoch 2" in logs[-1]
    monkeypatch.setattr(paths, "ROOT", str(two))  # the runner finds it and resumes it
    assert runner.run_plan(plan, seeds=[0], log=logs.append) == 0  # no failure
    resumed, whole = two / "results/parking/ce/seed0", three / "runs/parking/ce/seed0"
    pipeline.run(pipeline.config.from_args([*run.args, f"--workdir={whole}"]))  # in one go
    assert (resumed / "history.csv").read_text() == (whole / "history.csv").read_text()
    metrics = json.loads((resumed / "metrics.json").read_text())
    assert (
        metrics["test_accuracy"]
        == json.loads((whole / "metrics.json").read_text())["test_accuracy"]
    )
    assert [s["after_epoch"] for s in metrics["starts"]] == [0, 2]
    assert all("cpu_model" in s["machine"] and s["code_version"] for s in metrics["starts"])

    monkeypatch.setattr(paths, "ROOT", str(tmp_path / "main"))  # the record comes home
    shutil.copytree(resumed, tmp_path / "main/results/parking/ce/seed0")
    assert parking.unpark(str(two), log=logs.append) == 0
    assert "dropped parked/parking/ce/seed0: recorded in results/" in logs[-1]
    assert os.listdir(os.path.join(paths.ROOT, parking.PARKED)) == []  # the folder stays


def test_park_carries_progress_only_forward_and_unpark_only_what_is_further(plan, tmp_path):
    run = the_run(plan)
    one, two = tmp_path / "one", tmp_path / "two"
    relative = "parking/ce/seed0"
    fake_run(one / "runs" / relative, epochs=3, settings=run.settings)
    fake_run(one / "runs" / "parking/ce/seed1", epochs=0, settings=the_run(plan, 1).settings)
    assert parking.park(str(one), log=print) == 1  # seed1 has no finished epoch
    with open(os.path.join(parked(relative), "backup", "training_metadata.json")) as f:
        assert json.load(f)["epoch"] == 3
    assert not os.path.exists(parked("parking/ce/seed1"))

    fake_run(one / "runs" / relative, epochs=2, settings=run.settings)  # it started over
    assert parking.park(str(one), log=print) == 0  # the parked copy is further: kept
    fake_run(two / "runs" / relative, epochs=4, settings=run.settings)
    assert parking.unpark(str(two), log=print) == 0  # the runner's own is further
    assert parking.unpark(str(one), log=print) == 1  # epoch 3 over epoch 2
    with open(one / "runs" / relative / "backup" / "training_metadata.json") as f:
        assert json.load(f)["epoch"] == 3
    assert not (one / "runs" / relative / "backup" / "training_metadata.json.bkp").exists()

    older = {**run.settings, "lr": 0.5}  # a folder of other settings than the plan's ...
    fake_run(one / "runs" / relative, epochs=5, settings=older)
    assert parking.park(str(one), log=print) == 0  # ... is trained again: not parked
    with open(os.path.join(parked(relative), "parked.json")) as f:
        assert json.load(f)["settings"] == run.settings
    (tmp_path / "parking.toml").write_text(PLAN.replace("lr = 0.05", "lr = 0.5"))
    logs = []  # the plan changed: the parked copy is dropped, the runner's parked
    assert parking.park(str(one), log=logs.append) == 1
    assert logs[0] == f"parked {relative}: 5 epoch(s) finished (0.0 MB) -> parked/{relative}"
    fake_run(one / "runs" / relative, epochs=1, settings=run.settings)
    (tmp_path / "parking.toml").write_text(PLAN)
    parking.prune(log=logs.append)
    assert logs[-1] == (
        f"dropped parked/{relative}: the plan's settings for it changed: it is trained again"
    )


def test_a_backup_stopped_while_being_saved_is_parked_mended(plan, tmp_path):
    """Parked while Keras was writing the epoch count (truncated): the previous pair is
    parked, as a resumed run would take it; the runner's own folder is left as it is."""
    run = the_run(plan)
    folder = tmp_path / "one" / "runs" / "parking/ce/seed0"
    fake_run(folder, epochs=5, settings=run.settings)
    (folder / "backup" / "training_metadata.json").write_text('{"epo')
    assert parking.park(str(tmp_path / "one"), log=print) == 1
    backup = os.path.join(parked("parking/ce/seed0"), "backup")
    with open(os.path.join(backup, "training_metadata.json")) as f:
        assert json.load(f)["epoch"] == 4
    with open(os.path.join(backup, "latest.weights.h5"), "rb") as f:
        assert f.read(1) == bytes([4])
    assert (folder / "backup" / "training_metadata.json").read_text() == '{"epo'


def test_a_teacher_is_parked_until_every_run_of_its_plan_is_recorded(plan, tmp_path):
    one = tmp_path / "one"
    teacher = "parking/teachers/mlp_ce"
    fake_run(one / "runs" / teacher, epochs=3, finished=True)
    assert parking.park(str(one), log=print) == 1
    assert os.path.exists(os.path.join(parked(teacher), "model.keras"))
    assert not os.path.exists(os.path.join(parked(teacher), "run.lock"))
    assert parking.unpark(str(tmp_path / "two"), log=print) == 1
    assert (tmp_path / "two" / "runs" / teacher / "model.keras").exists()
    for seed in (0, 1):  # every run recorded
        run = the_run(plan, seed)
        record = tmp_path / "main" / "results" / "parking" / "ce" / f"seed{seed}"
        record.mkdir(parents=True)
        (record / "run.json").write_text(json.dumps({"settings": run.settings}))
        (record / "metrics.json").write_text("{}")
        if seed == 0:
            parking.prune(log=print)
            assert os.path.exists(parked(teacher))  # seed1 still needs it
    logs = []
    parking.prune(log=logs.append)
    assert logs == [f"dropped parked/{teacher}: every run of plan 'parking' is recorded"]
    assert os.listdir(os.path.join(paths.ROOT, parking.PARKED)) == []  # the folder stays


def test_a_run_begun_before_its_cells_since_commit_is_not_parked(plan, tmp_path, monkeypatch):
    """A cell's ``since`` (a fix that changes its numbers): a backup begun by older code is
    neither parked nor resumed by the runner."""
    commits = since_head(tmp_path)
    run = the_run(plan)
    folder = tmp_path / "one" / "runs" / "parking/ce/seed0"
    fake_run(folder, epochs=2, settings=run.settings)
    starts = [{"after_epoch": 0, "code_version": [commits[1], False]}]
    (folder / "starts.json").write_text(json.dumps(starts))
    assert parking.park(str(tmp_path / "one"), log=print) == 0
    monkeypatch.setattr(paths, "ROOT", str(tmp_path / "one"))  # and its runner starts over
    monkeypatch.setattr(runner.subprocess, "call", lambda *a, **k: 1)
    logs = []
    assert not runner.execute(lab_plans.load_plan(plan), run, log=logs.append)
    assert f"its backup was begun before {commits[0]}; starting over" in logs[0]
    assert not (folder / "backup").exists() and not (folder / "history.csv").exists()
    monkeypatch.setattr(paths, "ROOT", str(tmp_path / "main"))
    fake_run(folder, epochs=2, settings=run.settings)
    starts[0]["code_version"][0] = commits[0]
    (folder / "starts.json").write_text(json.dumps(starts))
    assert parking.park(str(tmp_path / "one"), log=print) == 1


def test_cli_park_and_unpark(plan, tmp_path, capsys):
    fake_run(
        tmp_path / "one" / "runs" / "parking/ce/seed0", epochs=1, settings=the_run(plan).settings
    )
    with pytest.raises(SystemExit):
        cli.main(["park", str(tmp_path / "one"), "--max_mb=0"])
    assert "--max_mb must be > 0, got 0" in capsys.readouterr().err
    assert cli.main(["park", str(tmp_path / "one")]) == 0
    assert "1 run(s) parked in parked/." in capsys.readouterr().out
    (tmp_path / "two").mkdir()  # a runner's checkout
    assert cli.main(["unpark", str(tmp_path / "two")]) == 0
    assert "1 parked run(s) put into" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["park", str(tmp_path / "nowhere")])
    assert f"no runner folder {tmp_path / 'nowhere'}" in capsys.readouterr().err


def test_a_record_names_every_machine_that_trained_it():
    """verify expects a bit-identical rerun only where every start of the run was made."""
    from tf_introspect.lab.records import trained_here, trained_on

    intel, amd = {"cpu_model": "Intel"}, {"cpu_model": "AMD"}
    resumed = {"machine": amd, "metrics": {"starts": [{"machine": intel}, {"machine": amd}]}}
    assert trained_on(resumed) == [intel, amd]
    assert not trained_here(resumed, amd) and not trained_here(resumed, intel)
    old = {"machine": amd, "metrics": {}}  # recorded before starts were
    assert trained_on(old) == [amd] and trained_here(old, amd)
    begun_before = {"machine": amd, "metrics": {"starts": [{"machine": None}, {"machine": amd}]}}
    assert trained_on(begun_before) == [None, amd] and not trained_here(begun_before, amd)
    whole = {"machine": amd, "metrics": {"starts": [{"machine": amd}]}}
    assert trained_here(whole, amd) and not trained_here(whole, intel)


def test_every_start_of_a_run_is_recorded(tmp_path):
    from tf_introspect.pipeline.workdir import record_start

    code = ("abc", False)
    assert [s["after_epoch"] for s in record_start(tmp_path, 0, code)] == [0]
    assert [s["after_epoch"] for s in record_start(tmp_path, 2, code)] == [0, 2]
    again = record_start(tmp_path, 2, code)  # stopped before its next backup: replaced
    assert [s["after_epoch"] for s in again] == [0, 2]
    assert again[1]["code_version"] == ["abc", False] and "cpu_model" in again[1]["machine"]
    assert [s["after_epoch"] for s in record_start(tmp_path, 0, code)] == [0]  # from scratch
    (tmp_path / "starts.json").unlink()  # a backup begun before starts were recorded
    unknown, resumed = record_start(tmp_path, 4, code)
    assert unknown["code_version"] is None and unknown["machine"] is None
    assert resumed["after_epoch"] == 4


def test_a_run_is_parked_only_with_its_teachers(plan, tmp_path):
    """Tf-KD_self's teacher in its ``--teacher_workdir``: a student whose teacher is too large
    to park is not parked either; a teacher inside its run's folder (``<run>/teacher``) is
    parked in its own right, kept when its run's copy is replaced, put back on its own, and
    dropped with its run."""
    (tmp_path / "parking.toml").write_text(
        PLAN
        + """
[[cell]]
name = "tfkd"
flagfile = "flags/table3/mlp1024_tfkd_self.flags"
flags = { teacher_workdir = "runs/parking/teachers/mlp" }
"""
    )
    student = the_run(plan, cell="tfkd")
    teacher, wanted = parking._teacher(student)  # as its sub_run trains it
    assert teacher == "parking/teachers/mlp" and wanted["method"] == "ce"
    one = tmp_path / "one" / "runs"
    fake_run(one / teacher, epochs=3, finished=True, settings={**wanted, "lr": 9.0})
    assert parking.park(str(tmp_path / "one"), log=print) == 0  # not a teacher of other settings
    assert not os.path.exists(parked(teacher))
    fake_run(one / teacher, epochs=3, finished=True, settings=wanted, size=2 * 2**20)
    fake_run(one / "parking/tfkd/seed0", epochs=2, settings=student.settings)
    logs = []
    assert parking.park(str(tmp_path / "one"), max_mb=1, log=logs.append) == 0
    assert (
        logs[-1]
        == "not parked: parking/tfkd/seed0 (its teacher parking/teachers/mlp is not parked)"
    )
    assert parking.park(str(tmp_path / "one"), max_mb=3, log=logs.append) == 2

    ce = the_run(plan)
    fake_run(one / "parking/ce/seed0", epochs=1, settings=ce.settings)
    fake_run(one / "parking/ce/seed0/teacher", epochs=3, finished=True)
    assert parking.park(str(tmp_path / "one"), log=logs.append) == 2
    fake_run(one / "parking/ce/seed0", epochs=2, settings=ce.settings)  # further
    assert parking.park(str(tmp_path / "one"), log=logs.append) == 1
    assert os.path.exists(parked("parking/ce/seed0/teacher/model.keras"))  # kept
    two = tmp_path / "two" / "runs"
    fake_run(two / "parking/ce/seed0/teacher", epochs=3, finished=True)  # the same machine
    (two / "parking/ce/seed0/teacher/model.keras").write_bytes(b"own")
    assert parking.unpark(str(tmp_path / "two"), log=logs.append) == 3  # not its teacher
    assert (two / "parking/ce/seed0/teacher/model.keras").read_bytes() == b"own"
    record = tmp_path / "main" / "results" / "parking" / "ce" / "seed0"
    record.mkdir(parents=True)
    (record / "run.json").write_text(json.dumps({"settings": ce.settings}))
    (record / "metrics.json").write_text("{}")
    logs = []
    parking.prune(log=logs.append)
    assert logs == ["dropped parked/parking/ce/seed0: recorded in results/"]
    assert not os.path.exists(parked("parking/ce/seed0/teacher"))
    assert os.path.exists(parked(teacher))  # tfkd's runs are not recorded
    for seed in (0, 1):
        run = the_run(plan, seed, cell="tfkd")
        record = tmp_path / "main" / "results" / "parking" / "tfkd" / f"seed{seed}"
        record.mkdir(parents=True)
        (record / "run.json").write_text(json.dumps({"settings": run.settings}))
        (record / "metrics.json").write_text("{}")
    parking.prune(log=logs.append)
    assert f"dropped parked/{teacher}: no run that uses it is left" in logs
    assert not os.path.exists(parked(teacher))


def test_unpark_leaves_a_folder_a_live_run_holds(plan, tmp_path):
    from tf_introspect.pipeline import workdir

    fake_run(tmp_path / "one/runs/parking/ce/seed0", epochs=2, settings=the_run(plan).settings)
    assert parking.park(str(tmp_path / "one"), log=print) == 1
    busy = tmp_path / "two/runs/parking/ce/seed0"
    logs = []
    with workdir.claim(str(busy)):
        assert parking.unpark(str(tmp_path / "two"), log=logs.append) == 0
    assert logs == [f"not unparked: parking/ce/seed0 is training in {busy} (stop the runner first)"]
    assert parking.unpark(str(tmp_path / "two"), log=logs.append) == 1  # the run has ended
    assert not list((tmp_path / "two/runs/parking/ce").glob("*.tmp"))


def test_a_finished_run_made_before_its_cells_since_is_trained_again(plan, tmp_path):
    """Its commit, not the time its metrics.json was written (a checkout's, once carried)."""
    commits = since_head(tmp_path)
    run = the_run(plan)
    folder = tmp_path / "main" / "runs" / "parking/ce/seed0"
    folder.mkdir(parents=True)
    for commit, again in ((commits[1], True), (commits[0], False)):
        metrics = {"epochs": 3, "flags": {}, "code_version": [commit, False]}
        (folder / "metrics.json").write_text(json.dumps(metrics))
        assert run.made_before_fix() is again
    (folder / "metrics.json").write_text(
        json.dumps(
            {
                "epochs": 3,
                "starts": [
                    {"after_epoch": 0, "code_version": [commits[1], False]},
                    {"after_epoch": 2, "code_version": [commits[0], False]},
                ],
            }
        )
    )
    assert run.made_before_fix()  # begun by the older code


def test_status_counts_a_parked_run_with_its_epochs(plan, tmp_path):
    from tf_introspect.lab import status

    folder = tmp_path / "one/runs/parking/ce/seed0"
    fake_run(folder, epochs=2, settings=the_run(plan).settings)
    with open(folder / "history.csv", "a") as f:  # written before the backup of epoch 3
        f.write("2,1.0\n")
    assert parking.park(str(tmp_path / "one"), log=print) == 1
    (line, _) = status.status(plan)
    assert line.split() == "ce done 0 running 0 left 1 parked 1 (2/3 epochs)".split()
