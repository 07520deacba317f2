"""Training under tf.distribute.

* ``MirroredStrategy`` over two logical CPU devices (a separate process, since logical devices
  must be configured before TensorFlow starts): ResNet-8's warm-up then LE (Grad-CAM, Guided
  BP) equal to one device, batch norm synchronized; evaluation of an uneven split scoring as
  its predictions (where the batches Keras would take stop the ResNet); for one
  method of each family (LE, KD-family with a teacher, DML with its peer) one step's update
  with the batch split over the replicas equals the single-device update; a shuffled two-epoch
  run through ``fit`` equals the same run without a strategy (same data order).
* ``MultiWorkerMirroredStrategy``: two worker processes on 127.0.0.1 with ``TF_CONFIG`` run the
  command line (LE, MLP, real MNIST, warm-up then LE) to the end; the chief alone writes the
  work folder's outputs, both end with the same weights, equal to one process on the same
  global batch; killed and run again (one worker's backup an epoch behind), they agree on
  the epoch to resume and end bit-identical to an uninterrupted two-worker run.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap
import time

import keras
import numpy as np
import pytest
from conftest import REPO, python, require_shared_data

#: one method per family: LE, the KD family (a teacher; KD's loss and CWTM's weighting), DML;
#: the methods whose inputs carry more than images: CS-KD (partners), PS-KD (indices, and a
#: per-sample table every replica writes to)
STEP_METHODS = ("le", "kd", "cwtm", "dml", "cskd", "pskd")

SCRIPT = textwrap.dedent("""
    import json, sys, numpy as np, tensorflow as tf, keras
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import tf_introspect as ti
    from tf_introspect import methods
    keras.utils.set_random_seed(0)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    default = tf.distribute.get_strategy()
    assert strategy.num_replicas_in_sync == 2

    def mismatch(a, b):   # largest |a - b| beyond rtol=1e-4, atol=1e-6 (0: equal)
        return max(float(np.max(np.abs(x - y) - 1e-4 * np.abs(y) - 1e-6, initial=0.0))
                   for x, y in zip(a, b))

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, size=64)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    # ResNet-8, warm-up then LE, with Grad-CAM (its explanation from the step's own pass) and
    # Guided BP (its own pass, ReLUs swapped): batch norm is synchronized under the strategy
    # (models.layers.batch_norm), so the replicas' moving statistics stay equal and the
    # weights are those of one device (explainers.patching keeps each replica's swaps its own)
    def resnet_pair(explainer):   # ResNet-8 over both replicas and on one device, one start
        resnets = []
        for scope in (strategy.scope(), default.scope()):  # the same start, the same batches
            with scope:
                learner = ti.Introspective(ti.models.get("resnet8", weight_decay=5e-4),
                                           explainer)
                learner.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                                metrics=["accuracy"])
            if resnets:
                learner.model.set_weights(start)
            start = learner.model.get_weights()
            resnets.append(learner)
            h = learner.fit(data, epochs=2, verbose=0, callbacks=[ti.WarmupSwitch(1)]).history
            assert h["introspective"] == [0.0, 1.0], h
            assert all(np.isfinite(v).all() for v in h.values()), h
        return resnets[0], resnets[1], start

    def replica_drift(learner):   # largest gap between the replicas' moving statistics
        return max(float(np.max(np.abs(np.subtract(
            *strategy.experimental_local_results(v.value))))) for v in learner.model.variables
            if "moving_" in v.path)

    results = {}
    for explainer in ("grad_cam", "guided_bp"):
        learner, single, _ = resnet_pair(explainer)
        results[explainer] = dict(drift=replica_drift(learner), weights=mismatch(
            learner.model.get_weights(), single.model.get_weights()))
    # bfloat16 (--precision=mixed_bfloat16) with synchronized batch norm: the moments in
    # float32, the replicas' statistics equal; the weights one device's up to bfloat16's
    # rounding (relative to how far the 4 steps moved them)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    bf16, single, start = resnet_pair("grad_cam")
    keras.mixed_precision.set_global_policy("float32")
    gap = lambda a, b: max(float(np.max(np.abs(u - v))) for u, v in zip(a, b))
    results["bf16"] = dict(
        drift=replica_drift(bf16),
        synchronized=sorted({layer.synchronized for layer in bf16.model.layers
                             if isinstance(layer, keras.layers.BatchNormalization)}),
        weights=gap(bf16.model.get_weights(), single.model.get_weights())
        / gap(single.model.get_weights(), start))
    from tf_introspect.explainers import base, guided_bp, patching
    results["left_patched"] = [layer.name for layer in base.model_layers(learner.model)
                               if {"call", "_moments"} & set(vars(layer))
                               or hasattr(vars(layer).get("activation"), "__wrapped__")
                               or vars(layer).get("activation") is guided_bp.guided_relu]
    results["left_patched"] += list(map(str, patching._installed))
    # a batch is split over the replicas as evenly as it can be: only a last batch with
    # fewer examples than replicas leaves one without (pipeline.distribute)
    split = [[[int(tf.size(t)) for t in strategy.experimental_local_results(b)]
              for b in strategy.experimental_distribute_dataset(
                  tf.data.Dataset.range(n).batch(4))] for n in (10, 9)]
    assert split == [[[2, 2], [2, 2], [1, 1]], [[2, 2], [2, 2], [1, 0]]], split

    # One step of each method family on an MLP (no batch norm, so replicas see the same
    # function): the update with the batch split over two replicas equals the single-device
    # update, i.e. the loss (and weight decay) is scaled by the replica count exactly once.
    # Asked for the command line's MLP settings (10 steps per call, XLA), the distributed
    # copy trains with one step per call and no XLA (what Keras supports there).
    from tf_introspect import pipeline
    from tf_introspect.pipeline import registry
    mx = rng.normal(size=(32, 28, 28, 1)).astype("float32")
    my = rng.integers(0, 10, size=32)
    one_batch = tf.data.Dataset.from_tensor_slices((mx, my)).batch(32)
    mlp = lambda: ti.models.get("mlp1024", weight_decay=1e-3)
    weights, teacher_weights, peer_weights = (mlp().get_weights() for _ in range(3))

    def one_step(distributed, name):
        with (strategy if distributed else default).scope():
            model = mlp()
            model.set_weights(weights)
            teacher = None
            if registry.entry(name).teacher != "none":
                teacher = mlp()
                teacher.set_weights(teacher_weights)
            if name == "pskd":  # (the command line counts the examples of its data set)
                method = methods.get(name, model, num_examples=32)
            else:
                method = registry.build(model, pipeline.from_args(
                    ["--model=mlp1024", f"--method={name}", "--explainer=grad"]), teacher)
            if name == "dml":
                method.peer.set_weights(peer_weights)
            method.compile(optimizer=keras.optimizers.SGD(0.5, momentum=0.9),
                           metrics=["accuracy"], steps_per_execution=10,
                           jit_compile=distributed)
        if distributed:
            assert method.steps_per_execution == 1 and method.jit_compile is False
        extras = {"index": np.arange(32), "partner": mx[::-1].copy()}
        data = one_batch if method.extras is None else tf.data.Dataset.from_tensor_slices(
            ({"image": mx, method.extras: extras[method.extras]}, my)).batch(32)
        # PS-KD: a second step reads the rows the first wrote
        logs = method.fit(data, epochs=2 if method.extras == "index" else 1,
                          verbose=0).history
        parts = [w for part in method.trained_parts for w in part.get_weights()]
        if method.extras == "index":
            parts.append(method.predictions.numpy())
        if teacher is not None:
            assert all(np.array_equal(a, b) for a, b in zip(teacher.get_weights(),
                                                            teacher_weights))
        return parts, logs

    for name in sys.argv[1:]:
        (a, logs_a), (b, logs_b) = one_step(True, name), one_step(False, name)
        before = weights + (peer_weights if name == "dml" else [])
        before += [np.zeros((32, 10), "float32")] if name == "pskd" else []
        assert len(a) == len(b) == len(before), name
        assert logs_a.keys() == logs_b.keys(), name
        results[name] = dict(
            changed=min(float(np.abs(y - w).max()) for y, w in zip(b, before)),
            weights=mismatch(a, b),
            logs={k: mismatch(logs_a[k], logs_b[k]) for k in logs_b})

    # Two epochs through fit on a reshuffled data set, warm-up then LE: the same batches and
    # the same weights with the strategy as without (Keras' build under a strategy used to
    # open one more iterator, which advanced the shuffle).
    images = rng.normal(size=(128, 28, 28, 1)).astype("float32")
    labels = rng.integers(0, 10, size=128)
    runs = []
    for scope in (strategy.scope(), default.scope()):
        with scope:
            model = mlp()
            model.set_weights(weights)
            method = ti.Introspective(model, "grad")
            method.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                           metrics=["accuracy"])
        tf.random.set_seed(5)     # a new data set, the same shuffle seeds, in both runs
        shuffled = tf.data.Dataset.from_tensor_slices((images, labels)).shuffle(
            128, seed=3, reshuffle_each_iteration=True).batch(32)
        history = method.fit(shuffled, epochs=2, verbose=0,
                             callbacks=[ti.WarmupSwitch(1)]).history
        runs.append((model.get_weights(), history))
    (wa, ha), (wb, hb) = runs
    results["fit"] = dict(stages=[ha["introspective"], hb["introspective"]],
                          weights=mismatch(wa, wb),
                          logs={k: mismatch(ha[k], hb[k]) for k in hb})
    # Random methods' seeds (LE-Permut, CWTM-Permut/Random, DKPP): one per step and replica
    with strategy.scope():
        method = methods.get("cwtm_random", mlp(), mlp())
        method.compile(optimizer=keras.optimizers.SGD(0.1))
        method.optimizer.iterations.assign(3)
    seeds = strategy.experimental_local_results(
        tf.function(lambda: strategy.run(lambda: method.step_seed(7)))())
    results["seeds"] = [[int(v) for v in seed] for seed in seeds]
    # Evaluation: 9 images in batches of 4 leave the last batch's second replica empty, which
    # stops the ResNet's batch normalization. In pipeline.distribute's batch size (5: 3 + 2,
    # then 2 + 2, unequal replicas) the scores are those of the predictions, computed here
    from tf_introspect.pipeline.distribute import evaluation_batch_size
    nine = lambda size: tf.data.Dataset.from_tensor_slices((x[:9], y[:9])).batch(size)
    try:
        learner.evaluate(nine(4), verbose=0)
        error = ""
    except Exception as e:
        error = str(e)
    size = evaluation_batch_size(9, 4, 2)
    found = learner.evaluate(nine(size), verbose=0, return_dict=True)
    logits = learner.model.predict(x[:9], verbose=0).astype("float64")
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    correct, confidence = p.argmax(1) == y[:9], p.max(1)
    bins = np.clip(np.ceil(confidence * 15).astype(int) - 1, 0, 14)
    gaps = [abs(np.sum(correct[bins == b]) - np.sum(confidence[bins == b])) for b in range(15)]
    expected = dict(accuracy=correct.mean(), nll=-np.log(p[np.arange(9), y[:9]]).mean(),
                    ece=sum(gaps) / 9)
    results["evaluation"] = dict(error=error, size=size, mismatch={
        k: abs(found[k] - v) for k, v in expected.items()})
    print("RESULTS", json.dumps(results))
