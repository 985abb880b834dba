/* Small string helpers shared by walker/ and render/. */
#ifndef REFCHAIN_STRUTIL_H
#define REFCHAIN_STRUTIL_H

#include <stddef.h>

/* A NUL-terminated copy of s[0..n) that is valid UTF-8: each invalid byte,
 * surrogate code point or NUL becomes U+FFFD.  rc_free() it.  NULL on ENOMEM. */
char *rc_utf8_valid_dup(const char *s, size_t n);

/* Code point c (at most 0x10FFFF) as UTF-8 at out, which has room for 4
 * bytes; returns how many it wrote.  A surrogate is written as it is: the
 * callers replace or escape those first. */
static inline size_t
rc_utf8_put(unsigned long c, char *out)
{
    unsigned char *o = (unsigned char *)out;
    if (c < 0x80) {
        o[0] = (unsigned char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (unsigned char)(0xC0 | (c >> 6));
        o[1] = (unsigned char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (c >> 12));
        o[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (c >> 18));
    o[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (c & 0x3F));
    return 4;
}

/* Whether s[0..n) is valid UTF-8 without NUL bytes or surrogates. */
int rc_utf8_is_valid(const char *s, size_t n);

/* Write v in decimal to buf (at least RC_DECIMAL_MAX bytes), NUL-terminated,
 * as printf's "%lld" would; returns its length.  No locale, no stdio. */
#define RC_DECIMAL_MAX 21
size_t rc_decimal(char *buf, long long v);

/* repr(x) of a double, as CPython writes it (its shortest digits that read
 * back as x, in fixed notation for 1e-4 <= |x| < 1e16 with ".0" after an
 * integer, else as "1.5e-07"), for the values whose exact decimal has at
 * most 15 significant digits: 0.5, -12345.25, 1000.0, 2**-20...  Those
 * digits are the shortest (any two decimals of 15 digits are distinct
 * doubles), so no search is needed.  Writes a NUL-terminated string to buf
 * (at least RC_FLOAT_REPR_MAX bytes) and returns its length, or returns 0
 * for any other double (0.1, 1/3, 1e16, inf, nan, subnormals): ask CPython. */
#define RC_FLOAT_REPR_MAX 32
size_t rc_float_repr(double x, char *buf);

/* A growing NUL-terminated byte buffer; {0} is an empty one.  After an
 * allocation failure `failed` is set and nothing more is added; the owner
 * rc_free()s p either way. */
typedef struct rc_buf {
    char *p;
    size_t n, cap;
    int failed;
} rc_buf;

/* Append s[0..n) (rc_buf_puts: the C string s). */
void rc_buf_put(rc_buf *b, const char *s, size_t n);
void rc_buf_puts(rc_buf *b, const char *s);

#endif
