"""The experiment runner: plans checked before training, records, resume, grids, report."""

import dataclasses
import json
import os

import pytest
from conftest import REPO, require_shared_data

from tf_introspect.lab import cli, mechanism, paths, results_doc, runner, status, verdicts, verify
from tf_introspect.lab import plans as lab_plans
from tf_introspect.lab import records as lab_records
from tf_introspect.lab import stats as lab_stats

TINY = """
description = "tiny"
protocol = "test"
data_dir = "../shared/data"
seeds = [0]
validation_split = 200
reference = "le"
[flags]
epochs = 1
warmup_epochs = 0
train_limit = 600
test_limit = 200
batch_size = 50
lr = 0.05
[[cell]]
name = "ce"
flagfile = "flags/table3/mlp1024_ce.flags"
paper = 98.61
[[cell]]
name = "le"
flagfile = "flags/table3/mlp1024_le.flags"
"""


@pytest.fixture()
def root(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "ROOT", str(tmp_path))
    return tmp_path


def write_plan(root, text, name="tiny"):
    path = root / f"{name}.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    "old,new,message",
    [
        (
            'flagfile = "flags/table3/mlp1024_ce.flags"\n',
            'flagfile = "flags/table3/mlp1024_ce.flags"\nflags = { method = "sgd_magic" }\n',
            "flag --method=sgd_magic: value should be one of",
        ),
        ('name = "ce"', 'name = "le"', "every cell needs a unique name"),
        ("flags/table3/mlp1024_ce.flags", "flags/nowhere.flags", "no flag file"),
        ('reference = "le"', 'reference = "kd"', "reference 'kd' is not a cell"),
    ],
)
def test_bad_plans_fail_at_once_with_a_clear_message(root, old, new, message):
    path = write_plan(root, TINY.replace(old, new, 1))
    with pytest.raises(lab_plans.PlanError, match=message):
        runner.run_plan(path, log=lambda *_: pytest.fail("ran"))
    assert not (root / "runs").exists()


def test_unknown_cell_and_cli_exit_code(root, capsys):
    path = write_plan(root, TINY)
    assert cli.main(["run", path, "--cells=nope"]) == 2
    assert "unknown cell(s) ['nope']" in capsys.readouterr().err
    assert cli.main(["run", str(root)]) == 2  # a folder is no plan
    assert "test_unknown_cell_and_cli_exit0' is a folder, not a plan file" in (
        capsys.readouterr().err
    )
    for bad, message in (
        ("--seeds=-1", "seeds must be in [0, 4294967295], got [-1]"),
        ("--seeds=a", "'a' is not a list of whole numbers"),
        (f"--data_dir={root / 'nowhere'}", "no such folder"),
    ):
        with pytest.raises(SystemExit):
            cli.main(["run", path, bad])
        assert message in capsys.readouterr().err, bad


def test_runs_are_recorded_skipped_when_finished_and_rerun_when_settings_change(root):
    require_shared_data("mnist")
    path = write_plan(root, TINY)
    logs = []
    assert runner.run_plan(path, cells=["ce"], log=logs.append) == 0
    record_dir = root / "results" / "tiny" / "ce" / "seed0"
    record = json.loads((record_dir / "run.json").read_text())
    assert sorted(os.listdir(record_dir)) == ["history.csv", "metrics.json", "run.json"]
    assert record["command"][:3] == ["python", "-m", "tf_introspect.main"]
    assert "--flagfile=flags/table3/mlp1024_ce.flags" in record["command"]
    assert record["settings"]["epochs"] == 1 and record["protocol"] == "test"
    assert len(record["git_commit"]) == 40 and record["machine"]["cpus"] >= 1
    # the commit of the code that trained it, as the run recorded it at its start
    trained = json.loads((root / "runs" / "tiny" / "ce" / "seed0" / "metrics.json").read_text())
    assert [record["git_commit"], record["uncommitted_changes"]] == trained["code_version"]
    metrics = json.loads((record_dir / "metrics.json").read_text())
    assert metrics["schema_version"] == 3
    assert 0.5 < metrics["test_accuracy"] <= metrics["max_test_accuracy"] + 1e-9

    logs.clear()  # finished: skipped, nothing started
    assert runner.run_plan(path, cells=["ce"], log=logs.append) == 0
    assert not any("start" in line for line in logs)
    assert status.status(path)[0].split()[:3] == ["ce", "done", "1"]

    # a record lost (e.g. not committed) but its work folder finished: recorded again, with
    # the time the training took, not the seconds it takes to find the folder finished
    import shutil

    shutil.rmtree(record_dir)
    assert runner.run_plan(path, cells=["ce"], log=logs.append) == 0
    assert any("was already finished in" in line for line in logs), logs
    again = json.loads((record_dir / "run.json").read_text())
    assert again["wall_time_s"] == metrics["wall_time_s"]  # main.py's, not the runner's
    run = lab_plans.plan_runs(lab_plans.load_plan(path), cells=["ce"])[0]
    ended = os.path.getmtime(REPO / run.workdir / "metrics.json")  # when it trained, not now
    assert again["finished"] == lab_records.timestamp(ended), (again, record)
    assert again["started"] == lab_records.timestamp(ended - metrics["wall_time_s"])
    assert (
        _seconds(record["started"])
        <= _seconds(again["started"])
        <= _seconds(again["finished"])
        <= _seconds(record["finished"])
    )  # within the first recording

    # verify: the recorded command trained again in a scratch folder gives the same run
    # (--deterministic, same machine), recorded beside the run and shown in the report
    result = verify.verify(path, "ce", "seed0", log=logs.append)
    assert result["identical"] and result["same_machine_kind"], result["max_abs_diff"]
    assert result["max_abs_diff"]["history"]["loss"] == 0.0
    assert len(os.listdir(record_dir / "verify")) == 1
    assert verify.verified_here(path, "ce", "seed0")  # --once_per_machine: skip
    assert not verify.verified_here(path, "le", "seed0")
    doc = open(results_doc.write([path])).read()
    assert "`ce/seed0` rerun on" in doc and "the machine kind that made it): identical" in doc
    with pytest.raises(lab_plans.PlanError, match="le/seed0 is not a finished run"):
        verify.verify(path, "le", "seed0")

    # a different setting is a different run: recorded again, the old record replaced
    path = write_plan(root, TINY.replace("epochs = 1", "epochs = 2"))
    assert runner.run_plan(path, cells=["ce"], log=logs.append) == 0
    assert any(line.startswith("[") and "start ce/seed0" in line for line in logs)
    assert json.loads((record_dir / "run.json").read_text())["settings"]["epochs"] == 2


