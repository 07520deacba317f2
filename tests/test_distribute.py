"""LE under tf.distribute: MirroredStrategy over two logical CPU devices (a separate process,
since logical devices must be configured before TensorFlow starts)."""

import os
import subprocess
import sys
import textwrap

from conftest import REPO

SCRIPT = textwrap.dedent("""
    import numpy as np, tensorflow as tf, keras
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import tf_introspect as ti
    keras.utils.set_random_seed(0)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, size=64)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    with strategy.scope():
        learner = ti.Introspective(ti.models.get("resnet8", weight_decay=5e-4), "grad_cam")
        learner.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                        metrics=["accuracy"])
    h = learner.fit(data, epochs=2, verbose=0, callbacks=[ti.WarmupSwitch(1)]).history
    assert h["introspective"] == [0.0, 1.0], h
    assert all(np.isfinite(v).all() for v in h.values()), h
    # One LE step of an MLP (no batch norm, so replicas see the same function): the update
    # with the batch split over two replicas equals the single-device update, i.e. the loss
    # is scaled by the replica count exactly once.
    mx = rng.normal(size=(32, 28, 28, 1)).astype("float32")
    my = rng.integers(0, 10, size=32)
    one_batch = tf.data.Dataset.from_tensor_slices((mx, my)).batch(32)
    weights = ti.models.get("mlp1024", weight_decay=1e-3).get_weights()
    updated = []
    for scope in (strategy.scope(), tf.distribute.get_strategy().scope()):
        with scope:
            model = ti.models.get("mlp1024", weight_decay=1e-3)
            model.set_weights(weights)
            mlp = ti.Introspective(model, "grad")
            mlp.compile(optimizer=keras.optimizers.SGD(0.5))
        mlp.fit(one_batch, epochs=1, verbose=0)
        updated.append(model.get_weights())
    for a, b, w in zip(*updated, weights):
        assert np.abs(b - w).max() > 1e-4          # the step did change the weights
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    print("OK", h["loss"])
""")


def test_le_trains_under_mirrored_strategy():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "OK" in result.stdout
