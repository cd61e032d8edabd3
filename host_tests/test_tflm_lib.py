"""The TFLM library builder (deploy/tflm_lib.py) without compiling anything: where the tree comes
from, what a variant compiles, what invalidates the cache, and the firmware's op resolver."""

from __future__ import annotations

import pytest

from tinyrnn.deploy import tflm_lib
from tinyrnn.deploy.tflm_firmware import arena_with_margin, resolver_ops


def test_missing_tree_names_the_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("TFLM_TREE", str(tmp_path / "nowhere"))
    with pytest.raises(tflm_lib.TflmUnavailable, match=r"TFLM_TREE=.*nowhere"):
        tflm_lib.find_tree()
    assert "TFLM_TREE" in (tflm_lib.unavailable_reason() or "")


def test_incomplete_tree_lists_what_is_missing(monkeypatch, tmp_path):
    (tmp_path / "tensorflow").mkdir()
    monkeypatch.setenv("TFLM_TREE", str(tmp_path))
    with pytest.raises(tflm_lib.TflmUnavailable, match=r"micro_interpreter\.cc"):
        tflm_lib.find_tree()


def _tree():
    reason = tflm_lib.unavailable_reason()
    if reason:
        pytest.skip(reason)
    return tflm_lib.find_tree()


def test_variants_compile_only_the_resolver_kernels():
    tree = _tree()
    ref = tflm_lib.sources(tree, "ref")
    cmsis = tflm_lib.sources(tree, "cmsis-nn")
    assert "reference_kernels/tensorflow/lite/micro/kernels/unidirectional_sequence_lstm.cc" in ref
    assert not any("cmsis_nn" in s for s in ref)
    assert "tensorflow/lite/micro/kernels/cmsis_nn/unidirectional_sequence_lstm.cc" in cmsis
    assert "third_party/cmsis_nn/Source/LSTMFunctions/arm_lstm_unidirectional_s8.c" in cmsis
    for s in ref + cmsis:
        assert not any(w in s for w in ("test", "fake_", "mock_", "recording_", "signal/",
                                        "kissfft", "conv.cc", "examples"))
    # The framework and the kernels CMSIS-NN does not replace are identical in both variants
    # (compiled once per core); what differs is each variant's version of those it replaces.
    shared = len(tflm_lib.FRAMEWORK) + len(tflm_lib.shared_kernel_sources())
    assert ref[:shared] == cmsis[:shared]
    assert "tensorflow/lite/micro/kernels/logistic.cc" in ref[:shared]
    assert {s.rsplit("/", 1)[1] for s in ref[shared:]} == tflm_lib.CMSIS_KERNELS
    assert not set(ref[shared:]) & set(cmsis[shared:])
    assert len(ref) < 100 and len(cmsis) < 160, "compile only what the resolver needs"


def test_cache_key_follows_flags_and_sources(tmp_path):
    (tmp_path / "a.cc").write_text("int a;\n")
    k1 = tflm_lib._key(tmp_path, ["a.cc"], ["-O2"])
    assert tflm_lib._key(tmp_path, ["a.cc"], ["-O2"]) == k1
    assert tflm_lib._key(tmp_path, ["a.cc"], ["-Os"]) != k1
    (tmp_path / "a.cc").write_text("int a = 1;\n")
    assert tflm_lib._key(tmp_path, ["a.cc"], ["-O2"]) != k1


def test_machine_flags_match_the_board():
    m4 = tflm_lib.Core.of_board("mps2-an386")
    assert m4.machine_flags() == ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard",
                                  "-mfpu=fpv4-sp-d16"]
    assert m4.has_dsp and not tflm_lib.Core.of_board("lm3s6965evb").has_dsp
    assert "CMSIS_NN" in tflm_lib.library_defines(m4, "cmsis-nn")
    assert "CMSIS_NN" not in tflm_lib.library_defines(m4, "ref")
    with pytest.raises(ValueError, match="no emulated board"):
        tflm_lib.Core.of_board("nano33ble")


def test_resolver_registers_each_op_once_and_flags_custom_ops():
    ops = ["CUSTOM:TINYRNN_GRU", "FULLY_CONNECTED", "SOFTMAX", "FULLY_CONNECTED"]
    assert resolver_ops(ops) == (["FULLY_CONNECTED", "SOFTMAX"], True)
    assert set(tflm_lib.OPS) == set(tflm_lib.RESOLVER_METHODS)


def test_arena_margin():
    assert arena_with_margin(6944) == 9712 and arena_with_margin(6944) % 16 == 0


def test_a_second_builder_waits_for_the_first(tmp_path, capsys) -> None:
    import subprocess
    import sys
    import time

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\n"
         "from pathlib import Path\n"
         "from tinyrnn.deploy.tflm_lib import _one_builder\n"
         "with _one_builder(Path(sys.argv[1]), 'cortex-m4', False):\n"
         "    print('held', flush=True)\n"
         "    time.sleep(1.5)\n", str(tmp_path)],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    start = time.monotonic()
    with tflm_lib._one_builder(tmp_path, "cortex-m4", True):
        waited = time.monotonic() - start
    assert waited > 1.0  # it got the lock only once the holder let go after 1.5 s
    assert "another process is building it, waiting" in capsys.readouterr().out
    with tflm_lib._one_builder(tmp_path, "cortex-m33", True):  # other cores do not wait
        pass
    holder.wait(timeout=10)
