/* present_test: relations as data - encode/decode round trips, hostile
 * encoded input, and the presentation of synthetic chains. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_counter.h"
#include "refchain/alloc.h"
#include "refchain/present.h"
#include "testutil.h"

/* A relation built from literals (copied into rc_malloc'ed memory). */
static rc_relation
rel(rc_rel_kind kind, unsigned flags, long number, const char *text, const char *attr,
    const char *repr, const char *thread)
{
    rc_relation r;
    memset(&r, 0, sizeof r);
    r.kind = kind;
    r.flags = flags;
    r.number = number;
    r.text = text ? rc_strndup(text, strlen(text)) : NULL;
    r.attr = attr ? rc_strndup(attr, strlen(attr)) : NULL;
    r.repr = repr ? rc_strndup(repr, strlen(repr)) : NULL;
    r.thread = thread ? rc_strndup(thread, strlen(thread)) : NULL;
    return r;
}

static void
set_names(rc_relation *r, size_t n, const char *const *names)
{
    r->names = rc_calloc(n, sizeof *r->names);
    r->n_names = n;
    for (size_t i = 0; i < n; i++) {
        r->names[i] = names[i] ? rc_strndup(names[i], strlen(names[i])) : NULL;
    }
}

/* Encode r, check the encoded form (want: NULL to skip), decode it and
 * compare. */
static void
round_trip(const rc_relation *r, const char *want)
{
    char *buf = NULL;
    size_t cap = 0, len = 0;
    assert_int_equal(rc_relation_encode(r, &buf, &cap, &len), RC_OK);
    assert_int_equal(strlen(buf), len);
    if (want) {
        assert_string_equal(buf, want);
    }
    rc_relation back;
    assert_int_equal(rc_relation_decode(buf, len, &back), RC_OK);
    assert_true(rc_relation_equal(r, &back));
    rc_relation_clear(&back);
    rc_free(buf);
}

/* A key relation as rc_relate makes one. */
static rc_relation
str_key(const char *name)
{
    char repr[256], text[260];
    snprintf(repr, sizeof repr, "'%s'", name);
    snprintf(text, sizeof text, "[%s]", repr);
    return rel(RC_REL_KEY, RC_RELF_STR_KEY, 0, text, name, repr, NULL);
}

static rc_relation
other_key(const char *repr)
{
    char text[260];
    snprintf(text, sizeof text, "[%s]", repr);
    return rel(RC_REL_KEY, 0, 0, text, text, repr, NULL);
}

