/* The text Graphviz is handed: repaired, escaped and cut.
 *
 * Graphviz reads a plain label as a little language: "\n", "\l" and "\r"
 * break lines, "\N" and "\G" expand to names, and "&...;" is an HTML
 * entity ("&#1;" would put a control character into SVG, which no XML
 * parser accepts).  Invalid UTF-8 makes it print to stderr.  So every piece
 * of text is first made valid UTF-8, then each backslash is doubled, each
 * '&' becomes "&amp;", each newline the "\n" escape, and each character XML
 * 1.0 forbids (C0 controls but tab, U+FFFE, U+FFFF) becomes U+FFFD.  A tab
 * becomes a space. */
#include <stdint.h>
#include <string.h>

#include "refchain/alloc.h"
#include "refchain/render.h"
#include "refchain/strutil.h"

static const char REPLACEMENT[] = "\xEF\xBF\xBD"; /* U+FFFD */
static const char ELLIPSIS[] = "\xE2\x80\xA6";    /* U+2026 */

/* The widest expansion of one input byte: '&' -> "&amp;". */
#define WIDEST 5

char *
rc_render_escape(const char *s, size_t n, size_t max_bytes, size_t max_lines)
{
    int cut = 0;
    if (!s) {
        s = "";
        n = 0;
    }
    if (n > max_bytes) {
        /* Back off to a character boundary so the cut adds no U+FFFD. */
        n = max_bytes;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) {
            n--;
        }
        cut = 1;
    }
    char *valid = rc_utf8_valid_dup(s, n);
    if (!valid) {
        return NULL;
    }
    size_t len = strlen(valid); /* NULs became U+FFFD: the copy has none */
    if (len > (SIZE_MAX - sizeof ELLIPSIS - 1) / WIDEST) {
        rc_free(valid);
        return NULL;
    }
    char *out = rc_malloc(len * WIDEST + sizeof ELLIPSIS + 1);
    if (!out) {
        rc_free(valid);
        return NULL;
    }
    const unsigned char *p = (const unsigned char *)valid;
    size_t o = 0, lines = 1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = p[i];
        if (c == '\n') {
            if (max_lines && lines >= max_lines) {
                cut = 1;
                break;
            }
            lines++;
            out[o++] = '\\';
            out[o++] = 'n';
        } else if (c == '\\') {
            out[o++] = '\\';
            out[o++] = '\\';
        } else if (c == '&') {
            memcpy(out + o, "&amp;", 5);
            o += 5;
        } else if (c == '\t') {
            out[o++] = ' ';
        } else if (c < 0x20) {
            memcpy(out + o, REPLACEMENT, 3);
            o += 3;
        } else if (c == 0xEF && i + 2 < len && p[i + 1] == 0xBF &&
                   (p[i + 2] == 0xBE || p[i + 2] == 0xBF)) {
            memcpy(out + o, REPLACEMENT, 3); /* U+FFFE, U+FFFF */
            o += 3;
            i += 2;
        } else {
            out[o++] = (char)c;
        }
    }
    if (cut) {
        memcpy(out + o, ELLIPSIS, sizeof ELLIPSIS - 1);
        o += sizeof ELLIPSIS - 1;
    }
    out[o] = '\0';
    rc_free(valid);
    return out;
}
