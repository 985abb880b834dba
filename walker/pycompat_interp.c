/* CPython interpreter-state internals refchain reads (see pycompat.h).
 *
 * From 3.10 atexit keeps its registered callbacks in the interpreter state
 * (PyInterpreterState.atexit), not in the module's state: no object's
 * traversal reports them, so each callback read as held by C alone, one
 * root each, and nothing named the registry that holds them together.  No
 * public API lists them (atexit._ncallbacks() counts them), so 3.10 to 3.13
 * read the array in place through pycore_interp.h: an array of
 * callback_len slots, the first ncallbacks used, each NULL (unregistered)
 * or {func, args, kwargs}.  3.14 changed the layout (untested: not read).
 *
 * Its own translation unit: the internal headers need Py_BUILD_CORE before
 * Python.h (pycore_gc.h clashes with the public objimpl.h otherwise, 3.12). */
#define PY_SSIZE_T_CLEAN
#include <patchlevel.h> /* PY_VERSION_HEX, before Python.h decides what to declare */

#if PY_VERSION_HEX >= 0x030A0000 && PY_VERSION_HEX < 0x030E0000
#define RC_ATEXIT_INTERNALS 1
#define Py_BUILD_CORE 1
#endif
#include <Python.h>
#ifdef RC_ATEXIT_INTERNALS
#include "internal/pycore_interp.h"
#undef Py_BUILD_CORE
#endif

#include "refchain/pycompat.h"

int
rc_atexit_visit(int (*visit)(struct _object *, void *), void *arg)
{
#ifdef RC_ATEXIT_INTERNALS
    PyInterpreterState *interp = PyInterpreterState_Get();
    struct atexit_state *state = &interp->atexit;
    if (!state->callbacks || state->ncallbacks < 0 || state->ncallbacks > state->callback_len) {
        return 0;
    }
    for (int i = 0; i < state->ncallbacks; i++) {
        const void *cb = state->callbacks[i];
        if (!cb) {
            continue; /* unregistered */
        }
        PyObject *refs[3] = {state->callbacks[i]->func, state->callbacks[i]->args,
                             state->callbacks[i]->kwargs};
        for (int k = 0; k < 3; k++) {
            int r = refs[k] ? visit(refs[k], arg) : 0;
            if (r) {
                return r;
            }
        }
    }
#else
    (void)visit;
    (void)arg;
#endif
    return 0;
}
