/* Harness internals, part 1: reply formatting and command-line parsing (harness_io.c).
 * Private to firmware/src: names use `harness_` so they never collide with the runtime's
 * `tinyrnn_` symbols linked into the same image. */
#ifndef HARNESS_IO_H
#define HARNESS_IO_H

#include <stdint.h>

/* One whitespace-separated word of a command line; points into the line buffer. */
typedef struct {
    const char *p;
    uint32_t n;
} harness_token_t;

/* ---- replies: every reply is built from these and ended by harness_end() ---- */
void harness_put(const char *s);
void harness_put_u32(uint32_t v);
void harness_put_i32(int32_t v);
void harness_put_hex8(uint8_t b);
void harness_put_hex32(uint32_t v);
void harness_put_float_bits(float f);
void harness_put_safe(const char *s, uint32_t n);
void harness_put_kv_u32(const char *key, uint32_t v);
void harness_put_kv_i32(const char *key, int32_t v);
void harness_put_kv_str(const char *key, const char *v);
void harness_end(void);
void harness_err(const char *code, const char *detail);

/* ---- parsing: all return -1 (or a negative index) on malformed input, never read past n ---- */
int harness_parse_u32(const harness_token_t *t, uint32_t *out);
int harness_parse_hex32(const harness_token_t *t, uint32_t *out);
/* Decodes exactly `count` bytes (the caller checked t->n == 2 * count); returns 0, or
 * -1-(index of the first bad digit). */
int32_t harness_decode_hex(const harness_token_t *t, int8_t *dst, uint32_t count);
/* Splits line[0..len) into at most `max` tokens; *extra is 1 when more words followed. */
uint32_t harness_tokenize(const char *line, uint32_t len, harness_token_t *tok, uint32_t max,
                          uint32_t *extra);
int harness_token_is(const harness_token_t *t, const char *word);

#endif /* HARNESS_IO_H */
