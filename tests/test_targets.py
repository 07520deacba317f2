"""Eq. 6 targets against a NumPy hand computation, written loop by loop from the paper."""

import numpy as np
import pytest
import tensorflow as tf

from tf_introspect import targets


def eq6_reference(explanations, labels, alpha, temperature=None):
    """Paper Eq. 6, sample by sample, class by class; with ``temperature`` the shares are
    ``exp(cos / T)`` (the sharper variant, not in the paper)."""
    b, c = explanations.shape[:2]
    flat = explanations.reshape(b, c, -1).astype(np.float64)
    q = np.zeros((b, c))
    for i in range(b):
        gt = labels[i]

        def cos(u, v):
            nu, nv = np.linalg.norm(u), np.linalg.norm(v)
            return 0.0 if nu == 0 or nv == 0 else float(u @ v / (nu * nv))

        cosines = {k: cos(flat[i, k], flat[i, gt]) for k in range(c) if k != gt}
        if temperature is None:
            shares = {k: v + 1.0 for k, v in cosines.items()}
        else:
            shares = {k: np.exp(v / temperature) for k, v in cosines.items()}
        total = sum(shares.values())
        for k in range(c):
            if k == gt:
                q[i, k] = alpha
            elif total > 0:
                q[i, k] = (1 - alpha) * shares[k] / total
            else:
                q[i, k] = (1 - alpha) / (c - 1)
    return q


@pytest.mark.parametrize("shape", [(6, 10, 8, 8), (5, 4, 7, 7, 3), (3, 3, 11)])
def test_eq6_matches_numpy(shape):
    rng = np.random.default_rng(0)
    e = rng.normal(size=shape).astype("float32")
    y = rng.integers(0, shape[1], size=shape[0])
    q = targets.explanation_targets(e, y, alpha=0.9).numpy()
    np.testing.assert_allclose(q, eq6_reference(e, y, 0.9), atol=1e-6)
    np.testing.assert_allclose(q.sum(axis=1), 1.0, atol=1e-6)


@pytest.mark.parametrize("temperature", [0.02, 0.1, 0.5])
def test_similarity_temperature_matches_numpy_and_sharpens(temperature):
    rng = np.random.default_rng(3)
    e = rng.normal(size=(6, 10, 8, 8)).astype("float32")
    y = rng.integers(0, 10, size=6)
    q = targets.explanation_targets(e, y, alpha=0.9, temperature=temperature).numpy()
    np.testing.assert_allclose(q, eq6_reference(e, y, 0.9, temperature), atol=1e-6)
    np.testing.assert_allclose(q.sum(axis=1), 1.0, atol=1e-6)
    # the same ranking of the other classes as Eq. 6, further from uniform
    eq6 = targets.explanation_targets(e, y, alpha=0.9).numpy()
    rest = ~np.eye(10, dtype=bool)[y]
    for i in range(6):
        assert np.array_equal(np.argsort(q[i][rest[i]]), np.argsort(eq6[i][rest[i]]))
    assert q[rest].std() > eq6[rest].std()


def test_similarity_temperature_must_be_positive():
    with pytest.raises(ValueError, match="similarity temperature must be > 0"):
        targets.explanation_targets(np.ones((1, 3, 2)), [0], temperature=0.0)


def test_one_hot_and_column_labels_equal_int_labels():
    rng = np.random.default_rng(1)
    e = rng.normal(size=(4, 5, 6)).astype("float32")
    y = np.array([0, 4, 2, 2])
    q_int = targets.explanation_targets(e, y, alpha=0.8)
    q_hot = targets.explanation_targets(e, np.eye(5)[y], alpha=0.8)
    q_col = targets.explanation_targets(e, y[:, None], alpha=0.8)
    np.testing.assert_allclose(q_int, q_hot, atol=1e-7)
    np.testing.assert_allclose(q_int, q_col, atol=1e-7)


def test_zero_explanations_give_uniform_shares_not_nan():
    e = np.zeros((3, 10, 4, 4), "float32")
    e[1, 3] = 1.0  # one non-zero class explanation, ground truth still zero
    q = targets.explanation_targets(e, [0, 1, 2], alpha=0.9).numpy()
    assert np.isfinite(q).all()
    np.testing.assert_allclose(q, eq6_reference(e, np.array([0, 1, 2]), 0.9), atol=1e-7)
    np.testing.assert_allclose(q[0, 1:], 0.1 / 9, atol=1e-7)


def test_all_opposite_explanations_fall_back_to_uniform():
    e = np.array([[[1.0, 0.0], [-1.0, 0.0]]], "float32")  # two classes, cos = -1
    q = targets.explanation_targets(e, [0], alpha=0.7).numpy()
    np.testing.assert_allclose(q, [[0.7, 0.3]], atol=1e-7)


def test_permute_keeps_ground_truth_and_shuffles_the_rest():
    rng = np.random.default_rng(2)
    e = rng.normal(size=(64, 10, 5)).astype("float32")
    y = rng.integers(0, 10, size=64)
    q = targets.explanation_targets(e, y, alpha=0.9).numpy()
    qp = targets.explanation_targets(e, y, alpha=0.9, permute=True, seed=7).numpy()
    np.testing.assert_allclose(qp[np.arange(64), y], 0.9, atol=1e-7)
    for i in range(64):
        rest = np.delete(q[i], y[i])
        rest_p = np.delete(qp[i], y[i])
        np.testing.assert_allclose(np.sort(rest_p), np.sort(rest), atol=1e-7)
    changed = np.mean([not np.allclose(q[i], qp[i]) for i in range(64)])
    assert changed > 0.9
    again = targets.explanation_targets(e, y, alpha=0.9, permute=True, seed=7).numpy()
    other = targets.explanation_targets(e, y, alpha=0.9, permute=True, seed=8).numpy()
    np.testing.assert_array_equal(qp, again)
    assert not np.allclose(qp, other)


def test_permute_is_uniform_over_positions():
    # every non-ground-truth value lands on every other position about equally often
    e = np.tile(np.arange(1, 5, dtype="float32")[None, :, None] * [[[1.0, 0.5]]], (4000, 1, 1))
    e[:, 1:, 1] = np.array([3.0, -1.0, 0.2])  # distinct cosines to class 0
    y = np.zeros(4000, int)
    q = targets.explanation_targets(e, y, alpha=0.5).numpy()
    qp = targets.explanation_targets(e, y, alpha=0.5, permute=True, seed=3).numpy()
    for k in (1, 2, 3):
        frac = np.mean(np.isclose(qp[:, k], q[0, 1]))
        assert abs(frac - 1 / 3) < 0.04


def test_class_similarity_is_symmetric_with_unit_diagonal():
    rng = np.random.default_rng(4)
    e = rng.normal(size=(2, 6, 3, 3)).astype("float32")
    s = targets.class_similarity(e).numpy()
    np.testing.assert_allclose(s, np.transpose(s, (0, 2, 1)), atol=1e-6)
    np.testing.assert_allclose(np.diagonal(s, axis1=1, axis2=2), 1.0, atol=1e-6)
    y = np.array([2, 5])
    np.testing.assert_allclose(targets.cosine_to_ground_truth(e, y), s[np.arange(2), y], atol=1e-6)


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, 1.5])
def test_alpha_out_of_range(alpha):
    with pytest.raises(ValueError, match="alpha"):
        targets.explanation_targets(tf.ones((1, 3, 2)), [0], alpha=alpha)
