/* Line-based serial protocol around one model: see firmware/PROTOCOL.md for the grammar.
 *
 * Design rules: static buffers only; every byte sequence is bounded before it is stored; a
 * command is parsed completely (and its payload decoded into a scratch buffer) before it changes
 * any state, so a rejected command leaves the harness exactly as it was; every complete line gets
 * exactly one reply line starting with "ok " or "err ". */
#include "tinyrnn_harness.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tinyrnn_model.h"
#include "tinyrnn_port.h"

#ifndef TINYRNN_BACKEND_NAME
#define TINYRNN_BACKEND_NAME "tinyrnn"
#endif
#ifndef TINYRNN_MODEL_HAS_STEP
#define TINYRNN_MODEL_HAS_STEP 1
#endif

#define TINYRNN_MAX_TOKENS 4
#define TINYRNN_ECHO_MAX 24

typedef char tinyrnn_check_step_fits[(TINYRNN_MODEL_CHANNELS * 2 + 5 <= TINYRNN_LINE_MAX) ? 1 : -1];
typedef char tinyrnn_check_chunk_fits[(TINYRNN_CHUNK_MAX * 2 + 17 <= TINYRNN_LINE_MAX) ? 1 : -1];

typedef struct {
    const char *p;
    uint32_t n;
} tinyrnn_token_t;

static char tinyrnn_line[TINYRNN_LINE_MAX];
static uint32_t tinyrnn_line_len;
static uint32_t tinyrnn_line_dropped; /* bytes past TINYRNN_LINE_MAX in the current line */
static uint8_t tinyrnn_discarding;    /* skipping a line that arrived while a command ran */
static uint32_t tinyrnn_discarded;

static int8_t tinyrnn_input[TINYRNN_MODEL_INPUT_SIZE];
static int8_t tinyrnn_output[TINYRNN_MODEL_OUTPUT_SIZE];
static int8_t tinyrnn_scratch[TINYRNN_CHUNK_MAX > TINYRNN_MODEL_CHANNELS ? TINYRNN_CHUNK_MAX
                                                                           : TINYRNN_MODEL_CHANNELS];
static uint8_t tinyrnn_input_valid;
static uint8_t tinyrnn_output_valid;
static uint8_t tinyrnn_load_open;
static uint32_t tinyrnn_load_crc;
static uint32_t tinyrnn_load_next;
static uint32_t tinyrnn_step_index;
static uint32_t tinyrnn_last_count;
static int tinyrnn_init_status;

/* ---- output ---------------------------------------------------------------------------- */

static void tinyrnn_put(const char *s)
{
    while (*s != '\0') {
        tinyrnn_port_putc((uint8_t)*s++);
    }
}

static void tinyrnn_put_u32(uint32_t v)
{
    char buf[10];
    uint32_t n = 0;
    do {
        buf[n++] = (char)('0' + (v % 10u));
        v /= 10u;
    } while (v != 0u);
    while (n > 0u) {
        tinyrnn_port_putc((uint8_t)buf[--n]);
    }
}

static void tinyrnn_put_i32(int32_t v)
{
    if (v < 0) {
        tinyrnn_port_putc('-');
        tinyrnn_put_u32((uint32_t)(-(v + 1)) + 1u);
    } else {
        tinyrnn_put_u32((uint32_t)v);
    }
}

static const char tinyrnn_hex_digits[] = "0123456789abcdef";

static void tinyrnn_put_hex8(uint8_t b)
{
    tinyrnn_port_putc((uint8_t)tinyrnn_hex_digits[b >> 4]);
    tinyrnn_port_putc((uint8_t)tinyrnn_hex_digits[b & 0xFu]);
}

static void tinyrnn_put_hex32(uint32_t v)
{
    for (int shift = 24; shift >= 0; shift -= 8) {
        tinyrnn_put_hex8((uint8_t)(v >> shift));
    }
}

