"""Timing Keras ``fit`` and ``evaluate`` calls by their steps (the fit, keras and user_api
parts), and the ratios of timings every part prints.

A callback stamps the end of every step (``step_stamps``); seconds per step run from the
first step's end to the last's (``per_step``), the rest of the call (iterator start-up, end of
data, callbacks' begin and end: paid once an epoch) is kept apart. ``fit`` runs with the
command line's per-step callback (``StopOnNaN``) and its ``--verbose=2`` progress logger.
"""

import contextlib
import io
import time


def rounded_ratio(a, b):
    """``a / b`` rounded to 3 decimals (None without ``a`` or ``b``)."""
    return round(a / b, 3) if a is not None and b else None


def step_stamps():
    """A Keras callback holding ``(step, time)`` at the end of every training (``.train``)
    and test (``.test``) batch (with ``steps_per_execution`` > 1: of every execution, at its
    last step)."""
    import keras

    class StepStamps(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.train, self.test = [], []

        def on_train_batch_end(self, batch, logs=None):
            self.train.append((batch, time.perf_counter()))

        def on_test_batch_end(self, batch, logs=None):
            self.test.append((batch, time.perf_counter()))

    return StepStamps()


def per_step(stamps):
    """Seconds per step from the end of the first step (execution) to the end of the last
    (None for a single one)."""
    if len(stamps) < 2:
        return None
    (first, start), (last, end) = stamps[0], stamps[-1]
    return (end - start) / (last - first)


def _timed(stamps, start):
    """``(seconds per step, seconds of the call not spent in its steps)`` of a fit/evaluate
    call started at ``start``: steps timed from the first step's end to the last's (the whole
    call's wall time over its steps if it ran a single execution); the rest is the call's
    start-up and end (iterator, callbacks, end of data), paid once per epoch."""
    wall = time.perf_counter() - start
    steps = stamps[-1][0] + 1
    step = per_step(stamps) or wall / steps
    return step, max(wall - steps * step, 0.0)


def timed_fit(model, train, stamps, verbose=2):
    """``fit`` one epoch of ``train`` with the command line's per-step callback and progress
    logger (its output swallowed): ``_timed``."""
    from tf_introspect.callbacks import StopOnNaN

    stamps.train.clear()
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        model.fit(train, epochs=1, verbose=verbose, shuffle=False, callbacks=[StopOnNaN(), stamps])
    return _timed(stamps.train, start)


def timed_evaluate(model, test, stamps):
    """``evaluate`` ``test`` (the validation pass of ``fit``): ``_timed``."""
    stamps.test.clear()
    start = time.perf_counter()
    model.evaluate(test, verbose=0, callbacks=[stamps])
    return _timed(stamps.test, start)
