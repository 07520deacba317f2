"""Every registered model: output shape, parameter count (as documented), layer names."""

import inspect

import keras
import numpy as np
import pytest
import scipy.stats
import tensorflow as tf

from tf_introspect import models

# model.count_params(), incl. batch-norm statistics; the same numbers stand in the docstrings.
PARAMS = {
    "mlp1024": 1_863_690,
    "cnn6": 308_842,
    "cnn8": 493_930,
    "cnn10": 651_242,
    "resnet8": 78_714,
    "resnet14": 176_378,
    "resnet20": 274_042,
    "resnet26": 371_706,
}


def test_registry_lists_every_model():
    assert models.list_models() == sorted(PARAMS)


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_output_shape_and_parameters(name):
    model = models.get(name)
    assert model.count_params() == PARAMS[name]
    x = tf.zeros((2, *model.input_shape[1:]))
    assert model(x).shape == (2, 10)
    builder = models._REGISTRY[name]
    doc = inspect.getmodule(builder).__doc__ + (builder.__doc__ or "")
    assert f"{PARAMS[name]:,}" in doc


def test_mlp_is_784_1024_1024_10():
    model = models.get("mlp1024")
    kernels = [w.shape for w in model.weights if "kernel" in w.path]
    assert kernels == [(784, 1024), (1024, 1024), (1024, 10)]


def test_resnet20_is_about_027m_with_named_stages():
    model = models.get("resnet20")
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert 0.26e6 < trainable < 0.28e6
    shapes = [model.get_layer(f"stage{s}").output.shape[1:] for s in (1, 2, 3)]
    assert shapes == [(32, 32, 16), (16, 16, 32), (8, 8, 64)]


@pytest.mark.parametrize(
    "name,convs",
    [("cnn6", 6), ("cnn8", 8), ("cnn10", 10), ("resnet8", 7 + 2), ("resnet14", 13 + 2)],
)
def test_conv_layer_counts(name, convs):
    # CNN-N has N convolutions; ResNet-(6n+2) has 6n+1 plus 2 projection shortcuts.
    model = models.get(name)
    assert sum("conv" in layer.name for layer in model.layers) == convs


def test_num_classes_input_shape_and_weight_decay_on_every_parameter():
    # Reference code: PyTorch's coupled weight decay on all parameters (BN and biases too).
    model = models.get("resnet8", num_classes=100, input_shape=(28, 28, 1), weight_decay=5e-4)
    assert model(tf.zeros((1, 28, 28, 1))).shape == (1, 100)
    expected = 2.5e-4 * sum(float(tf.reduce_sum(w**2)) for w in model.trainable_weights)
    assert float(tf.add_n(model.losses)) == pytest.approx(expected, rel=1e-5)
    assert len(model.losses) == len(model.trainable_weights)
    assert not models.get("mlp1024").losses


@pytest.mark.parametrize("name", ["resnet8", "cnn6"])
def test_reference_initialisation_and_batch_norm(name):
    """Conv kernels are PyTorch's ``kaiming_normal_(mode="fan_out")``: N(0, sqrt(2 / (k * k *
    out_channels))). Besides each layer's std, the shape of the distribution: every kernel
    divided by its expected std, pooled (tens of thousands of values), must pass a
    Kolmogorov-Smirnov test against N(0, 1); a uniform (or truncated normal) of the same std
    is rejected at that size (KS distance about 0.057 for the uniform), as checked here."""
    model = models.get(name)
    standardised = []
    for layer in model.layers:
        if "conv" in layer.name:
            k, _, _, out = layer.kernel.shape
            assert layer.bias is None
            expected_std = (2.0 / (k * k * out)) ** 0.5
            kernel = layer.kernel.numpy().ravel()
            assert float(np.std(kernel)) == pytest.approx(expected_std, rel=0.25)
            standardised.append(kernel / expected_std)
    z = np.concatenate(standardised)
    assert len(z) > 50_000
    assert scipy.stats.kstest(z, "norm").pvalue > 1e-3
    rng = np.random.default_rng(0)  # the test can tell: uniform / truncated, same std
    uniform = rng.uniform(-(3**0.5), 3**0.5, len(z))
    truncated = scipy.stats.truncnorm.rvs(-2, 2, size=len(z), random_state=rng)
    for wrong in (uniform, truncated / truncated.std()):
        assert scipy.stats.kstest(wrong, "norm").pvalue < 1e-6
        if "bn" in layer.name:  # PyTorch defaults: momentum 0.1, eps 1e-5
            assert (layer.momentum, layer.epsilon) == (0.9, 1e-5)
    logits = model.get_layer("logits")  # U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    bound = logits.kernel.shape[0] ** -0.5
    for w in (logits.kernel.numpy(), logits.bias.numpy()):
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound


def test_dropout_rate():
    model = models.get("mlp1024", dropout_rate=0.5)
    assert [layer.name for layer in model.layers if "dropout" in layer.name] == [
        "dropout1",
        "dropout2",
    ]
    with pytest.raises(ValueError, match="dropout_rate"):
        models.get("cnn6", dropout_rate=1.5)


def test_unknown_model_lists_choices():
    with pytest.raises(ValueError, match="Unknown model 'vgg'.*resnet8"):
        models.get("vgg")


def test_same_seed_same_weights_and_no_two_layers_alike():
    # Initialisers are drawn per layer from the global seed (a shared initialiser instance
    # would fix its seed at import: different weights per process, equal ones per shape).
    def weights():
        keras.utils.set_random_seed(7)
        return models.get("resnet8")

    a, b = weights(), weights()
    for wa, wb in zip(a.weights, b.weights):
        np.testing.assert_array_equal(wa.numpy(), wb.numpy())
    k1, k2 = (a.get_layer(f"stage1_block1_{s}_conv").kernel.numpy() for s in "ab")
    assert k1.shape == k2.shape and not np.allclose(k1, k2)
