"""Silent paths turned into errors or warnings (issue 16, "Risks and silent paths"): a softmax
output refused by every method, Hint / FSP without their stage switch or with a ``stage1_lr``
that cannot act, undeclared dependencies, an unbounded Keras, and TensorFlow's start-up lines
on a clean terminal."""

import ast
import importlib.metadata
import logging
import os
import pathlib
import re
import subprocess
import sys
import tomllib

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import cli, run_config

import tf_introspect as ti
from tf_introspect import methods
from tf_introspect.pipeline import registry

REPO = pathlib.Path(__file__).resolve().parents[1]
B, K = 4, 3


def staged(name="student", softmax=False, dropout=False):
    """A tiny CNN with the stage layers Hint, AT and FSP read (``stage1``..``stage3``)."""
    inputs = keras.Input((8, 8, 3))
    x = inputs
    for s in (1, 2, 3):
        x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name=f"stage{s}")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    if dropout:
        x = keras.layers.Dropout(0.1)(x)
    outputs = keras.layers.Dense(K, activation="softmax" if softmax else None, name="out")(x)
    return keras.Model(inputs, outputs, name=name)


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    return (
        rng.normal(size=(B, 8, 8, 3)).astype("float32"),
        rng.integers(0, K, size=B).astype("int32"),
    )


def warnings_in(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


# --- a softmax output -------------------------------------------------------------------------


@pytest.mark.parametrize("name", methods.list_methods())
def test_every_method_refuses_a_softmax_output(name):
    cfg = run_config(
        f"--method={name}", "--model=resnet8", "--explainer=grad", "--hint_layer=stage2"
    )
    with pytest.raises(
        ValueError,
        match="model 'student' ends in a softmax \\(layer 'out'\\)"
        ".*from_logits=True.*remove the softmax",
    ):
        registry.build(staged(softmax=True, dropout=True), cfg, staged("teacher"))


def softmax_forms():
    """``(model, name of its softmax layer)``: every way a model can end in a softmax."""
    inputs = keras.Input((4,))
    dense = keras.layers.Dense(K, name="dense")(inputs)
    yield keras.Model(inputs, keras.layers.Softmax(name="sm")(dense), name="m"), "sm"
    yield (
        keras.Model(inputs, keras.layers.Activation("softmax", name="act")(dense), name="m"),
        "act",
    )
    yield (
        keras.Sequential(
            [keras.Input((4,)), keras.layers.Dense(K, activation="softmax", name="head")], name="m"
        ),
        "head",
    )
    backbone = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(5, name="body"),
            keras.layers.Dense(K, activation="softmax", name="probs"),
        ],
        name="backbone",
    )
    yield keras.Sequential([keras.Input((4,)), backbone], name="m"), "probs"  # nested


@pytest.mark.parametrize("index", range(4))
def test_every_form_of_softmax_output_is_refused_and_logits_pass(index):
    model, layer = list(softmax_forms())[index]
    with pytest.raises(ValueError, match=f"model 'm' ends in a softmax \\(layer '{layer}'\\)"):
        methods.CrossEntropy(model)
    inputs = keras.Input((4,))
    logits = keras.Model(inputs, keras.layers.Dense(K, name="dense")(inputs), name="m")
    assert methods.CrossEntropy(logits).model is logits
    assert methods.KnowledgeDistillation(logits, logits).teacher is logits


def test_a_softmax_teacher_is_refused():
    with pytest.raises(ValueError, match="teacher 'teacher' ends in a softmax \\(layer 'out'\\)"):
        methods.KnowledgeDistillation(staged(), staged("teacher", softmax=True))


# --- Hint and FSP: the stage switch and stage1_lr ---------------------------------------------


@pytest.mark.parametrize("name", ["hint", "fsp"])
def test_two_stage_fit_without_warmup_switch_warns(name, batch, caplog):
    x, y = batch
    method = methods.get(name, staged(), staged("teacher"))
    method.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9))
    with caplog.at_level(logging.WARNING):
        method.fit(x, y, batch_size=B, epochs=1, verbose=0)
    said = [w for w in warnings_in(caplog) if "without a WarmupSwitch" in w]
    assert len(said) == 1 and "stage 2 (plain KD + lam CE, no stage-1 training)" in said[0]
    caplog.clear()
    method.second_stage.assign(0.0)
    with caplog.at_level(logging.WARNING):
        method.fit(x, y, batch_size=B, epochs=1, verbose=0)
    assert any("stage 1" in w and "head is never trained" in w for w in warnings_in(caplog))
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        method.fit(x, y, batch_size=B, epochs=1, verbose=0, callbacks=[ti.WarmupSwitch(1)])
    assert not any("WarmupSwitch" in w for w in warnings_in(caplog)), warnings_in(caplog)


def test_stage1_lr_needs_sgd(batch):
    x, y = batch
    method = methods.Hint(staged(), staged("teacher"), stage1_lr=1e-4)
    method.compile(optimizer=keras.optimizers.Adam(1e-3))
    with pytest.raises(
        ValueError, match="stage1_lr=0.0001.*SGD only; Adam would ignore it.*stage1_lr=None"
    ):
        method.fit(x, y, batch_size=B, epochs=1, verbose=0, callbacks=[ti.WarmupSwitch(1)])
    method = methods.Hint(staged(), staged("teacher"), stage1_lr=None)
    method.compile(optimizer=keras.optimizers.Adam(1e-3))
    h = method.fit(x, y, batch_size=B, epochs=1, verbose=0, callbacks=[ti.WarmupSwitch(1)])
    assert np.isfinite(h.history["loss"][0])


