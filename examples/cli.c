#include "cli.h"

#include "wsproto.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_parse_uint(const char *s, unsigned long long max,
                   unsigned long long *out)
{
    /* strtoull alone would accept " 12", "+12" and "-1". */
    if (!s || *s < '0' || *s > '9') return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max) return -1;
    *out = v;
    return 0;
}

int cli_parse_seconds(const char *s, int allow_zero, uint32_t *ms)
{
    char *end = NULL;
    if (!s || !*s || *s == '-') return -1;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || v != v || v > 86400.0 * 20) return -1;
    if (v * 1000.0 < 1.0 && !(allow_zero && v == 0.0)) return -1;
    *ms = (uint32_t)(v * 1000.0 + 0.5);
    return 0;
}

int cli_add_origin(const char *prog, const char *origin, const char ***list,
                   size_t *count)
{
    if (strcmp(origin, "null") == 0) {
        fprintf(stderr, "%s: use --allow-null-origin to accept the origin "
                        "\"null\"\n", prog);
        return -1;
    }
    /* A value no Origin header can equal would turn every browser away
     * at run time; say so at start-up instead. */
    if (wsp_origin_check(origin, strlen(origin)) != WSP_OK) {
        fprintf(stderr, "%s: '%s' is not an origin; give "
                        "scheme://host[:port], e.g. https://example.com\n",
                prog, origin);
        return -1;
    }
    const char **grown = NULL;
    if (*count < SIZE_MAX / sizeof *grown - 1)
        grown = realloc((void *)*list, (*count + 1) * sizeof *grown);
    if (!grown) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return -1;
    }
    grown[(*count)++] = origin;
    *list = grown;
    return 0;
}
