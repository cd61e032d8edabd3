/* Fast int8 LSTM step on gate-pair packed weights (inline: the generated model instantiates it
 * with its constant layer descriptor, so shifts and multipliers become immediates).
 *
 * Reference semantics: exactly tinyrnn_lstm_step() (TFLM's 8x8->16 LstmStep), per unit j:
 *   pre_g = sat16( sat16(mbqm(W_in_g[j].x + b_in_g[j]))  + sat16(mbqm(W_rec_g[j].h + b_rec_g[j])) )
 *   i, f, o = sigmoid16(pre);  g = tanh16(pre_c, -12)
 *   c' = sat16( sat16(mbqm(f*c)) + sat16(mbqm(i*g)) ) (clipped);  h' = sat8(mbqm(tanh16(c')*o) + zp)
 *
 * How it computes the same integers faster:
 * - Weights of two gates A, B at input k are stored as one int16 halfword p = 256*B[k] + A[k]
 *   (the int8 weights, stored once, as a bijection: low byte = A[k], high byte = B[k] - borrow).
 *   Gate pairs are (input, forget) and (cell, output); halfwords of inputs k, k+1 share a word.
 *   With X the int16 pair (2x[k], 2x[k+1]), SMLAD(SXTB16(w), X) accumulates 2*A.x and
 *   SMLAD(w, X) accumulates 2*(256*B + A).x, so B's doubled dot product is (accAB - accA) >> 8:
 *   three instructions for four MACs. The compiler pads odd lengths with zero weights and only
 *   picks this kernel when every accumulator stays in range (n <= 254, |2a| * 2^left < 2^31)
 *   and every pair fits in int16.
 * - Inputs and h(t-1) are widened (doubled) to int16 pairs once per step in `xpack`, so h(t) can
 *   be written in place.
 * - mbqm(a, m, s) with t = 2a * 2^max(s,0):  srdhm = (t*m + 2^31) >> 32  (one SMMULR on Arm;
 *   equal to TFLM's round-half-away formula), then the rounding right shift by -s is TFLM's
 *   (x + 2^(rs-1) - [x < 0]) >> rs on srdhm's own sign (tinyrnn_rq2: so the operand t dies at the
 *   SMMULR); the product forms below use the sign of a instead (if srdhm < 0 then a < 0; if
 *   a < 0 but srdhm >= 0 then srdhm == 0 and both agree).
 *   Cell products |f*c| < 2^30 allow the same form when their shift is not positive.
 */
#ifndef TINYRNN_LSTM_PACKED_H
#define TINYRNN_LSTM_PACKED_H

#include <stdint.h>
#include <string.h>

#include "tinyrnn_activation.h"
#include "tinyrnn_requant.h"

#if defined(TINYRNN_DSP_INTRINSICS_HEADER)
#include TINYRNN_DSP_INTRINSICS_HEADER
#define TINYRNN_PACKED_DSP 1
#elif defined(__ARM_FEATURE_DSP) && !defined(TINYRNN_NO_DSP)
#include <arm_acle.h>
#define TINYRNN_PACKED_DSP 1
#else
#define TINYRNN_PACKED_DSP 0
#endif

/* Without the DSP extension: on 32-bit MCUs (Cortex-M0/M3, or TINYRNN_PACKED_SCALAR) a scalar
 * loop with two multiply-accumulates per weight halfword; elsewhere (hosts) a layout that
 * compilers vectorize (TINYRNN_PACKED_DUP). */
#if !TINYRNN_PACKED_DSP && !defined(TINYRNN_PACKED_SCALAR) && !defined(__arm__)
#define TINYRNN_PACKED_DUP 1
#else
#define TINYRNN_PACKED_DUP 0
#endif

/* SSAT/USAT exist on every Armv7-M/v8-M Mainline core, DSP extension or not (Cortex-M3). */
#if TINYRNN_PACKED_DSP && defined(__ARM_FEATURE_SAT)
#define TINYRNN_HAS_SAT 1
#elif !TINYRNN_PACKED_DSP && defined(__ARM_FEATURE_SAT) && defined(__arm__)
#include <arm_acle.h>
#define TINYRNN_HAS_SAT 1
#else
#define TINYRNN_HAS_SAT 0
#endif

/* Helium (MVE, Cortex-M55): the dot's groups of four input pairs in vector instructions. */
#if TINYRNN_PACKED_DSP && defined(__ARM_FEATURE_MVE) && !defined(TINYRNN_DSP_INTRINSICS_HEADER) \
    && !defined(TINYRNN_NO_MVE)
#include <arm_mve.h>
#define TINYRNN_PACKED_MVE 1
#else
#define TINYRNN_PACKED_MVE 0
#endif

#if defined(__GNUC__)
#define TINYRNN_ALWAYS_INLINE static inline __attribute__((always_inline))
#else
#define TINYRNN_ALWAYS_INLINE static inline
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  uint16_t input_size;
  uint16_t units;
  uint16_t in_pairs;        /* ceil(input_size / 2) */
  uint16_t rec_pairs;       /* ceil(units / 2) */
  /* Per unit: input weights [in_pairs][2][2] then recurrent weights [rec_pairs][2][2], int16
   * halfwords of the gate pairs (i,f), (c,o); 4-byte aligned (the compiler's union). */
  const int16_t *w;
  /* Per unit: input then recurrent {2bi, 2bi + 512bf, 2bc, 2bc + 512bo}: effective biases
   * (zero points folded in) as accumulator start values, see tinyrnn_dot_pairs. */
  const int32_t *b2;
  int32_t mult_in[4], lsh_in[4], rsh_in[4];
  int32_t mult_rec[4], lsh_rec[4], rsh_rec[4];
  int32_t cell_gate_tanh;
  int32_t cell_scale_power;
  int32_t cell_clip;
  int32_t mult_fc, shift_fc;
  int32_t mult_ig, shift_ig;
  int32_t mult_h, shift_h;
  int32_t hidden_zp;
} tinyrnn_lstm_packed_t;

TINYRNN_ALWAYS_INLINE int32_t tinyrnn_ssat16(int32_t x) {
#if TINYRNN_HAS_SAT
  return __ssat(x, 16);
#else
  return x > 32767 ? 32767 : (x < -32768 ? -32768 : x);
#endif
}

TINYRNN_ALWAYS_INLINE int32_t tinyrnn_ssat8(int32_t x) {
#if TINYRNN_HAS_SAT
  return __ssat(x, 8);
#else
  return x > 127 ? 127 : (x < -128 ? -128 : x);
#endif
}

/* Activation table (tinyrnn_lstm_packed.c): one signed table of rows i = -256..255 serves the
 * sigmoid and both tanh uses, so there is no |x| and no branch on the sign. */
extern const uint32_t tinyrnn_sig_base[512];
extern const uint16_t tinyrnn_sig_diff[512];
#if defined(__GNUC__) && defined(__ELF__)
/* Row 0 of each table as a symbol of its own (tinyrnn_lstm_packed.c): rows -256..255 are
 * indexed from it directly, so the compiler has no offset to add to every index. */
extern const uint32_t tinyrnn_sig_base0[];
extern const uint16_t tinyrnn_sig_diff0[];
#define TINYRNN_SIG_BASE0 tinyrnn_sig_base0
#define TINYRNN_SIG_DIFF0 tinyrnn_sig_diff0
#else
#define TINYRNN_SIG_BASE0 (tinyrnn_sig_base + 256)
#define TINYRNN_SIG_DIFF0 (tinyrnn_sig_diff + 256)
#endif

TINYRNN_ALWAYS_INLINE int32_t tinyrnn_ssat18(int32_t x) {
#if TINYRNN_HAS_SAT
  return __ssat(x, 18);
#else
  return x > 131071 ? 131071 : (x < -131072 ? -131072 : x);
#endif
}

/* Interpolated table value N(v) = base[v >> 9] + (v & 511) * diff[v >> 9] for -2^17 <= v < 2^17:
 * N = r + 512 for v >= 0 and 2^25 - r + 511 for v < 0, where r = (T[k] << 9) + f d(k) is TFLM's
 * interpolation at |v| = 512 k + f (see tinyrnn_lstm_packed.c). */
TINYRNN_ALWAYS_INLINE uint32_t tinyrnn_sig_row(int32_t v) {
  const int32_t i = v >> 9;
  const uint32_t *const base = TINYRNN_SIG_BASE0;
  const uint16_t *const diff = TINYRNN_SIG_DIFF0;
  return base[i] + (uint32_t)(v & 0x1FF) * diff[i];
}

/* tinyrnn_sigmoid_s16 (tinyrnn_activation.h) for x in int16: v = 3x, TFLM's
 * v >= 0 ? (r + 512) >> 10 : (2^25 - r + 511) >> 10 is N(v) >> 10 (|v| >> 9 <= 192 never
 * reaches the saturated branch). */
TINYRNN_ALWAYS_INLINE int32_t tinyrnn_sigmoid_fast(int32_t x) {
  return (int32_t)(tinyrnn_sig_row(x * 3) >> 10);
}

/* tinyrnn_tanh_s16 through the sigmoid rows: with y the tanh's v (8 fractional bits) clamped to
 * -65536..65535 (|v| >= 65280 is TFLM's saturated branch, and row 255 has slope 0 and
 * T[255] = T[256] = 65535, so the clamp changes nothing), N(2y) = 2r + 512 or 2^25 - 2r + 511
 * with r TFLM's tanh interpolation, and TFLM's (r - 2^23 + 128) >> 8 resp.
 * (-r + 2^23 + 127) >> 8 are both (N(2y) - 2^24 - 256) >> 9 (N is odd for y < 0, so the 1 of
 * difference in the constant never crosses a multiple of 512). */
TINYRNN_ALWAYS_INLINE int32_t tinyrnn_tanh_fast(int32_t x, int32_t scale_power) {
  const int32_t left = 15 + scale_power - 3;
  int32_t y2;
  if (left < 0) {
    /* |v| <= 3 * 32768 / 2 < 65280: no clamp */
    y2 = ((x * 3 + (1 << (-left - 1))) >> -left) * 2;
  } else {
    y2 = tinyrnn_ssat18(x * (6 << left));
  }
  return (int32_t)(tinyrnn_sig_row(y2) - ((1u << 24) + 256u)) >> 9;
}

