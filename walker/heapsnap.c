/* Export a snapshot as a Chrome DevTools .heapsnapshot (refchain/heapsnap.h;
 * the mapping is docs/heapsnapshot.md).
 *
 * V8's format is one JSON object: "snapshot" (meta data and counts), then
 * flat integer arrays "nodes" (NODE_FIELDS numbers a node) and "edges"
 * (3 a edge, each node's edges in node order), the allocation sites
 * ("trace_function_infos", "trace_tree"), and last "strings", which every
 * name refers to by index.  So the writer:
 *   1. builds the allocation-site tree from the snapshot's tracebacks (when
 *      it has them): one trie node per distinct call path;
 *   2. streams the header, nodes, edges and trace tables into a 64 KiB
 *      buffer written out as it fills, interning each name it uses
 *      (index = order of first use);
 *   3. writes the interned strings, then commits the file (snapfile.h).
 * Node 0 is a synthetic "(GC roots)" whose edges lead to the snapshot's
 * roots; snapshot node v is export node v + 1. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "refchain/alloc.h"
#include "refchain/heapsnap.h"
#include "refchain/present.h"
#include "refchain/strutil.h"
#include "snapfile.h"
#include "snapfmt.h"

#define BUF 65536

/* meta.node_fields, and the node and edge types in meta's order. */
#define NODE_FIELDS 6
enum {
    NT_HIDDEN,
    NT_ARRAY,
    NT_STRING,
    NT_OBJECT,
    NT_CODE,
    NT_CLOSURE,
    NT_REGEXP,
    NT_NUMBER,
    NT_NATIVE,
    NT_SYNTHETIC
};
enum { ET_CONTEXT, ET_ELEMENT, ET_PROPERTY, ET_INTERNAL, ET_HIDDEN, ET_SHORTCUT, ET_WEAK };

/* The ids V8 gives its synthetic nodes: the export's "(GC roots)" is 3. */
#define GC_ROOTS_ID 3u

static const char META[] =
    "{\"snapshot\":{\"meta\":{"
    "\"node_fields\":[\"type\",\"name\",\"id\",\"self_size\",\"edge_count\",\"trace_node_id\"],"
    "\"node_types\":[[\"hidden\",\"array\",\"string\",\"object\",\"code\",\"closure\",\"regexp\","
    "\"number\",\"native\",\"synthetic\",\"concatenated string\",\"sliced string\",\"symbol\","
    "\"bigint\",\"object shape\"],\"string\",\"number\",\"number\",\"number\",\"number\"],"
    "\"edge_fields\":[\"type\",\"name_or_index\",\"to_node\"],"
    "\"edge_types\":[[\"context\",\"element\",\"property\",\"internal\",\"hidden\",\"shortcut\","
    "\"weak\"],\"string_or_number\",\"node\"],"
    "\"trace_function_info_fields\":[\"function_id\",\"name\",\"script_name\",\"script_id\","
    "\"line\",\"column\"],"
    "\"trace_node_fields\":[\"id\",\"function_info_index\",\"count\",\"size\",\"children\"],"
    "\"sample_fields\":[\"timestamp_us\",\"last_assigned_id\"],"
    "\"location_fields\":[\"object_index\",\"script_id\",\"line\",\"column\"]},";

typedef struct str_slot {
    uint64_t hash;
    uint32_t id_plus_1; /* 0: empty */
} str_slot;

/* The allocation-site tree: node 0 is the root ("(root)", function 0);
 * a child of p for frame f has function f + 1.  Export trace node id =
 * index + 1. */
typedef struct trie {
    uint32_t *parent, *func, *child, *sibling; /* child/sibling: index + 1, 0 none */
    uint64_t *count, *size;
    size_t n, cap;
    uint32_t *slots; /* (parent, func) -> index + 1, open addressing */
    size_t slot_mask;
    uint32_t *leaf; /* per traceback: its trie node + 1, 0 for none */
} trie;