def _seconds(iso_time):
    import datetime

    return datetime.datetime.fromisoformat(iso_time).timestamp()


def fake_record(run, wall_time_s=60.0, cpu=None, finished=None, **metrics):
    folder = REPO / run.result_dir
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(
        json.dumps(
            {
                "settings": run.settings,
                "wall_time_s": wall_time_s,
                "git_commit": "0" * 40,
                "machine": {"processor": "x", "cpus": 2, **({"cpu_model": cpu} if cpu else {})},
                **({"finished": lab_records.timestamp(finished)} if finished else {}),
            }
        )
    )
    (folder / "metrics.json").write_text(json.dumps({"epochs": 1, **metrics}))


def test_runs_made_two_at_a_time_record_their_share_of_the_machine(root):
    require_shared_data("mnist")
    path = write_plan(root, TINY)
    assert runner.run_plan(path, jobs=2, log=lambda *_: None) == 0
    plan = lab_plans.load_plan(path)
    records = [lab_records.load_record(r) for r in lab_plans.plan_runs(plan)]
    assert [r["runs_at_a_time"] for r in records] == [2, 2]
    shorter = min(r["wall_time_s"] for r in records)
    for record in records:  # beside each other for the shorter one's life at least
        share = record["machine_time_s"]
        assert shorter / 2 - 1 <= share <= record["wall_time_s"] - shorter / 2 + 1
        assert lab_records.machine_seconds(record) == record["machine_time_s"]
    doc = open(results_doc.write([path])).read()
    assert "2 run(s) shared the machine with other runs (`run --jobs`)" in doc
    # the status prices a run of the same cost at its share: 1 epoch of 2 runs left at 30 s
    for run in lab_plans.plan_runs(plan):
        folder = REPO / run.result_dir
        record = json.loads((folder / "run.json").read_text())
        (folder / "run.json").write_text(json.dumps({**record, "machine_time_s": 30.0}))
    more = write_plan(root, TINY.replace("lr = 0.05", "lr = 0.1"), name="more")
    assert status.status(more)[-1].endswith(": 1 min")


def test_sharing_gives_each_run_its_share_of_the_machine(monkeypatch):
    clock = iter([0.0, 0.0, 4.0, 6.0, 10.0, 12.0])  # a and b start; b ends; c starts; ...
    monkeypatch.setattr(runner.time, "time", lambda: next(clock))
    sharing = runner.Sharing()
    sharing.start("a"), sharing.start("b")
    assert sharing.finish("b") == (2.0, 2)  # 0-4 beside a
    sharing.start("c")
    assert sharing.finish("a") == (2.0 + 2.0 + 2.0, 2)  # 0-4 shared, 4-6 alone, 6-10 shared
    assert sharing.finish("c") == (2.0 + 2.0, 2)  # 6-10 beside a, 10-12 alone


def test_grid_choice_on_validation_and_report(root):
    text = (
        TINY
        + """
[[cell]]
name = "ls"
flagfile = "flags/table3/mlp1024_ls.flags"
grid = { smoothing = [0.6, 0.7, 0.8] }
"""
    )
    plan = lab_plans.load_plan(write_plan(root, text))
    ls = plan["cell"][2]
    points = lab_plans.grid_runs(plan, ls)
    assert [r.name for r in points] == [f"grid/smoothing={v}" for v in (0.6, 0.7, 0.8)]
    assert all(r.settings["validation_split"] == 200 for r in points)
    assert lab_plans.chosen_value(plan, ls) is None  # grid not finished
    assert lab_plans.seed_runs(plan, ls)[0].settings is None  # so the seeds wait
    for run, accuracy in zip(points, (0.91, 0.95, 0.93)):
        fake_record(run, validation_accuracy=accuracy, test_accuracy=0.5)
    assert lab_plans.chosen_value(plan, ls) == (0.7, 0.95)
    seed = lab_plans.seed_runs(plan, ls)[0]
    assert seed.settings["smoothing"] == 0.7 and seed.settings["validation_split"] == 0
    fake_record(
        lab_plans.seed_runs(plan, plan["cell"][0])[0],
        test_accuracy=0.98,
        best_test_accuracy=0.985,
        final_train={"accuracy": 0.9975, "loss": 0.01},
    )
    doc = open(results_doc.write([str(root / "tiny.toml")])).read()
    # a version-1 record (best_test_accuracy): its maximum is read, named test-selected
    assert (
        "| ce | 1 | 98.00 (one seed) | 98.50 (one seed) | 99.75 (one seed) | - | - | 98.61 | - |"
        in doc
    )
    assert "max % (test-selected)" in doc and "best - paper" not in doc
    assert "0.6: 91.00, 0.7: 95.00, 0.8: 93.00; chosen smoothing=0.7 (the highest" in doc


