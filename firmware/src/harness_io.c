/* Reply formatting and command-line parsing for the protocol harness (firmware/PROTOCOL.md).
 * Nothing here holds state: bytes go out through the port, tokens point into the caller's line. */
#include "harness_io.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tinyrnn_port.h"

/* Longest echo of untrusted text (an unknown verb, a ping token). */
#define HARNESS_ECHO_MAX 24

/* ---- output ---------------------------------------------------------------------------- */

void harness_put(const char *s)
{
    while (*s != '\0') {
        tinyrnn_port_putc((uint8_t)*s++);
    }
}

void harness_put_u32(uint32_t v)
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

void harness_put_i32(int32_t v)
{
    if (v < 0) {
        tinyrnn_port_putc('-');
        harness_put_u32((uint32_t)(-(v + 1)) + 1u);
    } else {
        harness_put_u32((uint32_t)v);
    }
}

static const char harness_hex_digits[] = "0123456789abcdef";

void harness_put_hex8(uint8_t b)
{
    tinyrnn_port_putc((uint8_t)harness_hex_digits[b >> 4]);
    tinyrnn_port_putc((uint8_t)harness_hex_digits[b & 0xFu]);
}

void harness_put_hex32(uint32_t v)
{
    for (int shift = 24; shift >= 0; shift -= 8) {
        harness_put_hex8((uint8_t)(v >> shift));
    }
}

/* Floats go out as their IEEE-754 bits: exact, and no printf/float formatting in flash. */
void harness_put_float_bits(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    harness_put_hex32(bits);
}

/* Echo untrusted text only as printable ASCII without spaces, bounded, so replies stay one
 * token and one line whatever arrived. */
void harness_put_safe(const char *s, uint32_t n)
{
    if (n > HARNESS_ECHO_MAX) {
        n = HARNESS_ECHO_MAX;
    }
    for (uint32_t i = 0; i < n; ++i) {
        const char c = s[i];
        tinyrnn_port_putc((c > ' ' && c < 0x7F) ? (uint8_t)c : (uint8_t)'?');
    }
}

void harness_put_kv_u32(const char *key, uint32_t v)
{
    tinyrnn_port_putc(' ');
    harness_put(key);
    tinyrnn_port_putc('=');
    harness_put_u32(v);
}

void harness_put_kv_i32(const char *key, int32_t v)
{
    tinyrnn_port_putc(' ');
    harness_put(key);
    tinyrnn_port_putc('=');
    harness_put_i32(v);
}

void harness_put_kv_str(const char *key, const char *v)
{
    tinyrnn_port_putc(' ');
    harness_put(key);
    tinyrnn_port_putc('=');
    harness_put_safe(v, (uint32_t)strlen(v));
}

void harness_end(void)
{
    tinyrnn_port_putc('\n');
}

void harness_err(const char *code, const char *detail)
{
    harness_put("err ");
    harness_put(code);
    if (detail != NULL) {
        tinyrnn_port_putc(' ');
        harness_put(detail);
    }
    harness_end();
}

/* ---- parsing --------------------------------------------------------------------------- */

static int harness_hex_nibble(char c)
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

int harness_parse_u32(const harness_token_t *t, uint32_t *out)
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

int harness_parse_hex32(const harness_token_t *t, uint32_t *out)
{
    uint32_t v = 0;
    if (t->n == 0u || t->n > 8u) {
        return -1;
    }
    for (uint32_t i = 0; i < t->n; ++i) {
        const int d = harness_hex_nibble(t->p[i]);
        if (d < 0) {
            return -1;
        }
        v = (v << 4) | (uint32_t)d;
    }
    *out = v;
    return 0;
}

int32_t harness_decode_hex(const harness_token_t *t, int8_t *dst, uint32_t count)
{
    for (uint32_t i = 0; i < count; ++i) {
        const int hi = harness_hex_nibble(t->p[2u * i]);
        const int lo = harness_hex_nibble(t->p[2u * i + 1u]);
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

uint32_t harness_tokenize(const char *line, uint32_t len, harness_token_t *tok, uint32_t max,
                          uint32_t *extra)
{
    uint32_t count = 0;
    uint32_t i = 0;
    *extra = 0;
    while (i < len) {
        while (i < len && (line[i] == ' ' || line[i] == '\t')) {
            ++i;
        }
        if (i >= len) {
            break;
        }
        const uint32_t start = i;
        while (i < len && line[i] != ' ' && line[i] != '\t') {
            ++i;
        }
        if (count < max) {
            tok[count].p = &line[start];
            tok[count].n = i - start;
            ++count;
        } else {
            *extra = 1;
        }
    }
    return count;
}

int harness_token_is(const harness_token_t *t, const char *word)
{
    const size_t n = strlen(word);
    return t->n == n && memcmp(t->p, word, n) == 0;
}