""")


@pytest.fixture(scope="module")
def mirrored():
    """The script's measurements (one process for all the mirrored checks)."""
    result = python("-c", SCRIPT, *STEP_METHODS)
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("RESULTS "))
    return json.loads(line[len("RESULTS ") :])


@pytest.mark.parametrize("name", STEP_METHODS)
def test_one_step_under_mirrored_equals_single_device(mirrored, name):
    """The update (every trained part: DML's peer too; the teacher unchanged) and every
    logged term with the batch split over two replicas equal the single-device ones."""
    result = mirrored[name]
    assert result["changed"] > 1e-4  # the step did change every weight
    assert result["weights"] == 0.0, result
    assert not any(result["logs"].values()), result


@pytest.mark.parametrize("explainer", ["grad_cam", "guided_bp"])
def test_batch_norm_is_synchronized_under_mirrored(mirrored, explainer):
    """ResNet-8's warm-up then LE over two replicas: the replicas' moving statistics agree,
    and the weights equal one device's (Keras 3 alone: the replicas drift apart); no layer is
    left patched by the replicas' explanation passes."""
    result = mirrored[explainer]
    assert result["drift"] < 1e-6 and result["weights"] == 0.0, result
    assert mirrored["left_patched"] == []


def test_batch_norm_is_synchronized_under_mirrored_in_bfloat16(mirrored):
    """The same under ``mixed_bfloat16`` (Grad-CAM): synchronized batch norm, replicas'
    statistics equal, weights those of one device up to bfloat16's rounding (measured: 4e-4
    of the steps' largest change)."""
    result = mirrored["bf16"]
    assert result["synchronized"] == [True] and result["drift"] < 1e-6, result
    assert result["weights"] < 5e-3, result


