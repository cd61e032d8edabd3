/* Fast int8 GRU step (reset_after=1) on pair-packed weights, built from the packed LSTM kernel's
 * pieces (tinyrnn_lstm_packed.h: tinyrnn_dot_pairs, tinyrnn_pack2, tinyrnn_rq2, the table
 * activations). Inline: the generated model instantiates it with its constant descriptor.
 *
 * Reference semantics: exactly tinyrnn_gru_step() with reset_after == 1 (docs/int8-gru-rnn.md,
 * convert/rnn_reference.py gru_step), per unit j:
 *   z   = sigmoid16(sat16(rq_in(W_in[z] x + b_in[z]) + rq_rec(W_rec[z] h8 + b_rec[z])))
 *   r   = sigmoid16(sat16(rq_in(W_in[r] x + b_in[r]) + rq_rec(W_rec[r] h8 + b_rec[r])))
 *   a   = sat16(rq_in(W_in[h] x + b_in[h]) + sat16(rshift15(r * rq_rec(W_rec[h] h8 + b_rec[h]))))
 *   c   = tanh16(a, -12);  h16 = sat16(c + rshift15(z * (h16 - c)))
 *   h8  = sat8(mbqm(h16, mult_h8, shift_h8))
 *
 * How it computes the same integers faster:
 * - Units go in blocks of four (any number of units: the compiler pads the rows to a multiple
 *   of 4 with zeros, tinyrnn_units4; the recurrent operand stays the real units). A block's
 *   twelve gate rows form three tinyrnn_dot_pairs calls per side, each on two int16 halfword
 *   streams (256*B + A): (z0, r0) (z1, r1), then (z2, r2) (z3, r3), then (h0, h1) (h2, h3).
 *   Weight stream per block: input A, recurrent A, input B, recurrent B, input C,
 *   recurrent C; biases {2bA0, 2bA0 + 512bB0, 2bA1, 2bA1 + 512bB1} in the same order.
 * - x and h8(t-1) are widened to int16 pairs once per step (tinyrnn_pack2), so h16 and h8 are
 *   written in place, unit by unit.
 * - rq_in/rq_rec/mbqm(h16) are tinyrnn_rq2 on doubled values (the compiler checks the range
 *   conditions of tinyrnn_lstm_packed.h for every gate); rshift15(v) for |v| < 2^31 - 2^14 is
 *   (v + 2^14 + (v >> 31)) >> 15 (round half away from zero, as RoundingDivideByPOT);
 *   |z * (h16 - c)| <= 32767 * 65535 and |r * rec| <= 2^30 satisfy it.
 *
 * int8-state variant (tinyrnn_gru_s8_packed_step, quantizer state_bits=8): the same schedule
 * and weights, no h16; per unit c8 = sat8(mbqm(c, mult_h8, shift_h8)),
 * h8 = sat8(c8 + rshift15(z * (h8 - c8))) (rnn_reference.py gru_step, state_bits 8). h8 is
 * still rewritten in place: the products read the int16 pairs packed before the first block.
 * Both variants are one inline body with a constant flag, so the int16 path compiles as before.
 */
#ifndef TINYRNN_GRU_PACKED_H
#define TINYRNN_GRU_PACKED_H

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
  const int16_t *w;   /* per block of 4 units: 6 streams of [pairs][2][2] halfwords, aligned */
  const int32_t *b2;  /* per block: 6 x 4 accumulator start values */
  int32_t mult_in[3], lsh_in[3], rsh_in[3];    /* gates z, r, h */
  int32_t mult_rec[3], lsh_rec[3], rsh_rec[3];
  int32_t mult_h8, lsh_h8, rsh_h8;
} tinyrnn_gru_packed_t;

/* RoundingDivideByPOT(v, 15) for |v| < 2^31 - 2^14. */
TINYRNN_ALWAYS_INLINE int32_t tinyrnn_rshift15(int32_t v) {
  return (v + (1 << 14) + (v >> 31)) >> 15;
}