extern const uint32_t tinyrnn_tanh_table[256];

/* tinyrnn_tanh_s16 from a tanh-only table of 1 KB, for kernels that use no sigmoid (SimpleRNN:
 * the 3 KB sigmoid rows would be its only use of them), without branches: |v| is clamped to 65535, where index 255 with slope 0
 * (T[256] = T[255]) gives the saturated branch's value (65535 << 8 rounds to +-32767 alike);
 * the negative branch ((-r + 2^23 + 127) >> 8) equals -((r - 2^23 + 128) >> 8). */
TINYRNN_ALWAYS_INLINE int32_t tinyrnn_tanh_abs(int32_t x, int32_t scale_power) {
  const int32_t left = 15 + scale_power - 3;
  int32_t v;
  uint32_t a, e;
  int32_t pos;
  if (left < 0) {
    v = (x * 3 + (1 << (-left - 1))) >> -left;
  } else {
    v = x * (3 << left);
  }
  a = (uint32_t)(v < 0 ? -v : v);
  if (left >= 0) { /* otherwise |v| <= 3 * 32768 / 2 < 65535 already */
#if TINYRNN_HAS_SAT
    a = (uint32_t)__usat((int32_t)a, 16);
#else
    a = a < 65535u ? a : 65535u;
#endif
  }
  e = tinyrnn_tanh_table[a >> 8];
  /* e = t | (t' - t) << 16 with t = 2 (T - 32768) + 1:
   * (t << 8) + f (t' - t) = 2 ((T << 8) + f d - 2^23 + 128) */
#if TINYRNN_PACKED_DSP && defined(__ARM_FEATURE_DSP) && !defined(TINYRNN_DSP_INTRINSICS_HEADER)
  /* SMLATB: slope (top half of e) * fraction + base */
  pos = (int32_t)((uint32_t)__smlatb((int32_t)e, (int32_t)(a & 0xFFu), (int32_t)((e << 16) >> 8))
                  >> 9);
#else
  pos = (int32_t)((((e & 0xFFFFu) << 8) + (e >> 16) * (a & 0xFFu)) >> 9);
#endif
  return v >= 0 ? pos : -pos;
}

#if TINYRNN_PACKED_DSP && defined(__ARM_FEATURE_DSP) && defined(__GNUC__) && \
    defined(__thumb2__) && defined(__OPTIMIZE__)
#define TINYRNN_PACKED_ASM 1
/* lo in the low halfword, hi in the high one (both int16 values): one PKHBT. */
TINYRNN_ALWAYS_INLINE uint32_t tinyrnn_pkhbt(int32_t lo, int32_t hi) {
  uint32_t r;
  __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(lo), "r"(hi));
  return r;
}
#else
#define TINYRNN_PACKED_ASM 0
#endif
/* Thumb-1 cores (Cortex-M0/M0+): the scalar dot in tinyrnn_dot_pairs_t1.S, and the rounded
 * high product from 16-bit pieces instead of a 64-bit multiply call. */
#if !TINYRNN_PACKED_DSP && !TINYRNN_PACKED_DUP && defined(__GNUC__) && defined(__thumb__) && \
    !defined(__thumb2__)
#define TINYRNN_PACKED_T1ASM 1
void tinyrnn_dot_pairs_t1(const int16_t *w, const int32_t *x, uint32_t np, int32_t acc[4]);
#else
#define TINYRNN_PACKED_T1ASM 0
#endif
#if defined(__thumb__) && !defined(__thumb2__) && !defined(TINYRNN_MULHR16)
#define TINYRNN_MULHR16 1
#endif
/* Thumb-2 cores without DSP (Cortex-M3): the scalar dot in inline assembly. */
#if !TINYRNN_PACKED_DSP && !TINYRNN_PACKED_DUP && defined(__GNUC__) && defined(__thumb2__) && \
    defined(__OPTIMIZE__)
#define TINYRNN_PACKED_T2ASM 1
#else
#define TINYRNN_PACKED_T2ASM 0
#endif

/* Rounded high product (t*m + 2^31) >> 32: SMMULR. */
TINYRNN_ALWAYS_INLINE int32_t tinyrnn_mulhr(int32_t t, int32_t m) {
#if TINYRNN_PACKED_DSP && defined(__ARM_FEATURE_DSP) && defined(__GNUC__)
  int32_t r;
  __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(t), "r"(m));
  return r;
#elif defined(TINYRNN_MULHR16)
  /* Cores without a 32x32->64 multiply (Thumb-1: Cortex-M0/M0+): four 16x16 products of
   * signed halves, t = 2^16 th + tl with tl = (int16_t)t and th = round-half-up(t / 2^16), so
   * |tl| <= 2^15, |th| <= 2^15 and every product is within +-2^30 (m likewise, a constant here).
   * Then t*m + 2^31 = 2^32 th mh + 2^16 (th ml + tl mh) + tl ml + 2^31, and
   * floor(that / 2^32) = th mh + ((th ml + tl mh + (tl ml >> 16) + 2^15) >> 16), the inner sum
   * inside int32 for every int32 t and m (host_tests/test_requant.py checks it against the
   * 64-bit formula). Six instructions fewer than unsigned halves, which need their cross terms
   * split into halfwords to stay inside 32 bits. */
  const int32_t tl = (int16_t)t, ml = (int16_t)m;
  const int32_t th = (t >> 16) + ((t >> 15) & 1), mh = (m >> 16) + ((m >> 15) & 1);
  const uint32_t mid = (uint32_t)(th * ml) + (uint32_t)(tl * mh) + (uint32_t)((tl * ml) >> 16) +
                       0x8000u;
  return th * mh + ((int32_t)mid >> 16);
#else
  return (int32_t)(((int64_t)t * m + (int64_t)0x80000000LL) >> 32);
#endif
}

/* Units of a block-of-four kernel (GRU, RNN) rounded up to whole blocks: the compiler pads the
 * weight rows with zeros and the state arrays to this length; the padded units compute values
 * nobody reads (their recurrent columns do not exist), so results never change. */
TINYRNN_ALWAYS_INLINE uint16_t tinyrnn_units4(uint16_t units) {
  return (uint16_t)((units + 3u) & ~3u);
}

/* mbqm(a, m, s) given t2 = 2a with |t2| * 2^ls < 2^31; ls = max(s,0), rs = max(-s,0). */
TINYRNN_ALWAYS_INLINE int32_t tinyrnn_rq2(int32_t t2, int32_t m, int32_t ls, int32_t rs) {
  int32_t x = tinyrnn_mulhr((int32_t)((uint32_t)t2 << ls), m);
  if (rs > 0) {
    x = (x + (int32_t)(1u << (rs - 1)) + (x >> 31)) >> rs; /* TFLM's rounding on x's sign */
  }
  return x;
}

/* mbqm of a product |p| < 2^30 (cell products). */
TINYRNN_ALWAYS_INLINE int32_t tinyrnn_rq_prod(int32_t p, int32_t m, int32_t s) {
  if (s > 0) {
    return tinyrnn_mbqm(p, m, s);
  }
  if (m == (int32_t)(1u << 30) && s < 0) {
    /* srdhm(p, 2^30) = (p + 1) >> 1 (power-of-two scales of the cell products) */
    return (((p + 1) >> 1) + (int32_t)(1u << (-s - 1)) + (p >> 31)) >> -s;
  }
  return tinyrnn_rq2(p * 2, m, 0, -s);
}

/* mbqm(p, m, s) + zp for a product of two values of magnitude at most 32767 (|p| <= 32767^2):
 * with a right shift rs of at most 23 the zero point joins the rounding constant
 * ((x + half + zp * 2^rs) >> rs = ((x + half) >> rs) + zp; |x| < 2^30 - 2^15 and
 * -2^30 <= zp * 2^23 <= 2^30 - 2^23 keep the sum inside int32). */
TINYRNN_ALWAYS_INLINE int32_t tinyrnn_rq_prod_zp(int32_t p, int32_t m, int32_t s, int32_t zp) {
  if (s < 0 && -s <= 23 && m != (int32_t)(1u << 30)) {
    const int32_t x = tinyrnn_mulhr(p * 2, m);
    return (x + (int32_t)(1u << (-s - 1)) + (int32_t)((uint32_t)zp << -s) + (p >> 31)) >> -s;
  }
  return tinyrnn_rq_prod(p, m, s) + zp;
}

/* Word order of the int16 input pairs (the compiler packs the weights the same way): each
 * full group of four inputs k..k+3 gives the words (x[k], x[k+2]) and (x[k+1], x[k+3]), which is
 * what SXTB16 of the four bytes and of the bytes rotated by 8 produce; a remaining two or three
 * inputs give (x[k], x[k+1]) then (x[k+2], 0); a single one (x[k], 0). Values are doubled. */
#if TINYRNN_PACKED_DSP
TINYRNN_ALWAYS_INLINE uint32_t tinyrnn_pair2(int32_t lo, int32_t hi) {
  return (uint32_t)(uint16_t)(int16_t)(2 * lo) | ((uint32_t)(uint16_t)(int16_t)(2 * hi) << 16);
}
#define TINYRNN_PUT(q, lo, hi) (out[q] = tinyrnn_pair2((lo), (hi)))
#define TINYRNN_OUT_T uint32_t
#define TINYRNN_PAIR_SLOTS 1
#elif !TINYRNN_PACKED_DUP
/* Scalar path (no DSP): int32 slots, so each input is one plain load (LDRD of a pair). */
#define TINYRNN_PUT(q, lo, hi) (out[2 * (q)] = 2 * (lo), out[2 * (q) + 1] = 2 * (hi))
#define TINYRNN_OUT_T int32_t
#define TINYRNN_PAIR_SLOTS 2
#else
/* Portable path: every pair is stored twice (x[lo], x[hi], x[lo], x[hi]) so the dot product is
 * a plain elementwise product with the [pair][gate pair][lane] halfwords (vectorizable). */
#define TINYRNN_PUT(q, lo, hi)                                                      \
  (out[4 * (q)] = out[4 * (q) + 2] = (int16_t)(2 * (lo)),                          \
   out[4 * (q) + 1] = out[4 * (q) + 3] = (int16_t)(2 * (hi)))
