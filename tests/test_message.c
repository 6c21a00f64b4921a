/* Whole-message assembly with wsp_message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "test_support.h"
#include "wsproto.h"

static wsp_event data_ev(wsp_opcode op, const char *s, size_t len,
                         unsigned flags)
{
    wsp_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = WSP_EV_DATA;
    ev.u.data.opcode = op;
    ev.u.data.payload = (uint8_t *)(uintptr_t)s;
    ev.u.data.len = len;
    ev.u.data.flags = flags;
    return ev;
}

static void test_assembly(void **state)
{
    (void)state;
    wsp_message m;
    memset(&m, 0, sizeof m);
    wsp_event e = data_ev(WSP_OP_TEXT, "Hel", 3, WSP_DATA_FIRST);
    assert_int_equal(wsp_message_add(&m, &e), WSP_OK);
    assert_false(m.complete);
    e = data_ev(WSP_OP_TEXT, "", 0, 0);
    assert_int_equal(wsp_message_add(&m, &e), WSP_OK);
    assert_false(m.complete);
    e = data_ev(WSP_OP_TEXT, "lo, ", 4, 0);
    assert_int_equal(wsp_message_add(&m, &e), WSP_OK);
    assert_false(m.complete);
    e = data_ev(WSP_OP_TEXT, "world", 5, WSP_DATA_LAST);
    assert_int_equal(wsp_message_add(&m, &e), WSP_OK);
    assert_true(m.complete);
    assert_int_equal(m.opcode, WSP_OP_TEXT);
    assert_int_equal(m.len, 12);
    assert_true(m.cap >= m.len);
    assert_memory_equal(m.data, "Hello, world", 12);

    /* The next add starts a new message. */
    e = data_ev(WSP_OP_BINARY, "\x00\x01\x02", 3,
                WSP_DATA_FIRST | WSP_DATA_LAST);
    assert_int_equal(wsp_message_add(&m, &e), WSP_OK);
    assert_true(m.complete);
    assert_int_equal(m.opcode, WSP_OP_BINARY);
    assert_int_equal(m.len, 3);
    assert_memory_equal(m.data, "\x00\x01\x02", 3);

    /* An empty message. */
    e = data_ev(WSP_OP_TEXT, "", 0, WSP_DATA_FIRST | WSP_DATA_LAST);
    assert_int_equal(wsp_message_add(&m, &e), WSP_OK);
    assert_true(m.complete);
    assert_int_equal(m.len, 0);
    assert_int_equal(m.opcode, WSP_OP_TEXT);

    /* A new message after completion, in pieces. */
    e = data_ev(WSP_OP_BINARY, "ab", 2, WSP_DATA_FIRST);
    assert_int_equal(wsp_message_add(&m, &e), WSP_OK);
    assert_false(m.complete);
    assert_int_equal(m.len, 2);
    e = data_ev(WSP_OP_BINARY, "c", 1, WSP_DATA_LAST);
    assert_int_equal(wsp_message_add(&m, &e), WSP_OK);
    assert_true(m.complete);
    assert_memory_equal(m.data, "abc", 3);
    assert_int_equal(m.len, 3);

    wsp_message_free(&m);
    assert_null(m.data);
    assert_int_equal(m.len, 0);
    wsp_message_free(&m); /* twice is harmless */
}

static void test_invalid(void **state)
{
    (void)state;
    wsp_message m;
    memset(&m, 0, sizeof m);
    wsp_event e = data_ev(WSP_OP_TEXT, "x", 1, WSP_DATA_FIRST | WSP_DATA_LAST);
    e.type = WSP_EV_PING;
    assert_int_equal(wsp_message_add(&m, &e), WSP_ERR_INVALID_ARG);
    e.type = WSP_EV_CLOSE;
    assert_int_equal(wsp_message_add(&m, &e), WSP_ERR_INVALID_ARG);
    e.type = WSP_EV_NONE;
    assert_int_equal(wsp_message_add(&m, &e), WSP_ERR_INVALID_ARG);
    e.type = WSP_EV_DATA;
    assert_int_equal(wsp_message_add(NULL, &e), WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_message_add(&m, NULL), WSP_ERR_INVALID_ARG);
    assert_int_equal(m.len, 0);
    wsp_message_free(&m);
}

