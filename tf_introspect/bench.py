"""Step-cost ratios, measured side by side in one process: ``python -m tf_introspect.bench``.

For each case, the compiled ``train_step`` of CE and of LE (and of LE while still in warm-up)
are built on the same model architecture and the same random batch, warmed up, then timed in
interleaved rounds (so drift of the machine hits all alike); the median time per step and the
ratio to CE are printed. Cases (issue targets in brackets): LE(Grad-CAM) / CE for resnet8 and
resnet14 at batch 128 [<= 1.05], LE(Grad) / CE for mlp1024 at batch 128 and 16 [<= 4]. For the
ResNets, KD from a ResNet-26 teacher is timed too: the teacher's cost that LE avoids (paper 4).

Flags: ``--cases`` to pick cases, ``--rounds`` and ``--steps`` for precision, ``--json`` to
write the results.
"""

import json
import statistics
import time

from absl import app, flags

CASES = {  # model, batch, explainer, KD teacher (for the KD / CE column; None: not timed)
    "resnet8_b128_grad_cam": ("resnet8", 128, "grad_cam", "resnet26"),
    "resnet14_b128_grad_cam": ("resnet14", 128, "grad_cam", "resnet26"),
    "mlp1024_b128_grad": ("mlp1024", 128, "grad", None),
    "mlp1024_b16_grad": ("mlp1024", 16, "grad", None),
}

flags.DEFINE_list("cases", list(CASES), f"Cases to run, from: {', '.join(CASES)}.")
flags.DEFINE_integer("rounds", 7, "Interleaved timing rounds (the median is reported).",
                     lower_bound=1)
flags.DEFINE_integer("steps", 10, "Steps per round and variant.", lower_bound=1)
flags.DEFINE_string("json", None, "Write the results to this JSON file.")
FLAGS = flags.FLAGS


def compiled_step(method_name, model_name, explainer, introspective=True, teacher=None):
    import keras
    import tensorflow as tf

    from tf_introspect import methods, models
    keras.utils.set_random_seed(0)
    model = models.get(model_name, weight_decay=5e-4)
    cfg = dict(explainer=explainer, alpha=0.9, lam=0.1, seed=0, temperature=4.0)
    teacher = models.get(teacher) if teacher else None
    method = methods.build(method_name, model, cfg, teacher)
    if hasattr(method, "introspective"):
        method.introspective.assign(float(introspective))
    method.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), metrics=["accuracy"])
    return tf.function(method.train_step), model.input_shape[1:]


def time_case(model_name, batch, explainer, teacher, rounds, steps):
    """Median seconds per step for CE, LE, LE-in-warm-up (and KD), interleaved."""
    import tensorflow as tf
    variants = {"ce": compiled_step("ce", model_name, explainer),
                "le": compiled_step("le", model_name, explainer),
                "le_warmup": compiled_step("le", model_name, explainer, introspective=False)}
    if teacher:
        variants["kd"] = compiled_step("kd", model_name, explainer, teacher=teacher)
    shape = variants["ce"][1]
    x = tf.random.stateless_normal((batch, *shape), seed=[0, 1])
    y = tf.random.stateless_uniform((batch,), seed=[0, 2], maxval=10, dtype=tf.int32)
    for step, _ in variants.values():       # trace and warm up
        for _ in range(3):
            step((x, y))
    times = {name: [] for name in variants}
    for _ in range(rounds):
        for name, (step, _) in variants.items():
            start = time.perf_counter()
            for _ in range(steps):
                logs = step((x, y))
            float(logs["loss"])                # wait for the last step
            times[name].append((time.perf_counter() - start) / steps)
    return {name: statistics.median(t) for name, t in times.items()}


def main(argv):
    del argv
    unknown = [c for c in FLAGS.cases if c not in CASES]
    if unknown:
        raise app.UsageError(f"Unknown case(s) {unknown}; valid choices: {', '.join(CASES)}.")
    import tensorflow as tf
    # Every variant traces its step once or twice at warm-up; TF's retracing heuristic would
    # warn about these expected first traces across the many functions.
    tf.get_logger().setLevel("ERROR")
    results = {}
    print(f"{'case':28s} {'CE ms':>8s} {'LE ms':>8s} {'LE/CE':>7s} {'warm-up/CE':>11s} "
          f"{'KD(resnet26)/CE':>16s}")
    for case in FLAGS.cases:
        t = time_case(*CASES[case], FLAGS.rounds, FLAGS.steps)
        r = results[case] = {f"{k}_ms": round(v * 1e3, 2) for k, v in t.items()}
        for name in ("le", "le_warmup", "kd"):
            if name in t:
                r[f"{name}_over_ce"] = round(t[name] / t["ce"], 3)
        kd = f"{r['kd_over_ce']:16.3f}" if "kd" in t else f"{'-':>16s}"
        print(f"{case:28s} {r['ce_ms']:8.2f} {r['le_ms']:8.2f} {r['le_over_ce']:7.3f} "
              f"{r['le_warmup_over_ce']:11.3f} {kd}", flush=True)
    if FLAGS.json:
        with open(FLAGS.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    app.run(main)
