"""C99 emission for GRU / SimpleRNN plans (custom ops TINYRNN_GRU / TINYRNN_RNN).

Same generated API and header macros as the LSTM emitter (emit.py): <prefix>_init, reset,
invoke (= reset + step over every frame + head), step and quantize_input; <PREFIX>_ARENA_BYTES,
STATE_BYTES, WEIGHT_BYTES, MACS. Kept in its own file so the LSTM emitter can evolve
independently; both share its formatting helpers and the arena planner.
Output depends only on the plan and the metadata (byte-deterministic).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .arena import Buffer, plan_arena
from .emit import (
    EmittedModel,
    _array,
    _pack_side,
    _pairs,
    c_string,
    emit_head_and_metadata,
    emit_header,
    emit_run_head,
    model_api_functions,
    pair_arrays,
    w8_or_pairs,
    w8_stream,
)
from .plan import FcOp, ModelPlan
from .rnn_plan import RecurrentLayer
from .symbols import DEFAULT_SYMBOLS, Symbols


def is_recurrent_plan(plan: ModelPlan) -> bool:
    """True when the plan's layers are GRU/RNN custom ops (mixing with LSTM is refused)."""
    kinds = {isinstance(layer, RecurrentLayer) for layer in plan.layers}
    if kinds == {True, False}:
        raise ValueError("a model mixing LSTM and GRU/RNN layers is not supported")
    return kinds == {True}


def _needs_scratch(layer: RecurrentLayer) -> bool:
    return layer.cell == "rnn" or not layer.reset_after or _state8(layer)


def _state8(layer: RecurrentLayer) -> bool:
    """A GRU whose state is its int8 hidden vector (quantizer state_bits=8): no int16 array."""
    return layer.cell == "gru" and layer.state_bits == 8


def _generic_scratch(layer: RecurrentLayer) -> int:
    """Bytes of the generic kernel's scratch: RNN h', GRU reset_after=False rh8; the int8-state
    GRU adds its h' (tinyrnn_gru_s8_step: the products read the old h8)."""
    if _state8(layer) and not layer.reset_after:
        return 2 * layer.units
    return layer.units


def _rq_ok(bound: int, shift: int) -> bool:
    """tinyrnn_rq2 on a doubled accumulator |2a| <= 2*bound, and the B half of a packed pair
    (256 * 2a) inside int32 (tinyrnn_lstm_packed.h)."""
    return (2 * bound) << max(shift, 0) < 1 << 31 and -shift <= 31 and 512 * bound < 1 << 31


def _packed_ok(la: RecurrentLayer) -> bool:
    """Range conditions of tinyrnn_{gru,rnn}_packed.h; False -> the generic kernel."""
    if _units4(la.units) > 252 or la.input_size > 254:
        return False
    for g in range(la.gates):
        for w, b, shift in ((la.w_in[g], la.b_in[g], la.shift_in[g]),
                            (la.w_rec[g], la.b_rec[g], la.shift_rec[g])):
            bound = int(np.abs(w.astype(np.int64)).sum(axis=1).max(initial=0)) * 128 + \
                int(np.abs(b.astype(np.int64)).max(initial=0))
            if not _rq_ok(bound, shift):
                return False
    # mbqm of the int16 state / tanh output: |2v| <= 65536
    return (1 << 16) << max(la.shift_h8, 0) < 1 << 31 and -la.shift_h8 <= 31