#define TINYRNN_OUT_T int16_t
#define TINYRNN_PAIR_SLOTS 4
#endif

TINYRNN_ALWAYS_INLINE void tinyrnn_pack2(const int8_t *v, uint16_t n, TINYRNN_OUT_T *out) {
  const int8_t *const end4 = v + (n & ~3u);
#if TINYRNN_PACKED_MVE
  {
    /* eight inputs (two groups of four) per step: a widening byte gather in the pair order
     * x0, x2, x1, x3, x4, x6, x5, x7, doubled */
    static const uint16_t order[8] = {0u, 2u, 1u, 3u, 4u, 6u, 5u, 7u};
    const uint16x8_t off = vldrhq_u16(order);
    const int8_t *const end8 = v + (n & ~7u);
    while (v != end8) {
      const int16x8_t q = vldrbq_gather_offset_s16(v, off);
      vstrhq_s16((int16_t *)(void *)out, vaddq_s16(q, q));
      out += 4;
      v += 8;
    }
  }
#endif
  while (v != end4) {
#if TINYRNN_PACKED_DSP && defined(__ARM_FEATURE_SIMD32)
    uint32_t q, lo, hi;
    memcpy(&q, v, sizeof q);
    lo = __sxtb16(q);
    hi = __sxtb16((q >> 8) | (q << 24));
    out[0] = __sadd16(lo, lo);
    out[1] = __sadd16(hi, hi);
#else
    TINYRNN_PUT(0, v[0], v[2]);
    TINYRNN_PUT(1, v[1], v[3]);
#endif
    out += 2 * TINYRNN_PAIR_SLOTS;
    v += 4;
  }
  switch (n & 3u) {
    case 3:
      TINYRNN_PUT(0, v[0], v[1]);
      TINYRNN_PUT(1, v[2], 0);
      break;
    case 2:
      TINYRNN_PUT(0, v[0], v[1]);
      break;
    case 1:
      TINYRNN_PUT(0, v[0], 0);
      break;
    default:
      break;
  }
}
#undef TINYRNN_PUT

#if TINYRNN_PACKED_MVE
/* Helium dot of tinyrnn_dot_pairs_sh, raw: out = {a0, ab0, a1, ab1} (the accumulators, B sums not
 * yet separated). Four input pairs (32 MACs) per step: VLD2 of 32-bit words splits the weight
 * stream into the two gate pairs' halfwords (p = 256*B + A), which line up lane by lane with the
 * input halfwords; VMLADAVA sums p*x, and VMOVLB.S8 (the low byte of each halfword,
 * sign-extended) gives A for the A*x sums: the same sums modulo 2^32 as the SMLAD code. The last
 * np % 4 pairs use the same instructions on tail-predicated loads (VCTP): gathers of the
 * pairs' words (word offsets 0, 2, 4, 6 and 1, 3, 5, 7) and the input halfwords, zero in the
 * inactive lanes and never reading past the unit's weights or the packed inputs. */
TINYRNN_ALWAYS_INLINE void tinyrnn_dot_pairs_mve(const uint32_t **wp, const uint32_t **xp,
                                                 uint32_t np, int32_t a0, int32_t ab0,
                                                 int32_t a1, int32_t ab1, int32_t out[4],
                                                 int asm_loop) {
  const uint32_t *w = *wp;
  const uint32_t *x = *xp;
#if defined(__GNUC__) && defined(__OPTIMIZE__)
  /* The loop body in assembly (asm_loop, the LSTM): VMLADAVA's accumulator must be an even
   * register ("Te"), which the compiler otherwise meets by moving the four sums around every
   * iteration. (The GRU and RNN kernels, with more values live around their dots, come out
   * shorter with the compiler's own loop.) */
  for (; asm_loop && np >= 4u; np -= 4u) {
    __asm__("vld20.32 {q0, q1}, [%[w]]\n\t"
            "vld21.32 {q0, q1}, [%[w]]!\n\t"
            "vldrh.16 q2, [%[x]], #16\n\t"
            "vmladava.s16 %[ab0], q0, q2\n\t"
            "vmovlb.s8 q0, q0\n\t"
            "vmladava.s16 %[a0], q0, q2\n\t"
            "vmladava.s16 %[ab1], q1, q2\n\t"
            "vmovlb.s8 q1, q1\n\t"
            "vmladava.s16 %[a1], q1, q2"
            : [a0] "+Te"(a0), [ab0] "+Te"(ab0), [a1] "+Te"(a1), [ab1] "+Te"(ab1), [w] "+r"(w),
              [x] "+r"(x)
            :
            : "d0", "d1", "d2", "d3", "d4", "d5", "memory");
  }
#endif
  for (; np >= 4u; np -= 4u) {
    const int32x4x2_t wv = vld2q_s32((const int32_t *)(const void *)w);
    const int16x8_t xv = vldrhq_s16((const int16_t *)(const void *)x);
    const int16x8_t p0 = vreinterpretq_s16_s32(wv.val[0]);
    const int16x8_t p1 = vreinterpretq_s16_s32(wv.val[1]);
    ab0 = vmladavaq_s16(ab0, p0, xv);
    a0 = vmladavaq_s16(a0, vmovlbq_s8(vreinterpretq_s8_s16(p0)), xv);
    ab1 = vmladavaq_s16(ab1, p1, xv);
    a1 = vmladavaq_s16(a1, vmovlbq_s8(vreinterpretq_s8_s16(p1)), xv);
    w += 8;
    x += 4;
  }
  if (np != 0u) {
    const mve_pred16_t pw = vctp32q(np);
    const uint32x4_t off = vidupq_n_u32(0u, 2);
    const int16x8_t p0 = vreinterpretq_s16_s32(
        vldrwq_gather_shifted_offset_z_s32((const int32_t *)(const void *)w, off, pw));
    const int16x8_t p1 = vreinterpretq_s16_s32(
        vldrwq_gather_shifted_offset_z_s32((const int32_t *)(const void *)(w + 1), off, pw));
    const int16x8_t xv = vldrhq_z_s16((const int16_t *)(const void *)x, vctp16q(2u * np));
    ab0 = vmladavaq_s16(ab0, p0, xv);
    a0 = vmladavaq_s16(a0, vmovlbq_s8(vreinterpretq_s8_s16(p0)), xv);
    ab1 = vmladavaq_s16(ab1, p1, xv);
    a1 = vmladavaq_s16(a1, vmovlbq_s8(vreinterpretq_s8_s16(p1)), xv);
    w += 2u * np;
    x += np;
  }
  out[0] = a0;
  out[1] = ab0;
  out[2] = a1;
  out[3] = ab1;
  *wp = w;
  *xp = x;
}
#endif

/* Dot products of one unit's two gate pairs over np input pairs. w points at the unit's words
 * [np][2] (pair (A0,B0) word then pair (A1,B1) word per input pair) and is advanced past them.
 * init = {2*bA0, 2*bA0 + 512*bB0, 2*bA1, 2*bA1 + 512*bB1} (the compiler's bias pairs).
 * out = 2*(dot + bias) for gates A0, B0, A1, B1. */
