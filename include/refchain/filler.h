/* Pages faulted in ahead, on a thread of its own.
 *
 * A first capture writes hundreds of megabytes of fresh memory, and on a
 * virtual machine faulting it in (the kernel zeroing each page as the host
 * backs it) was 45% of a 10M-object first capture, all on the thread that
 * walks the heap while every other thread waits.  A builder that fills
 * large arrays in order hands the stretch after the one it is writing to a
 * filler, whose thread faults it in (rc_pool_populate) on the second core.
 *
 * Rules:
 *   - The thread runs no Python code and touches no object: it makes one
 *     system call per range, which never changes the memory's contents, so
 *     a range the owner writes at the same time is written correctly
 *     whichever gets there first.
 *   - The owner calls rc_filler_settle() before it moves, resizes or frees
 *     an array it has handed over, so that no range outlives its memory.
 *   - Best effort: when no filler can be made (out of memory, no thread)
 *     or its queue is full, the owner faults its pages in itself, as it
 *     did before.
 *   - The thread starts with every signal blocked: signals go to the
 *     process's own threads. */
#ifndef REFCHAIN_FILLER_H
#define REFCHAIN_FILLER_H

#include <stdbool.h>
#include <stddef.h>

typedef struct rc_filler rc_filler;

/* A filler and its thread, or NULL. */
rc_filler *rc_filler_start(void);
/* Have p[from, to) faulted in (rc_pool_populate's bounds); false when the
 * queue is full and nothing was queued. */
bool rc_filler_post(rc_filler *f, void *p, size_t from, size_t to);
/* Drop what is queued and return once the range in hand is done. */
void rc_filler_settle(rc_filler *f);
/* Settle, end the thread and free f (NULL is a no-op). */
void rc_filler_stop(rc_filler *f);
/* Ranges faulted in by every filler's thread so far (tests). */
size_t rc_filler_ranges(void);
/* A builder has a filler only for node arrays of at least this many
 * elements (RC_FILLER_MIN_NODES unless set; tests set less, or SIZE_MAX
 * for none). */
#define RC_FILLER_MIN_NODES ((size_t)1 << 22)
size_t rc_filler_min_nodes(void);
void rc_filler_set_min_nodes(size_t n);

#endif
