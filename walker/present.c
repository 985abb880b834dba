/* Present: relations as plain data (see refchain/present.h).
 *
 * The encoded form.  A relation is one string whose first byte says its
 * form; the short forms cover what most references are, and derive the
 * rest of the relation from one string:
 *
 *   3           RC_REL_INDEX 3, `[3]`            (digits, no leading zero)
 *   #-1         RC_REL_FALLBACK, `<referent #-1>`
 *   'name       RC_REL_KEY of the str key 'name': attr `name`, repr
 *               `'name'`, text `['name']`, RC_RELF_STR_KEY
 *   k5          RC_REL_KEY of another key: repr `5`, text and attr `[5]`
 *   .name       RC_REL_ATTR `.name`
 *   n N         RC_REL_NAMESPACE RC_NS_ITEM / RC_NS_ATTR, `.__dict__`
 *   m           RC_REL_TEXT `member`
 *   K           RC_REL_TEXT `key of dict`, RC_RELF_DICT_KEY
 *   c G R P     RC_REL_CELL `.cell_contents`, RC_REL_GLOBALS `.f_globals`,
 *               RC_REL_LRU_CACHE `lru_cache`, RC_REL_LOCAL_DICTS
 *               `per-thread dicts`
 *   L'x'        RC_REL_LOCAL, repr `'x'`, text `local 'x'`
 *   C'x'        RC_REL_CELL_LOCAL, repr `'x'`, text `cell of local 'x'`
 *   Ttext       RC_REL_TEXT `text`
 *
 * and the general form spells every field:
 *
 *   ~KIND,FLAGS,NUMBER,S(text)S(attr)S(repr)S(thread)N_NAMES,S(name)...
 *
 * the integers in decimal (NUMBER may start with `-`), each string S as
 * `_` for none or LEN:BYTES.  A short form is written only when its
 * relation is exactly rel.  The decoder reads the bytes it is given and
 * nothing else: every length and count is checked against what is left,
 * every string must be UTF-8 without NUL, and the string must be used up. */
#include <limits.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include "refchain/alloc.h"
#include "refchain/present.h"
#include "refchain/strutil.h"

/* A string field longer than this is cut when a relation does not fit. */
#define CUT_BYTES 4096u

void
rc_relation_clear(rc_relation *rel)
{
    if (!rel) {
        return;
    }
    if (!rel->packed) {
        rc_free(rel->attr);
        rc_free(rel->repr);
    }
    rc_free(rel->text);
    rc_free(rel->thread);
    for (size_t i = 0; rel->names && i < rel->n_names; i++) {
        rc_free(rel->names[i]);
    }
    rc_free(rel->names);
    memset(rel, 0, sizeof *rel);
}