typedef struct exporter {
    const rc_snapshot *s;
    const rc_graph *g;
    const char *path;
    char *errbuf;
    size_t errlen;
    rc_snap_status st;
    snap_file file;
    char msg[256];

    char *buf;
    size_t len;

    /* Interned strings: string i is pool[off[i] .. off[i + 1]). */
    str_slot *slots;
    size_t slot_mask;
    size_t *off;
    size_t n_str, off_cap;
    char *pool;
    size_t pool_len, pool_cap;

    unsigned char *type_kind; /* per type: NT_* */
    uint32_t *type_name;      /* per type: string index + 1, 0 not yet */
    trie t;
} exporter;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void
fail(exporter *x, rc_snap_status st, const char *fmt, ...)
{
    if (x->st != RC_SNAP_OK) {
        return;
    }
    x->st = st;
    va_list ap;
    va_start(ap, fmt);
    snap_verror(x->errbuf, x->errlen, x->path, fmt, ap);
    va_end(ap);
}

static void
fail_nomem(exporter *x)
{
    fail(x, RC_SNAP_ENOMEM, "out of memory while exporting the heap snapshot");
}

static bool
file_ok(exporter *x, rc_snap_status st)
{
    if (st != RC_SNAP_OK) {
        fail(x, st, "%s", x->msg);
    }
    return st == RC_SNAP_OK;
}

/* ---- the mapping -------------------------------------------------------- */

/* The one place labels become DevTools edges (edit it when relate's labels
 * change): the edge type, and either its index (*name = NULL) or its name
 * (*name, *len).  `[7]` (a list or tuple index, or an int dict key) is an
 * element; `.attr`, `['key']` and other `[key]` are properties; any other
 * label is internal, named by itself; no label is hidden, numbered by its
 * position among the node's edges.  No label marks a weak reference:
 * tp_traverse does not report what a weak reference points to. */
static unsigned
edge_of_label(const char *label, size_t k, uint32_t *index, const char **name, size_t *len)
{
    *name = NULL;
    if (!label) {
        *index = (uint32_t)k;
        return ET_HIDDEN;
    }
    size_t n = strlen(label);
    if (n >= 3 && label[0] == '[' && label[n - 1] == ']') {
        size_t d = 1;
        uint32_t v = 0;
        while (d < n - 1 && d <= 9 && label[d] >= '0' && label[d] <= '9') {
            v = v * 10 + (uint32_t)(label[d++] - '0');
        }
        if (d == n - 1 && (n == 3 || label[1] != '0')) {
            *index = v;
            return ET_ELEMENT;
        }
        bool quoted = n >= 4 && (label[1] == '\'' || label[1] == '"') && label[n - 2] == label[1];
        *name = quoted ? label + 2 : label;
        *len = quoted ? n - 4 : n;
        return ET_PROPERTY;
    }
    *name = label[0] == '.' && n > 1 ? label + 1 : label;
    *len = label[0] == '.' && n > 1 ? n - 1 : n;
    return label[0] == '.' && n > 1 ? ET_PROPERTY : ET_INTERNAL;
}

/* A type's node type, from its name (builtins are bare) and flags. */
static unsigned char
kind_of_type(const rc_graph *g, uint32_t t)
{
    static const struct {
        const char *name;
        unsigned char kind;
    } by_name[] = {
        {"str", NT_STRING},     {"bytes", NT_STRING},
        {"int", NT_NUMBER},     {"float", NT_NUMBER},
        {"bool", NT_NUMBER},    {"complex", NT_NUMBER},
        {"function", NT_CLOSURE}, {"method", NT_CLOSURE},
        {"builtin_function_or_method", NT_CLOSURE},
        {"code", NT_CODE},      {"module", NT_OBJECT},
        {"type", NT_OBJECT},
    };
    const char *name = rc_graph_type_name(g, t);
    for (size_t i = 0; i < sizeof by_name / sizeof *by_name; i++) {
        if (strcmp(name, by_name[i].name) == 0) {
            return by_name[i].kind;
        }
    }
    unsigned flags = rc_graph_type_flags(g, t);
    return flags & RC_TYPE_COLLECTION ? NT_ARRAY : flags & RC_TYPE_HEAP ? NT_OBJECT : NT_HIDDEN;
}

/* ---- output ------------------------------------------------------------- */

