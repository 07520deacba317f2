"""XLA equality: what the command line XLA-compiles by default trains as the plain graph does.

``--jit_compile=auto`` (``flags.use_jit``) XLA-compiles the training step of the MLP family.
For every method that runs on ``mlp1024`` (all but Grad-CAM LE, Hint, AT, FSP, which need conv
layers; ``ban_l`` and ``takd`` are ``kd``'s code with another teacher) one training step of the
real ``mlp1024``, weight decay 1e-4, SGD with momentum, from identical weights on the same
batch of 8 MNIST-shaped inputs, is taken with and without XLA; the logged loss terms and every
variable the step touches (weights, momentum, step counters, RNG seed states, metrics) must
agree within rtol 1e-4, atol 1e-6.

``steps`` traces every method's ``train_step`` once into one graph and runs it as it is and
called inside ``tf.function(jit_compile=True)``, which XLA-compiles all of it: one XLA
compilation for all methods (one each would make the file ~2x slower on a loaded 2-core
machine). ``test_keras_xla_train_function_equals_graph`` pins the command line's exact path
(``compile(jit_compile=True/False)`` and Keras' train function, what ``fit`` runs) for CE and
LE(Grad).

Random draws. TensorFlow's stateless RNG kernels and XLA's lowering of the same ops give
*different* numbers for the same seed and algorithm on CPU (Philox both; see
``test_stateless_rng_streams_differ_under_xla``), so dropout masks, LE-Permut / DKPP /
CWTM-Permut shuffles and CWTM-Random weights legitimately differ between the two
compilations: a run with ``--jit_compile=true`` and one with ``false`` draw other (equally
valid) masks and shuffles. For the equality test the draws are therefore replaced by an
integer hash of the same stateless seed (``_hash_uniform``), computed exactly alike by both:
it checks everything but the generator itself, including that the seed (``step_seed``,
Keras' ``SeedGenerator``) reaches the draw and advances. The real XLA draws are checked for
their distribution instead (drop rate and scaling, per-row permutations, ``U[beta, 1)``).

Keras turns XLA off when TensorFlow's op determinism is on (``model_supports_jit``); the
``xla_allowed`` fixture turns determinism off for this module if an earlier test enabled it
(and back on after), and the Keras-path test checks that XLA is really on.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import run_config
from tensorflow.python.framework.config import disable_op_determinism, is_op_determinism_enabled

from tf_introspect import models, pipeline, targets
from tf_introspect.pipeline import registry

RTOL, ATOL = 1e-4, 1e-6
CFG = dict(explainer="grad", dropout_rate=0.25)  # the rest: the command line's defaults
# (method, explainer); dropout, le_permut, dkpp, cwtm_permut, cwtm_random draw random numbers
CASES = [
    ("ce", None),
    ("dropout", None),
    ("ls", None),
    ("cp", None),
    ("le", "grad"),
    ("le", "grad_input"),
    ("le", "guided_bp"),
    ("le_permut", "grad"),
    ("kd", None),
    ("dkpp", None),
    ("cwtm", None),
    ("cwtm_permut", None),
    ("cwtm_random", None),
    ("ban", None),
    ("dml", None),
    ("le_uniform", None),
    ("cskd", None),
    ("tfkd_self", None),
    ("tfkd_reg", None),
    ("pskd", None),
]


@pytest.fixture(scope="module", autouse=True)
def xla_allowed():
    was_on = is_op_determinism_enabled()
    if was_on:
        disable_op_determinism()  # no public API
    yield
    if was_on:
        tf.config.experimental.enable_op_determinism()


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    return (
        tf.constant(rng.normal(size=(8, 28, 28, 1)).astype("float32")),
        tf.constant(rng.integers(0, 10, size=8).astype("int32")),
    )


@pytest.fixture(scope="module")
def teacher():
    keras.utils.set_random_seed(7)
    return models.get("mlp1024", weight_decay=1e-4)


def _hash_uniform(shape, seed, minval=0.0, maxval=1.0, dtype=tf.float32, **unused):
    """Uniform-looking numbers from an integer hash of ``seed`` and the element index: exact
    integer arithmetic, hence the same with and without XLA."""
    seed = tf.cast(tf.reshape(seed, [-1])[:2], tf.int64)
    index = tf.range(tf.reduce_prod(tf.cast(shape, tf.int64)), dtype=tf.int64)
    h = tf.math.floormod(
        index * 2654435761 + seed[0] * 2246822519 + seed[1] * 3266489917 + 374761393, 2**31
    )
    for mult in (2246822519, 3266489917):
        h = tf.math.floormod(
            tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, 13)) * (mult % 2**31), 2**31
        )
    unit = tf.cast(h, tf.float32) / 2.0**31
    return tf.cast(tf.reshape(minval + (maxval - minval) * unit, shape), dtype)


def _hash_dropout(x, rate, noise_shape=None, seed=None, **unused):
    keep = _hash_uniform(tf.shape(x) if noise_shape is None else noise_shape, seed) >= rate
    return tf.where(keep, x / (1.0 - rate), tf.zeros_like(x))


def _inputs(method, x):
    """The batch's inputs as ``make_dataset(extras=method.extras)`` gives them: the images, or
    a dict with CS-KD's same-class partners (here the batch reversed) or PS-KD's row indices."""
    if method.extras == "partner":
        return {"image": x, "partner": tf.reverse(x, [0])}
    if method.extras == "index":
        return {"image": x, "index": tf.range(tf.shape(x)[0], dtype=tf.int64)}
    return x


def _method(name, explainer, teacher, jit=False):
    """The method as the command line builds it on ``mlp1024`` (same seed: same weights)."""
    cfg = run_config(f"--method={name}", **dict(CFG, explainer=explainer or "grad"))
    keras.utils.set_random_seed(0)
    model = models.get("mlp1024", weight_decay=1e-4, **registry.entry(name).model_options(cfg))
    method = registry.build(model, cfg, teacher)
    method.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9), metrics=["accuracy"], jit_compile=jit
    )
    assert method.jit_compile is jit, "Keras refused XLA (op determinism on?)"
    return method


def _close(xla, plain, what):
    np.testing.assert_allclose(xla, plain, rtol=RTOL, atol=ATOL, err_msg=what)


@pytest.fixture(scope="module")
def steps(batch, teacher):
    """One training step of every case, traced once as the plain graph and run as it is and
    XLA-compiled (the traced function called inside ``tf.function(jit_compile=True)``: XLA
    compiles the whole step), from the same state: ``{case: (plain, xla)}``, each
    ``(logs, {variable path: value after the step}, moved)`` over every variable the step
    touches (weights, momentum slots, step counters, seed states, metrics). One XLA program
    for all cases: far cheaper to compile than one each (a failure names the op; ``-k``
    cannot narrow it, the Keras-path test below is per case)."""
    x, y = batch
    with pytest.MonkeyPatch.context() as patch:  # draws: see the module docstring
        patch.setattr(tf.random, "stateless_uniform", _hash_uniform)
        patch.setattr(tf.nn.experimental, "stateless_dropout", _hash_dropout)
        built = {}
        for name, explainer in CASES:
            method = built[(name, explainer)] = _method(name, explainer, teacher)
            method.optimizer.build(
                [v for part in method.trained_parts for v in part.trainable_variables]
            )
        plain = tf.function(
            lambda x, y: {
                case: method.train_step((_inputs(method, x), y)) for case, method in built.items()
            }
        ).get_concrete_function(x, y)
    xla = tf.function(lambda x, y: plain(x, y), jit_compile=True)
    state = plain.variables
    start = [v.numpy() for v in state]
    results = []
    for step in (plain, xla):
        for v, value in zip(state, start):
            v.assign(value)
        logs = {case: {k: float(v) for k, v in out.items()} for case, out in step(x, y).items()}
        results.append((logs, [v.numpy() for v in state]))
    per_case = {}
    for case, method in built.items():
        own = [
            *method.variables,
            *method.optimizer.variables,
            *(v for m in method.metrics for v in m.variables),
        ]
        where = {id(v): i for i, v in enumerate(state)}  # the traced graph's tf.Variables
        # variable name (not unique: a teacher's layers are named as the student's) -> state
        index = {
            f"{v.path} [{where[id(v.value)]}]": where[id(v.value)]
            for v in own
            if id(v.value) in where
        }
        trained = {where[id(v.value)] for v in method.trainable_variables}
        moved = any(not np.array_equal(start[i], results[0][1][i]) for i in trained)
        per_case[case] = [
            (logs[case], {p: values[i] for p, i in index.items()}, moved)
            for logs, values in results
        ]
    return per_case


@pytest.mark.parametrize("name,explainer", CASES, ids=[f"{n}-{e}" if e else n for n, e in CASES])
def test_xla_step_equals_graph_step(name, explainer, steps):
    args = ["--model=mlp1024", f"--method={name}"] + [f"--explainer={explainer}"] * bool(explainer)
    assert pipeline.config.from_args(args).jit_compile, "not XLA by default: no need"
    (logs, values, moved), (xla_logs, xla_values, _) = steps[(name, explainer)]
    assert set(logs) == set(xla_logs) and np.isfinite(logs["loss"]) and moved
    for key in logs:
        _close(xla_logs[key], logs[key], key)
    assert len(values) > 4
    for path in values:
        _close(xla_values[path], values[path], path)


@pytest.mark.parametrize("name,explainer", [("ce", None), ("le", "grad")])
def test_keras_xla_train_function_equals_graph(name, explainer, batch, teacher):
    """The command line's own path: ``compile(jit_compile=...)`` and Keras' train function
    (what ``fit`` runs), real ``mlp1024``, the real (unpatched) code."""
    x, y = batch
    plain, xla = (_method(name, explainer, teacher, jit) for jit in (False, True))
    for a, b in zip(plain.variables, xla.variables):
        b.assign(a)
    (logs, weights), (xla_logs, xla_weights) = [
        (m.train_on_batch(x, y, return_dict=True), [v.numpy() for v in m.variables])
        for m in (plain, xla)
    ]
    assert set(logs) == set(xla_logs)
    for key in logs:
        _close(xla_logs[key], logs[key], key)
    for v, w, xw in zip(plain.variables, weights, xla_weights):
        _close(xw, w, v.path)


def _xla(fn, *args):
    return tf.function(fn, jit_compile=True)(*args).numpy()


def test_stateless_rng_streams_differ_under_xla():
    """Why the random methods are compared with hashed draws: same seed, same algorithm, other
    numbers (TensorFlow's Philox kernel vs XLA's lowering on CPU). If this ever fails, the
    streams agree and the hashed draws of ``steps`` could be dropped."""
    seed = tf.constant([3, 7], tf.int64)
    draw = lambda s: tf.random.stateless_uniform([64], seed=s, alg="philox")  # noqa: E731
    assert not np.array_equal(tf.function(draw)(seed).numpy(), _xla(draw, seed))


def test_xla_dropout_masks_have_the_rate():
    keras.utils.set_random_seed(0)
    layer = keras.layers.Dropout(0.25)
    out = _xla(lambda x: layer(x, training=True), tf.ones([64, 1024]))
    assert set(np.unique(out)) <= {0.0, np.float32(1 / 0.75)}
    assert abs((out == 0).mean() - 0.25) < 0.01  # 65,536 draws: sd 0.0017
    again = _xla(lambda x: layer(x, training=True), tf.ones([64, 1024]))
    assert not np.array_equal(out, again)  # the seed generator advances


def test_xla_permutations_are_per_row_permutations():
    """LE-Permut / DKPP (``permute_non_target``) and CWTM-Permut (argsort of uniform keys)."""
    rng = np.random.default_rng(1)
    values = tf.constant(rng.dirichlet(np.ones(10), size=256).astype("float32"))
    onehot = tf.one_hot(rng.integers(0, 10, size=256), 10)
    out = _xla(
        lambda v, o: targets.permute_non_target(v, o, tf.constant([0, 5], tf.int64)), values, onehot
    )
    v, o = values.numpy(), onehot.numpy().astype(bool)
    np.testing.assert_array_equal(out[o], v[o])
    np.testing.assert_allclose(np.sort(out[~o].reshape(256, 9)), np.sort(v[~o].reshape(256, 9)))
    assert (out != v).any(axis=1).mean() > 0.9


def test_xla_cwtm_random_weights_are_uniform():
    seed = tf.constant([0, 3], tf.int64)
    u = _xla(lambda s: tf.random.stateless_uniform([20000], seed=s, minval=0.5, maxval=1.0), seed)
    assert u.min() >= 0.5 and u.max() < 1.0
    assert abs(u.mean() - 0.75) < 0.005 and abs(u.std() - 0.5 / 12**0.5) < 0.005