def test_stage1_lr_under_a_schedule_starting_at_zero(batch, caplog):
    """The step at rate 0 makes no stage-1 step (it divided by 0: NaN weights), the next
    trains at stage1_lr; the rate 0 is said."""
    x, y = batch
    method = methods.FlowOfSolution(staged(), staged("teacher"), stage1_lr=1e-3)
    lr = keras.optimizers.schedules.PiecewiseConstantDecay([0], [0.0, 0.1])  # 0 at step 0
    method.compile(optimizer=keras.optimizers.SGD(lr))
    body = method.stage1_body.trainable_weights
    before = [v.numpy() for v in body]
    with caplog.at_level(logging.WARNING):
        method.fit(x, y, batch_size=B, epochs=1, verbose=0, callbacks=[ti.WarmupSwitch(5)])
    for a, v in zip(before, body):
        np.testing.assert_array_equal(a, v.numpy())  # no step at rate 0, no NaN
    assert any(
        "learning rate is 0 at step 0; stage 1 makes no step" in w for w in warnings_in(caplog)
    ), warnings_in(caplog)
    with tf.GradientTape() as tape:
        _, terms = method.compute_terms(tf.constant(x), tf.constant(y), tape)
        loss = terms["loss"] + method._regularization([method.stage1_body])
    expected = [a - 1e-3 * g.numpy() for a, g in zip(before, tape.gradient(loss, body))]
    method.fit(x, y, batch_size=B, epochs=1, verbose=0, callbacks=[ti.WarmupSwitch(5)])
    for e, v in zip(expected, body):  # rate 0.1 now: SGD at 1e-3
        np.testing.assert_allclose(v.numpy(), e, rtol=1e-4, atol=1e-7)


# --- declared dependencies, the Keras bound ---------------------------------------------------


def pyproject():
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def requirement_name(spec):
    name = spec.split(";")[0]
    for sep in "<>=!~[ ":
        name = name.split(sep)[0]
    return name.strip().lower().replace("_", "-")


def imported_modules():
    """Top-level third-party modules ``tf_introspect`` imports, except inside a ``try`` that
    handles ``ImportError`` (an optional one: the benchmark's tf-keras-vis)."""
    found = set()
    for path in (REPO / "tf_introspect").rglob("*.py"):
        tree = ast.parse(path.read_text())
        optional = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Try) and any(
                "ImportError" in ast.dump(h.type) for h in node.handlers if h.type
            ):
                optional |= {id(n) for part in node.body for n in ast.walk(part)}
        for node in ast.walk(tree):
            if id(node) in optional:
                continue
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module]
            else:
                continue
            found |= {n.split(".")[0] for n in names}
    return {m for m in found if m not in sys.stdlib_module_names and m != "tf_introspect"}


def test_every_imported_module_is_declared():
    project = pyproject()
    declared = {requirement_name(s) for s in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        declared |= {requirement_name(s) for s in extra}
    distributions = importlib.metadata.packages_distributions()
    missing = []
    for module in sorted(imported_modules()):
        names = {module.lower().replace("_", "-")}
        names |= {d.lower().replace("_", "-") for d in distributions.get(module, [])}
        names |= {n.replace("-cpu", "") for n in names}  # tensorflow-cpu is tensorflow
        if not names & declared:
            missing.append(module)
    assert not missing, f"imported but not in pyproject.toml: {missing}"
    assert {"scipy", "matplotlib"} <= imported_modules()  # the scan sees the lazy imports


def test_keras_is_bounded_to_the_tested_minor_version():
    (spec,) = [s for s in pyproject()["dependencies"] if requirement_name(s) == "keras"]
    assert "<3.16" in spec.replace(" ", "") and ">=3.15" in spec.replace(" ", "")
    assert keras.__version__.startswith("3.15.")
    pinned = (REPO / "requirements.txt").read_text()
    assert f"keras=={keras.__version__}" in pinned


# --- TensorFlow's start-up lines --------------------------------------------------------------


def start_up_lines(env):
    result = subprocess.run(
        [sys.executable, "-m", "tf_introspect.main", "--helpshort"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "--method" in result.stdout, result.stderr[-2000:]  # the command ran
    return [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if "oneDNN" in line or "absl::InitializeLog" in line
    ]


def test_helpshort_lists_every_flag_of_ours():
    """README: ``--helpshort`` lists every flag of ours (method flags included)."""
    from tf_introspect.pipeline import flags

    flags.define_flags()
    result = cli("--helpshort")
    listed = set(re.findall(r"^  --(?:\[no\])?(\w+):", result.stdout, flags=re.M))
    assert set(flags.flag_names()) - listed == set(), result.stdout[-2000:]


def test_start_up_lines_are_off_by_default_and_shown_on_request():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    assert start_up_lines(env) == []
    shown = start_up_lines({**env, "TF_CPP_MIN_LOG_LEVEL": "0"})
    assert any("oneDNN" in line for line in shown), shown
    assert any("absl::InitializeLog" in line for line in shown), shown


def test_start_up_filter_keeps_errors_and_other_lines():
    from tf_introspect import startup

    info = "I0000 00:00:1796559743.961912    4756 port.cc:153] oneDNN custom operations are on."
    error = "E0000 00:00:1758131045.203198 3722035 cuda_dnn.cc:8579] Unable to register cuDNN"
    old = "2025-09-17 14:44:05.157831: W external/local_xla/cudart_stub.cc:32] no cuda"
    notice = "WARNING: All log messages before absl::InitializeLog() is called are written"
    assert [startup._shown(line, 2) for line in (info, error, old, notice, "a Python warning")] == [
        False,
        True,
        False,
        False,
        True,
    ]
    assert all(startup._shown(line, 0) for line in (info, error, old, notice))
