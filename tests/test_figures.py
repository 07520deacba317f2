"""Paper Figures 1-3 (tf_introspect.figures) and the explain command (tf_introspect.explain):
numbers checked against independent computations, files written, clear errors."""

import json
import os
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import require_shared_data

from tf_introspect import data, explain, explainers, models, targets
from tf_introspect.lab import figure3, figures_cli, model_figures, paths, plans, plots


@pytest.fixture(scope="module")
def mnist_dir():
    return str(require_shared_data("mnist").parent)


@pytest.fixture(scope="module")
def mlp(mnist_dir, tmp_path_factory):
    """The paper's MLP trained with CE for 30 steps on real MNIST, and its saved file."""
    keras.utils.set_random_seed(0)
    model = models.get("mlp1024")
    model.compile(
        keras.optimizers.SGD(0.05, momentum=0.9),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(
        data.make_dataset("mnist", "train", 64, data_dir=mnist_dir, limit=1920),
        epochs=1,
        verbose=0,
        shuffle=False,
    )
    path = tmp_path_factory.mktemp("model") / "mlp.keras"
    model.save(path)
    return model, str(path)


def first_test_images(mnist_dir, n):
    """The first ``n`` MNIST test images normalised here, not through ``make_dataset``."""
    x, y = data.load_arrays("mnist", "test", mnist_dir)
    return ((x[:n] / 255.0 - 0.1307) / 0.3081).astype("float32"), y[:n]


def assert_png(path, min_size=100):
    image = tf.io.decode_png(tf.io.read_file(str(path)))
    assert image.shape[0] >= min_size and image.shape[1] >= min_size


def per_class_gradients(model, x):
    """Grad explanations ``[n, 10, d]`` by one GradientTape per class, d logit_k / d x (the
    MLP has no batch norm: samples are independent); not through ``tf_introspect``."""
    x = tf.constant(x)
    grads = []
    for k in range(10):
        with tf.GradientTape() as tape:
            tape.watch(x)
            logit_k = model(x, training=False)[:, k]
        grads.append(tape.gradient(logit_k, x).numpy().reshape(len(x), -1))
    return np.stack(grads, axis=1)


def test_figure2_matrix_is_the_mean_class_similarity(mlp, mnist_dir, tmp_path):
    """The Figure 2 matrix against plain NumPy: the mean over the first 300 test images of
    the cosine similarity of per-class GradientTape gradients (no tf_introspect explainer or
    targets function in the expected value)."""
    model, _ = mlp
    batches = model_figures.SampleBatches("mnist", 300, mnist_dir, batch_size=128)  # 128+128+44
    assert batches.samples == 300
    matrix = model_figures.figure2(model, batches, "mnist", "grad", str(tmp_path / "f2.png"))
    x, _ = first_test_images(mnist_dir, 300)
    e = per_class_gradients(model, x).astype(np.float64)
    unit = e / np.linalg.norm(e, axis=-1, keepdims=True)
    expected = np.einsum("bkd,bmd->km", unit, unit) / 300
    np.testing.assert_allclose(matrix, expected, atol=1e-5)
    np.testing.assert_allclose(matrix, matrix.T, atol=1e-6)
    np.testing.assert_allclose(np.diag(matrix), 1.0, atol=1e-5)
    assert_png(tmp_path / "f2.png")
    saved = json.loads((tmp_path / "f2.json").read_text())
    np.testing.assert_allclose(saved["matrix"], matrix, atol=1e-6)
    assert saved["samples"] == 300 and saved["class_names"] == [str(d) for d in range(10)]
    i, j = np.triu_indices(10, 1)
    best = np.argsort(-expected[i, j])[:5]
    assert [p["classes"] for p in saved["top_pairs"]] == [[str(i[b]), str(j[b])] for b in best]
    assert [p["cosine"] for p in saved["top_pairs"]] == pytest.approx(
        expected[i, j][best], abs=1e-5
    )
    top = {frozenset(p["classes"]) for p in saved["top_pairs"]}
    assert saved["paper_pairs"] == [["0", "6"], ["1", "7"], ["3", "5"], ["4", "9"]]
    assert saved["paper_pairs_in_top"] == [p for p in saved["paper_pairs"] if frozenset(p) in top]
    for entry in saved["paper_pair_ranks"]:
        a, b = (int(c) for c in entry["classes"])
        assert entry["rank"] == 1 + np.sum(expected[i, j] > expected[a, b] + 1e-6)
    # beside a baseline model's matrix (here an untrained MLP: its own per-class gradients)
    other = models.get("mlp1024")
    model_figures.figure2(
        model,
        batches,
        "mnist",
        "grad",
        str(tmp_path / "f2b.png"),
        baseline=other,
        baseline_source="runs/x/ce/seed0/model.keras",
    )
    e = per_class_gradients(other, x).astype(np.float64)
    unit = e / np.linalg.norm(e, axis=-1, keepdims=True)
    base = json.loads((tmp_path / "f2b.json").read_text())["baseline"]
    np.testing.assert_allclose(
        base["matrix"], np.einsum("bkd,bmd->km", unit, unit) / 300, atol=1e-5
    )
    assert base["model"] == "runs/x/ce/seed0/model.keras"
    assert -1 <= base["rank_correlation"] <= 1
    assert_png(tmp_path / "f2b.png")


@pytest.mark.parametrize("explainer", ["grad", "grad_input"])
def test_figure1_shares_are_eq6_targets(mlp, mnist_dir, tmp_path, explainer):
    model, _ = mlp
    x, y = first_test_images(mnist_dir, 4)
    q = model_figures.figure1(model, x, y, "mnist", explainer, str(tmp_path / "f1.png"), alpha=0.8)
    expected = targets.explanation_targets(explainers.explain(model, x, explainer), y, 0.8)
    np.testing.assert_allclose(q, expected.numpy(), atol=1e-6)
    np.testing.assert_allclose(q[np.arange(4), y], 0.8, atol=1e-6)
    assert_png(tmp_path / "f1.png")


def test_grad_cam_maps_are_resized_to_the_image(tmp_path):
    inputs = keras.Input((32, 32, 3))
    features = keras.layers.Conv2D(4, 3, strides=4, activation="relu", name="conv")(inputs)
    model = keras.Model(
        inputs, keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(features))
    )
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    e = explainers.explain(model, x, "grad_cam")
    assert e.shape == (2, 10, 8, 8) and plots.default_explainers(model) == ("grad_cam",)
    maps = plots.display_maps(e, (32, 32))
    scaled = tf.math.divide_no_nan(e, tf.reduce_max(e, axis=(2, 3), keepdims=True))
    expected = tf.image.resize(tf.reshape(scaled, [20, 8, 8, 1]), (32, 32), "bilinear")
    np.testing.assert_allclose(maps, tf.reshape(expected, [2, 10, 32, 32]), atol=1e-6)
    q = model_figures.figure1(model, x, [3, 5], "cifar10", "grad_cam", str(tmp_path / "cam.png"))
    np.testing.assert_allclose(q[[0, 1], [3, 5]], 0.9, atol=1e-6)
    assert_png(tmp_path / "cam.png")