static void
test_common_relations_encode_short(void **state)
{
    (void)state;
    struct {
        rc_relation r;
        const char *want;
    } cases[] = {
        {rel(RC_REL_INDEX, 0, 3, "[3]", NULL, NULL, NULL), "3"},
        {rel(RC_REL_INDEX, 0, 0, "[0]", NULL, NULL, NULL), "0"},
        {str_key("name"), "'name"},
        {str_key(""), "'"},
        {str_key("caf\xc3\xa9"), "'caf\xc3\xa9"},
        {other_key("5"), "k5"},
        {other_key("(1, 'a')"), "k(1, 'a')"},
        {rel(RC_REL_ATTR, 0, 0, ".active", NULL, NULL, NULL), ".active"},
        {rel(RC_REL_NAMESPACE, 0, RC_NS_ITEM, ".__dict__", NULL, NULL, NULL), "n"},
        {rel(RC_REL_NAMESPACE, 0, RC_NS_ATTR, ".__dict__", NULL, NULL, NULL), "N"},
        {rel(RC_REL_TEXT, 0, 0, "member", NULL, NULL, NULL), "m"},
        {rel(RC_REL_TEXT, RC_RELF_DICT_KEY, 0, "key of dict", NULL, NULL, NULL), "K"},
        {rel(RC_REL_CELL, 0, 0, ".cell_contents", NULL, NULL, NULL), "c"},
        {rel(RC_REL_GLOBALS, 0, 0, ".f_globals", NULL, NULL, NULL), "G"},
        {rel(RC_REL_LRU_CACHE, 0, 0, "lru_cache", NULL, NULL, NULL), "R"},
        {rel(RC_REL_LOCAL_DICTS, 0, 0, "per-thread dicts", NULL, NULL, NULL), "P"},
        {rel(RC_REL_LOCAL, 0, 0, "local 'x'", NULL, "'x'", NULL), "L'x'"},
        {rel(RC_REL_CELL_LOCAL, 0, 0, "cell of local 'x'", NULL, "'x'", NULL), "C'x'"},
        {rel(RC_REL_TEXT, 0, 0, "<atexit callback>", NULL, NULL, NULL), "T<atexit callback>"},
        {rel(RC_REL_FALLBACK, 0, 0, "<referent #7>", NULL, NULL, NULL), "#7"},
        {rel(RC_REL_FALLBACK, 0, 0, "<referent #-1>", NULL, NULL, NULL), "#-1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        round_trip(&cases[i].r, cases[i].want);
        /* Grouping folds an index and an unnamed reference only. */
        assert_int_equal(rc_relation_positional(&cases[i].r),
                         cases[i].r.kind == RC_REL_INDEX || cases[i].r.kind == RC_REL_FALLBACK);
        rc_relation_clear(&cases[i].r);
    }
}

static void
test_other_relations_take_the_general_form(void **state)
{
    (void)state;
    static const char *const names[] = {"'a'", NULL, "'\xc3\xa9t\xc3\xa9'"};
    rc_relation cases[] = {
        /* Flags no short form carries. */
        rel(RC_REL_ATTR, RC_RELF_PY_FUTURE, 0, "._result", NULL, NULL, NULL),
        rel(RC_REL_INDEX, RC_RELF_PY_FUTURE, 2, "[2]", NULL, NULL, NULL),
        /* A key of a threading.local. */
        rel(RC_REL_KEY, 0, 0, "[<weakref>]", "[<weakref>]", "<weakref>", "thread worker-1"),
        /* A str key whose repr is no plain quoting (escaped, truncated). */
        rel(RC_REL_KEY, RC_RELF_STR_KEY, 0, "['a\\nb']", "a\nb", "'a\\nb'", NULL),
        rel(RC_REL_KEY, RC_RELF_STR_KEY, 0, "[\"it's\"]", "it's", "\"it's\"", NULL),
        /* Texts that only look like a short form. */
        rel(RC_REL_INDEX, 0, 3, "[03]", NULL, NULL, NULL),
        rel(RC_REL_INDEX, 0, -2, "[-2]", NULL, NULL, NULL),
        rel(RC_REL_FALLBACK, 0, 0, "<referent #+7>", NULL, NULL, NULL),
        rel(RC_REL_FALLBACK, 0, 0, "<referent # 7>", NULL, NULL, NULL),
        rel(RC_REL_ATTR, 0, 0, "<attribute>", NULL, NULL, NULL),
        rel(RC_REL_NAMESPACE, 0, 5, ".__dict__", NULL, NULL, NULL),
        rel(RC_REL_LOCALS_DICT, 0, 0, ".f_locals", NULL, NULL, NULL),
        rel(RC_REL_LOCAL, 0, 0, "local ''", NULL, "''", "x"),
        rel(RC_REL_TEXT, 0, 0, "", NULL, NULL, NULL),
        rel(RC_REL_KEY, 0, 0, "[]", "[]", "", NULL),
        rel(RC_REL_CLOSURE, 0, 0, ".__closure__", NULL, NULL, NULL),
        rel(RC_REL_CLOSURE, 0, 0, ".__closure__", NULL, NULL, NULL),
    };
    size_t n = sizeof cases / sizeof *cases;
    set_names(&cases[n - 1], 3, names);
    for (size_t i = 0; i < n; i++) {
        char *buf = NULL;
        size_t cap = 0, len;
        assert_int_equal(rc_relation_encode(&cases[i], &buf, &cap, &len), RC_OK);
        rc_free(buf);
        round_trip(&cases[i], NULL);
        rc_relation_clear(&cases[i]);
    }
    rc_relation r = rel(RC_REL_ATTR, RC_RELF_PY_FUTURE, 0, "._result", NULL, NULL, NULL);
    round_trip(&r, "~4,4,0,8:._result___0,");
    rc_relation_clear(&r);
    r = rel(RC_REL_TEXT, 0, 0, "x", NULL, NULL, NULL);
    rc_free(r.text);
    r.text = NULL;
    char *buf = NULL;
    size_t cap = 0, len;
    assert_int_equal(rc_relation_encode(&r, &buf, &cap, &len), RC_EINVAL);
    rc_free(buf);
}

static void
test_an_oversized_relation_is_cut_to_fit(void **state)
{
    (void)state;
    size_t big = 100000;
    char *name = malloc(big + 1);
    assert_non_null(name);
    for (size_t i = 0; i < big; i++) {
        name[i] = (char)('a' + i % 26);
    }
    name[big] = '\0';
    /* A 3-byte character across the cut point. */
    memcpy(name + 4090, "\xe2\x86\x92", 3);
    rc_relation r = rel(RC_REL_KEY, RC_RELF_STR_KEY, 0, "['abc...']", name, "'abc...'", NULL);
    const char *many[2000];
    for (size_t i = 0; i < 2000; i++) {
        many[i] = "'a_rather_long_free_variable_name_of_forty'";
    }
    rc_relation c = rel(RC_REL_CLOSURE, 0, 0, ".__closure__", NULL, NULL, NULL);
    set_names(&c, 2000, many);
    rc_relation *both[] = {&r, &c};
    for (int k = 0; k < 2; k++) {
        char *buf = NULL;
        size_t cap = 0, len;
        assert_int_equal(rc_relation_encode(both[k], &buf, &cap, &len), RC_OK);
        assert_true(len <= RC_RELATION_ENCODED_MAX);
        rc_relation back;
        assert_int_equal(rc_relation_decode(buf, len, &back), RC_OK);
        assert_string_equal(back.text, both[k]->text);
        if (k == 0) {
            size_t n = strlen(back.attr);
            assert_true(n <= 4096 && n > 4000);
            assert_string_equal(back.attr + n - 3, "...");
            assert_memory_equal(back.attr, name, n - 3);
        } else {
            assert_true(back.n_names > 100 && back.n_names < 2000);
            assert_string_equal(back.names[back.n_names - 1], many[0]);
        }
        rc_relation_clear(&back);
        rc_free(buf);
    }
    rc_relation_clear(&r);
    rc_relation_clear(&c);
    free(name);
}

static void
expect_invalid(const char *s, size_t n)
{
    rc_relation r;
    assert_int_equal(rc_relation_decode(s, n, &r), RC_EINVAL);
    assert_null(r.text);
    assert_null(r.names);
}

static void
test_hostile_input_is_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "~", "~0", "~0,", "~0,0,0,", "~14,0,0,1:x___0,", "~99999999999999999999,0,0,_",
        "~0,8,0,1:x___0,", "~0,0,0,____0,", "~0,0,0,2:x___0,", "~0,0,0,1:x___1,",
        "~0,0,0,1:x___99999999,", "~0,0,0,1:x___0,junk", "~0,0,0,1:x__", "~0,0,0,-1:x___0,",
        "~0,0,0,99999999999999999999:x___0,", "~-1,0,0,1:x___0,", "~0,0,--1,1:x___0,",
        "~0,0,0,1:x___1,5:ab", "~0,0,0,1:x___0", "07", "3x", "99999999999999999999999", "-1", "#",
        "#x", "#1x", "#--1", "k", "L", "C", "nX", "mm", "Kx", "Z", "\x01", "\xff", "'\xc3",
        "~0,0,0,1:\xc3\xa9___0,",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        expect_invalid(bad[i], strlen(bad[i]));
    }
    expect_invalid("'a\0b", 4);
    expect_invalid("~0,0,0,3:a\0b___0,", 17);
    expect_invalid(NULL, 0);
    char *huge = malloc(RC_RELATION_ENCODED_MAX + 2);
    assert_non_null(huge);
    memset(huge, 'a', RC_RELATION_ENCODED_MAX + 1);
    huge[0] = '.';
    expect_invalid(huge, RC_RELATION_ENCODED_MAX + 1);
    rc_relation r;
    assert_int_equal(rc_relation_decode("~0,0,0,1:x___0,", 15, &r), RC_OK);
    assert_string_equal(r.text, "x");
    rc_relation_clear(&r);
    assert_int_equal(rc_relation_decode(huge, RC_RELATION_ENCODED_MAX, &r), RC_OK);
    rc_relation_clear(&r);
    free(huge);
}