static bool
flush(exporter *x)
{
    bool ok = file_ok(x, snap_file_write(&x->file, x->buf, x->len, x->msg, sizeof x->msg));
    x->len = 0;
    return ok;
}

/* Room for n more bytes (n <= BUF). */
static inline bool
room(exporter *x, size_t n)
{
    return x->len + n <= BUF || flush(x);
}

static bool
put_raw(exporter *x, const char *p, size_t n)
{
    while (n) {
        if (x->len == BUF && !flush(x)) {
            return false;
        }
        size_t k = BUF - x->len < n ? BUF - x->len : n;
        memcpy(x->buf + x->len, p, k);
        x->len += k;
        p += k;
        n -= k;
    }
    return true;
}

static bool
put_lit(exporter *x, const char *s)
{
    return put_raw(x, s, strlen(s));
}

/* A decimal number, then `sep` (0: none). */
static inline bool
put_num(exporter *x, uint64_t v, char sep)
{
    if (!room(x, 21)) {
        return false;
    }
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) {
        x->buf[x->len++] = tmp[--n];
    }
    if (sep) {
        x->buf[x->len++] = sep;
    }
    return true;
}

/* s[0..n) (valid UTF-8, NUL bytes allowed) as a JSON string. */
static bool
put_json_string(exporter *x, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (!room(x, 1)) {
        return false;
    }
    x->buf[x->len++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!room(x, 6)) {
            return false;
        }
        if (c == '"' || c == '\\') {
            x->buf[x->len++] = '\\';
            x->buf[x->len++] = (char)c;
        } else if (c < 0x20) {
            memcpy(x->buf + x->len, "\\u00", 4);
            x->buf[x->len + 4] = hex[c >> 4];
            x->buf[x->len + 5] = hex[c & 15];
            x->len += 6;
        } else {
            x->buf[x->len++] = (char)c;
        }
    }
    if (!room(x, 1)) {
        return false;
    }
    x->buf[x->len++] = '"';
    return true;
}

/* ---- strings ------------------------------------------------------------ */

static uint64_t
hash_bytes(const char *s, size_t n)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325); /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h = (h ^ (unsigned char)s[i]) * UINT64_C(0x100000001b3);
    }
    return h ^ (h >> 29);
}

static bool
grow_slots(exporter *x)
{
    size_t cap = x->slots ? (x->slot_mask + 1) * 2 : 1024;
    str_slot *s = rc_calloc(cap, sizeof *s);
    if (!s) {
        return false;
    }
    for (size_t i = 0; x->slots && i <= x->slot_mask; i++) {
        if (x->slots[i].id_plus_1) {
            size_t j = (size_t)x->slots[i].hash & (cap - 1);
            while (s[j].id_plus_1) {
                j = (j + 1) & (cap - 1);
            }
            s[j] = x->slots[i];
        }
    }
    rc_free(x->slots);
    x->slots = s;
    x->slot_mask = cap - 1;
    return true;
}

/* The index of string s[0..n) in "strings", adding it at first use;
 * UINT32_MAX on failure (x->st says why). */
static uint32_t
intern(exporter *x, const char *s, size_t n)
{
    if ((x->n_str + 1) * 2 > (x->slots ? x->slot_mask + 1 : 0) && !grow_slots(x)) {
        fail_nomem(x);
        return UINT32_MAX;
    }
    uint64_t h = hash_bytes(s, n);
    size_t j = (size_t)h & x->slot_mask;
    for (; x->slots[j].id_plus_1; j = (j + 1) & x->slot_mask) {
        uint32_t id = x->slots[j].id_plus_1 - 1;
        if (x->slots[j].hash == h && x->off[id + 1] - x->off[id] == n &&
            memcmp(x->pool + x->off[id], s, n) == 0) {
            return id;
        }
    }
    if (x->n_str >= UINT32_MAX - 1) {
        fail(x, RC_SNAP_ETOOBIG, "more than 2**32 - 2 distinct names");
        return UINT32_MAX;
    }
    if (x->n_str + 2 > x->off_cap) {
        size_t cap = x->off_cap ? x->off_cap * 2 : 1024;
        size_t *p = rc_reallocarray(x->off, cap, sizeof *p);
        if (!p) {
            fail_nomem(x);
            return UINT32_MAX;
        }
        x->off = p;
        x->off_cap = cap;
    }
    if (x->pool_len + n > x->pool_cap) {
        size_t cap = x->pool_cap ? x->pool_cap : 65536;
        while (cap < x->pool_len + n) {
            cap *= 2;
        }
        char *p = rc_realloc(x->pool, cap);
        if (!p) {
            fail_nomem(x);
            return UINT32_MAX;
        }
        x->pool = p;
        x->pool_cap = cap;
    }
    if (n) {
        memcpy(x->pool + x->pool_len, s, n);
    }
    x->off[x->n_str] = x->pool_len;
    x->pool_len += n;
    x->off[x->n_str + 1] = x->pool_len;
    x->slots[j] = (str_slot){h, (uint32_t)x->n_str + 1};
    return (uint32_t)x->n_str++;
}

