/* Root descriptions made in C (walker/describe.c, which reads objects in
 * place, as capture.c and relate.c do), for a fork dump's child
 * (src/dump.c), which may run no Python code.  PyObject is `struct
 * _object` here, so that this header needs no Python.h. */
#ifndef REFCHAIN_DESCRIBE_H
#define REFCHAIN_DESCRIBE_H

#include <stddef.h>

/* What the parent learns before the fork, for the child's descriptions:
 * the working directory (file names below it read relative), and the
 * Python-level signal handlers with their signal's name (a root held by C
 * that is one of them is "the handler of SIGUSR1").  All borrowed. */
typedef struct rc_fork_env {
    const char *cwd;
    struct _object *const *handlers;
    const char *const *signal_names;
    size_t n_signals;
} rc_fork_env;

/* The text _chains._describe_root(kind_name, root) gives, made in C
 * without running Python code (see describe.c for the two rare
 * differences).  rc_malloc'ed UTF-8; NULL when out of memory (no
 * exception is left set). */
char *rc_fork_describe_root(int kind, const char *kind_name, struct _object *root,
                            const rc_fork_env *env);

#endif
