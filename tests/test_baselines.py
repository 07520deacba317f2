"""Every baseline's loss on a tiny fixed batch against a NumPy hand computation of its formula."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_introspect import methods, models
from tf_introspect.methods.at import attention_map
from tf_introspect.methods.fsp import fsp_matrix
from tf_introspect.methods.ls import keras_label_smoothing

B, K = 8, 10


def softmax(z, t=1.0):
    z = np.asarray(z, np.float64) / t
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def ce(p, y):
    return -np.log(p[np.arange(len(y)), y])


def kl(q, p):
    return (q * (np.log(q) - np.log(p))).sum(-1)


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    return (rng.normal(size=(B, 32, 32, 3)).astype("float32"),
            rng.integers(0, K, size=B).astype("int32"))


def small(name="resnet8", **kw):
    return models.get(name, **kw)


def terms_of(method, x, y):
    """The method's training-step terms and logits on one batch, without an update."""
    method.compile(optimizer=keras.optimizers.SGD(0.0))
    method.optimizer.build(method.model.trainable_variables)
    with tf.GradientTape() as tape:
        logits, terms = method.compute_terms(tf.constant(x), tf.constant(y), tape)
    return logits.numpy().astype(np.float64), {k: float(v) for k, v in terms.items()}


def test_label_smoothing_matches_paper_targets(batch):
    x, y = batch
    logits, t = terms_of(methods.LabelSmoothing(small(), smoothing=0.9), x, y)
    target = np.full((B, K), 0.1 / 9)
    target[np.arange(B), y] = 0.9
    expected = -(target * np.log(softmax(logits))).sum(-1).mean()
    np.testing.assert_allclose(t["loss"], expected, rtol=1e-5)
    assert keras_label_smoothing(0.9, 10) == pytest.approx(1 / 9)


def test_confidence_penalty(batch):
    x, y = batch
    logits, t = terms_of(methods.ConfidencePenalty(small(), beta=0.5), x, y)
    p = softmax(logits)
    entropy = -(p * np.log(p)).sum(-1).mean()
    np.testing.assert_allclose(t["loss"], ce(p, y).mean() - 0.5 * entropy, rtol=1e-5)


def test_kd_soft_loss_with_t_squared(batch):
    x, y = batch
    teacher = small("resnet14")
    logits, t = terms_of(methods.KnowledgeDistillation(small(), teacher, temperature=4.0,
                                                       lam=0.1), x, y)
    t_logits = teacher(x, training=False).numpy()
    soft = 16.0 * kl(softmax(t_logits, 4), softmax(logits, 4)).mean()
    np.testing.assert_allclose(t["distill"], soft, rtol=1e-4)
    np.testing.assert_allclose(t["loss"], soft + 0.1 * ce(softmax(logits), y).mean(), rtol=1e-4)


def test_cwtm_loss_and_its_gradient_is_eq5(batch):
    x, y = batch
    teacher = small("resnet14")
    method = methods.ConfidenceWeighted(small(), teacher)
    method.compile(optimizer=keras.optimizers.SGD(0.0))
    t_logits = teacher(x, training=False)
    logits = tf.Variable(tf.random.stateless_normal((B, K), seed=[1, 1]))
    with tf.GradientTape() as tape:
        loss = method.distill(logits, t_logits, [], [], tf.constant(y))
    grad = tape.gradient(loss, logits).numpy()
    q_max = softmax(t_logits.numpy()).max(-1)
    w = q_max / q_max.sum()
    p = softmax(logits.numpy())
    np.testing.assert_allclose(float(loss), (w * ce(p, y)).sum(), rtol=1e-5)
    eq5 = w[:, None] * (p - np.eye(K)[y])                      # paper Eq. 5, per sample
    np.testing.assert_allclose(grad, eq5, rtol=1e-4, atol=1e-7)