static int
str_eq(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

int
rc_relation_equal(const rc_relation *a, const rc_relation *b)
{
    if (a->kind != b->kind || a->flags != b->flags || a->number != b->number ||
        a->n_names != b->n_names || !str_eq(a->text, b->text) || !str_eq(a->attr, b->attr) ||
        !str_eq(a->repr, b->repr) || !str_eq(a->thread, b->thread)) {
        return 0;
    }
    for (size_t i = 0; i < a->n_names; i++) {
        if (!str_eq(a->names[i], b->names[i])) {
            return 0;
        }
    }
    return 1;
}

int
rc_relation_positional(const rc_relation *rel)
{
    return rel->kind == RC_REL_FALLBACK || rel->kind == RC_REL_INDEX;
}

static void
put_long(rc_buf *b, long v)
{
    char tmp[RC_DECIMAL_MAX];
    rc_buf_put(b, tmp, rc_decimal(tmp, v));
}

/* ---- encode ------------------------------------------------------------------ */

static int
is_canonical_index(const rc_relation *r)
{
    char tmp[RC_DECIMAL_MAX];
    if (r->number < 0 || r->text[0] != '[') {
        return 0;
    }
    size_t n = rc_decimal(tmp, r->number);
    return strncmp(r->text + 1, tmp, n) == 0 && strcmp(r->text + 1 + n, "]") == 0;
}

static int
only_text(const rc_relation *r)
{
    return !r->attr && !r->repr && !r->thread && !r->names && !r->n_names;
}

/* Whether text == prefix + s + suffix. */
static int
is_wrapped(const char *text, const char *prefix, const char *s, const char *suffix)
{
    size_t p = strlen(prefix), n = strlen(s), q = strlen(suffix);
    return strlen(text) == p + n + q && memcmp(text, prefix, p) == 0 &&
           memcmp(text + p, s, n) == 0 && memcmp(text + p + n, suffix, q) == 0;
}

/* The short form of r into b, or 0 when r has none. */
static int
encode_short(const rc_relation *r, rc_buf *b)
{
    static const struct {
        rc_rel_kind kind;
        unsigned flags;
        long number;
        const char *text, *code;
    } fixed[] = {
        {RC_REL_NAMESPACE, 0, RC_NS_ITEM, ".__dict__", "n"},
        {RC_REL_NAMESPACE, 0, RC_NS_ATTR, ".__dict__", "N"},
        {RC_REL_TEXT, 0, 0, "member", "m"},
        {RC_REL_TEXT, RC_RELF_DICT_KEY, 0, "key of dict", "K"},
        {RC_REL_CELL, 0, 0, ".cell_contents", "c"},
        {RC_REL_GLOBALS, 0, 0, ".f_globals", "G"},
        {RC_REL_LRU_CACHE, 0, 0, "lru_cache", "R"},
        {RC_REL_LOCAL_DICTS, 0, 0, "per-thread dicts", "P"},
    };
    if (r->kind == RC_REL_KEY && r->flags == RC_RELF_STR_KEY && r->number == 0 && r->attr &&
        r->repr && !r->thread && !r->names && !r->n_names && is_wrapped(r->repr, "'", r->attr, "'") &&
        is_wrapped(r->text, "[", r->repr, "]")) {
        rc_buf_puts(b, "'");
        rc_buf_puts(b, r->attr);
        return 1;
    }
    if (r->kind == RC_REL_KEY && r->flags == 0 && r->number == 0 && r->attr && r->repr &&
        r->repr[0] && !r->thread && !r->names && !r->n_names && is_wrapped(r->text, "[", r->repr, "]") &&
        strcmp(r->attr, r->text) == 0) {
        rc_buf_puts(b, "k");
        rc_buf_puts(b, r->repr);
        return 1;
    }
    if ((r->kind == RC_REL_LOCAL || r->kind == RC_REL_CELL_LOCAL) && r->flags == 0 &&
        r->number == 0 && r->repr && r->repr[0] && !r->attr && !r->thread && !r->names && !r->n_names &&
        is_wrapped(r->text, r->kind == RC_REL_LOCAL ? "local " : "cell of local ", r->repr, "")) {
        rc_buf_puts(b, r->kind == RC_REL_LOCAL ? "L" : "C");
        rc_buf_puts(b, r->repr);
        return 1;
    }
    if (!only_text(r)) {
        return 0;
    }
    if (r->kind == RC_REL_INDEX && r->flags == 0 && is_canonical_index(r)) {
        put_long(b, r->number);
        return 1;
    }
    if (r->kind == RC_REL_FALLBACK && r->flags == 0 && r->number == 0) {
        char tmp[48];
        long edge;
        char end;
        /* "<referent #%ld>" exactly: re-print what was read. */
        if (sscanf(r->text, "<referent #%ld%c", &edge, &end) == 2 && end == '>') {
            snprintf(tmp, sizeof tmp, "<referent #%ld>", edge);
            if (strcmp(tmp, r->text) == 0) {
                rc_buf_puts(b, "#");
                put_long(b, edge);
                return 1;
            }
        }
        return 0;
    }
    if (r->kind == RC_REL_ATTR && r->flags == 0 && r->number == 0 && r->text[0] == '.') {
        rc_buf_puts(b, r->text);
        return 1;
    }
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
        if (r->kind == fixed[i].kind && r->flags == fixed[i].flags &&
            r->number == fixed[i].number && strcmp(r->text, fixed[i].text) == 0) {
            rc_buf_puts(b, fixed[i].code);
            return 1;
        }
    }
    if (r->kind == RC_REL_TEXT && r->flags == 0 && r->number == 0) {
        rc_buf_puts(b, "T");
        rc_buf_puts(b, r->text);
        return 1;
    }
    return 0;
}