TINYRNN_ALWAYS_INLINE const int16_t *tinyrnn_dot_pairs_sh(const int16_t *w16,
                                                          const TINYRNN_OUT_T **xp, uint16_t np,
                                                          const int32_t *init, int32_t out[4],
                                                          int32_t sh1, int32_t sh3) {
  const TINYRNN_OUT_T *x = *xp;
#if TINYRNN_PACKED_DSP
#if TINYRNN_PACKED_ASM && !TINYRNN_PACKED_MVE
  /* the four start values in one LDM (ascending registers) */
  register int32_t a0 __asm__("r4");
  register int32_t ab0 __asm__("r5");
  register int32_t a1 __asm__("r6");
  register int32_t ab1 __asm__("r7");
  __asm__("ldm %[b], {%[a0], %[ab0], %[a1], %[ab1]}"
          : [a0] "=r"(a0), [ab0] "=r"(ab0), [a1] "=r"(a1), [ab1] "=r"(ab1)
          : [b] "r"(init), "m"(*(const int32_t(*)[4])init));
#else
  int32_t a0 = init[0], ab0 = init[1], a1 = init[2], ab1 = init[3];
#endif
  const uint32_t *w = (const uint32_t *)(const void *)w16;
#if TINYRNN_PACKED_MVE
  tinyrnn_dot_pairs_mve(&w, &x, np, a0, ab0, a1, ab1, out, 0);
  out[1] = (int32_t)((uint32_t)out[1] - (uint32_t)out[0]) >> sh1;
  out[3] = (int32_t)((uint32_t)out[3] - (uint32_t)out[2]) >> sh3;
#elif TINYRNN_PACKED_ASM
  /* Straight-line code (np is a constant once the model's descriptor is inlined). Per two
   * input pairs (16 MACs): LDRD of the inputs, LDM of four weight words, 4 SXTB16, 8 SMLAD. */
  {
    register uint32_t v0 __asm__("r2");
    register uint32_t v1 __asm__("r3");
    register uint32_t v2 __asm__("ip");
    register uint32_t v3 __asm__("lr");
    uint32_t xa, xb;
    if (np >= 2u) {
      __asm__(".rept %c[nb]\n\t"
              "ldrd %[xa], %[xb], [%[x]], #8\n\t"
              "ldmia %[w]!, {%[v0], %[v1], %[v2], %[v3]}\n\t"
              "smlad %[ab0], %[v0], %[xa], %[ab0]\n\t"
              "sxtb16 %[v0], %[v0]\n\t"
              "smlad %[a0], %[v0], %[xa], %[a0]\n\t"
              "smlad %[ab1], %[v1], %[xa], %[ab1]\n\t"
              "sxtb16 %[v1], %[v1]\n\t"
              "smlad %[a1], %[v1], %[xa], %[a1]\n\t"
              "smlad %[ab0], %[v2], %[xb], %[ab0]\n\t"
              "sxtb16 %[v2], %[v2]\n\t"
              "smlad %[a0], %[v2], %[xb], %[a0]\n\t"
              "smlad %[ab1], %[v3], %[xb], %[ab1]\n\t"
              "sxtb16 %[v3], %[v3]\n\t"
              "smlad %[a1], %[v3], %[xb], %[a1]\n\t"
              ".endr"
              : [a0] "+r"(a0), [ab0] "+r"(ab0), [a1] "+r"(a1), [ab1] "+r"(ab1), [x] "+r"(x),
                [w] "+r"(w), [xa] "=&r"(xa), [xb] "=&r"(xb), [v0] "=&r"(v0), [v1] "=&r"(v1),
                [v2] "=&r"(v2), [v3] "=&r"(v3)
              : [nb] "i"(np >> 1)
              : "memory");
    }
    if (np & 1u) {
      __asm__("ldr %[xa], [%[x]], #4\n\t"
              "ldrd %[v0], %[v1], [%[w]], #8\n\t"
              "smlad %[ab0], %[v0], %[xa], %[ab0]\n\t"
              "sxtb16 %[v0], %[v0]\n\t"
              "smlad %[a0], %[v0], %[xa], %[a0]\n\t"
              "smlad %[ab1], %[v1], %[xa], %[ab1]\n\t"
              "sxtb16 %[v1], %[v1]\n\t"
              "smlad %[a1], %[v1], %[xa], %[a1]"
              : [a0] "+r"(a0), [ab0] "+r"(ab0), [a1] "+r"(a1), [ab1] "+r"(ab1), [x] "+r"(x),
                [w] "+r"(w), [xa] "=&r"(xa), [v0] "=&r"(v0), [v1] "=&r"(v1)
              :
              : "memory");
    }
  }
#else
  uint16_t k;
  uint32_t v0, v1;
  for (k = 0; k < np; ++k) {
    const uint32_t xv = *x++;
    memcpy(&v0, w16 + 4u * k, sizeof v0);
    memcpy(&v1, w16 + 4u * k + 2u, sizeof v1);
    a0 = __smlad(__sxtb16(v0), xv, a0);
    ab0 = __smlad(v0, xv, ab0);
    a1 = __smlad(__sxtb16(v1), xv, a1);
    ab1 = __smlad(v1, xv, ab1);
  }
  w += 2u * np;
#endif
#if !TINYRNN_PACKED_MVE
  out[0] = a0;
  out[1] = (int32_t)((uint32_t)ab0 - (uint32_t)a0) >> sh1;
  out[2] = a1;
  out[3] = (int32_t)((uint32_t)ab1 - (uint32_t)a1) >> sh3;
#endif
  w16 = (const int16_t *)(const void *)w;
  *xp = x; /* the DSP layout is contiguous: this is where the next side's inputs start */
#elif !TINYRNN_PACKED_DUP && TINYRNN_PACKED_T2ASM
  /* Thumb-2 without DSP (Cortex-M3): per input pair (8 MACs) one LDRD of the two int32
   * inputs, then per weight halfword p: LDRSH, MLA p*x, SXTB (A = (int8)p), MLA A*x; a loop of
   * two pairs (36 instructions per 16 MACs, small enough for the flash budget) and one odd
   * pair: the same sums as the C loop below. */
  int32_t a0 = init[0], a1 = init[2];
  int32_t ab0 = init[1], ab1 = init[3];
  {
#define TINYRNN_T2_PAIR                              \
  "ldrd %[xa], %[xb], [%[x]], #8\n\t"                \
  "ldrsh %[h], [%[w]], #2\n\t"                      \
  "mla %[ab0], %[h], %[xa], %[ab0]\n\t"             \
  "sxtb %[h], %[h]\n\t"                             \
  "mla %[a0], %[h], %[xa], %[a0]\n\t"               \
  "ldrsh %[h], [%[w]], #2\n\t"                      \
  "mla %[ab0], %[h], %[xb], %[ab0]\n\t"             \
  "sxtb %[h], %[h]\n\t"                             \
  "mla %[a0], %[h], %[xb], %[a0]\n\t"               \
  "ldrsh %[h], [%[w]], #2\n\t"                      \
  "mla %[ab1], %[h], %[xa], %[ab1]\n\t"             \
  "sxtb %[h], %[h]\n\t"                             \
  "mla %[a1], %[h], %[xa], %[a1]\n\t"               \
  "ldrsh %[h], [%[w]], #2\n\t"                      \
  "mla %[ab1], %[h], %[xb], %[ab1]\n\t"             \
  "sxtb %[h], %[h]\n\t"                             \
  "mla %[a1], %[h], %[xb], %[a1]\n\t"
    int32_t xa, xb, hw;
    uint32_t n2 = (uint32_t)np >> 1;
    if (n2 > 0u) {
      __asm__("1:\n\t" TINYRNN_T2_PAIR TINYRNN_T2_PAIR
              "subs %[n], %[n], #1\n\t"
              "bne 1b"
              : [a0] "+r"(a0), [ab0] "+r"(ab0), [a1] "+r"(a1), [ab1] "+r"(ab1), [x] "+r"(x),
                [w] "+r"(w16), [n] "+r"(n2), [xa] "=&r"(xa), [xb] "=&r"(xb), [h] "=&r"(hw)
              :
              : "cc", "memory");
    }
    if (np & 1u) {
      __asm__(TINYRNN_T2_PAIR
              : [a0] "+r"(a0), [ab0] "+r"(ab0), [a1] "+r"(a1), [ab1] "+r"(ab1), [x] "+r"(x),
                [w] "+r"(w16), [xa] "=&r"(xa), [xb] "=&r"(xb), [h] "=&r"(hw)
              :
              : "memory");
    }
#undef TINYRNN_T2_PAIR
  }
  out[0] = a0;
  out[1] = (int32_t)((uint32_t)ab0 - (uint32_t)a0) >> sh1;
  out[2] = a1;
  out[3] = (int32_t)((uint32_t)ab1 - (uint32_t)a1) >> sh3;
  *xp = x;
#elif !TINYRNN_PACKED_DUP && TINYRNN_PACKED_T1ASM
  /* Thumb-1 (Cortex-M0): the same sums in tinyrnn_dot_pairs_t1.S. */
  int32_t acc[4];
  acc[0] = init[0];
  acc[1] = init[1];
  acc[2] = init[2];
  acc[3] = init[3];
  tinyrnn_dot_pairs_t1(w16, x, np, acc);
  out[0] = acc[0];
  out[1] = (int32_t)((uint32_t)acc[1] - (uint32_t)acc[0]) >> sh1;
  out[2] = acc[2];
  out[3] = (int32_t)((uint32_t)acc[3] - (uint32_t)acc[2]) >> sh3;
  *xp = x + 2u * np;
  w16 += 4u * np;
#elif !TINYRNN_PACKED_DUP
  /* Scalar: per halfword p = 256*B + A, p*x and A*x (A = (int8)p) accumulate; B as above. */
  int32_t a0 = init[0], a1 = init[2];
  uint32_t ab0 = (uint32_t)init[1], ab1 = (uint32_t)init[3];
  const TINYRNN_OUT_T *const end = x + 2u * np;
  while (x != end) {
    const int32_t x0 = x[0], x1 = x[1];
    const int32_t h00 = w16[0], h01 = w16[1], h10 = w16[2], h11 = w16[3];
    ab0 += (uint32_t)(h00 * x0 + h01 * x1);
    a0 += (int8_t)(uint8_t)(h00 & 0xFF) * x0 + (int8_t)(uint8_t)(h01 & 0xFF) * x1;
    ab1 += (uint32_t)(h10 * x0 + h11 * x1);
    a1 += (int8_t)(uint8_t)(h10 & 0xFF) * x0 + (int8_t)(uint8_t)(h11 & 0xFF) * x1;
    x += 2;
    w16 += 4;
  }
  out[0] = a0;
  out[1] = (int32_t)(ab0 - (uint32_t)a0) >> sh1;
  out[2] = a1;
  out[3] = (int32_t)(ab1 - (uint32_t)a1) >> sh3;
  *xp = x;
#else
  /* Portable: halfword p = 256*B + A, A = (int8)p; sums of p*x and A*x per lane. */
  int32_t sp[4] = {0, 0, 0, 0};
  int32_t sa[4] = {0, 0, 0, 0};
  uint32_t i;
  int l;
  for (i = 0; i < 4u * np; i += 4u) {
    for (l = 0; l < 4; ++l) {
      const int32_t wv = w16[i + (uint32_t)l];
      const int32_t xv = x[i + (uint32_t)l];
      sp[l] += wv * xv;
      sa[l] += (int32_t)(int8_t)(uint8_t)(wv & 0xFF) * xv;
    }
  }
  out[0] = init[0] + sa[0] + sa[1];
  out[1] = (int32_t)((uint32_t)init[1] - (uint32_t)init[0] +
                     (uint32_t)(sp[0] + sp[1] - sa[0] - sa[1])) >> sh1;
  out[2] = init[2] + sa[2] + sa[3];
  out[3] = (int32_t)((uint32_t)init[3] - (uint32_t)init[2] +
                     (uint32_t)(sp[2] + sp[3] - sa[2] - sa[3])) >> sh3;
  w16 += 4u * np;
#endif
  return w16;
}

/* The B sums ab - a are 512 (bB + B.x): exact multiples of 2^9, so out[1] and out[3] may come
 * shifted by less than 8 (sh = 8 - left shift of the requantization that follows, saving that
 * shift). */
TINYRNN_ALWAYS_INLINE const int16_t *tinyrnn_dot_pairs(const int16_t *w16,
                                                       const TINYRNN_OUT_T **xp, uint16_t np,
                                                       const int32_t *init, int32_t out[4]) {
  return tinyrnn_dot_pairs_sh(w16, xp, np, init, out, 8, 8);
}

/* Shift of the B sums for a requantization left shift ls (tinyrnn_dot_pairs_sh), and the left
 * shift that remains after it. */
#define TINYRNN_BSH(ls) ((ls) <= 8 ? 8 - (ls) : 0)
#define TINYRNN_BLS(ls) ((ls) <= 8 ? 0 : (ls) - 8)

