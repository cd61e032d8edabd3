"""The pipeline end to end on tiny real models: reproducibility, quantization, cards, report."""

from __future__ import annotations

import json

import numpy as np

from tinyrnn.convert.arena import GRANULARITY, _allocates
from tinyrnn.core.buildtree import read_json
from tinyrnn.report import write_report


def _model(root, cell):
    return next((root / "models").glob(f"*-{cell}-*"))


def test_same_seed_gives_identical_weights_and_tflite(tiny_build, tmp_path, small_watch_npz,
                                                       train_tiny):
    from tinyrnn.convert.tflite_export import convert_model
    from tinyrnn.train.fit import load_model

    first = _model(tiny_build, "lstm")
    again = train_tiny(tmp_path, small_watch_npz, "lstm", seed=0)
    for a, b in zip(load_model(first).get_weights(), load_model(again).get_weights(), strict=True):
        assert np.array_equal(a, b)
    convert_model(again)
    for name in ("float.tflite", "int8.tflite"):
        assert (again / name).read_bytes() == (first / name).read_bytes(), name
    other = train_tiny(tmp_path, small_watch_npz, "lstm", seed=1)
    assert not np.array_equal(load_model(other).get_weights()[0], load_model(first).get_weights()[0])


def test_rerun_skips_finished_work_and_keeps_results(tiny_build, small_watch_npz, train_tiny):
    d = _model(tiny_build, "lstm")
    before = {p.name: p.stat().st_mtime_ns for p in d.iterdir() if p.is_file()}
    train_tiny(tiny_build, small_watch_npz, "lstm", seed=0)
    from tinyrnn.convert.tflite_export import convert_model

    convert_model(d)
    after = {p.name: p.stat().st_mtime_ns for p in d.iterdir() if p.is_file()}
    assert after == before


def test_lstm_int8_is_fused_and_gru_variants_are_recorded(tiny_build):
    lstm = read_json(_model(tiny_build, "lstm") / "conversion.json")["variants"]
    assert lstm["int8"]["graph"] == "fused"
    assert lstm["int8"]["op_counts"]["UNIDIRECTIONAL_SEQUENCE_LSTM"] == 1
    assert "WHILE" not in lstm["float"]["op_counts"]
    gru_dir = _model(tiny_build, "gru")
    gru = read_json(gru_dir / "conversion.json")["variants"]
    assert gru["float"]["graph"] == "while"
    assert gru["int8"]["graph"] == "unrolled" and gru["int8"]["status"] == "ok"
    # TF 2.21's calibrator segfaults on the WHILE form: recorded, no file left behind.
    assert gru["int8_while"]["status"] == "crashed"
    assert "SIGSEGV" in gru["int8_while"]["error"]
    assert not (gru_dir / "int8_while.tflite").exists()


def test_card_figures(tiny_build):
    card = read_json(_model(tiny_build, "lstm") / "card.json")
    assert card["params_match_formula"]
    assert card["keras_params"] == 4 * (8 * (8 + 6) + 8) + 8 * 7 + 7
    # Weights and recurrent kernels are int8; biases int32 (the head's) and LSTM gate biases.
    assert card["int8_weight_bytes"] == 4 * 8 * (8 + 6) + 8 * 7
    assert card["macs_per_inference"] == 100 * 4 * 8 * (8 + 6) + 8 * 7
    assert card["int8_tflite_bytes"] == (_model(tiny_build, "lstm") / "int8.tflite").stat().st_size
    assert card["variants"]["int8"]["input"]["dtype"] == "INT8"


def test_measured_arena_is_the_smallest_that_works(tiny_build):
    d = _model(tiny_build, "lstm")
    arena = read_json(d / "card.json")["int8_tflm_arena_bytes"]
    assert _allocates(d / "int8.tflite", arena)
    assert not _allocates(d / "int8.tflite", arena - GRANULARITY)


