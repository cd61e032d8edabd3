/* Fast int8 SimpleRNN step on pair-packed weights, built from the packed LSTM kernel's pieces
 * (tinyrnn_lstm_packed.h). Inline: the generated model instantiates it with its constant
 * descriptor.
 *
 * Reference semantics: exactly tinyrnn_rnn_step() (docs/int8-gru-rnn.md,
 * convert/rnn_reference.py rnn_step), per unit j:
 *   h8'[j] = sat8(mbqm(tanh16(sat16(rq_in(W_in[j] x + b_in[j]) + rq_rec(W_rec[j] h8)), -12),
 *                      mult_h8, shift_h8))
 *
 * How it computes the same integers faster: units go in blocks of four (any number of units: the
 * compiler pads the rows to a multiple of 4 with zeros, tinyrnn_units4); the rows of units
 * (0, 1) and (2, 3) of a block are packed as int16 halfwords 256*B + A, so one
 * tinyrnn_dot_pairs call per side serves the block (input stream then recurrent stream per
 * block, biases {2b0, 2b0 + 512b1, 2b2, 2b2 + 512b3} and zero for the recurrent side). x and
 * h8(t-1) are widened to int16 pairs first, so h8 is written in place (no h' copy).
 * Requantizations are tinyrnn_rq2 on doubled values under the range conditions the compiler
 * checks (as for the packed LSTM).
 */
#ifndef TINYRNN_RNN_PACKED_H
#define TINYRNN_RNN_PACKED_H

#include <stdint.h>
#include <string.h>

#include "tinyrnn_lstm_packed.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  uint16_t input_size;
  uint16_t units;     /* real units; weights and state cover tinyrnn_units4(units) */
  uint16_t in_pairs;  /* ceil(input_size / 2) */
  uint16_t rec_pairs; /* ceil(units / 2) */
  const int16_t *w;   /* per block of 4 units: input then recurrent [pairs][2][2], aligned */
  const int32_t *b2;  /* per block: input then recurrent start values (4 each) */
  int32_t mult_in, lsh_in, rsh_in;
  int32_t mult_rec, lsh_rec, rsh_rec;
  int32_t mult_h8, lsh_h8, rsh_h8;
} tinyrnn_rnn_packed_t;

/* One unit from its doubled accumulators (input side with bias, recurrent side); lsi: the input
 * side's remaining left shift (less for a B sum that left tinyrnn_dot_pairs_sh shifted). */
TINYRNN_ALWAYS_INLINE void tinyrnn_rnn_packed_unit(const tinyrnn_rnn_packed_t *L, int32_t ai2,
                                                   int32_t ar2, int8_t *h, int32_t lsi) {
  const int32_t c = tinyrnn_tanh_abs(
      tinyrnn_ssat16(tinyrnn_ssat16(tinyrnn_rq2(ai2, L->mult_in, lsi, L->rsh_in)) +
                     tinyrnn_ssat16(tinyrnn_rq2(ar2, L->mult_rec, L->lsh_rec, L->rsh_rec))),
      -12);
  *h = (int8_t)tinyrnn_ssat8(tinyrnn_rq2(2 * c, L->mult_h8, L->lsh_h8, L->rsh_h8));
}

#if TINYRNN_PACKED_MVE
/* Helium: per block the two dots (one vector each, lane = unit): the int8-row quads of
 * TINYRNN_W8_DOTS (w8, four blocks at a time while sixteen units are left), else the gate-pair
 * dots in t2 form; then the block's four units at once (tinyrnn_rnn_block_v):
 * tinyrnn_gate16_v for both requantizations (sat16 << 16, so the saturating sum is sat16 of the
 * sum in the high halfword), tinyrnn_tanh_abs_v, and the h8 requantization (VQRDMULH, rounding
 * shift, sat8). The state covers whole blocks. */
TINYRNN_ALWAYS_INLINE void tinyrnn_rnn_block_v(const tinyrnn_rnn_packed_t *L, int32x4_t si,
                                               int32x4_t sr, int8_t *h, int w8) {
  int32x4_t c = vqaddq_s32(tinyrnn_gate16_v(si, L->mult_in, L->lsh_in, L->rsh_in, w8),
                           tinyrnn_gate16_v(sr, L->mult_rec, L->lsh_rec, L->rsh_rec, w8));
  c = tinyrnn_tanh_abs_v(vshrq_n_s32(c, 16), -12);
  c = tinyrnn_mbqm_v(tinyrnn_shl_v(c, L->lsh_h8), L->mult_h8, L->rsh_h8);
  vstrbq_s32(h, vshrq_n_s32(TINYRNN_QSHL_V(c, 24), 24));
}

