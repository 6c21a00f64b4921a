/* Command-line values the examples share: numbers and allowed origins. */
#ifndef EXAMPLES_CLI_H
#define EXAMPLES_CLI_H

#include <stddef.h>
#include <stdint.h>

/* Decimal digits only, at most `max`: no sign, no spaces, no empty string,
 * so "-1" is refused instead of wrapping to a huge value. 0 with *out set,
 * or -1 with *out untouched. */
int cli_parse_uint(const char *s, unsigned long long max,
                   unsigned long long *out);

/* Seconds with an optional fraction ("0.5"), stored as milliseconds: at
 * least 1 ms (or exactly 0 when allow_zero), at most 20 days, no sign.
 * 0 with *ms set, or -1 with *ms untouched. */
int cli_parse_seconds(const char *s, int allow_zero, uint32_t *ms);

/* Adds `origin` (an --allow-origin value) to the growing list *list of
 * *count entries, after checking it is an origin the library's policy can
 * match; "null" is refused with a pointer to --allow-null-origin. `prog`
 * prefixes the messages. 0, or -1 with the list unchanged. */
int cli_add_origin(const char *prog, const char *origin, const char ***list,
                   size_t *count);

#endif