/* Floats go out as their IEEE-754 bits: exact, and no printf/float formatting in flash. */
static void tinyrnn_put_float_bits(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    tinyrnn_put_hex32(bits);
}

/* Echo untrusted text only as printable ASCII without spaces, bounded, so replies stay one
 * token and one line whatever arrived. */
static void tinyrnn_put_safe(const char *s, uint32_t n)
{
    if (n > TINYRNN_ECHO_MAX) {
        n = TINYRNN_ECHO_MAX;
    }
    for (uint32_t i = 0; i < n; ++i) {
        const char c = s[i];
        tinyrnn_port_putc((c > ' ' && c < 0x7F) ? (uint8_t)c : (uint8_t)'?');
    }
}

static void tinyrnn_put_kv_u32(const char *key, uint32_t v)
{
    tinyrnn_port_putc(' ');
    tinyrnn_put(key);
    tinyrnn_port_putc('=');
    tinyrnn_put_u32(v);
}

static void tinyrnn_put_kv_i32(const char *key, int32_t v)
{
    tinyrnn_port_putc(' ');
    tinyrnn_put(key);
    tinyrnn_port_putc('=');
    tinyrnn_put_i32(v);
}

static void tinyrnn_put_kv_str(const char *key, const char *v)
{
    tinyrnn_port_putc(' ');
    tinyrnn_put(key);
    tinyrnn_port_putc('=');
    tinyrnn_put_safe(v, (uint32_t)strlen(v));
}

static void tinyrnn_end(void)
{
    tinyrnn_port_putc('\n');
}

static void tinyrnn_err(const char *code, const char *detail)
{
    tinyrnn_put("err ");
    tinyrnn_put(code);
    if (detail != NULL) {
        tinyrnn_port_putc(' ');
        tinyrnn_put(detail);
    }
    tinyrnn_end();
}

/* ---- parsing --------------------------------------------------------------------------- */

