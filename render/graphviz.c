/* rc_render(): plain C structs in, SVG/PNG/PDF/DOT bytes out, through
 * libcgraph (the graph) and libgvc (the "dot" layout and the renderers).
 *
 * This is the only file that calls Graphviz, so every difference between
 * Graphviz versions lives here:
 *   - gvRenderData()'s length is an `unsigned int *` up to Graphviz 2.x and
 *     a `size_t *` in later releases (CMake probes which: RC_GV_SIZE_T_LENGTH);
 *   - 2.x declares names and values as `char *`; we only pass strings we
 *     own or literals, never a const pointer cast away.
 *
 * The lifecycle is Graphviz's demo's, in one function, each call paired:
 *   agopen -> agnode/agedge -> gvLayout -> gvRenderData -> gvFreeRenderData
 *   -> gvFreeLayout -> agclose,
 * inside one gvContext() that lives as long as the process and is never
 * given to gvFreeContext(): Graphviz 2.43's pango plugin keeps a static
 * pointer to the last font name it laid out, and that name lives in the
 * context's font table.  A second context after gvFreeContext() makes the
 * plugin read freed memory (ASan shows it with the demo's own loop).
 *
 * Graphviz reports problems through agerr(), which prints to stderr unless
 * a hook is installed.  For the duration of a render the hook copies them
 * into the caller's rc_render_output.messages; the previous hook and level
 * are restored afterwards.  The hook is process-wide, hence "one render at
 * a time". */
#include <stdio.h>
#include <string.h>

#include <cgraph.h>
#include <gvc.h>

#include "refchain/alloc.h"
#include "refchain/render.h"

#ifdef RC_GV_SIZE_T_LENGTH
typedef size_t gv_length;
#else
typedef unsigned int gv_length;
#endif

/* ---- Graphviz's messages ------------------------------------------------ */

static char *msg_buf;
static size_t msg_cap, msg_len;

static int
capture_message(char *text)
{
    size_t n = strlen(text);
    if (msg_buf && msg_len + 1 < msg_cap) {
        size_t room = msg_cap - 1 - msg_len;
        memcpy(msg_buf + msg_len, text, n < room ? n : room);
        msg_len += n < room ? n : room;
        msg_buf[msg_len] = '\0';
    }
    return 0;
}

typedef struct saved_hook {
    agusererrf hook;
    agerrlevel_t level;
} saved_hook;

static saved_hook
messages_begin(char *buf, size_t cap)
{
    msg_buf = buf;
    msg_cap = cap;
    msg_len = 0;
    buf[0] = '\0';
    saved_hook saved = {agseterrf(capture_message), agseterr(AGWARN)};
    agreseterrors();
    return saved;
}

static void
messages_end(saved_hook saved)
{
    agseterrf(saved.hook);
    agseterr(saved.level);
    while (msg_len > 0 && (msg_buf[msg_len - 1] == '\n' || msg_buf[msg_len - 1] == ' ')) {
        msg_buf[--msg_len] = '\0';
    }
    msg_buf = NULL;
    msg_cap = msg_len = 0;
}

/* Our own reason for a failure, when Graphviz said nothing. */
static void
say(rc_render_output *out, const char *what)
{
    if (!out->messages[0]) {
        snprintf(out->messages, sizeof out->messages, "%s", what);
    }
}

/* ---- looks ------------------------------------------------------------ */

typedef struct look {
    char *fill, *stroke, *font, *shape, *style, *penwidth;
} look;

/* Indexed by rc_render_kind.  Roots: module green, class blue, cache
 * purple, frame amber, C-held grey, immortal teal; the target red. */
static const look LOOKS[RC_RENDER_KINDS] = {
    [RC_RENDER_OBJECT] = {"#f4f4f4", "#666666", "black", "box", "rounded,filled", "1"},
    [RC_RENDER_TARGET] = {"#ffd6d6", "#d00000", "black", "box", "rounded,filled", "2.5"},
    [RC_RENDER_MODULE] = {"#d9f2d9", "#2e7d32", "black", "box", "rounded,filled", "2"},
    [RC_RENDER_CLASS] = {"#dce6fa", "#1f4fbf", "black", "box", "rounded,filled", "2"},
    [RC_RENDER_CACHE] = {"#eee0f8", "#7b3fb5", "black", "box", "rounded,filled", "2"},
    [RC_RENDER_FRAME] = {"#fff1c9", "#b8860b", "black", "box", "rounded,filled", "2"},
    [RC_RENDER_C] = {"#e2e2e2", "#424242", "black", "box", "rounded,filled", "2"},
    [RC_RENDER_IMMORTAL] = {"#dff4f6", "#00838f", "black", "box", "rounded,filled", "2"},
    [RC_RENDER_MORE] = {"#ffffff", "#999999", "#555555", "note", "filled", "1"},
};

