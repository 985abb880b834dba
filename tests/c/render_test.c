/* render_test: Graphviz rendering of synthetic node/edge structs. */
#include <stdio.h>
#include <string.h>

#include "alloc_counter.h"
#include "refchain/alloc.h"
#include "refchain/render.h"
#include "refchain/strutil.h"
#include "testutil.h"

#define T(str) ((rc_text){(str), sizeof(str) - 1})

/* root module -> ['_CACHE'] dict -> [5000] bytes (the classic cache leak). */
static const rc_render_node LEAK_NODES[] = {
    {1, T("module\n__main__"), T("module __main__"), RC_RENDER_MODULE, NULL, 0},
    {2, T("dict\n10001 items"), T("dict at 0x10"), RC_RENDER_OBJECT, NULL, 0},
    {3, T("bytes\nb'\\x00\\x00'\n1057 B, refcount 1"), T("allocated at\nleak.py:9"),
     RC_RENDER_TARGET, NULL, 0},
    {4, T("\xE2\x80\xA6 9 more referrers"), T(""), RC_RENDER_MORE, NULL, 0},
};
static const rc_render_edge LEAK_EDGES[] = {
    {1, 2, T("['_CACHE']"), RC_RENDER_STRONG},
    {2, 3, T("[5000]"), RC_RENDER_STRONG},
    {4, 3, T(""), RC_RENDER_ELIDED},
    {2, 3, T("weakref"), RC_RENDER_WEAK},
};
static const rc_render_graph LEAK = {LEAK_NODES, 4, LEAK_EDGES, 4, T("the cache leak")};

static char *
render_ok(const rc_render_graph *g, rc_render_format f, size_t *len)
{
    rc_render_output out;
    rc_status st = rc_render(g, f, &out);
    if (st != RC_OK) {
        fprintf(stderr, "rc_render: %s: %s\n", rc_status_str(st), out.messages);
    }
    assert_int_equal(st, RC_OK);
    assert_non_null(out.data);
    assert_int_equal(out.data[out.len], '\0');
    *len = out.len;
    return out.data;
}

static void
assert_xml_safe(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        assert_true(c >= 0x20 || c == '\n' || c == '\r' || c == '\t');
    }
}

static void
test_svg_has_every_node_and_edge_label(void **state)
{
    (void)state;
    size_t len;
    char *svg = render_ok(&LEAK, RC_RENDER_SVG, &len);
    assert_non_null(strstr(svg, "<?xml"));
    assert_non_null(strstr(svg, "</svg>"));
    assert_non_null(strstr(svg, "<title>n1</title>"));
    assert_non_null(strstr(svg, "<title>n3</title>"));
    assert_non_null(strstr(svg, "__main__"));
    assert_non_null(strstr(svg, "[&#39;_CACHE&#39;]"));
    assert_non_null(strstr(svg, "[5000]"));
    assert_non_null(strstr(svg, "the cache leak"));
    assert_non_null(strstr(svg, "xlink:title=\"allocated at&#10;leak.py:9\""));
    assert_non_null(strstr(svg, "#d00000"));         /* the target's red */
    assert_non_null(strstr(svg, "#2e7d32"));         /* a module root */
    assert_non_null(strstr(svg, "stroke-dasharray")); /* weak and elided edges */
    /* A label's backslash escapes survive as written. */
    assert_non_null(strstr(svg, "b&#39;\\x00\\x00&#39;"));
    assert_xml_safe(svg, len);
    rc_free(svg);
}

static void
test_png_pdf_and_dot(void **state)
{
    (void)state;
    size_t len;
    char *png = render_ok(&LEAK, RC_RENDER_PNG, &len);
    assert_true(len > 8);
    assert_memory_equal(png, "\x89PNG\r\n\x1a\n", 8);
    rc_free(png);
    char *pdf = render_ok(&LEAK, RC_RENDER_PDF, &len);
    assert_memory_equal(pdf, "%PDF-", 5);
    rc_free(pdf);
    char *dot = render_ok(&LEAK, RC_RENDER_DOT, &len);
    assert_memory_equal(dot, "digraph refchain {", 18);
    assert_non_null(strstr(dot, "n1 -> n2"));
    rc_free(dot);
}

