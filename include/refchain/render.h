/* Rendering graphs for people: Graphviz, in process (render/).
 *
 * The caller describes a small graph with plain C structs (nodes with ids,
 * label text, a tooltip and a kind; edges with endpoints, a label and a
 * style).  rc_render() builds it with libcgraph, lays it out with libgvc's
 * "dot" engine and renders it to bytes: no subprocess, no temporary file.
 * It never sees a Python object.
 *
 * Text may be any bytes: it is repaired to valid UTF-8 (invalid bytes, NUL
 * and characters XML forbids become U+FFFD), its backslashes and ampersands
 * are escaped so that Graphviz shows them as written, '\n' breaks a line,
 * and it is cut at RC_RENDER_LABEL_MAX bytes or RC_RENDER_LINES_MAX lines
 * (RC_RENDER_TOOLTIP_MAX for tooltips) with a trailing "…".
 *
 * Graphviz keeps process-wide state (its error hook): rc_render() must not
 * run on two threads at once.  The binding calls it with the GIL held. */
#ifndef REFCHAIN_RENDER_H
#define REFCHAIN_RENDER_H

#include <stddef.h>
#include <stdint.h>

#include "refchain/status.h"

typedef enum rc_render_format {
    RC_RENDER_SVG,
    RC_RENDER_PNG,
    RC_RENDER_PDF,
    RC_RENDER_DOT, /* DOT text, with the layout's positions */
    /* The other formats the in-process Graphviz of Debian 12 writes
     * (objgraph hands any extension to `dot -T`). */
    RC_RENDER_JPG,
    RC_RENDER_GIF,
    RC_RENDER_BMP,
    RC_RENDER_TIF,
    RC_RENDER_PS,
    RC_RENDER_EPS,
    RC_RENDER_JSON,
    RC_RENDER_XDOT,
    RC_RENDER_PLAIN,
    RC_RENDER_FORMATS
} rc_render_format;

/* What a node stands for; it picks the node's colours. */
typedef enum rc_render_kind {
    RC_RENDER_OBJECT = 0, /* an ordinary object */
    RC_RENDER_TARGET,     /* what the question is about: red */
    RC_RENDER_MODULE,     /* roots, by what holds them */
    RC_RENDER_CLASS,
    RC_RENDER_CACHE,
    RC_RENDER_FRAME,
    RC_RENDER_C,
    RC_RENDER_IMMORTAL,
    RC_RENDER_MORE, /* a "… N more" placeholder */
    RC_RENDER_KINDS
} rc_render_kind;

typedef enum rc_render_style {
    RC_RENDER_STRONG = 0, /* a reference: solid */
    RC_RENDER_WEAK,       /* a weak reference: dashed */
    RC_RENDER_ELIDED,     /* to or from a "… N more" node: dotted */
    RC_RENDER_STYLES
} rc_render_style;

/* Text that need not be NUL-terminated; {NULL, 0} is empty. */
typedef struct rc_text {
    const char *s;
    size_t len;
} rc_text;

typedef struct rc_render_node {
    uint64_t id; /* unique in the graph; Graphviz names the node "n<id>" */
    rc_text label;
    rc_text tooltip;
    rc_render_kind kind;
    /* Extra Graphviz attributes, set after the kind's look (so they
     * override it): attrs[2k] names one, attrs[2k+1] is its value, for k
     * < n_attrs.  Borrowed for the call; NULL when n_attrs is 0.  A name
     * or value is cut at its first NUL. */
    const rc_text *attrs;
    size_t n_attrs;
} rc_render_node;

typedef struct rc_render_edge {
    uint64_t from, to; /* node ids: `from` refers to `to` */
    rc_text label;
    rc_render_style style;
} rc_render_edge;

typedef struct rc_render_graph {
    const rc_render_node *nodes;
    size_t n_nodes;
    const rc_render_edge *edges;
    size_t n_edges;
    rc_text title; /* shown above the graph; may be empty */
} rc_render_graph;

#define RC_RENDER_LABEL_MAX 512
#define RC_RENDER_TOOLTIP_MAX 4096
#define RC_RENDER_LINES_MAX 16

typedef struct rc_render_output {
    char *data; /* rc_malloc'ed; data[len] is a NUL not counted in len */
    size_t len;
    /* Why it failed, or what Graphviz warned about: NUL-terminated, cut
     * to fit, never NULL.  Graphviz's own messages are captured here and
     * never reach the process's stderr. */
    char messages[512];
} rc_render_output;

/* Lay out `g` (borrowed for the call only: every text is copied) and
 * render it as `format`.  On RC_OK out->data holds the
 * bytes, which the caller rc_free()s.  On error out->data is NULL,
 * out->messages says why, and nothing leaks:
 *   RC_EINVAL   two nodes share an id, an edge names a missing node, or a
 *               kind, style or format is out of range;
 *   RC_ENOMEM   an allocation failed;
 *   RC_ERENDER  Graphviz could not lay out or render the graph. */
rc_status rc_render(const rc_render_graph *g, rc_render_format format, rc_render_output *out);

/* "svg", "png", "pdf", "dot", "jpg", ...; NULL when out of range. */
const char *rc_render_format_name(rc_render_format format);
/* "object", "target", "module", "class", "cache", "frame", "c",
 * "immortal", "more"; NULL when out of range. */
const char *rc_render_kind_name(rc_render_kind kind);
/* "strong", "weak", "elided"; NULL when out of range. */
const char *rc_render_style_name(rc_render_style style);

/* The format, kind or style whose name above is name[0..len) (exact bytes:
 * no NUL needed, none matched), or -1 when none is. */
int rc_render_format_from_name(const char *name, size_t len);
int rc_render_kind_from_name(const char *name, size_t len);
int rc_render_style_from_name(const char *name, size_t len);

/* The text Graphviz is handed for `s[0..n)`: repaired and escaped as
 * described above, cut at max_bytes of input or max_lines lines.
 * rc_free() it; NULL on ENOMEM. */
char *rc_render_escape(const char *s, size_t n, size_t max_bytes, size_t max_lines);

#endif
