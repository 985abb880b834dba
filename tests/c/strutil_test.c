/* strutil_test: UTF-8 validation and repair. */
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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_text_is_kept),
        cmocka_unit_test(test_invalid_bytes_become_replacement_characters),
        cmocka_unit_test(test_nul_is_replaced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