static const struct {
    char *style, *color;
} EDGE_LOOKS[RC_RENDER_STYLES] = {
    [RC_RENDER_STRONG] = {"solid", "#555555"},
    [RC_RENDER_WEAK] = {"dashed", "#8a8a8a"},
    [RC_RENDER_ELIDED] = {"dotted", "#999999"},
};

static const char *const FORMAT_NAMES[RC_RENDER_FORMATS] = {
    [RC_RENDER_SVG] = "svg",
    [RC_RENDER_PNG] = "png",
    [RC_RENDER_PDF] = "pdf",
    [RC_RENDER_DOT] = "dot",
    [RC_RENDER_JPG] = "jpg",
    [RC_RENDER_GIF] = "gif",
    [RC_RENDER_BMP] = "bmp",
    [RC_RENDER_TIF] = "tif",
    [RC_RENDER_PS] = "ps",
    [RC_RENDER_EPS] = "eps",
    [RC_RENDER_JSON] = "json",
    [RC_RENDER_XDOT] = "xdot",
    [RC_RENDER_PLAIN] = "plain",
};

static const char *const KIND_NAMES[RC_RENDER_KINDS] = {
    [RC_RENDER_OBJECT] = "object", [RC_RENDER_TARGET] = "target",
    [RC_RENDER_MODULE] = "module", [RC_RENDER_CLASS] = "class",
    [RC_RENDER_CACHE] = "cache",   [RC_RENDER_FRAME] = "frame",
    [RC_RENDER_C] = "c",           [RC_RENDER_IMMORTAL] = "immortal",
    [RC_RENDER_MORE] = "more",
};

static const char *const STYLE_NAMES[RC_RENDER_STYLES] = {
    [RC_RENDER_STRONG] = "strong",
    [RC_RENDER_WEAK] = "weak",
    [RC_RENDER_ELIDED] = "elided",
};

const char *
rc_render_format_name(rc_render_format format)
{
    return (unsigned)format < RC_RENDER_FORMATS ? FORMAT_NAMES[format] : NULL;
}

const char *
rc_render_kind_name(rc_render_kind kind)
{
    return (unsigned)kind < RC_RENDER_KINDS ? KIND_NAMES[kind] : NULL;
}

const char *
rc_render_style_name(rc_render_style style)
{
    return (unsigned)style < RC_RENDER_STYLES ? STYLE_NAMES[style] : NULL;
}

/* The index of name[0..len) among names[0..n), or -1. */
static int
name_index(const char *const *names, int n, const char *name, size_t len)
{
    for (int i = 0; i < n; i++) {
        if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0) {
            return i;
        }
    }
    return -1;
}

int
rc_render_format_from_name(const char *name, size_t len)
{
    return name_index(FORMAT_NAMES, RC_RENDER_FORMATS, name, len);
}

int
rc_render_kind_from_name(const char *name, size_t len)
{
    return name_index(KIND_NAMES, RC_RENDER_KINDS, name, len);
}

int
rc_render_style_from_name(const char *name, size_t len)
{
    return name_index(STYLE_NAMES, RC_RENDER_STYLES, name, len);
}

/* ---- building the graph --------------------------------------------------- */

typedef struct attrs {
    Agsym_t *label, *tooltip, *fill, *stroke, *font, *shape, *style, *penwidth;
    Agsym_t *elabel, *estyle, *ecolor;
} attrs;

