/* Bounded output. Builders write a whole response or frame through one
 * writer and check once at the end: if w->len > w->cap the output did not
 * fit, nothing past the first piece that did not fit was written, and
 * w->len is the size the caller needs (the WSP_ERR_BUFFER_TOO_SMALL
 * contract in wsproto.h). */
#include "internal.h"

#include <string.h>

void wsp_write(wsp_writer *w, const void *data, size_t len)
{
    /* A piece is written whole or not at all, and once one piece has not
     * fit no later piece is written either (w->len > w->cap keeps the
     * test false), so the buffer never holds output with a gap in it. */
    if (w->len <= w->cap && len <= w->cap - w->len) {
        if (len > 0)
            memcpy(w->out + w->len, data, len);
        w->len += len;
        return;
    }
    /* Saturate instead of wrapping: a wrapped count could look like it
     * fits. */
    if (len > SIZE_MAX - w->len)
        w->len = SIZE_MAX;
    else
        w->len += len;
}

void wsp_write_str(wsp_writer *w, const char *s)
{
    wsp_write(w, s, strlen(s));
}

void wsp_write_uint(wsp_writer *w, unsigned long v)
{
    /* Enough for any unsigned long: 3 decimal digits cover 8 bits. */
    char digits[sizeof(unsigned long) * 3];
    size_t n = sizeof(digits);

    do {
        digits[--n] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v != 0);
    wsp_write(w, digits + n, sizeof(digits) - n);
}