/* A node value as a name: as it is when valid UTF-8, else each byte as the
 * Latin-1 character it would be. */
static uint32_t
intern_value(exporter *x, const char *s, size_t n)
{
    if (rc_utf8_is_valid(s, n)) {
        return intern(x, s, n);
    }
    char tmp[2 * RC_SNAP_MAX_VALUE];
    size_t k = 0;
    for (size_t i = 0; i < n && i < RC_SNAP_MAX_VALUE; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            tmp[k++] = (char)c;
        } else {
            tmp[k++] = (char)(0xC0 | c >> 6);
            tmp[k++] = (char)(0x80 | (c & 0x3F));
        }
    }
    return intern(x, tmp, k);
}

/* ---- allocation sites --------------------------------------------------- */

static bool
trie_grow(exporter *x)
{
    trie *t = &x->t;
    size_t cap = t->cap ? t->cap * 2 : 256;
    uint32_t **u32[] = {&t->parent, &t->func, &t->child, &t->sibling};
    for (size_t i = 0; i < 4; i++) {
        uint32_t *p = rc_reallocarray(*u32[i], cap, sizeof *p);
        if (!p) {
            return false;
        }
        *u32[i] = p;
    }
    uint64_t **u64[] = {&t->count, &t->size};
    for (size_t i = 0; i < 2; i++) {
        uint64_t *p = rc_reallocarray(*u64[i], cap, sizeof *p);
        if (!p) {
            return false;
        }
        *u64[i] = p;
    }
    t->cap = cap;
    return true;
}

static size_t
trie_slot(const trie *t, uint32_t parent, uint32_t func)
{
    uint64_t h = ((uint64_t)parent << 32 | func) * UINT64_C(0x9E3779B97F4A7C15);
    return (size_t)(h >> 20) & t->slot_mask;
}

/* The child of p for function f, created when new; UINT32_MAX on ENOMEM.
 * The slot table is sized for every node in advance (build_trie). */
static uint32_t
trie_child(exporter *x, uint32_t p, uint32_t f)
{
    trie *t = &x->t;
    size_t j = trie_slot(t, p, f);
    for (; t->slots[j]; j = (j + 1) & t->slot_mask) {
        uint32_t c = t->slots[j] - 1;
        if (t->parent[c] == p && t->func[c] == f) {
            return c;
        }
    }
    if (t->n == t->cap && !trie_grow(x)) {
        fail_nomem(x);
        return UINT32_MAX;
    }
    uint32_t c = (uint32_t)t->n++;
    t->parent[c] = p;
    t->func[c] = f;
    t->child[c] = 0;
    t->sibling[c] = t->child[p];
    t->child[p] = c + 1;
    t->count[c] = t->size[c] = 0;
    t->slots[j] = c + 1;
    return c;
}

/* One path from the root per traceback, outermost frame first (a
 * traceback's frame 0 is where the object was allocated, as tracemalloc
 * orders them), and each node's allocations counted at its leaf. */
