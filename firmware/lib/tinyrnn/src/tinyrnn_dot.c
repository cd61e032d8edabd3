/* int8 x int8 dot product with int32 accumulation.
 *
 * Reference semantics: sum_i a[i] * b[i] (TFLM's FullyConnected inner loop with the zero-point
 * offsets folded into the bias). Callers keep n <= TINYRNN_MAX_FEATURES so the sum never
 * overflows, which is what makes the SIMD path below bit-exact with the scalar one.
 *
 * DSP path (Cortex-M4/M7/M33, __ARM_FEATURE_DSP): SXTB16 sign-extends bytes 0 and 2 (and, after
 * an 8-bit rotation, bytes 1 and 3) into two int16 lanes; SMLAD multiplies both lane pairs and
 * adds them to the accumulator: four MACs per two instructions plus the unpacking.
 * tinyrnn_dot4_s8 computes four rows against one input (the four gates of an LSTM unit are
 * stored next to each other), so the input is loaded and unpacked once per four rows.
 * A host test can compile this path with portable definitions of the intrinsics by defining
 * TINYRNN_DSP_INTRINSICS_HEADER.
 */
#include <string.h>

#include "tinyrnn.h"
/* The runtime's one test of the core's extensions: TINYRNN_PACKED_DSP (DSP instructions, or the
 * host tests' emulation header) and TINYRNN_PACKED_MVE (Helium). */
#include "tinyrnn_lstm_packed.h"

#if TINYRNN_PACKED_MVE
/* Helium (Cortex-M55): 16 MACs per VMLADAVA. The last vector's lanes past n are predicated off
 * (VCTP), so the loads read nothing past the arrays and the zeroed lanes add nothing. */
int32_t tinyrnn_dot_s8(const int8_t *a, const int8_t *b, uint16_t n) {
  int32_t acc = 0;
  int32_t left = n;
  for (; left > 0; left -= 16, a += 16, b += 16) {
    const mve_pred16_t p = vctp8q((uint32_t)left);
    acc = vmladavaq_s8(acc, vldrbq_z_s8(a, p), vldrbq_z_s8(b, p));
  }
  return acc;
}
#endif

#if TINYRNN_PACKED_DSP
static uint32_t load_u32(const int8_t *p) {
  uint32_t v;
  memcpy(&v, p, sizeof v); /* unaligned-safe; a single LDR on Cortex-M4 */
  return v;
}

/* GCC 12's arm_acle.h has no __ror; the compiler turns this idiom into one ROR. */
static uint32_t ror8(uint32_t v) {
  return (v >> 8) | (v << 24);
}

#if !TINYRNN_PACKED_MVE
int32_t tinyrnn_dot_s8(const int8_t *a, const int8_t *b, uint16_t n) {
  int32_t acc = 0;
  uint16_t i = 0;
  for (; (uint16_t)(i + 4u) <= n; i = (uint16_t)(i + 4u)) {
    const uint32_t va = load_u32(a + i);
    const uint32_t vb = load_u32(b + i);
    const uint32_t a02 = __sxtb16(va);
    const uint32_t a13 = __sxtb16(ror8(va));
    const uint32_t b02 = __sxtb16(vb);
    const uint32_t b13 = __sxtb16(ror8(vb));
    acc = __smlad(a02, b02, acc);
    acc = __smlad(a13, b13, acc);
  }
  for (; i < n; ++i) {
    acc += (int32_t)a[i] * (int32_t)b[i];
  }
  return acc;
}
#endif
void tinyrnn_dot4_s8(const int8_t *w, const int8_t *x, uint16_t n, int32_t acc[4]) {
  const int8_t *w1 = w + n;
  const int8_t *w2 = w1 + n;
  const int8_t *w3 = w2 + n;
  int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
  uint16_t i = 0;
  for (; (uint16_t)(i + 4u) <= n; i = (uint16_t)(i + 4u)) {
    /* Unpack the shared input once for all four rows. */
    const uint32_t vx = load_u32(x + i);
    const uint32_t x02 = __sxtb16(vx);
    const uint32_t x13 = __sxtb16(ror8(vx));
    uint32_t v = load_u32(w + i);
    a0 = __smlad(__sxtb16(v), x02, a0);
    a0 = __smlad(__sxtb16(ror8(v)), x13, a0);
    v = load_u32(w1 + i);
    a1 = __smlad(__sxtb16(v), x02, a1);
    a1 = __smlad(__sxtb16(ror8(v)), x13, a1);
    v = load_u32(w2 + i);
    a2 = __smlad(__sxtb16(v), x02, a2);
    a2 = __smlad(__sxtb16(ror8(v)), x13, a2);
    v = load_u32(w3 + i);
    a3 = __smlad(__sxtb16(v), x02, a3);
    a3 = __smlad(__sxtb16(ror8(v)), x13, a3);
  }
  for (; i < n; ++i) {
    const int32_t xv = x[i];
    a0 += (int32_t)w[i] * xv;
    a1 += (int32_t)w1[i] * xv;
    a2 += (int32_t)w2[i] * xv;
    a3 += (int32_t)w3[i] * xv;
  }
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = a2;
  acc[3] = a3;
}
#else
int32_t tinyrnn_dot_s8(const int8_t *a, const int8_t *b, uint16_t n) {
  int32_t acc = 0;
  uint16_t i;
  for (i = 0; i < n; ++i) {
    acc += (int32_t)a[i] * (int32_t)b[i];
  }
  return acc;
}
void tinyrnn_dot4_s8(const int8_t *w, const int8_t *x, uint16_t n, int32_t acc[4]) {
  const int8_t *w1 = w + n;
  const int8_t *w2 = w1 + n;
  const int8_t *w3 = w2 + n;
  int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
  int i;
  for (i = 0; i < (int)n; ++i) {
    const int32_t xv = x[i];
    a0 += (int32_t)w[i] * xv;
    a1 += (int32_t)w1[i] * xv;
    a2 += (int32_t)w2[i] * xv;
    a3 += (int32_t)w3[i] * xv;
  }
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = a2;
  acc[3] = a3;
}
#endif

void tinyrnn_dot_rows_s8(const int8_t *w, const int8_t *x, uint16_t n, uint16_t nb,
                         int32_t acc[4]) {
  uint16_t r;
  if (nb == 4u) {
    tinyrnn_dot4_s8(w, x, n, acc);
    return;
  }
  for (r = 0; r < nb; ++r) {
    acc[r] += tinyrnn_dot_s8(w + (uint32_t)r * n, x, n);
  }
}
