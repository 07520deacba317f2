"""LE's diagnostics (issue 20): each against a hand computation, logged by the wrapper and the
callback, and without effect on training (bit-identical weights)."""

import csv

import keras
import numpy as np
import tensorflow as tf
from test_targets import eq6_reference

import tf_introspect as ti
from tf_introspect import diagnostics, explainers, models
from tf_introspect.callbacks import HistoryCSV, SimilarityDiagnostics


def _targets(seed=0, b=12, c=5, alpha=0.9):
    rng = np.random.default_rng(seed)
    explanations = rng.normal(size=(b, c, 6))
    labels = rng.integers(0, c, size=b)
    return eq6_reference(explanations, labels, alpha), labels, rng.normal(size=(b, c))


def test_label_smoothing_kl_by_hand():
    q, labels, _ = _targets()
    k, alpha = q.shape[1], 0.9
    by_hand = []
    for row, gt in zip(q, labels):
        u = np.full(k, (1 - alpha) / (k - 1))
        u[gt] = alpha
        by_hand.append(sum(row[j] * np.log(row[j] / u[j]) for j in range(k)))
    got = diagnostics.label_smoothing_kl(q.astype("float32"), labels, alpha).numpy()
    np.testing.assert_allclose(got, by_hand, rtol=1e-4, atol=1e-7)
    assert (got >= -1e-7).all()
    uniform = ti.targets.uniform_targets(labels, k, alpha).numpy()
    np.testing.assert_allclose(diagnostics.label_smoothing_kl(uniform, labels, alpha), 0, atol=1e-7)


def test_top_other_agreement_by_hand():
    q, labels, logits = _targets(seed=1, b=40)
    by_hand = []
    for row, z, gt in zip(q, logits, labels):
        others = [j for j in range(len(row)) if j != gt]
        by_hand.append(float(max(others, key=lambda j: row[j]) == max(others, key=lambda j: z[j])))
    got = diagnostics.top_other_agreement(q, logits.astype("float32"), labels).numpy()
    np.testing.assert_array_equal(got, by_hand)
    assert 0 < got.mean() < 1  # both outcomes occur in this batch


