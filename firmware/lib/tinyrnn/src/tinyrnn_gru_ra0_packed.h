/* Fast int8 GRU step with reset_after=0 (Keras reset_after=False) on pair-packed weights, built
 * from the packed LSTM kernel's pieces like tinyrnn_gru_packed.h (same descriptor).
 *
 * Reference semantics: exactly tinyrnn_gru_step() with reset_after == 0 (docs/int8-gru-rnn.md,
 * convert/rnn_reference.py gru_step), per unit j:
 *   r   = sigmoid16(sat16(rq_in(W_in[r] x + b_in[r]) + rq_rec(W_rec[r] h8)))
 *   rh8 = rshift15(r * h8)                                   for every unit first
 *   z   = sigmoid16(sat16(rq_in(W_in[z] x + b_in[z]) + rq_rec(W_rec[z] h8)))
 *   a   = sat16(rq_in(W_in[h] x + b_in[h]) + rq_rec(W_rec[h] rh8))
 *   c   = tanh16(a, -12);  h16 = sat16(c + rshift15(z * (h16 - c)))
 *   h8  = sat8(mbqm(h16, mult_h8, shift_h8))
 *
 * How it computes the same integers faster: two passes over blocks of four units (rows padded
 * to tinyrnn_units4 with zeros). Pass 1 streams, per block, the r rows of units 0..3 as one
 * tinyrnn_dot_pairs call per side ((r0, r1) (r2, r3)) and writes rh8; pass 2 streams, per block,
 * z (input, recurrent on h8) then h (input, recurrent on rh8), four units per call. The weight
 * stream is every pass-1 block, then every pass-2 block; biases {2b0, 2b0 + 512b1, 2b2,
 * 2b2 + 512b3} in the same order (zero on the recurrent side). x, h8(t-1) and rh8 are widened to
 * int16 pairs once per step, so h16 and h8 are written in place.
 * Scratch (xpack): pairs of x, of h8 and of rh8, then rh8 itself (tinyrnn_units4(units) bytes).
 *
 * h16 == 0 (tinyrnn_gru_ra0_s8_packed_step, quantizer state_bits=8): the int8 state, updated
 * as in tinyrnn_gru_packed_update (c8 = sat8(mbqm(c)), h8 = sat8(c8 + rshift15(z * (h8 - c8))));
 * rh8 reads h8 in pass 1, before pass 2 rewrites it.
 */
#ifndef TINYRNN_GRU_RA0_PACKED_H
#define TINYRNN_GRU_RA0_PACKED_H

#include <stdint.h>

#include "tinyrnn_gru_packed.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TINYRNN_RA0_RQ(acc2, side, g) \
  tinyrnn_ssat16(tinyrnn_rq2((acc2), L->mult_##side[g], L->lsh_##side[g], L->rsh_##side[g]))
#define TINYRNN_RA0_SIG(ai2, ar2, g) \
  tinyrnn_sigmoid_fast(tinyrnn_ssat16(TINYRNN_RA0_RQ(ai2, in, g) + TINYRNN_RA0_RQ(ar2, rec, g)))

/* Both state widths (s8: a constant, see tinyrnn_gru_packed_update). */
TINYRNN_ALWAYS_INLINE void tinyrnn_gru_ra0_packed_run(const tinyrnn_gru_packed_t *L,
                                                      const int8_t *x, int16_t *h16,
                                                      int8_t *h8, void *xpack, int s8) {
  const uint16_t npi = L->in_pairs;
  const uint16_t npr = L->rec_pairs;
  const uint16_t u4 = tinyrnn_units4(L->units);
  TINYRNN_OUT_T *const xi = (TINYRNN_OUT_T *)xpack;
  TINYRNN_OUT_T *const xr = xi + (uint32_t)TINYRNN_PAIR_SLOTS * npi;
  TINYRNN_OUT_T *const xq = xr + (uint32_t)TINYRNN_PAIR_SLOTS * npr;
  int8_t *const rh8 = (int8_t *)(void *)(xq + (uint32_t)TINYRNN_PAIR_SLOTS * npr);
  const int16_t *w = L->w;
  const int32_t *b = L->b2;
  uint16_t j;
  tinyrnn_pack2(x, L->input_size, xi);
  tinyrnn_pack2(h8, L->units, xr);
  for (j = 0; j < u4; j = (uint16_t)(j + 4u), b += 8) {
    int32_t ai[4];
    int32_t ar[4];
    int k;
    const TINYRNN_OUT_T *xp = xi;
    w = tinyrnn_dot_pairs(w, &xp, npi, b, ai);
    xp = xr;
    w = tinyrnn_dot_pairs(w, &xp, npr, b + 4, ar);
    for (k = 0; k < 4; ++k) {
      const int32_t r = TINYRNN_RA0_SIG(ai[k], ar[k], 1);
      rh8[j + k] = (int8_t)tinyrnn_rshift15(r * (int32_t)h8[j + k]);
    }
  }
  tinyrnn_pack2(rh8, L->units, xq);
  for (j = 0; j < u4; j = (uint16_t)(j + 4u), b += 16, h16 = TINYRNN_GRU_H16_AT(h16, 4, s8),
       h8 += 4) {
    int32_t ai[4];
    int32_t ar[4];
    int32_t z[4];
    int32_t xh[4];
    int k;
    const TINYRNN_OUT_T *xp = xi;
    w = tinyrnn_dot_pairs(w, &xp, npi, b, ai);
    xp = xr;
    w = tinyrnn_dot_pairs(w, &xp, npr, b + 4, ar);
    for (k = 0; k < 4; ++k) {
      z[k] = TINYRNN_RA0_SIG(ai[k], ar[k], 0);
    }
    xp = xi;
    w = tinyrnn_dot_pairs(w, &xp, npi, b + 8, ai);
    for (k = 0; k < 4; ++k) {
      xh[k] = TINYRNN_RA0_RQ(ai[k], in, 2);
    }
    xp = xq;
    w = tinyrnn_dot_pairs(w, &xp, npr, b + 12, ar);
    for (k = 0; k < 4; ++k) {
      const int32_t a = tinyrnn_ssat16(xh[k] + TINYRNN_RA0_RQ(ar[k], rec, 2));
      tinyrnn_gru_packed_update(L, tinyrnn_tanh_fast(a, -12), z[k],
                                TINYRNN_GRU_H16_AT(h16, k, s8), h8 + k, s8);
    }
  }
}

/* int16 state h16 [tinyrnn_units4(units)] and its int8 view h8. */
TINYRNN_ALWAYS_INLINE void tinyrnn_gru_ra0_packed_step(const tinyrnn_gru_packed_t *L,
                                                       const int8_t *x, int16_t *h16,
                                                       int8_t *h8, void *xpack) {
  tinyrnn_gru_ra0_packed_run(L, x, h16, h8, xpack, 0);
}

/* int8-state GRU with reset_after=0: h8 is the whole state [tinyrnn_units4(units)]. */
TINYRNN_ALWAYS_INLINE void tinyrnn_gru_ra0_s8_packed_step(const tinyrnn_gru_packed_t *L,
                                                          const int8_t *x, int8_t *h8,
                                                          void *xpack) {
  tinyrnn_gru_ra0_packed_run(L, x, 0, h8, xpack, 1);
}
#undef TINYRNN_RA0_SIG
#undef TINYRNN_RA0_RQ

#ifdef __cplusplus
}
#endif

#endif /* TINYRNN_GRU_RA0_PACKED_H */
