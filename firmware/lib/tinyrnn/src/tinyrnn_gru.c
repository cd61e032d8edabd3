/* One time step of the int8 GRU, Keras semantics (docs/int8-gru-rnn.md,
 * convert/rnn_reference.py), modelled on TFLM's 8x8->16 LSTM.
 *
 * Reference semantics, per unit j, gates g = z, r, h; x int8 (zero point folded into b_in),
 * h8 the int8 hidden operand (symmetric), h16 the int16 state at 2^-15; rq_in/rq_rec are
 * sat16(mbqm(., mult[g], shift[g])) to Q3.12; rshift15 = rounding divide by 2^15:
 *   z   = sigmoid16(sat16(rq_in(W_in[z] x + b_in[z]) + rq_rec(W_rec[z] h8 + b_rec[z])))
 *   r   = sigmoid16(sat16(rq_in(W_in[r] x + b_in[r]) + rq_rec(W_rec[r] h8 + b_rec[r])))
 *   reset_after=1: a = sat16(rq_in(W_in[h] x + b_in[h])
 *                            + sat16(rshift15(r * rq_rec(W_rec[h] h8 + b_rec[h]))))
 *   reset_after=0: rh8 = rshift15(r * h8) for every unit first, then
 *                  a = sat16(rq_in(W_in[h] x + b_in[h]) + rq_rec(W_rec[h] rh8))
 *   c   = tanh16(a, -12)                                 (Q0.15)
 *   h16 = sat16(c + rshift15(z * (h16 - c)))             z h + (1 - z) c, |z * (h - c)| < 2^31
 *   h8  = sat8(mbqm(h16, mult_h8, shift_h8))             after all units (the products read
 *                                                        the previous h8)
 * int8 state (tinyrnn_gru_s8_step, state_bits 8), no h16, after all units:
 *   c8  = sat8(mbqm(c, mult_h8, shift_h8));  h8 = sat8(c8 + rshift15(z * (h8 - c8)))
 * Four units of a gate are four consecutive rows: one tinyrnn_dot4_s8 pass (DSP on Cortex-M)
 * serves them. With the int16 state no buffer for h' is needed: h16 is updated in place and h8
 * rewritten at the end; the int8 state writes h' to scratch first.
 */
#include <string.h>

#include "tinyrnn_gru.h"


/* acc[k] = bias[g][j0 + k] (0 without bias) + W[g][j0 + k] . v */
static void gate_rows(const int8_t *w, const int32_t *bias, uint16_t g, uint16_t units,
                      uint16_t n, uint16_t j0, uint16_t nb, const int8_t *v, int32_t acc[4]) {
  const uint32_t row = (uint32_t)g * units + j0;
  acc[0] = acc[1] = acc[2] = acc[3] = 0;
  if (bias != 0) {
    memcpy(acc, bias + row, nb * sizeof(int32_t));
  }
  tinyrnn_dot_rows_s8(w + row * n, v, n, nb, acc);
}

static int16_t rq(int32_t acc, int32_t mult, int32_t shift) {
  return tinyrnn_sat16(tinyrnn_mbqm(acc, mult, shift));
}

static int8_t sat8(int32_t v) {
  return (int8_t)(v > 127 ? 127 : (v < -128 ? -128 : v));
}

/* Both state widths: h16 != 0 updates the int16 state in place; h16 == 0 (int8 state) writes
 * the new h8 to h8_next, copied over h8 at the end. scratch: rh8 (reset_after == 0). */
