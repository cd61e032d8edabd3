/* The protocol's commands (firmware/PROTOCOL.md) and the verb table that dispatches to them.
 *
 * A command is parsed completely (and its payload decoded into a scratch buffer) before it
 * changes any state, so a rejected command leaves the harness exactly as it was; every
 * dispatched line gets exactly one reply line starting with "ok " or "err ". */
#include "harness_commands.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "harness_io.h"
#include "tinyrnn_harness.h"
#include "tinyrnn_model.h"
#include "tinyrnn_port.h"

#ifndef TINYRNN_BACKEND_NAME
#define TINYRNN_BACKEND_NAME "tinyrnn"
#endif
#ifndef TINYRNN_MODEL_HAS_STEP
#define TINYRNN_MODEL_HAS_STEP 1
#endif

/* A verb and up to three arguments; more words are refused as `too many arguments`. */
#define HARNESS_MAX_TOKENS 4

typedef char harness_check_step_fits[(TINYRNN_MODEL_CHANNELS * 2 + 5 <= TINYRNN_LINE_MAX) ? 1 : -1];
typedef char harness_check_chunk_fits[(TINYRNN_CHUNK_MAX * 2 + 17 <= TINYRNN_LINE_MAX) ? 1 : -1];

static int8_t harness_input[TINYRNN_MODEL_INPUT_SIZE];
static int8_t harness_output[TINYRNN_MODEL_OUTPUT_SIZE];
static int8_t harness_scratch[TINYRNN_CHUNK_MAX > TINYRNN_MODEL_CHANNELS ? TINYRNN_CHUNK_MAX
                                                                           : TINYRNN_MODEL_CHANNELS];
static uint8_t harness_input_valid;
static uint8_t harness_output_valid;
static uint8_t harness_load_open;
static uint32_t harness_load_crc;
static uint32_t harness_load_next;
static uint32_t harness_step_index;
static uint32_t harness_last_count;
static int harness_init_status;

/* ---- model helpers --------------------------------------------------------------------- */

static uint32_t harness_crc32(const int8_t *data, uint32_t n)
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

static uint32_t harness_argmax(void)
{
    uint32_t best = 0;
    for (uint32_t k = 1; k < TINYRNN_MODEL_OUTPUT_SIZE; ++k) {
        if (harness_output[k] > harness_output[best]) {
            best = k;
        }
    }
    return best;
}

static void harness_put_output(void)
{
    harness_put(" out=");
    for (uint32_t k = 0; k < TINYRNN_MODEL_OUTPUT_SIZE; ++k) {
        harness_put_hex8((uint8_t)harness_output[k]);
    }
    harness_put_kv_u32("cls", harness_argmax());
}

static void harness_spin(uint32_t n)
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

int harness_model_init(void)
{
    harness_init_status = tinyrnn_model_init();
    return harness_init_status;
}

/* ---- commands -------------------------------------------------------------------------- */

typedef void (*harness_command_fn)(const harness_token_t *tok, uint32_t n);

static void harness_cmd_id(const harness_token_t *tok, uint32_t n)
{
    (void)tok;
    (void)n;
    harness_put("ok id");
    harness_put_kv_u32("proto", TINYRNN_PROTOCOL_VERSION);
    harness_put_kv_str("model", TINYRNN_MODEL_NAME);
    harness_put_kv_str("board", tinyrnn_port_board());
    harness_put_kv_str("cpu", tinyrnn_port_cpu());
    harness_put_kv_str("backend", TINYRNN_BACKEND_NAME);
    harness_put_kv_u32("steps", TINYRNN_MODEL_STEPS);
    harness_put_kv_u32("channels", TINYRNN_MODEL_CHANNELS);
    harness_put_kv_u32("input", TINYRNN_MODEL_INPUT_SIZE);
    harness_put_kv_u32("output", TINYRNN_MODEL_OUTPUT_SIZE);
    harness_put_kv_u32("arena", TINYRNN_MODEL_ARENA_BYTES);
#ifdef TINYRNN_MODEL_ARENA_USED
    harness_put_kv_u32("arena_used", TINYRNN_MODEL_ARENA_USED());
#endif
    harness_put_kv_u32("state", TINYRNN_MODEL_STATE_BYTES);
    harness_put_kv_u32("weights", TINYRNN_MODEL_WEIGHT_BYTES);
    harness_put_kv_u32("macs", TINYRNN_MODEL_MACS);
    harness_put(" in_scale=");
    harness_put_float_bits(TINYRNN_MODEL_INPUT_SCALE);
    harness_put_kv_i32("in_zp", TINYRNN_MODEL_INPUT_ZERO_POINT);
    harness_put(" out_scale=");
    harness_put_float_bits(TINYRNN_MODEL_OUTPUT_SCALE);
    harness_put_kv_i32("out_zp", TINYRNN_MODEL_OUTPUT_ZERO_POINT);
    harness_put_kv_u32("step", TINYRNN_MODEL_HAS_STEP);
    harness_put_kv_str("counter", tinyrnn_port_counter_unit());
    harness_put_kv_u32("counter_res", tinyrnn_port_counter_resolution());
    harness_put_kv_u32("line_max", TINYRNN_LINE_MAX);
    harness_put_kv_u32("chunk_max", TINYRNN_CHUNK_MAX);
    harness_put_kv_i32("init", harness_init_status);
    harness_end();
}

