/* Line-based serial protocol around one model: see firmware/PROTOCOL.md for the grammar.
 *
 * The harness is split by job: this file turns the byte stream into bounded lines (and owns the
 * public entry points), harness_commands.c answers each line through its verb table, and
 * harness_io.c formats replies and parses words. Static buffers only; every byte is bounded
 * before it is stored. */
#include "tinyrnn_harness.h"

#include <stdint.h>

#include "harness_commands.h"
#include "harness_io.h"
#include "tinyrnn_model.h"
#include "tinyrnn_port.h"

static char harness_line[TINYRNN_LINE_MAX];
static uint32_t harness_line_len;
static uint32_t harness_line_dropped; /* bytes past TINYRNN_LINE_MAX in the current line */
static uint8_t harness_discarding;    /* skipping a line that arrived while a command ran */
static uint32_t harness_discarded;

/* A byte already waiting when a long command finishes was sent before its reply: a protocol
 * violation. Checked before the reply goes out, so a host that waits for each reply never
 * trips it; the rest of that line is discarded and answered with `err busy`. */
static int harness_early = -1;

void harness_note_early_byte(void)
{
    harness_early = tinyrnn_port_getc();
}

static void harness_on_byte(uint8_t c);

static void harness_end_of_line(void)
{
    if (harness_line_dropped != 0u) {
        harness_put("err too_long");
        harness_put_kv_u32("length", harness_line_len + harness_line_dropped);
        harness_put_kv_u32("line_max", TINYRNN_LINE_MAX);
        harness_end();
    } else {
        harness_dispatch(harness_line, harness_line_len);
    }
    harness_line_len = 0u;
    harness_line_dropped = 0u;
    if (harness_early >= 0) {
        const uint8_t c = (uint8_t)harness_early;
        harness_early = -1;
        harness_discarding = 1u;
        harness_discarded = 0u;
        harness_on_byte(c);
    }
}

static void harness_on_byte(uint8_t c)
{
    if (harness_discarding) {
        if (c == '\n') {
            harness_discarding = 0u;
            harness_put("err busy");
            harness_put_kv_u32("discarded", harness_discarded);
            harness_put(" line arrived while a command ran: wait for each reply");
            harness_end();
        } else {
            harness_discarded++;
        }
        return;
    }
    if (c == '\r') {
        return;
    }
    if (c == '\n') {
        harness_end_of_line();
        return;
    }
    if (harness_line_len < TINYRNN_LINE_MAX) {
        harness_line[harness_line_len++] = (char)c;
    } else if (harness_line_dropped < UINT32_MAX) {
        harness_line_dropped++;
    }
}

void tinyrnn_harness_init(void)
{
    tinyrnn_port_init();
    const int status = harness_model_init();
    harness_put("ready");
    harness_put_kv_u32("proto", TINYRNN_PROTOCOL_VERSION);
    harness_put_kv_str("model", TINYRNN_MODEL_NAME);
    harness_put_kv_str("board", tinyrnn_port_board());
    harness_put_kv_i32("init", status);
    harness_end();
}

void tinyrnn_harness_poll(void)
{
    int c;
    while ((c = tinyrnn_port_getc()) >= 0) {
        harness_on_byte((uint8_t)c);
    }
}
