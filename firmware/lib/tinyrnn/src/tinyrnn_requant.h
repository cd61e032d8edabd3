/* Requantization helpers, inline because the LSTM calls them 11 times per unit and step
 * (out of line they cost a third of the run time).
 *
 * Reference semantics (gemmlowp / TFLite common.h, double-rounding build as in TFLM):
 *   srdhm(a, b)    = (a * b + nudge) / 2^31 truncated toward zero, nudge = 2^30 for ab >= 0
 *                    and 1 - 2^30 for ab < 0 (a tie rounds up), saturating INT32_MIN * INT32_MIN
 *   rdbypot(x, e)  = x / 2^e rounded to nearest, ties away from zero
 *   mbqm(x, m, s)  = rdbypot(srdhm(x * 2^max(s,0), m), max(-s,0))
 * For ab < 0, srdhm's quotient is -floor((2^30 - 1 - ab) / 2^31) = floor((ab + 2^30) / 2^31)
 * (ceil(n/d) = floor((n + d - 1)/d)), as for ab >= 0: one arithmetic shift of ab + 2^30, so
 * Cortex-M needs a long multiply and a 64-bit add, no branch and no division routine.
 * host_tests/test_requant.py checks all three against TFLite's formulas.
 */
#ifndef TINYRNN_REQUANT_H
#define TINYRNN_REQUANT_H

#include <stdint.h>


static inline int32_t tinyrnn_srdhm(int32_t a, int32_t b) {
  if (a == b && a == INT32_MIN) {
    return INT32_MAX;
  }
  return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 30)) >> 31);
}

static inline int32_t tinyrnn_rdbypot(int32_t x, int32_t exponent) {
  const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

static inline int32_t tinyrnn_mbqm(int32_t x, int32_t mult, int32_t shift) {
  if (shift > 0) {
    /* TFLM multiplies in int32 and wraps; do the same without signed overflow. */
    x = (int32_t)(uint32_t)((uint32_t)x << shift);
    return tinyrnn_srdhm(x, mult);
  }
  return tinyrnn_rdbypot(tinyrnn_srdhm(x, mult), -shift);
}

static inline int16_t tinyrnn_sat16(int32_t x) {
  return (int16_t)(x > 32767 ? 32767 : (x < -32768 ? -32768 : x));
}

#endif /* TINYRNN_REQUANT_H */
