/* strutil_test: UTF-8 validation and repair; decimals. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "refchain/alloc.h"
#include "refchain/strutil.h"
#include "testutil.h"

static void
check_repair(const char *in, size_t n, const char *want)
{
    char *out = rc_utf8_valid_dup(in, n);
    assert_non_null(out);
    assert_string_equal(out, want);
    assert_true(rc_utf8_is_valid(out, strlen(out)));
    rc_free(out);
}

static void
test_valid_text_is_kept(void **state)
{
    (void)state;
    const char *s = "caf\xc3\xa9 \xe2\x86\x92 \xf0\x9f\x90\x8d";
    assert_true(rc_utf8_is_valid(s, strlen(s)));
    check_repair(s, strlen(s), s);
    check_repair("", 0, "");
}

static void
test_invalid_bytes_become_replacement_characters(void **state)
{
    (void)state;
    /* A lone continuation byte, an overlong NUL, a truncated sequence. */
    assert_false(rc_utf8_is_valid("a\x80" "b", 3));
    check_repair("a\x80" "b", 3, "a\xef\xbf\xbd" "b");
    check_repair("\xc0\x80", 2, "\xef\xbf\xbd\xef\xbf\xbd");
    check_repair("\xe2\x86", 2, "\xef\xbf\xbd\xef\xbf\xbd");
    /* An encoded surrogate (U+D800) and a code point above U+10FFFF. */
    check_repair("\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    assert_false(rc_utf8_is_valid("\xf4\x90\x80\x80", 4));
}

static void
test_nul_is_replaced(void **state)
{
    (void)state;
    assert_false(rc_utf8_is_valid("a\0b", 3));
    check_repair("a\0b", 3, "a\xef\xbf\xbd" "b");
}

static void
test_decimals_are_printfs(void **state)
{
    (void)state;
    const long long values[] = {0, 1, -1, 9, 10, -10, 99, 100, 123456789, -987654321,
                                INT_MAX, INT_MIN, LLONG_MAX, LLONG_MIN, LLONG_MIN + 1};
    for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
        char want[64], got[RC_DECIMAL_MAX];
        int n = snprintf(want, sizeof want, "%lld", values[i]);
        memset(got, 'x', sizeof got);
        assert_int_equal(rc_decimal(got, values[i]), (size_t)n);
        assert_string_equal(got, want);
    }
    /* Every power of ten and its neighbours, both signs. */
    for (long long p = 1; p <= LLONG_MAX / 10; p *= 10) {
        for (long long v = p - 1; v <= p + 1; v++) {
            char want[64], got[RC_DECIMAL_MAX];
            snprintf(want, sizeof want, "%lld", -v);
            rc_decimal(got, -v);
            assert_string_equal(got, want);
            snprintf(want, sizeof want, "%lld", v);
            rc_decimal(got, v);
            assert_string_equal(got, want);
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_text_is_kept),
        cmocka_unit_test(test_invalid_bytes_become_replacement_characters),
        cmocka_unit_test(test_nul_is_replaced),
        cmocka_unit_test(test_decimals_are_printfs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