def test_random_methods_draw_per_replica(mirrored):
    # [seed, step * replicas + replica]: one device keeps [seed, step] (test_jit.py)
    assert mirrored["seeds"] == [[7, 6], [7, 7]]


def test_fit_under_mirrored_keeps_data_order_and_warmup(mirrored):
    result = mirrored["fit"]
    assert result["stages"] == [[0.0, 1.0], [0.0, 1.0]]  # WarmupSwitch: CE, then LE
    assert result["weights"] == 0.0, result
    assert not any(result["logs"].values()), result


def test_evaluation_batches_leave_no_replica_empty(mirrored):
    result = mirrored["evaluation"]
    assert "Incompatible shapes" in result["error"], result  # the failure it avoids
    assert result["size"] == 5 and max(result["mismatch"].values()) < 1e-5, result


def free_ports(n):
    """``n`` distinct free TCP ports on 127.0.0.1 (held open together while chosen)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def start_processes(commands, logs):
    """Start every ``(args, env)`` at once, output to files in ``logs`` (a pipe left unread
    could block one worker, and the other with it)."""
    procs = []
    logs.mkdir(parents=True, exist_ok=True)
    try:
        for index, (args, env) in enumerate(commands):
            with open(logs / f"{index}.out", "w") as out, open(logs / f"{index}.err", "w") as err:
                procs.append(subprocess.Popen(args, cwd=REPO, env=env, stdout=out, stderr=err))
    except BaseException:
        stop_processes(procs)
        raise
    return procs


def stop_processes(procs):
    """Kill every process of ``procs`` still running."""
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def wait_processes(procs, timeout, logs):
    """Wait until all of ``procs`` (:func:`start_processes`) have ended, one has failed (its
    peer would wait for it) or ``timeout`` seconds have passed; then kill every process still
    running. Returns ``[(returncode or None if killed, stdout, stderr)]``."""
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            codes = [proc.poll() for proc in procs]
            if None not in codes or any(codes):
                break
            time.sleep(0.2)
        codes = [proc.poll() for proc in procs]
        return [
            (code, (logs / f"{i}.out").read_text(), (logs / f"{i}.err").read_text())
            for i, code in enumerate(codes)
        ]
    finally:
        stop_processes(procs)


def run_processes(commands, timeout, logs):
    """:func:`start_processes` then :func:`wait_processes`."""
    return wait_processes(start_processes(commands, logs), timeout, logs)


def cluster_and_reference_weights(workdir, reference):
    """The saved weights of a two-worker run's chief and worker 1, and of a reference run."""
    return [
        keras.models.load_model(path).get_weights()
        for path in (
            workdir / "model.keras",
            workdir / "worker1" / "model.keras",
            reference / "model.keras",
        )
    ]


