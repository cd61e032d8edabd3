"""C99 emission of a ModelPlan: <prefix>.h (the API the firmware codes against; tinyrnn_model.h
by default, see symbols.py) and <prefix>.c (const weights, layer descriptors, static state and
arena, API functions, input quantization).
Output depends only on the plan and the metadata, so the same .tflite gives identical bytes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .arena import Buffer, plan_arena
from .plan import GATES, FcOp, ModelPlan, SoftmaxOp
from .symbols import DEFAULT_SYMBOLS, Symbols


@dataclass
class EmittedModel:
    files: dict[str, str]
    arena_bytes: int
    state_bytes: int
    weight_bytes: int      # bytes of the const arrays holding weights, biases, multipliers
    descriptor_bytes: int  # bytes of the small const layer descriptors and class names
    macs: int
    # Zero int8 weights the pair-packed kernels add to the model's own (one per row for an odd
    # input or unit count, whole rows up to a multiple of four units): the firmware's weight
    # arrays are this much larger than the .tflite's (deploy/device_eval.py compares them).
    # Per weight array: a packed layer has its gate-pair array k_l<i>_w and, for the Helium
    # builds, k_l<i>_w8 (whose padding ends with the 16 bytes the kernel's loads reach); a
    # firmware holds one of the two, so its padding is the sum over the arrays it links.
    weight_padding_by_array: dict[str, int] = field(default_factory=dict)

    @property
    def weight_padding_bytes(self) -> int:
        """The padding of the gate-pair arrays (k_l<i>_w), every build but Helium's."""
        return sum(v for k, v in self.weight_padding_by_array.items() if k.endswith("_w"))


def c_float(x: float) -> str:
    if not math.isfinite(x):
        raise ValueError(f"non-finite constant {x}")
    s = format(float(np.float32(x)), ".9g")
    if not any(ch in s for ch in ".en"):
        s += ".0"
    return s + "f"


def c_string(s: str) -> str:
    out = []
    for ch in s:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 32 <= o < 127 and ch != "?":  # '?' could start a trigraph
            out.append(ch)
        else:
            for b in ch.encode("utf-8"):
                out.append(f"\\{b:03o}")
    return '"' + "".join(out) + '"'


def _array(ctype: str, name: str, values: Sequence[int] | np.ndarray, per_line: int) -> str:
    vals = [int(v) for v in np.asarray(values).reshape(-1)]
    suffix = "u" if ctype.startswith("uint") else ""
    lines = []
    for i in range(0, len(vals), per_line):
        lines.append("  " + ", ".join(f"{v}{suffix}" for v in vals[i:i + per_line]) + ",")
    body = "\n".join(lines) if lines else "  0,"
    return f"static const {ctype} {name}[{max(len(vals), 1)}] = {{\n{body}\n}};\n"


def _aligned_i16(name: str, values: np.ndarray) -> str:
    """int16 array starting on a 4-byte boundary (the DSP kernel reads it with LDRD/LDM)."""
    vals = [int(v) for v in np.asarray(values).reshape(-1)]
    lines = ["    " + ", ".join(str(v) for v in vals[i:i + 16]) + ","
             for i in range(0, len(vals), 16)]
    return (f"static const union {{\n  uint32_t align;\n  int16_t v[{len(vals)}];\n}} {name} = "
            "{\n  .v = {\n" + "\n".join(lines) + "\n  }\n};\n")


def _pairs(n: int) -> int:
    """int16 input pairs of the packed kernel (an odd length gets one zero weight)."""
    return (n + 1) // 2


def _pack_side(ws: list[np.ndarray]) -> np.ndarray | None:
    """Gate-pair packed words for tinyrnn_lstm_packed.h: ws = four int8 [units, n] matrices
    (gates i, f, c, o). Returns int16 [units, ceil(n/2), 2, 2] or None if a pair does not fit."""
    units, n = ws[0].shape
    order = _pair_order(n)
    out = np.zeros((units, len(order), 2, 2), np.int16)
    for p, (a, b) in enumerate(((ws[0], ws[1]), (ws[2], ws[3]))):
        half = 256 * b.astype(np.int64) + a.astype(np.int64)
        if half.size and (half.min() < -32768 or half.max() > 32767):
            return None
        half = np.concatenate([half, np.zeros((units, 1), np.int64)], axis=1)
        for q, (lo, hi) in enumerate(order):
            out[:, q, p, 0] = half[:, lo]
            out[:, q, p, 1] = half[:, hi]
    return out  # [units][pairs][gate pair][lane]