def test_a_run_trained_by_another_plan_is_reused_not_trained(root):
    other = write_plan(
        root,
        TINY.replace('name = "le"', 'name = "le_again"').replace(
            'reference = "le"', 'reference = "le_again"'
        ),
        name="other",
    )
    tiny = write_plan(root, TINY)
    source = lab_plans.seed_runs(lab_plans.load_plan(other), lab_plans.load_plan(other)["cell"][1])[
        0
    ]
    fake_record(source, test_accuracy=0.97, best_test_accuracy=0.975)
    (REPO / source.result_dir / "history.csv").write_text("epoch,loss\n0,1.5\n")
    assert status.status(tiny)[1].split()[-2:] == ["reusable", "1"]
    logs = []
    assert runner.run_plan(tiny, cells=["le"], log=logs.append) == 0
    assert not any(" start " in line for line in logs), logs
    assert logs[0] == f"reused le/seed0: the same settings were trained in {source.result_dir}"
    target = (
        REPO
        / lab_plans.seed_runs(lab_plans.load_plan(tiny), lab_plans.load_plan(tiny)["cell"][1])[
            0
        ].result_dir
    )
    record = json.loads((target / "run.json").read_text())
    assert (record["plan"], record["cell"], record["reused_from"]) == (
        "tiny",
        "le",
        source.result_dir,
    )
    assert (target / "history.csv").read_text() == "epoch,loss\n0,1.5\n"
    assert json.loads((target / "metrics.json").read_text())["test_accuracy"] == 0.97
    doc = open(results_doc.write([tiny])).read()
    assert f"`le/seed0` from `{source.result_dir}`" in doc
    # a reused record is not a source itself, and a different setting is not reused
    assert (
        lab_records.equal_record(
            lab_plans.seed_runs(lab_plans.load_plan(tiny), lab_plans.load_plan(tiny)["cell"][0])[0]
        )
        is None
    )


def test_status_counts_live_runners_only(root, capsys):
    import subprocess
    import sys

    path = write_plan(root, TINY)
    run = lab_plans.seed_runs(lab_plans.load_plan(path), lab_plans.load_plan(path)["cell"][0])[0]
    workdir = REPO / run.workdir
    workdir.mkdir(parents=True)
    (workdir / "runner.pid").write_text(str(os.getpid()))
    assert status.status(path)[0].split()[:5] == ["ce", "done", "0", "running", "1"]
    # timed from its own output while it runs: 1 of 3 epochs done in 40 s; the ce run left
    # and le's run are priced at that rate: (3 - 1 + 3) epochs x 40 s
    text = TINY.replace("epochs = 1", "epochs = 3")
    path = write_plan(root, text)
    (workdir / "history.csv").write_text("epoch,accuracy,loss\n0,0.5,1.0\n")
    (workdir / "output.log").write_text("Epoch 1/3\n12/12 - 40s - 3s/step - loss: 1.0\nEpoch 2/3\n")
    lines = status.status(path)
    assert lines[0].split() == [
        "ce",
        "done",
        "0",
        "running",
        "1",
        "(1/3",
        "epochs)",
        "left",
        "0",
    ], lines
    assert lines[1].split()[-1] == "1" and lines[-1].endswith(": 3 min"), lines  # 200 s
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    (workdir / "runner.pid").write_text(dead)  # a runner killed without cleaning up
    assert status.status(path)[0].split()[:5] == ["ce", "done", "0", "running", "0"]

    # a runner in a worktree of its own, seen from this checkout: its runs and records
    (workdir / "runner.pid").write_text(str(os.getpid()))
    checkout = root / "checkout"
    checkout.mkdir()
    lab_paths_root = paths.ROOT
    paths.ROOT = str(checkout)  # this checkout: nothing there (the fixture restores ROOT)
    assert status.status(path)[0].split()[:5] == ["ce", "done", "0", "running", "0"]
    assert cli.main(["status", path, "--runner", lab_paths_root]) == 0
    assert capsys.readouterr().out.split("\n")[0].split()[:5] == ["ce", "done", "0", "running", "1"]


def test_status_prices_a_live_le_run_apart_from_its_warm_up(root, monkeypatch, capsys):
    # LE, 6 epochs, 2 of warm-up (plain CE, cheap): its later epochs cost 4x more
    text = TINY.replace("epochs = 1\nwarmup_epochs = 0", "epochs = 6\nwarmup_epochs = 2")
    plan = lab_plans.load_plan(write_plan(root, text))
    run = lab_plans.plan_runs(plan, cells=["le"])[0]
    workdir = REPO / run.workdir
    workdir.mkdir(parents=True)
    (workdir / "runner.pid").write_text(str(os.getpid()))
    log = "".join(
        f"Epoch {e}/6\n12/12 - {t}s - 1s/step - loss: 1.0\n" for e, t in [(1, 10), (2, 10), (3, 40)]
    )
    (workdir / "output.log").write_text(log)
    (workdir / "history.csv").write_text("epoch,loss\n0,1\n1,1\n2,1\n")
    lines = status.status(write_plan(root, text))
    # le: 3 LE epochs left at its own 40 s, not at the median over all its epochs (10 s);
    # ce (untimed) at le's whole-run rate, (2 x 10 + 4 x 40) / 6 = 30 s: 120 + 180 s
    assert lines[1].split()[:7] == ["le", "done", "0", "running", "1", "(3/6", "epochs)"]
    assert lines[-1].endswith(": 5 min"), lines
    # only the warm-up timed: its warm-up epoch left at 10 s, the 4 LE epochs untimed
    (workdir / "output.log").write_text(log.split("Epoch 2/6")[0])
    (workdir / "history.csv").write_text("epoch,loss\n0,1\n")
    assert status.status(write_plan(root, text))[-1].endswith(": 0 min (+2 runs not yet timed)")
    # ... unless a finished run of its kind (another plan: same cost) gives the rate,
    # 6 epochs in 600 s: 10 s + 4 x 100 s
    other = lab_plans.load_plan(
        write_plan(root, text.replace("lr = 0.05", "lr = 0.1"), name="other")
    )
    fake_record(lab_plans.plan_runs(other, cells=["le"])[0], test_accuracy=0.9, epochs=6)
    record = REPO / lab_plans.plan_runs(other, cells=["le"])[0].result_dir / "run.json"
    record.write_text(record.read_text().replace('"wall_time_s": 60.0', '"wall_time_s": 600'))
    assert status.status(write_plan(root, text))[-1].endswith(
        ": 7 min (+1 runs not yet timed)"
    )  # 410 s; ce untimed
    # a run resumed from its backup timed only its last start's epochs: 600 s for 3 of 6
    metrics = record.parent / "metrics.json"
    metrics.write_text(
        metrics.read_text().replace('"epochs": 6', '"epochs": 6, "resumed_after_epoch": 3')
    )
    assert status.status(write_plan(root, text))[-1].endswith(
        ": 14 min (+1 runs not yet timed)"
    )  # 10 + 4 x 200 s
    # every plan at once: each plan's lines under its name, then the sum of their times
    paths = [write_plan(root, text), str(root / "other.toml")]
    both = status.status_all(paths)
    assert both[: len(status.status(paths[0])) + 1] == [f"== {paths[0]}", *status.status(paths[0])]
    assert f"== {paths[1]}" in both and both[-3] == status.status(paths[1])[-1]
    (_, a, a_untimed), (_, b, b_untimed) = (status._status(p) for p in paths)
    assert a_untimed == 1 and b > 0
    total = status._hours(a + b, a_untimed + b_untimed)
    assert both[-1].startswith(f"all 2 plans: {total} left"), both
    # the command line, with plans named from the caller's folder
    monkeypatch.chdir(root)
    assert cli.main(["status", "tiny.toml", "other.toml"]) == 0
    out = capsys.readouterr().out.splitlines()
    headers = [line for line in out if line.startswith("== ")]
    assert [h.endswith(n) for h, n in zip(headers, ("tiny.toml", "other.toml"))] == [True] * 2
    assert [line for line in out if line not in headers] == [
        line for line in both if not line.startswith("== ")
    ]
    monkeypatch.chdir(root)  # main moved to the repository
    assert cli.main(["status", "tiny.toml"]) == 0
    assert capsys.readouterr().out.splitlines() == status.status(paths[0])


