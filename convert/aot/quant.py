"""Integer arithmetic of TFLite Micro's reference kernels, on the host.

Scalar helpers compute the parameters the compiler bakes into C (multipliers, shifts, table);
the vectorised helpers (numpy int64, wrapped to int32 where the C code is int32) model the
kernels so that the numpy reference in ``reference.py`` can pin semantics against TFLM.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import LimitError

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1

# sigmoid(i/24) in unsigned Q0.16 for i = 0..255. TFLite's int16 logistic/tanh interpolate in
# this table; the values are not a plain rounding of the formula (a few entries are 1 LSB
# higher), so they are data, pinned by tests against the tflite-micro interpreter.
SIGMOID_TABLE_U16: tuple[int, ...] = (
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149, 40794,
    41432, 42064, 42688, 43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369, 47911, 48443,
    48964, 49475, 49975, 50464, 50942, 51409, 51865, 52311, 52745, 53169, 53581, 53983, 54374,
    54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433, 57724, 58007, 58280, 58544,
    58800, 59048, 59288, 59519, 59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110, 61279,
    61441, 61599, 61750, 61896, 62036, 62172, 62302, 62428, 62549, 62666, 62778, 62886, 62990,
    63090, 63186, 63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835, 63903, 63968, 64030,
    64090, 64148, 64204, 64257, 64308, 64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652,
    64687, 64721, 64754, 64786, 64816, 64845, 64873, 64900, 64926, 64950, 64974, 64997, 65019,
    65039, 65060, 65079, 65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208, 65221, 65234,
    65246, 65258, 65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360,
    65367, 65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433,
    65438, 65442, 65445, 65449, 65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474, 65476,
    65479, 65481, 65483, 65485, 65488, 65489, 65491, 65493, 65495, 65497, 65498, 65500, 65501,
    65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513, 65514, 65515, 65516,
    65517, 65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524,
    65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529, 65529,
    65529, 65530, 65530, 65530, 65530, 65531, 65531, 65531, 65531, 65531, 65532, 65532, 65532,
    65532, 65532, 65532, 65533, 65533, 65533, 65533, 65533, 65533, 65533, 65533, 65534, 65534,
    65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65535,
)
assert len(SIGMOID_TABLE_U16) == 256


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite QuantizeMultiplier: real = m * 2^(shift-31), m in [2^30, 2^31)."""
    if not math.isfinite(real):
        raise LimitError(f"rescale factor {real} is not finite: a quantization scale is 0 or "
                         "extreme")
    if real == 0.0:
        return 0, 0
    frac, shift = math.frexp(real)
    if shift > 30:
        # Beyond int32 fixed point (TFLM's kernels shift left by at most 30 bits).
        raise LimitError(f"rescale factor {real:.3g} needs a left shift of {shift} bits "
                         "(at most 30): a quantization scale is extreme")
    # TfLiteRound is std::round: halves go away from zero.
    q = math.floor(abs(frac) * (1 << 31) + 0.5) * (1 if frac >= 0 else -1)
    if q == (1 << 31):
        q //= 2
        shift += 1
    if shift < -31:
        shift, q = 0, 0
    return q, shift


def _check_divisor(scale: float) -> None:
    if not float(np.float32(scale)) > 0.0:
        raise LimitError(f"output scale {scale!r}: a rescale divides by it, so it must be > 0")


def fc_multiplier_per_tensor(in_scale: float, w_scale: float, out_scale: float) -> tuple[int, int]:
    _check_divisor(out_scale)
    # TFLite's kernel_util multiplies the two scales in float32; the tflite-micro build we match
    # multiplies them in double (measured: the float32 product is 1 LSB off on some models).
    real = float(np.float32(in_scale)) * float(np.float32(w_scale)) / float(np.float32(out_scale))
    return quantize_multiplier(real)


def fc_multiplier_per_channel(in_scale: float, w_scale: float, out_scale: float) -> tuple[int, int]:
    _check_divisor(out_scale)
    real = float(np.float32(in_scale)) * float(np.float32(w_scale)) / float(np.float32(out_scale))
    return quantize_multiplier(real)