def test_figures_command(mlp, mnist_dir, tmp_path, capsys):
    _, path = mlp
    out = tmp_path / "figs"
    assert (
        figures_cli.main(
            [
                f"--model={path}",
                "--dataset=mnist",
                f"--data_dir={mnist_dir}",
                f"--out={out}",
                "--samples=2",
                "--similarity_samples=200",
                "--data_label=MNIST (IDX)",
                "--plans=",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    for name in ("grad", "grad_input"):
        assert_png(out / f"figure1_mnist_{name}.png")
        assert_png(out / f"figure2_mnist_{name}.png")
        saved = json.loads((out / f"figure2_mnist_{name}.json").read_text())
        assert saved["samples"] == 200 and len(saved["top_pairs"]) == 5
        assert (saved["dataset"], saved["label"]) == ("mnist", "MNIST (IDX)")
        assert saved["model"] == str(path)  # which model made it
    assert "paper's pairs (0, 6), (1, 7), (3, 5), (4, 9):" in printed
    assert "Figure 3 skipped" in printed and not (out / "figure3.png").exists()

    # one figure alone: Figure 3 needs no model (none is trained); Figure 1 no Figure 2 pass
    only = tmp_path / "only"
    assert figures_cli.main([f"--out={only}", "--figures=3", "--plans="]) == 0
    assert "No --model given" not in capsys.readouterr().out and not only.exists()
    assert (
        figures_cli.main(
            [
                f"--model={path}",
                f"--data_dir={mnist_dir}",
                f"--out={only}",
                "--samples=1",
                "--figures=1",
                "--explainers=grad",
                "--plans=",
            ]
        )
        == 0
    )
    assert sorted(os.listdir(only)) == ["figure1_mnist_grad.png"]
    with pytest.raises(SystemExit):
        figures_cli.main(["--figures=1,4"])
    assert "give figure numbers from 1, 2, 3" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        figures_cli.main(["--dataset=imagenet"])
    assert "'imagenet': give one of mnist," in capsys.readouterr().err
    here = os.path.relpath(tmp_path, os.getcwd())  # a folder by two paths: the same data
    assert figures_cli._same_data(f"folder:{here}/x", f"folder:{tmp_path}/x")
    assert not figures_cli._same_data(f"folder:{tmp_path}/x", f"folder:{tmp_path}/y")
    assert not figures_cli._same_data("mnist", "fashion_mnist")


def test_figures_trains_a_short_model_without_model(mlp, mnist_dir, tmp_path, monkeypatch, capsys):
    from tf_introspect import pipeline

    _, path = mlp
    seen = {}

    def fake_run(cfg):
        seen.update(cfg.as_dict())
        return {"model_path": path, "test_accuracy": 0.5}

    monkeypatch.setattr(pipeline, "run", fake_run)
    figures_cli.main(
        [
            f"--data_dir={mnist_dir}",
            f"--out={tmp_path}",
            "--samples=1",
            "--similarity_samples=20",
            "--explainers=grad",
            f"--workdir={tmp_path}/w",
            "--plans=",
        ]
    )
    assert (seen["method"], seen["model"], seen["dataset"], seen["epochs"]) == (
        "ce",
        "mlp1024",
        "mnist",
        1,
    )
    assert seen["workdir"] == f"{tmp_path}/w" and seen["data_dir"] == mnist_dir
    assert "No --model given: training a short CE model" in capsys.readouterr().out
    assert (tmp_path / "figure2_mnist_grad.json").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model=nowhere.keras"], "no model file 'nowhere.keras'"),
        (
            ["--model={model}", "--explainers=grad,lrp"],
            "unknown explainer 'lrp'; valid choices: grad, grad_cam, grad_input, guided_bp",
        ),
        (["--model={model}", "--dataset=cifar10"], "takes inputs (28, 28, 1), cifar10 images"),
        (["--model={model}", "--alpha=1.5"], "alpha must be in (0, 1)"),
    ],
)
def test_figures_errors(mlp, tmp_path, args, message):
    args = [a.format(model=mlp[1]) for a in args]
    with pytest.raises(
        SystemExit, match="error: .*" + message.replace("(", r"\(").replace(")", r"\)")
    ):
        figures_cli.main([*args, f"--out={tmp_path}"])
    assert not list(tmp_path.iterdir())


FIG3_PLAN = """
description = "fig3"
protocol = "test"
data_dir = "data"
data_labels = { cifar10 = "CIFAR-10 (JPEG)" }
seeds = [0, 1, 2]
[flags]
epochs = 2
[[cell]]
name = "r8_grad_cam"
flagfile = "flags/figure3/resnet8_le_grad_cam.flags"
[[cell]]
name = "r8_grad"
flagfile = "flags/figure3/resnet8_le_grad.flags"
[[cell]]
name = "r8_guided"
flagfile = "flags/figure3/resnet8_le_guided_bp.flags"
seeds = [0]
[[cell]]
name = "ce"
flagfile = "flags/table2/resnet8_ce.flags"
"""


def record(run, accuracy, settings=None):
    """A finished run's record as the runner writes it (``settings``: other than the run's)."""
    folder = pathlib.Path(paths.REPO) / run.result_dir
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(
        json.dumps(
            {
                "plan": run.plan,
                "cell": run.cell,
                "run": run.name,
                "settings": settings or run.settings,
            }
        )
    )
    (folder / "metrics.json").write_text(json.dumps({"test_accuracy": accuracy}))


def test_figure3_means_from_the_plans_records(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(paths, "ROOT", str(tmp_path))
    plan_path = tmp_path / "fig3.toml"
    plan_path.write_text(FIG3_PLAN)
    assert figure3.figure3(str(tmp_path / "f3.png"), [str(plan_path)]) is None  # none yet
    assert "Figure 3 skipped" in capsys.readouterr().out
    plan = plans.load_plan(str(plan_path))
    runs = {(r.cell, r.name): r for r in plans.plan_runs(plan)}
    for seed, acc in enumerate([0.90, 0.92, 0.94]):
        record(runs["r8_grad_cam", f"seed{seed}"], acc)
    for seed, acc in enumerate([0.85, 0.87]):
        record(runs["r8_grad", f"seed{seed}"], acc)
    record(runs["r8_guided", "seed0"], 0.80)
    record(runs["ce", "seed0"], 0.99)  # not LE: not a bar
    stale = {**runs["r8_grad", "seed2"].settings, "epochs": 1}  # made by an older plan: left out
    record(runs["r8_grad", "seed2"], 0.10, settings=stale)
    half = pathlib.Path(paths.REPO) / runs["r8_grad", "seed2"].result_dir
    (half.parent / "seed2.tmp").mkdir()  # a record half written: left out
    (half.parent / "seed2.tmp" / "run.json").write_text(json.dumps({"settings": {}}))
    groups = figure3.figure3(str(tmp_path / "f3.png"), [str(plan_path)])
    assert len(groups) == 1 and groups[0]["plan"] == "fig3"
    assert groups[0]["label"] == "CIFAR-10 (JPEG)"
    bars = {b["explainer"]: b for b in groups[0]["bars"]}
    assert [b["explainer"] for b in groups[0]["bars"]] == ["guided_bp", "grad", "grad_cam"]
    assert bars["grad_cam"]["mean"] == pytest.approx(92.0)
    assert bars["grad_cam"]["std"] == pytest.approx(2.0)
    assert (bars["grad"]["n"], bars["grad"]["mean"]) == (2, pytest.approx(86.0))
    assert bars["grad"]["std"] == pytest.approx(np.std([85, 87], ddof=1))
    assert (bars["guided_bp"]["n"], bars["guided_bp"]["std"]) == (1, None)  # no std of one
    # the reference line: CE of the same protocol, model and data (not a bar)
    assert groups[0]["references"] == {"ce": {"mean": pytest.approx(99.0), "n": 1}}
    assert_png(tmp_path / "f3.png")
    assert json.loads((tmp_path / "f3.json").read_text()) == groups
    printed = capsys.readouterr().out
    assert "Figure 3 (fig3, resnet8 on CIFAR-10 (JPEG)): " in printed
    assert "grad_cam 92.00 +- 2.00 (n=3)" in printed
    assert "guided_bp 80.00 (one seed, no std) (n=1)" in printed


def test_reliability_diagram_pools_the_seeds(tmp_path, monkeypatch):
    from tf_introspect.lab import reliability

    monkeypatch.setattr(paths, "ROOT", str(tmp_path))
    plan_path = tmp_path / "rel.toml"
    plan_path.write_text(
        FIG3_PLAN.replace("seeds = [0, 1, 2]", 'seeds = [0, 1]\nreference = "r8_grad"')
    )
    plan = plans.load_plan(str(plan_path))
    runs = {(r.cell, r.name): r for r in plans.plan_runs(plan)}
    edges = list(np.linspace(0, 1, 4))
    first = {"count": [2, 0, 2], "confidence": [0.2, None, 0.9], "accuracy": [0.5, None, 1.0]}
    second = {"count": [0, 1, 3], "confidence": [None, 0.5, 0.8], "accuracy": [None, 0.0, 1.0]}
    for seed, diagram in enumerate((first, second)):
        folder = pathlib.Path(paths.REPO) / runs["ce", f"seed{seed}"].result_dir
        record(runs["ce", f"seed{seed}"], 0.9)
        metrics = json.loads((folder / "metrics.json").read_text())
        metrics["test_reliability"] = {**diagram, "edges": edges}
        (folder / "metrics.json").write_text(json.dumps(metrics))
    found = reliability.plan_diagrams(str(plan_path))
    assert list(found) == ["ce"]  # LE-type cells other than the reference are not shown
    ce = found["ce"]
    assert ce["count"] == [2, 1, 5] and ce["runs"] == 2
    assert ce["confidence"] == pytest.approx([0.2, 0.5, (2 * 0.9 + 3 * 0.8) / 5])
    assert ce["accuracy"] == pytest.approx([0.5, 0.0, 1.0])
    # ECE of the 8 pooled samples: |1 - 0.4| + |0 - 0.5| + |5 - 4.2| over 8
    assert ce["ece"] == pytest.approx((0.6 + 0.5 + 0.8) / 8)
    written = reliability.reliability_figure(str(plan_path), str(tmp_path))
    assert_png(written)

    # every report redraws it, so that it counts the runs the tables count
    from tf_introspect.lab import figures_doc

    (tmp_path / "docs" / "figures").mkdir(parents=True)
    stale = {"ce": {**ce, "runs": 1, "finished": 1}}
    (tmp_path / "docs" / "figures" / "reliability_rel.json").write_text(json.dumps(stale))
    (tmp_path / "docs" / "figures" / "reliability_rel.png").write_bytes(b"an older figure")
    assert "ce ECE 23.75 % (1 run)." in "\n".join(figures_doc.figures_section())
    record(runs["r8_grad", "seed0"], 0.9)  # the reference (LE) cell: finished, no diagram
    assert figures_doc.redraw([str(plan_path)]) == [
        str(tmp_path / "docs" / "figures" / "reliability_rel.png")
    ]  # Figure 3 left alone: one explainer with records
    caption = "\n".join(figures_doc.figures_section())
    assert "ce ECE 23.75 % (2 runs). Not shown, no finished run with a" in caption
    assert "whose models are gone): r8_grad (1)." in caption
    assert reliability.runs_text({"runs": 1, "finished": 2}) == "1 of 2 finished runs"


def test_learning_curves_average_the_seeds_histories(tmp_path, monkeypatch, capsys):
    from tf_introspect.lab import curves, figures_doc

    monkeypatch.setattr(paths, "ROOT", str(tmp_path))
    plan_path = tmp_path / "cur.toml"
    plan_path.write_text(FIG3_PLAN)
    plan = plans.load_plan(str(plan_path))
    runs = {(r.cell, r.name): r for r in plans.plan_runs(plan)}
    header = "epoch,accuracy,loss,val_accuracy,val_loss\n"
    histories = {  # (training, test) accuracy per epoch; seed1 resumed: epoch 1 written twice
        "seed0": "0,0.5,1,0.40,1\n1,0.7,1,0.60,1\n2,0.9,1,0.70,1\n",
        "seed1": "0,0.6,1,0.50,1\n1,0.1,1,0.10,1\n1,0.8,1,0.80,1\n2,0.9,1,0.90,1\n",
    }
    for seed, text in histories.items():
        record(runs["r8_grad_cam", seed], 0.8)
        (
            pathlib.Path(paths.REPO) / runs["r8_grad_cam", seed].result_dir / "history.csv"
        ).write_text(header + text)
    # with a validation split the test set is the test_ columns, not val_ (the validation set)
    record(runs["ce", "seed0"], 0.5)
    (pathlib.Path(paths.REPO) / runs["ce", "seed0"].result_dir / "history.csv").write_text(
        "epoch,accuracy,val_accuracy,test_accuracy\n0,0.3,0.99,0.25\n1,0.4,0.99,0.35\n"
    )
    stale = {**runs["r8_grad", "seed0"].settings, "epochs": 1}  # an older plan's: left out
    record(runs["r8_grad", "seed0"], 0.9, settings=stale)
    (pathlib.Path(paths.REPO) / runs["r8_grad", "seed0"].result_dir / "history.csv").write_text(
        header + "0,0.5,1,0.5,1\n"
    )
    found = curves.plan_curves(str(plan_path))
    assert list(found) == ["r8_grad_cam", "ce"]
    cam = found["r8_grad_cam"]
    assert cam["runs"] == 2
    assert cam["test_mean"] == pytest.approx([45.0, 70.0, 80.0])
    assert cam["test_low"] == pytest.approx([40.0, 60.0, 70.0])
    assert cam["test_high"] == pytest.approx([50.0, 80.0, 90.0])
    assert cam["train_mean"] == pytest.approx([55.0, 75.0, 90.0])
    assert found["ce"]["test_mean"] == pytest.approx([25.0, 35.0])
    written = curves.curves_figure(str(plan_path), str(tmp_path))
    assert_png(written)
    assert json.loads((tmp_path / "curves_cur.json").read_text()) == found

    # the command line draws it; every report redraws it, and its caption gives the ends
    out = tmp_path / "docs" / "figures"
    assert figures_cli.main([f"--curves={plan_path}", f"--out={out}"]) == 0
    assert f"wrote {out / 'curves_cur.png'}" in capsys.readouterr().out
    record(runs["r8_grad_cam", "seed2"], 0.8)  # a third seed, finished after the drawing
    (pathlib.Path(paths.REPO) / runs["r8_grad_cam", "seed2"].result_dir / "history.csv").write_text(
        header + "0,0.5,1,0.6,1\n1,0.5,1,0.6,1\n2,0.5,1,0.6,1\n"
    )
    assert str(out / "curves_cur.png") in figures_doc.redraw([str(plan_path)])
    caption = "\n".join(figures_doc.figures_section())
    assert "Learning curves of `cur`" in caption
    assert "r8_grad_cam 73.33 (n=3, lowest after the first fifth 66.67)" in caption
    assert "ce 35.00 (n=1, lowest after the first fifth 35.00)" in caption
    assert curves.settled([5.0]) == [5.0]  # a one-epoch run: all of it
    assert curves.settled(list(range(10))) == list(range(2, 10))


# ------------------------------------------------------------------------------------------
# python -m tf_introspect.explain
# ------------------------------------------------------------------------------------------


def write_images(folder):
    rng = np.random.default_rng(0)
    jpeg = folder / "photo.jpg"
    jpeg.write_bytes(tf.io.encode_jpeg(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).numpy())
    png = folder / "digit.png"
    png.write_bytes(tf.io.encode_png(rng.integers(0, 256, (28, 28, 1), dtype=np.uint8)).numpy())
    return [str(jpeg), str(png)]


def test_explain_command_writes_a_picture(mlp, tmp_path, capsys):
    _, path = mlp
    out = tmp_path / "expl.png"
    images = write_images(tmp_path)
    assert explain.main([f"--model={path}", f"--out={out}", *images]) == 0  # mnist guessed
    assert_png(out)
    printed = capsys.readouterr().out
    assert "photo.jpg: " in printed and "digit.png: " in printed and f"wrote {out}" in printed


def test_explain_grad_cam_on_a_conv_net(tmp_path):
    model = models.get("resnet8")
    path = tmp_path / "r8.keras"
    model.save(path)
    out = tmp_path / "cam.png"
    probs, e = explain.explain_images(
        model_figures.load_classifier(str(path)), write_images(tmp_path), str(out)
    )
    assert probs.shape == (2, 10) and e.shape == (2, 10, 8, 8)  # grad_cam by default
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert_png(out)


def test_images_are_converted_and_normalised(tmp_path):
    red = tmp_path / "red.png"
    red.write_bytes(tf.io.encode_png(np.full((10, 12, 3), [255, 0, 0], np.uint8)).numpy())
    white = tmp_path / "white.jpg"
    white.write_bytes(tf.io.encode_jpeg(np.full((8, 8, 1), 255, np.uint8)).numpy())
    gray = explain.load_images([str(red)], (28, 28, 1), "mnist")
    assert gray.shape == (1, 28, 28, 1)
    np.testing.assert_allclose(gray, (0.2989 - 0.1307) / 0.3081, atol=2e-3)  # ITU-R 601 red
    rgb = explain.load_images([str(white)], (32, 32, 3), "cifar10")
    meta = data.info("cifar10")
    np.testing.assert_allclose(rgb[0, 5, 5], (1 - np.array(meta.mean)) / meta.std, atol=0.02)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model=missing.keras", "{good}"], "error: no model file 'missing.keras'"),
        (["--model={model}", "--dataset=folder:{tmp}/nowhere", "{good}"], "{tmp}/nowhere"),
        (["--model={model}", "{bad}"], "error: cannot read image '{bad}'"),
        (["--model={model}", "--layer=dense1", "{good}"], "only applies to 'grad_cam'"),
        (["--model={model}", "--dataset=cifar100", "{good}"], "the model has 10 classes, cifar100"),
    ],
)
def test_explain_errors(mlp, tmp_path, args, message):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    good = write_images(tmp_path)[1]
    fill = dict(model=mlp[1], bad=str(bad), good=good, tmp=tmp_path)
    with pytest.raises(SystemExit) as e:
        explain.main([a.format(**fill) for a in args] + [f"--out={tmp_path}/o.png"])
    assert message.format(**fill) in str(e.value)
    assert not (tmp_path / "o.png").exists()


def test_explain_names_missing_images_at_once(tmp_path, capsys):
    with pytest.raises(SystemExit):
        explain.main(["--model=m.keras", str(tmp_path), "gone.png"])  # a folder, a missing file
    assert f"no image file(s): {tmp_path}, gone.png" in capsys.readouterr().err


def test_explain_unknown_explainer_lists_the_choices(capsys):
    with pytest.raises(SystemExit):
        explain.main(["--model=m.keras", "--explainer=lrp", "x.png"])
    err = capsys.readouterr().err
    assert "invalid choice: 'lrp'" in err and "grad_cam" in err and "guided_bp" in err