def test_live_epoch_times_leave_out_a_teacher_trained_in_the_same_process():
    log = (
        "The teacher: ce resnet26 in runs/x/teacher.\n"
        "I1126 06:30:04.709213 1 main.py:178] Training resnet26 with ce on cifar10 "
        "(391 steps/epoch of 128) for 2 epochs.\n"
        "Epoch 1/2\n391/391 - 300s - 1s/step - loss: 1.0\n"
        "Epoch 2/2\n391/391 - 310s - 1s/step - loss: 0.9\n"
        "The teacher has test accuracy 0.9000.\n"
        "I1126 06:41:04.709213 1 main.py:178] Training resnet8 with kd on cifar10 "
        "(391 steps/epoch of 128) for 3 epochs.\n"
        "Epoch 1/3\n391/391 - 50s - 120ms/step - loss: 1.0\n"
        "I1126 06:42:04.709213 1 main.py:174] Resuming from the backup in runs/x/backup.\n"
        "I1126 06:42:05.709213 1 main.py:178] Training resnet8 with kd on cifar10 "
        "(391 steps/epoch of 128) for 3 epochs.\n"
        "Epoch 2/3\n391/391 - 48s - 120ms/step - loss: 0.8\n"
    )
    assert status._epoch_seconds(log, "resnet8", "kd") == {1: 50, 2: 48}
    assert status._epoch_seconds(log, "resnet26", "ce") == {1: 300, 2: 310}
    # a log without main.py's lines (an older run): every epoch line is the run's
    assert status._epoch_seconds("12/12 - 40s - 3s/step\n", "mlp", "ce") == {1: 40}


def test_status_prices_untimed_runs_from_runs_of_the_same_cost_in_other_plans(root):
    # another learning rate: not the same run (nothing to reuse), but the same cost
    other = lab_plans.load_plan(
        write_plan(root, TINY.replace("lr = 0.05", "lr = 0.1"), name="other")
    )
    fake_record(lab_plans.plan_runs(other, cells=["ce"])[0], test_accuracy=0.9)  # 60 s
    lines = status.status(write_plan(root, TINY))
    # ce: 1 epoch at the other plan's 60 s; le (another method, so another cost): untimed
    assert lines[-1].endswith(": 1 min (+1 runs not yet timed)"), lines

    # a grid cell's seeded run waits for its grid (no settings yet): priced at the grid
    # points' epochs, here at the plan's own rate: ls 3 points + 1 seed, le 1, 60 s each
    grid = (
        TINY + '[[cell]]\nname = "ls"\nflagfile = "flags/table3/mlp1024_ls.flags"\n'
        "grid = { smoothing = [0.6, 0.7, 0.8] }\n"
    )
    plan = lab_plans.load_plan(write_plan(root, grid, name="grid"))
    fake_record(lab_plans.plan_runs(plan, cells=["ce"])[0], test_accuracy=0.9)
    assert status.status(write_plan(root, grid, name="grid"))[-1].endswith(": 5 min")


def test_runs_are_priced_from_this_cpu_models_runs_where_there_are_some(root, monkeypatch):
    monkeypatch.setattr(status, "cpu_model", lambda: "Fast CPU")
    text = TINY.replace("epochs = 1", "epochs = 4")

    def timed(name, lr, seconds, cpu):  # a CE run of another plan: seconds an epoch
        plan = lab_plans.load_plan(write_plan(root, text.replace("lr = 0.05", f"lr = {lr}"), name))
        fake_record(lab_plans.plan_runs(plan, cells=["ce"])[0], 4 * seconds, cpu, epochs=4)

    timed("elsewhere", "0.1", 30.0, None)
    timed("here", "0.2", 60.0, "Fast CPU")
    path = write_plan(root, text)
    ce = lab_plans.plan_runs(lab_plans.load_plan(path), cells=["ce"])[0]
    # status: this CPU's runs where there are some
    last = status.status(path)[-1]
    assert "(Fast CPU: priced from runs timed on it where there are some; runs made" in last
    assert last.endswith(": 4 min (+1 runs not yet timed)")
    # a projection wants two of this CPU's: one alone could be a paused run; the lower
    # median of all, 30 s an epoch
    assert status.epochs_left(ce) * status.epoch_rate(ce) == 4 * 30
    timed("here_too", "0.3", 90.0, "Fast CPU")
    assert status.epochs_left(ce) * status.epoch_rate(ce) == 4 * 60  # this CPU's two: 60 and 90 s
    # status too prices at their lower median, not their mean (75 s: 5 min)
    assert status.status(path)[-1].endswith(": 4 min (+1 runs not yet timed)")