def test_cli_trains_le_on_two_workers(tmp_path):
    data_dir = str(require_shared_data("mnist").parent)
    common = [
        "-m",
        "tf_introspect.main",
        "--method=le",
        "--model=mlp1024",
        "--dataset=mnist",
        f"--data_dir={data_dir}",
        "--train_limit=256",
        "--test_limit=128",
        "--epochs=2",
        "--warmup_epochs=1",
        "--batch_size=64",
        "--verbose=2",
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_INTROSPECT_NO_TFDS": "1"}
    env.pop("TF_CONFIG", None)
    workdir, single = tmp_path / "cluster", tmp_path / "single"
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    commands = [
        (
            [sys.executable, *common, "--strategy=multi_worker", f"--workdir={workdir}"],
            {
                **env,
                "TF_CONFIG": json.dumps(
                    {"cluster": cluster, "task": {"type": "worker", "index": i}}
                ),
            },
        )
        for i in range(2)
    ]
    # the reference: one process, the same global batch, no XLA (as the workers train)
    commands.append(([sys.executable, *common, "--jit_compile=false", f"--workdir={single}"], env))
    results = run_processes(commands, timeout=240, logs=tmp_path)
    for index, (code, _out, err) in enumerate(results):
        assert code == 0, (index, err[-3000:])

    # only the chief (worker 0) writes the work folder's outputs; worker 1 writes its own
    # into worker1/ (all of which lets the weights be compared)
    chief = json.loads((workdir / "metrics.json").read_text())
    other = json.loads((workdir / "worker1" / "metrics.json").read_text())
    reference = json.loads((single / "metrics.json").read_text())
    assert chief["flags"]["workdir"] == str(workdir)
    assert other["flags"]["workdir"] == str(workdir / "worker1")
    assert f"wrote {workdir / 'metrics.json'}" in results[0][1]  # each names its own
    assert f"wrote {workdir / 'worker1' / 'metrics.json'}" in results[1][1]
    assert {"history.csv", "metrics.json", "model.keras"} <= set(os.listdir(workdir))
    assert not (workdir / "backup").exists()  # removed after the finished run
    assert os.listdir(workdir / "tb" / "explanations")  # the callbacks' outputs
    header, *rows = (workdir / "history.csv").read_text().splitlines()
    column = header.split(",").index("introspective")
    assert [float(row.split(",")[column]) for row in rows] == [0.0, 1.0]  # warm-up, then LE

    for a, b, c in zip(*cluster_and_reference_weights(workdir, single)):
        np.testing.assert_array_equal(a, b)  # the workers agree exactly
        np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-6)  # and equal one process
    for key in ("test_accuracy", "test_loss"):
        assert chief[key] == other[key]
        assert chief[key] == pytest.approx(reference[key], rel=1e-5, abs=1e-6)
    for key, value in reference["final_train"].items():
        assert chief["final_train"][key] == pytest.approx(value, rel=1e-4, abs=1e-6), key


