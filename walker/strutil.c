/* UTF-8 validation and repair, and a growing byte buffer.  Graphviz warns on
 * stderr about invalid UTF-8 and Python refuses to decode it, so every name
 * that comes from C (tp_name) or from a repr goes through here first. */
#include <stdint.h>
#include <string.h>

#include "refchain/alloc.h"
#include "refchain/strutil.h"

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if it is invalid,
 * a surrogate, or NUL. */
static size_t
seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c == 0) {
        return 0;
    }
    if (c < 0x80) {
        return 1;
    }
    size_t len;
    uint32_t cp, min;
    if ((c & 0xE0) == 0xC0) {
        len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len > n) {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0;
    }
    return len;
}

int
rc_utf8_is_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t k = seq_len(p + i, n - i);
        if (!k) {
            return 0;
        }
        i += k;
    }
    return 1;
}

char *
rc_utf8_valid_dup(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    if (n > (SIZE_MAX - 1) / 3) {
        return NULL;
    }
    char *out = rc_malloc(3 * n + 1);
    if (!out) {
        return NULL;
    }
    size_t i = 0, o = 0;
    while (i < n) {
        size_t k = seq_len(p + i, n - i);
        if (k) {
            for (size_t j = 0; j < k; j++) {
                out[o++] = (char)p[i + j];
            }
            i += k;
        } else {
            out[o++] = (char)0xEF, out[o++] = (char)0xBF, out[o++] = (char)0xBD;
            i++;
        }
    }
    out[o] = '\0';
    char *shrunk = rc_realloc(out, o + 1);
    return shrunk ? shrunk : out;
}

size_t
rc_decimal(char *buf, long long v)
{
    char tmp[RC_DECIMAL_MAX];
    size_t n = 0, len = 0;
    /* The magnitude as unsigned, so that LLONG_MIN negates without overflow. */
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) {
        buf[len++] = '-';
    }
    while (n) {
        buf[len++] = tmp[--n];
    }
    buf[len] = '\0';
    return len;
}

size_t
rc_float_repr(double x, char *buf)
{
    static const uint64_t pow5[] = { /* 5**k */
        1, 5, 25, 125, 625, 3125, 15625, 78125, 390625, 1953125, 9765625, 48828125,
        244140625, 1220703125, 6103515625, 30517578125, 152587890625, 762939453125,
        3814697265625, 19073486328125, 95367431640625, 476837158203125};
    const uint64_t limit = UINT64_C(1000000000000000); /* 10**15: at most 15 digits */
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    int neg = (int)(bits >> 63), bexp = (int)((bits >> 52) & 0x7FF);
    uint64_t frac = bits & ((UINT64_C(1) << 52) - 1);
    char *p = buf;
    if (neg) {
        *p++ = '-';
    }
    if (bexp == 0 && frac == 0) {
        memcpy(p, "0.0", 4);
        return (size_t)(p - buf) + 3;
    }
    if (bexp == 0 || bexp == 0x7FF) {
        return 0; /* subnormal, inf, nan */
    }
    /* x = m * 2**e, m odd. */
    uint64_t m = frac | (UINT64_C(1) << 52);
    int e = bexp - 1075, tz = __builtin_ctzll(m);
    m >>= tz;
    e += tz;
    /* x = digits * 10**-k: m << e, or m * 5**k / 10**k for k = -e. */
    uint64_t digits;
    int k = 0;
    if (e >= 0) {
        if (e >= 50 || (m >> (50 - e)) != 0 || (m << e) >= limit) { /* 10**15 < 2**50 */
            return 0;
        }
        digits = m << e;
    } else {
        k = -e;
        if (k >= (int)(sizeof pow5 / sizeof *pow5) || m > (limit - 1) / pow5[k]) {
            return 0;
        }
        digits = m * pow5[k];
    }
    char d[20];
    int len = 0;
    for (uint64_t u = digits; u; u /= 10) {
        d[len++] = (char)('0' + u % 10); /* reversed */
    }
    int decpt = len - k; /* digits before the point */
    int first = 0;       /* trailing zeros dropped (an integer's) */
    while (d[first] == '0') {
        first++;
    }
    int nd = len - first; /* significant digits, d[len - 1] down to d[first] */
    if (decpt <= -4 || decpt > 16) {
        /* d.ddde-XX: CPython's "%+.02d" exponent. */
        *p++ = d[len - 1];
        if (nd > 1) {
            *p++ = '.';
            for (int i = len - 2; i >= first; i--) {
                *p++ = d[i];
            }
        }
        int ex = decpt - 1;
        *p++ = 'e';
        *p++ = ex < 0 ? '-' : '+';
        ex = ex < 0 ? -ex : ex;
        if (ex >= 100) {
            *p++ = (char)('0' + ex / 100);
        }
        *p++ = (char)('0' + ex / 10 % 10);
        *p++ = (char)('0' + ex % 10);
    } else if (decpt <= 0) {
        *p++ = '0';
        *p++ = '.';
        for (int i = decpt; i < 0; i++) {
            *p++ = '0';
        }
        for (int i = len - 1; i >= first; i--) {
            *p++ = d[i];
        }
    } else {
        /* The digits, the point after decpt of them (zeros past the
         * significant ones), and ".0" for an integer. */
        for (int i = 0; i < decpt || i < nd; i++) {
            if (i == decpt) {
                *p++ = '.';
            }
            *p++ = i < nd ? d[len - 1 - i] : '0';
        }
        if (nd <= decpt) {
            *p++ = '.';
            *p++ = '0';
        }
    }
    *p = '\0';
    return (size_t)(p - buf);
}

void
rc_buf_put(rc_buf *b, const char *s, size_t n)
{
    if (b->failed) {
        return;
    }
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1) {
            cap *= 2;
        }
        char *p = rc_realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void
rc_buf_puts(rc_buf *b, const char *s)
{
    rc_buf_put(b, s, strlen(s));
}
