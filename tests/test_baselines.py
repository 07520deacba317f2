"""Every baseline's loss on a tiny fixed batch against a NumPy hand computation of its formula;
the two stages of Hint and FSP (what each stage trains, no retracing at the switch)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_introspect as ti
from tf_introspect import methods, models
from tf_introspect.methods.at import attention_map
from tf_introspect.methods.fsp import fsp_loss, fsp_matrix
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
    return (
        rng.normal(size=(B, 32, 32, 3)).astype("float32"),
        rng.integers(0, K, size=B).astype("int32"),
    )


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
    logits, t = terms_of(
        methods.KnowledgeDistillation(small(), teacher, temperature=4.0, lam=0.1), x, y
    )
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
    eq5 = w[:, None] * (p - np.eye(K)[y])  # paper Eq. 5, per sample
    np.testing.assert_allclose(grad, eq5, rtol=1e-4, atol=1e-7)


def test_cwtm_permut_weights_are_a_true_permutation(batch):
    """CWTM-Permut's per-sample weights, read back from the gradient of its loss (Eq. 5:
    dL/dz_i[y_i] = w_i (p_i[y_i] - 1)), are the teacher's normalised max-confidences in
    another order: the same values (a permutation), and not the unpermuted order. The eight
    confidences are distinct by construction (0.2 to 0.9), so any non-identity permutation
    moves some weight by >= 0.1 / 4.4; the identity, the old loophole, fails here."""
    _, y = batch
    q_max = np.linspace(0.2, 0.9, B)
    # teacher logits with exactly these maxima: softmax([a, 0, ..., 0])[0] = q for
    # a = log(q (K - 1) / (1 - q))
    t_logits = np.zeros((B, K), np.float32)
    t_logits[:, 3] = np.log(q_max * (K - 1) / (1 - q_max))
    method = methods.ConfidenceWeighted(small(), small(), weighting="permut")
    method.compile(optimizer=keras.optimizers.SGD(0.0))
    logits = tf.Variable(tf.random.stateless_normal((B, K), seed=[1, 1]))
    with tf.GradientTape() as tape:
        loss = method.distill(logits, tf.constant(t_logits), [], [], tf.constant(y))
    grad = tape.gradient(loss, logits).numpy()
    p_true = softmax(logits.numpy())[np.arange(B), y]
    used = grad[np.arange(B), y] / (p_true - 1.0)  # w_i of each sample
    unpermuted = q_max / q_max.sum()
    np.testing.assert_allclose(np.sort(used), np.sort(unpermuted), rtol=1e-4)
    assert np.abs(used - unpermuted).max() > 0.01, "weights not permuted"


def test_cwtm_random_weights(batch):
    x, _ = batch
    teacher = small("resnet14")
    t_logits = teacher(x, training=False)
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
    view_s = keras.Model(
        method.model.inputs[0], [method.model.get_layer(f"stage{i}").output for i in (1, 2, 3)]
    )
    view_t = keras.Model(
        teacher.inputs[0], [teacher.get_layer(f"stage{i}").output for i in (1, 2, 3)]
    )

    def at_np(f):
        q = (f.astype(np.float64) ** 2).mean(-1).reshape(len(f), -1)
        return q / np.linalg.norm(q, axis=1, keepdims=True)

    s_feats = [f.numpy() for f in view_s(x, training=True)]
    t_feats = [f.numpy() for f in view_t(x, training=False)]
    at = sum(((at_np(s) - at_np(tf_)) ** 2).mean() for s, tf_ in zip(s_feats, t_feats))
    kd = 16.0 * kl(softmax(teacher(x, training=False).numpy(), 4), softmax(logits, 4)).mean()
    np.testing.assert_allclose(t["distill"], kd + 500.0 * at, rtol=1e-4)
    np.testing.assert_allclose(
        attention_map(tf.constant(s_feats[0])), at_np(s_feats[0]), rtol=1e-5, atol=1e-7
    )


def stage_features(model, x, layers=("stage1", "stage2", "stage3"), training=True):
    view = keras.Model(model.inputs[0], [model.get_layer(n).output for n in layers])
    return [f.numpy().astype(np.float64) for f in tf.nest.flatten(view(x, training=training))]


def fsp_np(f1, f2):
    """Yim et al.'s Eq. 1 with ``f1`` max-pooled to ``f2``'s size."""
    b, h, w, m = f1.shape
    k = h // f2.shape[1]
    pooled = f1.reshape(b, h // k, k, w // k, k, m).max(axis=(2, 4))
    return np.einsum("bhwm,bhwn->bmn", pooled, f2) / (f2.shape[1] * f2.shape[2])


def fsp_loss_np(s, t):
    """Eq. 2, equal weights: sum over the pairs (1-2, 2-3) of the batch mean of the squared
    Frobenius norm of the difference -- a sum over the m x n entries, not a mean."""
    return sum(
        ((fsp_np(s[i], s[i + 1]) - fsp_np(t[i], t[i + 1])) ** 2).sum(axis=(1, 2)).mean()
        for i in range(len(s) - 1)
    )


def test_fsp_matrix_and_loss_reduction():
    rng = np.random.default_rng(3)
    s = [
        rng.normal(size=(2, 8, 8, 3)),
        rng.normal(size=(2, 4, 4, 5)),
        rng.normal(size=(2, 2, 2, 4)),
    ]
    t = [rng.normal(size=f.shape) for f in s]
    s, t = ([f.astype("float32") for f in fs] for fs in (s, t))
    np.testing.assert_allclose(
        fsp_matrix(tf.constant(s[0]), tf.constant(s[1])),
        fsp_np(s[0].astype(np.float64), s[1]),
        rtol=1e-5,
        atol=1e-6,
    )
    same = np.einsum("bhwm,bhwn->bmn", s[1], s[1]) / 16  # equal sizes: no pooling
    np.testing.assert_allclose(fsp_matrix(tf.constant(s[1]), tf.constant(s[1])), same, rtol=1e-5)
    got = fsp_loss([tf.constant(f) for f in s], [tf.constant(f) for f in t])
    np.testing.assert_allclose(
        float(got), fsp_loss_np([f.astype(np.float64) for f in s], t), rtol=1e-5
    )


@pytest.mark.parametrize("second_stage", [False, True])
def test_fsp_terms_in_both_stages(batch, second_stage):
    x, y = batch
    teacher = small("resnet14")
    method = methods.FlowOfSolution(
        small(), teacher, temperature=4.0, lam=0.1, fsp_weight=2.0, second_stage=second_stage
    )
    logits, t = terms_of(method, x, y)
    fsp = fsp_loss_np(stage_features(method.model, x), stage_features(teacher, x, training=False))
    kd = 16.0 * kl(softmax(teacher(x, training=False).numpy(), 4), softmax(logits, 4)).mean()
    ce_hard = ce(softmax(logits), y).mean()
    np.testing.assert_allclose(t["fsp"], 2.0 * fsp, rtol=1e-4)
    np.testing.assert_allclose(t["distill"], kd, rtol=1e-4)  # KD only, no FSP in it
    np.testing.assert_allclose(t["ce_hard"], ce_hard, rtol=1e-4)
    assert t["stage"] == float(second_stage)
    expected = kd + 0.1 * ce_hard if second_stage else 2.0 * fsp
    np.testing.assert_allclose(t["loss"], expected, rtol=1e-4)


@pytest.mark.parametrize("second_stage", [False, True])
def test_hint_terms_in_both_stages(batch, second_stage):
    x, y = batch
    teacher = small("resnet14")
    method = methods.Hint(
        small(),
        teacher,
        layer="stage2",
        hint_weight=1.0,
        temperature=4.0,
        lam=0.1,
        second_stage=second_stage,
    )
    logits, t = terms_of(method, x, y)
    (s,) = stage_features(method.model, x, ["stage2"])
    (hint,) = stage_features(teacher, x, ["stage2"], training=False)
    kernel, bias = (w.numpy().astype(np.float64) for w in method.adapter.weights)
    regressed = np.maximum(np.einsum("bhwc,cd->bhwd", s, kernel[0, 0]) + bias, 0.0)  # 1x1 + ReLU
    # FitNets Eq. 3: 1/2 of the sum of squares over (h, w, c) of each sample, batch mean
    hint_np = 0.5 * ((hint - regressed) ** 2).sum(axis=(1, 2, 3)).mean()
    np.testing.assert_allclose(t["hint"], hint_np, rtol=1e-4)
    kd = 16.0 * kl(softmax(teacher(x, training=False).numpy(), 4), softmax(logits, 4)).mean()
    np.testing.assert_allclose(t["distill"], kd, rtol=1e-4)
    assert t["stage"] == float(second_stage)
    expected = kd + 0.1 * ce(softmax(logits), y).mean() if second_stage else hint_np
    np.testing.assert_allclose(t["loss"], expected, rtol=1e-4)


def split_by_stage(method):
    """``(variables stage 1 trains, every student variable outside the stage-1 part)``."""
    first = [*method.stage1_body.trainable_weights]
    if isinstance(method, methods.Hint):
        first += method.adapter.trainable_weights
    ids = {id(v) for v in method.stage1_body.weights}  # also its batch-norm statistics
    return first, [v for v in method.model.weights if id(v) not in ids]


@pytest.mark.parametrize("name", ["hint", "fsp"])
def test_stage1_trains_exactly_the_guided_part_then_stage2_the_whole_student(name, batch):
    x, y = batch
    teacher = small("resnet14")
    method = methods.get(name, small(weight_decay=1e-3), teacher)
    method.second_stage.assign(0.0)
    first, frozen = split_by_stage(method)
    if name == "hint":  # up to stage2 and the regressor; not stage3 (nor its BN statistics)
        assert any("hint_adapter" in v.path for v in first)
        assert any("stage3" in v.path and "moving_mean" in v.path for v in frozen)
    else:  # every layer up to stage3: the FSP loss does not reach the head
        assert {v.path.split("/")[0] for v in frozen} == {"logits"}
    before = {id(v): v.numpy() for v in [*first, *frozen]}
    before_teacher = [v.numpy() for v in teacher.weights]
    # stage-1 weight decay: only that of the stage-1 parts (the guided part's kernels)
    reg = float(tf.add_n(method.stage1_body.losses))
    assert reg < float(tf.add_n(method.model.losses)) - 1e-4  # not the frozen layers'
    method.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9))
    h = method.fit(x, y, batch_size=B, epochs=1, verbose=0).history  # one step
    assert h["stage"] == [0.0] and np.isfinite(h["loss"][0])
    np.testing.assert_allclose(h["regularization"][0], reg, rtol=1e-5)
    # a second step: the momentum buffers of trained variables are non-zero now, and a
    # non-zero buffer would move a frozen variable even with a zero gradient
    method.fit(x, y, batch_size=B, epochs=1, verbose=0)
    for v in frozen:
        np.testing.assert_array_equal(before[id(v)], v.numpy(), err_msg=v.path)
    changed = [not np.array_equal(before[id(v)], v.numpy()) for v in first]
    assert all(changed), [v.path for v, c in zip(first, changed) if not c]
    # stage 2: KD + lam CE moves every student variable (the regressor is no longer used)
    before = [v.numpy() for v in method.model.trainable_weights]
    method.second_stage.assign(1.0)
    h = method.fit(x, y, batch_size=B // 2, epochs=1, verbose=0, shuffle=False).history
    assert h["stage"] == [1.0]
    assert all(
        not np.array_equal(a, v.numpy()) for a, v in zip(before, method.model.trainable_weights)
    )
    for a, v in zip(before_teacher, teacher.weights):
        np.testing.assert_array_equal(a, v.numpy())


def test_stage1_runs_at_its_own_learning_rate(batch):
    """Stage 1 at stage1_lr under an optimizer at 0.1 (momentum, a schedule) is exactly SGD at
    stage1_lr; stage 2 follows the optimizer's schedule."""
    x, y = batch
    teacher = small("resnet14")
    runs = []
    for lr, stage1_lr in (
        (keras.optimizers.schedules.PiecewiseConstantDecay([100], [0.1, 0.01]), 1e-3),
        (1e-3, None),
    ):
        keras.utils.set_random_seed(7)
        method = methods.Hint(
            small(weight_decay=1e-3), teacher, stage1_lr=stage1_lr, second_stage=False
        )
        method.compile(optimizer=keras.optimizers.SGD(lr, momentum=0.9))
        method.fit(x, y, batch_size=B // 2, epochs=1, verbose=0, shuffle=False)
        runs.append([v.numpy() for v in (*method.model.weights, *method.adapter.weights)])
    for a, b in zip(*runs):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7)
    with pytest.raises(ValueError, match="stage1_lr"):
        methods.FlowOfSolution(small(), teacher, stage1_lr=0.0)


