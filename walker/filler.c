/* Pages faulted in ahead, on a thread of its own (see refchain/filler.h).
 *
 * State, under `lock`: q[head, head + n) (mod FILLER_QUEUE) are the ranges
 * queued; `busy` while the thread faults one in with the lock released;
 * `stop` once the owner wants the thread to end.  `done` wakes an owner
 * waiting for the range in hand. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "refchain/alloc.h"
#include "refchain/filler.h"
#include "refchain/pool.h"

enum { FILLER_QUEUE = 64 };

typedef struct range {
    void *p;
    size_t from, to;
} range;

struct rc_filler {
    pthread_mutex_t lock;
    pthread_cond_t work, done;
    range q[FILLER_QUEUE];
    size_t head, n;
    bool busy, stop;
    pthread_t thread;
};

static atomic_size_t filled; /* by every filler */
static atomic_size_t min_nodes = RC_FILLER_MIN_NODES;

size_t
rc_filler_min_nodes(void)
{
    return atomic_load(&min_nodes);
}

void
rc_filler_set_min_nodes(size_t n)
{
    atomic_store(&min_nodes, n);
}

static void *
filler_main(void *arg)
{
    rc_filler *f = arg;
    pthread_mutex_lock(&f->lock);
    for (;;) {
        while (!f->n && !f->stop) {
            pthread_cond_wait(&f->work, &f->lock);
        }
        if (f->stop) {
            break;
        }
        range r = f->q[f->head];
        f->head = (f->head + 1) % FILLER_QUEUE;
        f->n--;
        f->busy = true;
        pthread_mutex_unlock(&f->lock);
        rc_pool_populate(r.p, r.from, r.to);
        pthread_mutex_lock(&f->lock);
        f->busy = false;
        atomic_fetch_add(&filled, 1);
        pthread_cond_broadcast(&f->done);
    }
    pthread_mutex_unlock(&f->lock);
    return NULL;
}

rc_filler *
rc_filler_start(void)
{
    rc_filler *f = rc_calloc(1, sizeof *f);
    if (!f) {
        return NULL;
    }
    int made = 0; /* of lock, work, done, the thread */
    made += pthread_mutex_init(&f->lock, NULL) == 0;
    made += made == 1 && pthread_cond_init(&f->work, NULL) == 0;
    made += made == 2 && pthread_cond_init(&f->done, NULL) == 0;
    if (made == 3) {
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old); /* the thread inherits it */
        made += pthread_create(&f->thread, NULL, filler_main, f) == 0;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    if (made == 4) {
        return f;
    }
    if (made > 2) {
        pthread_cond_destroy(&f->done);
    }
    if (made > 1) {
        pthread_cond_destroy(&f->work);
    }
    if (made > 0) {
        pthread_mutex_destroy(&f->lock);
    }
    rc_free(f);
    return NULL;
}

bool
rc_filler_post(rc_filler *f, void *p, size_t from, size_t to)
{
    pthread_mutex_lock(&f->lock);
    bool room = f->n < FILLER_QUEUE;
    if (room) {
        f->q[(f->head + f->n++) % FILLER_QUEUE] = (range){p, from, to};
        pthread_cond_signal(&f->work);
    }
    pthread_mutex_unlock(&f->lock);
    return room;
}

void
rc_filler_settle(rc_filler *f)
{
    pthread_mutex_lock(&f->lock);
    f->n = 0;
    while (f->busy) {
        pthread_cond_wait(&f->done, &f->lock);
    }
    pthread_mutex_unlock(&f->lock);
}

size_t
rc_filler_ranges(void)
{
    return atomic_load(&filled);
}

void
rc_filler_stop(rc_filler *f)
{
    if (!f) {
        return;
    }
    pthread_mutex_lock(&f->lock);
    f->n = 0;
    f->stop = true;
    pthread_cond_signal(&f->work);
    pthread_mutex_unlock(&f->lock);
    pthread_join(f->thread, NULL);
    pthread_cond_destroy(&f->done);
    pthread_cond_destroy(&f->work);
    pthread_mutex_destroy(&f->lock);
    rc_free(f);
}
