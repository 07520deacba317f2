"""Part ``explain``: all-class explanations against tf-keras-vis (optional, pinned in
``requirements-bench.txt``).

``explainers.explain(model, x, method)`` gives every class in one call; tf-keras-vis needs one
call per class (its ``Gradcam`` / ``Saliency`` with a ``CategoricalScore(k)``, k = 0..9).
ResNet-8, a batch of ``--explain_batch`` CIFAR-shaped inputs, interleaved rounds, ratio of
medians [Grad-CAM >= 10, Grad >= 2.5]. tf-keras-vis is called so that it computes our
definitions (Grad-CAM at our layer, not resized or normalised; Saliency: the signed gradient,
channels kept, not normalised) and the maps are checked to be equal; its defaults post-process
(Grad-CAM: the last Conv2D layer before the named one, resized to the input and normalised per
sample; Saliency: |gradient|, max over channels, normalised). Without tf-keras-vis the part
says how to install it and the rest runs.
"""

import statistics
import time
import warnings

from tf_introspect.bench.cases import EXPLAIN_METHODS, INSTALL_HINT
from tf_introspect.bench.timing import rounded_ratio


def import_tf_keras_vis():
    """``(module dict, None)`` or ``(None, reason)``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import tf_keras_vis
            from tf_keras_vis.gradcam import Gradcam
            from tf_keras_vis.saliency import Saliency
            from tf_keras_vis.utils.scores import CategoricalScore
    except ImportError as e:
        return None, f"not installed ({e}); install it with: {INSTALL_HINT}"
    except Exception as e:  # noqa: BLE001 -- an incompatible release: report, skip
        return None, f"import failed: {type(e).__name__}: {e}"
    return {
        "version": getattr(tf_keras_vis, "__version__", "?"),
        "Gradcam": Gradcam,
        "Saliency": Saliency,
        "CategoricalScore": CategoricalScore,
    }, None


def vis_maps(vis, model, x, method, layer, classes):
    """tf-keras-vis' maps for every class, one call per class, in our definitions."""
    import numpy as np

    score = vis["CategoricalScore"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras: a list given to a one-input model
        if method == "grad_cam":
            return np.stack(
                [
                    np.asarray(
                        vis["gradcam"](
                            score(k),
                            x,
                            penultimate_layer=layer,
                            seek_penultimate_conv_layer=False,
                            expand_cam=False,
                            normalize_cam=False,
                        )
                    )
                    for k in range(classes)
                ],
                axis=1,
            )
        return np.stack(
            [
                np.asarray(
                    vis["saliency"](
                        score(k), x, keepdims=True, gradient_modifier=None, normalize_map=False
                    )
                )
                for k in range(classes)
            ],
            axis=1,
        )


def explain_part(methods_, batch, rounds):
    import keras
    import numpy as np

    from tf_introspect import explainers, models

    print(
        f"\n== All-class explanations vs tf-keras-vis (one call per class): resnet8, batch "
        f"{batch}, median of {rounds} interleaved rounds =="
    )
    vis, reason = import_tf_keras_vis()
    if vis is None:
        print(f"tf-keras-vis: {reason}. Part skipped.")
        return {"status": "skipped", "reason": reason, "install": INSTALL_HINT}
    keras.utils.set_random_seed(0)
    model = models.get("resnet8")
    x = keras.random.normal((batch, *model.input_shape[1:]), seed=1).numpy()
    classes = model.output_shape[-1]
    result = {
        "status": "ok",
        "tf_keras_vis": vis["version"],
        "keras": keras.__version__,
        "model": "resnet8",
        "batch": batch,
        "cases": {},
        "compared_as": "tf-keras-vis without its post-processing, i.e. our definitions: "
        "Gradcam(seek_penultimate_conv_layer=False, expand_cam=False, "
        "normalize_cam=False) at our Grad-CAM layer; Saliency(keepdims="
        "True, gradient_modifier=None, normalize_map=False). Its defaults "
        "differ: Grad-CAM at the last Conv2D layer up to the named one, "
        "resized to the input and normalised per sample; Saliency "
        "|gradient|, max over channels, normalised per sample.",
    }
    print(
        f"tf-keras-vis {vis['version']}, Keras {keras.__version__}; compared without its "
        "post-processing (our definitions; see docs/benchmarks.md)"
    )
    print(
        f"{'explainer':10s} {'ours ms':>9s} {'tf-keras-vis ms':>16s} {'speed-up':>9s} "
        f"{'target':>7s} {'max|diff|':>10s} {'max|map|':>9s} {'agree':>6s}"
    )
    try:
        vis["gradcam"] = vis["Gradcam"](model, clone=True)
        vis["saliency"] = vis["Saliency"](model, clone=True)
    except Exception as e:  # noqa: BLE001
        reason = f"{type(e).__name__}: {e}"
        print(f"tf-keras-vis does not work with Keras {keras.__version__}: {reason}")
        return {**result, "status": "error", "reason": reason}
    for method in methods_:
        layer = explainers.get(method, model).layer
        try:
            ours = explainers.explain(model, x, method).numpy()  # trace, warm up
            theirs = vis_maps(vis, model, x, method, layer, classes)
            times = {"ours": [], "vis": []}
            for _ in range(rounds):
                start = time.perf_counter()
                explainers.explain(model, x, method).numpy()
                times["ours"].append(time.perf_counter() - start)
                start = time.perf_counter()
                vis_maps(vis, model, x, method, layer, classes)
                times["vis"].append(time.perf_counter() - start)
        except Exception as e:  # noqa: BLE001
            reason = f"{type(e).__name__}: {e}"
            print(f"{method:10s} tf-keras-vis failed with Keras {keras.__version__}: {reason}")
            result["cases"][method] = {"status": "error", "reason": reason}
            continue
        t = {k: statistics.median(v) for k, v in times.items()}
        diff = float(np.max(np.abs(ours - theirs))) if ours.shape == theirs.shape else None
        scale = float(np.max(np.abs(ours)))
        agree = diff is not None and diff <= 1e-4 * scale + 1e-7
        r = result["cases"][method] = {
            "status": "ok",
            "layer": layer,
            "shape": list(ours.shape),
            "ours_ms": round(t["ours"] * 1e3, 2),
            "tf_keras_vis_ms": round(t["vis"] * 1e3, 2),
            "speedup": rounded_ratio(t["vis"], t["ours"]),
            "target": EXPLAIN_METHODS[method],
            "max_abs_diff": diff,
            "max_abs_map": scale,
            "maps_agree": agree,
        }
        print(
            f"{method:10s} {r['ours_ms']:9.1f} {r['tf_keras_vis_ms']:16.1f} "
            f"{r['speedup']:9.2f} {'>= ' + str(r['target']):>7s} "
            f"{diff if diff is not None else float('nan'):10.2e} {scale:9.2e} "
            f"{'yes' if agree else 'NO':>6s}",
            flush=True,
        )
    return result
