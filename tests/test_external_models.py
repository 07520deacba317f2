"""Models that are not the paper's (issue 21): ``keras:NAME`` (Keras Applications) and
``PATH.keras`` (a saved classifier): built for the data, one LE step with every explainer,
weight decay, saved and reloaded, and the refusals."""

import keras
import numpy as np
import pytest
from test_main import cli

import tf_introspect as ti
from tf_introspect import models
from tf_introspect.models import external


def batch(shape, n=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, *shape)).astype("float32"), rng.integers(0, 10, size=n)


@pytest.fixture(scope="module")
def mobilenet():
    return models.get("keras:MobileNetV3Small", 10, (32, 32, 3), weight_decay=1e-4)


# Grad*Input is Grad's Jacobian times the input: Grad covers its step on an application
@pytest.mark.parametrize("explainer", ["grad", "guided_bp", "grad_cam"])
def test_an_application_takes_an_le_step_with_every_explainer(mobilenet, explainer):
    x, y = batch((32, 32, 3))
    model = keras.models.clone_model(mobilenet)
    external.apply_weight_decay(model, 1e-4)
    try:
        learner = ti.Introspective(model, explainer=explainer)
    except ValueError as e:  # an explainer that cannot be faithful here says so
        assert explainer == "guided_bp" and "ReLU" in str(e), e
        return
    learner.compile(optimizer=keras.optimizers.SGD(0.01), metrics=["accuracy"])
    logs = learner.fit(x, y, batch_size=8, epochs=1, verbose=0).history
    assert np.isfinite(logs["loss"][0]) and logs["introspective"] == [1.0]
    assert logs["regularization"][0] > 0  # the decay reaches every trainable variable


def test_an_application_is_built_for_the_data(mobilenet, tmp_path):
    assert mobilenet.output_shape == (None, 10) and len(mobilenet.losses) == len(
        mobilenet.trainable_variables
    )
    x, _ = batch((32, 32, 3))
    path = tmp_path / "m.keras"
    mobilenet.save(path)
    reloaded = keras.models.load_model(path)
    np.testing.assert_allclose(
        reloaded.predict(x, verbose=0), mobilenet.predict(x, verbose=0), rtol=1e-5, atol=1e-5
    )
    # Grad-CAM's default layer: the application's last feature map, before the pooling
    assert ti.explainers.explain(mobilenet, x[:2], "grad_cam").shape[:2] == (2, 10)
    small = models.get("keras:MobileNetV3Small", 10, (28, 28, 1))  # MNIST: resized up
    assert small.get_layer("resize_up").output.shape[1:3] == (32, 32)
    with pytest.raises(ValueError, match="unknown Keras Applications architecture 'MobileNet9'"):
        models.get("keras:MobileNet9")
    with pytest.raises(ValueError, match=r"\['dropout_rate'\] apply to the registry's models"):
        models.get("keras:MobileNetV3Small", dropout_rate=0.5)


def test_a_saved_classifier_is_trained_further_or_reinitialized(tmp_path):
    source = models.get("resnet8")
    path = str(tmp_path / "r8.keras")
    source.save(path)
    loaded = models.get(path, 10, (32, 32, 3), weight_decay=1e-4)
    for a, b in zip(loaded.weights, source.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert len(loaded.losses) == len(loaded.trainable_variables)
    fresh = models.get(path, 10, (32, 32, 3), reinitialize=True)
    assert any(
        not np.array_equal(a.numpy(), b.numpy()) for a, b in zip(fresh.weights, source.weights)
    )
    with pytest.raises(ValueError, match="maps \\(32, 32, 3\\) to 10 classes; the data has"):
        models.get(path, 100, (32, 32, 3))


def test_saved_models_that_are_refused(tmp_path):
    inputs = keras.Input((4,))
    soft = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(inputs))
    soft.save(tmp_path / "soft.keras")
    with pytest.raises(ValueError, match="ends in a softmax"):
        models.get(str(tmp_path / "soft.keras"), 10, (4,))
    code = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2)(keras.layers.Dense(10)(inputs)))
    code.save(tmp_path / "code.keras")
    with pytest.raises(ValueError, match="holds code .* safe mode does not run"):
        models.get(str(tmp_path / "code.keras"), 10, (4,))
    with pytest.raises(ValueError, match="no model file"):
        models.get(str(tmp_path / "none.keras"), 10, (4,))


def test_command_line_lists_and_trains_other_models(tmp_path):
    from conftest import require_shared_data

    listed = cli("--list_models")
    assert listed.returncode == 0 and "keras:NAME" in listed.stdout
    assert "MobileNetV3Small" in listed.stdout and "resnet8" in listed.stdout
    data_dir = require_shared_data("mnist").parent
    source = tmp_path / "mlp.keras"
    models.get("mlp1024").save(source)
    common = [
        "--dataset=mnist",
        f"--data_dir={data_dir}",
        "--train_limit=64",
        "--test_limit=32",
        "--batch_size=32",
        "--epochs=1",
        "--verbose=0",
        "--explanation_samples=0",
        "--lr_boundaries=",
    ]
    result = cli(
        "--method=le",
        "--explainer=grad",
        "--warmup_epochs=0",
        f"--model={source}",
        *common,
        f"--workdir={tmp_path / 'run'}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "is not one of the paper's models: the ResNet family's defaults" in result.stderr
    for bad, message in (
        ("--model=keras:Nope", "unknown Keras Applications architecture 'Nope'"),
        ("--weights=w.h5", "--weights belongs to a Keras Applications model"),
    ):
        result = cli("--method=ce", *common, bad, f"--workdir={tmp_path / 'bad'}")
        assert result.returncode != 0 and message in result.stderr, result.stderr[-800:]