def _pair_order(n: int) -> list[tuple[int, int]]:
    """Input indices (low, high halfword) of each word, as tinyrnn_pack2 lays them out; index n
    stands for the zero padding."""
    order = []
    for g in range(n // 4):
        k = 4 * g
        order += [(k, k + 2), (k + 1, k + 3)]
    k = n // 4 * 4
    rest = n - k
    if rest >= 2:
        order.append((k, k + 1))
        if rest == 3:
            order.append((k + 2, n))
    elif rest == 1:
        order.append((k, n))
    assert len(order) == _pairs(n)
    return order


def _packed_ok(layer) -> bool:
    """The packed kernel's range conditions (see tinyrnn_lstm_packed.h)."""
    if layer.input_size > 254 or layer.units > 254:
        return False
    for gi, g in enumerate(layer.gates[name] for name in GATES):
        for w, b, shift in ((g.w_in, g.bias_in, g.shift_in), (g.w_rec, g.bias_rec, g.shift_rec)):
            bound = int(np.abs(w.astype(np.int64)).sum(axis=1).max(initial=0)) * 128 + \
                int(np.abs(b.astype(np.int64)).max(initial=0))
            if (2 * bound) << max(shift, 0) >= 1 << 31 or -shift > 31:
                return False
            # gates f and o are the B halves: 256 * 2(dot + bias) must stay inside int32
            if gi in (1, 3) and 512 * bound >= 1 << 31:
                return False
    return True


def _bias_pairs(gs: list) -> tuple[np.ndarray, np.ndarray]:
    """Accumulator initial values {2bi, 2bi + 512bf, 2bc, 2bc + 512bo} per unit (int32)."""
    out = []
    for side in ("bias_in", "bias_rec"):
        b = [2 * getattr(g, side).astype(np.int64) for g in gs]
        v = np.stack([b[0], b[0] + 256 * b[1], b[2], b[2] + 256 * b[3]], axis=1)
        assert np.abs(v).max(initial=0) < 1 << 31
        out.append(v)
    return out[0], out[1]


def w8_stream(w_in: np.ndarray, w_rec: np.ndarray, b_in: np.ndarray, b_rec: np.ndarray,
              quads: list[list[tuple[int, int]]]) -> tuple[np.ndarray, np.ndarray]:
    """The Helium kernels' int8 rows (TINYRNN_W8_DOTS, tinyrnn_lstm_packed.h) from gate-major
    [G][units][n] weights and [G][units] start values: per quad of (gate, unit) rows, the four
    input rows then the four recurrent rows, unpadded, and 16 zero bytes after the last (the
    kernel's 16-byte loads reach past a short row); start values in the same order (input
    four, recurrent four)."""
    rows: list[np.ndarray] = []
    starts: list[np.ndarray] = []
    for quad in quads:
        for w, b in ((w_in, b_in), (w_rec, b_rec)):
            rows += [w[g, k].astype(np.int64) for g, k in quad]
            starts.append(np.array([int(b[g, k]) for g, k in quad], np.int64))
    return np.concatenate([*rows, np.zeros(16, np.int64)]), np.concatenate(starts)


def pair_arrays(i: int, pairs: np.ndarray, starts2: np.ndarray) -> str:
    """Layer i's gate-pair halfwords and start values, named K_L<i>_W / K_L<i>_B for its
    descriptor."""
    return (_aligned_i16(f"k_l{i}_w", pairs) + _array("int32_t", f"k_l{i}_b", starts2, 8)
            + f"#define K_L{i}_W k_l{i}_w.v\n#define K_L{i}_B k_l{i}_b\n")


def w8_or_pairs(i: int, n_in: int, units: int, w8: tuple[np.ndarray, np.ndarray],
                pairs: np.ndarray, starts2: np.ndarray) -> str:
    """Layer i's weight arrays for both builds: the int8 rows where TINYRNN_W8 holds (Helium),
    the gate pairs (pair_arrays) elsewhere, K_L<i>_W / K_L<i>_B naming whichever is compiled."""
    return (f"#if TINYRNN_W8({n_in}, {units})\n"
            + _array("int8_t", f"k_l{i}_w8", w8[0], 24)
            + _array("int32_t", f"k_l{i}_b8", w8[1], 8)
            + f"#define K_L{i}_W ((const int16_t *)(const void *)k_l{i}_w8)\n"
            f"#define K_L{i}_B k_l{i}_b8\n#else\n"
            + pair_arrays(i, pairs, starts2) + "#endif\n")


# init/step/invoke are the same for every cell: run_layers and run_head hold what differs.
def model_api_functions(s: Symbols, has_normalization: bool) -> str:
    """init/step/invoke, then the input quantization functions the header declares."""
    steps, channels = s.macro("STEPS"), s.macro("CHANNELS")
    api = (
        f"int {s.fn('init')}(void) {{\n  {s.fn('reset')}();\n  return 0;\n}}\n\n"
        f"int {s.fn('step')}(const int8_t *frame, int8_t *output) {{\n"
        "  if (frame == 0 || output == 0) {\n    return -1;\n  }\n"
        "  run_layers(frame);\n  run_head(output);\n  return 0;\n}\n\n"
        f"int {s.fn('invoke')}(const int8_t *input, int8_t *output) {{\n"
        "  uint16_t t;\n"
        "  if (input == 0 || output == 0) {\n    return -1;\n  }\n"
        f"  {s.fn('reset')}();\n"
        f"  for (t = 0; t < {steps}; ++t) {{\n"
        f"    run_layers(input + (uint32_t)t * {channels});\n  }}\n"
        "  run_head(output);\n  return 0;\n}\n\n"
        # The rule of tinyrnn/core/quantization.py, operation for operation: x / scale in
        # double, ties away from zero (TFLM's QUANTIZE), so host and device inputs agree bit
        # for bit. Beyond +-512 steps every zero point saturates, which keeps the cast defined.
        "static int8_t quantize_one(float x) {\n"
        f"  double v = (double)x / (double){s.macro('INPUT_SCALE')};\n"
        "  int32_t q;\n"
        f"  if (v != v) {{\n    return (int8_t){s.macro('INPUT_ZERO_POINT')};  /* NaN */\n  }}\n"
        "  if (v > 512.0) {\n    v = 512.0;\n  } else if (v < -512.0) {\n    v = -512.0;\n  }\n"
        "  q = v < 0.0 ? -(int32_t)(-v + 0.5) : (int32_t)(v + 0.5);\n"
        f"  q += {s.macro('INPUT_ZERO_POINT')};\n"
        "  return (int8_t)(q < -128 ? -128 : (q > 127 ? 127 : q));\n}\n\n"
        f"void {s.fn('quantize_input')}(const float *x, int8_t *out, uint32_t frames) {{\n"
        f"  uint32_t i;\n  const uint32_t n = frames * {channels};\n"
        "  for (i = 0; i < n; ++i) {\n    out[i] = quantize_one(x[i]);\n  }\n}\n"
    )
    if has_normalization:
        # float32 (x - mean) / std, as tinyrnn/train/normalization.py computes on the host
        api += (
            f"\nvoid {s.fn('quantize_raw_input')}(const float *raw, int8_t *out, "
            "uint32_t frames) {\n"
            "  uint32_t t, c;\n"
            "  for (t = 0; t < frames; ++t) {\n"
            f"    for (c = 0; c < {channels}; ++c) {{\n"
            f"      const uint32_t i = t * {channels} + c;\n"
            f"      const float z = (raw[i] - {s.fn('norm_mean')}[c]) / {s.fn('norm_std')}[c];\n"
            "      out[i] = quantize_one(z);\n    }\n  }\n}\n"
        )
    return api


def emit_run_head(plan: ModelPlan, offsets: dict[str, int], layers: int, last_units: int
                  ) -> list[str]:
    """run_head(): the dense head over the last layer's hidden state, through the arena."""
    c = ["static void run_head(int8_t *output) {\n"]
    src = f"s_state.h{layers - 1}"
    if not plan.head:
        c.append(f"  memcpy(output, {src}, {last_units});\n")
    for k, op in enumerate(plan.head):
        dst = "output" if k == len(plan.head) - 1 else f"ARENA({offsets[f'head{k}']})"
        fn = "tinyrnn_fc" if isinstance(op, FcOp) else "tinyrnn_softmax"
        c.append(f"  {fn}(&k_h{k}, {src}, {dst});\n")
        src = dst
    c.append("}\n\n")
    return c


def emit_header(plan: ModelPlan, *, name: str, arena_bytes: int, state_bytes: int,
                weight_bytes: int, macs: int, symbols: Symbols, has_normalization: bool,
                after_name: Sequence[str] = (), layer_defines: Sequence[str] = ()) -> str:
    """<prefix>.h: the same API and constants for every cell; ``after_name`` and
    ``layer_defines`` carry the cell-specific #defines (already prefixed)."""
    K = plan.output_size
    s = symbols
    m = s.macro
    h = [
        f"/* Generated by tinyrnn compile for model {c_string(name)[1:-1]}: do not edit.\n"
        " *\n"
        f" * Contract: {s.fn('invoke')}() = reset() + step() over all {m('STEPS')} frames,\n"
        " * then the head. step() keeps the recurrent state and applies the head to the current\n"
        " * hidden state, so stepping a window after reset() ends with exactly invoke()'s output.\n"
        f" * Inputs: {s.fn('quantize_input')}() quantizes normalized floats as\n"
        " * q = round(x / INPUT_SCALE) + INPUT_ZERO_POINT (ties away from zero), clamped to int8;\n"
        f" * {s.fn('quantize_raw_input')}() (when {m('HAS_NORMALIZATION')}) first applies\n"
        " * x = (raw - mean) / std. Not reentrant: one instance, static buffers. Every external\n"
        f" * name starts with {s.prefix} / {s.prefix.upper()}, so other models link beside it. */\n",
        f"#ifndef {s.guard}\n#define {s.guard}\n\n#include <stdint.h>\n\n",
        '#ifdef __cplusplus\nextern "C" {\n#endif\n\n',
        f"#define {m('NAME')} {c_string(name)}\n",
        *after_name,
        f"#define {m('STEPS')} {plan.steps}\n",
        f"#define {m('CHANNELS')} {plan.channels}\n",
        f"#define {m('INPUT_SIZE')} ({m('STEPS')} * {m('CHANNELS')})\n",
        f"#define {m('OUTPUT_SIZE')} {K}\n",
        f"#define {m('INPUT_SCALE')} {c_float(plan.input_scale)}\n",
        f"#define {m('INPUT_ZERO_POINT')} {plan.input_zp}\n",
        f"#define {m('OUTPUT_SCALE')} {c_float(plan.output_scale)}\n",
        f"#define {m('OUTPUT_ZERO_POINT')} {plan.output_zp}\n",
        f"#define {m('ARENA_BYTES')} {arena_bytes}   /* static scratch */\n",
        f"#define {m('STATE_BYTES')} {state_bytes}   /* recurrent state */\n",
        f"#define {m('WEIGHT_BYTES')} {weight_bytes}\n",
        f"#define {m('MACS')} {macs}   /* per inference (whole window) */\n",
        f"#define {m('HAS_NORMALIZATION')} {int(has_normalization)}"
        "   /* mean/std of the training data are known */\n",
        *layer_defines,
        f"extern const char *const {s.fn('class_names')}[{m('OUTPUT_SIZE')}];\n",
        f"extern const float {s.fn('norm_mean')}[{m('CHANNELS')}];\n",
        f"extern const float {s.fn('norm_std')}[{m('CHANNELS')}];\n\n",
        f"int  {s.fn('init')}(void);  /* 0 = ok */\n",
        f"void {s.fn('reset')}(void);  /* clear recurrent state */\n",
        "/* whole window [T][C] -> [K]; resets the state first, like a fresh window */\n",
        f"int  {s.fn('invoke')}(const int8_t *input, int8_t *output);\n",
        "/* one time step [C]; state kept; output = head applied to the current hidden state */\n",
        f"int  {s.fn('step')}(const int8_t *frame, int8_t *output);\n\n",
        "/* normalized floats [frames][C] -> int8 input (the host's rule, bit for bit) */\n",
        f"void {s.fn('quantize_input')}(const float *x, int8_t *out, uint32_t frames);\n",
    ]
    if has_normalization:
        h += ["/* raw sensor floats [frames][C] -> (raw - mean) / std -> int8 input */\n",
              f"void {s.fn('quantize_raw_input')}(const float *raw, int8_t *out, "
              "uint32_t frames);\n"]
    h += [
        '\n#ifdef __cplusplus\n}\n#endif\n\n',
        f"#endif /* {s.guard} */\n",
    ]
    return "".join(h)


def emit_head_and_metadata(plan: ModelPlan, class_names: Sequence[str], mean: Sequence[float],
                           std: Sequence[float], symbols: Symbols
                           ) -> tuple[list[str], int, int]:
    """The dense head's const arrays and descriptors, then class names and normalization.

    Shared by every recurrent cell's emitter. Returns (C chunks, weight bytes, descriptor bytes).
    """
    c: list[str] = []
    weight_bytes = 0
    descriptor_bytes = 0
    for k, op in enumerate(plan.head):
        if isinstance(op, FcOp):
            c.append(f"/* Dense head layer {k}: {op.in_size} -> {op.out_size}. */\n")
            c.append(_array("int8_t", f"k_h{k}_w", op.weights, 24))
            c.append(_array("int32_t", f"k_h{k}_b", op.bias, 8))
            c.append(_array("int32_t", f"k_h{k}_mult", op.mult, 8))
            c.append(_array("int32_t", f"k_h{k}_shift", op.shift, 16))
            weight_bytes += op.weights.size + 4 * 3 * op.out_size
            c.append(
                f"static const tinyrnn_fc_t k_h{k} = {{{op.in_size}, {op.out_size}, k_h{k}_w, "
                f"k_h{k}_b, k_h{k}_mult, k_h{k}_shift,\n  {op.out_zp}, {op.act_min}, "
                f"{op.act_max}}};\n\n"
            )
            descriptor_bytes += 32
        else:
            assert isinstance(op, SoftmaxOp)
            c.append(f"/* Softmax over {op.size} classes. */\n")
            c.append(f"static const tinyrnn_softmax_t k_h{k} = {{{op.size}, {op.mult}, "
                     f"{op.left_shift}, {op.diff_min}}};\n\n")
            descriptor_bytes += 16

    s = symbols
    c.append(f"const char *const {s.fn('class_names')}[{s.macro('OUTPUT_SIZE')}] = {{\n")
    c.append("".join(f"  {c_string(n)},\n" for n in class_names))
    c.append("};\n")
    descriptor_bytes += sum(len(n.encode()) + 1 + 4 for n in class_names)
    c.append(f"const float {s.fn('norm_mean')}[{s.macro('CHANNELS')}] = {{"
             + ", ".join(c_float(v) for v in mean) + "};\n")
    c.append(f"const float {s.fn('norm_std')}[{s.macro('CHANNELS')}] = {{"
             + ", ".join(c_float(v) for v in std) + "};\n\n")
    return c, weight_bytes, descriptor_bytes


def emit(plan: ModelPlan, *, name: str, mean: Sequence[float], std: Sequence[float],
         class_names: Sequence[str], source_sha256: str, symbols: Symbols = DEFAULT_SYMBOLS,
         has_normalization: bool = False) -> EmittedModel:
    s = symbols
    L = len(plan.layers)
    # Arena: per-layer h' scratch at time slots 0..L-1; head op k at slot L+k writes a buffer
    # read at slot L+k+1. The last head op writes straight into the caller's output.
    buffers = [Buffer(f"lstm{i}", layer.units, i, i) for i, layer in enumerate(plan.layers)]
    for k in range(len(plan.head) - 1):
        op = plan.head[k]
        size = op.out_size if isinstance(op, FcOp) else op.size
        buffers.append(Buffer(f"head{k}", size, L + k, L + k + 1))
    packed = [None] * L
    for i, layer in enumerate(plan.layers):
        gs = [layer.gates[g] for g in GATES]
        if _packed_ok(layer):
            pw_in = _pack_side([g.w_in for g in gs])
            pw_rec = _pack_side([g.w_rec for g in gs])
            if pw_in is not None and pw_rec is not None:
                packed[i] = (pw_in, pw_rec)
    # Arena: per-layer scratch (h' for the generic kernel, int16 input pairs for the packed one).
    for i, layer in enumerate(plan.layers):
        if packed[i] is not None:
            # int16 input pairs (stored twice over for the portable path)
            buffers[i] = Buffer(f"lstm{i}",
                                8 * (_pairs(layer.input_size) + _pairs(layer.units)), i, i)
    offsets, arena_bytes = plan_arena(buffers)
    # int16 cell states then int8 hidden states; the struct pads to its 2-byte alignment.
    state_bytes = (sum(3 * layer.units for layer in plan.layers) + 1) // 2 * 2

    c: list[str] = []
    weight_bytes = 0
    pad_by_array: dict[str, int] = {}  # zero weights of the packed kernels (EmittedModel)
    descriptor_bytes = 0
    c.append(f"/* Generated by tinyrnn compile for model {c_string(name)[1:-1]}: do not edit.\n"
             f" * Source .tflite sha256 {source_sha256}.\n"
             " * Bit-exact with TensorFlow Lite Micro's reference kernels (see tinyrnn.h). */\n")
    c.append('#include <string.h>\n\n#include "tinyrnn.h"\n'
             + ('#include "tinyrnn_lstm_packed.h"\n' if any(p is not None for p in packed) else '')
             + f'#include "{s.header}"\n\n')
    c.append(f"typedef char {s.fn('check_units_')}[(TINYRNN_MAX_UNITS >= "
             f"{max(layer.units for layer in plan.layers)}) ? 1 : -1];\n\n")


    for i, layer in enumerate(plan.layers):
        U, n_in = layer.units, layer.input_size
        gs = [layer.gates[g] for g in GATES]
        if packed[i] is not None:
            pw_in, pw_rec = packed[i]
            b2_in, b2_rec = _bias_pairs(gs)
            c.append(f"/* LSTM layer {i}: {n_in} inputs, {U} units, gate-pair packed int8 weights "
                     "(see tinyrnn_lstm_packed.h). */\n")
            # one stream per unit (input then recurrent), so the kernel walks a single pointer
            pw = np.concatenate([pw_in.reshape(U, -1), pw_rec.reshape(U, -1)], axis=1)
            b2 = np.concatenate([b2_in, b2_rec], axis=1)
            # per unit one quad: its four gates
            w8 = w8_stream(np.stack([g.w_in for g in gs]), np.stack([g.w_rec for g in gs]),
                           np.stack([g.bias_in for g in gs]), np.stack([g.bias_rec for g in gs]),
                           [[(g, j) for g in range(4)] for j in range(U)])
            c.append(w8_or_pairs(i, n_in, U, w8, pw, b2))
            weight_bytes += 2 * pw.size + 4 * b2.size
            own = sum(g.w_in.size + g.w_rec.size for g in gs)
            pad_by_array[f"k_l{i}_w"] = 2 * pw.size - own
            pad_by_array[f"k_l{i}_w8"] = w8[0].size - own

            def quad4(vals: list[int]) -> str:
                return "{" + ", ".join(str(v) for v in vals) + "}"

            c.append(
                f"static const tinyrnn_lstm_packed_t k_l{i} = {{\n  {n_in}, {U}, "
                f"{_pairs(n_in)}, {_pairs(U)},\n"
                f"  K_L{i}_W, K_L{i}_B,\n"
                f"  {quad4([g.mult_in for g in gs])}, {quad4([max(g.shift_in, 0) for g in gs])}, "
                f"{quad4([max(-g.shift_in, 0) for g in gs])},\n"
                f"  {quad4([g.mult_rec for g in gs])}, {quad4([max(g.shift_rec, 0) for g in gs])}, "
                f"{quad4([max(-g.shift_rec, 0) for g in gs])},\n"
                f"  {1 if layer.cell_gate_tanh else 0}, {layer.cell_scale_power}, "
                f"{layer.cell_clip},\n"
                f"  {layer.mult_fc}, {layer.shift_fc}, {layer.mult_ig}, {layer.shift_ig}, "
                f"{layer.mult_h}, {layer.shift_h},\n  {layer.hidden_zp}\n}};\n\n"
            )
            descriptor_bytes += 8 + 4 * 4 + 24 * 4 + 10 * 4
            continue
        # Unit-major: the four gate rows of unit j sit together ([U][4][n]).
        w_in = np.stack([g.w_in for g in gs], axis=1)
        w_rec = np.stack([g.w_rec for g in gs], axis=1)
        b_in = np.stack([g.bias_in for g in gs], axis=1)
        b_rec = np.stack([g.bias_rec for g in gs], axis=1)
        c.append(f"/* LSTM layer {i}: {n_in} inputs, {U} units; per unit the gate rows input, "
                 "forget, cell, output. */\n")
        c.append(_array("int8_t", f"k_l{i}_w_in", w_in, 24))
        c.append(_array("int8_t", f"k_l{i}_w_rec", w_rec, 24))
        c.append(_array("int32_t", f"k_l{i}_b_in", b_in, 8))
        c.append(_array("int32_t", f"k_l{i}_b_rec", b_rec, 8))
        weight_bytes += w_in.size + w_rec.size + 4 * (b_in.size + b_rec.size)

        def quad(vals: list[int]) -> str:
            return "{" + ", ".join(str(v) for v in vals) + "}"

        c.append(
            f"static const tinyrnn_lstm_t k_l{i} = {{\n  {n_in}, {U},\n"
            f"  k_l{i}_w_in, k_l{i}_w_rec, k_l{i}_b_in, k_l{i}_b_rec,\n"
            f"  {quad([g.mult_in for g in gs])}, {quad([g.shift_in for g in gs])},\n"
            f"  {quad([g.mult_rec for g in gs])}, {quad([g.shift_rec for g in gs])},\n"
            f"  {1 if layer.cell_gate_tanh else 0}, {layer.cell_scale_power}, "
            f"{layer.cell_clip},\n"
            f"  {layer.mult_fc}, {layer.shift_fc}, {layer.mult_ig}, {layer.shift_ig}, "
            f"{layer.mult_h}, {layer.shift_h},\n  {layer.hidden_zp}\n}};\n\n"
        )
        descriptor_bytes += 4 + 4 * 4 + 16 * 4 + 10 * 4

    head_c, head_weights, head_descriptors = emit_head_and_metadata(
        plan, class_names, mean, std, s)
    c.extend(head_c)
    weight_bytes += head_weights
    descriptor_bytes += head_descriptors

    # State: int16 cell states first so the struct has no padding.
    c.append(f"/* Recurrent state ({s.macro('STATE_BYTES')}): cell states, then hidden "
             "states. */\n")
    c.append("static struct {\n")
    c.extend(f"  int16_t c{i}[{layer.units}];\n" for i, layer in enumerate(plan.layers))
    c.extend(f"  int8_t h{i}[{layer.units}];\n" for i, layer in enumerate(plan.layers))
    c.append("} s_state;\n")
    c.append(f"typedef char {s.fn('check_state_')}[(sizeof(s_state) == "
             f"{s.macro('STATE_BYTES')}) ? 1 : -1];\n\n")
    c.append(f"/* Scratch arena ({s.macro('ARENA_BYTES')}), offsets planned at compile "
             "time:\n")
    for b in buffers:
        c.append(f" *   {b.name:<8} {b.size:>5} B at {offsets[b.name]:>5}, live in slots "
                 f"{b.first}..{b.last}\n")
    c.append(" */\n")
    c.append(f"static int32_t s_arena[{(arena_bytes + 3) // 4}];\n")
    c.append("#define ARENA(offset) ((int8_t *)s_arena + (offset))\n\n")

    c.append("static void run_layers(const int8_t *frame) {\n")
    prev = "frame"
    for i in range(L):
        if packed[i] is not None:
            c.append(f"  tinyrnn_lstm_packed_step(&k_l{i}, {prev}, s_state.h{i}, s_state.c{i}, "
                     f"ARENA({offsets[f'lstm{i}']}));\n")
        else:
            c.append(f"  tinyrnn_lstm_step(&k_l{i}, {prev}, s_state.h{i}, s_state.c{i}, "
                     f"ARENA({offsets[f'lstm{i}']}));\n")
        prev = f"s_state.h{i}"
    c.append("}\n\n")
    c.extend(emit_run_head(plan, offsets, L, plan.layers[-1].units))
    c.append(f"void {s.fn('reset')}(void) {{\n")
    c.extend(f"  tinyrnn_lstm{'_packed' if packed[i] is not None else ''}_reset(&k_l{i}, "
             f"s_state.h{i}, s_state.c{i});\n" for i in range(L))
    c.append("}\n\n")
    c.append(model_api_functions(s, has_normalization))

    header = emit_header(plan, name=name, arena_bytes=arena_bytes,
                         state_bytes=state_bytes, weight_bytes=weight_bytes, macs=plan.macs(),
                         symbols=s, has_normalization=has_normalization,
                         layer_defines=[f"#define {s.macro('LSTM_LAYERS')} {L}\n\n"])
    return EmittedModel({s.header: header, s.source: "".join(c)},
                        arena_bytes, state_bytes, weight_bytes, descriptor_bytes, plan.macs(),
                        pad_by_array)
