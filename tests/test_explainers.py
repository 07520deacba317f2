"""Every explainer against an independent per-class GradientTape loop, in inference mode and in
training mode (batch-norm moments of the batch held constant, each sample explained alone)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_introspect import explainers, models


def small_cnn(relu=None):
    """A CNN with ReLUs in every form the explainers must handle.

    ``relu=None`` builds them as Keras ReLUs; otherwise every ReLU is ``relu`` (a function),
    used to rebuild the same network with a reference Guided-BP ReLU.
    """
    act = relu or "relu"
    inputs = keras.Input((10, 10, 2))
    x = keras.layers.Conv2D(4, 3, padding="same", activation=act, name="conv1")(inputs)
    x = keras.layers.Conv2D(5, 3, padding="same", name="conv2")(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = (
        keras.layers.ReLU(name="relu2")
        if relu is None
        else keras.layers.Activation(relu, name="relu2")
    )(x)
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.Conv2D(6, 3, padding="same", name="conv3")(x)
    x = keras.layers.Activation(act, name="relu3")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(8, activation=act, name="dense")(x)
    return keras.Model(inputs, keras.layers.Dense(7, name="logits")(x))


@pytest.fixture(scope="module")
def cnn():
    model = small_cnn()
    # non-trivial BN statistics so inference mode matters
    model.get_layer("bn").set_weights(
        [np.full(5, 1.5), np.full(5, 0.1), np.full(5, 0.2), np.full(5, 2.0)]
    )
    return model


@pytest.fixture(scope="module")
def x():
    return tf.random.stateless_normal((3, 10, 10, 2), seed=[1, 2])


def per_class_gradients(model, x):
    """Reference: one GradientTape pass per class, stacked to [b, c, ...]."""
    grads = []
    for k in range(model.output_shape[-1]):
        with tf.GradientTape() as tape:
            tape.watch(x)
            logit_k = model(x, training=False)[:, k]
        grads.append(tape.gradient(logit_k, x))
    return tf.stack(grads, axis=1).numpy()


def test_grad(cnn, x):
    e = explainers.explain(cnn, x, "grad")
    assert e.shape == (3, 7, 10, 10, 2)
    np.testing.assert_allclose(e, per_class_gradients(cnn, x), rtol=1e-4, atol=1e-6)


def test_grad_input(cnn, x):
    e = explainers.explain(cnn, x, "grad_input")
    ref = per_class_gradients(cnn, x) * x.numpy()[:, None]
    np.testing.assert_allclose(e, ref, rtol=1e-4, atol=1e-6)


@tf.custom_gradient
def reference_guided_relu(z):
    y = tf.maximum(z, 0.0)

    def grad(dy):
        return tf.where((dy > 0) & (z > 0), dy, tf.zeros_like(dy))

    return y, grad


def test_guided_bp_matches_rebuilt_model_and_leaves_model_unchanged(cnn, x):
    plain_before = per_class_gradients(cnn, x)
    rebuilt = small_cnn(relu=reference_guided_relu)
    rebuilt.set_weights(cnn.get_weights())
    e = explainers.explain(cnn, x, "guided_bp")
    ref = per_class_gradients(rebuilt, x)
    np.testing.assert_allclose(e, ref, rtol=1e-4, atol=1e-6)
    assert not np.allclose(ref, plain_before)  # guided really differs from plain grad
    np.testing.assert_allclose(per_class_gradients(cnn, x), plain_before, rtol=1e-6)
    assert cnn.get_layer("conv1").activation.__name__ == "relu"


def reference_grad_cam(model, x, layer):
    view = keras.Model(model.inputs[0], [model.get_layer(layer).output, model.outputs[0]])
    maps = []
    for k in range(model.output_shape[-1]):
        with tf.GradientTape() as tape:
            tape.watch(x)
            a, logits = view(x, training=False)
            logit_k = logits[:, k]
        g = tape.gradient(logit_k, a).numpy()
        w = g.mean(axis=(1, 2))  # [b, channels]
        maps.append(np.maximum((a.numpy() * w[:, None, None, :]).sum(-1), 0))
    return np.stack(maps, axis=1)


@pytest.mark.parametrize("layer, hw", [(None, 5), ("relu2", 10), ("pool", 5)])
def test_grad_cam(cnn, x, layer, hw):
    e = explainers.explain(cnn, x, "grad_cam", layer=layer)
    assert e.shape == (3, 7, hw, hw)
    ref = reference_grad_cam(cnn, x, layer or "relu3")
    np.testing.assert_allclose(e, ref, rtol=1e-4, atol=1e-6)
    assert (e.numpy() >= 0).all() and e.numpy().max() > 0


def test_grad_cam_default_layer_of_resnet_is_last_stage_and_closed_form_is_exact():
    model = models.get("resnet8")
    explainer = explainers.get("grad_cam", model)
    assert explainer.layer == "stage3"
    assert explainer.head is model.get_layer("logits")  # GAP + dense head: closed form
    x = tf.random.stateless_normal((2, 32, 32, 3), seed=[3, 4])
    e = explainer.explain(x)
    assert e.shape == (2, 10, 8, 8)
    np.testing.assert_allclose(e, reference_grad_cam(model, x, "stage3"), rtol=1e-4, atol=1e-6)
    # an earlier layer, or a head with dropout, takes the generic Jacobian path
    assert explainers.get("grad_cam", model, layer="stage2").head is None
    assert explainers.get("grad_cam", models.get("resnet8", dropout_rate=0.1)).head is None
    e2 = explainers.explain(model, x, "grad_cam", layer="stage2")
    np.testing.assert_allclose(e2, reference_grad_cam(model, x, "stage2"), rtol=1e-4, atol=1e-6)


def test_grad_cam_errors_name_the_alternatives(cnn):
    with pytest.raises(ValueError, match="grad_input.*guided_bp"):
        explainers.get("grad_cam", models.get("mlp1024"))
    with pytest.raises(ValueError, match="Unknown or non-4-D Grad-CAM layer 'dense'.*relu3"):
        explainers.get("grad_cam", cnn, layer="dense")
    with pytest.raises(ValueError, match="valid choices: grad, grad_cam, grad_input, guided_bp"):
        explainers.get("lrp", cnn)
    with pytest.raises(ValueError, match="only applies to 'grad_cam'"):
        explainers.get("grad", cnn, layer="relu3")


def test_guided_bp_needs_a_relu():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="tanh")(inputs))
    with pytest.raises(ValueError, match="no ReLU"):
        explainers.explain(model, tf.ones((2, 4)), "guided_bp")


@pytest.mark.parametrize("name", ["grad", "grad_input", "guided_bp", "grad_cam"])
def test_online_pass_equals_explain(cnn, x, name):
    explainer = explainers.get(name, cnn)
    with tf.GradientTape() as outer:
        logits, explain_fn = explainer.online(x, training=False)
        with outer.stop_recording():
            e = explain_fn()
        loss = tf.reduce_sum(logits)
    np.testing.assert_allclose(e, explainer.explain(x), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(logits, cnn(x, training=False), rtol=1e-5)
    grads = outer.gradient(loss, cnn.trainable_variables)
    assert all(g is not None for g in grads)


def test_many_classes_in_one_pass():
    model = models.get("mlp1024", num_classes=100)
    e = explainers.explain(model, tf.random.normal((4, 28, 28, 1)), "grad")
    assert e.shape == (4, 100, 28, 28, 1)


# --- Training mode: the explanations of the LE step (paper section 4, Algorithm 1) ------------
# Reference: each BatchNormalization is replaced by the affine map of its *whole batch's*
# moments, taken as constants (NumPy, from a training-mode pass); then every sample is explained
# ALONE (a batch of one), one GradientTape per class.

TRAINING_CASES = [
    ("grad", None),
    ("grad_input", None),
    ("guided_bp", None),
    ("grad_cam", None),
    ("grad_cam", "stage2"),
]


@pytest.fixture(scope="module")
def resnet():
    keras.utils.set_random_seed(7)
    return models.get("resnet8", num_classes=5, input_shape=(16, 16, 3))


@pytest.fixture(scope="module")
def xb():
    return tf.random.stateless_normal((4, 16, 16, 3), seed=[5, 6])


def batch_moments_held(model, x, relu=None):
    """A copy of ``model`` whose BN layers apply the batch ``x``'s moments as constants (and
    whose ReLU layers are ``relu``, if given), the other layers shared; and the copy's output
    tensor of every layer, by name."""
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    weights = model.get_weights()
    bn_inputs = keras.Model(model.inputs, [bn.input for bn in bns])(x, training=True)
    model.set_weights(weights)  # undo that pass's moving-statistics update
    affine = {}
    for bn, a in zip(bns, bn_inputs):
        a = a.numpy().astype(np.float64)
        scale = bn.gamma.numpy() / np.sqrt(a.var(axis=(0, 1, 2)) + bn.epsilon)
        shift = bn.beta.numpy() - a.mean(axis=(0, 1, 2)) * scale
        affine[bn.name] = scale.astype("float32"), shift.astype("float32")

    def clone(layer):
        if layer.name in affine:
            scale, shift = affine[layer.name]
            return keras.layers.Lambda(lambda t: t * scale + shift, name=f"{layer.name}_held")
        if relu is not None and isinstance(layer, keras.layers.ReLU):
            return keras.layers.Activation(relu, name=f"{layer.name}_guided")
        return layer

    outputs = {}

    def call(layer, *args, **kwargs):
        outputs[layer.name] = layer(*args, **kwargs)
        return outputs[layer.name]

    return keras.models.clone_model(model, clone_function=clone, call_function=call), outputs


def alone(model, x, activation=None):
    """Each sample alone, one tape per class: the explained tensor (the input, or the symbolic
    ``activation`` of ``model``) ``[b, ...]`` and ``d logit_k / d`` it, ``[b, c, ...]``."""
    view = keras.Model(
        model.inputs[0],
        [model.outputs[0]] if activation is None else [activation, model.outputs[0]],
    )
    sources, grads = [], []
    for i in range(len(x)):
        xi = x[i : i + 1]
        per_class = []
        for k in range(model.output_shape[-1]):
            with tf.GradientTape() as tape:
                tape.watch(xi)
                a, logits = (xi, view(xi)) if activation is None else view(xi)
                logit_k = logits[0, k]
            per_class.append(tape.gradient(logit_k, a)[0].numpy())
        sources.append(a[0].numpy())
        grads.append(np.stack(per_class))
    return np.stack(sources), np.stack(grads)


def training_reference(model, x, name, layer=None):
    held, outputs = batch_moments_held(
        model, x, relu=reference_guided_relu if name == "guided_bp" else None
    )
    source, g = alone(held, x, outputs[layer or "stage3"] if name == "grad_cam" else None)
    if name == "grad_input":
        return g * source[:, None]
    if name == "grad_cam":
        w = g.mean(axis=(2, 3))  # [b, c, channels]
        return np.maximum(np.einsum("bkn,bhwn->bkhw", w, source), 0)
    return g


def assert_close(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5 * np.abs(b).max())


@pytest.mark.parametrize("name, layer", TRAINING_CASES)
def test_training_mode_explains_each_sample_alone_with_batch_moments_held(resnet, xb, name, layer):
    ref = training_reference(resnet, xb, name, layer)
    weights = resnet.get_weights()
    e = explainers.explain(resnet, xb, name, layer=layer, training=True)
    assert e.shape == ref.shape
    assert_close(e, ref)
    for now, before in zip(resnet.get_weights(), weights):  # moving statistics untouched
        np.testing.assert_array_equal(now, before)
    # the training step's own pass (Explainer.online) explains the same way
    logits, explain_fn = explainers.get(name, resnet, layer).online(xb, training=True)
    assert_close(explain_fn(), ref)
    resnet.set_weights(weights)  # that pass was a training pass: it updated them


def test_training_mode_reference_tells_the_modes_apart(resnet, xb):
    """The reference differs from inference mode and from the whole-batch Jacobian (which adds
    the B - 1 cross-sample terms of the batch moments), so the test above checks the mode."""
    ref = training_reference(resnet, xb, "grad")
    weights = resnet.get_weights()
    with tf.GradientTape() as tape:
        tape.watch(xb)
        logits = resnet(xb, training=True)
    cross_sample = tape.batch_jacobian(logits, xb).numpy()
    resnet.set_weights(weights)
    inference = explainers.explain(resnet, xb, "grad").numpy()
    for other in (cross_sample, inference):
        assert np.linalg.norm(other - ref) > 0.1 * np.linalg.norm(ref)


# --- guards: Keras' private batch-norm method, unheld batch statistics, unguided ReLUs, nested
# backbones (issue 16, "Risks and silent paths")


def test_keras_without_the_patched_batch_norm_method_fails_naming_the_version(monkeypatch):
    """Training-mode explanations patch the private ``BatchNormalization._moments``; a Keras
    without it (or with another signature) fails when a batch-norm model is explained."""
    explainers.get("grad", small_cnn())  # this Keras: fine
    bn = keras.layers.BatchNormalization
    message = f"Keras {keras.__version__} does not have it.*keras>=3.15,<3.16.*keras==3.15.1"
    for replacement in (None, lambda self, inputs: (inputs, inputs)):
        with monkeypatch.context() as patch:
            if replacement is None:
                patch.delattr(bn, "_moments")
            else:
                patch.setattr(bn, "_moments", replacement)
            with pytest.raises(RuntimeError, match=message):
                explainers.get("grad", small_cnn())
            with pytest.raises(RuntimeError, match=message):
                with explainers.base.held_batch_statistics(small_cnn()):
                    pass
    inputs = keras.Input((4,))  # no batch norm: no check
    with monkeypatch.context() as patch:
        patch.delattr(bn, "_moments")
        explainers.get("grad", keras.Model(inputs, keras.layers.Dense(3)(inputs)))


class RunningMeanCentre(keras.layers.Layer):
    """Batch statistics under another class: centres by the batch mean in training."""

    def build(self, shape):
        self.moving_mean = self.add_weight(
            shape=shape[-1:], initializer="zeros", trainable=False, name="moving_mean"
        )

    def call(self, x, training=False):
        return x - (keras.ops.mean(x, axis=0) if training else self.moving_mean)


class MyBatchNorm(keras.layers.Layer):
    def call(self, x, training=False):
        mean, variance = keras.ops.moments(x, axes=[0])
        return (x - mean) * keras.ops.rsqrt(variance + 1e-3) if training else x


def test_batch_statistics_of_another_class_are_named_in_a_warning(caplog):
    import logging

    inputs = keras.Input((4,))
    x = keras.layers.Dense(5, name="d1")(inputs)
    x = RunningMeanCentre(name="centre")(x)
    x = MyBatchNorm(name="mybn")(x)
    x = keras.layers.LayerNormalization(name="ln")(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.GroupNormalization(groups=1, name="gn")(x)
    model = keras.Model(inputs, keras.layers.Dense(3, name="out")(x), name="m")
    with caplog.at_level(logging.WARNING):
        explainers.get("grad", model)
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(said) == 2, said
    assert "Layer 'centre' (RunningMeanCentre) of model 'm'" in said[0]
    assert "Layer 'mybn' (MyBatchNorm)" in said[1] and "training mode" in said[1]
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # Keras' own layers: nothing
        explainers.get("grad", models.get("resnet8"))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


class Rectify(keras.layers.Layer):
    def call(self, x):
        return keras.ops.relu(x)


class HeldRelu(keras.layers.Layer):
    """A custom layer whose ReLU is a tracked ``layers.ReLU``: swapped, so not named."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.relu = keras.layers.ReLU()

    def call(self, x):
        return self.relu(x)


