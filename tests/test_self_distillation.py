"""The teacher-free self-distillation methods (CS-KD, Tf-KD_self, Tf-KD_reg, PS-KD): each loss
against a NumPy hand computation of its paper's formula; CS-KD's same-class pairs and PS-KD's
sample indices from the data pipeline (deterministic, and leaving the images bit-identical);
PS-KD reading epoch t-1's predictions in epoch t, and resuming from a backup to identical
weights; the four through the command line."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import require_shared_data, run_config, stop_after_backup
from test_baselines import ce, kl, softmax

from tf_introspect import data, methods, models
from tf_introspect.data.pipeline import class_members, select
from tf_introspect.methods.tfkd import DEFAULTS
from tf_introspect.pipeline import registry

B, K = 8, 10


@pytest.fixture(scope="module")
def mnist_dir():
    return str(require_shared_data("mnist").parent)


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    return (
        rng.normal(size=(B, 32, 32, 3)).astype("float32"),
        rng.normal(size=(B, 32, 32, 3)).astype("float32"),
        rng.integers(0, K, size=B).astype("int32"),
    )


def step_terms(method, x, y):
    """The training-step terms and logits on one batch, with their gradients, no update."""
    method.compile(optimizer=keras.optimizers.SGD(0.0))
    method.optimizer.build(method.model.trainable_variables)
    with tf.GradientTape() as tape:
        logits, terms = method.compute_terms(x, tf.constant(y), tape)
    grads = tape.gradient(terms["loss"], method.model.trainable_variables)
    return logits.numpy().astype(np.float64), {k: float(v) for k, v in terms.items()}, grads


# -- CS-KD --------------------------------------------------------------------------------


def test_cskd_loss_is_ce_plus_tempered_kl_to_the_constant_partner(batch):
    x, partner, y = batch
    model = models.get("resnet8")
    method = methods.get("cskd", model, temperature=4.0, weight=2.0)
    # the partner's training-mode logits (batch statistics of the partners alone), as the
    # method's second forward pass computes them
    z_partner = model(partner, training=True)
    logits, t, grads = step_terms(method, {"image": x, "partner": partner}, y)
    q, p = softmax(z_partner.numpy(), 4.0), softmax(logits, 4.0)
    distill = 16.0 * kl(q, p).mean()
    np.testing.assert_allclose(t["distill"], distill, rtol=1e-4)
    np.testing.assert_allclose(t["ce_hard"], ce(softmax(logits), y).mean(), rtol=1e-5)
    np.testing.assert_allclose(t["loss"], t["ce_hard"] + 2.0 * distill, rtol=1e-4)
    # no gradient through the partner: the same as with its logits as constants
    with tf.GradientTape() as tape:
        z = model(x, training=True)
        reference = keras.ops.mean(
            keras.losses.sparse_categorical_crossentropy(y, z, from_logits=True)
        ) + 2.0 * 16.0 * tf.reduce_mean(
            keras.losses.kl_divergence(tf.nn.softmax(z_partner / 4.0), tf.nn.softmax(z / 4.0))
        )
    for a, b in zip(grads, tape.gradient(reference, model.trainable_variables)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=2e-3, atol=1e-6)


def test_cskd_without_partners_says_how_to_make_them(batch):
    x, _, y = batch
    method = methods.get("cskd", models.get("resnet8"))
    with pytest.raises(ValueError, match=r"extras='partner'"):
        step_terms(method, tf.constant(x), y)


def test_class_members():
    members, start, count = class_members(np.array([2, 0, 2, 1, 0, 2]))
    assert members.tolist() == [1, 4, 3, 0, 2, 5]
    assert start.tolist() == [0, 2, 3] and count.tolist() == [2, 1, 3]


def partners_of(ds, x_raw, epochs=1):
    """Per epoch: ``(anchor rows, partner rows, labels)``, each image's row found as its
    nearest raw image (MNIST is not augmented: the match is exact up to rounding)."""
    meta = data.info("mnist")
    raw = ((x_raw / 255.0 - meta.mean[0]) / meta.std[0]).reshape(len(x_raw), -1)

    def rows(images):
        distance = np.abs(images.reshape(len(images), 1, -1) - raw[None]).max(-1)
        assert (distance.min(-1) < 1e-4).all()
        return distance.argmin(-1)

    result = []
    for _ in range(epochs):
        found = ([], [], [])
        for inputs, labels in ds:
            found[0].extend(rows(inputs["image"].numpy()))
            found[1].extend(rows(inputs["partner"].numpy()))
            found[2].extend(labels.numpy().tolist())
        result.append(tuple(np.array(r) for r in found))
    return result


def test_pairs_are_same_class_uniform_and_deterministic(mnist_dir):
    x, y = select("mnist", "train", data_dir=mnist_dir, limit=120)
    make = lambda seed: data.make_dataset(  # noqa: E731
        "mnist", "train", 32, data_dir=mnist_dir, limit=120, seed=seed, extras="partner"
    )
    epochs = partners_of(make(3), x, epochs=20)
    for anchors, partners, labels in epochs:
        assert sorted(anchors) == list(range(120))  # every sample an anchor once an epoch
        np.testing.assert_array_equal(y[anchors], labels)
        np.testing.assert_array_equal(y[partners], labels)  # same class
    # the same seed: the same pairs; the next epoch and another seed: other pairs
    again = partners_of(make(3), x, epochs=2)
    for (a1, p1, _), (a2, p2, _) in zip(epochs, again):
        np.testing.assert_array_equal(a1, a2)
        np.testing.assert_array_equal(p1, p2)
    assert not np.array_equal(epochs[0][1], epochs[1][1])
    assert not np.array_equal(partners_of(make(4), x)[0][1], epochs[0][1])
    # uniform over the class, the sample itself included: over 20 epochs each member of a
    # class of n is drawn Binomial(20 n, 1/n) times, about 20 (variance 20 (1 - 1/n))
    hits = np.zeros(len(y))
    counts = {}
    for anchors, partners, _ in epochs:
        np.add.at(hits, partners, 1)
        for a, p in zip(anchors, partners):
            counts[(a, p)] = counts.get((a, p), 0) + 1
    chi2 = (((hits - 20) ** 2) / (20 * (1 - 1 / np.bincount(y)[y]))).sum()
    assert 60 < chi2 < 180, chi2  # 120 degrees of freedom, less a few
    assert any(a == p for a, p in counts)  # a sample may be its own partner


@pytest.mark.parametrize("extras", ["index", "partner"])
def test_extras_leave_the_images_bit_identical(extras, mnist_dir):
    common = dict(data_dir=mnist_dir, limit=100, seed=1, validation_split=20)
    plain = list(data.make_dataset("mnist", "train", 16, **common))
    extra = list(data.make_dataset("mnist", "train", 16, extras=extras, **common))
    x, _ = select("mnist", "train", **{k: v for k, v in common.items() if k != "seed"})
    meta = data.info("mnist")
    for (xa, ya), (inputs, yb) in zip(plain, extra):
        np.testing.assert_array_equal(xa.numpy(), inputs["image"].numpy())
        np.testing.assert_array_equal(ya.numpy(), yb.numpy())
        if extras == "index":  # the row of select()'s order
            expected = (x[inputs["index"].numpy()] / 255.0 - meta.mean[0]) / meta.std[0]
            np.testing.assert_allclose(inputs["image"].numpy(), expected, atol=1e-5)
    with pytest.raises(ValueError, match="unknown extras 'pairs'; valid choices"):
        data.make_dataset("mnist", "train", 16, extras="pairs", **common)


def test_augmented_partners_are_cropped_on_their_own(tmp_path):
    """One image per class: every partner is its anchor, and still gets its own crop or flip."""
    from test_data import write_cifar10

    write_cifar10(tmp_path / "cifar10", "binary", n_per_batch=2, n_test=10)  # labels 0..9
    ds = data.make_dataset("cifar10", "train", 10, data_dir=tmp_path, extras="partner")
    ((inputs, labels),) = list(ds)
    plain = next(iter(data.make_dataset("cifar10", "train", 10, data_dir=tmp_path)))[0]
    np.testing.assert_array_equal(inputs["image"].numpy(), plain.numpy())
    assert sorted(labels.numpy().tolist()) == list(range(10))
    same = [np.array_equal(a, b) for a, b in zip(inputs["partner"].numpy(), plain.numpy())]
    assert sum(same) <= 1  # the same crop and flip has probability 1/162 per image


# -- Tf-KD --------------------------------------------------------------------------------


def test_tfkd_self_loss(batch):
    x, _, y = batch
    model, teacher = models.get("resnet8"), models.get("resnet8")
    method = methods.get("tfkd_self", model, teacher, alpha=0.9, temperature=6.0, weight=0.5)
    z_t = teacher(x, training=False).numpy()
    logits, t, _ = step_terms(method, tf.constant(x), y)
    distill = 0.9 * 0.5 * 36.0 * kl(softmax(z_t, 6.0), softmax(logits, 6.0)).mean()
    np.testing.assert_allclose(t["distill"], distill, rtol=1e-4)
    np.testing.assert_allclose(t["loss"], 0.1 * ce(softmax(logits), y).mean() + distill, rtol=1e-4)


def test_tfkd_reg_loss_softens_the_designed_teacher_as_the_authors_code(batch):
    x, _, y = batch
    method = methods.get("tfkd_reg", models.get("resnet8"), alpha=0.1, temperature=20.0)
    logits, t, _ = step_terms(method, tf.constant(x), y)
    designed = np.full((B, K), 0.01 / 9)
    designed[np.arange(B), y] = 0.99
    target = softmax(designed, 20.0)
    # (their table: K = 10, T = 20 gives about 0.1045 on the true class, 0.0995 elsewhere)
    np.testing.assert_allclose(target[0, y[0]], 0.10454, atol=5e-5)
    distill = 0.1 * 1.0 * kl(target, softmax(logits)).mean()
    np.testing.assert_allclose(t["distill"], distill, rtol=1e-4)
    np.testing.assert_allclose(t["loss"], 0.9 * ce(softmax(logits), y).mean() + distill, rtol=1e-4)


def test_tfkd_defaults_per_family_and_bad_values():
    for family, model in (("mlp", "mlp1024"), ("resnet", "resnet8"), ("cnn", "cnn6")):
        cfg = run_config(f"--model={model}", "--method=tfkd_self")
        assert (cfg.tfkd_alpha, cfg.tfkd_temperature, cfg.tfkd_weight) == tuple(
            DEFAULTS["self"][family][k] for k in ("alpha", "temperature", "weight")
        )
        assert cfg.tfkd_correct_prob is None
        cfg = run_config(f"--model={model}", "--method=tfkd_reg", "--tfkd_alpha=0.3")
        assert (cfg.tfkd_alpha, cfg.tfkd_temperature, cfg.tfkd_correct_prob) == (0.3, 20.0, 0.99)
    assert run_config("--method=le").tfkd_alpha is None  # only Tf-KD resolves them
    from tf_introspect.pipeline.config import ConfigError

    with pytest.raises(ConfigError, match="--tfkd_correct_prob is the designed teacher's"):
        run_config("--method=tfkd_self", "--tfkd_correct_prob=0.9")
    with pytest.raises(ValueError, match=r"correct_prob must be in \[1/10, 1\]"):
        methods.get("tfkd_reg", models.get("mlp1024"), correct_prob=0.05)


# -- PS-KD --------------------------------------------------------------------------------


def test_pskd_loss_mixes_the_label_and_the_stored_prediction(batch):
    x, _, y = batch
    method = methods.get("pskd", models.get("resnet8"), num_examples=20, alpha=0.8)
    rng = np.random.default_rng(1)
    table = softmax(rng.normal(size=(20, K)))
    table[5] = 0.0  # an unwritten row: its target is the label
    method.predictions.assign(table.astype(np.float32))
    method.alpha_t.assign(0.6)
    index = np.array([5, 0, 19, 3, 7, 11, 2, 13])
    logits, t, _ = step_terms(method, {"image": tf.constant(x), "index": tf.constant(index)}, y)
    one_hot = np.eye(K)[y]
    previous = table[index].copy()
    previous[0] = one_hot[0]
    target = 0.4 * one_hot + 0.6 * previous
    expected = -(target * np.log(softmax(logits))).sum(-1).mean()
    np.testing.assert_allclose(t["ce_soft"], expected, rtol=1e-5)
    np.testing.assert_allclose(t["loss"], expected, rtol=1e-5)
    assert t["alpha_t"] == pytest.approx(0.6)
    # the step wrote this batch's predictions to its rows, nothing else
    after = method.predictions.numpy()
    np.testing.assert_allclose(after[index], softmax(logits), rtol=1e-5, atol=1e-7)
    others = np.setdiff1d(np.arange(20), index)
    np.testing.assert_array_equal(after[others], table[others].astype(np.float32))


class Recorder(keras.callbacks.Callback):
    """Shifts the logits' bias at each epoch's start (the model is otherwise fixed: learning
    rate 0), so every epoch predicts differently; records the table and alpha_t at its end."""

    def __init__(self, shifts):
        super().__init__()
        self.shifts, self.tables, self.alphas = shifts, [], []

    def on_epoch_begin(self, epoch, logs=None):
        bias = self.model.model.get_layer("logits").bias
        bias.assign(bias + self.shifts[epoch])

    def on_epoch_end(self, epoch, logs=None):
        self.tables.append(self.model.predictions.numpy().copy())
        self.alphas.append(float(self.model.alpha_t.numpy()))


def test_pskd_epoch_t_reads_epoch_t_minus_1_predictions(mnist_dir):
    """Each epoch predicts differently (its own bias shift, learning rate 0): every row of
    epoch t's table is the model's prediction in epoch t, and epoch t's loss is the NumPy loss
    of epoch t's predictions against targets from epoch t-1's table (not epoch t's own)."""
    n, epochs = 64, 3
    ds = data.make_dataset("mnist", "train", 16, data_dir=mnist_dir, limit=n, extras="index")
    x, y = select("mnist", "train", data_dir=mnist_dir, limit=n)
    model = models.get("mlp1024", weight_decay=0.0)
    method = methods.get("pskd", model, num_examples=n, alpha=0.8)
    method.compile(optimizer=keras.optimizers.SGD(0.0), jit_compile=False)
    shifts = np.random.default_rng(3).normal(0, 2, size=(epochs, K)).astype("float32")
    recorder = Recorder(shifts)
    logs = method.fit(ds, epochs=epochs, verbose=0, callbacks=[recorder], shuffle=False).history
    assert recorder.alphas == pytest.approx([0.8 * (e + 1) / epochs for e in range(epochs)])
    # epoch 1: every row was unwritten, the target is the label
    assert logs["ce_soft"][0] == pytest.approx(logs["ce_hard"][0], rel=1e-6)
    meta = data.info("mnist")
    images = (x / 255.0 - meta.mean[0]) / meta.std[0]
    logits = model(images, training=True).numpy()  # with every epoch's shift
    np.testing.assert_allclose(recorder.tables[-1], softmax(logits), rtol=1e-4, atol=1e-6)
    for epoch in (1, 2):  # the predictions of each epoch, its bias shifts undone after it
        later = shifts[epoch + 1 :].sum(0)
        probs = softmax(logits - later)
        np.testing.assert_allclose(recorder.tables[epoch], probs, rtol=1e-4, atol=1e-6)
        alpha = 0.8 * (epoch + 1) / epochs
        target = (1 - alpha) * np.eye(K)[y] + alpha * recorder.tables[epoch - 1]
        expected = -(target * np.log(probs)).sum(-1).mean()  # equal batches: sample mean
        assert logs["ce_soft"][epoch] == pytest.approx(expected, rel=1e-4)
        # the table being read is not this epoch's own predictions
        own = (1 - alpha) * np.eye(K)[y] + alpha * probs
        assert abs(expected - (-(own * np.log(probs)).sum(-1).mean())) > 1e-2


def test_pskd_checks_its_inputs_and_arguments(batch):
    x, _, y = batch
    method = methods.get("pskd", models.get("resnet8"), num_examples=20)
    with pytest.raises(ValueError, match=r"extras='index'"):
        step_terms(method, {"image": tf.constant(x)}, y)
    with pytest.raises(ValueError, match="alpha"):
        methods.get("pskd", models.get("resnet8"), num_examples=20, alpha=1.5)


def test_pskd_resumes_from_its_backup_with_identical_weights(mnist_dir, tmp_path, monkeypatch):
    """Stopped after the backup of epoch 1 of 3, the run resumes with the table and alpha_t of
    that backup and ends with the weights of an uninterrupted run, bit for bit."""
    from tf_introspect import pipeline

    args = [
        "--method=pskd",
        "--model=mlp1024",
        f"--data_dir={mnist_dir}",
        "--train_limit=256",
        "--test_limit=64",
        "--epochs=3",
        "--batch_size=32",
        "--verbose=0",
        "--deterministic",
    ]
    stopped, whole = tmp_path / "stopped", tmp_path / "whole"
    stop_after_backup([*args, f"--workdir={stopped}"], 1, monkeypatch)
    resumed = pipeline.run(pipeline.config.from_args([*args, f"--workdir={stopped}"]))
    uninterrupted = pipeline.run(pipeline.config.from_args([*args, f"--workdir={whole}"]))
    assert resumed["resumed_after_epoch"] == 1 and uninterrupted["resumed_after_epoch"] == 0
    assert (stopped / "history.csv").read_text() == (whole / "history.csv").read_text()
    weights = [keras.models.load_model(f / "model.keras").get_weights() for f in (whole, stopped)]
    assert all(np.array_equal(a, b) for a, b in zip(*weights))


# -- the command line ---------------------------------------------------------------------


@pytest.mark.parametrize("method", ["cskd", "tfkd_reg", "tfkd_self", "pskd"])
def test_each_method_trains_through_the_command_line(method, mnist_dir, tmp_path):
    from tf_introspect import pipeline

    cfg = pipeline.config.from_args(
        [
            f"--method={method}",
            "--model=mlp1024",
            f"--data_dir={mnist_dir}",
            "--train_limit=128",
            "--test_limit=64",
            "--epochs=2",
            "--batch_size=32",
            "--verbose=0",
            f"--workdir={tmp_path / method}",
        ]
    )
    metrics = pipeline.run(cfg)
    recorded = json.loads((tmp_path / method / "metrics.json").read_text())
    assert recorded["method"] == method and 0 <= metrics["test_accuracy"] <= 1
    expected = {  # the paper's settings, recorded (the defaults for the MLP)
        "cskd": {"temperature": 4.0, "cskd_weight": 1.0},
        "tfkd_self": {"tfkd_alpha": 0.95, "tfkd_temperature": 6.0, "tfkd_weight": 0.5},
        "tfkd_reg": {"tfkd_alpha": 0.1, "tfkd_temperature": 20.0, "tfkd_correct_prob": 0.99},
        "pskd": {"pskd_alpha": 0.8},
    }[method]
    assert {k: recorded["flags"][k] for k in expected} == expected
    if method == "tfkd_self":  # its teacher: the model itself, trained first with CE
        teacher = json.loads((tmp_path / method / "teacher" / "metrics.json").read_text())
        assert teacher["method"] == "ce" and teacher["model"] == "mlp1024"
    if method == "pskd":
        assert registry.entry(method).options(cfg)["num_examples"] == 128
