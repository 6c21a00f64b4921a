/* The bounded writer: pieces that fit are written, the first that does not
 * stops all writing, and len keeps counting the size that was needed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"

static void test_fits(void **s)
{
    uint8_t buf[32];
    wsp_writer w = {buf, sizeof(buf), 0};
    (void)s;

    wsp_write(&w, "HTTP/1.1 ", 9);
    wsp_write_uint(&w, 101);
    wsp_write_str(&w, " Switching");
    assert_int_equal(w.len, 22);
    assert_memory_equal(buf, "HTTP/1.1 101 Switching", 22);
}

static void test_exact_fit(void **s)
{
    uint8_t buf[6];
    wsp_writer w = {buf, sizeof(buf), 0};
    (void)s;

    wsp_write_str(&w, "abc");
    wsp_write_str(&w, "def");
    assert_int_equal(w.len, 6);
    assert_true(w.len <= w.cap);
    assert_memory_equal(buf, "abcdef", 6);
}

static void test_overflow_counts_and_stops(void **s)
{
    uint8_t buf[8];
    wsp_writer w = {buf, 5, 0};
    (void)s;

    memset(buf, '.', sizeof(buf));
    wsp_write_str(&w, "abc");   /* fits: 3 */
    wsp_write_str(&w, "defg");  /* does not fit: nothing of it written */
    wsp_write_str(&w, "h");     /* would fit in the space left, but must not
                                   be written after a gap */
    wsp_write_uint(&w, 12345);
    assert_int_equal(w.len, 3 + 4 + 1 + 5);
    assert_true(w.len > w.cap);
    assert_memory_equal(buf, "abc.....", 8);
}

static void test_counting_only(void **s)
{
    wsp_writer w = {NULL, 0, 0};
    (void)s;

    wsp_write(&w, "xyz", 3);
    wsp_write_uint(&w, 0);
    wsp_write(&w, NULL, 0);
    assert_int_equal(w.len, 4);
}

static void test_uint(void **s)
{
    static const struct {
        unsigned long v;
        const char *text;
    } v[] = {{0, "0"}, {7, "7"}, {10, "10"}, {13, "13"},
             {65535, "65535"}, {4294967295ul, "4294967295"}};
    uint8_t buf[32];
    (void)s;

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        wsp_writer w = {buf, sizeof(buf), 0};
        wsp_write_uint(&w, v[i].v);
        assert_int_equal(w.len, strlen(v[i].text));
        assert_memory_equal(buf, v[i].text, w.len);
    }
    {
        /* The largest value has as many digits as its type allows. */
        char want[32];
        size_t n = 0;
        unsigned long m = (unsigned long)-1;
        wsp_writer w = {buf, sizeof(buf), 0};
        do {
            want[sizeof(want) - 1 - n++] = (char)('0' + (int)(m % 10u));
            m /= 10u;
        } while (m != 0);
        wsp_write_uint(&w, (unsigned long)-1);
        assert_int_equal(w.len, n);
        assert_memory_equal(buf, want + sizeof(want) - n, n);
    }
}

static void test_uint_does_not_fit(void **s)
{
    uint8_t buf[4];
    wsp_writer w = {buf, 3, 0};
    (void)s;

    memset(buf, '.', sizeof(buf));
    wsp_write_uint(&w, 1000);
    assert_int_equal(w.len, 4);
    assert_memory_equal(buf, "....", 4);
}

static void test_count_saturates(void **s)
{
    uint8_t buf[1];
    wsp_writer w = {buf, 1, SIZE_MAX - 2};
    (void)s;

    wsp_write(&w, "abcdef", 6);
    assert_true(w.len == SIZE_MAX);
    wsp_write(&w, "a", 1);
    assert_true(w.len == SIZE_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fits),
        cmocka_unit_test(test_exact_fit),
        cmocka_unit_test(test_overflow_counts_and_stops),
        cmocka_unit_test(test_counting_only),
        cmocka_unit_test(test_uint),
        cmocka_unit_test(test_uint_does_not_fit),
        cmocka_unit_test(test_count_saturates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