#if TINYRNN_PACKED_MVE
/* Rounding shift right by rs > 0 (VRSHR) and saturating shift left by n >= 0 (VQSHL): the
 * immediate encodings when the amount is a compile-time constant, as the generated descriptors'
 * are. The register encodings hold the amount in a core register, and GCC rematerializes those
 * constants in every block of units instead of keeping them (the block loops use all 14). */
#if defined(__OPTIMIZE__)
#define TINYRNN_RSHR_V(x, rs) \
  (__builtin_constant_p(rs) ? vrshrq_n_s32((x), (rs)) : vrshlq_n_s32((x), -(rs)))
#define TINYRNN_QSHL_V(x, n) \
  (__builtin_constant_p(n) ? vqshlq_n_s32((x), (n)) : vqshlq_r_s32((x), (n)))
#else
#define TINYRNN_RSHR_V(x, rs) vrshlq_n_s32((x), -(rs))
#define TINYRNN_QSHL_V(x, n) vqshlq_r_s32((x), (n))
#endif

/* Helium element-wise work, four units per int32 lane vector (units j..j+3 of a block).
 *
 * tinyrnn_rq16_v: sat16(mbqm(a, m, s)) << 16 from y = a * 2^max(s,0) (no overflow: the
 * compiler's range conditions). srdhm(y, m) is VQRDMULH (y * m * 2 + 2^31) >> 32: the same
 * integer as TFLM's round-half-away quotient (see tinyrnn_rq2; m > 0, so no saturation), and
 * TFLM's RoundingDivideByPOT by rs is VRSHL's round-half-up shift of x + (x >> 31) (a negative
 * tie moves away from zero). VQSHL by 16 saturates to int16 in the high halfword; only the
 * high halfword is used (a positive overflow leaves 0xFFFF in the low one). */
TINYRNN_ALWAYS_INLINE int32x4_t tinyrnn_rdbypot_v(int32x4_t x, int32_t rs) {
  if (rs > 0) {
    x = TINYRNN_RSHR_V(vaddq_s32(x, vshrq_n_s32(x, 31)), rs);
  }
  return x;
}

/* mbqm(a, m, s) from y = a * 2^max(s,0): srdhm(y, m), then the rounding shift by rs with the
 * fix-up folded into the multiply: VQRDMLAH adds its accumulator to the rounded high half
 * exactly (acc * 2^32 + 2 y m + 2^31 >> 32), and the accumulator y >> 31 is the -1 of a
 * negative result (y < 0 gives x <= 0, and x = 0 with the -1 still rounds back to 0). */
TINYRNN_ALWAYS_INLINE int32x4_t tinyrnn_mbqm_v(int32x4_t y, int32_t m, int32_t rs) {
  if (rs > 0) {
    return TINYRNN_RSHR_V(vqrdmlahq_n_s32(vshrq_n_s32(y, 31), y, m), rs);
  }
  return vqrdmulhq_n_s32(y, m);
}

TINYRNN_ALWAYS_INLINE int32x4_t tinyrnn_rq16_v(int32x4_t y, int32_t m, int32_t rs) {
  return TINYRNN_QSHL_V(tinyrnn_mbqm_v(y, m, rs), 16);
}

/* y = t * 2^sh for a signed sh (a right shift only ever drops zero bits here). */
TINYRNN_ALWAYS_INLINE int32x4_t tinyrnn_shl_v(int32x4_t t, int32_t sh) {
  return sh != 0 ? vshlq_r_s32(t, sh) : t;
}

/* mbqm(p, m, s) of products |p| < 2^30 (tinyrnn_rq_prod): with s > 0 TFLM's wrapping left
 * shift, then srdhm and the rounding shift as above (srdhm(p, 2^30) = (p + 1) >> 1 comes out of
 * VQRDMULH too, so power-of-two scales need no case of their own). */
TINYRNN_ALWAYS_INLINE int32x4_t tinyrnn_rq_prod_v(int32x4_t p, int32_t m, int32_t s) {
  return tinyrnn_mbqm_v(s > 0 ? vshlq_r_s32(p, s) : p, m, s < 0 ? -s : 0);
}

/* N(v) of tinyrnn_sig_row for four v: VLDRW/VLDRH gathers at the signed row v >> 9 from row 0
 * (a negative offset wraps the 32-bit address to the rows below it). */
TINYRNN_ALWAYS_INLINE int32x4_t tinyrnn_sig_row_v(int32x4_t v) {
  const uint32x4_t i = vreinterpretq_u32_s32(vshrq_n_s32(v, 9));
  const int32x4_t base =
      vreinterpretq_s32_u32(vldrwq_gather_shifted_offset_u32(TINYRNN_SIG_BASE0, i));
  const int32x4_t diff =
      vreinterpretq_s32_u32(vldrhq_gather_shifted_offset_u32(TINYRNN_SIG_DIFF0, i));
  return vaddq_s32(base, vmulq_s32(vandq_s32(v, vdupq_n_s32(511)), diff));
}

/* tinyrnn_sigmoid_fast of int16 values p */
TINYRNN_ALWAYS_INLINE int32x4_t tinyrnn_sigmoid_v(int32x4_t p) {
  return vshrq_n_s32(tinyrnn_sig_row_v(vmulq_n_s32(p, 3)), 10);
}

/* tinyrnn_tanh_fast of int16 values x: the same v, ssat18 as a saturating shift by 14 + left
 * and back (6x fits in int32, so nothing wraps before the saturation). */
TINYRNN_ALWAYS_INLINE int32x4_t tinyrnn_tanh_v(int32x4_t x, int32_t scale_power) {
  const int32_t left = 15 + scale_power - 3;
  int32x4_t y2;
  if (left < 0) {
    y2 = vshlq_n_s32(vrshlq_n_s32(vmulq_n_s32(x, 3), left), 1);
  } else {
    y2 = vshrq_n_s32(vqshlq_r_s32(vmulq_n_s32(x, 6), 14 + left), 14);
  }
  return vshrq_n_s32(vsubq_n_s32(tinyrnn_sig_row_v(y2), (int32_t)((1u << 24) + 256u)), 9);
}

/* mbqm of a gate (A half: t2 = 2a; B half: from a and ab, ab - a = 512 b) */
TINYRNN_ALWAYS_INLINE int32x4_t tinyrnn_lstm_gate_mbqm_a(int32x4_t t2, int32_t m, int32_t ls,
                                                         int32_t rs) {
  return tinyrnn_mbqm_v(tinyrnn_shl_v(t2, ls - 1), m, rs);
}
TINYRNN_ALWAYS_INLINE int32x4_t tinyrnn_lstm_gate_mbqm_b(int32x4_t a, int32x4_t ab, int32_t m,
                                                         int32_t ls, int32_t rs) {
  return tinyrnn_mbqm_v(tinyrnn_shl_v(vsubq_s32(ab, a), ls - 9), m, rs);
}

/* sat16(mbqm) << 16 (VQSHL by 16 saturates into the high halfword) of a vector of sums that
 * are one gate's: plain dot + bias from the int8-row kernels (w8), else t2 (doubled) */
TINYRNN_ALWAYS_INLINE int32x4_t tinyrnn_gate16_v(int32x4_t s, int32_t m, int32_t ls, int32_t rs,
                                                 int w8) {
  return tinyrnn_rq16_v(tinyrnn_shl_v(s, w8 ? ls : ls - 1), m, rs);
}

/* the same of the gate-pair halves (A: t2 = 2a; B: from a and ab) */
TINYRNN_ALWAYS_INLINE int32x4_t tinyrnn_lstm_gate_a_v(int32x4_t t2, int32_t m, int32_t ls,
                                                      int32_t rs) {
  return tinyrnn_gate16_v(t2, m, ls, rs, 0);
}
TINYRNN_ALWAYS_INLINE int32x4_t tinyrnn_lstm_gate_b_v(int32x4_t a, int32x4_t ab, int32_t m,
                                                      int32_t ls, int32_t rs) {
  return TINYRNN_QSHL_V(tinyrnn_lstm_gate_mbqm_b(a, ab, m, ls, rs), 16);
}

/* mbqm of gate g of one side's four accumulator vectors: the int8-row sums (w8) are dot + bias
 * themselves; the gate-pair sums are t2 (gates 0, 2) and the AB sums after them (gates 1, 3). */
TINYRNN_ALWAYS_INLINE int32x4_t tinyrnn_lstm_gate_rq_v(int32x4x4_t v, int g, const int32_t *m,
                                                       const int32_t *ls, const int32_t *rs,
                                                       int w8) {
  if (w8) {
    int32_t mg = m[g];
#if defined(__GNUC__)
    /* an opaque register value: one literal load, where GCC would otherwise derive it from
     * another gate's multiplier by two or three additions */
    __asm__ volatile("" : "+r"(mg));
#endif
    return tinyrnn_mbqm_v(tinyrnn_shl_v(v.val[g], ls[g]), mg, rs[g]);
  }
  if (g & 1) {
    return tinyrnn_lstm_gate_mbqm_b(v.val[g - 1], v.val[g], m[g], ls[g], rs[g]);
  }
  return tinyrnn_lstm_gate_mbqm_a(v.val[g], m[g], ls[g], rs[g]);
}

/* VQMOVNB of x into x's own register: the top halfwords are don't-care here (a VQMOVNT
 * follows, or only the bottom ones are widened back), and an uninitialized destination
 * costs a spill and reload of a vector kept for it. */
TINYRNN_ALWAYS_INLINE int16x8_t tinyrnn_qmovnb_v(int32x4_t x) {
  return vqmovnbq_s32(vreinterpretq_s16_s32(x), x);
}

/* One dot in t2 form (the B sums separated and shifted as in tinyrnn_dot_pairs): for the
 * block kernels whose four outputs are four units' (GRU gate h, SimpleRNN) and go to one vector
 * as they are. */
TINYRNN_ALWAYS_INLINE void tinyrnn_dot_t2_mve(const uint32_t **w, const uint32_t *x, uint32_t np,
                                              const int32_t *b, int32_t out[4]) {
  int32_t t[4];
  tinyrnn_dot_pairs_mve(w, &x, np, b[0], b[1], b[2], b[3], t, 0);
  out[0] = t[0];
  out[1] = (int32_t)((uint32_t)t[1] - (uint32_t)t[0]) >> 8;
  out[2] = t[2];
  out[3] = (int32_t)((uint32_t)t[3] - (uint32_t)t[2]) >> 8;
}