static void test_limit(void **state)
{
    (void)state;
    wsp_message m;
    memset(&m, 0, sizeof m);
    m.max = 10;
    wsp_event e = data_ev(WSP_OP_BINARY, "123456", 6, WSP_DATA_FIRST);
    assert_int_equal(wsp_message_add(&m, &e), WSP_OK);
    e = data_ev(WSP_OP_BINARY, "78901", 5, WSP_DATA_LAST);
    assert_int_equal(wsp_message_add(&m, &e), WSP_ERR_LIMIT);
    assert_int_equal(m.len, 6); /* nothing appended */
    assert_false(m.complete);
    assert_memory_equal(m.data, "123456", 6);
    /* Exactly max fits. */
    e = data_ev(WSP_OP_BINARY, "7890", 4, WSP_DATA_LAST);
    assert_int_equal(wsp_message_add(&m, &e), WSP_OK);
    assert_true(m.complete);
    assert_int_equal(m.len, 10);
    assert_memory_equal(m.data, "1234567890", 10);
    /* A single piece over the limit. */
    e = data_ev(WSP_OP_BINARY, "12345678901", 11,
                WSP_DATA_FIRST | WSP_DATA_LAST);
    assert_int_equal(wsp_message_add(&m, &e), WSP_ERR_LIMIT);
    wsp_message_free(&m);
}

static void test_allocator(void **state)
{
    (void)state;
    for (int with_realloc = 0; with_realloc < 2; with_realloc++) {
        wsp_test_alloc a = {-1, 0, 0, 0, 0};
        wsp_allocator al = {wsp_test_malloc,
                            with_realloc ? wsp_test_realloc : NULL,
                            wsp_test_free, &a};
        wsp_message m;
        memset(&m, 0, sizeof m);
        m.allocator = &al;
        static char big[5000];
        for (size_t i = 0; i < sizeof big; i++) big[i] = (char)('a' + i % 26);
        wsp_event e = data_ev(WSP_OP_TEXT, big, 10, WSP_DATA_FIRST);
        assert_int_equal(wsp_message_add(&m, &e), WSP_OK);
        for (size_t off = 10; off < sizeof big; off += 499) {
            size_t take = sizeof big - off < 499 ? sizeof big - off : 499;
            e = data_ev(WSP_OP_TEXT, big + off, take,
                        off + take == sizeof big ? WSP_DATA_LAST : 0);
            assert_int_equal(wsp_message_add(&m, &e), WSP_OK);
        }
        assert_true(m.complete);
        assert_int_equal(m.len, sizeof big);
        assert_memory_equal(m.data, big, sizeof big);
        assert_true(a.total_allocs >= 1);
        assert_true(a.live_blocks <= 1);
        wsp_message_free(&m);
        assert_int_equal(a.live_blocks, 0);
        assert_int_equal(a.live_bytes, 0);
        assert_int_equal(a.size_mismatches, 0);
    }
}

static void test_allocation_failure(void **state)
{
    (void)state;
    for (long budget = 0; budget < 4; budget++) {
        wsp_test_alloc a = {budget, 0, 0, 0, 0};
        wsp_allocator al = {wsp_test_malloc, wsp_test_realloc, wsp_test_free,
                            &a};
        wsp_message m;
        memset(&m, 0, sizeof m);
        m.allocator = &al;
        static char big[100000];
        memset(big, 'x', sizeof big);
        int saw_nomem = 0;
        size_t appended = 0;
        wsp_event e = data_ev(WSP_OP_BINARY, big, 1, WSP_DATA_FIRST);
        int rc = wsp_message_add(&m, &e);
        if (rc == WSP_OK) appended = 1;
        else { assert_int_equal(rc, WSP_ERR_NOMEM); saw_nomem = 1; }
        for (size_t step = 1; step < sizeof big && !saw_nomem; step *= 2) {
            e = data_ev(WSP_OP_BINARY, big, step, 0);
            rc = wsp_message_add(&m, &e);
            if (rc == WSP_ERR_NOMEM) {
                saw_nomem = 1;
                /* Nothing appended on failure; the old data is intact. */
                assert_int_equal(m.len, appended);
                assert_false(m.complete);
            } else {
                assert_int_equal(rc, WSP_OK);
                appended += step;
                assert_int_equal(m.len, appended);
            }
        }
        assert_true(saw_nomem);
        wsp_message_free(&m);
        assert_int_equal(a.live_blocks, 0);
        assert_int_equal(a.live_bytes, 0);
        assert_int_equal(a.size_mismatches, 0);
    }
}

