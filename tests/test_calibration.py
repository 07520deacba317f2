"""Calibration (issue 20): NLL and expected calibration error against hand computations, and
their place in every method's evaluation (not in training's logs)."""

import keras
import numpy as np
import pytest

import tf_introspect as ti
from tf_introspect import calibration, models


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def ece_by_hand(logits, labels, bins=15):
    """Guo et al. 2017, Eq. 3, written out: bins ((b - 1) / bins, b / bins]."""
    p = softmax(np.asarray(logits, np.float64))
    confidence, predicted = p.max(axis=1), p.argmax(axis=1)
    total = 0.0
    for b in range(1, bins + 1):
        inside = (confidence > (b - 1) / bins) & (confidence <= b / bins)
        if inside.any():
            gap = abs((predicted[inside] == labels[inside]).mean() - confidence[inside].mean())
            total += inside.sum() / len(labels) * gap
    return total


def test_ece_and_nll_match_hand_computations_over_several_batches():
    rng = np.random.default_rng(0)
    logits = (3 * rng.normal(size=(300, 10))).astype("float32")
    labels = rng.integers(0, 10, size=300)
    ece, nll = calibration.ExpectedCalibrationError(), calibration.nll()
    for part in np.array_split(np.arange(300), [7, 128, 250]):  # unequal batches
        ece.update_state(labels[part], logits[part])
        nll.update_state(labels[part], logits[part])
    np.testing.assert_allclose(float(ece.result()), ece_by_hand(logits, labels), rtol=1e-5)
    p = softmax(logits.astype(np.float64))
    np.testing.assert_allclose(
        float(nll.result()), -np.log(p[np.arange(300), labels]).mean(), rtol=1e-5
    )
    diagram = ece.reliability()
    assert diagram["count"].sum() == 300 and len(diagram["edges"]) == 16
    seen = diagram["count"] > 0
    np.testing.assert_allclose(
        np.sum(diagram["count"][seen] * np.abs(diagram["accuracy"] - diagram["confidence"])[seen])
        / 300,
        ece_by_hand(logits, labels),
        rtol=1e-5,
    )
    ece.reset_state()
    assert float(ece.result()) == 0.0


def test_ece_edge_cases():
    """A confidence on a bin edge belongs to the lower bin; a perfectly calibrated toy set
    has ECE 0; bad bins are refused."""
    # two classes, p = (0.8, 0.2): confidence 0.8 = 12/15, the edge of bin 12
    logits = np.log(np.array([[0.8, 0.2]] * 5, np.float32))
    labels = np.array([0, 0, 0, 0, 1])  # accuracy 0.8 = confidence: calibrated
    ece = calibration.ExpectedCalibrationError()
    ece.update_state(labels, logits)
    assert float(ece.result()) == pytest.approx(0.0, abs=1e-6)
    assert ece.reliability()["count"][11] == 5  # bin 12 of 15, (11/15, 12/15]
    with pytest.raises(ValueError, match="bins must be a whole number >= 1, got 0"):
        calibration.ExpectedCalibrationError(bins=0)


def test_every_method_evaluates_calibration_but_does_not_log_it_in_training():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, size=64)
    for wrapper in (
        ti.methods.get("ce", models.get("mlp1024")),
        ti.Introspective(models.get("mlp1024"), explainer="grad"),
    ):
        wrapper.compile(optimizer=keras.optimizers.SGD(0.01), metrics=["accuracy"])
        history = wrapper.fit(
            x, y, batch_size=16, epochs=1, verbose=0, validation_data=(x, y)
        ).history
        assert "nll" not in history and "ece" not in history
        assert {"val_nll", "val_ece"} <= set(history)
        scores = wrapper.evaluate(x, y, batch_size=24, verbose=0, return_dict=True)
        logits = wrapper.predict(x, verbose=0)
        np.testing.assert_allclose(scores["ece"], ece_by_hand(logits, y), rtol=1e-4, atol=1e-6)
        p = softmax(logits.astype(np.float64))
        np.testing.assert_allclose(scores["nll"], -np.log(p[np.arange(64), y]).mean(), rtol=1e-4)
