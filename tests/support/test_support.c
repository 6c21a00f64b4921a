#include "test_support.h"

#include <stdio.h>
#include <stdlib.h>

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

size_t wsp_test_hex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    while (*hex) {
        if (*hex == ' ') { hex++; continue; }
        int hi = hex_value(hex[0]);
        int lo = hex[1] ? hex_value(hex[1]) : -1;
        if (hi < 0 || lo < 0 || n >= cap) {
            fprintf(stderr, "wsp_test_hex: bad input\n");
            abort();
        }
        out[n++] = (uint8_t)(hi * 16 + lo);
        hex += 2;
    }
    return n;
}
