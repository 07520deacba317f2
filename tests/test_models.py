"""Every registered model: output shape, parameter count (as documented), layer names."""

import inspect

import numpy as np
import pytest
import tensorflow as tf

from tf_introspect import models

# model.count_params(), incl. batch-norm statistics; the same numbers stand in the docstrings.
PARAMS = {"mlp1024": 1_863_690, "cnn6": 308_842, "cnn8": 493_930, "cnn10": 651_242,
          "resnet8": 78_714, "resnet14": 176_378, "resnet20": 274_042, "resnet26": 371_706}


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


@pytest.mark.parametrize("name,convs", [("cnn6", 6), ("cnn8", 8), ("cnn10", 10),
                                         ("resnet8", 7 + 2), ("resnet14", 13 + 2)])
def test_conv_layer_counts(name, convs):
    # CNN-N has N convolutions; ResNet-(6n+2) has 6n+1 plus 2 projection shortcuts.
    model = models.get(name)
    assert sum("conv" in layer.name for layer in model.layers) == convs


def test_num_classes_input_shape_and_weight_decay():
    model = models.get("resnet8", num_classes=100, input_shape=(28, 28, 1), weight_decay=5e-4)
    assert model(tf.zeros((1, 28, 28, 1))).shape == (1, 100)
    kernel = model.get_layer("logits").kernel
    expected = 2.5e-4 * float(tf.reduce_sum(kernel ** 2))
    assert len(model.losses) == sum("conv" in l.name for l in model.layers) + 1
    assert any(abs(float(loss) - expected) < 1e-6 for loss in model.losses)


def test_dropout_rate():
    model = models.get("mlp1024", dropout_rate=0.5)
    assert [l.name for l in model.layers if "dropout" in l.name] == ["dropout1", "dropout2"]
    with pytest.raises(ValueError, match="dropout_rate"):
        models.get("cnn6", dropout_rate=1.5)


def test_unknown_model_lists_choices():
    with pytest.raises(ValueError, match="Unknown model 'vgg'.*resnet8"):
        models.get("vgg")