/* Random bytes and mutations of valid encodings: the decoder never reads
 * past its input (ASan), and what it accepts encodes back to itself. */
static void
test_random_input_never_crashes(void **state)
{
    (void)state;
    static const char *const seeds[] = {
        "3", "'name", "k5", ".x", "n", "L'x'", "#-1", "Tmember",
        "~6,0,0,12:.__closure_____3,3:'a'_2:'b'", "~2,0,0,3:[w]3:[w]1:w8:thread 10,",
    };
    srand(14);
    char s[96];
    for (long it = 0; it < 300000; it++) {
        size_t n;
        if (it % 2) {
            n = (size_t)rand() % sizeof s;
            for (size_t i = 0; i < n; i++) {
                s[i] = "~,:_0123456789-'k.nLCTK#x\xc3\xa9\xff"[rand() % 26];
            }
        } else {
            const char *seed = seeds[(size_t)rand() % (sizeof seeds / sizeof *seeds)];
            n = strlen(seed);
            memcpy(s, seed, n);
            for (int m = rand() % 3; m >= 0 && n; m--) {
                size_t at = (size_t)rand() % n;
                switch (rand() % 3) {
                case 0:
                    s[at] = (char)(rand() % 256);
                    break;
                case 1:
                    n = at;
                    break;
                default:
                    if (n + 1 < sizeof s) {
                        memmove(s + at + 1, s + at, n - at);
                        s[at] = "0123456789,:_"[rand() % 13];
                        n++;
                    }
                }
            }
        }
        char *exact = malloc(n ? n : 1); /* exactly n bytes: ASan sees any overread */
        assert_non_null(exact);
        memcpy(exact, s, n);
        rc_relation r;
        rc_status st = rc_relation_decode(exact, n, &r);
        assert_true(st == RC_OK || st == RC_EINVAL);
        if (st == RC_OK) {
            assert_non_null(r.text);
            round_trip(&r, NULL);
            rc_label_step *steps;
            size_t n_steps;
            rc_relation chain[3] = {r, r, r};
            assert_int_equal(rc_present(chain, 3, 0, &steps, &n_steps), RC_OK);
            rc_label_steps_free(steps, n_steps);
        }
        rc_relation_clear(&r);
        free(exact);
    }
}

