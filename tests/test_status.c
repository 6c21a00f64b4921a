/* Status names and the close-code / HTTP-status mappings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "test_support.h"
#include "wsproto.h"

typedef struct status_row {
    int status;
    const char *name;
    uint16_t close_code; /* 0: not a protocol error */
    int http_code;       /* 0: not a server handshake error */
} status_row;

#define ROW(s, cc, http) {s, #s, cc, http}
static const status_row rows[] = {
    ROW(WSP_OK, 0, 0),
    ROW(WSP_ERR_INVALID_ARG, 0, 0),
    ROW(WSP_ERR_STATE, 0, 0),
    ROW(WSP_ERR_BUFFER_TOO_SMALL, 0, 0),
    ROW(WSP_ERR_NOMEM, 0, 0),
    ROW(WSP_ERR_ENTROPY, 0, 0),
    ROW(WSP_ERR_NEED_MORE, 0, 0),
    ROW(WSP_ERR_LIMIT, 0, 0),
    ROW(WSP_ERR_CLOSED, 0, 0),
    ROW(WSP_ERR_UNSUPPORTED, 0, 0),
    ROW(WSP_ERR_NOT_FOUND, 0, 0),
    ROW(WSP_ERR_HTTP_MALFORMED, 0, 400),
    ROW(WSP_ERR_HTTP_METHOD, 0, 405),
    ROW(WSP_ERR_HTTP_VERSION, 0, 400),
    ROW(WSP_ERR_HTTP_HOST, 0, 400),
    ROW(WSP_ERR_HTTP_UPGRADE, 0, 400),
    ROW(WSP_ERR_HTTP_CONNECTION, 0, 400),
    ROW(WSP_ERR_HTTP_KEY, 0, 400),
    ROW(WSP_ERR_HTTP_WS_VERSION, 0, 426),
    ROW(WSP_ERR_HTTP_TOO_LARGE, 0, 431),
    ROW(WSP_ERR_HTTP_STATUS, 0, 0),
    ROW(WSP_ERR_HTTP_ACCEPT, 0, 0),
    ROW(WSP_ERR_HTTP_SUBPROTOCOL, 0, 0),
    ROW(WSP_ERR_HTTP_EXTENSION, 0, 0),
    ROW(WSP_ERR_HTTP_ORIGIN, 0, 403),
    ROW(WSP_ERR_HTTP_PROTOCOL_UNSUPPORTED, 0, 501),
    ROW(WSP_ERR_PROTO_RSV, 1002, 0),
    ROW(WSP_ERR_PROTO_OPCODE, 1002, 0),
    ROW(WSP_ERR_PROTO_MASK, 1002, 0),
    ROW(WSP_ERR_PROTO_CONTROL_TOO_LONG, 1002, 0),
    ROW(WSP_ERR_PROTO_CONTROL_FRAGMENTED, 1002, 0),
    ROW(WSP_ERR_PROTO_CONTINUATION, 1002, 0),
    ROW(WSP_ERR_PROTO_EXPECTED_CONTINUATION, 1002, 0),
    ROW(WSP_ERR_PROTO_LENGTH, 1002, 0),
    ROW(WSP_ERR_PROTO_CLOSE_PAYLOAD, 1002, 0),
    ROW(WSP_ERR_PROTO_CLOSE_CODE, 1002, 0),
    ROW(WSP_ERR_PROTO_UTF8, 1007, 0),
    ROW(WSP_ERR_PROTO_TOO_BIG, 1009, 0),
    ROW(WSP_ERR_PROTO_TOO_MANY_FRAGMENTS, 1009, 0),
    ROW(WSP_ERR_PROTO_EXTENSION, 1002, 0),
};
#define NROWS (sizeof rows / sizeof rows[0])

static void test_strerror_names(void **state)
{
    (void)state;
    for (size_t i = 0; i < NROWS; i++) {
        const char *s = wsp_strerror(rows[i].status);
        assert_non_null(s);
        size_t n = strlen(rows[i].name);
        if (strncmp(s, rows[i].name, n) != 0 || s[n] != ':')
            print_error("status %d: \"%s\" does not start with \"%s:\"\n",
                        rows[i].status, s, rows[i].name);
        assert_true(strncmp(s, rows[i].name, n) == 0);
        assert_int_equal(s[n], ':');
        /* A description follows the name. */
        assert_true(strlen(s) > n + 2);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(s, wsp_strerror(rows[j].status));
        /* Static: the same pointer each time. */
        assert_ptr_equal(s, wsp_strerror(rows[i].status));
    }
}

static void test_strerror_unknown(void **state)
{
    (void)state;
    static const int unknown[] = {1, 42, -11, -99, -115, -150, -199, -214,
                                  -299, -300, -1000, 0x7FFFFFFF,
                                  -0x7FFFFFFF - 1};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        const char *s = wsp_strerror(unknown[i]);
        assert_non_null(s);
        assert_string_equal(s, "unknown status");
        assert_int_equal(wsp_status_close_code(unknown[i]), 0);
        assert_int_equal(wsp_status_http_code(unknown[i]), 0);
    }
}

static void test_close_codes(void **state)
{
    (void)state;
    for (size_t i = 0; i < NROWS; i++) {
        uint16_t cc = wsp_status_close_code(rows[i].status);
        if (rows[i].close_code == 1)
            assert_true(cc == 1002 || cc == 1007);
        else
            assert_int_equal(cc, rows[i].close_code);
    }
}

static void test_http_codes(void **state)
{
    (void)state;
    for (size_t i = 0; i < NROWS; i++) {
        int h = wsp_status_http_code(rows[i].status);
        if (h != rows[i].http_code)
            print_error("%s: %d, want %d\n", rows[i].name, h,
                        rows[i].http_code);
        assert_int_equal(h, rows[i].http_code);
    }
}

static void test_version(void **state)
{
    (void)state;
    const wsp_version_info *v = wsp_version();
    assert_non_null(v);
    assert_true(v->age >= 1);
    assert_int_equal(v->major, WSP_VERSION_MAJOR);
    assert_int_equal(v->minor, WSP_VERSION_MINOR);
    assert_int_equal(v->patch, WSP_VERSION_PATCH);
    assert_non_null(v->string);
    assert_string_equal(v->string, WSP_VERSION_STRING);
    assert_ptr_equal(v, wsp_version());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror_names),
        cmocka_unit_test(test_strerror_unknown),
        cmocka_unit_test(test_close_codes),
        cmocka_unit_test(test_http_codes),
        cmocka_unit_test(test_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
