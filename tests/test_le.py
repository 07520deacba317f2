"""The Introspective wrapper: loss and gradient against NumPy, warm-up switch, save, resume."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from test_targets import eq6_reference

import tf_introspect as ti
from tf_introspect import explainers, models


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
    reg = 1e-3 / 2 * sum((w ** 2).sum() for w, v in zip(before, model.trainable_weights)
                         if "kernel" in v.path)
    with tf.GradientTape() as tape:     # q as a constant: the target carries no gradient
        z = model(x)
        loss = (tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(q.astype("float32"), z))
                + 0.1 * tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, z))
                + tf.add_n(model.losses))
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
    traces = []                       # epoch of every trace of the train step's Python body
    original = wrapper.compute_terms
    wrapper.compute_terms = lambda *a: (traces.append(epoch[0]), original(*a))[1]
    epoch = [None]
    track = keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: epoch.__setitem__(0, e))
    wrapper.compile(optimizer=keras.optimizers.SGD(0.01), metrics=["accuracy"])
    h = wrapper.fit(x, y, batch_size=8, epochs=4, verbose=0,
                    callbacks=[track, ti.WarmupSwitch(2)]).history
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
        ti.Introspective(small_mlp())


@pytest.mark.parametrize("explainer", ["grad_cam", "guided_bp", "grad_input"])
def test_every_explainer_trains_a_cnn(explainer):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, size=16)
    wrapper = ti.Introspective(models.get("resnet8"), explainer=explainer, permute=True)
    wrapper.compile(optimizer=keras.optimizers.SGD(0.01), metrics=["accuracy"])
    h = wrapper.fit(x, y, batch_size=8, epochs=1, verbose=0).history
    assert np.isfinite(h["loss"][0]) and h["ce_soft"][0] > 0


def test_evaluate_predict_and_saved_model(batch, tmp_path):
    x, y = batch
    wrapper = ti.Introspective(small_mlp(), explainer="grad")
    wrapper.compile(optimizer=keras.optimizers.SGD(0.01), metrics=["accuracy"])
    wrapper.fit(x, y, batch_size=8, epochs=1, verbose=0)
    scores = wrapper.evaluate(x, y, verbose=0, return_dict=True)
    assert set(scores) == {"loss", "ce_hard", "accuracy"}
    logits = wrapper.predict(x, verbose=0)
    accuracy = np.mean(logits.argmax(1) == y)
    np.testing.assert_allclose(scores["accuracy"], accuracy, rtol=1e-6)
    path = tmp_path / "model.keras"
    wrapper.model.save(path)
    reloaded = keras.models.load_model(path)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), logits, rtol=1e-5, atol=1e-6)


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
        return w.fit(x, y, batch_size=8, epochs=4, verbose=0, shuffle=False,
                     callbacks=[*callbacks, ti.WarmupSwitch(3)]).history

    first = fresh()
    with pytest.raises(RuntimeError, match="simulated crash"):
        fit(first, keras.callbacks.BackupAndRestore(str(tmp_path / "backup")), _Interrupt())
    second = fresh()
    h = fit(second, keras.callbacks.BackupAndRestore(str(tmp_path / "backup")))
    assert h["introspective"] == [0.0, 1.0]          # epochs 3 and 4 of 4 only
    assert int(second.optimizer.iterations) == 4 * 2
    uninterrupted = fresh()
    fit(uninterrupted)
    for a, b in zip(second.model.weights, uninterrupted.model.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6)
    for a, b in zip(second.optimizer.variables, uninterrupted.optimizer.variables):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)