/* tinyrnn_tanh_abs of int16 values x (the 1 KB tanh-only table): |v| clamped to 65535, one
 * gather of the entry (base | slope << 16), the interpolation, and the sign put back as
 * (pos ^ s) - s with s = v >> 31 (the scalar code's v >= 0 ? pos : -pos). */
TINYRNN_ALWAYS_INLINE int32x4_t tinyrnn_tanh_abs_v(int32x4_t x, int32_t scale_power) {
  const int32_t left = 15 + scale_power - 3;
  int32x4_t v, s, pos;
  uint32x4_t a, e;
  if (left < 0) {
    v = vrshlq_n_s32(vmulq_n_s32(x, 3), left);
  } else {
    v = vmulq_n_s32(x, 3 << left);
  }
  a = vreinterpretq_u32_s32(vabsq_s32(v));
  if (left >= 0) {
    a = vminq_u32(a, vdupq_n_u32(65535u));
  }
  e = vldrwq_gather_shifted_offset_u32(tinyrnn_tanh_table, vshrq_n_u32(a, 8));
  /* base << 8 is one VSHLLB of the bottom halfwords */
  pos = vreinterpretq_s32_u32(vshrq_n_u32(
      vaddq_u32(vshllbq_n_u16(vreinterpretq_u16_u32(e), 8),
                vmulq_u32(vshrq_n_u32(e, 16), vandq_u32(a, vdupq_n_u32(0xFFu)))),
      9));
  s = vshrq_n_s32(v, 31);
  return vsubq_s32(veorq_s32(pos, s), s);
}

#if defined(__GNUC__) && defined(__OPTIMIZE__)
#define TINYRNN_LSTM_MVE_ASM 1
/* One dot of one unit (or block) in assembly, for the Helium step functions (which hold w, b
 * and toff): LDM of the four start values straight into the even registers VMLADAVA needs,
 * the full groups of four input pairs unrolled (as tinyrnn_dot_pairs_mve), then the np % 4
 * tail against the inputs xt loaded once per step (zero in the inactive lanes): the weights
 * by VLD2 when vld2_ (at least eight words follow inside the layer's weights), else by two
 * predicated gathers (word offsets toff = 0, 2, 4, 6 and 1, 3, 5, 7), which read nothing past
 * the tail. The raw sums {a0, ab0, a1, ab1} then go to accp_ (an int32_t * lvalue, advanced)
 * by STM, or with t2_ set, in t2 form (B sums separated, see tinyrnn_dot_t2_mve) to t2_. */
#define TINYRNN_MVE_GROUPS                                                                   \
  "ldm %[b]!, {r0, r2, r4, r6}\n\t"                                                          \
  ".set .Ltinyrnn_xo, 0\n\t"                                                                 \
  ".rept %c[ng]\n\t"                                                                         \
  "vld20.32 {q0, q1}, [%[w]]\n\t"                                                            \
  "vld21.32 {q0, q1}, [%[w]]!\n\t"                                                           \
  "vldrw.u32 q2, [%[x], #.Ltinyrnn_xo]\n\t"                                                  \
  ".set .Ltinyrnn_xo, .Ltinyrnn_xo + 16\n\t"                                                 \
  "vmladava.s16 r2, q0, q2\n\t"                                                              \
  "vmovlb.s8 q0, q0\n\t"                                                                     \
  "vmladava.s16 r0, q0, q2\n\t"                                                              \
  "vmladava.s16 r6, q1, q2\n\t"                                                              \
  "vmovlb.s8 q1, q1\n\t"                                                                     \
  "vmladava.s16 r4, q1, q2\n\t"                                                              \
  ".endr\n\t"
#define TINYRNN_MVE_TAIL                                                                     \
  "add %[w], %[w], #8 * %c[tail]\n\t"                                                        \
  "vmladava.s16 r2, q0, %q[xt]\n\t"                                                          \
  "vmovlb.s8 q0, q0\n\t"                                                                     \
  "vmladava.s16 r0, q0, %q[xt]\n\t"                                                          \
  "vmladava.s16 r6, q1, %q[xt]\n\t"                                                          \
  "vmovlb.s8 q1, q1\n\t"                                                                     \
  "vmladava.s16 r4, q1, %q[xt]\n\t"
#define TINYRNN_MVE_STORE                                                                    \
  ".if %c[st]\n\t"                                                                           \
  "stm %[acc]!, {r0, r2, r4, r6}\n\t"                                                        \
  ".endif"
#define TINYRNN_MVE_OUTS(accp_)                                                                   \
  [a0] "=&r"(r_a0), [ab0] "=&r"(r_ab0), [a1] "=&r"(r_a1), [ab1] "=&r"(r_ab1), [w] "+r"(w),   \
      [b] "+r"(b), [acc] "+r"(accp_)
#define TINYRNN_MVE_DOT(np_, x_, xt_, vld2_, accp_, t2_)                                     \
  do {                                                                                       \
    register int32_t r_a0 __asm__("r0");                                                     \
    register int32_t r_ab0 __asm__("r2");                                                    \
    register int32_t r_a1 __asm__("r4");                                                     \
    register int32_t r_ab1 __asm__("r6");                                                    \
    const uint32_t *r_x = (x_);                                                              \
    const uint32_t r_tail = (uint32_t)(np_) & 3u;                                            \
    /* three forms, so a side without tail (or with VLD2) ties up no inputs it does not use */ \
    if (r_tail == 0u) {                                                                      \
      __asm__ volatile(TINYRNN_MVE_GROUPS TINYRNN_MVE_STORE                                  \
                       : TINYRNN_MVE_OUTS(accp_)                                                  \
                       : [ng] "i"((np_) >> 2), [st] "i"((t2_) == 0 ? 1 : 0), [x] "r"(r_x)   \
                       : "d0", "d1", "d2", "d3", "d4", "d5", "memory");                      \
    } else if (vld2_) {                                                                      \
      __asm__ volatile(TINYRNN_MVE_GROUPS                                                    \
                       "vld20.32 {q0, q1}, [%[w]]\n\t"                                       \
                       "vld21.32 {q0, q1}, [%[w]]\n\t" TINYRNN_MVE_TAIL TINYRNN_MVE_STORE    \
                       : TINYRNN_MVE_OUTS(accp_)                                                  \
                       : [ng] "i"((np_) >> 2), [tail] "i"(r_tail),                           \
                         [st] "i"((t2_) == 0 ? 1 : 0), [xt] "w"(xt_), [x] "r"(r_x)           \
                       : "d0", "d1", "d2", "d3", "d4", "d5", "memory");                      \
    } else {                                                                                 \
      __asm__ volatile(TINYRNN_MVE_GROUPS                                                    \
                       "vmsr p0, %[pred]\n\t"                                                \
                       "add %[x], %[w], #4\n\t"                                              \
                       "vpstt\n\t"                                                           \
                       "vldrwt.u32 q0, [%[w], %q[off], uxtw #2]\n\t"                         \
                       "vldrwt.u32 q1, [%[x], %q[off], uxtw #2]\n\t" TINYRNN_MVE_TAIL        \
                           TINYRNN_MVE_STORE                                                 \
                       : TINYRNN_MVE_OUTS(accp_), [x] "+r"(r_x)                                  \
                       : [ng] "i"((np_) >> 2), [tail] "i"(r_tail),                           \
                         [st] "i"((t2_) == 0 ? 1 : 0), [xt] "w"(xt_), [off] "w"(toff),       \
                         [pred] "r"((uint32_t)vctp32q(r_tail))                               \
                       : "d0", "d1", "d2", "d3", "d4", "d5", "p0", "memory");                \
    }                                                                                        \
    if ((t2_) != 0) {                                                                        \
      int32_t *const r_o = (t2_);                                                            \
      r_o[0] = r_a0;                                                                         \
      r_o[1] = (int32_t)((uint32_t)r_ab0 - (uint32_t)r_a0) >> 8;                             \
      r_o[2] = r_a1;                                                                         \
      r_o[3] = (int32_t)((uint32_t)r_ab1 - (uint32_t)r_a1) >> 8;                             \
    }                                                                                        \
  } while (0)
/* the tail inputs of a side: pairs np & ~3 on, zero past np */
#define TINYRNN_MVE_XTAIL(x_, np_)                                                           \
  vldrhq_z_s16((const int16_t *)(const void *)((x_) + ((np_) & ~3u)), vctp16q(2u * ((np_) & 3u)))
/* What TINYRNN_MVE_DOT reads besides its arguments, as locals of a step (the same for every
 * unit): both sides' tail inputs (xti, xtr), the gather offsets (toff), and vld2, whether the
 * input side's tail may load by VLD2 (it may read into the recurrent weights that follow). */
#define TINYRNN_MVE_DOT_LOCALS(xi_, xr_, L_)                                                 \
  const int16x8_t xti = TINYRNN_MVE_XTAIL(xi_, (L_)->in_pairs);                              \
  const int16x8_t xtr = TINYRNN_MVE_XTAIL(xr_, (L_)->rec_pairs);                             \
  const uint32x4_t toff = vidupq_n_u32(0u, 2);                                               \
  const int vld2 = 2u * (L_)->rec_pairs >= 8u - 2u * ((L_)->in_pairs & 3u)
#else
#define TINYRNN_LSTM_MVE_ASM 0
#endif

/* Helium, int8 rows (the M55's own weight layout, every packed cell but the reset_after=False
 * GRU): a layer of at most 32 inputs (two vectors) and 64 units (four vectors) is compiled
 * (convert/aot/emit.py w8_stream) to a stream of quads: four int8 input rows, unpadded, then the
 * same four rows' recurrent weights, and their effective int32 start values {input four,
 * recurrent four}. A quad is one unit's four gates (LSTM), or one gate of a block's four units
 * (GRU z, r, h; SimpleRNN), so its four sums are one vector lane by lane. 16 zero bytes follow
 * the last row. One VMLADAVA.S8 is 16 MACs: a row is one 16-byte load (VLDRB, post-incremented
 * by 16, the last by what is left) per 16 inputs, each against a vector of the inputs whose
 * lanes past n are zero, so the bytes read past the row (the next row, or the padding) add
 * nothing. The sums are the plain dot + bias (no doubling, no B halves). */