/* sat16(rq(acc2 / 2)) with the side's (mult, lsh, rsh) of gate g */
#define TINYRNN_GRU_RQ(acc2, side, g) \
  tinyrnn_ssat16(tinyrnn_rq2((acc2), L->mult_##side[g], L->lsh_##side[g], L->rsh_##side[g]))
/* the same for an input-side B sum that came out of tinyrnn_dot_pairs_sh already shifted */
#define TINYRNN_GRU_RQB(acc2, g) \
  tinyrnn_ssat16(tinyrnn_rq2((acc2), L->mult_in[g], TINYRNN_BLS(L->lsh_in[g]), L->rsh_in[g]))
/* sigmoid16(sat16(rq_in + rq_rec)) of gate g from the doubled accumulators */
#define TINYRNN_GRU_SIG(ai2, ar2, g) \
  tinyrnn_sigmoid_fast(tinyrnn_ssat16(TINYRNN_GRU_RQ(ai2, in, g) + TINYRNN_GRU_RQ(ar2, rec, g)))
#define TINYRNN_GRU_SIGB(ai2, ar2, g) \
  tinyrnn_sigmoid_fast(tinyrnn_ssat16(TINYRNN_GRU_RQB(ai2, g) + TINYRNN_GRU_RQ(ar2, rec, g)))

/* The state update of one unit from its candidate c (Q0.15) and z. s8 == 0: int16 state,
 *   h16 = sat16(c + rshift15(z * (h16 - c))), h8 = sat8(mbqm(h16, mult_h8, shift_h8));
 * s8 == 1 (state_bits 8, h16 unused; a constant at every call, so the test costs nothing):
 *   c8 = sat8(mbqm(c, mult_h8, shift_h8)), h8 = sat8(c8 + rshift15(z * (h8 - c8))),
 *   |z * (h8 - c8)| <= 32767 * 255 inside tinyrnn_rshift15's range. */
TINYRNN_ALWAYS_INLINE void tinyrnn_gru_packed_update(const tinyrnn_gru_packed_t *L, int32_t c,
                                                     int32_t z, int16_t *h16, int8_t *h8,
                                                     int s8) {
  if (!s8) {
    const int32_t hv = tinyrnn_ssat16(c + tinyrnn_rshift15(z * ((int32_t)*h16 - c)));
    *h16 = (int16_t)hv;
    *h8 = (int8_t)tinyrnn_ssat8(tinyrnn_rq2(2 * hv, L->mult_h8, L->lsh_h8, L->rsh_h8));
  } else {
    const int32_t c8 = tinyrnn_ssat8(tinyrnn_rq2(2 * c, L->mult_h8, L->lsh_h8, L->rsh_h8));
    *h8 = (int8_t)tinyrnn_ssat8(c8 + tinyrnn_rshift15(z * ((int32_t)*h8 - c8)));
  }
}

/* The candidate and state update of one unit: xh = rq_in of gate h (int16), ar2 the doubled
 * recurrent accumulator of gate h; writes h16 and h8 of the unit. */
TINYRNN_ALWAYS_INLINE void tinyrnn_gru_packed_unit(const tinyrnn_gru_packed_t *L, int32_t xh,
                                                   int32_t ar2, int32_t z, int32_t r,
                                                   int16_t *h16, int8_t *h8, int s8) {
  const int32_t rec = TINYRNN_GRU_RQ(ar2, rec, 2);
  const int32_t a = tinyrnn_ssat16(xh + tinyrnn_ssat16(tinyrnn_rshift15(r * rec)));
  const int32_t c = tinyrnn_tanh_fast(a, -12);
  tinyrnn_gru_packed_update(L, c, z, h16, h8, s8);
}

/* h16 + k, or h16 itself (0) for the int8 state: no arithmetic on a null pointer. */
#define TINYRNN_GRU_H16_AT(h16, k, s8) ((s8) ? (h16) : (h16) + (k))

#if TINYRNN_PACKED_MVE
/* Helium: per block the dots, then every unit's element-wise work on four units per vector
 * (lane = unit; the state arrays cover whole blocks, so no predication). With the int8-row
 * layout (w8) the block is three quads, gates z, r, h of its four units (TINYRNN_W8_DOTS), and
 * each gate's sums load as one vector. Otherwise the gate-pair dots as in the scalar loop below:
 * the (z, r) dots of units (0, 1) and (2, 3) land side by side, so VLD2 gives z's A sums and the
 * AB sums from which r's B sums come (ab - a = 512 r). Operations and their exactness:
 * tinyrnn_gate16_v, tinyrnn_sigmoid_v, tinyrnn_tanh_v (tinyrnn_lstm_packed.h); rshift15 is
 * tinyrnn_rdbypot_v(v, 15) under the same ranges as the scalar code. */
TINYRNN_ALWAYS_INLINE void tinyrnn_gru_packed_step_mve(const tinyrnn_gru_packed_t *L,
                                                       const uint32_t *xi, const uint32_t *xr,
                                                       const int8_t *x, int16_t *h16, int8_t *h8,
                                                       int s8, int w8) {
  int32_t zr[2][12]; /* w8: [side][z, r, h of four units]; pairs: [side][8] and hh */
  int32_t hh[2][4];
  const uint32_t *w = (const uint32_t *)(const void *)L->w;
  const int32_t *b = L->b2;
  int8_t *const h8_end = h8 + tinyrnn_units4(L->units);
#if TINYRNN_LSTM_MVE_ASM
  TINYRNN_MVE_DOT_LOCALS(xi, xr, L);
  int8x16_t xs[6]; /* w8: the inputs (TINYRNN_W8_INPUTS) */
  const int8_t *w8p = (const int8_t *)(const void *)L->w;
  if (w8) {
    TINYRNN_W8_INPUTS(xs, x, L->input_size, h8, L->units);
  }
#else
  (void)x;
#endif
  for (; h8 != h8_end; h8 += 4, h16 = TINYRNN_GRU_H16_AT(h16, 4, s8)) {
    int32x4_t z, r, a, c, hv, ain, arec;
#if TINYRNN_LSTM_MVE_ASM
    int32_t *pi = &zr[0][0];
    int32_t *pr = &zr[1][0];
    if (w8) {
      TINYRNN_W8_DOTS(3, L->input_size, L->units, xs, w8p, b, pi, pr);
      z = vqaddq_s32(
          tinyrnn_gate16_v(vldrwq_s32(&zr[0][0]), L->mult_in[0], L->lsh_in[0], L->rsh_in[0], 1),
          tinyrnn_gate16_v(vldrwq_s32(&zr[1][0]), L->mult_rec[0], L->lsh_rec[0], L->rsh_rec[0],
                           1));
      r = vqaddq_s32(
          tinyrnn_gate16_v(vldrwq_s32(&zr[0][4]), L->mult_in[1], L->lsh_in[1], L->rsh_in[1], 1),
          tinyrnn_gate16_v(vldrwq_s32(&zr[1][4]), L->mult_rec[1], L->lsh_rec[1], L->rsh_rec[1],
                           1));
      ain = vldrwq_s32(&zr[0][8]);
      arec = vldrwq_s32(&zr[1][8]);
    } else {
      TINYRNN_MVE_DOT(L->in_pairs, xi, xti, vld2, pi, (int32_t *)0);
      TINYRNN_MVE_DOT(L->rec_pairs, xr, xtr, 0, pr, (int32_t *)0);
      TINYRNN_MVE_DOT(L->in_pairs, xi, xti, vld2, pi, (int32_t *)0);
      TINYRNN_MVE_DOT(L->rec_pairs, xr, xtr, 0, pr, (int32_t *)0);
      TINYRNN_MVE_DOT(L->in_pairs, xi, xti, vld2, pi, hh[0]);
      TINYRNN_MVE_DOT(L->rec_pairs, xr, xtr, 0, pr, hh[1]);
#else
    {
      const uint32_t *xp;
      xp = xi;
      tinyrnn_dot_pairs_mve(&w, &xp, L->in_pairs, b[0], b[1], b[2], b[3], &zr[0][0], 0);
      xp = xr;
      tinyrnn_dot_pairs_mve(&w, &xp, L->rec_pairs, b[4], b[5], b[6], b[7], &zr[1][0], 0);
      xp = xi;
      tinyrnn_dot_pairs_mve(&w, &xp, L->in_pairs, b[8], b[9], b[10], b[11], &zr[0][4], 0);
      xp = xr;
      tinyrnn_dot_pairs_mve(&w, &xp, L->rec_pairs, b[12], b[13], b[14], b[15], &zr[1][4], 0);
      tinyrnn_dot_t2_mve(&w, xi, L->in_pairs, b + 16, hh[0]);
      tinyrnn_dot_t2_mve(&w, xr, L->rec_pairs, b + 20, hh[1]);
      b += 24;
#endif
      {
        const int32x4x2_t vi = vld2q_s32(&zr[0][0]);
        const int32x4x2_t vr = vld2q_s32(&zr[1][0]);
        z = vqaddq_s32(
            tinyrnn_lstm_gate_a_v(vi.val[0], L->mult_in[0], L->lsh_in[0], L->rsh_in[0]),
            tinyrnn_lstm_gate_a_v(vr.val[0], L->mult_rec[0], L->lsh_rec[0], L->rsh_rec[0]));
        r = vqaddq_s32(tinyrnn_lstm_gate_b_v(vi.val[0], vi.val[1], L->mult_in[1],
                                             L->lsh_in[1], L->rsh_in[1]),
                       tinyrnn_lstm_gate_b_v(vr.val[0], vr.val[1], L->mult_rec[1],
                                             L->lsh_rec[1], L->rsh_rec[1]));
      }
      ain = vldrwq_s32(hh[0]);
      arec = vldrwq_s32(hh[1]);
    }
    z = tinyrnn_sigmoid_v(vshrq_n_s32(z, 16));
    r = tinyrnn_sigmoid_v(vshrq_n_s32(r, 16));
    /* a = sat16(xh + sat16(rshift15(r * rec))), both terms as sat16 << 16 */
    a = tinyrnn_gate16_v(arec, L->mult_rec[2], L->lsh_rec[2], L->rsh_rec[2], w8);
    a = TINYRNN_QSHL_V(tinyrnn_rdbypot_v(vmulq_s32(r, vshrq_n_s32(a, 16)), 15), 16);
    a = vqaddq_s32(tinyrnn_gate16_v(ain, L->mult_in[2], L->lsh_in[2], L->rsh_in[2], w8), a);
    c = tinyrnn_tanh_v(vshrq_n_s32(a, 16), -12);
    if (!s8) {
      hv = vaddq_s32(c, tinyrnn_rdbypot_v(vmulq_s32(z, vsubq_s32(vldrhq_s32(h16), c)), 15));
      hv = vshrq_n_s32(TINYRNN_QSHL_V(hv, 16), 16);
      vstrhq_s32(h16, hv);
      hv = tinyrnn_mbqm_v(tinyrnn_shl_v(hv, L->lsh_h8), L->mult_h8, L->rsh_h8);
    } else {
      /* int8 state (tinyrnn_gru_packed_update): c8 = sat8(mbqm(c)), h8 = sat8(c8 + ...) */
      const int32x4_t c8 = vshrq_n_s32(
          TINYRNN_QSHL_V(tinyrnn_mbqm_v(tinyrnn_shl_v(c, L->lsh_h8), L->mult_h8, L->rsh_h8), 24),
          24);
      hv = vaddq_s32(c8, tinyrnn_rdbypot_v(vmulq_s32(z, vsubq_s32(vldrbq_s32(h8), c8)), 15));
    }
    vstrbq_s32(h8, vshrq_n_s32(TINYRNN_QSHL_V(hv, 24), 24));
  }
}
#endif

/* One time step, both state widths (s8: a constant, see tinyrnn_gru_packed_update);
 * xpack: 2 * (in_pairs + rec_pairs) words of scratch, 4-byte aligned. */
TINYRNN_ALWAYS_INLINE void tinyrnn_gru_packed_run(const tinyrnn_gru_packed_t *L,
                                                  const int8_t *x, int16_t *h16, int8_t *h8,
                                                  void *xpack, int s8) {
  const uint16_t npi = L->in_pairs;
  const uint16_t npr = L->rec_pairs;
  TINYRNN_OUT_T *const xi = (TINYRNN_OUT_T *)xpack;
  TINYRNN_OUT_T *const xr = xi + (uint32_t)TINYRNN_PAIR_SLOTS * npi;
  const int16_t *w = L->w;
  const int32_t *b = L->b2;
  int8_t *const h8_end = h8 + tinyrnn_units4(L->units);
#if TINYRNN_PACKED_MVE
  if (TINYRNN_W8(L->input_size, L->units)) {
    tinyrnn_gru_packed_step_mve(L, xi, xr, x, h16, h8, s8, 1); /* reads x and h8 as they are */
  } else {
    tinyrnn_pack2(x, L->input_size, xi);
    tinyrnn_pack2(h8, L->units, xr);
    tinyrnn_gru_packed_step_mve(L, xi, xr, x, h16, h8, s8, 0);
  }
  (void)w;
  (void)b;
  (void)h8_end;
  return;
#endif
  tinyrnn_pack2(x, L->input_size, xi);
  tinyrnn_pack2(h8, L->units, xr);
  for (; h8 != h8_end; h8 += 4, h16 = TINYRNN_GRU_H16_AT(h16, 4, s8), b += 24) {
    int32_t ai[4];
    int32_t ar[4];
    int32_t z0, r0, z1, r1, z2, r2, z3, r3, x0, x1, x2, x3;
    const TINYRNN_OUT_T *xp = xi;
    w = tinyrnn_dot_pairs_sh(w, &xp, npi, b, ai, TINYRNN_BSH(L->lsh_in[1]),
                             TINYRNN_BSH(L->lsh_in[1]));
    xp = xr;
    w = tinyrnn_dot_pairs(w, &xp, npr, b + 4, ar);
    z0 = TINYRNN_GRU_SIG(ai[0], ar[0], 0);
    r0 = TINYRNN_GRU_SIGB(ai[1], ar[1], 1);
    z1 = TINYRNN_GRU_SIG(ai[2], ar[2], 0);
    r1 = TINYRNN_GRU_SIGB(ai[3], ar[3], 1);
    xp = xi;
    w = tinyrnn_dot_pairs_sh(w, &xp, npi, b + 8, ai, TINYRNN_BSH(L->lsh_in[1]),
                             TINYRNN_BSH(L->lsh_in[1]));
    xp = xr;
    w = tinyrnn_dot_pairs(w, &xp, npr, b + 12, ar);
    z2 = TINYRNN_GRU_SIG(ai[0], ar[0], 0);
    r2 = TINYRNN_GRU_SIGB(ai[1], ar[1], 1);
    z3 = TINYRNN_GRU_SIG(ai[2], ar[2], 0);
    r3 = TINYRNN_GRU_SIGB(ai[3], ar[3], 1);
    xp = xi;
    w = tinyrnn_dot_pairs_sh(w, &xp, npi, b + 16, ai, TINYRNN_BSH(L->lsh_in[2]),
                             TINYRNN_BSH(L->lsh_in[2]));
    x0 = TINYRNN_GRU_RQ(ai[0], in, 2);
    x1 = TINYRNN_GRU_RQB(ai[1], 2);
    x2 = TINYRNN_GRU_RQ(ai[2], in, 2);
    x3 = TINYRNN_GRU_RQB(ai[3], 2);
    xp = xr;
    w = tinyrnn_dot_pairs(w, &xp, npr, b + 20, ar);
    tinyrnn_gru_packed_unit(L, x0, ar[0], z0, r0, h16, h8, s8);
    tinyrnn_gru_packed_unit(L, x1, ar[1], z1, r1, TINYRNN_GRU_H16_AT(h16, 1, s8),
                            h8 + 1, s8);
    tinyrnn_gru_packed_unit(L, x2, ar[2], z2, r2, TINYRNN_GRU_H16_AT(h16, 2, s8),
                            h8 + 2, s8);
    tinyrnn_gru_packed_unit(L, x3, ar[3], z3, r3, TINYRNN_GRU_H16_AT(h16, 3, s8),
                            h8 + 3, s8);
  }
}

/* int16 state h16 [tinyrnn_units4(units)] and its int8 view h8. */
TINYRNN_ALWAYS_INLINE void tinyrnn_gru_packed_step(const tinyrnn_gru_packed_t *L,
                                                   const int8_t *x, int16_t *h16, int8_t *h8,
                                                   void *xpack) {
  tinyrnn_gru_packed_run(L, x, h16, h8, xpack, 0);
}

/* int8-state GRU (state_bits 8): h8 is the whole state [tinyrnn_units4(units)]. */
TINYRNN_ALWAYS_INLINE void tinyrnn_gru_s8_packed_step(const tinyrnn_gru_packed_t *L,
                                                      const int8_t *x, int8_t *h8, void *xpack) {
  tinyrnn_gru_packed_run(L, x, 0, h8, xpack, 1);
}
#undef TINYRNN_GRU_SIG
#undef TINYRNN_GRU_SIGB
#undef TINYRNN_GRU_RQ
#undef TINYRNN_GRU_RQB

TINYRNN_ALWAYS_INLINE void tinyrnn_gru_packed_reset(const tinyrnn_gru_packed_t *L, int16_t *h16,
                                                    int8_t *h8) {
  memset(h16, 0, (uint32_t)tinyrnn_units4(L->units) * sizeof(int16_t));
  memset(h8, 0, tinyrnn_units4(L->units));
}

TINYRNN_ALWAYS_INLINE void tinyrnn_gru_s8_packed_reset(const tinyrnn_gru_packed_t *L,
                                                       int8_t *h8) {
  memset(h8, 0, tinyrnn_units4(L->units));
}

#ifdef __cplusplus
}
#endif

#endif /* TINYRNN_GRU_PACKED_H */