static int tinyrnn_hex_nibble(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static int tinyrnn_parse_u32(const tinyrnn_token_t *t, uint32_t *out)
{
    uint32_t v = 0;
    if (t->n == 0u || t->n > 10u) {
        return -1;
    }
    for (uint32_t i = 0; i < t->n; ++i) {
        const char c = t->p[i];
        if (c < '0' || c > '9') {
            return -1;
        }
        const uint32_t d = (uint32_t)(c - '0');
        if (v > (UINT32_MAX - d) / 10u) {
            return -1;
        }
        v = v * 10u + d;
    }
    *out = v;
    return 0;
}

static int tinyrnn_parse_hex32(const tinyrnn_token_t *t, uint32_t *out)
{
    uint32_t v = 0;
    if (t->n == 0u || t->n > 8u) {
        return -1;
    }
    for (uint32_t i = 0; i < t->n; ++i) {
        const int d = tinyrnn_hex_nibble(t->p[i]);
        if (d < 0) {
            return -1;
        }
        v = (v << 4) | (uint32_t)d;
    }
    *out = v;
    return 0;
}

/* Decodes exactly `count` bytes from t into dst; returns -1-(index of the bad digit) on bad hex. */
static int32_t tinyrnn_decode_hex(const tinyrnn_token_t *t, int8_t *dst, uint32_t count)
{
    for (uint32_t i = 0; i < count; ++i) {
        const int hi = tinyrnn_hex_nibble(t->p[2u * i]);
        const int lo = tinyrnn_hex_nibble(t->p[2u * i + 1u]);
        if (hi < 0) {
            return -1 - (int32_t)(2u * i);
        }
        if (lo < 0) {
            return -1 - (int32_t)(2u * i + 1u);
        }
        dst[i] = (int8_t)(uint8_t)((hi << 4) | lo);
    }
    return 0;
}

static uint32_t tinyrnn_tokenize(tinyrnn_token_t *tok, uint32_t max, uint32_t *extra)
{
    uint32_t count = 0;
    uint32_t i = 0;
    *extra = 0;
    while (i < tinyrnn_line_len) {
        while (i < tinyrnn_line_len && (tinyrnn_line[i] == ' ' || tinyrnn_line[i] == '\t')) {
            ++i;
        }
        if (i >= tinyrnn_line_len) {
            break;
        }
        const uint32_t start = i;
        while (i < tinyrnn_line_len && tinyrnn_line[i] != ' ' && tinyrnn_line[i] != '\t') {
            ++i;
        }
        if (count < max) {
            tok[count].p = &tinyrnn_line[start];
            tok[count].n = i - start;
            ++count;
        } else {
            *extra = 1;
        }
    }
    return count;
}

static int tinyrnn_token_is(const tinyrnn_token_t *t, const char *word)
{
    const size_t n = strlen(word);
    return t->n == n && memcmp(t->p, word, n) == 0;
}

/* ---- model helpers --------------------------------------------------------------------- */

static uint32_t tinyrnn_crc32(const int8_t *data, uint32_t n)
{
    /* Bitwise CRC-32 (zlib's): no 1 KB table in flash for a check run once per window. */
    uint32_t crc = 0xFFFFFFFFu;
    for (uint32_t i = 0; i < n; ++i) {
        crc ^= (uint8_t)data[i];
        for (int b = 0; b < 8; ++b) {
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
        }
    }
    return ~crc;
}

static uint32_t tinyrnn_argmax(void)
{
    uint32_t best = 0;
    for (uint32_t k = 1; k < TINYRNN_MODEL_OUTPUT_SIZE; ++k) {
        if (tinyrnn_output[k] > tinyrnn_output[best]) {
            best = k;
        }
    }
    return best;
}

static void tinyrnn_put_output(void)
{
    tinyrnn_put(" out=");
    for (uint32_t k = 0; k < TINYRNN_MODEL_OUTPUT_SIZE; ++k) {
        tinyrnn_put_hex8((uint8_t)tinyrnn_output[k]);
    }
    tinyrnn_put_kv_u32("cls", tinyrnn_argmax());
}

static void tinyrnn_spin(uint32_t n)
{
#if defined(__arm__) || defined(__thumb__)
    /* Exactly two instructions per iteration, so under QEMU -icount the counter must read 2n
     * plus a small constant: the calibration check of the counter's scale. */
    if (n != 0u) {
        __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(n) : : "cc");
    }
#else
    volatile uint32_t v = n;
    while (v != 0u) {
        v = v - 1u;
    }
#endif
}

/* A byte already waiting when a long command finishes was sent before its reply: a protocol
 * violation. Checked before the reply goes out, so a host that waits for each reply never
 * trips it; the rest of that line is discarded and answered with `err busy`. */
static int tinyrnn_early = -1;

static void tinyrnn_note_early_byte(void)
{
    tinyrnn_early = tinyrnn_port_getc();
}

/* ---- commands -------------------------------------------------------------------------- */