/* The length of s cut to at most max bytes at a UTF-8 boundary. */
static size_t
utf8_cut(const char *s, size_t n, size_t max)
{
    if (n <= max) {
        return n;
    }
    size_t k = max;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) {
        k--;
    }
    return k;
}

/* One string field: `_`, or LEN:BYTES, cut to `cut` bytes (ending `...`)
 * when it is longer (cut 0: never). */
static void
put_field(rc_buf *b, const char *s, size_t cut)
{
    if (!s) {
        rc_buf_puts(b, "_");
        return;
    }
    size_t n = strlen(s);
    if (cut && n > cut) {
        size_t k = utf8_cut(s, n, cut - 3);
        put_long(b, (long)(k + 3));
        rc_buf_puts(b, ":");
        rc_buf_put(b, s, k);
        rc_buf_puts(b, "...");
        return;
    }
    put_long(b, (long)n);
    rc_buf_puts(b, ":");
    rc_buf_put(b, s, n);
}

static size_t
field_size(const char *s, size_t cut)
{
    size_t n = s ? strlen(s) : 0;
    n = cut && n > cut ? cut : n;
    return s ? n + 22 : 1;
}

static void
encode_general(const rc_relation *r, rc_buf *b, size_t cut)
{
    rc_buf_puts(b, "~");
    put_long(b, (long)r->kind);
    rc_buf_puts(b, ",");
    put_long(b, (long)r->flags);
    rc_buf_puts(b, ",");
    put_long(b, r->number);
    rc_buf_puts(b, ",");
    put_field(b, r->text, cut);
    put_field(b, r->attr, cut);
    put_field(b, r->repr, cut);
    put_field(b, r->thread, cut);
    /* Names that fit (each counted at its largest) when cutting. */
    size_t used = b->n + 22, n_names = 0;
    for (; n_names < r->n_names; n_names++) {
        size_t more = field_size(r->names[n_names], cut);
        if (cut && used + more > RC_RELATION_ENCODED_MAX) {
            break;
        }
        used += more;
    }
    put_long(b, (long)n_names);
    rc_buf_puts(b, ",");
    for (size_t i = 0; i < n_names; i++) {
        put_field(b, r->names[i], cut);
    }
}

rc_status
rc_relation_encode(const rc_relation *rel, char **bufp, size_t *cap, size_t *len)
{
    if (!rel->text) {
        return RC_EINVAL;
    }
    rc_buf b = {*bufp, 0, *cap, 0};
    if (!encode_short(rel, &b) || b.n > RC_RELATION_ENCODED_MAX) {
        b.n = 0;
        b.failed = 0;
        encode_general(rel, &b, 0);
        if (!b.failed && b.n > RC_RELATION_ENCODED_MAX) {
            b.n = 0;
            encode_general(rel, &b, CUT_BYTES);
        }
    }
    *bufp = b.p;
    *cap = b.cap;
    if (b.failed) {
        return RC_ENOMEM;
    }
    *len = b.n;
    return RC_OK;
}

/* ---- decode ------------------------------------------------------------------ */

typedef struct reader {
    const char *s;
    size_t n, at;
} reader;

/* A decimal (optionally negative) up to LONG_MAX in magnitude, then `end`.
 * 0 on anything else. */
