"""The tinyrnn-vs-TFLM report section reads device_compare.json rows and computes the ratios."""

from __future__ import annotations

import json

from tinyrnn.report_compare import compare_section, ratios


def _row(backend, instr, flash, static, stack, graph="fused LSTM op"):
    return {"model": "m", "cell": "lstm", "board": "mps2-an386", "backend": backend,
            "graph": graph, "model_file": "int8.tflite", "status": "ok",
            "instructions_per_inference": instr, "flash_bytes": flash, "static_ram_bytes": static,
            "stack_peak_bytes": stack, "peak_ram_bytes": static + stack, "windows": 5,
            "outputs_differing": 0, "max_lsb_diff": 0, "reference": "r"}


def test_ratios_and_section(tmp_path):
    rows = [_row("tinyrnn", 1000, 20000, 1000, 200), _row("tflm-cmsis-nn", 3000, 100000, 11000, 1000),
            _row("tflm", 8000, 80000, 11000, 1000),
            {"model": "m", "board": "lm3s6965evb", "backend": "tflm", "graph": "g",
             "model_file": "int8.tflite", "status": "does not fit", "detail": "flash: needs"}]
    (q,) = ratios(rows)
    assert (q["instructions"], q["flash"], q["peak_ram"]) == (0.333, 0.2, 0.1)
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "device_compare.json").write_text(json.dumps(rows))
    text = "\n".join(compare_section(tmp_path))
    assert "instructions (emulated)" in text and "**does not fit**" in text
    assert "| m | mps2-an386 | fused LSTM op | 0.333 | 0.2 | 0.1 |" in text
    assert compare_section(tmp_path / "nothing") == []