static void tinyrnn_cmd_id(void)
{
    tinyrnn_put("ok id");
    tinyrnn_put_kv_u32("proto", TINYRNN_PROTOCOL_VERSION);
    tinyrnn_put_kv_str("model", TINYRNN_MODEL_NAME);
    tinyrnn_put_kv_str("board", tinyrnn_port_board());
    tinyrnn_put_kv_str("cpu", tinyrnn_port_cpu());
    tinyrnn_put_kv_str("backend", TINYRNN_BACKEND_NAME);
    tinyrnn_put_kv_u32("steps", TINYRNN_MODEL_STEPS);
    tinyrnn_put_kv_u32("channels", TINYRNN_MODEL_CHANNELS);
    tinyrnn_put_kv_u32("input", TINYRNN_MODEL_INPUT_SIZE);
    tinyrnn_put_kv_u32("output", TINYRNN_MODEL_OUTPUT_SIZE);
    tinyrnn_put_kv_u32("arena", TINYRNN_MODEL_ARENA_BYTES);
#ifdef TINYRNN_MODEL_ARENA_USED
    tinyrnn_put_kv_u32("arena_used", TINYRNN_MODEL_ARENA_USED());
#endif
    tinyrnn_put_kv_u32("state", TINYRNN_MODEL_STATE_BYTES);
    tinyrnn_put_kv_u32("weights", TINYRNN_MODEL_WEIGHT_BYTES);
    tinyrnn_put_kv_u32("macs", TINYRNN_MODEL_MACS);
    tinyrnn_put(" in_scale=");
    tinyrnn_put_float_bits(TINYRNN_MODEL_INPUT_SCALE);
    tinyrnn_put_kv_i32("in_zp", TINYRNN_MODEL_INPUT_ZERO_POINT);
    tinyrnn_put(" out_scale=");
    tinyrnn_put_float_bits(TINYRNN_MODEL_OUTPUT_SCALE);
    tinyrnn_put_kv_i32("out_zp", TINYRNN_MODEL_OUTPUT_ZERO_POINT);
    tinyrnn_put_kv_u32("step", TINYRNN_MODEL_HAS_STEP);
    tinyrnn_put_kv_str("counter", tinyrnn_port_counter_unit());
    tinyrnn_put_kv_u32("counter_res", tinyrnn_port_counter_resolution());
    tinyrnn_put_kv_u32("line_max", TINYRNN_LINE_MAX);
    tinyrnn_put_kv_u32("chunk_max", TINYRNN_CHUNK_MAX);
    tinyrnn_put_kv_i32("init", tinyrnn_init_status);
    tinyrnn_end();
}

static void tinyrnn_cmd_class(const tinyrnn_token_t *tok, uint32_t n)
{
    uint32_t k;
    if (n != 2u || tinyrnn_parse_u32(&tok[1], &k) != 0 || k >= TINYRNN_MODEL_OUTPUT_SIZE) {
        tinyrnn_err("bad_arg", "usage: class <k> with 0 <= k < output");
        return;
    }
    tinyrnn_put("ok class");
    tinyrnn_put_kv_u32("k", k);
    tinyrnn_put_kv_str("name", tinyrnn_model_class_names[k]);
    tinyrnn_end();
}

static void tinyrnn_cmd_norm(const tinyrnn_token_t *tok, uint32_t n)
{
    uint32_t c;
    if (n != 2u || tinyrnn_parse_u32(&tok[1], &c) != 0 || c >= TINYRNN_MODEL_CHANNELS) {
        tinyrnn_err("bad_arg", "usage: norm <c> with 0 <= c < channels");
        return;
    }
    tinyrnn_put("ok norm");
    tinyrnn_put_kv_u32("c", c);
    tinyrnn_put(" mean=");
    tinyrnn_put_float_bits(tinyrnn_model_norm_mean[c]);
    tinyrnn_put(" std=");
    tinyrnn_put_float_bits(tinyrnn_model_norm_std[c]);
    tinyrnn_end();
}

static void tinyrnn_cmd_load(const tinyrnn_token_t *tok, uint32_t n)
{
    uint32_t len;
    uint32_t crc;
    if (n != 3u || tinyrnn_parse_u32(&tok[1], &len) != 0 || tinyrnn_parse_hex32(&tok[2], &crc) != 0) {
        tinyrnn_err("bad_arg", "usage: load <len> <crc32 hex>");
        return;
    }
    if (len != TINYRNN_MODEL_INPUT_SIZE) {
        tinyrnn_put("err bad_len");
        tinyrnn_put_kv_u32("expected", TINYRNN_MODEL_INPUT_SIZE);
        tinyrnn_put_kv_u32("got", len);
        tinyrnn_end();
        return;
    }
    tinyrnn_load_open = 1u;
    tinyrnn_load_crc = crc;
    tinyrnn_load_next = 0u;
    tinyrnn_input_valid = 0u;
    tinyrnn_put("ok load");
    tinyrnn_put_kv_u32("len", len);
    tinyrnn_end();
}

