"""Speed on this machine, measured in one process: ``python -m tf_introspect.bench``.

Eight parts (``--parts``), one combined report, everything in ``--json``; docs/benchmarks.md
explains each table and its targets. Each part is a module whose docstring says what it times:

* ``steps`` (:mod:`.steps`): step-cost ratios LE / CE (LE in warm-up, KD) of the compiled
  ``train_step``, on one random batch;
* ``precision`` (:mod:`.precision`): bfloat16 / float32 time of the same compiled steps;
* ``fit`` (:mod:`.fit`): epoch time through the command line's own path, and from it the
  projected wall time of the experiment plans' protocols (:mod:`.protocols`);
* ``keras`` (:mod:`.keras_twin`): our CE method against the same model in plain Keras;
* ``explain`` (:mod:`.explain`): all-class explanations against tf-keras-vis (optional);
* ``user_api`` (:mod:`.user_api`): what ``jit_compile`` and ``steps_per_execution`` give
  through the user API;
* ``data`` (:mod:`.data_pipeline`): a folder of JPEGs against CIFAR-10's binary files, read
  and through the training pipeline;
* ``self_distillation`` (:mod:`.self_distillation`): CS-KD, Tf-KD and PS-KD steps against
  CE.

``steps`` and ``precision`` end with a roofline: each step's FLOPs counted from the model
(:mod:`.flops`) against this CPU's peaks (:mod:`.peaks`). Shared by the parts: the cases,
targets and constants (:mod:`.cases`), compiled steps built and timed (:mod:`.compiled`),
``fit`` / ``evaluate`` calls timed by their steps (:mod:`.timing`), and the command line's
training pipeline set up for a case (:mod:`.pipeline_cases`, the one module that uses its
internals). The command line and its flags: :mod:`.__main__`.

Issue 17's measurement, e.g.::

    python -m tf_introspect.bench --parts=precision --rounds=7 --steps=10 --json=precision.json
    python -m tf_introspect.bench --parts=fit --fit_precisions=float32,mixed_bfloat16 \\
        --fit_cases=resnet8_b128_ce,resnet8_b128_le_grad_cam --protocols= --json=fit.json
    python -m tf_introspect.bench --parts=user_api --rounds=7 --fit_steps=100 \\
        --fit_warmup=20 --json=user_api.json
"""
