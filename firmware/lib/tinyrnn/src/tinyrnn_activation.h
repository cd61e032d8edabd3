/* int16 sigmoid and tanh of TFLite's integer LSTM (inline; the table lives in
 * tinyrnn_activation.c so it is stored once).
 *
 * Reference semantics (reference_integer_ops::Logistic / Tanh on int16, as called by TFLM's
 * lstm_internal::Sigmoid and ::Tanh): both interpolate linearly in a 256-entry table of
 * sigmoid(i/24) in unsigned Q0.16, using tanh(x) = 2 sigmoid(2x) - 1.
 *   sigmoid: input Q3.12 (scale 2^-12), v = 3x; index |v| >> 9, 9 fractional bits; output Q0.15.
 *   tanh:    input at scale 2^p; v = 3x << (p+12) or (3x + round) >> -(p+12);
 *            index |v| >> 8, 8 fractional bits; output Q0.15.
 * The gate tanh uses p = -12; the cell tanh uses the cell state's power-of-two scale.
 */
#ifndef TINYRNN_ACTIVATION_H
#define TINYRNN_ACTIVATION_H

#include <stdint.h>

/* sigmoid(i/24) * 65536, i = 0..255, exactly TFLite's sigmoid_table_uint16. */
extern const uint16_t tinyrnn_sigmoid_table[256];

static inline int16_t tinyrnn_sigmoid_s16(int16_t x) {
  const int32_t v = (int32_t)x * 3;
  const uint32_t a = (uint32_t)(v < 0 ? -v : v);
  const uint32_t uh = a >> 9;
  uint32_t r;
  if (uh >= 255u) {
    r = 0x7FFFu << 10;
  } else {
    const uint32_t ua = tinyrnn_sigmoid_table[uh];
    const uint32_t ub = tinyrnn_sigmoid_table[uh + 1u];
    r = (ua << 9) + (a & 0x1FFu) * (ub - ua);
  }
  r = (v >= 0) ? (r + (1u << 9)) : ((1u << 25) - r + (1u << 9) - 1u);
  return (int16_t)(r >> 10);
}

static inline int16_t tinyrnn_tanh_s16(int16_t x, int32_t scale_power) {
  const int32_t left = 15 + scale_power - 3;
  int32_t v;
  uint32_t a;
  uint32_t uh;
  int32_t r;
  if (left < 0) {
    v = ((int32_t)x * 3 + (1 << (-left - 1))) >> -left;
  } else {
    v = (int32_t)x * (3 << left);
  }
  a = (uint32_t)(v < 0 ? -v : v);
  uh = a >> 8;
  if (uh >= 255u) {
    r = (int32_t)(0xFFFFu << 8);
  } else {
    const uint32_t ua = tinyrnn_sigmoid_table[uh];
    const uint32_t ub = tinyrnn_sigmoid_table[uh + 1u];
    r = (int32_t)((ua << 8) + (a & 0xFFu) * (ub - ua));
  }
  r = (v >= 0) ? (r - (1 << 23) + (1 << 7)) : (-r + (1 << 23) + (1 << 7) - 1);
  return (int16_t)(r >> 8);
}

#endif /* TINYRNN_ACTIVATION_H */
