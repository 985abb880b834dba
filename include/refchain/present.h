/* Present: what a reference is called, without the objects.
 *
 * relate (refchain/relate.h) reads live objects and fills an rc_relation:
 * the kind of a reference, its text read alone, and everything a chain's
 * presentation needs to read a few references as one step (a dict value's
 * key, a closure's free variable names, a threading.local key's thread).
 * Nothing here touches an object: a relation is plain C data, so it can be
 * encoded into a snapshot file (rc_relation_encode), read back from a
 * hostile one (rc_relation_decode), and presented offline (rc_present)
 * exactly as rc_relate_path() presents the live chain (it is the same code:
 * rc_relate_path relates each reference and calls rc_present).
 *
 * Pure C, no Python: every pointer here is C memory. */
#ifndef REFCHAIN_PRESENT_H
#define REFCHAIN_PRESENT_H

#include <stddef.h>

#include "refchain/status.h"

typedef enum rc_rel_kind {
    RC_REL_FALLBACK,   /* nothing names it: `<referent #k>` */
    RC_REL_TEXT,       /* a fixed text: `<atexit callback>`, `key of dict`, `member` */
    RC_REL_KEY,        /* a dict's value: `[key]` */
    RC_REL_INDEX,      /* a list, tuple or deque item: `[i]` */
    RC_REL_ATTR,       /* a named field or attribute: `.name` */
    RC_REL_NAMESPACE,  /* a module's, class's or instance's __dict__ */
    RC_REL_CLOSURE,    /* a function's __closure__ tuple */
    RC_REL_CELL,       /* a cell's contents */
    RC_REL_LOCAL,      /* a frame's or generator's variable: `local 'x'` */
    RC_REL_CELL_LOCAL, /* the cell of a frame's cell variable */
    RC_REL_GLOBALS,    /* a frame's f_globals */
    RC_REL_LOCALS_DICT, /* a dict a frame holds that is none of its variables */
    RC_REL_LRU_CACHE,   /* an lru_cache wrapper's cache dict */
    RC_REL_LOCAL_DICTS, /* a threading.local's dict of per-thread dicts */
    RC_REL_N_KINDS
} rc_rel_kind;

/* How a namespace's entries read (RC_REL_NAMESPACE's number). */
enum { RC_NS_ITEM, RC_NS_ATTR };

/* rc_relation.flags */
enum {
    RC_RELF_STR_KEY = 1,   /* RC_REL_KEY: the key is an exact str (attr is its characters) */
    RC_RELF_DICT_KEY = 2,  /* RC_REL_TEXT `key of dict`: the referent is a key, no value */
    RC_RELF_PY_FUTURE = 4, /* the referrer is a pure-Python asyncio Future or Task */
    RC_RELF_ALL = 7
};

typedef struct rc_relation {
    rc_rel_kind kind;
    unsigned flags; /* RC_RELF_* */
    /* The label when this reference is read alone: UTF-8, rc_malloc'ed,
     * owned by the relation, never NULL after RC_OK. */
    char *text;
    /* RC_REL_KEY: the key as an attribute name reads it (`name` for a str
     * key, `[repr]` otherwise) and the key's repr; RC_REL_LOCAL and
     * RC_REL_CELL_LOCAL: the variable name's repr.  Owned, or NULL. */
    char *attr;
    char *repr;
    /* RC_REL_NAMESPACE: RC_NS_ITEM or RC_NS_ATTR; RC_REL_INDEX: the index. */
    long number;
    /* RC_REL_KEY whose key is a threading.local's key for a thread of this
     * interpreter: `thread NAME`.  Owned, or NULL. */
    char *thread;
    /* RC_REL_CLOSURE: the repr of each of the code's free variable names
     * (names[k] NULL: not a str).  Owned (the array and each name). */
    char **names;
    size_t n_names;
    /* 1 when attr and repr live in text's allocation (rc_relate's keys):
     * rc_relation_clear then frees text only.  Not part of the data
     * (rc_relation_equal and the encoding ignore it). */
    int packed;
} rc_relation;

/* Free what a relation owns and zero it; NULL-safe. */
void rc_relation_clear(rc_relation *rel);

/* Whether two relations hold the same data (every field). */
int rc_relation_equal(const rc_relation *a, const rc_relation *b);

/* Whether a relation only says where the referent sits (RC_REL_FALLBACK,
 * `<referent #k>`; RC_REL_INDEX, `[k]`): grouping folds such references
 * as it folds a collection's items (refchain/paths.h, rc_hop_names). */
int rc_relation_positional(const rc_relation *rel);

/* The longest encoded relation, in bytes without the NUL (a snapshot's
 * edge label is at most 64 KiB). */
#define RC_RELATION_ENCODED_MAX 65535u

/* Encode rel as a NUL-free UTF-8 string (when rel's strings are UTF-8 without
 * NUL; rc_relate's always are) into *buf (rc_realloc'ed as needed, *cap its
 * size; *buf may start NULL with *cap 0), NUL-terminated, its length in
 * *len.  Common references take a few bytes: `3` for `[3]`, `'name` for
 * `['name']`, `.name` for `.name`.  The string decodes to a relation equal
 * to rel (rc_relation_equal), unless it would pass RC_RELATION_ENCODED_MAX:
 * then its longest strings are cut (ending `...`) and the closure names
 * that do not fit are dropped, so it still decodes, to a shorter relation.
 * RC_OK; RC_ENOMEM with *buf and *cap still valid (the caller frees *buf);
 * RC_EINVAL when rel->text is NULL. */
rc_status rc_relation_encode(const rc_relation *rel, char **buf, size_t *cap, size_t *len);

/* Decode s[0..n), which may be anything (a file's bytes), into *out (free
 * it with rc_relation_clear).  Reads only s[0..n), allocates at most about
 * 2n bytes, never more than RC_RELATION_ENCODED_MAX is accepted.  RC_OK;
 * RC_EINVAL when s is not an encoded relation (too long, not UTF-8, a NUL,
 * an unknown form, a count or length past the end) and RC_ENOMEM, both
 * with *out zeroed. */
rc_status rc_relation_decode(const char *s, size_t n, rc_relation *out);

typedef struct rc_label_step {
    size_t end;  /* the label names the references up to objs[end] */
    char *label; /* UTF-8, rc_malloc'ed, never NULL */
} rc_label_step;

/* The labels of a chain objs[0] -> objs[1] -> ... -> objs[n_rels], rels[i]
 * the relation of objs[i] -> objs[i + 1]: at most `limit` steps (0: no
 * limit), a step spanning one to three references (module -> __dict__ ->
 * value reads `['name']`).  rels may be live (rc_relate) or decoded
 * (rc_relation_decode); any relation is accepted.  *steps (free with
 * rc_label_steps_free) and *n_steps receive the steps, their `end` counted
 * from objs[0].  RC_OK; RC_ENOMEM with *steps NULL and *n_steps 0. */
rc_status rc_present(const rc_relation *rels, size_t n_rels, size_t limit, rc_label_step **steps,
                     size_t *n_steps);

/* Free steps[0..n) and the array; NULL-safe. */
void rc_label_steps_free(rc_label_step *steps, size_t n);

#endif