static void harness_cmd_class(const harness_token_t *tok, uint32_t n)
{
    uint32_t k;
    if (n != 2u || harness_parse_u32(&tok[1], &k) != 0 || k >= TINYRNN_MODEL_OUTPUT_SIZE) {
        harness_err("bad_arg", "usage: class <k> with 0 <= k < output");
        return;
    }
    harness_put("ok class");
    harness_put_kv_u32("k", k);
    harness_put_kv_str("name", tinyrnn_model_class_names[k]);
    harness_end();
}

static void harness_cmd_norm(const harness_token_t *tok, uint32_t n)
{
    uint32_t c;
    if (n != 2u || harness_parse_u32(&tok[1], &c) != 0 || c >= TINYRNN_MODEL_CHANNELS) {
        harness_err("bad_arg", "usage: norm <c> with 0 <= c < channels");
        return;
    }
    harness_put("ok norm");
    harness_put_kv_u32("c", c);
    harness_put(" mean=");
    harness_put_float_bits(tinyrnn_model_norm_mean[c]);
    harness_put(" std=");
    harness_put_float_bits(tinyrnn_model_norm_std[c]);
    harness_end();
}

static void harness_cmd_load(const harness_token_t *tok, uint32_t n)
{
    uint32_t len;
    uint32_t crc;
    if (n != 3u || harness_parse_u32(&tok[1], &len) != 0 || harness_parse_hex32(&tok[2], &crc) != 0) {
        harness_err("bad_arg", "usage: load <len> <crc32 hex>");
        return;
    }
    if (len != TINYRNN_MODEL_INPUT_SIZE) {
        harness_put("err bad_len");
        harness_put_kv_u32("expected", TINYRNN_MODEL_INPUT_SIZE);
        harness_put_kv_u32("got", len);
        harness_end();
        return;
    }
    harness_load_open = 1u;
    harness_load_crc = crc;
    harness_load_next = 0u;
    harness_input_valid = 0u;
    harness_put("ok load");
    harness_put_kv_u32("len", len);
    harness_end();
}

static void harness_cmd_data(const harness_token_t *tok, uint32_t n)
{
    uint32_t offset;
    if (n != 3u || harness_parse_u32(&tok[1], &offset) != 0) {
        harness_err("bad_arg", "usage: data <offset> <hex>");
        return;
    }
    if (!harness_load_open) {
        harness_err("state", "no load in progress: send load <len> <crc32> first");
        return;
    }
    if (offset != harness_load_next) {
        harness_put("err bad_offset");
        harness_put_kv_u32("expected", harness_load_next);
        harness_put_kv_u32("got", offset);
        harness_end();
        return;
    }
    const uint32_t hex_len = tok[2].n;
    const uint32_t count = hex_len / 2u;
    if ((hex_len & 1u) != 0u || count == 0u || count > TINYRNN_CHUNK_MAX ||
        count > TINYRNN_MODEL_INPUT_SIZE - offset) {
        harness_put("err bad_len");
        harness_put_kv_u32("hex_digits", hex_len);
        harness_put_kv_u32("chunk_max", TINYRNN_CHUNK_MAX);
        harness_put_kv_u32("remaining", TINYRNN_MODEL_INPUT_SIZE - offset);
        harness_end();
        return;
    }
    const int32_t bad = harness_decode_hex(&tok[2], harness_scratch, count);
    if (bad != 0) {
        harness_put("err bad_hex");
        harness_put_kv_u32("at", (uint32_t)(-(bad + 1)));
        harness_end();
        return;
    }
    memcpy(&harness_input[offset], harness_scratch, count);
    harness_load_next = offset + count;
    if (harness_load_next < TINYRNN_MODEL_INPUT_SIZE) {
        harness_put("ok data");
        harness_put_kv_u32("next", harness_load_next);
        harness_end();
        return;
    }
    harness_load_open = 0u;
    const uint32_t crc = harness_crc32(harness_input, TINYRNN_MODEL_INPUT_SIZE);
    if (crc != harness_load_crc) {
        harness_put("err crc expected=");
        harness_put_hex32(harness_load_crc);
        harness_put(" got=");
        harness_put_hex32(crc);
        harness_end();
        return;
    }
    harness_input_valid = 1u;
    harness_step_index = 0u;
    harness_put("ok loaded");
    harness_put_kv_u32("len", TINYRNN_MODEL_INPUT_SIZE);
    harness_put(" crc=");
    harness_put_hex32(crc);
    harness_end();
}

