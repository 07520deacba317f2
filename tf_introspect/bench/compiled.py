"""Compiled training steps, the ``steps`` and ``precision`` parts' unit: a method's
``train_step`` under ``tf.function`` (the bare compiled step, without XLA), built on a new model
under a Keras global dtype policy, and timed on one random batch in interleaved rounds.
"""

import collections
import contextlib
import time

Step = collections.namedtuple("Step", "fn input_shape method precision")


@contextlib.contextmanager
def precision_policy(precision):
    """Keras' global dtype policy ``precision`` inside (``main.use_precision`` holds
    ``--precision`` so for a run), the previous one restored after."""
    import keras

    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(precision)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def compiled_step(
    method_name,
    model_name,
    explainer,
    introspective=True,
    teacher=None,
    precision="float32",
    weights=None,
    options=None,
):
    """A :class:`Step`: the method's ``train_step`` under ``tf.function`` (traced at its first
    call) on a new model (seed 0, or ``weights``: a twin's ``get_weights()``), the model, the
    teacher and the method built and compiled under Keras' global dtype policy ``precision``
    (the previous policy restored after). ``options``: the constructor's (default: LE's
    explainer)."""
    import keras
    import tensorflow as tf

    from tf_introspect import methods, models

    with precision_policy(precision):
        keras.utils.set_random_seed(0)
        model = models.get(model_name, weight_decay=5e-4)
        if weights is not None:
            model.set_weights(weights)
        teacher = [models.get(teacher)] if teacher else []
        if options is None:
            options = {"explainer": explainer} if method_name.startswith("le") else {}
        method = methods.get(method_name, model, *teacher, **options)  # paper defaults
        if hasattr(method, "introspective"):
            method.introspective.assign(float(introspective))
        method.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), metrics=["accuracy"])
    return Step(tf.function(method.train_step), model.input_shape[1:], method, precision)


def time_steps(variants, batch, rounds, steps, alternate=False):
    """Seconds per step of each :class:`Step` of ``variants`` (``{name: Step}``, one input
    shape) on one random batch: each traced and warmed up (3 steps) under its own dtype
    policy, then ``rounds`` interleaved rounds of ``steps`` steps each (so drift of the
    machine hits all alike; ``alternate``: the order reversed every other round).
    ``{name: [seconds per step, one a round]}``."""
    import tensorflow as tf

    shape = next(iter(variants.values())).input_shape
    x = tf.random.stateless_normal((batch, *shape), seed=[0, 1])
    y = tf.random.stateless_uniform((batch,), seed=[0, 2], maxval=10, dtype=tf.int32)
    extras = {  # what a method's inputs carry besides the images (Method.extras)
        "partner": tf.random.stateless_normal((batch, *shape), seed=[0, 3]),
        "index": tf.range(batch, dtype=tf.int64),
    }

    def inputs(variant):
        kind = getattr(variant.method, "extras", None)
        return x if kind is None else {"image": x, kind: extras[kind]}

    data = {name: (inputs(variant), y) for name, variant in variants.items()}
    for name, variant in variants.items():  # trace and warm up
        with precision_policy(variant.precision):
            for _ in range(3):
                variant.fn(data[name])
    times = {name: [] for name in variants}
    for i in range(rounds):
        for name in list(variants) if not alternate or i % 2 == 0 else list(variants)[::-1]:
            step = variants[name].fn
            start = time.perf_counter()
            for _ in range(steps):
                logs = step(data[name])
            float(logs["loss"])  # wait for the last step
            times[name].append((time.perf_counter() - start) / steps)
    return times