def mul_multiplier(s1: float, s2: float, s_out: float) -> tuple[int, int]:
    _check_divisor(s_out)
    real = float(np.float32(s1)) * float(np.float32(s2)) / float(np.float32(s_out))
    return quantize_multiplier(real)


def softmax_params(beta: float, in_scale: float) -> tuple[int, int, int]:
    """(input_multiplier, input_left_shift, diff_min) of TFLM's int8 softmax (Q5.26 input)."""
    integer_bits = 5
    real = min(float(np.float32(beta)) * float(np.float32(in_scale)) * (1 << (31 - integer_bits)),
               float((1 << 31) - 1))
    mult, shift = quantize_multiplier(real)
    if shift < 0:
        raise ValueError("softmax beta*scale too small for the int8 kernel")
    radius = ((1 << integer_bits) - 1) * (1 << (31 - integer_bits)) / (1 << shift)
    return mult, shift, -math.floor(radius)


def log2_exact(scale: float) -> int | None:
    """Exponent p with scale == 2^p, or None (TFLM's CheckedLog2 tolerance is 1e-3)."""
    lg = math.log2(scale)
    r = round(lg)
    return int(r) if abs(lg - r) < 1e-3 else None


# ---- vectorised kernels (numpy, int64 carriers) ------------------------------------------

def wrap32(x: np.ndarray) -> np.ndarray:
    return ((x.astype(np.int64) + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def srdhm(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """gemmlowp SaturatingRoundingDoublingHighMul on int32 values."""
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    s = ab + nudge
    q = np.where(s >= 0, s >> 31, -((-s) >> 31))  # C division truncates toward zero
    return np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, q)


def rdbypot(x: np.ndarray, exponent: np.ndarray | int) -> np.ndarray:
    x = np.asarray(x, np.int64)
    e = np.asarray(exponent, np.int64)
    mask = (np.int64(1) << e) - 1
    rem = x & mask
    thr = (mask >> 1) + (x < 0)
    return (x >> e) + (rem > thr)


def mbqm(x: np.ndarray, mult: np.ndarray | int, shift: np.ndarray | int) -> np.ndarray:
    """MultiplyByQuantizedMultiplier, double-rounding variant (TFLM's default build)."""
    shift = np.asarray(shift, np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    return rdbypot(srdhm(wrap32(np.asarray(x, np.int64) << left), mult), right)


_TABLE = np.array((*SIGMOID_TABLE_U16, SIGMOID_TABLE_U16[-1]), np.int64)


def sigmoid16(x: np.ndarray) -> np.ndarray:
    """reference_integer_ops::Logistic(0, 0, ...) on int16: Q3.12 in, Q0.15 out."""
    v = np.asarray(x, np.int64) * 3
    a = np.abs(v)
    uh = a >> 9
    sat = uh >= 255
    uhc = np.minimum(uh, 254)
    ua, ub = _TABLE[uhc], _TABLE[uhc + 1]
    r = np.where(sat, 0x7FFF << 10, (ua << 9) + (a & 0x1FF) * (ub - ua))
    r = np.where(v >= 0, r + (1 << 9), (1 << 25) - r + (1 << 9) - 1)
    return (r >> 10).astype(np.int64)


def tanh16(x: np.ndarray, scale_power: int) -> np.ndarray:
    """lstm_internal::Tanh: int16 input at 2^scale_power, Q0.15 output."""
    left = 15 + scale_power - 3
    if left < 0:
        mult, shift = 3, -left
    else:
        mult, shift = 3 << left, 0
    rnd = (1 << (shift - 1)) if shift > 0 else 0
    v = (np.asarray(x, np.int64) * mult + rnd) >> shift
    a = np.abs(v)
    uh = a >> 8
    sat = uh >= 255
    uhc = np.minimum(uh, 254)
    ua, ub = _TABLE[uhc], _TABLE[uhc + 1]
    r = np.where(sat, 0xFFFF << 8, (ua << 8) + (a & 0xFF) * (ub - ua))
    r = np.where(v >= 0, r - (1 << 23) + (1 << 7), -r + (1 << 23) + (1 << 7) - 1)
    return r >> 8
