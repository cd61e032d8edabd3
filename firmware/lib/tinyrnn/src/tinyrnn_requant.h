/* Requantization helpers, inline because the LSTM calls them 11 times per unit and step
 * (out of line they cost a third of the run time).
 *
 * Reference semantics (gemmlowp / TFLite common.h, double-rounding build as in TFLM):
 *   srdhm(a, b)    = round-half-away((a * b) / 2^31), saturating INT32_MIN * INT32_MIN
 *   rdbypot(x, e)  = x / 2^e rounded to nearest, ties away from zero
 *   mbqm(x, m, s)  = rdbypot(srdhm(x * 2^max(s,0), m), max(-s,0))
 * The quotient of srdhm truncates toward zero, written with shifts so Cortex-M needs no
 * 64-bit division routine.
 */
#ifndef TINYRNN_REQUANT_H
#define TINYRNN_REQUANT_H

#include <stdint.h>


static inline int32_t tinyrnn_srdhm(int32_t a, int32_t b) {
  int64_t ab;
  int64_t s;
  if (a == b && a == INT32_MIN) {
    return INT32_MAX;
  }
  ab = (int64_t)a * (int64_t)b;
  s = ab + (ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30)));
  return (int32_t)(s >= 0 ? (s >> 31) : -((-s) >> 31));
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
