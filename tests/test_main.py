"""The command line end to end on real MNIST, and its start-up errors."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import REPO, require_shared_data


def cli(*args, timeout=300):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_INTROSPECT_NO_TFDS": "1"}
    return subprocess.run([sys.executable, "-m", "tf_introspect.main", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def mnist_dir():
    return str(require_shared_data("mnist").parent)


@pytest.mark.parametrize("method", ["le", "ce"])
def test_cli_trains_mlp_on_real_mnist(method, mnist_dir, tmp_path):
    workdir = tmp_path / method
    result = cli("--flagfile=flags/quickstart/mnist_le.flags", f"--method={method}",
                 f"--data_dir={mnist_dir}", "--train_limit=3000", "--test_limit=1000",
                 "--epochs=3", "--batch_size=64", f"--workdir={workdir}", "--verbose=2")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((workdir / "metrics.json").read_text())
    assert metrics["method"] == method and metrics["epochs"] == 3
    assert metrics["test_accuracy"] > 0.8, metrics          # chance is 0.1
    assert metrics["test_error"] == pytest.approx(1 - metrics["test_accuracy"])
    assert metrics["flags"]["explainer"] == "grad" and metrics["flags"]["alpha"] == 0.9
    assert "test accuracy" in result.stdout
    model = keras.models.load_model(workdir / "model.keras")
    assert model.output_shape == (None, 10)
    history = (workdir / "history.csv").read_text().splitlines()
    assert len(history) == 4
    if method == "le":
        assert "introspective" in history[0]
        assert [float(line.split(",")[history[0].split(",").index("introspective")])
                for line in history[1:]] == [0.0, 1.0, 1.0]
        assert os.listdir(workdir / "tb" / "explanations")     # explanation images logged
    assert not (workdir / "backup").exists()                 # removed after a finished run


@pytest.mark.parametrize("args, message", [
    (["--method=foo"], "value should be one of <at|ban|ban_l|ce|cp|cwtm|"),
    (["--model=vgg16"], "resnet8"),
    (["--alpha=1.5"], "--alpha must be strictly between 0 and 1"),
    (["--lam=-1"], "flag --lam=-1: -1.0 is not a non-negative number"),
    (["--explainer=lrp"], "grad|grad_cam|grad_input|guided_bp"),
    (["--model=mlp1024", "--explainer=grad_cam"], "Use explainer 'grad', 'grad_input' or"),
    (["--layer=logits"], "Unknown or non-4-D Grad-CAM layer 'logits'"),
    (["--model=mlp1024", "--layer=dense1"], "only applies to 'grad_cam'"),
    (["--lr_boundaries=80,x"], "--lr_boundaries must be whole epoch numbers"),
])
def test_bad_flags_fail_at_start(args, message, tmp_path):
    result = cli(*args, f"--workdir={tmp_path}", "--data_dir=/nonexistent", timeout=120)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "metrics.json").exists()


def test_missing_data_gives_one_clear_error(tmp_path):
    result = cli("--model=mlp1024", f"--data_dir={tmp_path}", f"--workdir={tmp_path / 'w'}")
    assert result.returncode != 0
    assert "python -m tf_introspect.data fetch mnist" in result.stderr
    assert "Traceback" not in result.stderr


def test_paper_defaults_fill_unset_flags():
    from tf_introspect import flags as ti_flags
    cfg = ti_flags.resolve(dict(model="resnet14", dataset=None, batch_size=None, epochs=None,
                                lr=None, lr_boundaries=None, weight_decay=None,
                                warmup_epochs=None, explainer=None))
    assert (cfg["dataset"], cfg["batch_size"], cfg["epochs"], cfg["lr"]) == ("cifar10", 128,
                                                                            160, 0.1)
    assert cfg["lr_boundaries"] == [80, 120] and cfg["explainer"] == "grad_cam"
    cfg = ti_flags.resolve(dict(model="mlp1024", dataset=None, batch_size=32, epochs=None,
                                lr=None, lr_boundaries=["5"], weight_decay=None,
                                warmup_epochs=None, explainer=None))
    assert (cfg["dataset"], cfg["batch_size"], cfg["epochs"], cfg["lr"]) == ("mnist", 32, 50,
                                                                            0.01)
    assert cfg["lr_boundaries"] == [5] and cfg["explainer"] == "grad"


def test_every_flag_file_parses(tmp_path):
    from absl import flags as absl_flags

    from tf_introspect import flags as ti_flags
    ti_flags.define_flags()
    files = sorted((REPO / "flags").rglob("*.flags"))
    assert len(files) >= 17
    for path in files:
        fv = absl_flags.FlagValues()
        for name in ti_flags.flag_names():
            fv[name] = ti_flags.FLAGS[name]
        fv(["prog", f"--flagfile={path}"])
        cfg = ti_flags.resolve({n: fv[n].value for n in ti_flags.flag_names()})
        assert cfg["workdir"].startswith("runs/"), path
        table = path.parent.name
        if table in ("table2", "table6", "figure3") and "resnet" in path.name:
            assert (cfg["epochs"], cfg["batch_size"], cfg["lr"], cfg["lr_boundaries"]) == (
                160, 128, 0.1, [80, 120]), path
        if table in ("table3",) or "mlp1024" in path.name and table != "quickstart":
            assert (cfg["epochs"], cfg["batch_size"], cfg["lr"]) == (50, 16, 0.01), path
        np.testing.assert_allclose([cfg["alpha"], cfg["lam"]], [0.9, 0.1])