def test_guided_bp_warns_about_relus_it_cannot_reach(caplog):
    import logging

    inputs = keras.Input((6,))
    x = keras.layers.Dense(5, activation="relu", name="d1")(inputs)
    x = keras.layers.Lambda(lambda t: tf.nn.relu(t) * 2.0, name="lambda_relu")(x)
    x = keras.layers.Lambda(lambda t: t * 2.0, name="lambda_scale")(x)
    x = Rectify(name="rectify")(x)
    x = HeldRelu(name="held")(x)
    x = keras.layers.Activation(lambda t: keras.ops.relu(t), name="act_fn")(x)
    x = keras.layers.Dense(5, activation="gelu", name="d2")(x)
    x = keras.layers.LayerNormalization(name="ln")(x)
    model = keras.Model(inputs, keras.layers.Dense(3, name="out")(x), name="m")
    with caplog.at_level(logging.WARNING):
        explainer = explainers.get("guided_bp", model)
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    named = [s.split("layer ")[1].split(" ")[0] for s in said]
    assert named == ["'lambda_relu'", "'rectify'", "'act_fn'"], said
    assert "of model 'm'" in said[0] and "plain ReLU gradient" in said[0]
    assert explainer.explain(tf.ones((2, 6))).shape == (2, 3, 6)
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # Keras ReLUs only: nothing
        explainers.get("guided_bp", small_cnn())
        explainers.get("guided_bp", models.get("resnet8"))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_grad_cam_on_a_nested_backbone_says_what_to_name():
    inputs = keras.Input((8, 8, 3))
    backbone = keras.Model(
        inputs, keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs), name="backbone"
    )
    head = [keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(5)]
    seq = keras.Sequential([keras.Input((8, 8, 3)), backbone, *head], name="seq")
    x = keras.Input((8, 8, 3))
    features = backbone(x)
    after = keras.layers.Conv2D(4, 1, name="after")(features)
    functional = keras.Model(
        x, keras.layers.Dense(5)(keras.layers.GlobalAveragePooling2D()(after)), name="func"
    )
    for model, layer in ((seq, None), (seq, "backbone"), (functional, "backbone")):
        with pytest.raises(
            ValueError,
            match=f"Grad-CAM layer 'backbone' of model "
            f"'{model.name}' is a nested model.*not connected"
            ".*inside it \\(4-D: conv\\).*--layer / layer=",
        ):
            explainers.get("grad_cam", model, layer)
    with pytest.raises(
        ValueError, match="Name a 4-D layer of 'func' itself with --layer / layer= \\(after\\)"
    ):
        explainers.get("grad_cam", functional, "backbone")
    e = explainers.explain(functional, tf.ones((2, 8, 8, 3)), "grad_cam")  # default: 'after'
    assert e.shape == (2, 5, 8, 8)