/* ---- present ------------------------------------------------------------------ */

/* The steps of rels as "end:label|end:label". */
static void
expect_steps(rc_relation *rels, size_t n, size_t limit, const char *want)
{
    rc_label_step *steps;
    size_t n_steps;
    assert_int_equal(rc_present(rels, n, limit, &steps, &n_steps), RC_OK);
    char got[512] = "";
    for (size_t i = 0; i < n_steps; i++) {
        char one[160];
        snprintf(one, sizeof one, "%s%zu:%s", i ? "|" : "", steps[i].end, steps[i].label);
        strncat(got, one, sizeof got - strlen(got) - 1);
    }
    assert_string_equal(got, want);
    rc_label_steps_free(steps, n_steps);
    for (size_t i = 0; i < n; i++) {
        rc_relation_clear(&rels[i]);
    }
}

static void
test_namespaces_read_as_one_step(void **state)
{
    (void)state;
    rc_relation a[] = {rel(RC_REL_NAMESPACE, 0, RC_NS_ITEM, ".__dict__", NULL, NULL, NULL),
                       str_key("CACHE"), rel(RC_REL_INDEX, 0, 3, "[3]", NULL, NULL, NULL)};
    expect_steps(a, 3, 0, "2:['CACHE']|3:[3]");
    rc_relation b[] = {rel(RC_REL_NAMESPACE, 0, RC_NS_ATTR, ".__dict__", NULL, NULL, NULL),
                       str_key("active")};
    expect_steps(b, 2, 0, "2:.active");
    rc_relation c[] = {rel(RC_REL_NAMESPACE, 0, RC_NS_ATTR, ".__dict__", NULL, NULL, NULL),
                       other_key("5")};
    expect_steps(c, 2, 0, "2:[5]");
    /* A namespace followed by no value of it, or by nothing. */
    rc_relation d[] = {rel(RC_REL_NAMESPACE, 0, RC_NS_ATTR, ".__dict__", NULL, NULL, NULL),
                       rel(RC_REL_TEXT, RC_RELF_DICT_KEY, 0, "key of dict", NULL, NULL, NULL)};
    expect_steps(d, 2, 0, "1:.__dict__|2:key of dict");
    rc_relation e[] = {rel(RC_REL_NAMESPACE, 0, RC_NS_ATTR, ".__dict__", NULL, NULL, NULL)};
    expect_steps(e, 1, 0, "1:.__dict__");
    rc_relation f[] = {rel(RC_REL_GLOBALS, 0, 0, ".f_globals", NULL, NULL, NULL), str_key("x")};
    expect_steps(f, 2, 0, "2:global 'x'");
    rc_relation g[] = {rel(RC_REL_LOCALS_DICT, 0, 0, ".f_locals", NULL, NULL, NULL), str_key("y"),
                       rel(RC_REL_ATTR, 0, 0, ".z", NULL, NULL, NULL)};
    expect_steps(g, 3, 1, "2:local 'y'");
}