static void tinyrnn_cmd_data(const tinyrnn_token_t *tok, uint32_t n)
{
    uint32_t offset;
    if (n != 3u || tinyrnn_parse_u32(&tok[1], &offset) != 0) {
        tinyrnn_err("bad_arg", "usage: data <offset> <hex>");
        return;
    }
    if (!tinyrnn_load_open) {
        tinyrnn_err("state", "no load in progress: send load <len> <crc32> first");
        return;
    }
    if (offset != tinyrnn_load_next) {
        tinyrnn_put("err bad_offset");
        tinyrnn_put_kv_u32("expected", tinyrnn_load_next);
        tinyrnn_put_kv_u32("got", offset);
        tinyrnn_end();
        return;
    }
    const uint32_t hex_len = tok[2].n;
    const uint32_t count = hex_len / 2u;
    if ((hex_len & 1u) != 0u || count == 0u || count > TINYRNN_CHUNK_MAX ||
        count > TINYRNN_MODEL_INPUT_SIZE - offset) {
        tinyrnn_put("err bad_len");
        tinyrnn_put_kv_u32("hex_digits", hex_len);
        tinyrnn_put_kv_u32("chunk_max", TINYRNN_CHUNK_MAX);
        tinyrnn_put_kv_u32("remaining", TINYRNN_MODEL_INPUT_SIZE - offset);
        tinyrnn_end();
        return;
    }
    const int32_t bad = tinyrnn_decode_hex(&tok[2], tinyrnn_scratch, count);
    if (bad != 0) {
        tinyrnn_put("err bad_hex");
        tinyrnn_put_kv_u32("at", (uint32_t)(-(bad + 1)));
        tinyrnn_end();
        return;
    }
    memcpy(&tinyrnn_input[offset], tinyrnn_scratch, count);
    tinyrnn_load_next = offset + count;
    if (tinyrnn_load_next < TINYRNN_MODEL_INPUT_SIZE) {
        tinyrnn_put("ok data");
        tinyrnn_put_kv_u32("next", tinyrnn_load_next);
        tinyrnn_end();
        return;
    }
    tinyrnn_load_open = 0u;
    const uint32_t crc = tinyrnn_crc32(tinyrnn_input, TINYRNN_MODEL_INPUT_SIZE);
    if (crc != tinyrnn_load_crc) {
        tinyrnn_put("err crc expected=");
        tinyrnn_put_hex32(tinyrnn_load_crc);
        tinyrnn_put(" got=");
        tinyrnn_put_hex32(crc);
        tinyrnn_end();
        return;
    }
    tinyrnn_input_valid = 1u;
    tinyrnn_step_index = 0u;
    tinyrnn_put("ok loaded");
    tinyrnn_put_kv_u32("len", TINYRNN_MODEL_INPUT_SIZE);
    tinyrnn_put(" crc=");
    tinyrnn_put_hex32(crc);
    tinyrnn_end();
}

static void tinyrnn_cmd_infer(const tinyrnn_token_t *tok, uint32_t n)
{
    uint32_t runs = 1u;
    if (n > 2u || (n == 2u && (tinyrnn_parse_u32(&tok[1], &runs) != 0 || runs == 0u ||
                               runs > TINYRNN_INFER_MAX))) {
        tinyrnn_err("bad_arg", "usage: infer [n] with 1 <= n <= 10000");
        return;
    }
    if (!tinyrnn_input_valid) {
        tinyrnn_err("no_input", "load a window first (load, data)");
        return;
    }
    uint32_t min = UINT32_MAX;
    uint32_t max = 0u;
    for (uint32_t r = 0; r < runs; ++r) {
        /* Each run classifies the window from a fresh state, as the host evaluation does. */
        tinyrnn_model_reset();
        tinyrnn_port_counter_start();
        const int status = tinyrnn_model_invoke(tinyrnn_input, tinyrnn_output);
        const uint32_t elapsed = tinyrnn_port_counter_elapsed();
        if (status != 0) {
            tinyrnn_note_early_byte();
            tinyrnn_output_valid = 0u;
            tinyrnn_put("err model");
            tinyrnn_put_kv_i32("status", status);
            tinyrnn_put_kv_u32("run", r);
            tinyrnn_end();
            return;
        }
        tinyrnn_last_count = elapsed;
        min = tinyrnn_last_count < min ? tinyrnn_last_count : min;
        max = tinyrnn_last_count > max ? tinyrnn_last_count : max;
    }
    tinyrnn_note_early_byte();
    tinyrnn_output_valid = 1u;
    tinyrnn_step_index = TINYRNN_MODEL_STEPS;
    tinyrnn_put("ok infer");
    tinyrnn_put_kv_u32("n", runs);
    tinyrnn_put_output();
    tinyrnn_put_kv_u32("count", tinyrnn_last_count);
    tinyrnn_put_kv_u32("min", min);
    tinyrnn_put_kv_u32("max", max);
    tinyrnn_end();
}