@pytest.mark.parametrize("name", ["hint", "fsp"])
def test_stage_switch_without_retracing(name, batch):
    x, y = batch
    method = methods.get(name, small(), small("resnet14"))
    traces, epoch = [], [None]
    original = method.compute_terms
    method.compute_terms = lambda *a: (traces.append(epoch[0]), original(*a))[1]
    track = keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: epoch.__setitem__(0, e))
    method.compile(optimizer=keras.optimizers.SGD(0.001, momentum=0.9), metrics=["accuracy"])
    h = method.fit(
        x, y, batch_size=B // 2, epochs=3, verbose=0, callbacks=[track, ti.WarmupSwitch(1)]
    ).history
    assert h["stage"] == [0.0, 1.0, 1.0]
    np.testing.assert_allclose(h["loss"][0], h[name][0] + h["regularization"][0], rtol=1e-5)
    np.testing.assert_allclose(
        h["loss"][1:],
        np.add(h["distill"][1:], 0.1 * np.array(h["ce_hard"][1:])) + h["regularization"][1:],
        rtol=1e-5,
    )
    # Keras traces the first call twice; the switch at epoch 1 must not trace again.
    assert traces and set(traces) == {0}, f"train step traced in epochs {traces}"


def test_warmup_switch_needs_a_two_stage_method(batch):
    x, y = batch
    method = methods.KnowledgeDistillation(small(), small("resnet14"))
    method.compile(optimizer="sgd")
    assert method.second_stage is None
    with pytest.raises(
        TypeError, match="two-stage method.*Introspective.*Hint.*got KnowledgeDistillation"
    ):
        method.fit(x, y, verbose=0, callbacks=[ti.WarmupSwitch(1)])


