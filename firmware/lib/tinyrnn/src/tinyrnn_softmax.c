/* int8 softmax (TFLM SOFTMAX int8 -> int8, reference_ops::Softmax with gemmlowp fixed point).
 *
 * Reference semantics, per row:
 *   d_i   = x_i - max(x);  skipped (output -128) when d_i < diff_min
 *   r_i   = srdhm(d_i * 2^left_shift, mult)            beta * scale * d in Q5.26
 *   e_i   = exp_on_negative_values(r_i)                Q0.31
 *   S     = sum_i rdbypot(e_i, 12)                     Q12.19
 *   1/S   = one_over_one_plus_x(S normalised to [1,2)) with num_bits_over_unit = 12 - clz(S)
 *   y_i   = clamp(rdbypot(srdhm(1/S, e_i), num_bits_over_unit + 23) - 128, -128, 127)
 * The polynomial and barrel-shifter constants are gemmlowp's.
 */
#include "tinyrnn.h"

/* The first pass keeps this many e_i so the second does not evaluate the exponential again
 * (the exponentials were half of the softmax's instructions); wider rows recompute the rest. */
#define TINYRNN_SOFTMAX_KEEP 32

static int32_t add_wrap(int32_t a, int32_t b) {
  return (int32_t)((uint32_t)a + (uint32_t)b);
}

/* gemmlowp SaturatingRoundingMultiplyByPOT<e> for e > 0. */
static int32_t sat_shl(int32_t x, int32_t e) {
  const int32_t threshold = (int32_t)((1u << (31 - e)) - 1u);
  if (x > threshold) {
    return INT32_MAX;
  }
  if (x < -threshold) {
    return INT32_MIN;
  }
  return (int32_t)((uint32_t)x << e);
}

/* exp(a) for a <= 0 in Q5.26, result in Q0.31. */
static int32_t exp_on_negative_values(int32_t a) {
  static const int32_t kBarrel[7] = {1672461947, 1302514674, 790015084, 290630308,
                                     39332535,   720401,     242};
  const int32_t one_quarter = (int32_t)1 << 24;
  const int32_t a_mod = (a & (one_quarter - 1)) - one_quarter;
  /* Taylor expansion of exp around -1/8 on [-1/4, 0). */
  const int32_t x = add_wrap(sat_shl(a_mod, 5), (int32_t)1 << 28);
  const int32_t x2 = tinyrnn_srdhm(x, x);
  const int32_t x3 = tinyrnn_srdhm(x2, x);
  const int32_t x4 = tinyrnn_srdhm(x2, x2);
  const int32_t x4_over_4 = tinyrnn_rdbypot(x4, 2);
  const int32_t poly =
      tinyrnn_rdbypot(add_wrap(tinyrnn_srdhm(add_wrap(x4_over_4, x3), 715827883), x2), 1);
  int32_t result = add_wrap(1895147668, tinyrnn_srdhm(1895147668, add_wrap(x, poly)));
  const int32_t remainder = a_mod - a;
  int32_t k;
  /* Multiply by exp(-2^k) for each bit k = -2..4 set in the integer part of -a. */
  for (k = 0; k < 7; ++k) {
    if (remainder & ((int32_t)1 << (24 + k))) {
      result = tinyrnn_srdhm(result, kBarrel[k]);
    }
  }
  return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + a) for a in [0, 1) in Q0.31; Newton-Raphson as in gemmlowp. */
static int32_t one_over_one_plus_x(int32_t a) {
  int64_t s = (int64_t)a + INT32_MAX;
  int32_t half_denominator;
  int32_t x;
  int32_t i;
  s += (s >= 0) ? 1 : -1;
  half_denominator = (int32_t)(s >= 0 ? (s >> 1) : -((-s) >> 1));
  x = add_wrap(1515870810, tinyrnn_srdhm(half_denominator, -1010580540));
  for (i = 0; i < 3; ++i) {
    const int32_t hdx = tinyrnn_srdhm(half_denominator, x);
    const int32_t one_minus = add_wrap((int32_t)1 << 29, -hdx);
    x = add_wrap(x, sat_shl(tinyrnn_srdhm(x, one_minus), 2));
  }
  return sat_shl(x, 1);
}

static int32_t count_leading_zeros(uint32_t v) {
#if defined(__GNUC__) && defined(__ARM_ARCH) && __ARM_ARCH >= 7 /* one CLZ instruction */
  return v == 0u ? 32 : __builtin_clz(v);
#else
  int32_t n = 0;
  if (v == 0u) {
    return 32;
  }
  while ((v & 0x80000000u) == 0u) {
    v <<= 1;
    ++n;
  }
  return n;
#endif
}

static int32_t scaled_diff(const tinyrnn_softmax_t *op, int32_t d) {
  return tinyrnn_srdhm((int32_t)((uint32_t)d << op->left_shift), op->mult);
}

void tinyrnn_softmax(const tinyrnn_softmax_t *op, const int8_t *x, int8_t *y) {
  int32_t max_v = -128;
  int32_t sum = 0;
  int32_t headroom;
  int32_t exponent;
  int32_t recip;
  int32_t kept[TINYRNN_SOFTMAX_KEEP]; /* e_i of the first outputs, for the second pass */
  uint16_t i;
  for (i = 0; i < op->size; ++i) {
    max_v = x[i] > max_v ? x[i] : max_v;
  }
  for (i = 0; i < op->size; ++i) {
    const int32_t d = (int32_t)x[i] - max_v;
    if (d >= op->diff_min) {
      const int32_t e = exp_on_negative_values(scaled_diff(op, d));
      if (i < TINYRNN_SOFTMAX_KEEP) {
        kept[i] = e;
      }
      sum = add_wrap(sum, tinyrnn_rdbypot(e, 12));
    }
  }
  headroom = count_leading_zeros((uint32_t)sum);
  exponent = (12 - headroom) + 31 - 8;
  recip = one_over_one_plus_x((int32_t)(((uint32_t)sum << headroom) - 0x80000000u));
  for (i = 0; i < op->size; ++i) {
    const int32_t d = (int32_t)x[i] - max_v;
    if (d >= op->diff_min) {
      const int32_t e =
          i < TINYRNN_SOFTMAX_KEEP ? kept[i] : exp_on_negative_values(scaled_diff(op, d));
      int32_t v = tinyrnn_rdbypot(tinyrnn_srdhm(recip, e), exponent) - 128;
      v = v > 127 ? 127 : (v < -128 ? -128 : v);
      y[i] = (int8_t)v;
    } else {
      y[i] = -128;
    }
  }
}