static int
read_long(reader *r, int allow_sign, char end, long *v)
{
    int neg = 0;
    unsigned long acc = 0;
    size_t digits = 0;
    if (allow_sign && r->at < r->n && r->s[r->at] == '-') {
        neg = 1;
        r->at++;
    }
    while (r->at < r->n && r->s[r->at] >= '0' && r->s[r->at] <= '9') {
        unsigned d = (unsigned)(r->s[r->at] - '0');
        if (acc > ((unsigned long)LONG_MAX - d) / 10) {
            return 0;
        }
        acc = acc * 10 + d;
        digits++;
        r->at++;
    }
    if (!digits || (end && (r->at >= r->n || r->s[r->at] != end))) {
        return 0;
    }
    r->at += end != 0;
    *v = neg ? -(long)acc : (long)acc;
    return 1;
}

/* A copy of s[0..n) (UTF-8 without NUL) or NULL with *err: 1 invalid, 2 ENOMEM. */
static char *
dup_valid(const char *s, size_t n, int *err)
{
    if (!rc_utf8_is_valid(s, n)) {
        *err = 1;
        return NULL;
    }
    char *d = rc_strndup(s, n);
    *err = d ? 0 : 2;
    return d;
}

/* One string field into *out (NULL for `_`): 0 ok, 1 invalid, 2 ENOMEM. */
static int
read_field(reader *r, char **out)
{
    *out = NULL;
    if (r->at < r->n && r->s[r->at] == '_') {
        r->at++;
        return 0;
    }
    long len;
    if (!read_long(r, 0, ':', &len) || (size_t)len > r->n - r->at) {
        return 1;
    }
    int err;
    *out = dup_valid(r->s + r->at, (size_t)len, &err);
    r->at += (size_t)len;
    return err;
}

static int
concat3(char **out, const char *a, const char *s, size_t n, const char *c)
{
    size_t la = strlen(a), lc = strlen(c);
    char *p = rc_malloc(la + n + lc + 1);
    if (!p) {
        return 2;
    }
    memcpy(p, a, la);
    memcpy(p + la, s, n);
    memcpy(p + la + n, c, lc + 1);
    *out = p;
    return 0;
}

/* The general form after its `~`: 0 ok, 1 invalid, 2 ENOMEM. */
static int
decode_general(reader *r, rc_relation *out)
{
    long kind, flags, number, n_names;
    if (!read_long(r, 0, ',', &kind) || kind >= RC_REL_N_KINDS || !read_long(r, 0, ',', &flags) ||
        (flags & ~(long)RC_RELF_ALL) || !read_long(r, 1, ',', &number)) {
        return 1;
    }
    out->kind = (rc_rel_kind)kind;
    out->flags = (unsigned)flags;
    out->number = number;
    int err = read_field(r, &out->text);
    err = err ? err : read_field(r, &out->attr);
    err = err ? err : read_field(r, &out->repr);
    err = err ? err : read_field(r, &out->thread);
    if (err) {
        return err;
    }
    if (!out->text || !read_long(r, 0, ',', &n_names) || (size_t)n_names > r->n - r->at) {
        return 1; /* each name takes at least one byte */
    }
    if (n_names) {
        out->names = rc_calloc((size_t)n_names, sizeof *out->names);
        if (!out->names) {
            return 2;
        }
        out->n_names = (size_t)n_names;
    }
    for (size_t i = 0; i < out->n_names; i++) {
        err = read_field(r, &out->names[i]);
        if (err) {
            return err;
        }
    }
    return r->at == r->n ? 0 : 1;
}