/* Declare every attribute once, with its default. */
static int
declare(Agraph_t *g, attrs *a)
{
    agattr(g, AGRAPH, "fontname", "Helvetica");
    agattr(g, AGRAPH, "fontsize", "12");
    agattr(g, AGRAPH, "labelloc", "t");
    agattr(g, AGRAPH, "bgcolor", "white");
    agattr(g, AGRAPH, "pad", "0.2");
    agattr(g, AGRAPH, "nodesep", "0.3");
    agattr(g, AGNODE, "fontname", "Helvetica");
    agattr(g, AGNODE, "fontsize", "10");
    agattr(g, AGNODE, "margin", "0.12,0.06");
    agattr(g, AGEDGE, "fontname", "Helvetica");
    agattr(g, AGEDGE, "fontsize", "9");
    agattr(g, AGEDGE, "fontcolor", "#333333");
    agattr(g, AGEDGE, "arrowsize", "0.7");
    a->label = agattr(g, AGNODE, "label", "");
    a->tooltip = agattr(g, AGNODE, "tooltip", "");
    a->fill = agattr(g, AGNODE, "fillcolor", "#f4f4f4");
    a->stroke = agattr(g, AGNODE, "color", "#666666");
    a->font = agattr(g, AGNODE, "fontcolor", "black");
    a->shape = agattr(g, AGNODE, "shape", "box");
    a->style = agattr(g, AGNODE, "style", "rounded,filled");
    a->penwidth = agattr(g, AGNODE, "penwidth", "1");
    a->elabel = agattr(g, AGEDGE, "label", "");
    a->estyle = agattr(g, AGEDGE, "style", "solid");
    a->ecolor = agattr(g, AGEDGE, "color", "#555555");
    return a->label && a->tooltip && a->fill && a->stroke && a->font && a->shape && a->style &&
           a->penwidth && a->elabel && a->estyle && a->ecolor;
}

/* agxset() the escaped form of `t`. */
static rc_status
set_text(void *obj, Agsym_t *sym, rc_text t, size_t max_bytes, size_t max_lines)
{
    char *s = rc_render_escape(t.s, t.s ? t.len : 0, max_bytes, max_lines);
    if (!s) {
        return RC_ENOMEM;
    }
    int rc = agxset(obj, sym, s);
    rc_free(s);
    return rc == 0 ? RC_OK : RC_ENOMEM;
}

static void
node_name(char *buf, size_t cap, uint64_t id)
{
    snprintf(buf, cap, "n%llu", (unsigned long long)id);
}

/* agsafeset() each of n's extra attributes, as NUL-terminated copies. */
static rc_status
set_attrs(Agnode_t *v, const rc_render_node *n)
{
    for (size_t k = 0; k < n->n_attrs; k++) {
        rc_text name = n->attrs[2 * k], value = n->attrs[2 * k + 1];
        char *nm = rc_malloc(name.len + 1), *val = rc_malloc(value.len + 1);
        if (!nm || !val) {
            rc_free(nm);
            rc_free(val);
            return RC_ENOMEM;
        }
        memcpy(nm, name.s ? name.s : "", name.len);
        nm[name.len] = '\0';
        memcpy(val, value.s ? value.s : "", value.len);
        val[value.len] = '\0';
        int rc = nm[0] ? agsafeset(v, nm, val, "") : 0;
        rc_free(nm);
        rc_free(val);
        if (rc != 0) {
            return RC_ENOMEM;
        }
    }
    return RC_OK;
}

static rc_status
add_nodes(Agraph_t *g, const attrs *a, const rc_render_graph *in, rc_render_output *out)
{
    char name[32];
    for (size_t i = 0; i < in->n_nodes; i++) {
        const rc_render_node *n = &in->nodes[i];
        node_name(name, sizeof name, n->id);
        if (agnode(g, name, 0)) {
            snprintf(out->messages, sizeof out->messages,
                     "two nodes have the id %llu", (unsigned long long)n->id);
            return RC_EINVAL;
        }
        Agnode_t *v = agnode(g, name, 1);
        if (!v) {
            return RC_ENOMEM;
        }
        const look *l = &LOOKS[n->kind];
        rc_status st = set_text(v, a->label, n->label, RC_RENDER_LABEL_MAX, RC_RENDER_LINES_MAX);
        if (st == RC_OK) {
            st = set_text(v, a->tooltip, n->tooltip, RC_RENDER_TOOLTIP_MAX, 0);
        }
        if (st != RC_OK) {
            return st;
        }
        if (n->kind != RC_RENDER_OBJECT) {
            agxset(v, a->fill, l->fill);
            agxset(v, a->stroke, l->stroke);
            agxset(v, a->font, l->font);
            agxset(v, a->shape, l->shape);
            agxset(v, a->style, l->style);
            agxset(v, a->penwidth, l->penwidth);
        }
        if ((st = set_attrs(v, n)) != RC_OK) {
            return st;
        }
    }
    return RC_OK;
}

