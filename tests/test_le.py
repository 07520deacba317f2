"""The Introspective wrapper: loss and gradient against NumPy, warm-up switch, save, resume."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from test_targets import eq6_reference

import tf_introspect as ti
from tf_introspect import explainers, models
from tf_introspect.targets import explanation_targets


def log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, size=16)
    return x, y


def small_mlp(weight_decay=1e-3):
    return models.get("mlp1024", weight_decay=weight_decay)


def test_one_step_loss_and_update_match_numpy(batch):
    x, y = batch
    model = small_mlp()
    before = [w.numpy() for w in model.trainable_weights]
    # reference on the pre-step weights; the MLP has no BN/dropout, so train == inference mode
    logits = model(x).numpy()
    q = eq6_reference(explainers.explain(model, x, "grad").numpy(), y, 0.9)
    lp = log_softmax(logits.astype(np.float64))
    ce_soft = -(q * lp).sum(axis=1).mean()
    ce_hard = -lp[np.arange(16), y].mean()
    reg = 1e-3 / 2 * sum((w**2).sum() for w in before)  # decay on every parameter
    with tf.GradientTape() as tape:  # q as a constant: the target carries no gradient
        z = model(x)
        loss = (
            tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(q.astype("float32"), z))
            + 0.1 * tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, z))
            + tf.add_n(model.losses)
        )
    grads = [g.numpy() for g in tape.gradient(loss, model.trainable_weights)]

    wrapper = ti.Introspective(model, explainer="grad", alpha=0.9, lam=0.1)
    wrapper.compile(optimizer=keras.optimizers.SGD(0.05), metrics=["accuracy"])
    h = wrapper.fit(x, y, batch_size=16, epochs=1, verbose=0).history
    assert h["introspective"] == [1.0]
    np.testing.assert_allclose(h["ce_soft"][0], ce_soft, rtol=1e-4)
    np.testing.assert_allclose(h["ce_hard"][0], ce_hard, rtol=1e-4)
    np.testing.assert_allclose(h["regularization"][0], reg, rtol=1e-4)
    np.testing.assert_allclose(h["loss"][0], ce_soft + 0.1 * ce_hard + reg, rtol=1e-4)
    q_entropy = -(q * np.log(q)).sum(axis=1).mean()
    np.testing.assert_allclose(h["q_entropy"][0], q_entropy, rtol=1e-4)
    for w0, g, w1 in zip(before, grads, model.trainable_weights):
        np.testing.assert_allclose(w1.numpy(), w0 - 0.05 * g, rtol=1e-4, atol=1e-6)


def test_warmup_switch_at_the_right_epoch_without_retracing(batch):
    x, y = batch
    wrapper = ti.Introspective(small_mlp(0.0), explainer="grad")
    traces = []  # epoch of every trace of the train step's Python body
    original = wrapper.compute_terms
    wrapper.compute_terms = lambda *a: (traces.append(epoch[0]), original(*a))[1]
    epoch = [None]
    track = keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: epoch.__setitem__(0, e))
    wrapper.compile(optimizer=keras.optimizers.SGD(0.01), metrics=["accuracy"])
    h = wrapper.fit(
        x, y, batch_size=8, epochs=4, verbose=0, callbacks=[track, ti.WarmupSwitch(2)]
    ).history
    assert h["introspective"] == [0.0, 0.0, 1.0, 1.0]
    assert h["ce_soft"][:2] == [0.0, 0.0] and min(h["ce_soft"][2:]) > 0
    np.testing.assert_allclose(h["loss"][:2], h["ce_hard"][:2], rtol=1e-6)
    # Keras traces the first call twice (once more after creating the metrics' variables);
    # the switch at epoch 2 must not trace again.
    assert traces and set(traces) == {0}, f"train step traced in epochs {traces}"


def test_warmup_switch_rejects_other_models_and_bad_values():
    with pytest.raises(ValueError, match="warmup_epochs"):
        ti.WarmupSwitch(-1)
    model = small_mlp()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(TypeError, match="Introspective"):
        model.fit(np.zeros((2, 28, 28, 1)), np.zeros(2), verbose=0, callbacks=[ti.WarmupSwitch(1)])


def test_bad_hyperparameters():
    with pytest.raises(ValueError, match="alpha"):
        ti.Introspective(small_mlp(), explainer="grad", alpha=1.0)
    with pytest.raises(ValueError, match="lam"):
        ti.Introspective(small_mlp(), explainer="grad", lam=-0.1)
    with pytest.raises(ValueError, match="grad_cam needs a layer with a 4-D output"):
        ti.Introspective(small_mlp(), explainer="grad_cam")


def test_the_default_explainer_is_the_command_lines_for_the_models_kind():
    assert isinstance(ti.Introspective(small_mlp()).explainer, explainers.Grad)
    cnn = ti.Introspective(models.get("resnet8"))
    assert isinstance(cnn.explainer, explainers.GradCam) and cnn.explainer.layer == "stage3"


@pytest.mark.parametrize(
    "explainer, layer, permute",
    [
        ("grad", None, False),
        ("grad_input", None, False),
        ("guided_bp", None, False),
        ("grad_cam", None, True),
        ("grad_cam", "stage2", False),
    ],
)
def test_step_on_a_batch_norm_network(explainer, layer, permute, monkeypatch):
    """One LE step on a ResNet: its targets are Eq. 6 of ``explain(..., training=True)``, the
    parameters follow the true gradient of the loss (batch moments *not* held there), and the
    moving statistics are updated once, as by one training-mode forward pass."""
    keras.utils.set_random_seed(3)
    model = models.get("resnet8", num_classes=5, input_shape=(16, 16, 3), weight_decay=5e-4)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(8, 16, 16, 3)).astype("float32")
    y = rng.integers(0, 5, size=8)
    before = [w.numpy() for w in model.weights]
    e = explainers.explain(model, x, explainer, layer=layer, training=True)
    for v, w in zip(model.weights, before):  # explaining leaves the moving statistics
        np.testing.assert_array_equal(v.numpy(), w)
    # the first step's LE-Permut seed is [seed, optimizer.iterations] = [0, 0]
    q = explanation_targets(e, y, alpha=0.9, permute=permute, seed=tf.constant([0, 0], tf.int64))
    with tf.GradientTape() as tape:  # reference step: one training-mode pass, q constant
        z = model(x, training=True)
        loss = (
            tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(q, z))
            + 0.1 * tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, z))
            + tf.add_n(model.losses)
        )
    grads = zip(model.trainable_weights, tape.gradient(loss, model.trainable_weights))
    expected = {v.path: v.numpy() - 0.1 * g.numpy() for v, g in grads}
    expected.update({v.path: v.numpy() for v in model.non_trainable_weights})  # updated once
    for v, w in zip(model.weights, before):
        v.assign(w)

    seen_e, seen_q = tf.Variable(tf.zeros_like(e)), tf.Variable(tf.zeros_like(q))

    def recording_targets(explanations, labels, **kwargs):
        seen_e.assign(explanations)
        return seen_q.assign(explanation_targets(explanations, labels, **kwargs))

    monkeypatch.setattr(ti.targets, "explanation_targets", recording_targets)
    wrapper = ti.Introspective(model, explainer=explainer, layer=layer, permute=permute)
    wrapper.compile(optimizer=keras.optimizers.SGD(0.1))
    h = wrapper.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False).history
    np.testing.assert_allclose(seen_e, e, rtol=1e-4, atol=1e-5 * np.abs(e).max())
    np.testing.assert_allclose(seen_q, q, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h["q_entropy"][0], -np.sum(q * np.log(q), axis=1).mean(), rtol=1e-5)
    for v in model.weights:
        np.testing.assert_allclose(
            v.numpy(), expected[v.path], rtol=1e-4, atol=1e-6, err_msg=v.path
        )


def test_evaluate_predict_and_saved_model(batch, tmp_path):
    x, y = batch
    wrapper = ti.Introspective(small_mlp(), explainer="grad")
    wrapper.compile(optimizer=keras.optimizers.SGD(0.01), metrics=["accuracy"])
    wrapper.fit(x, y, batch_size=8, epochs=1, verbose=0)
    scores = wrapper.evaluate(x, y, verbose=0, return_dict=True)
    assert set(scores) == {"loss", "ce_hard", "accuracy", "nll", "ece"}
    logits = wrapper.predict(x, verbose=0)
    accuracy = np.mean(logits.argmax(1) == y)
    np.testing.assert_allclose(scores["accuracy"], accuracy, rtol=1e-6)
    path = tmp_path / "model.keras"
    wrapper.model.save(path)
    reloaded = keras.models.load_model(path)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), logits, rtol=1e-5, atol=1e-6)
    # the wrapper itself: a clear error naming what to save; its weights checkpoint
    with pytest.raises(TypeError, match=r"wrapper\.model\.save\(.*save_weights_only=True"):
        wrapper.save(tmp_path / "wrapper.keras")
    checkpoint = keras.callbacks.ModelCheckpoint(tmp_path / "w.weights.h5", save_weights_only=True)
    wrapper.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[checkpoint])
    again = ti.Introspective(small_mlp(), explainer="grad")
    again.load_weights(tmp_path / "w.weights.h5")
    np.testing.assert_array_equal(again.predict(x, verbose=0), wrapper.predict(x, verbose=0))


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise RuntimeError("simulated crash")


def test_resume_from_backup(batch, tmp_path):
    """A run that crashes after epoch 2 and is resumed ends where an uninterrupted run ends."""
    x, y = batch

    def fresh():
        keras.utils.set_random_seed(5)
        w = ti.Introspective(small_mlp(), explainer="grad")
        w.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), metrics=["accuracy"])
        return w

    def fit(w, *callbacks):
        return w.fit(
            x,
            y,
            batch_size=8,
            epochs=4,
            verbose=0,
            shuffle=False,
            callbacks=[*callbacks, ti.WarmupSwitch(3)],
        ).history

    first = fresh()
    with pytest.raises(RuntimeError, match="simulated crash"):
        fit(first, keras.callbacks.BackupAndRestore(str(tmp_path / "backup")), _Interrupt())
    second = fresh()
    h = fit(second, keras.callbacks.BackupAndRestore(str(tmp_path / "backup")))
    assert h["introspective"] == [0.0, 1.0]  # epochs 3 and 4 of 4 only
    assert int(second.optimizer.iterations) == 4 * 2
    uninterrupted = fresh()
    fit(uninterrupted)
    for a, b in zip(second.model.weights, uninterrupted.model.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6)
    for a, b in zip(second.optimizer.variables, uninterrupted.optimizer.variables):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)


def rescaling_mlp():
    """A float model that takes raw pixel values (uint8 pipelines) through a Rescaling layer."""
    inputs = keras.Input((28, 28, 1))
    h = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inputs))
    h = keras.layers.Dense(32, activation="relu")(h)
    return keras.Model(inputs, keras.layers.Dense(10)(h))


@pytest.mark.parametrize("explainer", ["grad", "grad_input", "guided_bp"])
def test_integer_images_give_the_same_targets_and_step_as_float_images(explainer):
    """uint8 batches (what tfds yields) once gave zero input gradients, hence uniform targets:
    LE silently trained as label smoothing. The step on uint8 images must equal the step on
    the same images as float32: the same q (q_entropy) and the same weights."""
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, size=(16, 28, 28, 1)).astype("uint8")
    y = rng.integers(0, 10, size=16)
    model = rescaling_mlp()
    start = model.get_weights()
    results = []
    for x in (pixels, pixels.astype("float32")):
        model.set_weights(start)
        wrapper = ti.Introspective(model, explainer=explainer)
        wrapper.compile(optimizer=keras.optimizers.SGD(0.1))
        h = wrapper.fit(
            tf.data.Dataset.from_tensors((x, y)), epochs=1, verbose=0, shuffle=False
        ).history
        results.append((h["q_entropy"][0], model.get_weights()))
    (q_int, w_int), (q_float, w_float) = results
    uniform_rest = -(0.9 * np.log(0.9) + 0.1 * np.log(0.1 / 9))  # q's entropy if e = 0
    assert abs(q_float - uniform_rest) > 1e-4  # the float step's targets carry structure
    np.testing.assert_allclose(q_int, q_float, rtol=1e-6)
    for a, b in zip(w_int, w_float):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_le_uniform_targets_loss_and_warmup(batch):
    """LE-Uniform: q = alpha on the ground truth and (1 - alpha) / (K - 1) elsewhere (NumPy),
    loss CE(p, q) + lam CE(p, y) + decay in stage 2; its warm-up trains CE's weights bit for
    bit; it computes no explanation."""
    x, y = batch
    q = ti.targets.uniform_targets(y, 10, alpha=0.8).numpy()
    expected = np.where(np.eye(10)[y] == 1, 0.8, 0.2 / 9)
    np.testing.assert_allclose(q, expected, rtol=1e-6)

    model = small_mlp()
    start = model.get_weights()
    ce = ti.methods.CrossEntropy(model)
    ce.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    ce.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    after_ce = model.get_weights()
    model.set_weights(start)
    uniform = ti.methods.UniformIntrospective(model, alpha=0.8, lam=0.1)
    assert uniform.explainer is None
    uniform.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    h = uniform.fit(
        x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=[ti.WarmupSwitch(2)]
    ).history
    assert h["introspective"] == [0.0, 0.0]
    for a, b in zip(model.get_weights(), after_ce):
        np.testing.assert_array_equal(a, b)

    # stage 2: one step's terms against NumPy on the weights before it
    lp = log_softmax(model(x).numpy().astype(np.float64))
    reg = 1e-3 / 2 * sum((w.astype(np.float64) ** 2).sum() for w in model.get_weights())
    uniform.introspective.assign(1.0)
    h = uniform.fit(x, y, batch_size=16, epochs=1, verbose=0).history
    ce_soft = -(expected * lp).sum(axis=1).mean()
    ce_hard = -lp[np.arange(16), y].mean()
    np.testing.assert_allclose(h["ce_soft"][0], ce_soft, rtol=1e-4)
    np.testing.assert_allclose(h["loss"][0], ce_soft + 0.1 * ce_hard + reg, rtol=1e-4)
    np.testing.assert_allclose(
        h["q_entropy"][0], -(expected[0] * np.log(expected[0])).sum(), rtol=1e-5
    )


def test_command_line_le_step_matches_an_independent_reference(tmp_path, monkeypatch):
    """The command line's pipeline (flags -> data -> LE(Grad) on the MLP -> saved model) makes
    exactly one optimiser step (16 training images, batch 16, no warm-up, 1 epoch); the saved
    weights are checked against a reference written here without tf_introspect's explainers,
    targets or methods: the MLP's forward pass in float64 from its initial weights, Grad by one
    GradientTape per class, Eq. 6 in NumPy, loss CE(p, q) + lam CE(p, y) + (wd / 2) sum w^2
    (PyTorch's coupled decay on every parameter), and SGD's first momentum step w - lr g (the
    momentum buffer starts at 0). The batch is MNIST's first 16 training images in some
    shuffled order, which the batch-mean loss does not see."""
    from conftest import require_shared_data

    from tf_introspect import data, pipeline

    data_dir = require_shared_data("mnist").parent
    n, lr, alpha, lam, wd = 16, 0.1, 0.8, 0.3, 1e-4
    cfg = pipeline.config.from_args(
        [
            "--method=le",
            "--model=mlp1024",
            "--explainer=grad",
            f"--data_dir={data_dir}",
            f"--train_limit={n}",
            f"--batch_size={n}",
            "--test_limit=16",
            "--epochs=1",
            "--warmup_epochs=0",
            f"--lr={lr}",
            "--momentum=0.9",
            f"--alpha={alpha}",
            f"--lam={lam}",
            f"--weight_decay={wd}",
            "--explanation_samples=0",
            "--verbose=0",
            f"--workdir={tmp_path}",
        ]
    )
    initial = {}
    make_method = pipeline.build.make_method

    def recording(cfg, teacher=None):  # the pipeline's model, before training
        method = make_method(cfg, teacher)
        initial.update({w.path: w.numpy().astype(np.float64) for w in method.model.weights})
        return method

    monkeypatch.setattr(pipeline.build, "make_method", recording)
    metrics = pipeline.run(cfg)
    assert metrics["final_train"]["introspective"] == 1.0
    trained = {w.path: w.numpy() for w in keras.models.load_model(metrics["model_path"]).weights}

    names = [
        f"{layer}/{kind}" for layer in ("dense1", "dense2", "logits") for kind in ("kernel", "bias")
    ]
    assert sorted(trained) == sorted(initial) == sorted(names)
    params = [tf.Variable(initial[name]) for name in names]

    def mlp(x):
        h = x
        for i in range(0, 6, 2):
            h = h @ params[i] + params[i + 1]
            h = tf.nn.relu(h) if i < 4 else h
        return h

    images, labels = data.load_arrays("mnist", "train", data_dir)
    x = tf.constant(((images[:n] / 255.0 - 0.1307) / 0.3081).reshape(n, -1))
    y = labels[:n].astype(int)
    e = []
    for k in range(10):
        with tf.GradientTape() as tape:
            tape.watch(x)
            logit_k = mlp(x)[:, k]
        e.append(tape.gradient(logit_k, x).numpy())
    unit = np.stack(e, axis=1)
    unit /= np.linalg.norm(unit, axis=-1, keepdims=True)
    onehot = np.eye(10)[y]
    cos = np.einsum("bkd,bd->bk", unit, unit[np.arange(n), y])
    share = (cos + 1.0) * (1.0 - onehot)
    q = alpha * onehot + (1.0 - alpha) * share / share.sum(axis=1, keepdims=True)
    with tf.GradientTape() as tape:
        log_p = tf.nn.log_softmax(mlp(x))
        loss = (
            -tf.reduce_mean(tf.reduce_sum(q * log_p, axis=1))
            - lam * tf.reduce_mean(tf.reduce_sum(onehot * log_p, axis=1))
            + wd / 2 * tf.add_n([tf.reduce_sum(w**2) for w in params])
        )
    for name, g in zip(names, tape.gradient(loss, params)):
        step = trained[name] - initial[name]
        np.testing.assert_allclose(step, -lr * g.numpy(), rtol=1e-3, atol=2e-8, err_msg=name)