/* A short form: 0 ok, 1 invalid, 2 ENOMEM. */
static int
decode_short(const char *s, size_t n, rc_relation *out)
{
    static const struct {
        char code;
        rc_rel_kind kind;
        unsigned flags;
        long number;
        const char *text;
    } fixed[] = {
        {'n', RC_REL_NAMESPACE, 0, RC_NS_ITEM, ".__dict__"},
        {'N', RC_REL_NAMESPACE, 0, RC_NS_ATTR, ".__dict__"},
        {'m', RC_REL_TEXT, 0, 0, "member"},
        {'K', RC_REL_TEXT, RC_RELF_DICT_KEY, 0, "key of dict"},
        {'c', RC_REL_CELL, 0, 0, ".cell_contents"},
        {'G', RC_REL_GLOBALS, 0, 0, ".f_globals"},
        {'R', RC_REL_LRU_CACHE, 0, 0, "lru_cache"},
        {'P', RC_REL_LOCAL_DICTS, 0, 0, "per-thread dicts"},
    };
    const char *rest = s + 1;
    size_t nrest = n - 1;
    char tmp[48];
    reader r = {s, n, 0};
    long v;
    int err = 0;
    switch (s[0]) {
    case '\'':
        out->kind = RC_REL_KEY;
        out->flags = RC_RELF_STR_KEY;
        err = concat3(&out->attr, "", rest, nrest, "");
        err = err ? err : concat3(&out->repr, "'", rest, nrest, "'");
        return err ? err : concat3(&out->text, "['", rest, nrest, "']");
    case 'k':
        out->kind = RC_REL_KEY;
        err = nrest ? concat3(&out->repr, "", rest, nrest, "") : 1;
        err = err ? err : concat3(&out->text, "[", rest, nrest, "]");
        return err ? err : concat3(&out->attr, "[", rest, nrest, "]");
    case 'L':
    case 'C':
        out->kind = s[0] == 'L' ? RC_REL_LOCAL : RC_REL_CELL_LOCAL;
        err = nrest ? concat3(&out->repr, "", rest, nrest, "") : 1;
        return err ? err
                   : concat3(&out->text, s[0] == 'L' ? "local " : "cell of local ", rest, nrest, "");
    case '.':
        out->kind = RC_REL_ATTR;
        return concat3(&out->text, "", s, n, "");
    case 'T':
        out->kind = RC_REL_TEXT;
        return concat3(&out->text, "", rest, nrest, "");
    case '#':
        r.at = 1;
        if (!read_long(&r, 1, 0, &v) || r.at != n) {
            return 1;
        }
        out->kind = RC_REL_FALLBACK;
        snprintf(tmp, sizeof tmp, "<referent #%ld>", v);
        return concat3(&out->text, "", tmp, strlen(tmp), "");
    default:
        break;
    }
    if (s[0] >= '0' && s[0] <= '9') {
        if ((s[0] == '0' && n > 1) || !read_long(&r, 0, 0, &v) || r.at != n) {
            return 1;
        }
        out->kind = RC_REL_INDEX;
        out->number = v;
        snprintf(tmp, sizeof tmp, "[%ld]", v);
        return concat3(&out->text, "", tmp, strlen(tmp), "");
    }
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
        if (s[0] == fixed[i].code) {
            if (n != 1) {
                return 1;
            }
            out->kind = fixed[i].kind;
            out->flags = fixed[i].flags;
            out->number = fixed[i].number;
            return concat3(&out->text, "", fixed[i].text, strlen(fixed[i].text), "");
        }
    }
    return 1;
}

rc_status
rc_relation_decode(const char *s, size_t n, rc_relation *out)
{
    memset(out, 0, sizeof *out);
    if (!s || n == 0 || n > RC_RELATION_ENCODED_MAX || !rc_utf8_is_valid(s, n)) {
        return RC_EINVAL;
    }
    int err;
    if (s[0] == '~') {
        reader r = {s, n, 1};
        err = decode_general(&r, out);
    } else {
        err = decode_short(s, n, out);
    }
    if (err) {
        rc_relation_clear(out);
        return err == 2 ? RC_ENOMEM : RC_EINVAL;
    }
    return RC_OK;
}

/* ---- present ----------------------------------------------------------------- */

/* The pure-Python asyncio futures: their attributes read as the C classes'
 * fields do. */