KILL_ARGS = [
    "-m",
    "tf_introspect.main",
    "--method=le",
    "--model=mlp1024",
    "--dataset=mnist",
    "--train_limit=512",  # 16 steps an epoch: a cluster step takes about 0.25 s
    "--test_limit=128",
    "--epochs=4",
    "--warmup_epochs=1",
    "--batch_size=32",
    "--lr_boundaries=3",
    "--verbose=2",
]


def cluster_commands(*workdirs):
    """The two worker commands (LE on MNIST, 4 epochs) of a fresh loopback cluster for each
    of ``workdirs``, all clusters on distinct ports."""
    data_dir = str(require_shared_data("mnist").parent)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_INTROSPECT_NO_TFDS": "1"}
    env.pop("TF_CONFIG", None)
    ports = free_ports(2 * len(workdirs))
    commands = []
    for n, workdir in enumerate(workdirs):
        cluster = {"worker": [f"127.0.0.1:{port}" for port in ports[2 * n : 2 * n + 2]]}
        commands += [
            (
                [
                    sys.executable,
                    *KILL_ARGS,
                    f"--data_dir={data_dir}",
                    "--strategy=multi_worker",
                    f"--workdir={workdir}",
                ],
                {
                    **env,
                    "TF_CONFIG": json.dumps(
                        {"cluster": cluster, "task": {"type": "worker", "index": i}}
                    ),
                },
            )
            for i in range(2)
        ]
    return commands