static void tinyrnn_cmd_out(uint32_t n)
{
    if (n != 1u) {
        tinyrnn_err("bad_arg", "usage: out");
        return;
    }
    if (!tinyrnn_output_valid) {
        tinyrnn_err("no_output", "run infer or step first");
        return;
    }
    tinyrnn_put("ok out");
    tinyrnn_put_output();
    tinyrnn_put_kv_u32("count", tinyrnn_last_count);
    tinyrnn_end();
}

static void tinyrnn_cmd_reset(uint32_t n)
{
    if (n != 1u) {
        tinyrnn_err("bad_arg", "usage: reset");
        return;
    }
    tinyrnn_model_reset();
    tinyrnn_step_index = 0u;
    tinyrnn_output_valid = 0u;
    tinyrnn_put("ok reset");
    tinyrnn_end();
}

static void tinyrnn_cmd_step(const tinyrnn_token_t *tok, uint32_t n)
{
    const int8_t *frame;
    if (!TINYRNN_MODEL_HAS_STEP) {
        tinyrnn_err("unsupported", "this backend has no step: use infer");
        return;
    }
    if (n == 2u) {
        if (tok[1].n != 2u * TINYRNN_MODEL_CHANNELS) {
            tinyrnn_put("err bad_len");
            tinyrnn_put_kv_u32("expected_hex_digits", 2u * TINYRNN_MODEL_CHANNELS);
            tinyrnn_put_kv_u32("got", tok[1].n);
            tinyrnn_end();
            return;
        }
        const int32_t bad = tinyrnn_decode_hex(&tok[1], tinyrnn_scratch, TINYRNN_MODEL_CHANNELS);
        if (bad != 0) {
            tinyrnn_put("err bad_hex");
            tinyrnn_put_kv_u32("at", (uint32_t)(-(bad + 1)));
            tinyrnn_end();
            return;
        }
        frame = tinyrnn_scratch;
    } else if (n == 1u) {
        /* Without a frame: the next time step of the loaded window, for on-device
         * step-versus-infer checks without resending data. */
        if (!tinyrnn_input_valid) {
            tinyrnn_err("no_input", "load a window first or pass a frame: step <hex>");
            return;
        }
        if (tinyrnn_step_index >= TINYRNN_MODEL_STEPS) {
            tinyrnn_err("state", "window exhausted: send reset");
            return;
        }
        frame = &tinyrnn_input[tinyrnn_step_index * TINYRNN_MODEL_CHANNELS];
    } else {
        tinyrnn_err("bad_arg", "usage: step [<hex frame of channels bytes>]");
        return;
    }
    tinyrnn_port_counter_start();
    const int status = tinyrnn_model_step(frame, tinyrnn_output);
    const uint32_t elapsed = tinyrnn_port_counter_elapsed();
    tinyrnn_note_early_byte();
    if (status != 0) {
        tinyrnn_output_valid = 0u;
        tinyrnn_put("err model");
        tinyrnn_put_kv_i32("status", status);
        tinyrnn_end();
        return;
    }
    tinyrnn_last_count = elapsed;
    tinyrnn_output_valid = 1u;
    tinyrnn_put("ok step");
    tinyrnn_put_kv_u32("t", tinyrnn_step_index);
    tinyrnn_step_index++;
    tinyrnn_put_output();
    tinyrnn_put_kv_u32("count", tinyrnn_last_count);
    tinyrnn_end();
}

