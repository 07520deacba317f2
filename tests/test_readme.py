"""The README's Python examples run as written, in order, as a user's session would run them:
on a small slice of the real CIFAR-10 JPEG folder (``folder:data/cifar10-jpeg``) and small
generated CIFAR-10 binary files in the default data folder (``$TF_INTROSPECT_DATA``), with one
change: ``epochs=160`` becomes ``epochs=1``. What the examples leave to the reader (the
teacher file of the distillation example) is made here first."""

import re

import keras
import pytest
from test_data import write_cifar10
from test_folder import extract_slice

README = __import__("pathlib").Path(__file__).resolve().parents[1] / "README.md"


def python_blocks():
    return re.findall(r"^```python\n(.*?)^```", README.read_text(), flags=re.M | re.S)


def test_the_readme_has_the_examples_this_test_runs():
    blocks = python_blocks()
    assert len(blocks) == 5, [b.splitlines()[0] for b in blocks]
    assert sum(b.count("epochs=160") for b in blocks) == 2  # the two this test shortens


def test_readme_examples_run(tmp_path, monkeypatch):
    import tf_introspect as ti

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TF_INTROSPECT_DATA", str(tmp_path / "cache"))
    write_cifar10(tmp_path / "cache" / "cifar10" / "cifar-10-batches-bin", "binary", 6, 10)
    extract_slice(tmp_path / "data" / "cifar10-jpeg", train=3, test=1)
    teacher = ti.models.get("resnet8")
    (tmp_path / "runs" / "teacher").mkdir(parents=True)
    teacher.save(tmp_path / "runs" / "teacher" / "model.keras")

    session = {}
    for i, block in enumerate(python_blocks()):
        code = block.replace("epochs=160", "epochs=1")
        try:
            exec(compile(code, f"README.md python block {i + 1}", "exec"), session)
        except Exception as e:  # name the block: the traceback's file is the README
            pytest.fail(f"README python block {i + 1} failed: {type(e).__name__}: {e}")
    assert isinstance(keras.models.load_model(tmp_path / "resnet8_le.keras"), keras.Model)
    assert session["q"].shape == (session["x"].shape[0], 10)
    assert (tmp_path / "runs" / "tb").is_dir()