static void test_arguments_and_copy_growth_failure(void **state)
{
    (void)state;
    wsp_message m;
    memset(&m, 0, sizeof m);
    wsp_event e = data_ev(WSP_OP_BINARY, "abc", 3, WSP_DATA_FIRST);
    assert_int_equal(wsp_message_add(NULL, &e), WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_message_add(&m, NULL), WSP_ERR_INVALID_ARG);
    wsp_event nodata = data_ev(WSP_OP_BINARY, NULL, 0, WSP_DATA_FIRST);
    nodata.u.data.len = 3;
    assert_int_equal(wsp_message_add(&m, &nodata), WSP_ERR_INVALID_ARG);
    assert_int_equal(m.len, 0);
    assert_null(m.data);
    wsp_message_free(NULL);

    /* Without realloc_fn, growing is malloc + copy + free; when that malloc
     * fails the message so far is kept as it was. */
    wsp_test_alloc a = {1, 0, 0, 0, 0};
    wsp_allocator al = {wsp_test_malloc, NULL, wsp_test_free, &a};
    m.allocator = &al;
    static char big[300];
    memset(big, 'q', sizeof big);
    e = data_ev(WSP_OP_BINARY, big, 200, WSP_DATA_FIRST);
    assert_int_equal(wsp_message_add(&m, &e), WSP_OK);
    assert_int_equal(m.cap, 256);
    e = data_ev(WSP_OP_BINARY, big, 100, WSP_DATA_LAST);
    assert_int_equal(wsp_message_add(&m, &e), WSP_ERR_NOMEM);
    assert_int_equal(m.len, 200);
    assert_int_equal(m.cap, 256);
    assert_false(m.complete);
    assert_memory_equal(m.data, big, 200);
    assert_int_equal(a.live_blocks, 1);
    /* Allocation works again: the piece goes in. */
    a.fail_after = -1;
    assert_int_equal(wsp_message_add(&m, &e), WSP_OK);
    assert_true(m.complete);
    assert_int_equal(m.len, 300);
    assert_memory_equal(m.data, big, 300);
    assert_int_equal(a.live_blocks, 1);
    wsp_message_free(&m);
    assert_int_equal(a.live_blocks, 0);
    assert_int_equal(a.size_mismatches, 0);
}

/* 0.1 did not terminate an assembled message: text handed to C string
 * functions ran past its end. A complete message is followed by a NUL
 * (not counted in len), also after the buffer grew and for an empty one,
 * whose data is then a valid, empty string. */
static void test_regression_message_nul_terminated(void **state)
{
    (void)state;
    wsp_test_alloc a = {-1, 0, 0, 0, 0};
    wsp_allocator al = {wsp_test_malloc, wsp_test_realloc, wsp_test_free, &a};
    wsp_message m;
    memset(&m, 0, sizeof m);
    m.allocator = &al;

    /* An empty message first: data exists and holds "". */
    wsp_event e = data_ev(WSP_OP_TEXT, "", 0, WSP_DATA_FIRST | WSP_DATA_LAST);
    assert_int_equal(wsp_message_add(&m, &e), WSP_OK);
    assert_true(m.complete);
    assert_int_equal(m.len, 0);
    assert_non_null(m.data);
    assert_int_equal(m.data[0], 0);
    assert_true(m.cap >= 1);

    /* Filled with a pattern so a missing terminator is seen. */
    memset(m.data, 0x5A, m.cap);
    e = data_ev(WSP_OP_TEXT, "abc", 3, WSP_DATA_FIRST | WSP_DATA_LAST);
    assert_int_equal(wsp_message_add(&m, &e), WSP_OK);
    assert_int_equal(m.len, 3);
    assert_string_equal((const char *)m.data, "abc");

    /* Pieces that make the buffer grow past its first allocation, each
     * ending exactly at a power of two (a full buffer needs one byte more). */
    static char piece[1024];
    memset(piece, 'q', sizeof piece);
    size_t old_cap = m.cap;
    e = data_ev(WSP_OP_BINARY, piece, 256, WSP_DATA_FIRST);
    assert_int_equal(wsp_message_add(&m, &e), WSP_OK);
    assert_false(m.complete);
    e = data_ev(WSP_OP_BINARY, piece, 768, 0);
    assert_int_equal(wsp_message_add(&m, &e), WSP_OK);
    e = data_ev(WSP_OP_BINARY, piece, 1024, WSP_DATA_LAST);
    assert_int_equal(wsp_message_add(&m, &e), WSP_OK);
    assert_true(m.complete);
    assert_int_equal(m.len, 2048);
    assert_true(m.cap > old_cap);
    assert_true(m.cap >= m.len + 1);
    assert_int_equal(m.data[2048], 0);
    assert_int_equal(strlen((const char *)m.data), 2048);

    /* A message at exactly max still has its NUL. */
    wsp_message_free(&m);
    m.max = 16;
    e = data_ev(WSP_OP_TEXT, "0123456789abcdef", 16, WSP_DATA_FIRST | WSP_DATA_LAST);
    assert_int_equal(wsp_message_add(&m, &e), WSP_OK);
    assert_int_equal(m.len, 16);
    assert_int_equal(m.data[16], 0);
    /* An empty message after a longer one is "" too. */
    e = data_ev(WSP_OP_TEXT, "", 0, WSP_DATA_FIRST | WSP_DATA_LAST);
    assert_int_equal(wsp_message_add(&m, &e), WSP_OK);
    assert_int_equal(m.len, 0);
    assert_int_equal(m.data[0], 0);
    wsp_message_free(&m);
    assert_int_equal(a.live_blocks, 0);
    assert_int_equal(a.size_mismatches, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assembly),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_allocator),
        cmocka_unit_test(test_allocation_failure),
        cmocka_unit_test(test_arguments_and_copy_growth_failure),
        cmocka_unit_test(test_regression_message_nul_terminated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