def _units4(units: int) -> int:
    """Units of the block-of-four packed kernels: padded with zero rows (tinyrnn_units4)."""
    return -(-units // 4) * 4


def _state_units(la: RecurrentLayer, packed: bool) -> int:
    """Length of the layer's state arrays: the packed kernels write the padded units too."""
    return _units4(la.units) if packed else la.units


def _pad_rows(a: np.ndarray, units: int) -> np.ndarray:
    """[gates][units][...] -> [gates][units4][...] with zero rows (weights, biases)."""
    pad = [(0, 0), (0, _units4(units) - units)] + [(0, 0)] * (a.ndim - 2)
    return np.pad(a, pad)


def _quads(ws: list[np.ndarray], bs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray] | None:
    """Packed streams of four gate rows per block (A0, B0, A1, B1) and their start values."""
    w = _pack_side(ws)
    if w is None:
        return None
    b = [2 * x.astype(np.int64) for x in bs]
    b2 = np.stack([b[0], b[0] + 256 * b[1], b[2], b[2] + 256 * b[3]], axis=1)
    assert np.abs(b2).max(initial=0) < 1 << 31
    return w.reshape(w.shape[0], -1), b2


def _pack_layer(la: RecurrentLayer) -> tuple[np.ndarray, np.ndarray] | None:
    """(int16 weight stream, int32 start values) of the packed kernel, per block of 4 units."""
    if not _packed_ok(la):
        return None
    z, r, h = 0, 1, 2
    if la.cell == "gru" and la.reset_after:
        passes = [[[(z, 0), (r, 0), (z, 1), (r, 1)], [(z, 2), (r, 2), (z, 3), (r, 3)],
                   [(h, 0), (h, 1), (h, 2), (h, 3)]]]
    elif la.cell == "gru":  # tinyrnn_gru_ra0_packed.h: every r block, then every z/h block
        passes = [[[(r, k) for k in range(4)]], [[(z, k) for k in range(4)],
                                                 [(h, k) for k in range(4)]]]
    else:
        passes = [[[(0, k) for k in range(4)]]]
    # Zero rows for the padding units; the recurrent columns stay the real units.
    sides = [(_pad_rows(la.w_in, la.units), _pad_rows(la.b_in, la.units)),
             (_pad_rows(la.w_rec, la.units), _pad_rows(la.b_rec, la.units))]
    ws: list[np.ndarray] = []
    bs: list[np.ndarray] = []
    for rows in passes:
        calls = []
        for quad in rows:
            for w, b in sides:
                got = _quads([w[g][k::4] for g, k in quad], [b[g][k::4] for g, k in quad])
                if got is None:
                    return None
                calls.append(got)
        # block-major within a pass
        ws.append(np.concatenate([c[0] for c in calls], axis=1).reshape(-1))
        bs.append(np.concatenate([c[1] for c in calls], axis=1).reshape(-1))
    return np.concatenate(ws)[None, :], np.concatenate(bs)[None, :]


def _w8_layer(la: RecurrentLayer) -> tuple[np.ndarray, np.ndarray]:
    """The Helium int8 rows of a reset_after GRU or a SimpleRNN: per block of 4 units (padded
    with zero rows) one quad per gate (z, r, h; the RNN's one), lane = unit."""
    blocks = _units4(la.units) // 4
    quads = [[(g, 4 * k + u) for u in range(4)] for k in range(blocks) for g in range(la.gates)]
    return w8_stream(_pad_rows(la.w_in, la.units), _pad_rows(la.w_rec, la.units),
                     _pad_rows(la.b_in, la.units), _pad_rows(la.b_rec, la.units), quads)


def _packed_scratch(la: RecurrentLayer) -> int:
    """Bytes of the packed kernel's scratch: int16 pairs of x and h8 (stored twice over for the
    portable path); the reset_after=0 GRU adds the pairs of rh8 and rh8 itself."""
    if la.cell == "gru" and not la.reset_after:
        return 8 * (_pairs(la.input_size) + 2 * _pairs(la.units)) + _units4(la.units)
    return 8 * (_pairs(la.input_size) + _pairs(la.units))


def emit_recurrent(plan: ModelPlan, *, name: str, mean: Sequence[float], std: Sequence[float],
                   class_names: Sequence[str], source_sha256: str,
                   symbols: Symbols = DEFAULT_SYMBOLS, has_normalization: bool = False
                   ) -> EmittedModel:
    s = symbols
    layers: list[RecurrentLayer] = list(plan.layers)
    for layer in layers:
        if layer.cell == "gru" and layer.state_bits not in (8, 16):
            raise ValueError(f"GRU state_bits {layer.state_bits}: the C kernels keep an int16 "
                             "or an int8 state")
    L = len(layers)
    # Scratch slot i: layer i's step (RNN h', GRU reset_after=False r*h, int8-state GRU h');
    # head op k at L+k.
    packed = [_pack_layer(la) for la in layers]
    packed_cells = {la.cell for p, la in zip(packed, layers, strict=True) if p is not None}
    # packed kernels: int16 input pairs (stored twice over for the portable path)
    buffers = [Buffer(f"rec{i}", _packed_scratch(la), i, i)
               if packed[i] is not None else Buffer(f"rec{i}", _generic_scratch(la), i, i)
               for i, la in enumerate(layers) if packed[i] is not None or _needs_scratch(la)]
    for k in range(len(plan.head) - 1):
        op = plan.head[k]
        size = op.out_size if isinstance(op, FcOp) else op.size
        buffers.append(Buffer(f"head{k}", size, L + k, L + k + 1))
    offsets, arena_bytes = plan_arena(buffers)
    su = [_state_units(la, p is not None) for la, p in zip(layers, packed, strict=True)]
    # int16-state GRU: s (int16) + h8; int8-state GRU and RNN: h8 only.
    gru16 = [la.cell == "gru" and not _state8(la) for la in layers]
    state_bytes = sum(3 * su[i] if gru16[i] else su[i] for i in range(L))
    state_bytes = (state_bytes + 1) // 2 * 2 if any(gru16) else state_bytes

    c: list[str] = []
    weight_bytes = 0
    pad_by_array: dict[str, int] = {}  # zero weights of the packed kernels (EmittedModel)
    descriptor_bytes = 0
    cells = "/".join(sorted({la.cell.upper() for la in layers}))
    c.append(f"/* Generated by tinyrnn compile for model {c_string(name)[1:-1]}: do not edit.\n"
             f" * Source .tflite sha256 {source_sha256}.\n"
             f" * int8 {cells} (docs/int8-gru-rnn.md), bit-exact with convert/rnn_reference.py."
             " */\n")
    c.append('#include <string.h>\n\n#include "tinyrnn.h"\n#include "tinyrnn_gru.h"\n'
             '#include "tinyrnn_rnn.h"\n'
             + ('#include "tinyrnn_gru_packed.h"\n'
                if "gru" in packed_cells
                else '')
             + ('#include "tinyrnn_gru_ra0_packed.h"\n'
                if any(p is not None and la.cell == "gru" and not la.reset_after
                       for p, la in zip(packed, layers, strict=True))
                else '')
             + ('#include "tinyrnn_rnn_packed.h"\n'
                if "rnn" in packed_cells
                else '')
             + f'#include "{s.header}"\n\n')
    c.append(f"typedef char {s.fn('check_units_')}[(TINYRNN_MAX_UNITS >= "
             f"{max(la.units for la in layers)}) ? 1 : -1];\n\n")

    def trio(vals: Sequence[int]) -> str:
        return "{" + ", ".join(str(int(v)) for v in vals) + "}"

    def lr(shifts: Sequence[int]) -> str:
        return (trio([max(v, 0) for v in shifts]) + ", " + trio([max(-v, 0) for v in shifts]))

    for i, la in enumerate(layers):
        U, n = la.units, la.input_size
        if packed[i] is not None:
            pw, b2 = packed[i]
            c.append(f"/* {la.cell.upper()} layer {i}: {n} inputs, {U} units, pair-packed int8 "
                     f"weights (see tinyrnn_{la.cell}_packed.h). */\n")
            own = la.w_in.size + la.w_rec.size
            if la.cell == "gru" and not la.reset_after:
                c.append(pair_arrays(i, pw, b2))
            else:
                w8 = _w8_layer(la)
                c.append(w8_or_pairs(i, n, U, w8, pw, b2))
                pad_by_array[f"k_l{i}_w8"] = w8[0].size - own
            weight_bytes += 2 * pw.size + 4 * b2.size
            pad_by_array[f"k_l{i}_w"] = 2 * pw.size - own
            h8 = f"{la.mult_h8}, {max(la.shift_h8, 0)}, {max(-la.shift_h8, 0)}"
            if la.cell == "gru":
                c.append(
                    f"static const tinyrnn_gru_packed_t k_l{i} = {{\n  {n}, {U}, "
                    f"{_pairs(n)}, {_pairs(U)},\n  K_L{i}_W, K_L{i}_B,\n"
                    f"  {trio(la.mult_in)}, {lr(la.shift_in)},\n"
                    f"  {trio(la.mult_rec)}, {lr(la.shift_rec)},\n  {h8}\n}};\n\n")
                descriptor_bytes += 8 + 8 + 21 * 4
            else:
                c.append(
                    f"static const tinyrnn_rnn_packed_t k_l{i} = {{\n  {n}, {U}, "
                    f"{_pairs(n)}, {_pairs(U)},\n  K_L{i}_W, K_L{i}_B,\n"
                    f"  {la.mult_in[0]}, {max(la.shift_in[0], 0)}, {max(-la.shift_in[0], 0)},\n"
                    f"  {la.mult_rec[0]}, {max(la.shift_rec[0], 0)}, "
                    f"{max(-la.shift_rec[0], 0)},\n  {h8}\n}};\n\n")
                descriptor_bytes += 8 + 8 + 9 * 4
            continue
        c.append(f"/* {la.cell.upper()} layer {i}: {n} inputs, {U} units"
                 + (f", reset_after={int(la.reset_after)}" if la.cell == "gru" else "")
                 + (", int8 state" if _state8(la) else "")
                 + ("; gate-major z, r, h" if la.cell == "gru" else "") + ". */\n")
        c.append(_array("int8_t", f"k_l{i}_w_in", la.w_in, 24))
        c.append(_array("int8_t", f"k_l{i}_w_rec", la.w_rec, 24))
        c.append(_array("int32_t", f"k_l{i}_b_in", la.b_in, 8))
        weight_bytes += la.w_in.size + la.w_rec.size + 4 * la.b_in.size
        b_rec = "0"
        if la.has_b_rec:
            c.append(_array("int32_t", f"k_l{i}_b_rec", la.b_rec, 8))
            weight_bytes += 4 * la.b_rec.size
            b_rec = f"k_l{i}_b_rec"
        if la.cell == "gru":
            c.append(
                f"static const tinyrnn_gru_t k_l{i} = {{\n  {n}, {U}, {int(la.reset_after)},\n"
                f"  k_l{i}_w_in, k_l{i}_w_rec, k_l{i}_b_in, {b_rec},\n"
                f"  {trio(la.mult_in)}, {trio(la.shift_in)},\n"
                f"  {trio(la.mult_rec)}, {trio(la.shift_rec)},\n"
                f"  {la.mult_h8}, {la.shift_h8}\n}};\n\n")
            descriptor_bytes += 4 + 4 + 16 + 12 * 4 + 8
        else:
            c.append(
                f"static const tinyrnn_rnn_t k_l{i} = {{\n  {n}, {U},\n"
                f"  k_l{i}_w_in, k_l{i}_w_rec, k_l{i}_b_in,\n"
                f"  {la.mult_in[0]}, {la.shift_in[0]}, {la.mult_rec[0]}, {la.shift_rec[0]},\n"
                f"  {la.mult_h8}, {la.shift_h8}\n}};\n\n")
            descriptor_bytes += 4 + 12 + 6 * 4

    head_c, head_weights, head_descriptors = emit_head_and_metadata(
        plan, class_names, mean, std, s)
    c.extend(head_c)
    weight_bytes += head_weights
    descriptor_bytes += head_descriptors

    if any(_state8(la) for la in layers):
        c.append(f"/* Recurrent state ({s.macro('STATE_BYTES')}): int16 GRU states (Q0.15) "
                 "if any, then the int8 hidden vectors (the whole state of an int8-state GRU "
                 "and of an RNN). */\n")
    else:
        c.append(f"/* Recurrent state ({s.macro('STATE_BYTES')}): GRU int16 states (Q0.15), "
                 "then the int8 hidden vectors. */\n")
    c.append("static struct {\n")
    c.extend(f"  int16_t s{i}[{su[i]}];\n" for i in range(L) if gru16[i])
    c.extend(f"  int8_t h{i}[{su[i]}];\n" for i, la in enumerate(layers))
    c.append("} s_state;\n")
    c.append(f"typedef char {s.fn('check_state_')}[(sizeof(s_state) == "
             f"{s.macro('STATE_BYTES')}) ? 1 : -1];\n\n")
    c.append(f"/* Scratch arena ({s.macro('ARENA_BYTES')}), offsets planned at compile "
             "time:\n")
    for b in buffers:
        c.append(f" *   {b.name:<8} {b.size:>5} B at {offsets[b.name]:>5}, live in slots "
                 f"{b.first}..{b.last}\n")
    c.append(" */\n")
    c.append(f"static int32_t s_arena[{max((arena_bytes + 3) // 4, 1)}];\n")
    c.append("#define ARENA(offset) ((int8_t *)s_arena + (offset))\n\n")

    c.append("static void run_layers(const int8_t *frame) {\n")
    prev = "frame"
    for i, la in enumerate(layers):
        scratch = f"ARENA({offsets[f'rec{i}']})" if f"rec{i}" in offsets else "0"
        if packed[i] is not None and _state8(la):
            kernel = ("tinyrnn_gru_s8_packed_step" if la.reset_after
                      else "tinyrnn_gru_ra0_s8_packed_step")
            c.append(f"  {kernel}(&k_l{i}, {prev}, s_state.h{i}, {scratch});\n")
        elif packed[i] is not None and la.cell == "gru":
            kernel = "tinyrnn_gru_packed_step" if la.reset_after else "tinyrnn_gru_ra0_packed_step"
            c.append(f"  {kernel}(&k_l{i}, {prev}, s_state.s{i}, s_state.h{i}, "
                     f"{scratch});\n")
        elif packed[i] is not None:
            c.append(f"  tinyrnn_rnn_packed_step(&k_l{i}, {prev}, s_state.h{i}, {scratch});\n")
        elif _state8(la):
            c.append(f"  tinyrnn_gru_s8_step(&k_l{i}, {prev}, s_state.h{i}, {scratch});\n")
        elif la.cell == "gru":
            c.append(f"  tinyrnn_gru_step(&k_l{i}, {prev}, s_state.s{i}, s_state.h{i}, "
                     f"{scratch});\n")
        else:
            c.append(f"  tinyrnn_rnn_step(&k_l{i}, {prev}, s_state.h{i}, {scratch});\n")
        prev = f"s_state.h{i}"
    c.append("}\n\n")
    c.extend(emit_run_head(plan, offsets, L, layers[-1].units))
    c.append(f"void {s.fn('reset')}(void) {{\n")
    for i, la in enumerate(layers):
        pk = "_packed" if packed[i] is not None else ""
        if _state8(la):
            c.append(f"  tinyrnn_gru_s8{pk}_reset(&k_l{i}, s_state.h{i});\n")
        elif la.cell == "gru":
            c.append(f"  tinyrnn_gru{pk}_reset(&k_l{i}, s_state.s{i}, s_state.h{i});\n")
        else:
            c.append(f"  tinyrnn_rnn{pk}_reset(&k_l{i}, s_state.h{i});\n")
    c.append("}\n\n")
    c.append(model_api_functions(s, has_normalization))

    macs = plan.steps * sum(la.macs_per_step() for la in layers) + sum(
        op.in_size * op.out_size for op in plan.head if isinstance(op, FcOp))
    header = emit_header(
        plan, name=name, arena_bytes=arena_bytes, state_bytes=state_bytes,
        weight_bytes=weight_bytes, macs=macs, symbols=s, has_normalization=has_normalization,
        after_name=[f"#define {s.macro('CELL')} {c_string(cells.lower())}\n"],
        layer_defines=[f"#define {s.macro('LSTM_LAYERS')} 0\n",
                       f"#define {s.macro('RECURRENT_LAYERS')} {L}\n\n"])
    return EmittedModel({s.header: header, s.source: "".join(c)},
                        arena_bytes, state_bytes, weight_bytes, descriptor_bytes, macs,
                        pad_by_array)
