/* Private to dump.c and load.c: the constants of the snapshot format
 * (docs/format.md is the full description; keep the two in step). */
#ifndef REFCHAIN_SNAPFMT_H
#define REFCHAIN_SNAPFMT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/* The 24-byte plain prefix: magic, u32 LE version, u32 LE flags (0), u64 LE
 * body size (decompressed). */
#define SNAP_MAGIC "\x89RCSNAP\n"
#define SNAP_MAGIC_LEN 8
#define SNAP_BODY_SIZE_AT 16
#define SNAP_PREFIX_LEN 24

/* The section bits of the body header (RC_SNAP_LABELS... in snapshot.h). */
#define SNAP_SECTIONS_KNOWN 15u

/* A string reference: 0 none, 1 a new string follows (varint length, then
 * the bytes), n >= 2 the string defined (n - 2)-th. */
#define SNAP_STR_NONE 0
#define SNAP_STR_NEW 1
#define SNAP_STR_BASE 2

/* The trailer after the last section: the string count, then these. */
#define SNAP_END "END"
#define SNAP_END_LEN 3

/* zstd: the writer's level, and the largest window the reader accepts
 * (the writer's level uses far less). */
#define SNAP_ZSTD_LEVEL 3
#define SNAP_WINDOW_LOG 20
#define SNAP_WINDOW_LOG_MAX 22

/* Minimum encoded bytes of each record: the loader's count check. */
#define SNAP_MIN_TYPE 4
#define SNAP_MIN_NODE 6 /* address, type, size, refcount, flags, degree */
#define SNAP_MIN_EDGE 1
#define SNAP_MIN_FRAME 2
#define SNAP_MIN_TRACEBACK 1
#define SNAP_MIN_TB_FRAME 1
#define SNAP_MIN_ROOT 3
#define SNAP_MIN_FACT 2

/* "name: message" into buf[0..len) (nothing when buf is NULL or len 0):
 * the error text of dump and load. */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 0)))
#endif
static inline void
snap_verror(char *buf, size_t len, const char *name, const char *fmt, va_list ap)
{
    if (!buf || !len) {
        return;
    }
    int k = snprintf(buf, len, "%s: ", name);
    if (k >= 0 && (size_t)k < len) {
        vsnprintf(buf + k, len - (size_t)k, fmt, ap);
    }
}

#endif
