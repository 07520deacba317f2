"""LE's warm-up is CE, bit for bit (issue 16).

In stage 1 (``introspective`` 0) LE's targets are one-hot and its loss is exactly CE's, so a
warm-up step must change every weight (batch-norm statistics included) exactly as a
``CrossEntropy`` step does: same initial weights, same batches, same optimizer. Compared with
``np.array_equal``, no tolerance.

What this guards: the explanation of stage 2 is computed inside the step's ``tf.cond`` and must
not change the graph Grappler optimises around the step's own forward and backward pass. When
the cond took the Jacobian of the step's own forward pass (Grad and Grad*Input until issue 16),
it captured forward tensors that the Jacobian needs only for their dynamic shape (the inputs
of each residual ``Add``, for its broadcasting gradient): one more data consumer, which stopped
Grappler's arithmetic optimiser (``AddOpsRewrite``) from regrouping
``(x * inv + (beta - mean * inv)) + shortcut`` into ``(x * inv + shortcut) + (beta - mean * inv)``
as it does in CE's graph; 17 % of the residual sums then differed in the last bit, and the run
with them. That needs an unknown batch dimension (a ``tf.data`` pipeline without
``drop_remainder``, as the command line's), a residual network and no XLA: the conditions here,
with TensorFlow's op determinism on, as the command line runs conv nets.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.framework.config import disable_op_determinism, is_op_determinism_enabled

import tf_introspect as ti
from tf_introspect import methods, models

BATCH, IMAGES, EPOCHS = 8, 20, 2  # batches of 8, 8, 4: two epochs, six steps


@pytest.fixture(scope="module", autouse=True)
def op_determinism():
    """On for this module, as the command line sets it for conv nets (``--deterministic``);
    put back as it was after."""
    was_on = is_op_determinism_enabled()
    tf.config.experimental.enable_op_determinism()
    yield
    if not was_on:
        disable_op_determinism()  # no public API


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(IMAGES, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, size=IMAGES).astype("int32")
    return x, y


@pytest.fixture(scope="module")
def resnet():
    keras.utils.set_random_seed(3)
    model = models.get("resnet8", weight_decay=1e-4)
    return model, [w.numpy() for w in model.weights]


def train(method, data):
    """Two epochs of SGD with momentum on ``data`` through Keras' ``fit``, no XLA; the
    classifier's weights (trainable and batch-norm statistics) after it."""
    x, y = data
    batches = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)
    assert batches.element_spec[0].shape[0] is None  # unknown batch size, as the CLI's
    method.compile(
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9), metrics=["accuracy"], jit_compile=False
    )
    method.fit(batches, epochs=EPOCHS, shuffle=False, verbose=0)
    assert int(method.optimizer.iterations) == EPOCHS * -(-IMAGES // BATCH)
    return [w.numpy() for w in method.model.weights]


@pytest.fixture(scope="module")
def ce_weights(resnet, data):
    model, initial = resnet
    model.set_weights(initial)
    return train(methods.CrossEntropy(model), data)


@pytest.mark.parametrize(
    "explainer, layer",
    [
        ("grad", None),
        ("grad_input", None),
        ("guided_bp", None),
        ("grad_cam", None),  # closed form: GAP + linear head, no Jacobian
        ("grad_cam", "stage2"),  # the generic Jacobian, through stage 3's residual block
    ],
)
def test_warmup_trains_the_weights_of_ce_bit_for_bit(resnet, data, ce_weights, explainer, layer):
    model, initial = resnet
    model.set_weights(initial)
    wrapper = ti.Introspective(model, explainer=explainer, layer=layer, introspective=False)
    weights = train(wrapper, data)
    assert float(wrapper.introspective) == 0.0
    moved = sum(not np.array_equal(w, w0) for w, w0 in zip(weights, initial))
    assert moved == len(initial)  # every weight and statistic trained
    different = [
        (v.path, float(np.max(np.abs(w - c))))
        for v, w, c in zip(model.weights, weights, ce_weights)
        if not np.array_equal(w, c)
    ]
    assert not different, f"LE({explainer}) warm-up differs from CE: {different}"
