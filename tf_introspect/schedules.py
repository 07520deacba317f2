"""Learning-rate schedules, per optimizer step: the paper's step decay, linear and cosine decay
to 0, and a delay for methods whose first stage comes before the schedule.

* ``step`` (the paper's): ``lr * decay ** i`` after the ``i``-th boundary epoch (ResNets:
  0.1, divided by 10 at epochs 80 and 120), Keras' ``PiecewiseConstantDecay``.
* ``linear``: ``lr * (1 - t / T)`` over the run's ``T`` steps, reaching 0 at its end (Li,
  Yumer and Ramanan, "Budgeted Training: Rethinking Deep Neural Network Training Under
  Resource Constraints", ICLR 2020: under a small epoch budget, linear decay to 0 beats step
  decay), Keras' ``PolynomialDecay`` with power 1.
* ``cosine``: ``lr * (1 + cos(pi t / T)) / 2`` (Loshchilov and Hutter's SGDR without
  restarts), Keras' ``CosineDecay``.

:class:`Delayed` holds any of them at its step-0 value for a first stage of ``delay`` steps and
counts the schedule from the end of it: FitNets' hint training and Yim et al.'s FSP stage run
before the full schedule of the main task, as in the originals (their stage 1 has its own
constant rate, applied by :attr:`tf_introspect.methods.Method.stage1_lr`).
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Self

import keras

if TYPE_CHECKING:
    import tensorflow as tf

SCHEDULES = ("step", "linear", "cosine")


@keras.saving.register_keras_serializable(package="tf_introspect")
class Delayed(keras.optimizers.schedules.LearningRateSchedule):
    """``schedule(max(step - delay, 0))``: the schedule starts after ``delay`` steps."""

    def __init__(
        self, schedule: keras.optimizers.schedules.LearningRateSchedule, delay: int
    ) -> None:
        self.schedule, self.delay = schedule, int(delay)

    def __call__(self, step: "int | tf.Tensor") -> "tf.Tensor":
        step = keras.ops.maximum(keras.ops.convert_to_tensor(step) - self.delay, 0)
        return self.schedule(step)

    def get_config(self) -> dict:
        return {
            "schedule": keras.optimizers.schedules.serialize(self.schedule),
            "delay": self.delay,
        }

    @classmethod
    def from_config(cls, config: dict) -> Self:
        return cls(keras.optimizers.schedules.deserialize(config["schedule"]), config["delay"])


def learning_rate(
    lr: float,
    kind: str = "step",
    steps: int | None = None,
    boundaries: Sequence[int] = (),
    decay: float = 0.1,
    delay: int = 0,
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """The learning rate (a float, or a ``LearningRateSchedule``) of one run.

    Args:
      lr: the initial rate.
      kind: ``step``, ``linear`` or ``cosine`` (:data:`SCHEDULES`).
      steps: the schedule's length in optimizer steps (``linear``/``cosine``: the rate
        reaches 0 there).
      boundaries: ``step``: the steps at which the rate is multiplied by ``decay`` (none: a
        constant rate, returned as a float).
      delay: steps of a first stage before the schedule starts (:class:`Delayed`).
    """
    if kind not in SCHEDULES:
        raise ValueError(
            f"Unknown learning-rate schedule {kind!r}; valid choices: {', '.join(SCHEDULES)}."
        )
    if kind == "step":
        if not boundaries:
            return lr
        schedule = keras.optimizers.schedules.PiecewiseConstantDecay(
            list(boundaries), [lr * decay**i for i in range(len(boundaries) + 1)]
        )
    else:
        if not steps or steps <= 0:
            raise ValueError(f"A {kind} schedule needs its length in steps, got {steps!r}.")
        if kind == "linear":
            schedule = keras.optimizers.schedules.PolynomialDecay(
                lr, steps, end_learning_rate=0.0, power=1.0
            )
        else:
            schedule = keras.optimizers.schedules.CosineDecay(lr, steps, alpha=0.0)
    return Delayed(schedule, delay) if delay else schedule