def test_cwtm_permut_and_random_weights(batch):
    x, _ = batch
    teacher = small("resnet14")
    t_logits = teacher(x, training=False)
    q_max = np.sort(softmax(t_logits.numpy()).max(-1))
    permut = methods.ConfidenceWeighted(small(), teacher, weighting="permut")
    permut.compile(optimizer=keras.optimizers.SGD(0.0))
    c = permut.confidences(t_logits).numpy()
    np.testing.assert_allclose(np.sort(c), q_max, rtol=1e-6)
    rand = methods.ConfidenceWeighted(small(), teacher, weighting="random", beta=0.5)
    rand.compile(optimizer=keras.optimizers.SGD(0.0))
    c = rand.confidences(tf.tile(t_logits, [50, 1])).numpy()
    assert c.min() >= 0.5 and c.max() < 1.0 and c.std() > 0.1
    with pytest.raises(ValueError, match="valid choices: teacher, permut, random"):
        methods.ConfidenceWeighted(small(), teacher, weighting="shuffle")


def test_dkpp_keeps_the_argmax_and_permutes_the_rest(batch):
    x, y = batch
    teacher = small("resnet14")
    method = methods.DarkKnowledgePermuted(small(), teacher, temperature=4.0)
    method.compile(optimizer=keras.optimizers.SGD(0.0))
    t_logits = teacher(x, training=False)
    q = softmax(t_logits.numpy(), 4)
    q_perm = softmax(method.soft_teacher_logits(t_logits).numpy(), 4)
    top = q.argmax(-1)
    np.testing.assert_allclose(q_perm[np.arange(B), top], q[np.arange(B), top], rtol=1e-5)
    np.testing.assert_allclose(np.sort(q_perm, -1), np.sort(q, -1), rtol=1e-4, atol=1e-7)
    assert not np.allclose(q_perm, q)


def test_attention_transfer(batch):
    x, y = batch
    teacher = small("resnet14")
    method = methods.AttentionTransfer(small(), teacher, temperature=4.0, lam=0.1, at_beta=1000)
    logits, t = terms_of(method, x, y)
    view_s = keras.Model(method.model.inputs[0], [method.model.get_layer(f"stage{i}").output
                                               for i in (1, 2, 3)])
    view_t = keras.Model(teacher.inputs[0], [teacher.get_layer(f"stage{i}").output for i in (1, 2, 3)])

    def at_np(f):
        q = (f.astype(np.float64) ** 2).mean(-1).reshape(len(f), -1)
        return q / np.linalg.norm(q, axis=1, keepdims=True)

    s_feats = [f.numpy() for f in view_s(x, training=True)]
    t_feats = [f.numpy() for f in view_t(x, training=False)]
    at = sum(((at_np(s) - at_np(tf_)) ** 2).mean() for s, tf_ in zip(s_feats, t_feats))
    kd = 16.0 * kl(softmax(teacher(x, training=False).numpy(), 4), softmax(logits, 4)).mean()
    np.testing.assert_allclose(t["distill"], kd + 500.0 * at, rtol=1e-4)
    np.testing.assert_allclose(attention_map(tf.constant(s_feats[0])), at_np(s_feats[0]),
                               rtol=1e-5, atol=1e-7)


def test_fsp_matrix_and_loss(batch):
    rng = np.random.default_rng(3)
    f1 = rng.normal(size=(2, 8, 8, 3)).astype("float32")
    f2 = rng.normal(size=(2, 4, 4, 5)).astype("float32")
    pooled = f1.reshape(2, 4, 2, 4, 2, 3).mean(axis=(2, 4))
    expected = np.einsum("bhwm,bhwn->bmn", pooled, f2) / 16
    np.testing.assert_allclose(fsp_matrix(tf.constant(f1), tf.constant(f2)), expected,
                               rtol=1e-5, atol=1e-6)
    x, y = batch
    teacher = small("resnet14")
    method = methods.FlowOfSolution(small(), teacher, temperature=4.0, lam=0.1, fsp_weight=1.0)
    logits, t = terms_of(method, x, y)
    kd = 16.0 * kl(softmax(teacher(x, training=False).numpy(), 4), softmax(logits, 4)).mean()
    assert t["distill"] > kd                                  # the FSP term is added, positive