static void
test_closures_cells_and_caches(void **state)
{
    (void)state;
    static const char *const names[] = {"'a'", "'b'", NULL};
    rc_relation a[] = {rel(RC_REL_CLOSURE, 0, 0, ".__closure__", NULL, NULL, NULL),
                       rel(RC_REL_INDEX, 0, 1, "[1]", NULL, NULL, NULL),
                       rel(RC_REL_CELL, 0, 0, ".cell_contents", NULL, NULL, NULL)};
    set_names(&a[0], 3, names);
    expect_steps(a, 3, 0, "3:closure 'b'");
    rc_relation b[] = {rel(RC_REL_CLOSURE, 0, 0, ".__closure__", NULL, NULL, NULL),
                       rel(RC_REL_INDEX, 0, 2, "[2]", NULL, NULL, NULL)};
    set_names(&b[0], 3, names);
    expect_steps(b, 2, 0, "2:closure cell '#2'");
    rc_relation c[] = {rel(RC_REL_CLOSURE, 0, 0, ".__closure__", NULL, NULL, NULL),
                       rel(RC_REL_INDEX, 0, 7, "[7]", NULL, NULL, NULL),
                       rel(RC_REL_CELL, 0, 0, ".cell_contents", NULL, NULL, NULL)};
    expect_steps(c, 3, 0, "3:closure '#7'");
    rc_relation d[] = {rel(RC_REL_CELL_LOCAL, 0, 0, "cell of local 'x'", NULL, "'x'", NULL),
                       rel(RC_REL_CELL, 0, 0, ".cell_contents", NULL, NULL, NULL)};
    expect_steps(d, 2, 0, "2:local 'x'");
    rc_relation e[] = {rel(RC_REL_CELL_LOCAL, 0, 0, "cell of local 'x'", NULL, "'x'", NULL)};
    expect_steps(e, 1, 0, "1:cell of local 'x'");
    rc_relation f[] = {rel(RC_REL_LRU_CACHE, 0, 0, "lru_cache", NULL, NULL, NULL),
                       other_key("(1, 2)")};
    expect_steps(f, 2, 0, "2:[(1, 2)]");
    rc_relation g[] = {rel(RC_REL_LRU_CACHE, 0, 0, "lru_cache", NULL, NULL, NULL),
                       rel(RC_REL_TEXT, RC_RELF_DICT_KEY, 0, "key of dict", NULL, NULL, NULL)};
    expect_steps(g, 2, 0, "2:cache key");
}

static void
test_thread_locals_and_futures(void **state)
{
    (void)state;
    rc_relation a[] = {rel(RC_REL_LOCAL_DICTS, 0, 0, "per-thread dicts", NULL, NULL, NULL),
                       rel(RC_REL_KEY, 0, 0, "[<weakref>]", "[<weakref>]", "<weakref>", "thread w"),
                       str_key("conn"), rel(RC_REL_INDEX, 0, 0, "[0]", NULL, NULL, NULL)};
    expect_steps(a, 4, 0, "3:.conn in thread w|4:[0]");
    rc_relation b[] = {rel(RC_REL_LOCAL_DICTS, 0, 0, "per-thread dicts", NULL, NULL, NULL),
                       rel(RC_REL_KEY, 0, 0, "[<weakref>]", "[<weakref>]", "<weakref>", NULL)};
    expect_steps(b, 2, 0, "2:.__dict__ in a thread");
    rc_relation c[] = {rel(RC_REL_LOCAL_DICTS, 0, 0, "per-thread dicts", NULL, NULL, NULL),
                       rel(RC_REL_KEY, 0, 0, "[<weakref>]", "[<weakref>]", "<weakref>", "thread w"),
                       other_key("1")};
    expect_steps(c, 3, 0, "3:[1] in thread w");
    rc_relation d[] = {rel(RC_REL_LOCAL_DICTS, 0, 0, "per-thread dicts", NULL, NULL, NULL)};
    expect_steps(d, 1, 0, "1:per-thread dicts");
    rc_relation e[] = {rel(RC_REL_ATTR, RC_RELF_PY_FUTURE, 0, "._result", NULL, NULL, NULL),
                       rel(RC_REL_ATTR, 0, 0, "._result", NULL, NULL, NULL),
                       rel(RC_REL_NAMESPACE, RC_RELF_PY_FUTURE, RC_NS_ATTR, ".__dict__", NULL,
                           NULL, NULL),
                       str_key("_loop")};
    expect_steps(e, 4, 0, "1:.result()|2:._result|4:.get_loop()");
    /* Relations with missing parts read their text. */
    rc_relation f[] = {rel(RC_REL_NAMESPACE, 0, RC_NS_ATTR, ".__dict__", NULL, NULL, NULL),
                       rel(RC_REL_KEY, 0, 0, "[?]", NULL, NULL, NULL),
                       rel(RC_REL_CELL_LOCAL, 0, 0, "cell", NULL, NULL, NULL),
                       rel(RC_REL_CELL, 0, 0, ".cell_contents", NULL, NULL, NULL)};
    expect_steps(f, 4, 0, "1:.__dict__|2:[?]|3:cell|4:.cell_contents");
    expect_steps(NULL, 0, 0, "");
}

