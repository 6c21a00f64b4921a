/* Helpers shared by the unit tests. */
#ifndef WSP_TEST_SUPPORT_H
#define WSP_TEST_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

/* Decodes a hex string ("81 05 48 65", spaces ignored) into out; returns the
 * byte count. Aborts on malformed input. */
size_t wsp_test_hex(const char *hex, uint8_t *out, size_t cap);

#endif