def test_hint_adapter_is_trained_and_teacher_frozen(batch):
    x, y = batch
    teacher = small("resnet14")
    method = methods.Hint(small(), teacher, layer="stage2", hint_weight=1.0)
    assert method.adapter in method.trained_parts
    before_t = [w.numpy() for w in teacher.weights]
    before_a = [w.numpy() for w in method.adapter.weights]
    method.compile(optimizer=keras.optimizers.SGD(0.1))
    method.fit(x, y, batch_size=B, epochs=1, verbose=0)
    for a, b in zip(before_t, teacher.weights):
        np.testing.assert_array_equal(a, b.numpy())
    assert any(not np.allclose(a, b.numpy()) for a, b in zip(before_a, method.adapter.weights))


@pytest.mark.parametrize("name", ["kd", "cwtm", "cwtm_permut", "cwtm_random", "dkpp", "at",
                                  "fsp", "ban_l"])
def test_teacher_frozen_student_trained(name, batch):
    x, y = batch
    teacher = small("resnet14")
    cfg = dict(temperature=4.0, lam=0.1, cwtm_beta=0.5, at_beta=1000.0, fsp_weight=1.0, seed=0)
    method = methods.build(name, small(), cfg, teacher)
    before_t = [w.numpy() for w in teacher.weights]
    before_s = [w.numpy() for w in method.model.trainable_weights]
    method.compile(optimizer=keras.optimizers.SGD(0.1), metrics=["accuracy"])
    h = method.fit(x, y, batch_size=B, epochs=1, verbose=0).history
    assert np.isfinite(h["loss"][0])
    for a, b in zip(before_t, teacher.weights):
        np.testing.assert_array_equal(a, b.numpy())
    assert all(not np.allclose(a, b.numpy())
               for a, b in zip(before_s, method.model.trainable_weights))


def test_dml_is_symmetric(batch):
    x, y = batch
    method = methods.MutualLearning(small(), lam=0.1)
    logits, t = terms_of(method, x, y)
    peer_logits = method.peer(x, training=True).numpy().astype(np.float64)
    p, q = softmax(logits), softmax(peer_logits)
    np.testing.assert_allclose(t["kl"], kl(q, p).mean(), rtol=1e-4)
    np.testing.assert_allclose(t["peer_kl"], kl(p, q).mean(), rtol=1e-4)
    np.testing.assert_allclose(t["loss"], ce(p, y).mean() + ce(q, y).mean() + 0.1 * (
        kl(q, p).mean() + kl(p, q).mean()), rtol=1e-4)
    assert method.peer is not method.model
    swapped = methods.MutualLearning(method.peer, peer=method.model, lam=0.1)
    _, t2 = terms_of(swapped, x, y)
    np.testing.assert_allclose(t2["loss"], t["loss"], rtol=1e-4)


def test_dml_trains_both_and_reports_peer_accuracy(batch):
    x, y = batch
    method = methods.MutualLearning(small("mlp1024", input_shape=(32, 32, 3)), lam=0.1)
    before = [w.numpy() for w in method.peer.trainable_weights]
    method.compile(optimizer=keras.optimizers.SGD(0.1), metrics=["accuracy"])
    method.fit(x, y, batch_size=B, epochs=1, verbose=0)
    assert all(not np.allclose(a, b.numpy()) for a, b in zip(before, method.peer.trainable_weights))
    scores = method.evaluate(x, y, verbose=0, return_dict=True)
    peer_acc = np.mean(method.peer.predict(x, verbose=0).argmax(-1) == y)
    np.testing.assert_allclose(scores["peer_accuracy"], peer_acc, rtol=1e-6)


def test_bad_combinations():
    with pytest.raises(ValueError, match="needs a teacher"):
        methods.build("kd", small(), dict(temperature=4.0, lam=0.1))
    with pytest.raises(ValueError, match=r"has no layer\(s\) \['stage2'\]"):
        methods.Hint(small("mlp1024"), small("resnet14"))
    with pytest.raises(ValueError, match="same spatial size"):
        methods.AttentionTransfer(small(), small("cnn10"))          # 32x32 vs 16x16 stage 1
    with pytest.raises(ValueError, match="needs a model with dropout layers"):
        methods.Dropout(small())
    with pytest.raises(ValueError, match="smoothing"):
        methods.LabelSmoothing(small(), smoothing=1.5)