static bool
build_trie(exporter *x)
{
    const rc_snapshot *s = x->s;
    trie *t = &x->t;
    size_t n_tb = rc_snapshot_traceback_count(s);
    if (!(rc_snapshot_sections(s) & RC_SNAP_ALLOCS) || !n_tb) {
        return true;
    }
    size_t frames = 0;
    for (size_t i = 0; i < n_tb; i++) {
        size_t d;
        rc_snapshot_traceback(s, i, &d);
        frames += d;
    }
    size_t cap = 2;
    while (cap < 2 * (frames + 1)) {
        cap *= 2;
    }
    t->slots = rc_calloc(cap, sizeof *t->slots);
    t->leaf = rc_calloc(n_tb, sizeof *t->leaf);
    if (!t->slots || !t->leaf || !trie_grow(x)) {
        fail_nomem(x);
        return false;
    }
    t->slot_mask = cap - 1;
    t->n = 1;
    t->parent[0] = t->func[0] = t->child[0] = t->sibling[0] = 0;
    t->count[0] = t->size[0] = 0;
    for (size_t i = 0; i < n_tb; i++) {
        size_t d;
        const uint32_t *f = rc_snapshot_traceback(s, i, &d);
        uint32_t cur = 0;
        for (size_t k = d; k-- > 0;) {
            if ((cur = trie_child(x, cur, f[k] + 1)) == UINT32_MAX) {
                return false;
            }
        }
        t->leaf[i] = d ? cur + 1 : 0;
    }
    size_t n = rc_graph_node_count(x->g);
    for (rc_id v = 0; v < n; v++) {
        uint32_t tb = rc_snapshot_node_traceback(s, v);
        if (tb != RC_SNAP_NONE && t->leaf[tb]) {
            t->count[t->leaf[tb] - 1]++;
            t->size[t->leaf[tb] - 1] += rc_graph_size(x->g, v);
        }
    }
    return true;
}

/* "trace_function_infos": function 0 is "(root)", function f + 1 frame f,
 * named "file:line"; then "trace_tree", nested as V8 nests it:
 * [id, function, count, size, [children...]], walked with a stack. */