def test_a_first_stage_before_the_schedule_counts_in_a_runs_epochs():
    # Hint's and FSP's stage 1 comes before --epochs (their history and records count it);
    # LE's warm-up is part of --epochs
    assert status.total_epochs({"method": "hint", "epochs": 160, "hint_epochs": 40}) == 200
    assert status.total_epochs({"method": "fsp", "epochs": 160, "fsp_epochs": 10}) == 170
    assert status.total_epochs({"method": "le", "epochs": 50, "warmup_epochs": 10}) == 50
    assert status.total_epochs({"method": "ce", "epochs": 15}) == 15


def test_until_starts_only_the_runs_projected_to_end_by_then(root, monkeypatch, capsys):
    from tf_introspect.lab import deadline

    text = TINY.replace("epochs = 1", "epochs = 4").replace("seeds = [0]", "seeds = [0, 1]")
    other = lab_plans.load_plan(
        write_plan(root, text.replace("lr = 0.05", "lr = 0.1"), name="other")
    )
    fake_record(lab_plans.plan_runs(other, cells=["ce"])[0], 240.0, epochs=4)  # 60 s an epoch
    le = lab_plans.plan_runs(other, cells=["le"])
    fake_record(le[0], 2400.0, epochs=4)  # 600 s an epoch (a run paused for hours) ...
    fake_record(le[1], 480.0, epochs=4)  # ... and 120 s: the lower median prices it
    clock = [1e9]
    monkeypatch.setattr(deadline.time, "time", lambda: clock[0])
    monkeypatch.setattr(runner.time, "time", lambda: clock[0])
    monkeypatch.setattr(deadline, "MIN_SAMPLE_S", 200)  # 4 epochs measure, 1 does not
    started, logs = [], []

    def train(plan, run, log, sharing):  # twice its base price (7.5 s an epoch if none)
        started.append(f"{run.cell}/{run.name}")
        seconds = 2 * status.epochs_left(run) * {"ce": 60, "le": 120}.get(run.cell, 7.5)
        clock[0] += seconds
        here = deadline.cpu_model()
        fake_record(run, seconds, here, finished=clock[0], epochs=status.epochs_left(run))
        clock[0] += 1
        return True

    monkeypatch.setattr(runner, "execute", train)
    path = write_plan(root, text)
    assert runner.run_plan(path, log=logs.append, until=clock[0] + 1000) == 0
    # ce/seed0: 240 s x 1.25 <= 1000; it took 480 s, twice its price at the base rates
    # (the records finished before the first measurement, never its own): ce/seed1 at
    # 2 x 240 x 1.25 > 520
    assert started == ["ce/seed0"]
    assert (
        "not started: ce/seed1, projected to take 8 min (2.00 x its records' time), 9 min "
        "left before --until" in logs
    )
    assert any(line.startswith("not started: le/seed0, projected to take 16 min") for line in logs)
    assert logs[-1] == "3 run(s) not started: projected to end after --until."
    saved = json.loads((root / "runs" / "slowdown.json").read_text())
    assert saved["base_s"] == 1e9 and saved["slowdowns"]["all"]["run"] == "tiny/ce/seed0"
    assert deadline.saved_state() == (1e9, {"all": 2.0})
    # a CE run of another plan, as slowed, after the base: it never prices CE (the lower
    # median of 60, 120, 120 would be 120)
    third = lab_plans.load_plan(write_plan(root, text.replace("lr = 0.05", "lr = 0.2"), "third"))
    fake_record(lab_plans.plan_runs(third, cells=["ce"])[0], 480.0, None, clock[0], epochs=4)

    # the next call starts from the saved slowdown and base; a run part done is priced for
    # its epochs left (1 of 4: 60 s x 2), and too short to measure the slowdown again; a
    # cell of another method is priced roughly (the model's and data's runs), one of another
    # batch size not at all: its first run is started, and said so, and the next priced at
    # the first's time here (60 s, the slowdown in it): late
    history = REPO / lab_plans.plan_runs(lab_plans.load_plan(path))[1].workdir / "history.csv"
    history.parent.mkdir(parents=True)
    history.write_text("epoch,loss\n0,1\n1,1\n2,1\n")
    more = (
        text
        + '[[cell]]\nname = "ls"\nflagfile = "flags/table3/mlp1024_ls.flags"\n'
        + '[[cell]]\nname = "small"\nflagfile = "flags/table3/mlp1024_ce.flags"\n'
        + "flags = { batch_size = 25 }\n"
    )
    started.clear()
    assert runner.run_plan(write_plan(root, more), log=logs.append, until=clock[0] + 200) == 0
    assert started == ["ce/seed1", "small/seed0"], logs[-8:]  # small/seed1: timed by seed0, late
    assert any(line.startswith("not started: small/seed1, projected") for line in logs)
    assert any("ls/seed0, projected to take" in line and "roughly" in line for line in logs)
    assert "small/seed0 is not yet timed: started, may end after --until" in logs
    assert any("small/seed1, projected to take 1 min (its own cost's time" in x for x in logs)
    assert deadline.saved_state() == (1e9, {"all": 2.0})

    # past the deadline nothing starts but a run finished in its folder (only recorded)
    finished = REPO / lab_plans.plan_runs(lab_plans.load_plan(path), cells=["le"])[0].workdir
    finished.mkdir(parents=True)
    (finished / "history.csv").write_text("epoch,loss\n0,1\n1,1\n2,1\n3,1\n")
    le_run = lab_plans.plan_runs(lab_plans.load_plan(path), cells=["le"])[0]
    started.clear()  # every epoch in its history, but no metrics.json: an epoch left
    assert runner.run_plan(write_plan(root, more), log=logs.append, until=clock[0] - 1) == 0
    assert started == [] and "not started: le/seed0, --until has passed" in logs
    (finished / "metrics.json").write_text(json.dumps({"flags": le_run.settings}))
    assert runner.run_plan(write_plan(root, more), log=logs.append, until=clock[0] - 1) == 0
    assert started == ["le/seed0"] and "not started: ls/seed0, --until has passed" in logs

    # runs beside it: a record holds a run's share of the machine; a stale folder starts over
    fresh = lab_plans.load_plan(write_plan(root, text.replace("lr = 0.05", "lr = 0.3"), "f"))
    ce = lab_plans.plan_runs(fresh, cells=["ce"])[0]
    late = deadline.Deadline(clock[0] + 700, logs.append)
    late.slowdowns = {}  # 4 epochs at the base's 60 s, x 1.25
    assert late.fits(ce, beside=0) and late.fits(ce, beside=1)  # 300 s, 600 s
    assert not late.fits(ce, beside=2) and "(1.00 x its records' time, 3 at a time)" in logs[-1]
    (REPO / ce.workdir).mkdir(parents=True)
    (REPO / ce.workdir / "history.csv").write_text("epoch,loss\n0,1\n1,1\n2,1\n")
    assert status.epochs_left(ce) == 1
    monkeypatch.setattr(lab_plans.Run, "command", lambda self: ["main", "--overwrite"])
    assert status.epochs_left(ce) == 4

    # the command line: HH:MM today, ISO 8601 with a time, and a clear error
    import datetime

    soon = (datetime.datetime.now() + datetime.timedelta(minutes=2)).replace(
        second=0, microsecond=0
    )
    if soon.date() == datetime.date.today():  # not just before midnight
        assert cli._moment(f"{soon:%H:%M}") == soon.timestamp()
    assert cli._moment("2026-12-07T18:10:00+00:00") == 1796667000
    assert cli._moment("2026-12-07T19:10:00+01:00") == 1796667000
    for bad in ("soon", "2026-12-07", "25:99"):
        with pytest.raises(SystemExit):
            cli.main(["run", path, f"--until={bad}"])
        assert f"{bad!r} is not a time: give HH:MM (today) or an ISO" in capsys.readouterr().err
    past = datetime.datetime.now() - datetime.timedelta(minutes=2)
    if past.date() == datetime.date.today():  # not just after midnight
        with pytest.raises(SystemExit):
            cli.main(["run", path, f"--until={past:%H:%M}"])
        assert f"'{past:%H:%M}' has passed today" in capsys.readouterr().err


