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


@pytest.mark.parametrize("shape, explainer", [((20,), "grad"), ((28, 28, 1), "grad"),
                                              ((32, 32, 3), "grad_cam")])
def test_explanation_images(shape, explainer, tmp_path):
    model = (ti.models.get("resnet8") if explainer == "grad_cam" else
             ti.models.get("mlp1024", input_shape=shape))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, *shape)).astype("float32")
    y = rng.integers(0, 10, size=16)
    learner = ti.Introspective(model, explainer=explainer)
    learner.compile(optimizer=keras.optimizers.SGD(0.01))
    learner.fit(x, y, batch_size=8, epochs=2, verbose=0,
                callbacks=[ti.ExplanationImages(str(tmp_path), x[:3], y[:3])])
    tags = logged_tags(tmp_path)
    assert len(tags["explanations"]) == 2 and len(tags["class_similarity"]) == 2
    assert len(tags["similarity_to_gt/class_0"]) == 2
    # an image summary holds width, height and one PNG per sample
    width, height, *pngs = tags["explanations"][-1]
    map_hw = {(20,): (1, 20), (28, 28, 1): (28, 28), (32, 32, 3): (8, 8)}[shape]  # Grad-CAM: 8x8
    assert len(pngs) == 3
    assert (int(height), int(width)) == (map_hw[0], 10 * map_hw[1])