static bool
put_traces(exporter *x)
{
    const rc_snapshot *s = x->s;
    trie *t = &x->t;
    if (!put_lit(x, "],\n\"trace_function_infos\":[")) {
        return false;
    }
    size_t n_frames = t->n ? rc_snapshot_frame_count(s) : 0;
    for (size_t f = 0; t->n && f <= n_frames; f++) {
        rc_snap_frame fr = f ? rc_snapshot_frame(s, f - 1) : (rc_snap_frame){"", 0};
        char name[RC_SNAP_MAX_TEXT + 16];
        int k = f ? snprintf(name, sizeof name, "%s:%u", fr.file, (unsigned)fr.line)
                  : snprintf(name, sizeof name, "(root)");
        size_t len = k < 0 ? 0 : (size_t)k < sizeof name ? (size_t)k : sizeof name - 1;
        uint32_t ni = intern(x, name, len), si = intern(x, fr.file, strlen(fr.file));
        if (ni == UINT32_MAX || si == UINT32_MAX || (f && !put_lit(x, ",")) ||
            !put_num(x, f, ',') || !put_num(x, ni, ',') || !put_num(x, si, ',') ||
            !put_num(x, 0, ',') || !put_num(x, fr.line, ',') || !put_num(x, 0, '\n')) {
            return false;
        }
    }
    if (!put_lit(x, "],\n\"trace_tree\":[")) {
        return false;
    }
    if (t->n) {
        /* Entries: node + 1 to open, 0 to close the innermost open node. */
        uint32_t *stack = rc_reallocarray(NULL, 2 * t->n, sizeof *stack);
        if (!stack) {
            fail_nomem(x);
            return false;
        }
        size_t sp = 0;
        bool comma = false, ok = true;
        stack[sp++] = 1;
        while (sp && ok) {
            uint32_t e = stack[--sp];
            if (!e) {
                ok = put_lit(x, "]");
                comma = true;
                continue;
            }
            uint32_t c = e - 1;
            ok = (!comma || put_lit(x, ",")) && put_num(x, (uint64_t)c + 1, ',') &&
                 put_num(x, t->func[c], ',') && put_num(x, t->count[c], ',') &&
                 put_num(x, t->size[c], ',') && put_lit(x, "[");
            comma = false;
            stack[sp++] = 0;
            for (uint32_t ch = t->child[c]; ch; ch = t->sibling[ch - 1]) {
                stack[sp++] = ch;
            }
        }
        rc_free(stack);
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* ---- nodes and edges ---------------------------------------------------- */

static uint32_t
node_name(exporter *x, rc_id v, uint32_t type)
{
    if (x->type_kind[type] == NT_STRING && strcmp(rc_graph_type_name(x->g, type), "str") == 0) {
        size_t len;
        const char *val = rc_snapshot_value(x->s, v, &len);
        if (val) {
            return intern_value(x, val, len);
        }
    }
    if (!x->type_name[type]) {
        const char *name = rc_graph_type_name(x->g, type);
        uint32_t i = intern(x, name, strlen(name));
        if (i == UINT32_MAX) {
            return i;
        }
        x->type_name[type] = i + 1;
    }
    return x->type_name[type] - 1;
}

static bool
put_nodes(exporter *x)
{
    const rc_graph *g = x->g;
    size_t n = rc_graph_node_count(g), nt = rc_graph_type_count(g);
    x->type_kind = rc_malloc(nt ? nt : 1);
    x->type_name = rc_calloc(nt ? nt : 1, sizeof *x->type_name);
    if (!x->type_kind || !x->type_name) {
        fail_nomem(x);
        return false;
    }
    for (uint32_t t = 0; t < nt; t++) {
        x->type_kind[t] = kind_of_type(g, t);
    }
    uint32_t roots = intern(x, "(GC roots)", 10);
    if (roots == UINT32_MAX || !put_lit(x, "\n\"nodes\":[") || !put_num(x, NT_SYNTHETIC, ',') ||
        !put_num(x, roots, ',') || !put_num(x, GC_ROOTS_ID, ',') || !put_num(x, 0, ',') ||
        !put_num(x, rc_snapshot_root_count(x->s), ',') || !put_num(x, 0, '\n')) {
        return false;
    }
    for (rc_id v = 0; v < n; v++) {
        uint32_t type = rc_graph_type(g, v);
        unsigned kind = x->type_kind[type];
        if (rc_graph_flags(g, v) & (RC_NODE_TYPE | RC_NODE_MODULE)) {
            kind = NT_OBJECT;
        }
        uint32_t name = node_name(x, v, type);
        uint32_t tb = rc_snapshot_node_traceback(x->s, v);
        uint64_t size = rc_graph_size(g, v);
        size_t deg;
        rc_graph_out(g, v, &deg);
        if (name == UINT32_MAX || !put_lit(x, ",") || !put_num(x, kind, ',') ||
            !put_num(x, name, ',') || !put_num(x, rc_snapshot_node_id(x->s, v), ',') ||
            !put_num(x, size > UINT32_MAX ? UINT32_MAX : size, ',') || !put_num(x, deg, ',') ||
            !put_num(x, tb != RC_SNAP_NONE && x->t.leaf ? x->t.leaf[tb] : 0, '\n')) {
            return false;
        }
    }
    return true;
}

static bool
put_edge(exporter *x, unsigned type, const char *name, size_t len, uint32_t index, rc_id to,
         bool first)
{
    uint32_t ni = name ? intern(x, name, len) : index;
    return (!name || ni != UINT32_MAX) && (first || put_lit(x, ",")) && put_num(x, type, ',') &&
           put_num(x, ni, ',') && put_num(x, ((uint64_t)to + 1) * NODE_FIELDS, '\n');
}

static bool
put_edges(exporter *x)
{
    const rc_snapshot *s = x->s;
    if (!put_lit(x, "],\n\"edges\":[")) {
        return false;
    }
    bool first = true;
    for (size_t i = 0; i < rc_snapshot_root_count(s); i++) {
        rc_snap_root r = rc_snapshot_root(s, i);
        char other[48];
        const char *name = r.text;
        if (!name) {
            snprintf(other, sizeof other, "root of kind %u", (unsigned)r.kind);
            name = other;
        }
        if (!put_edge(x, ET_PROPERTY, name, strlen(name), 0, r.node, first)) {
            return false;
        }
        first = false;
    }
    size_t n = rc_graph_node_count(x->g);
    for (rc_id v = 0; v < n; v++) {
        size_t deg;
        const rc_id *out = rc_graph_out(x->g, v, &deg);
        for (size_t k = 0; k < deg; k++) {
            const char *name;
            size_t len = 0;
            uint32_t index = 0;
            /* The file stores a reference's relation encoded (refchain/present.h);
             * its text read alone names the edge.  An undecodable one is unnamed. */
            const char *label = rc_snapshot_label(s, v, k);
            rc_relation rel;
            memset(&rel, 0, sizeof rel);
            if (label && rc_relation_decode(label, strlen(label), &rel) == RC_ENOMEM) {
                fail_nomem(x);
                return false;
            }
            unsigned type = edge_of_label(rel.text, k, &index, &name, &len);
            bool ok = put_edge(x, type, name, len, index, out[k], first);
            rc_relation_clear(&rel);
            if (!ok) {
                return false;
            }
            first = false;
        }
    }
    return true;
}

static bool
put_strings(exporter *x)
{
    if (!put_lit(x, "],\n\"samples\":[],\n\"locations\":[],\n\"strings\":[")) {
        return false;
    }
    for (size_t i = 0; i < x->n_str; i++) {
        if ((i && !put_lit(x, ",\n")) ||
            !put_json_string(x, x->pool + x->off[i], x->off[i + 1] - x->off[i])) {
            return false;
        }
    }
    return put_lit(x, "]}\n") && flush(x);
}

static bool
put_all(exporter *x)
{
    const rc_graph *g = x->g;
    size_t n = rc_graph_node_count(g);
    uint64_t edges = rc_graph_edge_count(g) + (uint64_t)rc_snapshot_root_count(x->s);
    if (((uint64_t)n + 1) * NODE_FIELDS > UINT32_MAX || edges > UINT32_MAX) {
        fail(x, RC_SNAP_ETOOBIG, "%zu nodes and %llu edges: more than a .heapsnapshot holds", n,
             (unsigned long long)edges);
        return false;
    }
    x->buf = rc_malloc(BUF);
    if (!x->buf) {
        fail_nomem(x);
        return false;
    }
    if (!build_trie(x) ||
        !file_ok(x, snap_file_open(&x->file, x->msg, sizeof x->msg)) || !put_lit(x, META) ||
        !put_lit(x, "\"node_count\":") || !put_num(x, (uint64_t)n + 1, ',') ||
        !put_lit(x, "\"edge_count\":") || !put_num(x, edges, ',') ||
        !put_lit(x, "\"trace_function_count\":") ||
        !put_num(x, x->t.n ? rc_snapshot_frame_count(x->s) + 1 : 0, '}') || !put_lit(x, ",") ||
        !put_nodes(x) || !put_edges(x) || !put_traces(x) || !put_strings(x)) {
        return false;
    }
    return file_ok(x, snap_file_commit(&x->file, x->msg, sizeof x->msg));
}

rc_snap_status
rc_heapsnap_export(const rc_snapshot *s, const char *path, char *errbuf, size_t errlen)
{
    exporter x = {.s = s, .path = path ? path : "(null)", .errbuf = errbuf, .errlen = errlen,
                  .file = SNAP_FILE_INIT(path)};
    if (errbuf && errlen) {
        errbuf[0] = '\0';
    }
    if (!path || !s) {
        fail(&x, RC_SNAP_EINVAL, "no path or no snapshot");
        return x.st;
    }
    x.g = rc_snapshot_graph(s);
    put_all(&x);
    snap_file_close(&x.file);
    rc_free(x.buf);
    rc_free(x.slots);
    rc_free(x.off);
    rc_free(x.pool);
    rc_free(x.type_kind);
    rc_free(x.type_name);
    trie *t = &x.t;
    rc_free(t->parent);
    rc_free(t->func);
    rc_free(t->child);
    rc_free(t->sibling);
    rc_free(t->count);
    rc_free(t->size);
    rc_free(t->slots);
    rc_free(t->leaf);
    if (x.st == RC_SNAP_EIO) {
        errno = x.file.err ? x.file.err : EIO;
    }
    return x.st;
}
