"""The benchmark script runs every part and reports consistent numbers (no timing is asserted:
see docs/benchmarks.md). One smoke run (tiny steps, the MLP cases) serves most tests."""

import json
import math
import os
import subprocess
import sys

import pytest
from conftest import REPO, SHARED_DATA

SMOKE = ["--cases=mlp1024_b16_grad", "--rounds=1", "--steps=1",
         "--fit_cases=mlp1024_b16_ce,mlp1024_b16_le_grad", "--fit_steps=2", "--fit_warmup=1",
         "--fit_rounds=1", "--eval_steps=2", "--keras_cases=mlp1024_b16",
         "--protocols=table3_short,table2_short", "--explain_batch=2"]


def bench(*args, env=None):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    return subprocess.run([sys.executable, "-m", "tf_introspect.bench", *args], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300)


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
    assert r["le_over_ce"] == round(r["le_ms"] / r["ce_ms"], 3) or \
        abs(r["le_over_ce"] - r["le_ms"] / r["ce_ms"]) < 0.01


def test_fit_part_scales_steps_to_epochs_and_protocols(smoke):
    stdout, results = smoke
    assert "Epoch time through the command line's fit path" in stdout
    cases = results["fit"]["cases"]
    assert set(cases) == {"mlp1024_b16_ce", "mlp1024_b16_le_grad"}
    for name, r in cases.items():
        assert r["jit_compile"] and not r["op_determinism"]     # the MLP: XLA (auto)
        assert (r["train_steps_per_epoch"], r["eval_steps_per_epoch"]) == (3750, 625)
        assert r["ms_per_step"] > 0 and r["eval_ms_per_step"] > 0
        assert r["fit_overhead_s"] >= 0 and r["eval_overhead_s"] >= 0
        assert r["s_per_epoch"] == pytest.approx(
            3750 * r["ms_per_step"] / 1e3 + r["fit_overhead_s"] + 625 * r["eval_ms_per_step"] / 1e3
            + r["eval_overhead_s"], rel=1e-3, abs=0.02)
        if (SHARED_DATA / "mnist").exists():
            assert r["data"].startswith("real")
    assert cases["mlp1024_b16_le_grad"]["warmup_epochs"] == 10
    # table3_short by hand: 10 epochs; CE, LS, CP, Dropout cost CE (grid points on 55,000
    # images, validated on the 5,000 held out); LE and LE-Permut: 2 warm-up epochs at CE cost
    ce, le = cases["mlp1024_b16_ce"], cases["mlp1024_b16_le_grad"]

    def epoch(case, train, held_out=0):
        evals = math.ceil((held_out or 10000) / 16)
        return (math.ceil(train / 16) * case["ms_per_step"] / 1e3 + case["fit_overhead_s"]
                + evals * case["eval_ms_per_step"] / 1e3 + case["eval_overhead_s"])

    grids = 4 + 4 + 7
    seconds = (grids * 10 * epoch(ce, 55000, 5000) + 4 * 5 * 10 * epoch(ce, 60000)
               + 2 * 5 * (2 * epoch(ce, 60000) + 8 * epoch(le, 60000)))
    short = results["fit"]["protocols"]["table3_short"]
    assert (short["runs"], short["grid_runs"], short["epochs"]) == (45, 15, 450)
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
        assert case["speedup"] == pytest.approx(case["tf_keras_vis_ms"] / case["ours_ms"],
                                                rel=0.01)


def test_explain_part_without_tf_keras_vis(tmp_path):
    """tf-keras-vis is optional: without it the part says how to install it, and the run
    succeeds (here its import is made to fail)."""
    shim = tmp_path / "shim" / "tf_keras_vis"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError('simulated: not installed')\n")
    out = tmp_path / "bench.json"
    path = os.pathsep.join(filter(None, [str(shim.parent), os.environ.get("PYTHONPATH")]))
    result = bench("--parts=explain", "--explain_batch=2", "--rounds=1", f"--json={out}",
                   env={"PYTHONPATH": path})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "pip install -r requirements-bench.txt" in result.stdout
    r = json.loads(out.read_text())["explain"]
    assert r["status"] == "skipped" and "simulated" in r["reason"]


def test_bench_rejects_unknown_cases():
    result = bench("--cases=vgg")
    assert result.returncode != 0 and "valid choices: resnet8_b128_grad_cam" in result.stderr
    result = bench("--parts=steps,speed")
    assert result.returncode != 0 and "valid choices: steps, fit, keras, explain" in result.stderr