def _ranks(values):
    """Ranks 1..n, ties given their mean rank (written out)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for m in range(i, j + 1):
            ranks[order[m]] = (i + j) / 2 + 1
        i = j + 1
    return np.array(ranks)


def test_rank_correlation_by_hand_with_ties():
    rng = np.random.default_rng(2)
    means = rng.random((4, 4))
    confusion = rng.integers(0, 3, size=(4, 4)).astype(float)  # many ties
    off = ~np.eye(4, dtype=bool)
    a, b = _ranks(list(means[off])), _ranks(list(confusion[off]))
    by_hand = np.corrcoef(a, b)[0, 1]
    np.testing.assert_allclose(diagnostics.rank_correlation(means, confusion), by_hand)
    assert np.isnan(diagnostics.rank_correlation(np.ones((4, 4)), confusion))  # uniform q
    rounded = np.full((4, 4), 0.1 / 3) * (1 + 1e-7 * rng.standard_normal((4, 4)))  # float32 sums
    assert np.isnan(diagnostics.rank_correlation(rounded, confusion))
    assert np.isnan(diagnostics.rank_correlation(means, np.eye(4)))  # no errors


def test_class_matrices_by_hand():
    q, labels, logits = _targets(seed=3, b=30)
    weights = (np.arange(30) % 3 > 0).astype("float32")  # a third of the samples weigh 0
    means, confusion = diagnostics.ClassMeanTargets(5), diagnostics.ConfusionMatrix(5)
    for part in np.array_split(np.arange(30), 3):
        means.update_state(labels[part], q[part], sample_weight=weights[part])
        confusion.update_state(labels[part], logits[part])
    for i in range(5):
        rows = (labels == i) & (weights > 0)
        expected = q[rows].mean(axis=0) if rows.any() else np.full(5, np.nan)
        np.testing.assert_allclose(means.matrix()[i], expected, rtol=1e-5)
        for j in range(5):
            assert confusion.matrix()[i, j] == np.sum((labels == i) & (logits.argmax(1) == j))


def test_uniform_targets_over_an_epoch_have_no_rank_correlation():
    """LE-Uniform's q is one float32 share on every non-ground-truth class: an epoch of them
    (3,438 batches of 16, the short MNIST protocol; classes of unequal size) must give
    class means that are equal, hence no rank correlation, not one ranked from rounding noise
    (float32 sums of the same rows: means about 1e-5 apart, a correlation of noise)."""
    rng = np.random.default_rng(5)
    k, alpha = 10, 0.9
    labels = rng.choice(k, size=(3438, 16), p=np.linspace(0.06, 0.14, k))
    means, confusion = diagnostics.ClassMeanTargets(k), diagnostics.ConfusionMatrix(k)
    step = tf.function(lambda y, q, z: (means.update_state(y, q), confusion.update_state(y, z)))
    share = tf.constant((1 - alpha) / (k - 1), tf.float32)
    for y in labels:
        q = tf.where(tf.one_hot(y, k) > 0, tf.constant(alpha, tf.float32), share)
        step(tf.constant(y), q, tf.constant(rng.normal(size=(16, k)), tf.float32))
    matrix = means.matrix()
    off = ~np.eye(k, dtype=bool)
    assert np.ptp(matrix[off]) == 0 and matrix[0, 1] == np.float32(share)
    assert np.isnan(diagnostics.rank_correlation(matrix, confusion.matrix()))
    float32_sums = np.zeros((k, k), np.float32)  # what a float32 accumulator holds
    for y in labels:
        np.add.at(float32_sums, y, np.where(np.eye(k)[y] > 0, alpha, share).astype(np.float32))
    drift = float32_sums / np.bincount(labels.ravel(), minlength=k)[:, None]
    assert np.ptp(drift[off]) > 1e-5 * np.float32(share)  # the noise this guards against


def _batch(n=32):
    rng = np.random.default_rng(4)
    return rng.normal(size=(n, 28, 28, 1)).astype("float32"), rng.integers(0, 10, size=n)


def test_le_logs_the_diagnostics_of_its_step():
    x, y = _batch(16)
    model = models.get("mlp1024")
    logits = model(x).numpy()  # one step: the diagnostics are of the pre-step model
    q = eq6_reference(explainers.explain(model, x, "grad").numpy(), y, 0.9)
    wrapper = ti.Introspective(model, explainer="grad")
    wrapper.compile(optimizer=keras.optimizers.SGD(0.05), metrics=["accuracy"])
    h = wrapper.fit(x, y, batch_size=16, epochs=1, verbose=0).history
    kl = diagnostics.label_smoothing_kl(q, y, 0.9).numpy().mean()
    np.testing.assert_allclose(h["q_kl_ls"][0], kl, rtol=1e-3)
    np.testing.assert_allclose(h["q_kl_ls_rest"][0], kl / 0.1, rtol=1e-3)
    agree = np.mean(diagnostics.top_other_agreement(q, logits, y).numpy())
    np.testing.assert_allclose(h["q_top_other_agreement"][0], agree)


def test_similarity_diagnostics_callback_reads_the_epochs_targets_and_errors():
    x, y = _batch()
    wrapper = ti.Introspective(models.get("mlp1024"), explainer="grad")
    wrapper.compile(optimizer=keras.optimizers.SGD(0.05), metrics=["accuracy"])
    h = wrapper.fit(
        x,
        y,
        batch_size=16,
        epochs=2,
        verbose=0,
        validation_data=(x[:24], y[:24]),
        callbacks=[ti.WarmupSwitch(1), SimilarityDiagnostics()],
    ).history
    assert np.isnan(h["q_confusion_spearman"][0])  # warm-up: no LE targets
    assert h["q_kl_ls"][0] == 0.0 and h["q_kl_ls"][1] > 0
    assert wrapper.target_means.counts().sum() == 32  # the second epoch's samples only
    confusion = wrapper.confusion.matrix()
    assert confusion.sum() == 24  # the closing validation only, not the training batches
    np.testing.assert_array_equal(
        confusion,
        np.array(
            [
                [
                    np.sum((y[:24] == i) & (wrapper.predict(x[:24], verbose=0).argmax(1) == j))
                    for j in range(10)
                ]
                for i in range(10)
            ]
        ),
    )
    expected = diagnostics.rank_correlation(wrapper.target_means.matrix(), confusion)
    np.testing.assert_allclose(h["q_confusion_spearman"][1], expected)
    ce = ti.methods.get("ce", models.get("mlp1024"))  # other methods: nothing added
    ce.compile(optimizer="sgd", metrics=["accuracy"])
    h = ce.fit(x, y, epochs=1, verbose=0, callbacks=[SimilarityDiagnostics()]).history
    assert "q_confusion_spearman" not in h


class _Quiet(ti.Introspective):
    """LE without diagnostics: the same loss, nothing else read from q or the logits."""

    def diagnose(self, q, logits, y, stage):
        return {
            name: tf.constant(0.0) for name in ("q_kl_ls", "q_kl_ls_rest", "q_top_other_agreement")
        }


def test_diagnostics_leave_training_bit_identical_under_xla():
    x, y = _batch(48)
    weights = []
    for cls in (ti.Introspective, _Quiet):
        keras.utils.set_random_seed(7)
        wrapper = cls(models.get("mlp1024"), explainer="grad")
        wrapper.compile(
            optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
            metrics=["accuracy"],
            jit_compile=True,
        )
        wrapper.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False, validation_data=(x, y))
        weights.append([w.numpy() for w in wrapper.model.weights])
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_history_csv_keeps_the_existing_columns_on_resume(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,accuracy,loss\n0,0.5,1.0\n")
    logger = HistoryCSV(str(path))
    logger.on_train_begin()
    logger.on_epoch_end(1, {"accuracy": 0.6, "ece": 0.1, "loss": 0.9})
    logger.on_train_end()
    with open(path) as f:
        rows = list(csv.reader(f))
    assert rows == [["epoch", "accuracy", "loss"], ["0", "0.5", "1.0"], ["1", "0.6", "0.9"]]