static const char *const py_future_labels[][2] = {
    {"._result", ".result()"},
    {"._exception", ".exception()"},
    {"._coro", ".get_coro()"},
    {"._loop", ".get_loop()"},
    {"._callbacks", "done callbacks"},
    {"._context", "context"},
    {"._name", ".get_name()"},
};

static const char *
py_future_label(const char *label)
{
    for (size_t i = 0; i < sizeof py_future_labels / sizeof *py_future_labels; i++) {
        if (strcmp(label, py_future_labels[i][0]) == 0) {
            return py_future_labels[i][1];
        }
    }
    return NULL;
}

/* The label b holds, or NULL with *err on ENOMEM. */
static char *
take(rc_buf *b, int *err)
{
    if (b->failed) {
        rc_free(b->p);
        *err = 1;
        return NULL;
    }
    if (!b->p) {
        rc_buf_puts(b, "");
        return take(b, err);
    }
    return b->p;
}

/* A namespace (style RC_NS_ATTR: `.name`, `[repr]` for another key;
 * RC_NS_ITEM: `[repr]`; with a prefix: prefix + repr) followed by the
 * reference `key`; NULL when key is no dict value. */
static char *
after_namespace(const rc_relation *key, long style, const char *prefix, int *err)
{
    if (key->kind != RC_REL_KEY || !key->repr || !key->attr) {
        return NULL;
    }
    rc_buf b = {0};
    if (prefix) {
        rc_buf_puts(&b, prefix);
        rc_buf_puts(&b, key->repr);
    } else if (style == RC_NS_ATTR && (key->flags & RC_RELF_STR_KEY)) {
        rc_buf_puts(&b, ".");
        rc_buf_puts(&b, key->attr);
    } else {
        rc_buf_puts(&b, "[");
        rc_buf_puts(&b, key->repr);
        rc_buf_puts(&b, "]");
    }
    return take(&b, err);
}

/* local -> dict of dicts (-> a thread's dict (-> a value)). */
static char *
local_label(const rc_relation *rels, size_t i, size_t n_rels, size_t *hops, int *err)
{
    const rc_relation *key = i + 1 < n_rels ? &rels[i + 1] : NULL;
    rc_buf b = {0};
    *hops = 1;
    if (!key || key->kind != RC_REL_KEY) {
        rc_buf_puts(&b, "per-thread dicts");
        return take(&b, err);
    }
    const rc_relation *attr = i + 2 < n_rels && rels[i + 2].kind == RC_REL_KEY && rels[i + 2].attr &&
                                      rels[i + 2].repr
                                  ? &rels[i + 2]
                                  : NULL;
    if (attr && (attr->flags & RC_RELF_STR_KEY)) {
        rc_buf_puts(&b, ".");
        rc_buf_puts(&b, attr->attr);
    } else if (attr) {
        rc_buf_puts(&b, "[");
        rc_buf_puts(&b, attr->repr);
        rc_buf_puts(&b, "]");
    } else {
        rc_buf_puts(&b, ".__dict__");
    }
    if (key->thread) {
        rc_buf_puts(&b, " in ");
        rc_buf_puts(&b, key->thread);
    } else {
        rc_buf_puts(&b, " in a thread");
    }
    *hops = attr ? 3 : 2;
    return take(&b, err);
}

/* function -> __closure__ -> cell (-> contents); NULL when the next
 * reference is no item of the closure. */
static char *
closure_label(const rc_relation *rels, size_t i, size_t n_rels, size_t *hops, int *err)
{
    const rc_relation *item = &rels[i + 1], *fn = &rels[i];
    if (item->kind != RC_REL_INDEX || item->number < 0) {
        return NULL;
    }
    size_t idx = (size_t)item->number;
    int whole = i + 2 < n_rels && rels[i + 2].kind == RC_REL_CELL;
    rc_buf b = {0};
    rc_buf_puts(&b, whole ? "closure " : "closure cell ");
    if (fn->names && idx < fn->n_names && fn->names[idx]) {
        rc_buf_puts(&b, fn->names[idx]);
    } else {
        rc_buf_puts(&b, "'#");
        put_long(&b, item->number);
        rc_buf_puts(&b, "'");
    }
    *hops = whole ? 3 : 2;
    return take(&b, err);
}

