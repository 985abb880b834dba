/* strutil_test: UTF-8 validation and repair; decimals; float reprs. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
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

/* repr() of each, as CPython 3.11 printed it; "" where rc_float_repr
 * declines (not a decimal of at most 15 digits). */
static void
test_float_reprs_are_cpythons(void **state)
{
    (void)state;
    static const struct {
        double x;
        const char *want;
    } cases[] = {
        {0x0.0p+0, "0.0"},
        {-0x0.0p+0, "-0.0"},
        {0x1.0p+0, "1.0"},
        {-0x1.0p+0, "-1.0"},
        {0x1.0p-1, "0.5"},
        {0x1.81ccp+13, "12345.5"},
        {-0x1.81cap+13, "-12345.25"},
        {0x1.f4p+9, "1000.0"},
        {0x1.6bcc41e9p+46, "100000000000000.0"},
        {0x1.c12218377de4p+46, "123456789012345.0"},
        {0x1.c6bf52633fff8p+49, "999999999999999.0"},
        {0x1.0p-2, "0.25"},
        {0x1.0p-20, "9.5367431640625e-07"},
        {0x1.0p-21, "4.76837158203125e-07"},
        {0x1.0p-13, "0.0001220703125"},
        {0x1.0p-11, "0.00048828125"},
        {0x1.0p-15, "3.0517578125e-05"},
        {0x1.0p-17, "7.62939453125e-06"},
        {0x1.2p+2, "4.5"},
        {0x1.93p+6, "100.75"},
        {0x1.2d687ep+20, "1234567.875"},
        {0x1.0p-4, "0.0625"},
        {0x1.0p+49, "562949953421312.0"},
        /* declined */
        {0x1.c6bf52634p+49, ""},          /* 1e15: 16 digits */
        {0x1.0p+50, ""},                  /* 1125899906842624.0 */
        {0x1.0p+52, ""},
        {0x1.0p+60, ""},
        {0x1.1c37937e08p+53, ""},         /* 1e16 */
        {0x1.999999999999ap-4, ""},       /* 0.1 */
        {0x1.5555555555555p-2, ""},       /* 1/3 */
        {0x1.f75104d551d69p-17, ""},      /* 1.5e-05 */
        {0x1.0p-22, ""},                  /* 2**-22: 16 digits */
        {-0x1.0000264p+64, ""},           /* m << e past 64 bits */
        {0x1.7e43c8800759cp+996, ""},     /* 1e300 */
        {0x0.0000000000001p-1022, ""},    /* 5e-324 */
        {INFINITY, ""},
        {-INFINITY, ""},
        {NAN, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char got[RC_FLOAT_REPR_MAX];
        memset(got, 'x', sizeof got);
        size_t n = rc_float_repr(cases[i].x, got);
        if (!*cases[i].want) {
            assert_int_equal(n, 0);
            continue;
        }
        assert_string_equal(got, cases[i].want);
        assert_int_equal(n, strlen(cases[i].want));
    }
}

/* Every value written reads back as itself, with at most 15 digits, and
 * is written for every m * 2**e whose exact decimal has at most 15. */
static void
test_float_reprs_read_back(void **state)
{
    (void)state;
    uint64_t rng = 7;
    for (int i = 0; i < 200000; i++) {
        rng = rng * 6364136223846793005u + 1442695040888963407u;
        int bitsm = 1 + (int)((rng >> 33) % 50), e = (int)((rng >> 40) % 90) - 45;
        uint64_t m = (rng >> 3) & ((UINT64_C(1) << bitsm) - 1);
        double x = ldexp((double)(m | 1), e) * ((rng >> 60) & 1 ? -1 : 1);
        char got[RC_FLOAT_REPR_MAX];
        size_t n = rc_float_repr(x, got);
        if (!n) {
            continue;
        }
        assert_int_equal(n, strlen(got));
        assert_true(strtod(got, NULL) == x);
        size_t digits = 0;
        const char *mant_end = strchr(got, 'e') ? strchr(got, 'e') : got + n;
        int leading = 1;
        for (const char *c = got; c < mant_end; c++) {
            if (*c >= '1' && *c <= '9') {
                leading = 0;
            }
            digits += *c >= '0' && *c <= '9' && !leading;
        }
        assert_true(digits <= 16); /* 15, and an integer's ".0" */
    }
    /* The integers below 10**15 and the halves, quarters... of small ones. */
    for (int64_t v = -1000; v <= 1000; v++) {
        for (int k = 0; k <= 10; k++) {
            double x = ldexp((double)v, -k);
            char got[RC_FLOAT_REPR_MAX], want[64];
            assert_true(rc_float_repr(x, got) > 0);
            assert_true(strtod(got, NULL) == x);
            snprintf(want, sizeof want, "%.17g", x);
            assert_true(strtod(want, NULL) == x);
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
        cmocka_unit_test(test_float_reprs_are_cpythons),
        cmocka_unit_test(test_float_reprs_read_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
