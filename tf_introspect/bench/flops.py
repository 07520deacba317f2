"""Floating-point operations of a training step, counted from the model: the roofline's
numerator (``steps`` and ``precision`` parts; the peaks: :mod:`tf_introspect.bench.peaks`).

Each step's floating-point operations are counted from the model (``step_flops``: 2 x the
multiply-accumulates of every convolution and dense layer, strides respected; a training step
is 3 x the forward pass, forward + input-gradient + weight-gradient passes; LE(Grad) adds its
own forward pass and the K = 10 input-gradient passes of the all-class Jacobian, (1 + K) x
forward; LE(Grad-CAM) in closed form only its maps, 2 K h w c; KD the teacher's forward pass;
element-wise work, losses and the optimizer not counted; ResNet-8: 25.0 MFLOP forward, 9.60
GFLOP a CE step at batch 128).
"""

import math


def layer_flops(layer):
    """Floating-point operations of ``layer`` for one sample's forward pass: 2 x its
    multiply-accumulates for ``Conv1D`` / ``Conv2D`` / ``Conv3D`` (2 * output positions *
    C_out * C_in / groups * kernel size: strides and padding enter through the output shape)
    and ``Dense`` (2 * in * out per position of its input); 0 for every other layer
    (batch norm, activations, adds, pooling, dropout: a few operations per activation)."""
    import keras

    if isinstance(layer, keras.layers.Dense):
        shape = layer.input.shape
        return 2 * math.prod(shape[1:-1]) * shape[-1] * layer.units
    if isinstance(layer, (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)):
        out, inputs = layer.output.shape, layer.input.shape
        last = layer.data_format == "channels_last"
        positions = math.prod(out[1:-1] if last else out[2:])
        c_in = inputs[-1] if last else inputs[1]
        return 2 * positions * layer.filters * (c_in // layer.groups) * math.prod(layer.kernel_size)
    return 0


def forward_flops(model):
    """Floating-point operations of one sample's forward pass through ``model`` (its nested
    models' layers included): the sum of :func:`layer_flops`."""
    from tf_introspect.explainers.base import model_layers

    return sum(layer_flops(layer) for layer in model_layers(model))


def explanation_flops(model, explainer):
    """Operations per sample of the explanations of every class (LE's stage 2), beyond the
    training step's own pass; ``K`` classes, ``F`` = :func:`forward_flops`.

    * Grad-CAM in closed form (GAP + linear head: ``Explainer.shares_forward``): the maps
      ``ReLU(sum_n W[n, k] A[h, w, n])`` from the step's own activation, ``2 K h w n``;
      without the closed form: the explainer's own forward pass ``F``, ``K`` backward passes
      through the layers after the Grad-CAM layer, and the maps.
    * Grad, Grad*Input, Guided Backprop: the explainer's own forward pass ``F`` (see
      ``Explainer.online``) and the ``K`` input-gradient backward passes of the Jacobian
      (``batch_jacobian``: one vector-Jacobian product a class, each costing what the forward
      pass costs, the first layer's included): ``(1 + K) F``.
    """
    classes = model.output_shape[-1]
    forward = forward_flops(model)
    if explainer.name != "grad_cam":
        return (1 + classes) * forward
    h, w, n = model.get_layer(explainer.layer).output.shape[1:]
    maps = 2 * classes * h * w * n
    if explainer.head is not None:
        return maps
    index = [layer.name for layer in model.layers].index(explainer.layer)
    after = sum(layer_flops(layer) for layer in model.layers[index + 1 :])
    return forward + classes * after + maps


def step_flops(model, explainer=None, teacher=None):
    """Floating-point operations of one training step, per sample: ``{"forward", "backward",
    "explanation", "teacher", "total"}``.

    Convention (counted from the model, :func:`layer_flops`: 2 x the multiply-accumulates of
    every convolution and dense layer; element-wise work, the loss, Eq. 6's cosines and the
    optimizer's update are not counted): a training step is 3 x the forward pass ``F``, the
    forward pass plus a backward pass of input gradients (``F``) and one of weight gradients
    (``F``). That counts the input gradient of the layer reading the images too, which CE
    does not need: CE's true count is lower by a third of that layer's share of ``F``: 1.2 %
    on ResNet-8, 0.55 % on ResNet-14, 14 % on the MLP (its first layer is 43 % of ``F``). LE adds
    :func:`explanation_flops` (``explainer``; ``None``: CE, or LE's warm-up, whose
    explanation branch is not taken); KD-like methods add the ``teacher``'s forward pass
    (inference mode). ResNet-8: ``F`` = 25.0 MFLOP, a step at batch 128 = 9.60 GFLOP (CE).
    """
    forward = forward_flops(model)
    parts = {
        "forward": forward,
        "backward": 2 * forward,
        "explanation": explanation_flops(model, explainer) if explainer else 0,
        "teacher": forward_flops(teacher) if teacher is not None else 0,
    }
    return {**parts, "total": sum(parts.values())}


def method_flops(method, introspective=True):
    """:func:`step_flops` per sample of a built method (LE's explainer unless in warm-up; a
    distillation method's teacher)."""
    explainer = getattr(method, "explainer", None) if introspective else None
    return step_flops(method.model, explainer, getattr(method, "teacher", None))