static void tinyrnn_cmd_mem(uint32_t n)
{
    uint32_t used;
    uint32_t reserved;
    if (n != 1u) {
        tinyrnn_err("bad_arg", "usage: mem");
        return;
    }
    tinyrnn_port_stack(&used, &reserved);
    tinyrnn_put("ok mem");
    tinyrnn_put_kv_u32("stack_used", used);
    tinyrnn_put_kv_u32("stack_reserved", reserved);
    tinyrnn_put_kv_u32("harness_buffers", (uint32_t)(sizeof tinyrnn_line + sizeof tinyrnn_input +
                                                     sizeof tinyrnn_output + sizeof tinyrnn_scratch));
    tinyrnn_end();
}

static void tinyrnn_cmd_spin(const tinyrnn_token_t *tok, uint32_t n)
{
    uint32_t iterations;
    if (n != 2u || tinyrnn_parse_u32(&tok[1], &iterations) != 0 ||
        iterations > TINYRNN_SPIN_MAX) {
        tinyrnn_err("bad_arg", "usage: spin <n> with n <= 100000000");
        return;
    }
    tinyrnn_port_counter_start();
    tinyrnn_spin(iterations);
    const uint32_t elapsed = tinyrnn_port_counter_elapsed();
    tinyrnn_note_early_byte();
    tinyrnn_put("ok spin");
    tinyrnn_put_kv_u32("n", iterations);
    tinyrnn_put_kv_u32("count", elapsed);
    tinyrnn_end();
}

static void tinyrnn_cmd_ping(const tinyrnn_token_t *tok, uint32_t n)
{
    if (n > 2u) {
        tinyrnn_err("bad_arg", "usage: ping [token]");
        return;
    }
    tinyrnn_put("ok pong");
    if (n == 2u) {
        tinyrnn_port_putc(' ');
        tinyrnn_put_safe(tok[1].p, tok[1].n);
    }
    tinyrnn_end();
}

static void tinyrnn_cmd_exit(const tinyrnn_token_t *tok, uint32_t n)
{
    uint32_t code = 0u;
    if (n > 2u || (n == 2u && (tinyrnn_parse_u32(&tok[1], &code) != 0 || code > 255u))) {
        tinyrnn_err("bad_arg", "usage: exit [code 0..255]");
        return;
    }
    tinyrnn_put("ok exit");
    tinyrnn_put_kv_u32("code", code);
    tinyrnn_end();
    tinyrnn_port_exit((int)code);
}