def test_a_run_the_runner_was_paused_in_does_not_measure_the_slowdown(root, monkeypatch):
    from tf_introspect.lab import deadline

    text = TINY.replace("epochs = 1", "epochs = 4").replace("seeds = [0]", "seeds = [0, 1]")
    other = lab_plans.load_plan(write_plan(root, text.replace("lr = 0.05", "lr = 0.1"), "other"))
    fake_record(lab_plans.plan_runs(other, cells=["ce"])[0], 240.0, epochs=4)  # 60 s an epoch
    clock = [1e9]
    monkeypatch.setattr(deadline.time, "time", lambda: clock[0])
    monkeypatch.setattr(deadline, "MIN_SAMPLE_S", 200)
    runs = lab_plans.plan_runs(lab_plans.load_plan(write_plan(root, text)), cells=["ce"])
    pauses = root / "runs" / "pauses.log"
    for seed, (pause, measured) in enumerate([((100, 700), None), ((-900, -100), 3.0)]):
        logs = []
        watch = deadline.Deadline(clock[0] + 10_000, logs.append)
        run = runs[seed]
        assert watch.fits(run)
        start, clock[0] = clock[0], clock[0] + 720  # 3 x its 240 s
        pauses.parent.mkdir(exist_ok=True)
        with open(pauses, "a") as f:  # quiet.sh's line; a line half written is skipped
            f.write(f"{start + pause[0]} {start + pause[1]}\n{start}\n")
        fake_record(run, 720.0, deadline.cpu_model(), finished=clock[0], epochs=4)
        watch.ended(run)
        if measured is None:  # 10 of its 12 minutes paused: not a measure of the machine
            assert deadline.saved_state()[1] == {}
            assert logs == [
                "ce/seed0 does not measure the slowdown: the runner was paused during it "
                "(runs/pauses.log, scripts/quiet.sh)"
            ]
        else:  # a pause before it started: measured
            assert deadline.saved_state()[1] == {"all": measured} and logs == []
        clock[0] += 1


def test_welch_matches_the_formula():
    import math

    a, b = [0.9, 0.92, 0.91], [0.95, 0.96, 0.94, 0.97]
    ma, mb = sum(a) / 3, sum(b) / 4
    va = sum((x - ma) ** 2 for x in a) / 2 / 3
    vb = sum((x - mb) ** 2 for x in b) / 3 / 4
    t = (ma - mb) / math.sqrt(va + vb)
    dof = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 3)
    from scipy import stats

    assert lab_stats.welch(a, b) == pytest.approx(2 * stats.t.sf(abs(t), dof))
    assert lab_stats.welch([0.9], b) is None
    assert lab_stats.welch([0.1, 0.1], [0.1, 0.1]) == 1.0  # undefined (scipy: NaN)


def test_a_report_of_some_plans_says_so(root, capsys):
    path = write_plan(root, TINY)
    assert cli.main(["report", path]) == 0
    doc = (root / "docs" / "RESULTS.md").read_text()
    assert "**This report covers `" in doc and "tiny.toml` only**: `python -m tf_in" in doc


