"""ExplanationImages writes explanation and class-similarity images to TensorBoard."""

import glob

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_introspect as ti


def logged_tags(log_dir):
    tags = {}
    for path in glob.glob(f"{log_dir}/explanations/events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                tags.setdefault(value.tag, []).append(tf.make_ndarray(value.tensor))
    return tags


def per_class_explanations(model, x, explainer):
    """``[n, classes, ...]`` explanations by one GradientTape per class (inference mode, so
    samples are independent): Grad = d logit_k / d x; Grad-CAM at ``stage3`` =
    ReLU(sum_ch mean_hw(d logit_k / d A) * A). Independent of ``tf_introspect.explainers``."""
    x = tf.constant(x)
    view = (
        keras.Model(model.inputs, [model.get_layer("stage3").output, model.outputs[0]])
        if explainer == "grad_cam"
        else None
    )
    maps = []
    for k in range(10):
        with tf.GradientTape() as tape:
            tape.watch(x)
            if view is None:
                logits, source = model(x, training=False), x
            else:
                source, logits = view(x, training=False)
        onehot = tf.one_hot([k] * len(x), 10)  # d logit_k / d source per sample
        grad = tape.gradient(logits, source, output_gradients=onehot).numpy()
        if view is None:
            maps.append(grad)
        else:
            weights = grad.mean(axis=(1, 2))  # [n, channels]
            maps.append(np.maximum(np.einsum("nc,nhwc->nhw", weights, source.numpy()), 0))
    return np.stack(maps, axis=1)


def cosines(e):
    """Plain NumPy cosine similarity of every pair of class explanations: ``[n, c, c]``."""
    flat = e.reshape(*e.shape[:2], -1).astype(np.float64)
    norm = np.linalg.norm(flat, axis=-1, keepdims=True)
    unit = np.divide(flat, norm, out=np.zeros_like(flat), where=norm > 0)
    return np.einsum("nkd,nmd->nkm", unit, unit)


@pytest.mark.parametrize(
    "shape, explainer", [((20,), "grad"), ((28, 28, 1), "grad"), ((32, 32, 3), "grad_cam")]
)
def test_explanation_images(shape, explainer, tmp_path):
    """The logged images and scalars against values computed here: explanations by a
    GradientTape per class (:func:`per_class_explanations`) and cosines in NumPy
    (:func:`cosines`), not by the explainers or ``tf_introspect.targets`` the callback uses."""
    model = (
        ti.models.get("resnet8")
        if explainer == "grad_cam"
        else ti.models.get("mlp1024", input_shape=shape)
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, *shape)).astype("float32")
    y = rng.integers(0, 10, size=16)
    learner = ti.Introspective(model, explainer=explainer)
    learner.compile(optimizer=keras.optimizers.SGD(0.01))
    learner.fit(
        x,
        y,
        batch_size=8,
        epochs=2,
        verbose=0,
        callbacks=[ti.ExplanationImages(str(tmp_path), x[:3], y[:3])],
    )
    tags = logged_tags(tmp_path)
    assert len(tags["explanations"]) == 2 and len(tags["class_similarity"]) == 2
    assert len(tags["similarity_to_gt/class_0"]) == 2
    # an image summary holds width, height and one PNG per sample
    width, height, *pngs = tags["explanations"][-1]
    map_hw = {(20,): (1, 20), (28, 28, 1): (28, 28), (32, 32, 3): (8, 8)}[shape]  # Grad-CAM: 8x8
    assert len(pngs) == 3
    assert (int(height), int(width)) == (map_hw[0], 10 * map_hw[1])
    # content: the similarity image is the mean class-similarity matrix of the same samples
    # (mapped from [-1, 1] to [0, 1], 8-bit PNG); the per-class scalars are the mean cosine to
    # the ground truth; each explanation row is |e_k| scaled by its own maximum.
    e = per_class_explanations(learner.model, x[:3], explainer)
    cos = cosines(e)
    _, _, png = tags["class_similarity"][-1]
    image = tf.io.decode_png(png).numpy()[..., 0] / 255.0
    np.testing.assert_allclose(image, (cos.mean(axis=0) + 1.0) / 2.0, atol=1.5 / 255)
    for k in (0, 4, 9):
        cos_gt = cos[np.arange(3), y[:3], k].mean()
        assert float(tags[f"similarity_to_gt/class_{k}"][-1]) == pytest.approx(cos_gt, abs=1e-5)
    row = tf.io.decode_png(pngs[1]).numpy()[..., 0] / 255.0  # sample 1, all classes
    maps = np.abs(e[1].reshape(10, *map_hw, -1).sum(-1))
    maps = maps / np.maximum(maps.max(axis=(1, 2), keepdims=True), 1e-12)
    np.testing.assert_allclose(row, np.concatenate(list(maps), axis=1), atol=1.5 / 255)