def test_decoupled_weight_decay_is_refused_in_two_stage_methods(batch):
    x, y = batch
    method = methods.Hint(small(), small("resnet14"))
    method.compile(optimizer=keras.optimizers.SGD(0.01, weight_decay=1e-4))
    with pytest.raises(ValueError, match="decoupled weight_decay"):
        method.fit(x, y, verbose=0)


@pytest.mark.parametrize(
    "name", ["kd", "cwtm", "cwtm_permut", "cwtm_random", "dkpp", "at", "fsp", "hint", "ban_l"]
)
def test_teacher_frozen_student_trained(name, batch):
    x, y = batch
    teacher = small("resnet14")
    method = methods.get(name, small(), teacher)
    before_t = [w.numpy() for w in teacher.weights]
    before_s = [w.numpy() for w in method.model.trainable_weights]
    method.compile(optimizer=keras.optimizers.SGD(0.1), metrics=["accuracy"])
    h = method.fit(x, y, batch_size=B, epochs=1, verbose=0).history
    assert np.isfinite(h["loss"][0])
    for a, b in zip(before_t, teacher.weights):
        np.testing.assert_array_equal(a, b.numpy())
    assert all(
        not np.allclose(a, b.numpy()) for a, b in zip(before_s, method.model.trainable_weights)
    )