def test_two_workers_killed_apart_resume_together(tmp_path):
    """Both workers are killed in a later epoch (beside an uninterrupted two-worker run, the
    reference). From that state, two clusters at once: worker 1's backup is set one epoch
    back (stopped before its last backup write), or removed (stopped before its first). Run
    again, the workers agree on the epoch to resume (the chief takes its previous backup, or
    starts from scratch), and end bit-identical to the reference. Clusters run two at a time,
    and one killed run serves both cases: a cluster start is most of a minute under load."""
    import shutil

    from tf_introspect import pipeline

    whole, killed = tmp_path / "whole", tmp_path / "killed"
    cases = {"one epoch": tmp_path / "one_epoch", "no backup yet": tmp_path / "no_backup"}
    procs = start_processes(cluster_commands(whole, killed), logs=tmp_path / "first_logs")
    backups = [killed / "backup", killed / "worker1" / "backup"]

    def finished_epochs(backup):
        try:
            return json.loads((backup / "training_metadata.json").read_text())["epoch"]
        except (OSError, ValueError):
            return 0

    try:  # kill the second cluster once each worker has backed up epoch 2, while 3 trains
        deadline = time.monotonic() + 240
        while min(map(finished_epochs, backups)) < 2 and time.monotonic() < deadline:
            assert all(proc.poll() is None for proc in procs[2:]), "a worker ended early"
            time.sleep(0.05)
    except BaseException:
        stop_processes(procs)  # the reference too
        raise
    finally:
        stop_processes(procs[2:])
    results = wait_processes(procs[:2], timeout=240, logs=tmp_path / "first_logs")
    for index, (code, _, err) in enumerate(results):
        assert code == 0, (index, err[-3000:])
    epochs = [finished_epochs(b) for b in backups]
    assert epochs[0] in (2, 3) and epochs[1] == epochs[0], epochs
    assert not (killed / "metrics.json").exists()

    agreed = {"one epoch": epochs[0] - 1, "no backup yet": 0}
    for behind, workdir in cases.items():
        shutil.copytree(killed, workdir)  # the state both cases start from
        backup = workdir / "worker1" / "backup"
        if behind == "one epoch":
            for name in ("latest.weights.h5", "training_metadata.json"):
                (backup / name).write_bytes((backup / f"{name}.bkp").read_bytes())
        else:
            for path in backup.iterdir():
                path.unlink()
        assert finished_epochs(backup) == agreed[behind], behind

    results = run_processes(cluster_commands(*cases.values()), timeout=240, logs=tmp_path / "logs")
    for index, (code, _out, err) in enumerate(results):
        assert code == 0, (index, err[-3000:])
    for n, (behind, workdir) in enumerate(cases.items()):
        _, out, err = results[2 * n]  # the chief's
        assert f"Worker backups finished epochs [{epochs[0]}, {agreed[behind]}]" in err, behind
        assert f"Epoch {agreed[behind] + 1}/4" in out, behind
        assert f"Epoch {agreed[behind]}/4" not in out, behind
        for a, b, c in zip(*cluster_and_reference_weights(workdir, whole)):
            np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(a, c)
        # every epoch's logs (an epoch trained again counts once, its last row)
        assert pipeline.outputs.history(workdir / "history.csv") == pipeline.outputs.history(
            whole / "history.csv"
        ), behind


def test_multi_worker_needs_tf_config(monkeypatch):
    from tf_introspect import pipeline
    from tf_introspect.pipeline import ConfigError

    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="needs the TF_CONFIG environment variable"):
        pipeline.distribute.make_strategy("multi_worker")