TINYRNN_ALWAYS_INLINE void tinyrnn_rnn_packed_step_mve(const tinyrnn_rnn_packed_t *L,
                                                       const uint32_t *xi, const uint32_t *xr,
                                                       const int8_t *x, int8_t *h, int w8) {
  int32_t t[2][16];
  const uint32_t *w = (const uint32_t *)(const void *)L->w;
  const int32_t *b = L->b2;
  int8_t *const h_end = h + tinyrnn_units4(L->units);
#if TINYRNN_LSTM_MVE_ASM
  TINYRNN_MVE_DOT_LOCALS(xi, xr, L);
  int32_t *unused = &t[0][0];
  int8x16_t xs[6]; /* w8: the inputs (TINYRNN_W8_INPUTS) */
  const int8_t *w8p = (const int8_t *)(const void *)L->w;
  if (w8) {
    TINYRNN_W8_INPUTS(xs, x, L->input_size, h, L->units);
    /* four blocks per pass: the loop and the inputs' reload shared by sixteen units */
    for (; h_end - h >= 16; h += 16) {
      int32_t *ti = t[0];
      int32_t *tr = t[1];
      const int32_t *tp = &t[0][0];
      TINYRNN_W8_DOTS(4, L->input_size, L->units, xs, w8p, b, ti, tr);
      /* the sums through one base register (VLDRW's immediate offsets), not an SP-relative
       * address computed again for every load */
      __asm__("" : "+r"(tp));
      tinyrnn_rnn_block_v(L, vldrwq_s32(tp), vldrwq_s32(tp + 16), h, 1);
      tinyrnn_rnn_block_v(L, vldrwq_s32(tp + 4), vldrwq_s32(tp + 20), h + 4, 1);
      tinyrnn_rnn_block_v(L, vldrwq_s32(tp + 8), vldrwq_s32(tp + 24), h + 8, 1);
      tinyrnn_rnn_block_v(L, vldrwq_s32(tp + 12), vldrwq_s32(tp + 28), h + 12, 1);
    }
  }
#else
  (void)x;
#endif
  for (; h != h_end; h += 4) {
#if TINYRNN_LSTM_MVE_ASM
    if (w8) {
      int32_t *ti = t[0];
      int32_t *tr = t[1];
      TINYRNN_W8_DOTS(1, L->input_size, L->units, xs, w8p, b, ti, tr);
    } else {
      TINYRNN_MVE_DOT(L->in_pairs, xi, xti, vld2, unused, t[0]);
      TINYRNN_MVE_DOT(L->rec_pairs, xr, xtr, 0, unused, t[1]);
    }
#else
    tinyrnn_dot_t2_mve(&w, xi, L->in_pairs, b, t[0]);
    tinyrnn_dot_t2_mve(&w, xr, L->rec_pairs, b + 4, t[1]);
    b += 8;
#endif
    tinyrnn_rnn_block_v(L, vldrwq_s32(t[0]), vldrwq_s32(t[1]), h, w8);
  }
}
#endif

/* One time step; xpack: 2 * (in_pairs + rec_pairs) words of scratch, 4-byte aligned. */
TINYRNN_ALWAYS_INLINE void tinyrnn_rnn_packed_step(const tinyrnn_rnn_packed_t *L,
                                                   const int8_t *x, int8_t *h, void *xpack) {
  const uint16_t npi = L->in_pairs;
  const uint16_t npr = L->rec_pairs;
  TINYRNN_OUT_T *const xi = (TINYRNN_OUT_T *)xpack;
  TINYRNN_OUT_T *const xr = xi + (uint32_t)TINYRNN_PAIR_SLOTS * npi;
  const int16_t *w = L->w;
  const int32_t *b = L->b2;
  int8_t *const h_end = h + tinyrnn_units4(L->units);
#if TINYRNN_PACKED_MVE
  if (TINYRNN_W8(L->input_size, L->units)) {
    tinyrnn_rnn_packed_step_mve(L, xi, xr, x, h, 1); /* reads x and h as they are */
  } else {
    tinyrnn_pack2(x, L->input_size, xi);
    tinyrnn_pack2(h, L->units, xr);
    tinyrnn_rnn_packed_step_mve(L, xi, xr, x, h, 0);
  }
  (void)w;
  (void)b;
  (void)h_end;
  return;
#endif
  tinyrnn_pack2(x, L->input_size, xi);
  tinyrnn_pack2(h, L->units, xr);
  for (; h != h_end; h += 4, b += 8) {
    int32_t ai[4];
    int32_t ar[4];
    const TINYRNN_OUT_T *xp = xi;
    w = tinyrnn_dot_pairs_sh(w, &xp, npi, b, ai, TINYRNN_BSH(L->lsh_in), TINYRNN_BSH(L->lsh_in));
    xp = xr;
    w = tinyrnn_dot_pairs(w, &xp, npr, b + 4, ar);
    tinyrnn_rnn_packed_unit(L, ai[0], ar[0], h, L->lsh_in);
    tinyrnn_rnn_packed_unit(L, ai[1], ar[1], h + 1, TINYRNN_BLS(L->lsh_in));
    tinyrnn_rnn_packed_unit(L, ai[2], ar[2], h + 2, L->lsh_in);
    tinyrnn_rnn_packed_unit(L, ai[3], ar[3], h + 3, TINYRNN_BLS(L->lsh_in));
  }
}

TINYRNN_ALWAYS_INLINE void tinyrnn_rnn_packed_reset(const tinyrnn_rnn_packed_t *L, int8_t *h) {
  memset(h, 0, tinyrnn_units4(L->units));
}

#ifdef __cplusplus
}
#endif

#endif /* TINYRNN_RNN_PACKED_H */