def test_int8_accuracy_close_to_float_and_runtimes_agree(tiny_build):
    ev = read_json(_model(tiny_build, "lstm") / "evaluation.json")
    acc = {k: v["accuracy"] for k, v in ev["runtimes"].items()}
    assert set(acc) == {"keras_float", "tflite_float", "tflite_int8", "tflm_int8", "tinyrnn_int8"}
    assert acc["keras_float"] > 0.35  # well above 1/7 chance after eight epochs
    assert abs(acc["tflm_int8"] - acc["keras_float"]) <= 0.03
    assert ev["agreement"]["keras_float~tflite_float"] >= 0.99
    assert ev["agreement"]["tflite_int8~tflm_int8"] >= 0.95
    # TFLM's integer LSTM is its own scheme: small LSB differences against TFLite are expected.
    assert 0 <= ev["int8_lsb_difference"]["max_lsb"] <= 32
    cm = np.asarray(ev["runtimes"]["tflm_int8"]["confusion"])
    assert cm.sum() == ev["test_windows"] and cm.shape == (7, 7)


def test_tflm_reset_makes_windows_independent(tiny_build, small_watch_npz):
    from tinyrnn.convert.runtimes import run_tflm
    from tinyrnn.train.normalization import Normalization
    from tinyrnn.train.sources import load_dataset

    d = _model(tiny_build, "lstm")
    data = load_dataset(str(small_watch_npz))
    x = Normalization.from_json(read_json(d / "normalization.json")).apply(data.x_test[:6])
    arena = read_json(d / "card.json")["int8_tflm_arena_bytes"] + 256
    forward = run_tflm(d / "int8.tflite", x, arena).raw
    backward = run_tflm(d / "int8.tflite", x[::-1], arena).raw[::-1]
    assert np.array_equal(forward, backward)


def test_report_answers_with_numbers_and_plots(tiny_build):
    path = write_report(tiny_build)
    text = path.read_text()
    assert "GRU vs LSTM cost" in text
    assert "| LSTM |" in text and "| GRU |" in text
    assert "crashed" in text  # the impossible int8 WHILE variant is stated
    for png in ("accuracy_vs_cost.png", "confusion.png"):
        assert (path.parent / png).stat().st_size > 5000
        assert f"]({png})" in text
    json.dumps(text)


def test_tinyrnn_lstm_equals_tflm_on_every_real_window(tiny_build):
    ev = read_json(_model(tiny_build, "lstm") / "evaluation.json")
    assert ev["tinyrnn_vs_tflm"]["windows_identical"] == 1.0
    assert ev["runtimes"]["tinyrnn_int8"]["accuracy"] == ev["runtimes"]["tflm_int8"]["accuracy"]
    assert ev["deployed_int8_runtime"] == "tinyrnn_int8"


def test_gru_gets_a_compact_int8_model_from_our_quantizer(tiny_build):
    d = _model(tiny_build, "gru")
    card = read_json(d / "card.json")
    custom = card["variants"]["int8_custom"]
    assert custom["ops"].get("CUSTOM:TINYRNN_GRU") == 1
    int8_bytes = custom["constant_bytes_by_dtype"].get("INT8", 0)
    assert custom["tflite_bytes"] <= sum(custom["constant_bytes_by_dtype"].values()) + 4096
    assert int8_bytes > 0
    # The unrolled TF graph of the same GRU is two orders of magnitude larger.
    assert card["variants"]["int8"]["tflite_bytes"] > 20 * custom["tflite_bytes"]
    assert card["tinyrnn"]["macs"] == card["macs_per_inference"]
    ev = read_json(d / "evaluation.json")
    acc = ev["runtimes"]
    assert abs(acc["tinyrnn_int8"]["accuracy"] - acc["keras_float"]["accuracy"]) <= 0.03
    assert ev["agreement"]["keras_float~tinyrnn_int8"] >= 0.9
    assert (d / "tflm" / "int8_custom" / "model_data.cc").is_file()