static void
test_empty_graph_renders(void **state)
{
    (void)state;
    rc_render_graph empty = {NULL, 0, NULL, 0, {NULL, 0}};
    size_t len;
    char *svg = render_ok(&empty, RC_RENDER_SVG, &len);
    assert_non_null(strstr(svg, "</svg>"));
    rc_free(svg);
}

static void
check_escape(const char *in, size_t n, size_t max_bytes, size_t max_lines, const char *want)
{
    char *out = rc_render_escape(in, n, max_bytes, max_lines);
    assert_non_null(out);
    assert_string_equal(out, want);
    rc_free(out);
}

static void
test_escaping(void **state)
{
    (void)state;
    check_escape("C:\\new\\N", 8, 100, 0, "C:\\\\new\\\\N");
    check_escape("a\nb", 3, 100, 0, "a\\nb");
    check_escape("&#1; &amp;", 10, 100, 0, "&amp;#1; &amp;amp;");
    check_escape("x\0y", 3, 100, 0, "x\xEF\xBF\xBDy");
    check_escape("\x01\x1f\t", 3, 100, 0, "\xEF\xBF\xBD\xEF\xBF\xBD ");
    check_escape("\xff\xc3", 2, 100, 0, "\xEF\xBF\xBD\xEF\xBF\xBD");
    check_escape("\xed\xa0\x80", 3, 100, 0, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    check_escape("\xEF\xBF\xBE\xEF\xBF\xBF", 6, 100, 0, "\xEF\xBF\xBD\xEF\xBF\xBD");
    check_escape("<script>\"'", 10, 100, 0, "<script>\"'");
    check_escape(NULL, 5, 100, 0, "");
    /* Cut at a character boundary, with an ellipsis. */
    check_escape("abcdef", 6, 4, 0, "abcd\xE2\x80\xA6");
    check_escape("ab\xC3\xA9z", 5, 3, 0, "ab\xE2\x80\xA6");
    check_escape("1\n2\n3\n4", 7, 100, 2, "1\\n2\xE2\x80\xA6");
    check_escape("1\n2", 3, 100, 2, "1\\n2");
}

static void
test_hostile_labels_stay_valid(void **state)
{
    (void)state;
    static char big[100 * 1024];
    memset(big, 'A', sizeof big);
    static const char nasty[] = "q\"uo'te \\ back\\N\\G new\nline nul\0 <script>alert(1)</script>"
                                " &#0; &#x1; \xed\xa0\x80 \xff";
    rc_render_node nodes[] = {
        {7, {nasty, sizeof nasty - 1}, {nasty, sizeof nasty - 1}, RC_RENDER_TARGET, NULL, 0},
        {8, {big, sizeof big}, {big, sizeof big}, RC_RENDER_OBJECT, NULL, 0},
    };
    rc_render_edge edges[] = {{8, 7, {nasty, sizeof nasty - 1}, RC_RENDER_STRONG}};
    rc_render_graph g = {nodes, 2, edges, 1, {nasty, sizeof nasty - 1}};
    size_t len;
    char *svg = render_ok(&g, RC_RENDER_SVG, &len);
    assert_null(strstr(svg, "<script"));
    assert_non_null(strstr(svg, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_non_null(strstr(svg, "back\\N\\G"));
    assert_xml_safe(svg, len);
    assert_true(len < 40 * 1024); /* 100 KB of label was cut */
    assert_true(rc_utf8_is_valid(svg, len)); /* NUL-free, no surrogates */
    rc_free(svg);
}

static void
expect_einval(const rc_render_graph *g, rc_render_format f, const char *why)
{
    rc_render_output out;
    assert_int_equal(rc_render(g, f, &out), RC_EINVAL);
    assert_null(out.data);
    assert_non_null(strstr(out.messages, why));
}

static void
test_bad_graphs_are_einval(void **state)
{
    (void)state;
    rc_render_node twins[] = {{1, T("a"), T(""), 0, NULL, 0}, {1, T("b"), T(""), 0, NULL, 0}};
    rc_render_graph g = {twins, 2, NULL, 0, {NULL, 0}};
    expect_einval(&g, RC_RENDER_SVG, "two nodes have the id 1");

    rc_render_edge dangling[] = {{1, 9, T(""), RC_RENDER_STRONG}};
    g = (rc_render_graph){twins, 1, dangling, 1, {NULL, 0}};
    expect_einval(&g, RC_RENDER_SVG, "names node 9");

    expect_einval(&LEAK, RC_RENDER_FORMATS, "format");
    rc_render_node odd[] = {{1, T("a"), T(""), RC_RENDER_KINDS, NULL, 0}};
    g = (rc_render_graph){odd, 1, NULL, 0, {NULL, 0}};
    expect_einval(&g, RC_RENDER_SVG, "kind");
    rc_render_edge odd_edge[] = {{1, 1, T(""), RC_RENDER_STYLES}};
    g = (rc_render_graph){twins, 1, odd_edge, 1, {NULL, 0}};
    expect_einval(&g, RC_RENDER_SVG, "style");
}

/* A node's extra attributes override its kind's look and may be any
 * Graphviz attribute (objgraph's extra_node_attrs and highlight). */
static const rc_text BLUE_ATTRS[] = {T("fillcolor"), T("#0000ff"), T("URL"), T("http://x/1")};
static const rc_render_node ATTR_NODES[] = {
    {1, T("a"), T(""), RC_RENDER_TARGET, BLUE_ATTRS, 2},
    {2, T("b"), T(""), RC_RENDER_OBJECT, NULL, 0},
};
static const rc_render_graph ATTRS = {ATTR_NODES, 2, NULL, 0, {NULL, 0}};

static void
test_node_attributes_override_the_look(void **state)
{
    (void)state;
    size_t len;
    char *dot = render_ok(&ATTRS, RC_RENDER_DOT, &len);
    assert_non_null(strstr(dot, "URL=\"http://x/1\""));
    assert_non_null(strstr(dot, "fillcolor=\"#0000ff\""));
    assert_null(strstr(dot, "#ffd6d6")); /* the target's fill, overridden */
    rc_free(dot);
    rc_render_node missing[] = {{1, T("a"), T(""), 0, NULL, 1}};
    rc_render_graph g = {missing, 1, NULL, 0, {NULL, 0}};
    expect_einval(&g, RC_RENDER_SVG, "attribute");
    use_counting_allocator();
    for (long n = 0; n < 1000; n++) {
        rc_alloc_fail_after(n);
        rc_render_output out;
        rc_status st = rc_render(&ATTRS, RC_RENDER_DOT, &out);
        assert_int_equal(live_blocks, st == RC_OK ? 1 : 0);
        if (st == RC_OK) {
            rc_free(out.data);
            break;
        }
        assert_int_equal(st, RC_ENOMEM);
    }
    use_default_allocator();
}

/* The raster and text formats beyond svg/png/pdf/dot, by their magic. */
static void
test_more_formats(void **state)
{
    (void)state;
    static const struct {
        rc_render_format f;
        const char *magic;
    } cases[] = {
        {RC_RENDER_JPG, "\xff\xd8\xff"}, {RC_RENDER_GIF, "GIF8"},  {RC_RENDER_BMP, "BM"},
        {RC_RENDER_TIF, "II*"},         {RC_RENDER_PS, "%!PS"},   {RC_RENDER_EPS, "%!PS"},
        {RC_RENDER_JSON, "{"},          {RC_RENDER_XDOT, "digraph"}, {RC_RENDER_PLAIN, "graph"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len;
        char *data = render_ok(&LEAK, cases[i].f, &len);
        assert_true(len > strlen(cases[i].magic));
        assert_memory_equal(data, cases[i].magic, strlen(cases[i].magic));
        rc_free(data);
        assert_non_null(rc_render_format_name(cases[i].f));
    }
}

static void
test_format_names(void **state)
{
    (void)state;
    assert_string_equal(rc_render_format_name(RC_RENDER_SVG), "svg");
    assert_string_equal(rc_render_format_name(RC_RENDER_DOT), "dot");
    assert_null(rc_render_format_name(RC_RENDER_FORMATS));
}

/* Every format, kind and style is found by its name, and only by its
 * exact bytes: no prefix, no longer text, no NUL-terminated look-alike.
 * Nothing is allocated. */
static void
test_names_round_trip(void **state)
{
    (void)state;
    use_counting_allocator();
    rc_alloc_fail_after(0);
    for (int f = 0; f < RC_RENDER_FORMATS; f++) {
        const char *name = rc_render_format_name((rc_render_format)f);
        assert_int_equal(rc_render_format_from_name(name, strlen(name)), f);
    }
    for (int k = 0; k < RC_RENDER_KINDS; k++) {
        const char *name = rc_render_kind_name((rc_render_kind)k);
        assert_int_equal(rc_render_kind_from_name(name, strlen(name)), k);
    }
    for (int s = 0; s < RC_RENDER_STYLES; s++) {
        const char *name = rc_render_style_name((rc_render_style)s);
        assert_int_equal(rc_render_style_from_name(name, strlen(name)), s);
    }
    assert_string_equal(rc_render_kind_name(RC_RENDER_TARGET), "target");
    assert_string_equal(rc_render_kind_name(RC_RENDER_C), "c");
    assert_string_equal(rc_render_style_name(RC_RENDER_WEAK), "weak");
    assert_null(rc_render_kind_name(RC_RENDER_KINDS));
    assert_null(rc_render_style_name(RC_RENDER_STYLES));
    assert_int_equal(rc_render_kind_from_name("objec", 5), -1);
    assert_int_equal(rc_render_kind_from_name("objects", 7), -1);
    assert_int_equal(rc_render_kind_from_name("object\0", 7), -1);
    assert_int_equal(rc_render_kind_from_name("Object", 6), -1);
    assert_int_equal(rc_render_style_from_name("", 0), -1);
    assert_int_equal(rc_render_format_from_name("svgz", 4), -1);
    assert_int_equal(rc_render_format_from_name("svgz", 3), RC_RENDER_SVG);
    assert_int_equal(rc_alloc_count(), 0);
    use_default_allocator();
}

/* Every allocation point, made to fail in turn, ends in RC_ENOMEM with
 * nothing leaked; past the last one the render succeeds. */
static void
test_allocation_failures(void **state)
{
    (void)state;
    use_counting_allocator();
    int succeeded = 0;
    long n;
    for (n = 0; n < 1000 && !succeeded; n++) {
        rc_alloc_fail_after(n);
        rc_render_output out;
        rc_status st = rc_render(&LEAK, RC_RENDER_SVG, &out);
        if (st == RC_OK) {
            succeeded = 1;
            rc_free(out.data);
        } else {
            assert_int_equal(st, RC_ENOMEM);
            assert_null(out.data);
            assert_non_null(strstr(out.messages, "out of memory"));
        }
        assert_int_equal(live_blocks, 0);
    }
    use_default_allocator();
    assert_true(succeeded);
    assert_true(n > 10); /* labels, tooltips and the output all allocate */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_svg_has_every_node_and_edge_label),
        cmocka_unit_test(test_png_pdf_and_dot),
        cmocka_unit_test(test_empty_graph_renders),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_hostile_labels_stay_valid),
        cmocka_unit_test(test_bad_graphs_are_einval),
        cmocka_unit_test(test_format_names),
        cmocka_unit_test(test_names_round_trip),
        cmocka_unit_test(test_node_attributes_override_the_look),
        cmocka_unit_test(test_more_formats),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