def test_seed_order_and_prepare_step(root):
    text = TINY.replace('reference = "le"', 'reference = "le"\norder = "seed"').replace(
        "seeds = [0]", "seeds = [0, 1]"
    )
    text += (
        f'[prepare]\npath = "{root}/made"\ncommand = ["python", "-c", '
        f"\"open('{root}/made', 'w').write('x')\"]\n"
    )
    plan = lab_plans.load_plan(write_plan(root, text))
    assert [f"{r.cell}/{r.name}" for r in lab_plans.plan_runs(plan)] == [
        "ce/seed0",
        "le/seed0",
        "ce/seed1",
        "le/seed1",
    ]
    runner.prepare(plan, log=lambda *_: None)
    assert (root / "made").read_text() == "x"
    failing = text.replace("made", "never_made").replace(".write('x')", ".write(1)")
    with pytest.raises(lab_plans.PlanError, match=r"\[prepare\] step failed .* --data_dir=DIR"):
        runner.prepare(lab_plans.load_plan(write_plan(root, failing)), log=lambda *_: None)

    # a data folder of one's own: every run reads it (also a cell naming its own), no
    # [prepare] step, the same settings
    text = text.replace('name = "le"\n', 'name = "le"\nflags = { data_dir = "elsewhere" }\n')
    plan = lab_plans.load_plan(write_plan(root, text))
    assert "--data_dir=elsewhere" in lab_plans.plan_runs(plan, cells=["le"])[0].args
    own = lab_plans.load_plan(write_plan(root, text), data_dir="/data/mine")
    assert "prepare" not in own and "data_labels" not in own
    for ours, theirs in zip(lab_plans.plan_runs(own), lab_plans.plan_runs(plan)):
        assert "--data_dir=/data/mine" in ours.args and ours.settings == theirs.settings


def test_every_committed_plan_loads_and_names_valid_runs():
    plans = lab_plans.list_plans()
    assert {
        "experiments/table3_short.toml",
        "experiments/table2_short.toml",
        "experiments/table3_paper.toml",
        "experiments/figure3_short.toml",
    } <= set(plans)
    for path in plans:
        plan = lab_plans.load_plan(str(REPO / path))
        runs = lab_plans.plan_runs(plan)
        assert runs and len({(r.cell, r.name) for r in runs}) == len(runs), path
        for cell in plan["cell"]:  # the protocol's flags reach every run
            for run in lab_plans.grid_runs(plan, cell):
                assert run.settings["validation_split"] == plan["validation_split"]


def report_of_two_cells(root, le_paper, ce_accuracies, le_accuracies):
    """docs/RESULTS.md of the tiny plan with 3 seeds of CE (paper 98.61) and LE (paper
    ``le_paper``) at the given test accuracies."""
    text = TINY.replace("seeds = [0]", "seeds = [0, 1, 2]").replace(
        'flagfile = "flags/table3/mlp1024_le.flags"\n',
        f'flagfile = "flags/table3/mlp1024_le.flags"\npaper = {le_paper}\n',
    )
    plan = lab_plans.load_plan(write_plan(root, text))
    for cell, accuracies in zip(plan["cell"], (ce_accuracies, le_accuracies)):
        for run, accuracy in zip(lab_plans.seed_runs(plan, cell), accuracies):
            fake_record(run, test_accuracy=accuracy)
    return open(results_doc.write([str(root / "tiny.toml")])).read()


def test_report_verdicts_against_the_paper(root):
    doc = report_of_two_cells(root, 98.9, (0.980, 0.981, 0.979), (0.985, 0.986, 0.984))
    # the interval is Welch's: +-t(0.975, df 4) * sqrt(0.1^2 / 3 * 2) = +-0.23 (equal stds)
    line = next(row for row in doc.splitlines() if row.startswith("- vs ce:"))
    assert line.startswith("- vs ce: +0.50 [+0.27, +0.73] (g +"), line
    assert ", paper +0.29; p " in line and ": reproduced." in line
    assert "| le | 3 | 98.50 +- 0.10 |" in doc


def test_report_says_when_the_data_speak_against_the_papers_margin(root):
    """Not significant, and the paper's margin (here +1.50) lies outside the 95 % interval:
    the report says the data speak against that margin, not only "not shown"."""
    doc = report_of_two_cells(root, 100.11, (0.980, 0.986, 0.979), (0.985, 0.981, 0.984))
    line = next(line for line in doc.splitlines() if line.startswith("- vs ce:"))
    assert (
        "not shown (no significant difference); the data speak against the paper's "
        "margin of +1.50 (outside the interval; at our `test` protocol)." in line
    ), line


@pytest.mark.parametrize(
    "accuracies,verdict",
    [
        (((0.980, 0.981, 0.979), (0.985, 0.986, 0.984)), "reproduced"),
        (((0.985, 0.986, 0.984), (0.980, 0.981, 0.979)), "contradicted"),
        (((0.980, 0.986, 0.979), (0.985, 0.981, 0.984)), "not shown (no significant difference)"),
        (((0.980,), (0.985, 0.986, 0.984)), "not tested (cells with one seed"),
    ],
)
def test_report_tests_the_papers_order_pair_by_pair(root, accuracies, verdict):
    text = TINY.replace("seeds = [0]", 'seeds = [0, 1, 2]\npaper_order = [["ce", "le"]]')
    plan = lab_plans.load_plan(write_plan(root, text))
    for cell, values in zip(plan["cell"], accuracies):
        for run, accuracy in zip(lab_plans.seed_runs(plan, cell), values):
            fake_record(run, test_accuracy=accuracy)
    doc = open(results_doc.write([str(root / "tiny.toml")])).read()
    line = next(line for line in doc.splitlines() if line.startswith("The paper's order"))
    assert line.startswith("The paper's order ce < le (final accuracy, ascending): ours is ")
    assert f"Verdict at p < 0.05: {verdict}" in line, line
    with pytest.raises(lab_plans.PlanError, match=r"paper_order names \['kd'\], not cells"):
        lab_plans.load_plan(write_plan(root, text.replace('["ce", "le"]', '["ce", "kd"]')))


def test_metrics_of_both_schema_versions_are_read():
    from tf_introspect.pipeline import outputs

    assert outputs.max_test_accuracy({"test_accuracy": 0.9, "best_test_accuracy": 0.92}) == 0.92
    v2 = {
        "schema_version": 2,
        "test_accuracy": 0.9,
        "max_test_accuracy": 0.93,
        "best_test_accuracy": 0.5,
    }  # a stray v1 key is not read in a v2 file
    assert outputs.max_test_accuracy(v2) == 0.93
    assert (
        outputs.max_test_accuracy({"test_accuracy": 0.9, "best_validation_accuracy": 0.95}) is None
    )  # v1 with a validation split: test not per epoch