def test_dml_step_follows_zhang_et_al_order(batch):
    """One DML step against a two-step GradientTape reference (Zhang et al.'s Algorithm 1):
    network 1 is updated against network 2's prediction; network 1 predicts again with its
    new weights; network 2 is updated against that new prediction. Each peer has its own
    optimizer (one step each). The peers start from different weights."""
    x, y = batch
    method = methods.MutualLearning(small(weight_decay=1e-3), lam=0.1)  # BN, decay: ResNet-8
    assert method.peer is not method.model
    kernels = [
        (a.numpy(), b.numpy())
        for a, b in zip(method.model.trainable_weights, method.peer.trainable_weights)
        if len(a.shape) > 1
    ]
    assert kernels and not any(np.allclose(a, b) for a, b in kernels)
    w1, w2 = method.model.get_weights(), method.peer.get_weights()
    lr, lam = 0.5, 0.1
    net1, net2 = keras.models.clone_model(method.model), keras.models.clone_model(method.peer)
    net1.set_weights(w1)
    net2.set_weights(w2)

    def loss(net, target, regularised=True):
        z = tf.cast(net(x, training=True), tf.float64)
        p, t = tf.nn.softmax(z), tf.nn.softmax(tf.constant(target, tf.float64))
        ce_hard = tf.reduce_mean(-tf.math.log(tf.gather(p, y, batch_dims=1)))
        kl_t = tf.reduce_mean(tf.reduce_sum(t * (tf.math.log(t) - tf.math.log(p)), axis=1))
        return ce_hard + lam * kl_t + tf.cast(tf.add_n(net.losses), tf.float64)

    def sgd_step(net, target):
        with tf.GradientTape() as tape:
            value = loss(net, target)
        for v, g in zip(net.trainable_variables, tape.gradient(value, net.trainable_variables)):
            v.assign(v - lr * tf.cast(g, v.dtype))

    def predict(net):
        """Training-mode logits; the batch-norm moving statistics are updated once a step,
        by each network's own update pass."""
        saved = [v.numpy() for v in net.non_trainable_variables]
        logits = net(x, training=True).numpy()
        for v, value in zip(net.non_trainable_variables, saved):
            v.assign(value)
        return logits

    peer_prediction = predict(net2)
    sgd_step(net1, peer_prediction)  # network 1 first
    sgd_step(net2, predict(net1))  # then 2, against the updated 1

    method.compile(optimizer=keras.optimizers.SGD(lr, momentum=0.9))
    h = method.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0).history
    assert int(method.optimizer.iterations) == 1 and int(method.peer_optimizer.iterations) == 1
    for got, want in ((method.model, net1), (method.peer, net2)):
        for a, b in zip(got.get_weights(), want.get_weights()):
            np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-6)
    # the logged terms: network 1's before its update, network 2's against the updated 1
    np.testing.assert_allclose(
        h["kl"][0],
        kl(
            softmax(peer_prediction.astype(np.float64)), softmax(method_logits(w1, method, x))
        ).mean(),
        rtol=1e-4,
    )


