"""The benchmark script runs and reports its ratios (no timing is asserted: see BUILD.md)."""

import json
import os
import subprocess
import sys

from conftest import REPO


def bench(*args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, "-m", "tf_introspect.bench", *args], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300)


def test_bench_reports_ratios(tmp_path):
    out = tmp_path / "bench.json"
    result = bench("--rounds=1", "--steps=1", "--cases=mlp1024_b16_grad", f"--json={out}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "mlp1024_b16_grad" in result.stdout
    r = json.loads(out.read_text())["mlp1024_b16_grad"]
    assert {"ce_ms", "le_ms", "le_warmup_ms", "le_over_ce", "le_warmup_over_ce"} <= set(r)
    assert r["le_over_ce"] == round(r["le_ms"] / r["ce_ms"], 3) or \
        abs(r["le_over_ce"] - r["le_ms"] / r["ce_ms"]) < 0.01


def test_bench_rejects_unknown_cases():
    result = bench("--cases=vgg")
    assert result.returncode != 0 and "valid choices: resnet8_b128_grad_cam" in result.stderr
