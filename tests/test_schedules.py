"""Learning-rate schedules against hand computations, and Hint's / FSP's stage 1 before them."""

import math

import keras
import numpy as np
import pytest

from tf_introspect import methods, models, pipeline, schedules


def rates(schedule, steps):
    return [float(schedule(step)) if callable(schedule) else schedule for step in steps]


def test_linear_and_cosine_decay_to_zero_per_step():
    steps = [0, 1, 50, 99, 100, 150]
    linear = schedules.learning_rate(0.1, "linear", steps=100)
    assert rates(linear, steps) == pytest.approx([0.1, 0.099, 0.05, 0.001, 0.0, 0.0], abs=1e-7)
    cosine = schedules.learning_rate(0.1, "cosine", steps=100)
    expected = [0.05 * (1 + math.cos(math.pi * min(t, 100) / 100)) for t in steps]
    assert rates(cosine, steps) == pytest.approx(expected, abs=1e-7)


def test_step_schedule_is_the_papers_and_constant_without_boundaries():
    assert schedules.learning_rate(0.1, "step") == 0.1
    step = schedules.learning_rate(0.1, "step", boundaries=[80, 120], decay=0.1)
    assert rates(step, [0, 80, 81, 120, 121]) == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001])


def test_delay_holds_the_first_value_then_counts_from_its_end():
    delayed = schedules.learning_rate(0.1, "linear", steps=100, delay=40)
    assert rates(delayed, [0, 39, 40, 90, 140]) == pytest.approx(
        [0.1, 0.1, 0.1, 0.05, 0.0], abs=1e-7
    )
    config = keras.optimizers.schedules.serialize(delayed)
    again = keras.optimizers.schedules.deserialize(config)
    assert rates(again, [0, 90]) == pytest.approx([0.1, 0.05])


def test_bad_schedules_are_refused():
    with pytest.raises(ValueError, match="valid choices: step, linear, cosine"):
        schedules.learning_rate(0.1, "exponential")
    with pytest.raises(ValueError, match="needs its length"):
        schedules.learning_rate(0.1, "linear")
    with pytest.raises(pipeline.ConfigError, match="belongs to --lr_schedule=step"):
        pipeline.config.from_args(
            ["--model=resnet8", "--lr_schedule=linear", "--lr_boundaries=80,120"]
        )
    cfg = pipeline.config.from_args(["--model=resnet8", "--lr_schedule=linear"])
    assert cfg.lr_boundaries == ()  # the paper's step boundaries are not filled in


def test_the_step_schedule_leaves_earlier_records_equal():
    """A record made before --lr_schedule existed matches a step-schedule run's settings
    (so every committed run stays valid); a linear run is another setting."""
    cfg = pipeline.config.from_args(["--method=ce", "--model=mlp1024"])
    assert "lr_schedule" not in pipeline.settings.result_settings(cfg)
    linear = pipeline.config.from_args(["--method=ce", "--model=mlp1024", "--lr_schedule=linear"])
    assert pipeline.settings.result_settings(linear)["lr_schedule"] == "linear"


@pytest.mark.parametrize("method", ["hint", "fsp"])
def test_stage_1_comes_before_the_schedule_and_the_epochs(method):
    """FitNets and Yim et al. pre-train, then run the full schedule: with --epochs=160 and
    boundaries 80, 120, stage 2 starts at epoch 40 at lr 0.1 and keeps it for 80 epochs."""
    cfg = pipeline.config.from_args([f"--flagfile=flags/table5/resnet8_{method}.flags"])
    assert (cfg.epochs, getattr(cfg, f"{method}_epochs"), cfg.lr_boundaries) == (160, 40, (80, 120))
    assert cfg.pretraining_epochs == 40 and cfg.total_epochs == 200
    model = methods.CrossEntropy(models.get("resnet8"))  # only its optimizer is read here
    pipeline.training.compile_method(model, cfg, steps_per_epoch=10)
    lr = model.optimizer._learning_rate
    first_step = {epoch: epoch * 10 for epoch in (0, 39, 40, 119, 120, 121, 159, 160, 161, 199)}
    got = {epoch: float(lr(step)) for epoch, step in first_step.items()}
    # stage 1 (epochs 0-39) is scaled to --hint_lr / --fsp_lr by the method; the schedule's
    # boundaries fall at stage-2 epochs 80 and 120, i.e. epochs 120 and 160 of the run (a
    # boundary step still has the earlier rate, Keras' convention)
    assert got == pytest.approx(
        {
            0: 0.1,
            39: 0.1,
            40: 0.1,
            119: 0.1,
            120: 0.1,
            121: 0.01,
            159: 0.01,
            160: 0.01,
            161: 0.001,
            199: 0.001,
        }
    )
    ce = pipeline.config.from_args(["--flagfile=flags/table5/resnet8_kd.flags"])
    assert ce.pretraining_epochs == 0 and ce.total_epochs == 160
    le = pipeline.config.from_args(["--flagfile=flags/table2/resnet8_le.flags"])
    assert le.total_epochs == 160  # LE's warm-up is part of the paper's epochs
    assert np.isclose(
        float(schedules.learning_rate(0.1, "linear", steps=1600, delay=400)(400)), 0.1
    )