def method_logits(weights, method, x):
    """Network 1's logits with ``weights`` (a clone, leaving ``method`` unchanged)."""
    net = keras.models.clone_model(method.model)
    net.set_weights(weights)
    return net(x, training=True).numpy().astype(np.float64)


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


def test_dml_backup_restores_both_optimizers(batch, tmp_path):
    """Each peer's optimizer (its step count, so its schedule, and its momentum) is in the
    weights file BackupAndRestore writes, and comes back from it."""
    x, y = batch

    def make():
        method = methods.MutualLearning(small("mlp1024", input_shape=(32, 32, 3)), lam=0.1)
        method.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
        return method

    trained = make()
    trained.fit(x, y, batch_size=4, epochs=1, verbose=0)
    trained.save_weights(tmp_path / "backup.weights.h5")
    restored = make()
    restored.load_weights(tmp_path / "backup.weights.h5")
    for name in ("optimizer", "peer_optimizer"):
        a, b = getattr(trained, name), getattr(restored, name)
        assert int(b.iterations) == 2
        assert all(np.array_equal(u.numpy(), v.numpy()) for u, v in zip(a.variables, b.variables))


def test_bad_combinations():
    with pytest.raises(ValueError, match="needs a teacher"):
        methods.get("kd", small(), None)
    with pytest.raises(ValueError, match=r"has no layer\(s\) \['stage2'\]"):
        methods.Hint(small("mlp1024"), small("resnet14"))
    with pytest.raises(ValueError, match="same spatial size"):
        methods.AttentionTransfer(small(), small("cnn10"))  # 32x32 vs 16x16 stage 1
    with pytest.raises(ValueError, match="needs a model with dropout layers"):
        methods.Dropout(small())
    with pytest.raises(ValueError, match="smoothing"):
        methods.LabelSmoothing(small(), smoothing=1.5)
