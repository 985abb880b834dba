/* Small string helpers shared by walker/ and render/. */
#ifndef REFCHAIN_STRUTIL_H
#define REFCHAIN_STRUTIL_H

#include <stddef.h>

/* A NUL-terminated copy of s[0..n) that is valid UTF-8: each invalid byte,
 * surrogate code point or NUL becomes U+FFFD.  rc_free() it.  NULL on ENOMEM. */
char *rc_utf8_valid_dup(const char *s, size_t n);

/* Whether s[0..n) is valid UTF-8 without NUL bytes or surrogates. */
int rc_utf8_is_valid(const char *s, size_t n);

#endif
