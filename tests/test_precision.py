"""``--precision=mixed_bfloat16``: every method family's step and every explainer's class
similarities agree with float32 within bounds derived from bfloat16's precision.

bfloat16 keeps 8 significant bits: a value is rounded with relative error at most
u = 2^-8 ~ 0.0039. Under Keras' ``mixed_bfloat16`` policy the variables stay float32 and are
rounded to bfloat16 for each layer's computation, as are the activations between layers; the
products are accumulated in float32 (oneDNN), and the logits layer, the losses, targets and
metrics are float32 (``models.layers.dense(dtype="float32")``). So each of the network's ~10
layers adds a relative error of order u to the activations, and the errors of independent
roundings add up like a random walk: for one ResNet-8 step the loss should agree to a few u
(we allow 4u ~ 1.6 %) and the update, whose gradient goes through the same layers twice
(forward and backward), to about 10 sqrt(2 * 10) u ~ 17 % norm-wise (we allow 20 %), where a
dtype mix-up (a float32 path silently run in bfloat16 twice, or a term dropped) gives errors of
order 1. The explanations are gradients of the same network: their cosines (in [-1, 1])
are allowed 0.05 in absolute terms, of the same order.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import run_config

from tf_introspect import WarmupSwitch, explainers, models, targets
from tf_introspect.pipeline import registry

U = 2.0**-8
CFG = dict(explainer="grad_cam")  # the rest: the command line's defaults
CASES = [
    ("ce", {}),
    ("le", {"explainer": "grad"}),
    ("le", {"explainer": "grad_input"}),
    ("le", {"explainer": "guided_bp"}),
    ("le", {"explainer": "grad_cam"}),
    ("kd", {}),
    ("dml", {}),
    ("hint", {}),
    ("fsp", {}),
]


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    return (
        rng.normal(size=(16, 32, 32, 3)).astype("float32"),
        rng.integers(0, 10, size=16).astype("int32"),
    )


@pytest.fixture
def policy():
    """Sets Keras' global policy for the test; puts float32 back after it."""
    yield keras.mixed_precision.set_global_policy
    keras.mixed_precision.set_global_policy("float32")


def build(policy, precision, name, weights):
    """Method ``name`` around a ResNet-8 (and teacher) with the given weights, built under
    ``precision``."""
    policy(precision)
    model = models.get("resnet8", weight_decay=1e-4)
    model.set_weights(weights["model"])
    teacher = None
    if registry.entry(name).teacher != "none":
        teacher = models.get("resnet8")
        teacher.set_weights(weights["teacher"])
    method = registry.build(model, run_config(method=name, **{**CFG, **weights["cfg"]}), teacher)
    if name == "dml":
        method.peer.set_weights(weights["peer"])
    return method, model


def one_step(name, method, model, x, y):
    """One SGD step in the method's second stage (LE's introspective loss, Hint's and FSP's
    KD stage); returns the logs and the classifier's update."""
    method.compile(optimizer=keras.optimizers.SGD(0.1))
    before = [w.numpy().copy() for w in model.trainable_weights]
    callbacks = [WarmupSwitch(0)] if registry.entry(name).warmup else []
    logs = method.fit(
        x, y, batch_size=len(x), epochs=1, verbose=0, shuffle=False, callbacks=callbacks
    ).history
    update = np.concatenate(
        [(w.numpy() - b).ravel() for w, b in zip(model.trainable_weights, before)]
    )
    return {k: v[0] for k, v in logs.items()}, update


@pytest.mark.parametrize(
    "name, options", CASES, ids=[n + (f"_{o['explainer']}" if o else "") for n, o in CASES]
)
def test_a_bfloat16_step_agrees_with_float32(name, options, batch, policy):
    x, y = batch
    policy("float32")
    weights = {
        "model": models.get("resnet8").get_weights(),
        "teacher": models.get("resnet8").get_weights(),
        "peer": models.get("resnet8").get_weights(),
        "cfg": options,
    }
    results = {}
    for precision in ("float32", "mixed_bfloat16"):
        method, model = build(policy, precision, name, weights)
        assert model.output.dtype == "float32"  # logits stay float32
        results[precision] = one_step(name, method, model, x, y)
    (logs32, update32), (logs16, update16) = results["float32"], results["mixed_bfloat16"]
    assert np.isfinite(update16).all() and np.abs(update32).sum() > 0
    if name == "le":
        assert logs32["introspective"] == logs16["introspective"] == 1.0
        # the targets carry the explanations' structure in both (not uniform)
        assert abs(logs16["q_entropy"] - logs32["q_entropy"]) <= 4 * U * logs32["q_entropy"]
    assert abs(logs16["loss"] - logs32["loss"]) <= 4 * U * abs(logs32["loss"]), (logs16, logs32)
    relative = np.linalg.norm(update16 - update32) / np.linalg.norm(update32)
    print(
        f"{name} {options}: loss {abs(logs16['loss'] / logs32['loss'] - 1) / U:.2f} u, "
        f"update {relative:.4f}"
    )
    assert relative <= 0.2, relative


@pytest.mark.parametrize("explainer", explainers.list_explainers())
def test_bfloat16_explanations_give_the_same_class_similarities(explainer, batch, policy):
    x, _ = batch
    policy("float32")
    weights = models.get("resnet8").get_weights()
    similarity = {}
    for precision in ("float32", "mixed_bfloat16"):
        policy(precision)
        model = models.get("resnet8")
        model.set_weights(weights)
        e = explainers.get(explainer, model).explain(x, training=True)
        assert e.dtype == tf.float32
        similarity[precision] = targets.class_similarity(e).numpy()
    difference = np.abs(similarity["mixed_bfloat16"] - similarity["float32"]).max()
    print(f"{explainer}: cosines differ by {difference:.4f} at most")
    assert difference <= 0.05, difference


def test_the_command_line_trains_in_bfloat16_and_restores_the_policy(tmp_path):
    """--precision sets the policy for the run only, decides results (a finished float32 run
    is not reused for bfloat16), and a record without it counts as float32."""
    from conftest import require_shared_data

    from tf_introspect import pipeline

    args = [
        "--method=le",
        "--model=mlp1024",
        f"--data_dir={require_shared_data('')}",
        "--train_limit=256",
        "--test_limit=128",
        "--epochs=1",
        "--warmup_epochs=0",
        "--batch_size=64",
        "--verbose=0",
        "--explanation_samples=0",
    ]
    cfg = pipeline.config.from_args([*args, "--precision=mixed_bfloat16", f"--workdir={tmp_path}"])
    metrics = pipeline.run(cfg)
    assert keras.mixed_precision.global_policy().name == "float32"
    assert metrics["flags"]["precision"] == "mixed_bfloat16"
    assert metrics["final_train"]["introspective"] == 1.0 and 0 < metrics["test_accuracy"]
    assert pipeline.settings.result_settings(cfg)["precision"] == "mixed_bfloat16"
    float32 = pipeline.config.from_args([*args, f"--workdir={tmp_path}"])
    assert "precision" not in pipeline.settings.result_settings(float32)  # as earlier records
    with pytest.raises(pipeline.ConfigError, match="precision"):
        pipeline.run(float32)  # the finished bfloat16 run is not reused