static void gru_step(const tinyrnn_gru_t *layer, const int8_t *x, int16_t *h16, int8_t *h8,
                     int8_t *scratch, int8_t *h8_next) {
  const uint16_t n_in = layer->input_size;
  const uint16_t n = layer->units;
  uint16_t j0;
  uint16_t j;
  if (!layer->reset_after) {
    /* Pass 1: r for every unit, and the reset hidden operand rh8 = r * h8. */
    for (j0 = 0; j0 < n; j0 = (uint16_t)(j0 + 4u)) {
      const uint16_t nb = tinyrnn_block_rows(n, j0);
      int32_t ax[4];
      int32_t ah[4];
      uint16_t k;
      gate_rows(layer->w_in, layer->b_in, TINYRNN_GRU_GATE_R, n, n_in, j0, nb, x, ax);
      gate_rows(layer->w_rec, layer->b_rec, TINYRNN_GRU_GATE_R, n, n, j0, nb, h8, ah);
      for (k = 0; k < nb; ++k) {
        const int16_t r = tinyrnn_sigmoid_s16(tinyrnn_sat16(
            (int32_t)rq(ax[k], layer->mult_in[1], layer->shift_in[1]) +
            (int32_t)rq(ah[k], layer->mult_rec[1], layer->shift_rec[1])));
        scratch[j0 + k] = (int8_t)tinyrnn_rdbypot((int32_t)r * (int32_t)h8[j0 + k], 15);
      }
    }
  }
  for (j0 = 0; j0 < n; j0 = (uint16_t)(j0 + 4u)) {
    const uint16_t nb = tinyrnn_block_rows(n, j0);
    int32_t xz[4], hz[4], xh[4], hh[4], xr[4], hr[4];
    uint16_t k;
    gate_rows(layer->w_in, layer->b_in, TINYRNN_GRU_GATE_Z, n, n_in, j0, nb, x, xz);
    gate_rows(layer->w_rec, layer->b_rec, TINYRNN_GRU_GATE_Z, n, n, j0, nb, h8, hz);
    gate_rows(layer->w_in, layer->b_in, TINYRNN_GRU_GATE_H, n, n_in, j0, nb, x, xh);
    if (layer->reset_after) {
      gate_rows(layer->w_in, layer->b_in, TINYRNN_GRU_GATE_R, n, n_in, j0, nb, x, xr);
      gate_rows(layer->w_rec, layer->b_rec, TINYRNN_GRU_GATE_R, n, n, j0, nb, h8, hr);
      gate_rows(layer->w_rec, layer->b_rec, TINYRNN_GRU_GATE_H, n, n, j0, nb, h8, hh);
    } else {
      gate_rows(layer->w_rec, 0, TINYRNN_GRU_GATE_H, n, n, j0, nb, scratch, hh);
    }
    for (k = 0; k < nb; ++k) {
      const int16_t z = tinyrnn_sigmoid_s16(tinyrnn_sat16(
          (int32_t)rq(xz[k], layer->mult_in[0], layer->shift_in[0]) +
          (int32_t)rq(hz[k], layer->mult_rec[0], layer->shift_rec[0])));
      const int16_t rec_h = rq(hh[k], layer->mult_rec[2], layer->shift_rec[2]);
      int32_t a = rq(xh[k], layer->mult_in[2], layer->shift_in[2]);
      int16_t c;
      int32_t hv;
      if (layer->reset_after) {
        const int16_t r = tinyrnn_sigmoid_s16(tinyrnn_sat16(
            (int32_t)rq(xr[k], layer->mult_in[1], layer->shift_in[1]) +
            (int32_t)rq(hr[k], layer->mult_rec[1], layer->shift_rec[1])));
        a += tinyrnn_sat16(tinyrnn_rdbypot((int32_t)r * (int32_t)rec_h, 15));
      } else {
        a += rec_h;
      }
      c = tinyrnn_tanh_s16(tinyrnn_sat16(a), -12);
      if (h16 != 0) {
        hv = (int32_t)c +
             tinyrnn_rdbypot((int32_t)z * ((int32_t)h16[j0 + k] - (int32_t)c), 15);
        h16[j0 + k] = tinyrnn_sat16(hv);
      } else {
        const int32_t c8 = sat8(tinyrnn_mbqm((int32_t)c, layer->mult_h8, layer->shift_h8));
        hv = c8 + tinyrnn_rdbypot((int32_t)z * ((int32_t)h8[j0 + k] - c8), 15);
        h8_next[j0 + k] = sat8(hv);
      }
    }
  }
  if (h16 == 0) {
    memcpy(h8, h8_next, n);
    return;
  }
  for (j = 0; j < n; ++j) {
    h8[j] = sat8(tinyrnn_mbqm((int32_t)h16[j], layer->mult_h8, layer->shift_h8));
  }
}

void tinyrnn_gru_step(const tinyrnn_gru_t *layer, const int8_t *x, int16_t *h16, int8_t *h8,
                      int8_t *scratch) {
  gru_step(layer, x, h16, h8, scratch, 0);
}

void tinyrnn_gru_s8_step(const tinyrnn_gru_t *layer, const int8_t *x, int8_t *h8,
                         int8_t *scratch) {
  gru_step(layer, x, 0, h8, scratch, layer->reset_after ? scratch : scratch + layer->units);
}

void tinyrnn_gru_reset(const tinyrnn_gru_t *layer, int16_t *h16, int8_t *h8) {
  memset(h16, 0, (uint32_t)layer->units * sizeof(int16_t));
  memset(h8, 0, layer->units);
}

void tinyrnn_gru_s8_reset(const tinyrnn_gru_t *layer, int8_t *h8) {
  memset(h8, 0, layer->units);
}