@pytest.mark.parametrize(
    "extra",
    [
        ["--method=kd", "--teacher_model=mlp1024"],
        ["--method=takd", "--teacher=t.keras", "--assistant_model=mlp1024"],
    ],
)
def test_multi_worker_refuses_to_train_a_teacher_inside(extra, tmp_path, monkeypatch):
    from tf_introspect import pipeline
    from tf_introspect.pipeline import ConfigError

    monkeypatch.setenv("TF_CONFIG", "{}")
    cfg = pipeline.config.from_args(
        [*extra, "--model=mlp1024", "--strategy=multi_worker", f"--workdir={tmp_path}"]
    )
    with pytest.raises(ConfigError, match="train it first .* and pass --teacher=PATH.keras"):
        pipeline.run(cfg)
    assert not os.listdir(tmp_path)


def test_a_last_batch_with_fewer_examples_than_replicas_is_dropped():
    """tf.distribute splits a batch over the replicas as evenly as it can: only a last batch
    with fewer examples than replicas leaves one without examples (a NaN mean loss; the
    mirrored script shows the split). Dropped; other last batches, and one device's, stay."""
    import tensorflow as tf

    from tf_introspect.pipeline.distribute import whole_replica_batches

    batches = tf.data.Dataset.range(10).batch(4)  # 4, 4 and a last batch of 2
    assert whole_replica_batches(batches, 10, 4, 1) is batches
    assert whole_replica_batches(batches, 10, 4, 2) is batches  # 1 and 1 of the last
    short = whole_replica_batches(batches, 10, 4, 3)
    assert [b.numpy().tolist() for b in short] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert int(short.cardinality()) == 2  # known: the schedules count steps from it
    whole = tf.data.Dataset.range(8).batch(4)
    assert whole_replica_batches(whole, 8, 4, 8) is whole  # no partial batch at all


def test_batch_norm_synchronized_by_replica_count():
    """A model built elsewhere (keras:NAME, a PATH.keras saved by a mirrored run) trains with
    the registry's batch norm: synchronized with several replicas, not with one."""
    from tf_introspect.pipeline.distribute import synchronize_batch_norm

    inputs = keras.Input((4,))
    bn = keras.layers.BatchNormalization(synchronized=True)
    model = keras.Model(inputs, keras.layers.Dense(2)(bn(inputs)))
    synchronize_batch_norm(model, 1)
    assert bn.synchronized is False
    synchronize_batch_norm(model, 2)
    assert bn.synchronized is True


def test_keras_reads_returned_logs_through_the_hook_method_overrides():
    """``Method._get_metrics_result_or_logs`` (scores read across replicas) is a private
    Keras hook: fail here, not silently, if a Keras without it is installed."""
    import inspect

    from keras.src.backend.tensorflow.trainer import TensorFlowTrainer

    from tf_introspect.methods.base import Method

    assert "_get_metrics_result_or_logs" in vars(Method)
    for name in ("fit", "evaluate"):
        assert "self._get_metrics_result_or_logs(" in inspect.getsource(
            getattr(TensorFlowTrainer, name)
        ), name


def test_evaluation_batch_size_fills_every_replica():
    """Evaluation keeps every example: the batch grows until the last batch is whole or has
    an example for every replica (the mirrored script evaluates with it)."""
    from tf_introspect.pipeline.config import ConfigError
    from tf_introspect.pipeline.distribute import evaluation_batch_size

    assert evaluation_batch_size(10000, 128, 1) == 128  # one device: as asked
    assert evaluation_batch_size(10000, 128, 2) == 128  # last batch 16
    assert evaluation_batch_size(1001, 100, 2) == 101  # 1 left over -> 92
    assert evaluation_batch_size(1002, 100, 4) == 101  # 2 left over -> 93
    for n, b, r in [(1001, 100, 2), (1002, 100, 4), (17, 8, 3), (5, 4, 2)]:
        size = evaluation_batch_size(n, b, r)
        assert size >= b and (n % size == 0 or n % size >= r), (n, b, r, size)
    with pytest.raises(ConfigError, match="the test set has 1 example.*fewer than the 2"):
        evaluation_batch_size(1, 4, 2)