def test_records_older_than_a_cells_last_fix_are_stale(root):
    """``since``: a record whose commit does not contain the cell's last fix is neither
    counted nor reused (here: the repository's first commit against its current one); a
    record made after it is; an unknown commit is an error, not a silent rerun."""
    import subprocess

    first = subprocess.run(
        ["git", "rev-list", "--max-parents=0", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.split()[0]
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    plan = lab_plans.load_plan(
        write_plan(root, TINY.replace('reference = "le"', f'reference = "le"\nsince = "{head}"'))
    )
    run = lab_plans.seed_runs(plan, plan["cell"][0])[0]
    assert run.since == head
    fake_record(run, test_accuracy=0.9)
    record = REPO / run.result_dir / "run.json"
    for commit, fresh in ((first, False), (head, True)):
        record.write_text(json.dumps({**json.loads(record.read_text()), "git_commit": commit}))
        assert (lab_records.load_record(run) is not None) == fresh
        assert (
            lab_records.equal_record(dataclasses.replace(run, plan="other")) is not None
        ) == fresh
    with pytest.raises(lab_plans.PlanError, match="not a commit"):
        lab_records.current({"git_commit": head}, "f" * 40)


def test_distance_of_le_targets_from_label_smoothing_against_a_direct_kl():
    """KL(q || u) from q_entropy (H(u) - H(q)) equals the KL computed entry by entry for
    targets with mass alpha on the ground truth (NumPy, independent of the formula's
    derivation); label smoothing itself is at 0; no q_entropy, no number."""
    import numpy as np

    rng = np.random.default_rng(0)
    alpha, k = 0.9, 10
    rest = rng.dirichlet(np.ones(k - 1) * 5, size=64)  # 64 samples' rest shares
    q = np.concatenate([np.full((64, 1), alpha), (1 - alpha) * rest], axis=1)
    u = np.concatenate([[alpha], np.full(k - 1, (1 - alpha) / (k - 1))])
    direct = np.mean(np.sum(q * np.log(q / u), axis=1))
    q_entropy = np.mean(-np.sum(q * np.log(q), axis=1))
    metrics = {
        "final_train": {"q_entropy": q_entropy},
        "flags": {"alpha": alpha},
        "dataset": "mnist",
    }
    kl, kl_rest = mechanism.label_smoothing_distance(metrics)
    np.testing.assert_allclose(kl, direct, rtol=1e-10)
    np.testing.assert_allclose(
        kl_rest, np.mean(np.sum(rest * np.log(rest * (k - 1)), axis=1)), rtol=1e-10
    )
    uniform = {**metrics, "final_train": {"q_entropy": -np.sum(u * np.log(u))}}
    assert mechanism.label_smoothing_distance(uniform)[0] == pytest.approx(0, abs=1e-12)
    assert mechanism.label_smoothing_distance({"final_train": {}, "flags": {}}) is None


def test_bf16_parity_verdict_against_the_seed_spread():
    """Issue 17: bfloat16 is adopted only if every bfloat16 - float32 difference of mean final
    accuracy lies within the seed spread (the larger of the two cells' ranges)."""
    plan = {"cell": [{"name": "ce"}, {"name": "le"}, {"name": "ce_bf16"}, {"name": "le_bf16"}]}
    results = {
        "ce": {"final": [0.850, 0.860]},  # range 1.0 point
        "ce_bf16": {"final": [0.852, 0.858]},  # mean +0.00: within
        "le": {"final": [0.870, 0.872]},  # range 0.2
        "le_bf16": {"final": [0.860, 0.864]},  # range 0.4, mean -0.90: outside
    }
    text = " ".join(verdicts.parity_lines(plan, results))
    assert "ce: +0.00 (spread 1.00, within)" in text
    assert "le: -0.90 (spread 0.40, outside)" in text
    assert "no parity" in text
    results["le_bf16"] = {"final": [0.869, 0.873]}
    assert "Verdict: parity" in " ".join(verdicts.parity_lines(plan, results))
    results["le_bf16"] = {"final": [0.869]}
    assert "not decided yet" in " ".join(verdicts.parity_lines(plan, results))
    assert verdicts.parity_lines({"cell": [{"name": "ce"}]}, {"ce": {"final": [0.8]}}) == []


def test_verify_compares_undefined_values_as_equal(tmp_path):
    """A column undefined in both runs (NaN: LE-Uniform's rank correlation) is no difference;
    undefined in one run only, it is the largest."""
    import json as json_module

    def run(folder, spearman):
        folder.mkdir()
        (folder / "metrics.json").write_text(
            json_module.dumps({"test_accuracy": 0.9, "test_loss": 0.3})
        )
        (folder / "history.csv").write_text(
            f"epoch,loss,q_confusion_spearman\n0,0.5,{spearman}\n1,0.4,{spearman}\n"
        )
        return str(folder)

    a, b, c = run(tmp_path / "a", "nan"), run(tmp_path / "b", "nan"), run(tmp_path / "c", "0.2")
    same = verify.compare_runs(a, b)
    assert same["history"] == {"loss": 0.0} and same["diagnostics"] == {"q_confusion_spearman": 0}
    # a diagnostic computed after the epoch is reported apart: it does not decide identity
    other = verify.compare_runs(a, c)
    assert other["history"] == {"loss": 0.0}
    assert other["diagnostics"]["q_confusion_spearman"] == float("inf")
    assert verify.identical(other) and verify.diagnostic_gaps(other) == {
        "q_confusion_spearman": float("inf")
    }
    # a comparison recorded before the diagnostics were kept apart reads the same way
    old = {
        "test_accuracy": 0,
        "test_loss": 0,
        "history": {"loss": 0, "q_confusion_spearman": 1e-17},
    }
    assert verify.identical(old) and verify.diagnostic_gaps(old) == {"q_confusion_spearman": 1e-17}
    assert not verify.identical({**old, "history": {"loss": 1e-9}})
    from tf_introspect.callbacks import SimilarityDiagnostics

    assert verify.DIAGNOSTIC_COLUMNS == (SimilarityDiagnostics.KEY,)
    assert verify.gap(1.0, 1.5) == 0.5