static void harness_cmd_infer(const harness_token_t *tok, uint32_t n)
{
    uint32_t runs = 1u;
    if (n > 2u || (n == 2u && (harness_parse_u32(&tok[1], &runs) != 0 || runs == 0u ||
                               runs > TINYRNN_INFER_MAX))) {
        harness_err("bad_arg", "usage: infer [n] with 1 <= n <= 10000");
        return;
    }
    if (!harness_input_valid) {
        harness_err("no_input", "load a window first (load, data)");
        return;
    }
    uint32_t min = UINT32_MAX;
    uint32_t max = 0u;
    for (uint32_t r = 0; r < runs; ++r) {
        /* Each run classifies the window from a fresh state, as the host evaluation does. */
        tinyrnn_model_reset();
        tinyrnn_port_counter_start();
        const int status = tinyrnn_model_invoke(harness_input, harness_output);
        const uint32_t elapsed = tinyrnn_port_counter_elapsed();
        if (status != 0) {
            harness_note_early_byte();
            harness_output_valid = 0u;
            harness_put("err model");
            harness_put_kv_i32("status", status);
            harness_put_kv_u32("run", r);
            harness_end();
            return;
        }
        harness_last_count = elapsed;
        min = harness_last_count < min ? harness_last_count : min;
        max = harness_last_count > max ? harness_last_count : max;
    }
    harness_note_early_byte();
    harness_output_valid = 1u;
    harness_step_index = TINYRNN_MODEL_STEPS;
    harness_put("ok infer");
    harness_put_kv_u32("n", runs);
    harness_put_output();
    harness_put_kv_u32("count", harness_last_count);
    harness_put_kv_u32("min", min);
    harness_put_kv_u32("max", max);
    harness_end();
}

static void harness_cmd_out(const harness_token_t *tok, uint32_t n)
{
    (void)tok;
    if (n != 1u) {
        harness_err("bad_arg", "usage: out");
        return;
    }
    if (!harness_output_valid) {
        harness_err("no_output", "run infer or step first");
        return;
    }
    harness_put("ok out");
    harness_put_output();
    harness_put_kv_u32("count", harness_last_count);
    harness_end();
}

static void harness_cmd_reset(const harness_token_t *tok, uint32_t n)
{
    (void)tok;
    if (n != 1u) {
        harness_err("bad_arg", "usage: reset");
        return;
    }
    tinyrnn_model_reset();
    harness_step_index = 0u;
    harness_output_valid = 0u;
    harness_put("ok reset");
    harness_end();
}

static void harness_cmd_step(const harness_token_t *tok, uint32_t n)
{
    const int8_t *frame;
    if (!TINYRNN_MODEL_HAS_STEP) {
        harness_err("unsupported", "this backend has no step: use infer");
        return;
    }
    if (n == 2u) {
        if (tok[1].n != 2u * TINYRNN_MODEL_CHANNELS) {
            harness_put("err bad_len");
            harness_put_kv_u32("expected_hex_digits", 2u * TINYRNN_MODEL_CHANNELS);
            harness_put_kv_u32("got", tok[1].n);
            harness_end();
            return;
        }
        const int32_t bad = harness_decode_hex(&tok[1], harness_scratch, TINYRNN_MODEL_CHANNELS);
        if (bad != 0) {
            harness_put("err bad_hex");
            harness_put_kv_u32("at", (uint32_t)(-(bad + 1)));
            harness_end();
            return;
        }
        frame = harness_scratch;
    } else if (n == 1u) {
        /* Without a frame: the next time step of the loaded window, for on-device
         * step-versus-infer checks without resending data. */
        if (!harness_input_valid) {
            harness_err("no_input", "load a window first or pass a frame: step <hex>");
            return;
        }
        if (harness_step_index >= TINYRNN_MODEL_STEPS) {
            harness_err("state", "window exhausted: send reset");
            return;
        }
        frame = &harness_input[harness_step_index * TINYRNN_MODEL_CHANNELS];
    } else {
        harness_err("bad_arg", "usage: step [<hex frame of channels bytes>]");
        return;
    }
    tinyrnn_port_counter_start();
    const int status = tinyrnn_model_step(frame, harness_output);
    const uint32_t elapsed = tinyrnn_port_counter_elapsed();
    harness_note_early_byte();
    if (status != 0) {
        harness_output_valid = 0u;
        harness_put("err model");
        harness_put_kv_i32("status", status);
        harness_end();
        return;
    }
    harness_last_count = elapsed;
    harness_output_valid = 1u;
    harness_put("ok step");
    harness_put_kv_u32("t", harness_step_index);
    harness_step_index++;
    harness_put_output();
    harness_put_kv_u32("count", harness_last_count);
    harness_end();
}

