"""The command line end to end on real MNIST, and its start-up errors."""

import concurrent.futures
import copy
import json
import os
import pathlib
import shutil

import keras
import numpy as np
import pytest
from conftest import REPO, cli, require_shared_data, start_error


@pytest.fixture(scope="module")
def mnist_dir():
    return str(require_shared_data("mnist").parent)


@pytest.mark.parametrize("method", ["le", "ce"])
def test_cli_trains_mlp_on_real_mnist(method, mnist_dir, tmp_path):
    workdir = tmp_path / method
    result = cli(
        "--flagfile=flags/quickstart/mnist_le.flags",
        f"--method={method}",
        f"--data_dir={mnist_dir}",
        "--train_limit=3000",
        "--test_limit=1000",
        "--epochs=3",
        "--batch_size=64",
        f"--workdir={workdir}",
        "--verbose=2",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((workdir / "metrics.json").read_text())
    assert metrics["method"] == method and metrics["epochs"] == 3
    assert metrics["test_accuracy"] > 0.8, metrics  # chance is 0.1
    assert metrics["test_error"] == pytest.approx(1 - metrics["test_accuracy"])
    assert metrics["flags"]["explainer"] == "grad" and metrics["flags"]["alpha"] == 0.9
    assert "test accuracy" in result.stdout
    model = keras.models.load_model(workdir / "model.keras")
    assert model.output_shape == (None, 10)
    history = (workdir / "history.csv").read_text().splitlines()
    assert len(history) == 4
    if method == "le":
        assert "introspective" in history[0]
        assert [
            float(line.split(",")[history[0].split(",").index("introspective")])
            for line in history[1:]
        ] == [0.0, 1.0, 1.0]
        assert os.listdir(workdir / "tb" / "explanations")  # explanation images logged
    assert not (workdir / "backup").exists()  # removed after a finished run


BAD_FLAGS = [
    (["--method=foo"], "value should be one of <at|ban|ban_l|ce|cp|cskd|cwtm|"),
    (["--model=vgg16"], "resnet8"),
    (["--alpha=1.5"], "--alpha must be strictly between 0 and 1"),
    (["--lam=-1"], "flag --lam=-1: -1.0 is not a non-negative number"),
    (["--explainer=lrp"], "grad|grad_cam|grad_input|guided_bp"),
    (["--model=mlp1024", "--explainer=grad_cam"], "Use explainer 'grad', 'grad_input' or"),
    (["--layer=logits"], "Unknown or non-4-D Grad-CAM layer 'logits'"),
    (["--model=mlp1024", "--layer=dense1"], "only applies to 'grad_cam'"),
    (["--lr_boundaries=80,x"], "--lr_boundaries must be whole epoch numbers"),
    (["--method=kd"], "--method=kd needs a teacher: --teacher=PATH.keras or --teacher_model"),
    (["--method=ce", "--teacher_model=resnet26"], "--method=ce uses no teacher"),
    (["--method=takd", "--teacher_model=resnet26"], "needs --assistant_model=NAME"),
    (["--method=kd", "--teacher=/no/such.keras"], "--teacher=/no/such.keras: no such file"),
    (["--method=kd", "--teacher_model=vgg"], "--teacher_model must be one of"),
    (["--method=hint", "--model=mlp1024", "--teacher_model=mlp1024"], "has no layer(s) ['stage2']"),
    (["--method=at", "--model=resnet8", "--teacher_model=cnn10"], "same spatial size"),
    (["--smoothing=0"], "--smoothing (ground-truth mass) must be in (0, 1]"),
    (["--method=ls", "--smoothing=0.05"], "less than the uniform share 1/10"),
    (["--method=kd", "--teacher=README.md"], "--teacher=README.md is not a Keras model file"),
    (["--momentum=1.5"], "--momentum=1.5: 1.5 is not a number in the range [0, 1]"),
    (["--seed=-1"], "--seed=-1: -1 is not an integer in the range [0, 4294967295]"),
    (["--teacher_seed=4294967296"], "not an integer in the range [0, 4294967295]"),
    (["--lr=0"], "--lr must be > 0"),
    (["--lr_decay=0"], "--lr_decay must be > 0"),
    (["--method=hint", "--hint_lr=0"], "--hint_lr must be > 0"),
    (["--lr_boundaries=80,80"], "--lr_boundaries must be distinct epochs, got [80, 80]"),
    (["--validation_split=0.2"], "0.2 is not a whole number of examples (this flag counts"),
    (["--model=keras:MobileNetV3Small", "--weights=no.weights.h5"], "no weights file 'no.weig"),
]


def test_flags_of_other_methods_are_named():
    from tf_introspect import pipeline

    assert pipeline.settings.unused_method_flags("ban", ["lam", "temperature", "epochs"]) == ["lam"]
    assert pipeline.settings.unused_method_flags("ban_l", ["lam", "temperature"]) == []
    assert pipeline.settings.unused_method_flags("le", ["temperature", "alpha", "cp_beta"]) == [
        "cp_beta",
        "temperature",
    ]
    # --cwtm_beta bounds cwtm_random's draws and changes nothing in cwtm or cwtm_permut
    assert pipeline.settings.unused_method_flags("cwtm_permut", ["cwtm_beta"]) == ["cwtm_beta"]
    assert pipeline.settings.unused_method_flags("cwtm_random", ["cwtm_beta"]) == []


def flag_values(args):
    """The command line's flags parsed from ``args`` on a private copy of them."""
    import copy

    from absl import flags as absl_flags

    from tf_introspect.pipeline import flags

    values = absl_flags.FlagValues()
    for name in flags.flag_names():
        values[name] = copy.deepcopy(flags.FLAGS[name])
        values[name].unparse()
    values(["tf_introspect", *args])
    return values


def test_unused_flags_are_warned_about_unless_refused(monkeypatch):
    """``--alpha`` given to CE has no effect: a warning; ``--teacher`` given to CE is refused
    by the run (BAD_FLAGS): no warning before that error."""
    from tf_introspect import main as main_module
    from tf_introspect.pipeline import config

    said = []
    monkeypatch.setattr(main_module.logging, "warning", lambda fmt, *a: said.append(fmt % a))
    for args, expected in (
        (["--method=ce", "--alpha=0.5"], ["--alpha: no effect with --method=ce"]),
        (["--method=ce", "--teacher=t.keras"], []),
        (["--method=ce", "--teacher=t.keras", "--lam=0.2"], ["--lam: no effect"]),
        (["--method=kd", "--assistant_model=resnet14"], []),  # refused by the run
        (
            ["--method=kd", "--teacher=t.keras", "--teacher_model=resnet26", "--teacher_seed=1"],
            ["--teacher_model, --teacher_seed: no effect with a trained --teacher=PATH"],
        ),
        (  # TAKD's assistant is trained with them
            [
                "--method=takd",
                "--teacher=t.keras",
                "--assistant_model=resnet14",
                "--teacher_seed=1",
            ],
            [],
        ),
        (["--method=ce", "--explanation_samples=4"], ["--explanation_samples: no effect with"]),
        (["--dataset=folder:x", "--data_dir=d"], ["--data_dir: no effect with a folder:PATH"]),
    ):
        values = flag_values(args)
        monkeypatch.setattr(main_module, "FLAGS", values)
        said.clear()
        main_module.warn_unused_flags(config.from_flags(values))
        assert [x[: len(e)] for x, e in zip(said, expected)] == expected and len(said) == len(
            expected
        ), (args, said)


def test_learning_rate_settings_that_never_act_are_warned_about(monkeypatch):
    from tf_introspect import main as main_module
    from tf_introspect.pipeline import config

    said = []
    monkeypatch.setattr(main_module.logging, "warning", lambda fmt, *a: said.append(fmt % a))
    for args, expected in (
        (["--model=resnet8", "--epochs=30"], "--lr_boundaries 80,120: at or beyond --epochs=30"),
        (["--model=resnet8", "--epochs=100"], "--lr_boundaries 80,120: at or beyond --epochs"),
        (["--model=resnet8", "--epochs=121"], None),
        (["--model=mlp1024", "--lr_decay=0.5"], "--lr_decay=0.5: no effect, there are no"),
        (["--model=resnet8", "--lr_decay=0.5"], None),
        (
            ["--model=resnet8", "--lr_schedule=linear", "--lr_boundaries=", "--lr_decay=0.2"],
            "decays to 0 by itself",
        ),
    ):
        values = flag_values(args)
        monkeypatch.setattr(main_module, "FLAGS", values)
        said.clear()
        main_module.warn_schedule(config.from_flags(values))
        assert said == [] if expected is None else len(said) == 1 and expected in said[0], (
            args,
            said,
        )


def test_overwrite_keeps_a_finished_run_when_its_limits_are_bad(mnist_dir, tmp_path):
    """The data's size is checked before ``--overwrite`` clears a work folder."""
    (tmp_path / "metrics.json").write_text("{}")
    (tmp_path / "history.csv").write_text("epoch\n0\n")
    error = start_error(
        [
            "--model=mlp1024",
            f"--data_dir={mnist_dir}",
            f"--workdir={tmp_path}",
            "--overwrite",
            "--train_limit=70000",
        ]
    )
    assert "training limit 70000 must be between 1 and the 60000" in error
    assert (tmp_path / "metrics.json").read_text() == "{}" and (tmp_path / "history.csv").exists()
    error = start_error(  # PS-KD sizes its table from the same count: the same error
        [
            "--method=pskd",
            "--model=mlp1024",
            f"--data_dir={mnist_dir}",
            f"--workdir={tmp_path / 'pskd'}",
            "--train_limit=100",
            "--validation_split=100",
        ]
    )
    assert "validation_split=100 must be between 1 and 99" in error


def test_bad_flags_fail_before_anything_is_written(tmp_path):
    """Each bad flag or combination raises one of the errors ``main`` turns into a one-line
    exit (no traceback) with its message, before the run writes anything. In this process:
    a TensorFlow process per case costs most of a minute of the suite."""
    for index, (args, message) in enumerate(BAD_FLAGS):
        workdir = tmp_path / str(index)
        error = start_error([*args, f"--workdir={workdir}", "--data_dir=/nonexistent"])
        assert message in error, (args, error)
        assert not (workdir / "metrics.json").exists(), args


# one case of each kind: absl's parser, a flag validator, a check when the models are built
CLI_BAD_FLAGS = [BAD_FLAGS[0], BAD_FLAGS[2], BAD_FLAGS[15]]


def test_bad_flags_fail_at_start_from_the_command_line(tmp_path):
    """Through the command line: exit status 1, the message on one line, no traceback."""
    assert CLI_BAD_FLAGS[2][0][0] == "--method=at"

    def run(case):
        index, (args, _) = case
        return cli(
            *args, f"--workdir={tmp_path / str(index)}", "--data_dir=/nonexistent", timeout=180
        )

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        results = list(pool.map(run, enumerate(CLI_BAD_FLAGS)))
    for index, ((args, message), result) in enumerate(zip(CLI_BAD_FLAGS, results)):
        assert result.returncode == 1, (args, result.stderr[-2000:])
        lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert len(lines) == 1 and message in lines[0], (args, result.stderr[-2000:])
        assert "Traceback" not in result.stderr, args
        assert not (tmp_path / str(index) / "metrics.json").exists(), args


def test_bad_limits_workdir_and_data_files_give_clear_errors(mnist_dir, tmp_path):
    for args, message in [  # in this process: the errors the command line prints
        (["--train_limit=70000"], "training limit 70000 must be between 1 and the 60000"),
        (["--validation_split=60000"], "validation_split=60000 must be between 1 and 59999"),
        ([f"--workdir={REPO / 'README.md'}"], "is a file, not a folder"),
    ]:
        error = start_error(
            ["--model=mlp1024", f"--data_dir={mnist_dir}", f"--workdir={tmp_path}", *args]
        )
        assert message in error, (args, error)
    # a truncated .gz in the data folder, through the command line: one clear line naming it
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    for name in os.listdir(os.path.join(mnist_dir, "mnist")):
        payload = open(os.path.join(mnist_dir, "mnist", name), "rb").read()
        (folder / name).write_bytes(payload[:1000] if name.startswith("train-images") else payload)
    result = cli(
        "--model=mlp1024",
        f"--data_dir={tmp_path / 'data'}",
        f"--workdir={tmp_path / 'w'}",
        timeout=120,
    )
    assert result.returncode != 0 and "train-images" in result.stderr
    assert "Traceback" not in result.stderr, result.stderr[-2000:]


def test_missing_data_gives_one_clear_error(tmp_path):
    result = cli("--model=mlp1024", f"--data_dir={tmp_path}", f"--workdir={tmp_path / 'w'}")
    assert result.returncode != 0
    assert "python -m tf_introspect.data fetch mnist" in result.stderr
    assert "Traceback" not in result.stderr


def test_paper_defaults_fill_unset_flags():
    from tf_introspect import pipeline

    cfg = pipeline.config.from_args(["--model=resnet14"])
    assert (cfg.dataset, cfg.batch_size, cfg.epochs, cfg.lr) == ("cifar10", 128, 160, 0.1)
    assert cfg.lr_boundaries == (80, 120) and cfg.explainer == "grad_cam"
    cfg = pipeline.config.from_args(["--model=mlp1024", "--batch_size=32", "--lr_boundaries=5"])
    assert (cfg.dataset, cfg.batch_size, cfg.epochs, cfg.lr) == ("mnist", 32, 50, 0.01)
    assert cfg.lr_boundaries == (5,) and cfg.explainer == "grad"
    # a saved model may be an MLP or a CNN: its layers decide (Introspective's "auto")
    assert pipeline.config.from_args(["--model=runs/mine/model.keras"]).explainer == "auto"


def test_warmup_as_long_as_the_run_is_said(tmp_path, caplog):
    """``--method=le --epochs=1`` with the default 10 warm-up epochs trains CE only: the run
    says so (a warning naming both flags), and a staged method says its head is never
    trained; a warm-up shorter than the run says nothing."""
    import logging

    import tensorflow as tf

    from tf_introspect import pipeline

    test = tf.data.Dataset.from_tensor_slices(
        (np.zeros((4, 28, 28, 1), "float32"), np.zeros(4, "int64"))
    ).batch(2)
    for args, expected in (
        (
            ["--method=le", "--epochs=1"],
            "--warmup_epochs=10 >= --epochs=1: the whole run is stage 1 (CE only)",
        ),
        (["--method=le", "--epochs=12"], None),
    ):
        caplog.clear()
        cfg = pipeline.config.from_args([*args, "--model=mlp1024", f"--workdir={tmp_path}"])
        with caplog.at_level(logging.WARNING):
            pipeline.training.callbacks(cfg, test)
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        if expected:
            assert any(expected in w for w in warnings), warnings
        else:
            assert not any("stage 1" in w for w in warnings), warnings


def test_every_flag_file_parses_builds_and_has_paper_settings():
    from absl import flags as absl_flags

    from tf_introspect import methods, pipeline
    from tf_introspect.pipeline.build import make_method

    pipeline.flags.define_flags()
    files = sorted((REPO / "flags").rglob("*.flags"))
    assert len(files) >= 70
    used_methods = set()
    for path in files:
        fv = absl_flags.FlagValues()
        for name in pipeline.flags.flag_names():
            fv[name] = copy.deepcopy(pipeline.flags.FLAGS[name])  # fresh values per file
            fv[name].unparse()
        fv(["prog", f"--flagfile={path}"])
        cfg = pipeline.config.resolve({n: fv[n].value for n in pipeline.flags.flag_names()})
        table, model = path.parent.name, cfg.model
        assert cfg.workdir == f"runs/{table}/{path.stem}", path
        schedule = (cfg.epochs, cfg.batch_size, cfg.lr, cfg.lr_boundaries)
        if table == "quickstart":
            assert cfg.epochs == 3
        elif model.startswith("resnet"):
            assert schedule == (160, 128, 0.1, (80, 120)), path
        elif model.startswith("cnn"):
            assert schedule == (160, 128, 0.01, ()), path
        else:
            assert schedule == (50, 16, 0.01, ()), path
        assert cfg.weight_decay == 1e-4, path  # the reference code's, every model
        if cfg.method in ("le", "le_permut", "le_uniform"):
            assert (cfg.alpha, cfg.lam, cfg.warmup_epochs) == (
                0.9,
                0.1,
                10,
            ) or table == "quickstart", path
        if cfg.method in ("le", "le_permut"):
            # Grad-CAM in Tables 2, 4, 5 (paper 5); Grad on the MLP; Table 6 / Figure 3 name it
            expected = (
                "grad"
                if model == "mlp1024"
                else path.stem.split("_le_")[-1]
                if "_le_" in path.stem
                else "grad_cam"
            )
            if cfg.method == "le_permut":
                expected = "grad" if model == "mlp1024" else "grad_cam"
            assert cfg.explainer == expected, path
        if cfg.method.startswith("cwtm"):
            assert cfg.cwtm_beta == 0.5, path  # paper 3: beta of CWTM-Random
        if cfg.method in ("ban", "ban_l"):
            assert cfg.temperature in (1.0, 2.0, 5.0, 10.0, 20.0), path  # paper 5.2 grid
        if cfg.method in ("kd", "dkpp", "at", "fsp", "hint", "takd"):
            assert (cfg.temperature, cfg.lam) == (4.0, 0.1), path
        if cfg.method in ("hint", "fsp"):  # two stages: 40 epochs at the originals' rate
            m = cfg.method
            assert (
                getattr(cfg, f"{m}_weight"),
                getattr(cfg, f"{m}_epochs"),
                getattr(cfg, f"{m}_lr"),
            ) == (1.0, 40, {"hint": 1e-4, "fsp": 1e-3}[m]), path
        # every cell builds: method, model and teacher architecture fit together
        kind = pipeline.registry.entry(cfg.method).teacher
        make_method(cfg, pipeline.teachers.architecture(cfg, kind))
        used_methods.add(cfg.method)
    assert used_methods == set(methods.list_methods())


def family_args(method, mnist_dir, workdir, *extra):
    """A short MNIST MLP run of ``method`` (the quickstart's flags, 2 epochs on 2000 images)."""
    return [
        "--flagfile=flags/quickstart/mnist_le.flags",
        f"--method={method}",
        f"--data_dir={mnist_dir}",
        "--train_limit=2000",
        "--test_limit=500",
        "--epochs=2",
        "--batch_size=64",
        f"--workdir={workdir}",
        "--verbose=0",
        *extra,
    ]


def run_family(method, mnist_dir, workdir, *extra):
    """The command line's process: its result and the run's metrics.json."""
    result = cli(*family_args(method, mnist_dir, workdir, *extra))
    assert result.returncode == 0, result.stderr[-3000:]
    return result, json.loads((workdir / "metrics.json").read_text())


def train(*args):
    """What the command line runs, in this process (its flags resolved, then
    ``pipeline.run``): the methods' end-to-end tests, without a TensorFlow start-up each (the
    command line's own part, its messages and exit codes, is tested through processes above
    and below). Returns the run's metrics.json."""
    from tf_introspect import pipeline

    cfg = pipeline.config.from_args(list(args))
    pipeline.run(cfg)
    return json.loads((pathlib.Path(cfg.workdir) / "metrics.json").read_text())


def train_family(method, mnist_dir, workdir, *extra):
    return train(*family_args(method, mnist_dir, workdir, *extra))


def test_teacher_pipeline_trains_caches_and_distils(mnist_dir, tmp_path, capsys):
    shared = [
        f"--teacher_workdir={tmp_path / 'teacher'}",
        "--teacher_model=mlp1024",
        "--teacher_epochs=1",
    ]
    m = train_family("kd", mnist_dir, tmp_path / "kd", *shared)
    assert "The teacher: ce mlp1024" in capsys.readouterr().out
    teacher = json.loads((tmp_path / "teacher" / "metrics.json").read_text())
    assert teacher["method"] == "ce" and teacher["epochs"] == 1
    assert m["teacher_path"] == str(tmp_path / "teacher" / "model.keras")
    assert m["test_accuracy"] > 0.7 and m["final_train"]["distill"] > 0
    m = train_family("dkpp", mnist_dir, tmp_path / "dkpp", *shared)
    out = capsys.readouterr().out
    assert "teacher already holds this finished run (same settings); reusing it" in out
    assert m["method"] == "dkpp" and m["teacher_path"] == str(tmp_path / "teacher" / "model.keras")
    m = train_family(
        "cwtm_random",
        mnist_dir,
        tmp_path / "cwtm",
        f"--teacher={tmp_path / 'teacher' / 'model.keras'}",
    )
    assert "The teacher:" not in capsys.readouterr().out
    assert m["teacher_path"] == str(tmp_path / "teacher" / "model.keras")
    assert m["test_accuracy"] > 0.7


def test_finished_runs_are_reused_and_checked(mnist_dir, tmp_path):
    run_family("ce", mnist_dir, tmp_path)
    first = (tmp_path / "metrics.json").read_text()
    moved = tmp_path.parent / f"{tmp_path.name}_moved"  # a finished folder moved: its own
    shutil.copytree(tmp_path, moved)  # files are named where they are now
    with concurrent.futures.ThreadPoolExecutor(4) as pool:  # four processes that only read
        again = pool.submit(run_family, "ce", mnist_dir, tmp_path)
        elsewhere = pool.submit(run_family, "ce", mnist_dir, moved)
        other_method = pool.submit(
            cli,
            "--method=ls",
            "--model=mlp1024",
            f"--data_dir={mnist_dir}",
            f"--workdir={tmp_path}",
        )
        bad_teacher = pool.submit(
            cli,
            "--method=kd",
            "--model=resnet8",
            "--dataset=cifar10",
            f"--teacher={tmp_path / 'model.keras'}",
            f"--workdir={tmp_path / 'kd'}",
        )
    result, _ = again.result()
    assert "already holds this finished run" in result.stdout
    # the LE flag file's own flags, given to CE, are named as having no effect
    assert (
        "--alpha, --explainer, --lam, --warmup_epochs: no effect with --method=ce (its "
        "own flags: none)"
    ) in result.stderr
    assert (tmp_path / "metrics.json").read_text() == first  # not trained again
    result, _ = elsewhere.result()
    assert result.stdout.rstrip().endswith(f"wrote {moved / 'metrics.json'}"), result.stdout
    result = other_method.result()
    # every setting that decides the result is compared (not only method, model, data set)
    assert (
        result.returncode != 0
        and "holds a finished run with {'method': 'ce', " in result.stderr
        and "not {'method': 'ls', 'epochs': 50, 'batch_size': 16" in result.stderr
    )
    # a teacher that does not fit the data set fails at start
    result = bad_teacher.result()
    assert result.returncode != 0 and "cifar10 needs (32, 32, 3) to 10" in result.stderr
    result, m = run_family("ce", mnist_dir, tmp_path, "--overwrite")
    assert "already holds" not in result.stdout
    assert (tmp_path / "metrics.json").read_text() != first


def test_takd_trains_teacher_then_assistant(mnist_dir, tmp_path):
    m = train_family(
        "takd",
        mnist_dir,
        tmp_path,
        "--teacher_model=mlp1024",
        "--assistant_model=mlp1024",
        "--teacher_epochs=1",
    )
    assistant = json.loads((tmp_path / "assistant" / "metrics.json").read_text())
    assert assistant["method"] == "kd"
    assert assistant["teacher_path"] == str(tmp_path / "teacher" / "model.keras")
    assert m["assistant_path"] == str(tmp_path / "assistant" / "model.keras")
    assert m["test_accuracy"] > 0.7


@pytest.mark.parametrize(
    "method, extra",
    [("ban", ()), ("dml", ()), ("ls", ()), ("cp", ()), ("dropout", ("--dropout_rate=0.25",))],
)
def test_regularisers_and_peers_run_end_to_end(method, extra, mnist_dir, tmp_path):
    m = train_family(method, mnist_dir, tmp_path, *extra)
    assert m["method"] == method and m["test_accuracy"] > 0.7, m
    if method == "ban":
        teacher = json.loads((tmp_path / "teacher" / "metrics.json").read_text())
        assert (teacher["method"], teacher["model"]) == ("ce", "mlp1024")
    if method == "dml":
        assert m["peer_test_accuracy"] > 0.7
        assert keras.models.load_model(m["peer_path"]).output_shape == (None, 10)
    if method == "dropout":
        model = keras.models.load_model(m["model_path"])
        assert [layer.rate for layer in model.layers if "dropout" in layer.name] == [0.25, 0.25]


@pytest.mark.parametrize(
    "method", ["hint", "at", "fsp", "cwtm", "cwtm_permut", "ban_l", "le_permut", "le_uniform"]
)
def test_every_other_method_runs_end_to_end(method, mnist_dir, tmp_path_factory):
    # A ResNet-8 on 640 MNIST images for one epoch (ten steps: this checks that every method
    # runs end to end through the command line's pipeline, in this process, not how well;
    # accuracy is tested above with longer runs). The stage layers Hint/AT/FSP need exist;
    # Hint's and FSP's stage 1 gets one epoch too (their default 40 made these two cases the
    # suite's slowest). The teacher (a ResNet-8 trained with CE for one epoch) is shared
    # through --teacher_workdir.
    shared = tmp_path_factory.getbasetemp() / "shared_resnet8_teacher"
    workdir = tmp_path_factory.mktemp(method)
    own = method.startswith("le_")  # LE-Permut, LE-Uniform: no teacher
    teacher = [] if own else ["--teacher_model=resnet8"] * (method != "ban_l")
    teacher += [] if own else [f"--teacher_workdir={shared}"]
    stage1 = {"hint": ["--hint_epochs=1"], "fsp": ["--fsp_epochs=1"]}.get(method, [])
    metrics = train(
        f"--method={method}",
        "--model=resnet8",
        "--dataset=mnist",
        f"--data_dir={mnist_dir}",
        "--train_limit=640",
        "--test_limit=256",
        "--epochs=1",
        "--warmup_epochs=0",
        "--batch_size=64",
        "--lr=0.05",
        "--lr_boundaries=",
        f"--workdir={workdir}",
        "--verbose=0",
        *teacher,
        *stage1,
    )
    assert metrics["method"] == method and np.isfinite(metrics["test_loss"])
    final = metrics["final_train"]
    assert np.isfinite(final["loss"]) and final["ce_soft" if own else "distill"] > 0, final
    if not own:
        assert metrics["teacher_path"] == str(shared / "model.keras")
    rows = (workdir / "history.csv").read_text().splitlines()[1:]
    assert len(rows) == 1 + len(stage1), rows  # Hint / FSP: a stage-1 epoch, then stage 2


@pytest.mark.parametrize("jit", ["false", "true"])  # op determinism; XLA (seeded only)
def test_same_command_gives_bit_identical_weights(jit, mnist_dir, tmp_path):
    weights = []
    for name in ("a", "b"):
        result = cli(
            "--flagfile=flags/quickstart/mnist_le.flags",
            f"--data_dir={mnist_dir}",
            "--train_limit=640",
            "--test_limit=200",
            "--epochs=2",
            "--batch_size=32",
            f"--jit_compile={jit}",
            f"--workdir={tmp_path / name}",
            "--verbose=0",
        )
        assert result.returncode == 0, result.stderr[-2000:]
        weights.append(keras.models.load_model(tmp_path / name / "model.keras").get_weights())
    assert all(np.array_equal(a, b) for a, b in zip(*weights))
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert metrics["flags"]["deterministic"] and metrics["final_train"]["introspective"] == 1.0


def test_run_config_is_one_frozen_typed_object_with_every_flag_resolved():
    """The pipeline's configuration (issue 19): one field per flag, frozen, every default
    resolved when it is built (the model family's paper values, XLA, steps per execution,
    the schedule's boundaries), recorded in metrics.json as JSON; one field is derived, not a
    flag: a folder data set's fingerprint."""
    import dataclasses

    from tf_introspect import pipeline

    pipeline.flags.define_flags()
    derived = set(pipeline.config.DERIVED)  # resolved from other flags (a folder's fingerprint)
    assert set(pipeline.config.FIELDS) - derived == set(pipeline.flags.flag_names())
    assert derived == {"data_fingerprint"}
    mlp = pipeline.from_args(["--model=mlp1024"])
    resnet = pipeline.from_args(["--model=resnet8", "--lr_schedule=linear"])
    assert (mlp.jit_compile, mlp.steps_per_execution, mlp.lr_boundaries) == (True, 10, ())
    assert (resnet.jit_compile, resnet.steps_per_execution) == (False, 1)
    assert resnet.lr_boundaries == () and resnet.explainer == "grad_cam"
    given = pipeline.from_args(
        ["--model=mlp1024", "--jit_compile=false", "--steps_per_execution=3"]
    )
    assert (given.jit_compile, given.steps_per_execution) == (False, 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        mlp.lr = 0.5
    assert json.loads(json.dumps(mlp.as_dict())) == mlp.as_dict()
    assert mlp.as_dict()["lr_boundaries"] == []
    with pytest.raises(pipeline.ConfigError, match="unknown settings: colour"):
        pipeline.resolve({**mlp.as_dict(), "colour": "red"})
    # a teacher's run: the student's settings with the teacher's seed, epochs and folder
    kd = pipeline.from_args(
        [
            "--model=resnet8",
            "--method=kd",
            "--teacher_epochs=7",
            "--teacher_seed=3",
            "--workdir=w",
            "--validation_split=100",
        ]
    )
    teacher = kd.sub_run("teacher", method="ce", model="resnet26")
    assert (teacher.method, teacher.model, teacher.epochs, teacher.seed) == ("ce", "resnet26", 7, 3)
    assert teacher.workdir == os.path.join("w", "teacher_holdout100") and teacher.teacher is None


def test_similarity_temperature_reaches_le_and_decides_results_only_when_given():
    """``--similarity_temperature`` (issue 20): unset, LE's settings are those of every
    committed LE run (Eq. 6); given, it is a result-deciding setting and reaches the method."""
    from tf_introspect import pipeline

    args = ["--model=mlp1024", "--method=le", "--explainer=grad"]
    eq6 = pipeline.from_args(args)
    assert "similarity_temperature" not in pipeline.settings.result_settings(eq6)
    sharp = pipeline.from_args([*args, "--similarity_temperature=0.1"])
    assert pipeline.settings.result_settings(sharp)["similarity_temperature"] == 0.1
    assert pipeline.build.make_method(sharp).similarity_temperature == 0.1
    assert pipeline.build.make_method(eq6).similarity_temperature is None
    with pytest.raises(pipeline.ConfigError, match="similarity_temperature must be > 0"):
        pipeline.from_args([*args, "--similarity_temperature=0"])


def test_a_run_sets_op_determinism_for_itself_and_puts_it_back():
    """Op determinism is process-wide and Keras turns XLA off under it: each run (and a
    teacher's run inside one) sets it as its own settings need, on or off, and restores it,
    so an earlier run in the same process never decides a later one's compilation."""
    import contextlib

    import tensorflow as tf
    from tensorflow.python.framework.config import (
        disable_op_determinism,
        is_op_determinism_enabled,
    )

    from tf_introspect import pipeline

    was_on = is_op_determinism_enabled()
    try:
        for args, wanted in [
            (["--model=resnet8"], True),  # deterministic, no XLA on a conv net
            (["--model=mlp1024"], False),  # the MLP's step is XLA-compiled
            (["--model=resnet8", "--deterministic=false"], False),
        ]:
            cfg = pipeline.config.from_args(args)
            for before in (False, True):
                (
                    tf.config.experimental.enable_op_determinism
                    if before
                    else disable_op_determinism
                )()
                with contextlib.ExitStack() as cleanup:
                    pipeline.training.seed_everything(cfg, cleanup)
                    assert is_op_determinism_enabled() is wanted, (args, before)
                    pipeline.training.seed_everything(cfg, cleanup)  # again: no change
                    assert is_op_determinism_enabled() is wanted, (args, before)
                assert is_op_determinism_enabled() is before, (args, before)
    finally:
        (tf.config.experimental.enable_op_determinism if was_on else disable_op_determinism)()
