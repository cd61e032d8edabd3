/* Harness internals, part 2: the commands and their verb table (harness_commands.c), and the
 * one hook they need from the byte stream (tinyrnn_harness.c). */
#ifndef HARNESS_COMMANDS_H
#define HARNESS_COMMANDS_H

#include <stdint.h>

/* Initialises the model once; returns its status, which `id` and the banner report. */
int harness_model_init(void);

/* Answers one complete command line (terminator and '\r' removed, len <= TINYRNN_LINE_MAX)
 * with exactly one reply line; a blank line gets none. */
void harness_dispatch(const char *line, uint32_t len);

/* Called by a command right after a long computation and before its reply: takes a byte that
 * arrived meanwhile so the stream can discard that line as `err busy` (tinyrnn_harness.c). */
void harness_note_early_byte(void);

#endif /* HARNESS_COMMANDS_H */
