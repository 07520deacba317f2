"""The benchmark script runs every part and reports consistent numbers (no timing is asserted:
see docs/benchmarks.md). One smoke run (tiny steps, the MLP cases) serves most tests; the
roofline's FLOP count and peaks are unit-tested (no timing)."""

import json
import math
import os

import pytest
from conftest import SHARED_DATA, process_env, python

SMOKE = [
    "--cases=mlp1024_b16_grad",
    "--rounds=1",
    "--steps=1",
    "--fit_cases=mlp1024_b16_ce,mlp1024_b16_le_grad",
    "--fit_steps=2",
    "--fit_warmup=1",
    "--fit_rounds=1",
    "--eval_steps=2",
    "--keras_cases=mlp1024_b16",
    "--protocols=table3_short,table2_short",
    "--explain_batch=2",
    "--precision_cases=mlp1024_b16",
    "--fit_precisions=float32,mixed_bfloat16",
    "--user_api_cases=mlp1024_b16",
    "--self_distillation_cases=mlp1024_b16",
    "--folder=no/such/folder",  # the data part: test_data_part_folder_against_binary
]


def bench(*args, env=None):
    return python("-m", "tf_introspect.bench", *args, env=process_env(**(env or {})), timeout=900)


def has_tf_keras_vis():
    import importlib.util

    return importlib.util.find_spec("tf_keras_vis") is not None


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    result = bench(*SMOKE, f"--json={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout, json.loads(out.read_text())


def test_bench_reports_ratios(smoke):
    stdout, results = smoke
    assert "mlp1024_b16_grad" in stdout
    r = results["mlp1024_b16_grad"]
    assert {"ce_ms", "le_ms", "le_warmup_ms", "le_over_ce", "le_warmup_over_ce"} <= set(r)
    assert (
        r["le_over_ce"] == round(r["le_ms"] / r["ce_ms"], 3)
        or abs(r["le_over_ce"] - r["le_ms"] / r["ce_ms"]) < 0.01
    )


def test_self_distillation_part_reports_each_method_against_ce(smoke):
    stdout, results = smoke
    assert "Teacher-free self-distillation" in stdout
    assert set(results["self_distillation"]) == {"mlp1024_b16"}
    r = results["self_distillation"]["mlp1024_b16"]
    for name in ("cskd", "tfkd_self", "tfkd_reg", "pskd"):
        assert r[f"{name}_ms"] > 0 and r["ce_ms"] > 0
        assert r[f"{name}_over_ce"] == pytest.approx(
            r[f"{name}_ms"] / r["ce_ms"], rel=0.01, abs=5e-4
        )


def test_fit_part_scales_steps_to_epochs_and_protocols(smoke):
    stdout, results = smoke
    assert "Epoch time through the command line's fit path" in stdout
    cases = results["fit"]["cases"]
    assert set(cases) == {"mlp1024_b16_ce", "mlp1024_b16_le_grad"}
    for r in cases.values():
        assert r["jit_compile"] and not r["op_determinism"]  # the MLP: XLA (auto)
        assert (r["train_steps_per_epoch"], r["eval_steps_per_epoch"]) == (3750, 625)
        assert r["ms_per_step"] > 0 and r["eval_ms_per_step"] > 0
        assert r["fit_overhead_s"] >= 0 and r["eval_overhead_s"] >= 0
        assert r["s_per_epoch"] == pytest.approx(
            3750 * r["ms_per_step"] / 1e3
            + r["fit_overhead_s"]
            + 625 * r["eval_ms_per_step"] / 1e3
            + r["eval_overhead_s"],
            rel=1e-3,
            abs=0.02,
        )
        if (SHARED_DATA / "mnist").exists():
            assert r["data"].startswith("real")
    assert cases["mlp1024_b16_le_grad"]["warmup_epochs"] == 10
    # table3_short by hand: 10 epochs; CE, LS, CP, Dropout and LE-Uniform cost CE (grid points
    # on 55,000 images, validated on the 5,000 held out); LE, LE-Permut and LE with a
    # similarity temperature (5 grid points, then 5 seeds): 2 warm-up epochs at CE cost
    ce, le = cases["mlp1024_b16_ce"], cases["mlp1024_b16_le_grad"]

    def epoch(case, train, held_out=0):
        evals = math.ceil((held_out or 10000) / 16)
        return (
            math.ceil(train / 16) * case["ms_per_step"] / 1e3
            + case["fit_overhead_s"]
            + evals * case["eval_ms_per_step"] / 1e3
            + case["eval_overhead_s"]
        )

    grids = 4 + 4 + 7
    seconds = (
        grids * 10 * epoch(ce, 55000, 5000)
        + 5 * (2 * epoch(ce, 55000, 5000) + 8 * epoch(le, 55000, 5000))
        + 5 * 5 * 10 * epoch(ce, 60000)
        + 3 * 5 * (2 * epoch(ce, 60000) + 8 * epoch(le, 60000))
    )
    short = results["fit"]["protocols"]["table3_short"]
    assert (short["runs"], short["grid_runs"], short["epochs"]) == (60, 20, 600)
    assert not short["missing_cases"]
    assert short["hours"] == pytest.approx(seconds / 3600, abs=0.06)
    cifar = results["fit"]["protocols"]["table2_short"]
    assert cifar["hours"] is None and cifar["runs"] == 15
    assert cifar["missing_cases"] == ["resnet8_b128_ce", "resnet8_b128_le_grad_cam"]


def test_keras_part_reports_the_ratio(smoke):
    stdout, results = smoke
    assert "Our CE vs plain Keras" in stdout
    r = results["keras"]["mlp1024_b16"]
    assert r["jit_compile"] is True and r["ours_ms"] > 0 and r["keras_ms"] > 0
    assert r["ours_over_keras"] == pytest.approx(r["ours_ms"] / r["keras_ms"], rel=0.01)


def test_explain_part_against_tf_keras_vis(smoke):
    stdout, results = smoke
    r = results["explain"]
    # scripts/setup.sh installs requirements-bench.txt; its absence is tested below
    assert has_tf_keras_vis(), "tf-keras-vis missing: pip install -r requirements-bench.txt"
    assert r["status"] == "ok", r
    for name, shape in (("grad_cam", [2, 10, 8, 8]), ("grad", [2, 10, 32, 32, 3])):
        case = r["cases"][name]
        assert case["maps_agree"] and case["shape"] == shape, case
        assert case["speedup"] == pytest.approx(case["tf_keras_vis_ms"] / case["ours_ms"], rel=0.01)


def test_explain_part_without_tf_keras_vis(tmp_path):
    """tf-keras-vis is optional: without it the part says how to install it, and the run
    succeeds (here its import is made to fail)."""
    shim = tmp_path / "shim" / "tf_keras_vis"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError('simulated: not installed')\n")
    out = tmp_path / "bench.json"
    path = os.pathsep.join(filter(None, [str(shim.parent), os.environ.get("PYTHONPATH")]))
    result = bench(
        "--parts=explain",
        "--explain_batch=2",
        "--rounds=1",
        f"--json={out}",
        env={"PYTHONPATH": path},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "pip install -r requirements-bench.txt" in result.stdout
    r = json.loads(out.read_text())["explain"]
    assert r["status"] == "skipped" and "simulated" in r["reason"]


def test_bench_rejects_unknown_cases():
    """Every bad list flag named at once, each with its valid choices (one process)."""
    result = bench(
        "--cases=vgg",
        "--parts=steps,speed",
        "--precision_cases=vgg_b128",
        "--user_api_cases=vgg_b16",
        "--fit_precisions=float32,float16",
        "--json=/no/such/folder/bench.json",
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "--helpfull lists the flags" in result.stderr and "flags:" not in result.stderr
    for line in [
        "Unknown case(s) ['vgg']; valid choices: resnet8_b128_grad_cam",
        "Unknown part(s) ['speed']; valid choices: steps, fit, keras, explain",
        "Unknown precision case(s) ['vgg_b128']; valid choices: resnet8_b128, resnet14_b128",
        "Unknown user_api case(s) ['vgg_b16']; valid choices: mlp1024_b16, resnet8_b128",
        "Unknown fit precision(s) ['float16']; valid choices: float32, mixed_bfloat16",
        "--json=/no/such/folder/bench.json: no folder /no/such/folder to write it into.",
    ]:
        assert f"error: {line}" in result.stderr, (line, result.stderr[-3000:])


# --- the user_api part: jit_compile and steps_per_execution through Method.compile -----------


def check_user_api_case(r, variants):
    """Fields and ratios of one user_api case (no timing asserted)."""
    assert list(r["variants"]) == list(variants)
    assert r["op_determinism"] is False  # a user's default
    resolved = {"default": (False, 1), "xla": (True, 1), "xla_spe10": (True, 10)}
    for name, row in r["variants"].items():
        if name == "default":
            assert row["compile_args"] == {}
        assert (row["jit_compile"], row["steps_per_execution"]) == resolved[name]
        assert row["ce_ms"] > 0 and row["le_ms"] > 0
        # ratios are rounded to 3 decimals: up to 5e-4 off, more than 1 % of a small ratio
        close = dict(rel=0.01, abs=5e-4)
        assert row["le_over_ce"] == pytest.approx(row["le_ms"] / row["ce_ms"], **close)
        base = r["variants"]["default"]
        assert row["ce_speedup"] == pytest.approx(base["ce_ms"] / row["ce_ms"], **close)
        assert row["le_speedup"] == pytest.approx(base["le_ms"] / row["le_ms"], **close)
    assert r["variants"]["default"]["ce_speedup"] == r["variants"]["default"]["le_speedup"] == 1


def test_user_api_part_mlp(smoke):
    stdout, results = smoke
    assert "through the user API (Method.compile)" in stdout
    part = results["user_api"]
    assert part["settings"] == {"fit_steps": 2, "fit_warmup": 1, "rounds": 1}
    r = part["cases"]["mlp1024_b16"]
    assert (r["model"], r["batch_size"], r["explainer"]) == ("mlp1024", 16, "grad")
    check_user_api_case(r, ["default", "xla", "xla_spe10"])
    for variant in ("default", "xla", "xla_spe10"):
        assert f"mlp1024_b16    {variant}" in stdout
    if (SHARED_DATA / "mnist").exists():
        assert r["data"].startswith("real")


def test_user_api_part_resnet(tmp_path):
    """The conv net: default and XLA only (the command line uses no XLA there), LE(Grad-CAM)."""
    out = tmp_path / "bench.json"
    result = bench(
        "--parts=user_api",
        "--user_api_cases=resnet8_b128",
        "--fit_steps=2",
        "--fit_warmup=1",
        "--rounds=1",
        f"--json={out}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    r = json.loads(out.read_text())["user_api"]["cases"]["resnet8_b128"]
    assert (r["model"], r["batch_size"], r["explainer"]) == ("resnet8", 128, "grad_cam")
    check_user_api_case(r, ["default", "xla"])


@pytest.mark.parametrize("kind", ["introspective", "ce", "kd"])
def test_compile_passes_jit_compile_and_steps_per_execution(kind):
    """``Method.compile`` takes Keras' ``jit_compile`` and ``steps_per_execution`` and they
    reach the compiled model; without them Keras' defaults hold (``"auto"``: no XLA on a
    CPU-only machine; one step per execution)."""
    import keras
    import tensorflow as tf

    import tf_introspect
    from tf_introspect import models

    def build():
        model = models.get("mlp1024", weight_decay=1e-4)
        if kind == "introspective":
            return tf_introspect.Introspective(model, explainer="grad")
        if kind == "kd":
            return tf_introspect.methods.KnowledgeDistillation(model, models.get("mlp1024"))
        return tf_introspect.methods.CrossEntropy(model)

    method = build()
    method.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        metrics=["accuracy"],
        jit_compile=True,
        steps_per_execution=10,
    )
    assert method.jit_compile is True and method.steps_per_execution == 10
    method = build()
    method.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), metrics=["accuracy"])
    assert method.steps_per_execution == 1
    if not [d for d in tf.config.list_physical_devices() if d.device_type != "CPU"]:
        assert method.jit_compile is False  # Keras' "auto" on a CPU-only machine
    method = build()
    method.compile(optimizer=keras.optimizers.SGD(0.01), jit_compile=False, steps_per_execution=3)
    assert method.jit_compile is False and method.steps_per_execution == 3


# --- the precision part, the roofline --------------------------------------------------------

MLP_FORWARD = 2 * (784 * 1024 + 1024 * 1024 + 1024 * 10)  # FLOPs per image


def test_steps_part_reports_the_roofline(smoke):
    stdout, results = smoke
    assert "Roofline (FLOPs counted from the model" in stdout
    r = results["mlp1024_b16_grad"]
    # CE and LE's warm-up: 3 forward passes; LE(Grad): + its own forward + 10 Jacobian passes
    expected = {"ce": 3, "le": 3 + 1 + 10, "le_warmup": 3}
    assert r["gflop"] == {k: round(n * MLP_FORWARD * 16 / 1e9, 4) for k, n in expected.items()}
    peak = results["machine"]["peaks"]["f32_peak_gflops"]
    for name in expected:
        assert r["gflop_per_s"][name] == pytest.approx(
            r["gflop"][name] / r[f"{name}_ms"] * 1e3, rel=0.01
        )
        if peak:
            assert r["f32_peak_fraction"][name] == pytest.approx(
                r["gflop_per_s"][name] / peak, rel=0.01, abs=1e-4
            )


def test_precision_part_reports_ratios_spread_and_roofline(smoke):
    stdout, results = smoke
    assert "== bfloat16 / float32: compiled train_step" in stdout
    assert "Roofline peaks" in stdout and "Assumed:" in stdout
    part = results["precision"]
    assert part["settings"] == {"rounds": 1, "steps": 1}
    case = part["cases"]["mlp1024_b16"]
    assert (case["model"], case["batch_size"]) == ("mlp1024", 16)
    assert set(case["methods"]) == {"ce", "le_grad"}
    peaks = results["machine"]["peaks"]
    for name, passes in (("ce", 3), ("le_grad", 3 + 1 + 10)):
        r = case["methods"][name]
        f32, bf16 = r["float32"], r["mixed_bfloat16"]
        for t in (f32, bf16):
            assert 0 < t["min_ms"] <= t["ms"] <= t["max_ms"]
        assert r["bf16_over_f32"] == pytest.approx(bf16["ms"] / f32["ms"], rel=0.01)
        assert r["round_ratio_min"] <= r["bf16_over_f32"] <= r["round_ratio_max"]  # 1 round
        assert r["target"] is None and r["meets_target"] is None  # the goal is ResNet-8's
        assert r["gflop"] == round(passes * MLP_FORWARD * 16 / 1e9, 4)
        for t, peak in ((f32, peaks["f32_peak_gflops"]), (bf16, peaks["bf16_peak_gflops"])):
            assert t["gflop_per_s"] == pytest.approx(r["gflop"] / t["ms"] * 1e3, rel=0.01)
            if peak:
                assert t["peak_fraction"] == pytest.approx(
                    t["gflop_per_s"] / peak, rel=0.01, abs=1e-4
                )


def test_fit_part_times_both_precisions_interleaved(smoke):
    stdout, results = smoke
    assert "at float32 and mixed_bfloat16 (fits interleaved)" in stdout
    assert "Precision ratios of the fit path (to float32)" in stdout
    fit = results["fit"]
    assert fit["settings"]["precisions"] == ["float32", "mixed_bfloat16"]
    precision = fit["precision"]
    for case in ("mlp1024_b16_ce", "mlp1024_b16_le_grad"):
        rows = precision["cases"][case]
        assert fit["cases"][case] == rows["float32"]  # the protocols' rows: the first
        assert {p: r["precision"] for p, r in rows.items()} == {
            "float32": "float32",
            "mixed_bfloat16": "mixed_bfloat16",
        }
        f32, bf16 = rows["float32"], rows["mixed_bfloat16"]
        assert bf16["jit_compile"] and bf16["ms_per_step"] > 0
        ratios = precision["ratios"][case]["mixed_bfloat16"]
        assert ratios["ms_per_step"] == pytest.approx(
            bf16["ms_per_step"] / f32["ms_per_step"], rel=0.01
        )
        assert ratios["s_per_epoch"] == pytest.approx(
            bf16["s_per_epoch"] / f32["s_per_epoch"], rel=0.01
        )
        assert ratios["target"] is None


def test_precision_targets():
    from tf_introspect.bench.precision import precision_target

    assert precision_target("resnet8", "ce") == 0.7
    assert precision_target("resnet8", "le", "grad_cam") == 0.7
    assert precision_target("resnet8", "le", "grad") is None
    assert precision_target("resnet14", "ce") is None


def test_step_flops_count_resnet8_by_hand():
    """ResNet-8 on 32x32x3, 'same' padding: the multiply-accumulates of each convolution
    (H_out * W_out * C_out * C_in * kh * kw) and of the logits layer, counted by hand; a CE
    step at batch 128 is the project's 9.6 GFLOP (3 x forward x 128)."""
    from tf_introspect import explainers, models
    from tf_introspect.bench import flops

    model = models.get("resnet8")
    macs = (
        32 * 32 * 16 * 3 * 9  # stem
        + 2 * 32 * 32 * 16 * 16 * 9  # stage 1: two 3x3
        + 16 * 16 * 32 * 16 * 9
        + 16 * 16 * 32 * 32 * 9  # stage 2: stride 2, 3x3
        + 16 * 16 * 32 * 16  # ... 1x1 projection
        + 8 * 8 * 64 * 32 * 9
        + 8 * 8 * 64 * 64 * 9
        + 8 * 8 * 64 * 32  # stage 3
        + 64 * 10
    )  # logits
    forward = 2 * macs
    assert flops.forward_flops(model) == forward == 25_003_264
    ce = flops.step_flops(model)
    assert ce == {
        "forward": forward,
        "backward": 2 * forward,
        "explanation": 0,
        "teacher": 0,
        "total": 3 * forward,
    }
    assert 128 * ce["total"] / 1e9 == pytest.approx(9.6, rel=0.005)
    # LE(Grad-CAM), closed form: only the maps, 2 x 10 classes x 8 x 8 x 64
    grad_cam = flops.step_flops(model, explainers.get("grad_cam", model))
    assert grad_cam["explanation"] == 2 * 10 * 8 * 8 * 64
    # LE(Grad): its own forward pass and 10 input-gradient passes
    grad = flops.step_flops(model, explainers.get("grad", model))
    assert grad["total"] == (3 + 1 + 10) * forward
    # KD: + the teacher's forward pass
    teacher = models.get("resnet26")
    kd = flops.step_flops(model, teacher=teacher)
    assert kd["total"] == 3 * forward + flops.forward_flops(teacher)
    # LE's warm-up costs CE (method_flops of a built method)
    from tf_introspect import methods

    le = methods.get("le", model, explainer="grad")
    assert flops.method_flops(le)["total"] == grad["total"]
    assert flops.method_flops(le, introspective=False)["total"] == ce["total"]
    assert flops.forward_flops(models.get("mlp1024")) == MLP_FORWARD
    assert flops.forward_flops(models.get("resnet14")) == 53_314_816


def test_layer_flops_strides_padding_groups_and_dense_positions():
    import keras

    from tf_introspect.bench import flops

    inputs = keras.Input((9, 9, 4))
    a = keras.layers.Conv2D(6, 3, strides=2, padding="valid")(inputs)  # 4 x 4 x 6
    b = keras.layers.Conv2D(6, (1, 3), padding="same", groups=2)(a)  # 4 x 4 x 6
    c = keras.layers.Dense(5)(keras.layers.Reshape((16, 6))(b))  # 16 positions
    model = keras.Model(inputs, keras.layers.BatchNormalization()(c))
    layers = {
        type(layer).__name__ + str(i): flops.layer_flops(layer)
        for i, layer in enumerate(model.layers)
    }
    assert list(layers.values()) == [
        0,
        2 * 4 * 4 * 6 * 4 * 9,
        2 * 4 * 4 * 6 * 3 * 3,
        0,
        2 * 16 * 6 * 5,
        0,
    ]
    assert flops.forward_flops(model) == sum(layers.values())


def fake_cpuinfo(vendor, family, name, cpu_flags, mhz, cores):
    """``/proc/cpuinfo`` text, one entry per logical CPU; ``cores``: its (physical id, core id)."""
    return "\n".join(
        f"processor\t: {i}\nvendor_id\t: {vendor}\ncpu family\t: {family}\nmodel\t\t: 17\n"
        f"model name\t: {name}\ncpu MHz\t\t: {mhz}\nphysical id\t: {package}\n"
        f"siblings\t: {len(cores)}\ncore id\t\t: {core}\ncpu cores\t: {len(set(cores))}\n"
        f"flags\t\t: fpu sse sse2 {cpu_flags}\n"
        for i, (package, core) in enumerate(cores)
    )


ZEN4_FLAGS = "avx fma avx2 avx512f avx512dq avx512bw avx512vl avx512_bf16 avx512_vnni"
SPR_FLAGS = ZEN4_FLAGS + " avx_vnni amx_bf16 avx512_fp16 amx_tile amx_int8"


def test_cpu_peaks_amd_zen4():
    """Zen 4: AVX-512 on two 256-bit FMA pipes: 2 x 8 x 2 = 32 float32 FLOP/cycle/core, 166.4
    GFLOP/s for 2 cores at 2.6 GHz; avx512_bf16: twice that."""
    from tf_introspect.bench.peaks import cpu_peaks

    text = fake_cpuinfo(
        "AuthenticAMD", 25, "AMD EPYC 9B14", ZEN4_FLAGS, "2600.000", [(0, 0), (0, 1)]
    )
    peaks = cpu_peaks(text, cpus={0, 1})
    assert (peaks["physical_cores"], peaks["ghz"], peaks["vector_bits"]) == (2, 2.6, 256)
    assert peaks["f32_flop_per_cycle_core"] == 32 and peaks["f32_peak_gflops"] == 166.4
    assert peaks["bf16_unit"] == "avx512_bf16" and peaks["bf16_peak_gflops"] == 332.8
    assert any("Zen 4" in note for note in peaks["assumptions"])
    # the CPUs this process may use count, not the machine's
    peaks = cpu_peaks(text, cpus={1})
    assert peaks["physical_cores"] == 1 and peaks["f32_peak_gflops"] == 83.2


def test_cpu_peaks_intel_amx():
    """Sapphire Rapids-like: two 512-bit FMA units, 64 float32 FLOP/cycle/core; AMX-BF16's
    tile unit 1,024 bfloat16 FLOP/cycle/core. Two hyperthreads of one core count once."""
    from tf_introspect.bench.peaks import cpu_peaks

    text = fake_cpuinfo(
        "GenuineIntel", 6, "Intel(R) Xeon(R) Processor", SPR_FLAGS, "2599.998", [(0, 0), (0, 1)]
    )
    peaks = cpu_peaks(text, cpus={0, 1})
    assert (peaks["physical_cores"], peaks["ghz"], peaks["vector_bits"]) == (2, 2.6, 512)
    assert peaks["f32_flop_per_cycle_core"] == 64 and peaks["f32_peak_gflops"] == 332.8
    assert peaks["bf16_unit"] == "amx_bf16" and peaks["bf16_flop_per_cycle_core"] == 1024
    assert peaks["bf16_peak_gflops"] == 5324.8
    threads = fake_cpuinfo("GenuineIntel", 6, "Xeon", SPR_FLAGS, "2600", [(0, 0), (0, 0)])
    peaks = cpu_peaks(threads, cpus={0, 1}, ghz=3.0)
    assert peaks["logical_cpus"] == 2 and peaks["physical_cores"] == 1
    assert peaks["clock_source"] == "--cpu_ghz" and peaks["f32_peak_gflops"] == 192.0
    # AVX2 only, no bfloat16 unit: 2 x 8 x 2, bfloat16 as float32
    peaks = cpu_peaks(
        fake_cpuinfo("GenuineIntel", 6, "Xeon", "avx fma avx2", "2000", [(0, 0)]), cpus={0}
    )
    assert peaks["f32_peak_gflops"] == peaks["bf16_peak_gflops"] == 64.0
    # not x86: unknown, said so
    peaks = cpu_peaks("processor\t: 0\nFeatures\t: fp asimd\n", cpus={0})
    assert peaks["f32_peak_gflops"] is None and peaks["assumptions"]


def test_data_part_folder_against_binary(tmp_path):
    """The data part on a slice of the real JPEG folder and small generated binary files:
    both read and iterated, the ratios reported; without the folder, it says how to make it."""
    from test_data import write_cifar10
    from test_folder import extract_slice

    write_cifar10(tmp_path / "cifar10" / "cifar-10-batches-bin", "binary", n_per_batch=24)
    jpeg = extract_slice(tmp_path / "jpeg")
    out = tmp_path / "bench.json"
    result = bench(
        "--parts=data", "--rounds=2", f"--folder={jpeg}", f"--data_dir={tmp_path}", f"--json={out}"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(out.read_text())["data"]
    assert len(found["folder"]["rounds"]) == len(found["binary"]["rounds"]) == 2
    assert found["throughput_ratio"] == round(
        found["folder"]["images_per_s"] / found["binary"]["images_per_s"], 3
    )
    assert "data: reading" in result.stdout and "images/s, ratio" in result.stdout
    result = bench("--parts=data", "--folder=no/such", f"--data_dir={tmp_path}")
    assert result.returncode == 0 and "data part skipped: no folder no/such" in result.stdout