static rc_status
add_edges(Agraph_t *g, const attrs *a, const rc_render_graph *in, rc_render_output *out)
{
    char name[32];
    for (size_t i = 0; i < in->n_edges; i++) {
        const rc_render_edge *e = &in->edges[i];
        node_name(name, sizeof name, e->from);
        Agnode_t *from = agnode(g, name, 0);
        node_name(name, sizeof name, e->to);
        Agnode_t *to = agnode(g, name, 0);
        if (!from || !to) {
            snprintf(out->messages, sizeof out->messages,
                     "edge %zu names node %llu, which is not in the graph", i,
                     (unsigned long long)(from ? e->to : e->from));
            return RC_EINVAL;
        }
        Agedge_t *edge = agedge(g, from, to, NULL, 1);
        if (!edge) {
            return RC_ENOMEM;
        }
        rc_status st = set_text(edge, a->elabel, e->label, RC_RENDER_LABEL_MAX,
                                RC_RENDER_LINES_MAX);
        if (st != RC_OK) {
            return st;
        }
        if (e->style != RC_RENDER_STRONG) {
            agxset(edge, a->estyle, EDGE_LOOKS[e->style].style);
            agxset(edge, a->ecolor, EDGE_LOOKS[e->style].color);
        }
    }
    return RC_OK;
}

static rc_status
build(Agraph_t *g, const rc_render_graph *in, rc_render_output *out)
{
    attrs a;
    if (!declare(g, &a)) {
        return RC_ENOMEM;
    }
    if (in->title.len) {
        Agsym_t *label = agattr(g, AGRAPH, "label", "");
        rc_status st = label ? set_text(g, label, in->title, RC_RENDER_TOOLTIP_MAX,
                                        RC_RENDER_LINES_MAX)
                             : RC_ENOMEM;
        if (st != RC_OK) {
            return st;
        }
    }
    rc_status st = add_nodes(g, &a, in, out);
    return st == RC_OK ? add_edges(g, &a, in, out) : st;
}

/* The caller's structs obey their enums. */
static rc_status
check(const rc_render_graph *in, rc_render_format format, rc_render_output *out)
{
    if ((unsigned)format >= RC_RENDER_FORMATS) {
        say(out, "unknown output format");
        return RC_EINVAL;
    }
    if ((in->n_nodes && !in->nodes) || (in->n_edges && !in->edges)) {
        say(out, "NULL node or edge array");
        return RC_EINVAL;
    }
    for (size_t i = 0; i < in->n_nodes; i++) {
        if ((unsigned)in->nodes[i].kind >= RC_RENDER_KINDS) {
            say(out, "a node's kind is out of range");
            return RC_EINVAL;
        }
        if (in->nodes[i].n_attrs && !in->nodes[i].attrs) {
            say(out, "NULL attribute array");
            return RC_EINVAL;
        }
    }
    for (size_t i = 0; i < in->n_edges; i++) {
        if ((unsigned)in->edges[i].style >= RC_RENDER_STYLES) {
            say(out, "an edge's style is out of range");
            return RC_EINVAL;
        }
    }
    return RC_OK;
}

/* ---- layout and render -------------------------------------------------- */

/* The process's one Graphviz context (see the top of the file), or NULL
 * when it cannot be made. */
static GVC_t *
context(void)
{
    static GVC_t *gvc;
    if (!gvc) {
        gvc = gvContext();
    }
    return gvc;
}

rc_status
rc_render(const rc_render_graph *in, rc_render_format format, rc_render_output *out)
{
    out->data = NULL;
    out->len = 0;
    out->messages[0] = '\0';
    rc_status st = check(in, format, out);
    if (st != RC_OK) {
        return st;
    }
    saved_hook saved = messages_begin(out->messages, sizeof out->messages);

    GVC_t *gvc = context();
    Agraph_t *g = gvc ? agopen("refchain", Agdirected, NULL) : NULL;
    st = g ? build(g, in, out) : RC_ENOMEM;
    if (st == RC_OK && gvLayout(gvc, g, "dot") != 0) {
        st = RC_ERENDER;
        say(out, "the dot layout failed");
    } else if (st == RC_OK) {
        char *data = NULL;
        gv_length len = 0;
        if (gvRenderData(gvc, g, FORMAT_NAMES[format], &data, &len) != 0 || !data) {
            st = RC_ERENDER;
            say(out, "Graphviz could not render this format");
        } else if ((out->data = rc_malloc((size_t)len + 1)) == NULL) {
            st = RC_ENOMEM;
        } else {
            memcpy(out->data, data, len);
            out->data[len] = '\0';
            out->len = len;
        }
        if (data) {
            gvFreeRenderData(data);
        }
        gvFreeLayout(gvc, g);
    }
    if (g) {
        agclose(g);
    }

    messages_end(saved);
    if (st == RC_ENOMEM) {
        say(out, "out of memory");
    }
    return st;
}
