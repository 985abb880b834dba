/* Status codes shared by every refchain C unit.
 *
 * Every fallible function returns an rc_status.  On anything but RC_OK the
 * function's documented "state after error" holds: outputs are untouched and
 * nothing the caller owns has leaked. */
#ifndef REFCHAIN_STATUS_H
#define REFCHAIN_STATUS_H

typedef enum rc_status {
    RC_OK = 0,
    RC_ENOMEM,    /* an allocation failed */
    RC_EINVAL,    /* a caller broke the function's contract */
    RC_ETOOBIG,   /* more nodes, edges or types than a uint32 id can name */
    RC_ENOTFOUND, /* the requested node/name is not in the graph */
    RC_EPYTHON,   /* a Python exception is set (capture only) */
    RC_ERENDER,   /* Graphviz could not lay out or render a graph (render/ only) */
    RC_ECALLBACK  /* a caller's callback reported failure; its own error state stands */
} rc_status;

/* A static, human-readable description of a status.  Never NULL. */
const char *rc_status_str(rc_status st);

#endif