static void tinyrnn_dispatch(void)
{
    tinyrnn_token_t tok[TINYRNN_MAX_TOKENS];
    uint32_t extra;
    const uint32_t n = tinyrnn_tokenize(tok, TINYRNN_MAX_TOKENS, &extra);
    if (n == 0u) {
        return; /* blank line: nothing to answer (hosts may send one to end garbage) */
    }
    if (extra) {
        tinyrnn_err("bad_arg", "too many arguments");
        return;
    }
    const tinyrnn_token_t *verb = &tok[0];
    if (tinyrnn_token_is(verb, "data")) {
        tinyrnn_cmd_data(tok, n);
    } else if (tinyrnn_token_is(verb, "infer")) {
        tinyrnn_cmd_infer(tok, n);
    } else if (tinyrnn_token_is(verb, "step")) {
        tinyrnn_cmd_step(tok, n);
    } else if (tinyrnn_token_is(verb, "load")) {
        tinyrnn_cmd_load(tok, n);
    } else if (tinyrnn_token_is(verb, "id")) {
        tinyrnn_cmd_id();
    } else if (tinyrnn_token_is(verb, "out")) {
        tinyrnn_cmd_out(n);
    } else if (tinyrnn_token_is(verb, "reset")) {
        tinyrnn_cmd_reset(n);
    } else if (tinyrnn_token_is(verb, "class")) {
        tinyrnn_cmd_class(tok, n);
    } else if (tinyrnn_token_is(verb, "norm")) {
        tinyrnn_cmd_norm(tok, n);
    } else if (tinyrnn_token_is(verb, "mem")) {
        tinyrnn_cmd_mem(n);
    } else if (tinyrnn_token_is(verb, "spin")) {
        tinyrnn_cmd_spin(tok, n);
    } else if (tinyrnn_token_is(verb, "ping")) {
        tinyrnn_cmd_ping(tok, n);
    } else if (tinyrnn_token_is(verb, "exit")) {
        tinyrnn_cmd_exit(tok, n);
    } else if (tinyrnn_token_is(verb, "help")) {
        tinyrnn_put("ok help verbs=id,class,norm,load,data,infer,out,reset,step,mem,spin,ping,exit");
        tinyrnn_end();
    } else {
        tinyrnn_put("err unknown_verb verb=");
        tinyrnn_put_safe(verb->p, verb->n);
        tinyrnn_put(" (try help)");
        tinyrnn_end();
    }
}

/* ---- byte stream ----------------------------------------------------------------------- */

static void tinyrnn_on_byte(uint8_t c);

static void tinyrnn_end_of_line(void)
{
    if (tinyrnn_line_dropped != 0u) {
        tinyrnn_put("err too_long");
        tinyrnn_put_kv_u32("length", tinyrnn_line_len + tinyrnn_line_dropped);
        tinyrnn_put_kv_u32("line_max", TINYRNN_LINE_MAX);
        tinyrnn_end();
    } else {
        tinyrnn_dispatch();
    }
    tinyrnn_line_len = 0u;
    tinyrnn_line_dropped = 0u;
    if (tinyrnn_early >= 0) {
        const uint8_t c = (uint8_t)tinyrnn_early;
        tinyrnn_early = -1;
        tinyrnn_discarding = 1u;
        tinyrnn_discarded = 0u;
        tinyrnn_on_byte(c);
    }
}

static void tinyrnn_on_byte(uint8_t c)
{
    if (tinyrnn_discarding) {
        if (c == '\n') {
            tinyrnn_discarding = 0u;
            tinyrnn_put("err busy");
            tinyrnn_put_kv_u32("discarded", tinyrnn_discarded);
            tinyrnn_put(" line arrived while a command ran: wait for each reply");
            tinyrnn_end();
        } else {
            tinyrnn_discarded++;
        }
        return;
    }
    if (c == '\r') {
        return;
    }
    if (c == '\n') {
        tinyrnn_end_of_line();
        return;
    }
    if (tinyrnn_line_len < TINYRNN_LINE_MAX) {
        tinyrnn_line[tinyrnn_line_len++] = (char)c;
    } else if (tinyrnn_line_dropped < UINT32_MAX) {
        tinyrnn_line_dropped++;
    }
}

void tinyrnn_harness_init(void)
{
    tinyrnn_port_init();
    tinyrnn_init_status = tinyrnn_model_init();
    tinyrnn_put("ready");
    tinyrnn_put_kv_u32("proto", TINYRNN_PROTOCOL_VERSION);
    tinyrnn_put_kv_str("model", TINYRNN_MODEL_NAME);
    tinyrnn_put_kv_str("board", tinyrnn_port_board());
    tinyrnn_put_kv_i32("init", tinyrnn_init_status);
    tinyrnn_end();
}

void tinyrnn_harness_poll(void)
{
    int c;
    while ((c = tinyrnn_port_getc()) >= 0) {
        tinyrnn_on_byte((uint8_t)c);
    }
}