static void harness_cmd_mem(const harness_token_t *tok, uint32_t n)
{
    uint32_t used;
    uint32_t reserved;
    (void)tok;
    if (n != 1u) {
        harness_err("bad_arg", "usage: mem");
        return;
    }
    tinyrnn_port_stack(&used, &reserved);
    harness_put("ok mem");
    harness_put_kv_u32("stack_used", used);
    harness_put_kv_u32("stack_reserved", reserved);
    /* The line buffer lives in the byte stream (tinyrnn_harness.c) and holds TINYRNN_LINE_MAX. */
    harness_put_kv_u32("harness_buffers", (uint32_t)(TINYRNN_LINE_MAX + sizeof harness_input +
                                                     sizeof harness_output + sizeof harness_scratch));
    harness_end();
}

static void harness_cmd_spin(const harness_token_t *tok, uint32_t n)
{
    uint32_t iterations;
    if (n != 2u || harness_parse_u32(&tok[1], &iterations) != 0 ||
        iterations > TINYRNN_SPIN_MAX) {
        harness_err("bad_arg", "usage: spin <n> with n <= 100000000");
        return;
    }
    tinyrnn_port_counter_start();
    harness_spin(iterations);
    const uint32_t elapsed = tinyrnn_port_counter_elapsed();
    harness_note_early_byte();
    harness_put("ok spin");
    harness_put_kv_u32("n", iterations);
    harness_put_kv_u32("count", elapsed);
    harness_end();
}

static void harness_cmd_ping(const harness_token_t *tok, uint32_t n)
{
    if (n > 2u) {
        harness_err("bad_arg", "usage: ping [token]");
        return;
    }
    harness_put("ok pong");
    if (n == 2u) {
        tinyrnn_port_putc(' ');
        harness_put_safe(tok[1].p, tok[1].n);
    }
    harness_end();
}

static void harness_cmd_exit(const harness_token_t *tok, uint32_t n)
{
    uint32_t code = 0u;
    if (n > 2u || (n == 2u && (harness_parse_u32(&tok[1], &code) != 0 || code > 255u))) {
        harness_err("bad_arg", "usage: exit [code 0..255]");
        return;
    }
    harness_put("ok exit");
    harness_put_kv_u32("code", code);
    harness_end();
    tinyrnn_port_exit((int)code);
}

static void harness_cmd_help(const harness_token_t *tok, uint32_t n);

/* The verb table: `help` lists it (itself excluded) in this order. */
static const struct {
    const char *verb;
    harness_command_fn run;
} harness_verbs[] = {
    {"id", harness_cmd_id},       {"class", harness_cmd_class}, {"norm", harness_cmd_norm},
    {"load", harness_cmd_load},   {"data", harness_cmd_data},   {"infer", harness_cmd_infer},
    {"out", harness_cmd_out},     {"reset", harness_cmd_reset}, {"step", harness_cmd_step},
    {"mem", harness_cmd_mem},     {"spin", harness_cmd_spin},   {"ping", harness_cmd_ping},
    {"exit", harness_cmd_exit},   {"help", harness_cmd_help},
};

#define HARNESS_VERB_COUNT (sizeof harness_verbs / sizeof harness_verbs[0])

static void harness_cmd_help(const harness_token_t *tok, uint32_t n)
{
    (void)tok;
    (void)n;
    harness_put("ok help verbs=");
    for (uint32_t i = 0; i < HARNESS_VERB_COUNT; ++i) {
        if (harness_verbs[i].run == harness_cmd_help) {
            continue;
        }
        if (i != 0u) {
            tinyrnn_port_putc(',');
        }
        harness_put(harness_verbs[i].verb);
    }
    harness_end();
}

void harness_dispatch(const char *line, uint32_t len)
{
    harness_token_t tok[HARNESS_MAX_TOKENS];
    uint32_t extra;
    const uint32_t n = harness_tokenize(line, len, tok, HARNESS_MAX_TOKENS, &extra);
    if (n == 0u) {
        return; /* blank line: nothing to answer (hosts may send one to end garbage) */
    }
    if (extra) {
        harness_err("bad_arg", "too many arguments");
        return;
    }
    for (uint32_t i = 0; i < HARNESS_VERB_COUNT; ++i) {
        if (harness_token_is(&tok[0], harness_verbs[i].verb)) {
            harness_verbs[i].run(tok, n);
            return;
        }
    }
    harness_put("err unknown_verb verb=");
    harness_put_safe(tok[0].p, tok[0].n);
    harness_put(" (try help)");
    harness_end();
}