static void
test_allocation_failure_at_every_point(void **state)
{
    (void)state;
    static const char *const names[] = {"'a'"};
    use_counting_allocator();
    rc_alloc_fail_after(-1);
    rc_relation rels[] = {rel(RC_REL_NAMESPACE, 0, RC_NS_ITEM, ".__dict__", NULL, NULL, NULL),
                          str_key("f"), rel(RC_REL_CLOSURE, 0, 0, ".__closure__", NULL, NULL, NULL),
                          rel(RC_REL_INDEX, 0, 0, "[0]", NULL, NULL, NULL),
                          rel(RC_REL_CELL, 0, 0, ".cell_contents", NULL, NULL, NULL),
                          rel(RC_REL_KEY, 0, 0, "[w]", "[w]", "w", "thread 1")};
    set_names(&rels[2], 1, names);
    size_t n = sizeof rels / sizeof *rels;
    long baseline = live_blocks;
    int failures = 0;
    for (long k = 0;; k++) {
        rc_alloc_fail_after(k);
        rc_label_step *steps = NULL;
        size_t n_steps = 0;
        rc_status st = rc_present(rels, n, 0, &steps, &n_steps);
        char *buf = NULL;
        size_t cap = 0, len = 0;
        rc_relation back[6];
        size_t decoded = 0;
        for (size_t i = 0; st == RC_OK && i < n; i++) {
            st = rc_relation_encode(&rels[i], &buf, &cap, &len);
            if (st == RC_OK) {
                st = rc_relation_decode(buf, len, &back[i]);
                decoded += st == RC_OK;
            }
            if (st == RC_OK) {
                assert_true(rc_relation_equal(&rels[i], &back[i]));
            }
        }
        rc_free(buf);
        for (size_t i = 0; i < decoded; i++) {
            rc_relation_clear(&back[i]);
        }
        if (st == RC_OK) {
            assert_int_equal(n_steps, 3);
            assert_string_equal(steps[1].label, "closure 'a'");
        }
        rc_label_steps_free(steps, n_steps);
        assert_int_equal(live_blocks, baseline);
        if (st == RC_OK) {
            break;
        }
        assert_int_equal(st, RC_ENOMEM);
        failures++;
    }
    assert_true(failures > 10);
    rc_alloc_fail_after(-1);
    for (size_t i = 0; i < n; i++) {
        rc_relation_clear(&rels[i]);
    }
    use_default_allocator();
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_common_relations_encode_short),
        cmocka_unit_test(test_other_relations_take_the_general_form),
        cmocka_unit_test(test_an_oversized_relation_is_cut_to_fit),
        cmocka_unit_test(test_hostile_input_is_refused),
        cmocka_unit_test(test_random_input_never_crashes),
        cmocka_unit_test(test_namespaces_read_as_one_step),
        cmocka_unit_test(test_closures_cells_and_caches),
        cmocka_unit_test(test_thread_locals_and_futures),
        cmocka_unit_test(test_allocation_failure_at_every_point),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
