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