/* The label of the step that starts at rels[i] and its hops; NULL with
 * *err on ENOMEM. */
static char *
present_step(const rc_relation *rels, size_t i, size_t n_rels, size_t *hops, int *err)
{
    const rc_relation *rel = &rels[i], *next = i + 1 < n_rels ? &rels[i + 1] : NULL;
    char *label = NULL;
    *hops = 1;
    *err = 0;
    switch (rel->kind) {
    case RC_REL_NAMESPACE:
        label = next ? after_namespace(next, rel->number, NULL, err) : NULL;
        break;
    case RC_REL_GLOBALS:
        label = next ? after_namespace(next, RC_NS_ITEM, "global ", err) : NULL;
        break;
    case RC_REL_LOCALS_DICT:
        label = next ? after_namespace(next, RC_NS_ITEM, "local ", err) : NULL;
        break;
    case RC_REL_LRU_CACHE:
        /* The wrapper's own cache dict: key -> result (unbounded caches). */
        if (next && next->kind == RC_REL_KEY) {
            label = rc_strndup(next->text, strlen(next->text));
            *err = label == NULL;
        } else if (next && (next->flags & RC_RELF_DICT_KEY)) {
            label = rc_strndup("cache key", 9);
            *err = label == NULL;
        }
        break;
    case RC_REL_LOCAL_DICTS:
        return local_label(rels, i, n_rels, hops, err);
    case RC_REL_CLOSURE:
        return next ? closure_label(rels, i, n_rels, hops, err) : NULL;
    case RC_REL_CELL_LOCAL:
        if (next && next->kind == RC_REL_CELL && rel->repr) {
            rc_buf b = {0};
            rc_buf_puts(&b, "local ");
            rc_buf_puts(&b, rel->repr);
            label = take(&b, err);
            *hops = label ? 2 : 1;
            return label;
        }
        break;
    default:
        break;
    }
    *hops = label ? 2 : 1;
    return label;
}

rc_status
rc_present(const rc_relation *rels, size_t n_rels, size_t limit, rc_label_step **steps,
           size_t *n_steps)
{
    rc_label_step *out = NULL;
    size_t count = 0, cap = 0;
    *steps = NULL;
    *n_steps = 0;
    for (size_t i = 0; i < n_rels && (!limit || count < limit);) {
        size_t hops;
        int err;
        char *label = present_step(rels, i, n_rels, &hops, &err);
        if (err) {
            goto nomem;
        }
        if (!label) {
            const char *text = rels[i].text ? rels[i].text : "";
            label = rc_strndup(text, strlen(text));
            hops = 1;
            if (!label) {
                goto nomem;
            }
        }
        const char *mapped = rels[i].flags & RC_RELF_PY_FUTURE ? py_future_label(label) : NULL;
        if (mapped) {
            char *s = rc_strndup(mapped, strlen(mapped));
            if (!s) {
                rc_free(label);
                goto nomem;
            }
            rc_free(label);
            label = s;
        }
        if (count == cap) {
            cap = cap ? 2 * cap : 16;
            rc_label_step *grown = rc_reallocarray(out, cap, sizeof *grown);
            if (!grown) {
                rc_free(label);
                goto nomem;
            }
            out = grown;
        }
        i += hops;
        out[count].end = i;
        out[count++].label = label;
    }
    *steps = out;
    *n_steps = count;
    return RC_OK;
nomem:
    rc_label_steps_free(out, count);
    return RC_ENOMEM;
}

void
rc_label_steps_free(rc_label_step *steps, size_t n)
{
    for (size_t i = 0; steps && i < n; i++) {
        rc_free(steps[i].label);
    }
    rc_free(steps);
}