#if TINYRNN_LSTM_MVE_ASM
#define TINYRNN_W8(n, u) ((n) <= 32 && (u) <= 64)
/* Chunk c of a row of n: 16 bytes, or the row's last n - 16c, against input vector xq. */
#define TINYRNN_W8_CHUNK(n, c, acc, wq, xq)                                                  \
  ".if " n " > 16 * " #c "\n\t"                                                              \
  ".if " n " > 16 * (" #c " + 1)\n\t"                                                        \
  "vldrb.u8 " wq ", [%[w]], #16\n\t"                                                         \
  ".else\n\t"                                                                                \
  "vldrb.u8 " wq ", [%[w]], #(" n " - 16 * " #c ")\n\t"                                      \
  ".endif\n\t"                                                                               \
  "vmladava.s8 " acc ", " wq ", " xq "\n\t"                                                  \
  ".endif\n\t"
#define TINYRNN_W8_ROW(n, acc, wq, x0, x1, x2, x3)                                           \
  TINYRNN_W8_CHUNK(n, 0, acc, wq, x0) TINYRNN_W8_CHUNK(n, 1, acc, wq, x1)                     \
      TINYRNN_W8_CHUNK(n, 2, acc, wq, x2) TINYRNN_W8_CHUNK(n, 3, acc, wq, x3)
/* One side of one quad: start values by LDM into the even registers VMLADAVA needs, the four
 * rows, the sums to acc by STM (w, b, acc advanced). */
#define TINYRNN_W8_SIDE(n, acc, x0, x1, x2, x3)                                              \
  "ldm %[b]!, {r0, r2, r4, r6}\n\t" TINYRNN_W8_ROW(n, "r0", "q0", x0, x1, x2, x3)              \
      TINYRNN_W8_ROW(n, "r2", "q1", x0, x1, x2, x3)                                          \
          TINYRNN_W8_ROW(n, "r4", "q0", x0, x1, x2, x3)                                      \
              TINYRNN_W8_ROW(n, "r6", "q1", x0, x1, x2, x3) "stm " acc "!, {r0, r2, r4, r6}\n\t"
/* The dots of k quads (k a constant): the inputs xs[6] (input side: two vectors, recurrent
 * side: four) loaded once into q2, q3 and q4..q7, then per quad its input and recurrent sides.
 * Up to 32 units it leaves q6 and q7 alone (the element-wise code keeps constants there). */
#define TINYRNN_W8_DOTS_ASM(k_, nin_, nu_, xs_, w_, b_, ai_, ar_, ...)                       \
  __asm__ volatile("vldrw.u32 q2, [%[xs]]\n\t"                                               \
                   ".if %c[ni] > 16\n\tvldrw.u32 q3, [%[xs], #16]\n\t.endif\n\t"             \
                   "vldrw.u32 q4, [%[xs], #32]\n\t"                                          \
                   ".if %c[nu] > 16\n\tvldrw.u32 q5, [%[xs], #48]\n\t.endif\n\t"             \
                   ".if %c[nu] > 32\n\tvldrw.u32 q6, [%[xs], #64]\n\t.endif\n\t"             \
                   ".if %c[nu] > 48\n\tvldrw.u32 q7, [%[xs], #80]\n\t.endif\n\t"             \
                   ".rept %c[k]\n\t"                                                         \
                   TINYRNN_W8_SIDE("%c[ni]", "%[ai]", "q2", "q3", "q3", "q3")                \
                   TINYRNN_W8_SIDE("%c[nu]", "%[ar]", "q4", "q5", "q6", "q7") ".endr"        \
                   : [w] "+r"(w_), [b] "+r"(b_), [ai] "+r"(ai_), [ar] "+r"(ar_)              \
                   : [k] "i"(k_), [ni] "i"(nin_), [nu] "i"(nu_), [xs] "r"(xs_),              \
                     "m"(*(const int8_t(*)[96])(const void *)(xs_))                          \
                   : "r0", "r2", "r4", "r6", "d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7",  \
                     "d8", "d9", "d10", "d11", "memory", __VA_ARGS__)
#define TINYRNN_W8_DOTS(k_, nin_, nu_, xs_, w_, b_, ai_, ar_)                                \
  do {                                                                                       \
    if ((nu_) <= 32u) {                                                                      \
      TINYRNN_W8_DOTS_ASM(k_, nin_, nu_, xs_, w_, b_, ai_, ar_, "cc");                       \
    } else {                                                                                 \
      TINYRNN_W8_DOTS_ASM(k_, nin_, nu_, xs_, w_, b_, ai_, ar_, "d12", "d13", "d14", "d15");  \
    }                                                                                        \
  } while (0)
/* Vector c of a side's n inputs, zero past n (predicated loads read nothing past n). */
#define TINYRNN_W8_X(v_, n_, c_)                                                             \
  ((n_) >= 16u * ((c_) + 1u) ? vldrbq_s8((v_) + 16u * (c_))                                  \
                             : vldrbq_z_s8((v_) + 16u * (c_), vctp8q((n_) - 16u * (c_))))
/* xs[6] for a step, before any unit writes h(t) (x: n values, h: u values); only the vectors
 * TINYRNN_W8_DOTS reads. They go through memory so that they are loaded once per block, and
 * sit in vector registers through the block's dots only. */
#define TINYRNN_W8_IN(xs_, i_, v_, n_, c_)                                                   \
  if ((n_) > 16u * (c_)) {                                                                   \
    (xs_)[i_] = TINYRNN_W8_X((const int8_t *)(v_), (n_), (c_));                              \
  }
#define TINYRNN_W8_INPUTS(xs_, x_, n_, h_, u_)                                               \
  do {                                                                                       \
    TINYRNN_W8_IN(xs_, 0, x_, n_, 0u)                                                        \
    TINYRNN_W8_IN(xs_, 1, x_, n_, 1u)                                                        \
    TINYRNN_W8_IN(xs_, 2, h_, u_, 0u)                                                        \
    TINYRNN_W8_IN(xs_, 3, h_, u_, 1u)                                                        \
    TINYRNN_W8_IN(xs_, 4, h_, u_, 2u)                                                        \
    TINYRNN_W8_IN(xs_, 5, h_, u_, 3u)                                                        \
  } while (0)
#endif

/* The LSTM step in blocks of four units: per unit the two Helium dots write their raw
 * accumulators {a0, ab0, a1, ab1} (input side, recurrent side) to acc; per block VLD4 turns
 * them into one vector per accumulator (lane = unit) and the rest of the unit's work (the same
 * integer operations as the scalar loop below) runs on four units at once. A last block of
 * fewer units predicates its loads and stores of c and h (VCTP); its other lanes compute on
 * earlier blocks' values (every table index stays in range: each activation's input is
 * saturated first) and are never stored. */
TINYRNN_ALWAYS_INLINE void tinyrnn_lstm_packed_step_mve(const tinyrnn_lstm_packed_t *L,
                                                        const uint32_t *xi, const uint32_t *xr,
                                                        const int8_t *x, int8_t *h, int16_t *c,
                                                        int w8) {
  int32_t acc[2][4][4];
  const uint32_t *w = (const uint32_t *)(const void *)L->w;
  const int32_t *b = L->b2;
  uint32_t left = L->units;
  int32_t lo, hi;
  if (L->cell_clip > 0 && L->cell_clip < 32767) {
    lo = -L->cell_clip;
    hi = L->cell_clip;
  } else {
    lo = L->cell_clip == 32767 ? -32767 : -32768;
    hi = 32767;
  }
#if TINYRNN_LSTM_MVE_ASM
  TINYRNN_MVE_DOT_LOCALS(xi, xr, L);
  int8x16_t xs[6]; /* w8: the inputs (TINYRNN_W8_INPUTS) */
  const int8_t *w8p = (const int8_t *)(const void *)L->w;
#else
  (void)x;
#endif
  if (L->units < 4u) {
    memset(acc, 0, sizeof acc); /* lanes of absent units: defined values */
  }
#if TINYRNN_LSTM_MVE_ASM
  if (w8) {
    TINYRNN_W8_INPUTS(xs, x, L->input_size, h, L->units);
  }
#endif
  while (left != 0u) {
    const uint32_t n = left < 4u ? left : 4u;
    const mve_pred16_t pred = vctp32q(n);
    uint32_t u;
    int32x4x4_t vi, vr;
    int32x4_t gi, gf, gc, go, cv, cn;
#if TINYRNN_LSTM_MVE_ASM
    {
      int32_t *ai = &acc[0][0][0];
      int32_t *ar = &acc[1][0][0];
      if (w8 && n == 4u) {
        TINYRNN_W8_DOTS(4, L->input_size, L->units, xs, w8p, b, ai, ar);
      } else {
        for (u = 0; u < n; ++u) {
          if (w8) {
            TINYRNN_W8_DOTS(1, L->input_size, L->units, xs, w8p, b, ai, ar);
          } else {
            TINYRNN_MVE_DOT(L->in_pairs, xi, xti, vld2, ai, (int32_t *)0);
            TINYRNN_MVE_DOT(L->rec_pairs, xr, xtr, 0, ar, (int32_t *)0);
          }
        }
      }
    }
#else
    for (u = 0; u < n; ++u) {
      const uint32_t *x = xi;
      tinyrnn_dot_pairs_mve(&w, &x, L->in_pairs, b[0], b[1], b[2], b[3], acc[0][u], 1);
      x = xr;
      tinyrnn_dot_pairs_mve(&w, &x, L->rec_pairs, b[4], b[5], b[6], b[7], acc[1][u], 1);
      b += 8;
    }
#endif
    vi = vld4q_s32(&acc[0][0][0]);
    /* Gates (i, f) and (c, o) as int16 lanes (bottom, top): VQMOVN saturates each side's
     * requantized value to int16, VQADD.S16 gives sat16(fi + fr) of two gates at once, and
     * VMOVLB/VMOVLT widen them back (fewer vectors live beside the recurrent side's four). */
    {
      const int16x8_t f01 = vqmovntq_s32(
          tinyrnn_qmovnb_v(tinyrnn_lstm_gate_rq_v(vi, 0, L->mult_in, L->lsh_in, L->rsh_in, w8)),
          tinyrnn_lstm_gate_rq_v(vi, 1, L->mult_in, L->lsh_in, L->rsh_in, w8));
      const int16x8_t f23 = vqmovntq_s32(
          tinyrnn_qmovnb_v(tinyrnn_lstm_gate_rq_v(vi, 2, L->mult_in, L->lsh_in, L->rsh_in, w8)),
          tinyrnn_lstm_gate_rq_v(vi, 3, L->mult_in, L->lsh_in, L->rsh_in, w8));
      int16x8_t q01, q23;
      vr = vld4q_s32(&acc[1][0][0]);
      q01 = vqaddq_s16(f01, vqmovntq_s32(
          tinyrnn_qmovnb_v(tinyrnn_lstm_gate_rq_v(vr, 0, L->mult_rec, L->lsh_rec, L->rsh_rec, w8)),
          tinyrnn_lstm_gate_rq_v(vr, 1, L->mult_rec, L->lsh_rec, L->rsh_rec, w8)));
      q23 = vqaddq_s16(f23, vqmovntq_s32(
          tinyrnn_qmovnb_v(tinyrnn_lstm_gate_rq_v(vr, 2, L->mult_rec, L->lsh_rec, L->rsh_rec, w8)),
          tinyrnn_lstm_gate_rq_v(vr, 3, L->mult_rec, L->lsh_rec, L->rsh_rec, w8)));
      gi = tinyrnn_sigmoid_v(vmovlbq_s16(q01));
      gf = tinyrnn_sigmoid_v(vmovltq_s16(q01));
      gc = L->cell_gate_tanh ? tinyrnn_tanh_v(vmovlbq_s16(q23), -12)
                             : tinyrnn_sigmoid_v(vmovlbq_s16(q23));
      go = tinyrnn_sigmoid_v(vmovltq_s16(q23));
      cv = vldrhq_z_s32(c, pred);
      /* sat16 + sat16 in int16 lanes is sat16 of the sum: inside any clip range below */
      cn = vmovlbq_s16(vqaddq_s16(
          tinyrnn_qmovnb_v(tinyrnn_rq_prod_v(vmulq_s32(gf, cv), L->mult_fc, L->shift_fc)),
          tinyrnn_qmovnb_v(tinyrnn_rq_prod_v(vmulq_s32(gi, gc), L->mult_ig, L->shift_ig))));
    }
    /* the clip (or int16) range of the scalar code as one clamp of the sum */
    if (lo > -32768) {
      cn = vmaxq_s32(cn, vdupq_n_s32(lo));
    }
    if (hi < 32767) {
      cn = vminq_s32(cn, vdupq_n_s32(hi));
    }
    vstrhq_p_s32(c, cn, pred);
    cv = vaddq_n_s32(tinyrnn_rq_prod_v(vmulq_s32(tinyrnn_tanh_v(cn, L->cell_scale_power), go),
                                       L->mult_h, L->shift_h),
                     L->hidden_zp);
    vstrbq_p_s32(h, vshrq_n_s32(TINYRNN_QSHL_V(cv, 24), 24), pred);
    h += n;
    c += n;
    left -= n;
  }
}
#endif
#ifndef TINYRNN_W8
#define TINYRNN_W8(n, u) 0 /* gate pairs everywhere but the Helium step */
#endif

/* One time step; xpack holds 2 * (in_pairs + rec_pairs) words of scratch, 4-byte aligned. */
TINYRNN_ALWAYS_INLINE void tinyrnn_lstm_packed_step(const tinyrnn_lstm_packed_t *L,
                                                    const int8_t *x, int8_t *h, int16_t *c,
                                                    void *xpack) {
  const uint16_t npi = L->in_pairs;
  const uint16_t npr = L->rec_pairs;
  TINYRNN_OUT_T *xi = (TINYRNN_OUT_T *)xpack;
  /* contiguous: the dot's input pointer runs on into xr */
  TINYRNN_OUT_T *xr = xi + (uint32_t)TINYRNN_PAIR_SLOTS * npi;
  const int16_t *w = L->w;
  const int32_t *b = L->b2;
  int8_t *const h_end = h + L->units;
#if TINYRNN_PACKED_MVE
  if (TINYRNN_W8(L->input_size, L->units)) {
    tinyrnn_lstm_packed_step_mve(L, xi, xr, x, h, c, 1); /* reads x and h as they are */
  } else {
    tinyrnn_pack2(x, L->input_size, xi);
    tinyrnn_pack2(h, L->units, xr);
    tinyrnn_lstm_packed_step_mve(L, xi, xr, x, h, c, 0);
  }
  (void)w;
  (void)b;
  (void)h_end;
  return;
#endif
  tinyrnn_pack2(x, L->input_size, xi);
  tinyrnn_pack2(h, L->units, xr);
  for (; h != h_end; ++h, ++c) {
    int32_t ai[4];
    int32_t ar[4];
    int32_t gi, gf, gc, go;
    int32_t cn;
    int32_t fi0, fi1, fi2, fi3;
    int32_t p0, p1, p2, p3;
    /* Input side first, so only four int16 values stay live across the recurrent dot. */
    const TINYRNN_OUT_T *xp = xi;
    w = tinyrnn_dot_pairs_sh(w, &xp, npi, b, ai, TINYRNN_BSH(L->lsh_in[1]),
                             TINYRNN_BSH(L->lsh_in[3]));
    fi0 = tinyrnn_ssat16(tinyrnn_rq2(ai[0], L->mult_in[0], L->lsh_in[0], L->rsh_in[0]));
    fi1 = tinyrnn_ssat16(tinyrnn_rq2(ai[1], L->mult_in[1], TINYRNN_BLS(L->lsh_in[1]),
                                     L->rsh_in[1]));
    fi2 = tinyrnn_ssat16(tinyrnn_rq2(ai[2], L->mult_in[2], L->lsh_in[2], L->rsh_in[2]));
    fi3 = tinyrnn_ssat16(tinyrnn_rq2(ai[3], L->mult_in[3], TINYRNN_BLS(L->lsh_in[3]),
                                     L->rsh_in[3]));
#if TINYRNN_PACKED_ASM
    /* two registers instead of four live across the recurrent dot */
    const uint32_t f01 = tinyrnn_pkhbt(fi0, fi1);
    const uint32_t f23 = tinyrnn_pkhbt(fi2, fi3);
#endif
#if TINYRNN_PACKED_DUP
    xp = xr;
#endif
    w = tinyrnn_dot_pairs_sh(w, &xp, npr, b + 4, ar, TINYRNN_BSH(L->lsh_rec[1]),
                             TINYRNN_BSH(L->lsh_rec[3]));
#define TINYRNN_FR(g)                                                                         \
  tinyrnn_ssat16(tinyrnn_rq2(ar[g], L->mult_rec[g],                                           \
                             ((g) & 1) ? TINYRNN_BLS(L->lsh_rec[g]) : L->lsh_rec[g], L->rsh_rec[g]))
#if TINYRNN_PACKED_ASM
    {
      /* sat16(fi + fr) for two gates at once: QADD16 on PKHBT-packed int16 lanes */
      const uint32_t q01 = __qadd16(f01, tinyrnn_pkhbt(TINYRNN_FR(0), TINYRNN_FR(1)));
      const uint32_t q23 = __qadd16(f23, tinyrnn_pkhbt(TINYRNN_FR(2), TINYRNN_FR(3)));
      p0 = (int16_t)(uint16_t)(q01 & 0xFFFFu);
      p1 = (int32_t)q01 >> 16;
      p2 = (int16_t)(uint16_t)(q23 & 0xFFFFu);
      p3 = (int32_t)q23 >> 16;
    }
#else
    p0 = tinyrnn_ssat16(fi0 + TINYRNN_FR(0));
    p1 = tinyrnn_ssat16(fi1 + TINYRNN_FR(1));
    p2 = tinyrnn_ssat16(fi2 + TINYRNN_FR(2));
    p3 = tinyrnn_ssat16(fi3 + TINYRNN_FR(3));
#endif
#undef TINYRNN_FR
    b += 8;
    /* every activation indexes the same signed rows: one table address in a register */
    gi = tinyrnn_sigmoid_fast(p0);
    gf = tinyrnn_sigmoid_fast(p1);
    gc = L->cell_gate_tanh ? tinyrnn_tanh_fast(p2, -12) : tinyrnn_sigmoid_fast(p2);
    go = tinyrnn_sigmoid_fast(p3);
    cn = tinyrnn_ssat16(tinyrnn_rq_prod(gf * (int32_t)*c, L->mult_fc, L->shift_fc)) +
         tinyrnn_ssat16(tinyrnn_rq_prod(gi * gc, L->mult_ig, L->shift_ig));
    if (L->cell_clip > 0 && L->cell_clip < 32767) {
      /* the clip range lies inside int16, so it also does the sum's sat16 */
      cn = cn > L->cell_clip ? L->cell_clip : (cn < -L->cell_clip ? -L->cell_clip : cn);
    } else {
      cn = tinyrnn_ssat16(cn);
      if (L->cell_clip == 32767) {
        cn = cn == -32768 ? -32767 : cn; /* the upper bound is already 32767 */
      } /* a clip of 32768 or more (or none) has no effect on an int16 */
    }
    *c = (int16_t)cn;
    *h = (int8_t)tinyrnn_ssat8(tinyrnn_rq_prod_zp(
        tinyrnn_tanh_fast(cn, L->cell_scale_power) * go, L->mult_h, L->shift_h, L->hidden_zp));
  }
}

TINYRNN_ALWAYS_INLINE void tinyrnn_lstm_packed_reset(const tinyrnn_lstm_packed_t *L, int8_t *h,
                                                     int16_t *c) {
  memset(h, (int)(int8_t)L->hidden_zp, L->units);
  memset(c, 0, (uint32_t)L->units * sizeof(int16_t));
}

#ifdef __cplusplus
}
#endif

#endif /* TINYRNN_LSTM_PACKED_H */
