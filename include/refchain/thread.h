/* The threads refchain starts in the process it inspects. */
#ifndef REFCHAIN_THREAD_H
#define REFCHAIN_THREAD_H

#include <pthread.h>
#include <signal.h>

/* Run main(arg) in a new thread that no signal is delivered to: the
 * process's handlers (Python's) expect the threads they know.  0, or an
 * error number: the caller then does the work itself. */
static inline int
rc_thread_start(pthread_t *thread, void *(*main)(void *), void *arg)
{
    sigset_t all, old;
    sigfillset(&all);
    int err = pthread_sigmask(SIG_SETMASK, &all, &old);
    if (err == 0) {
        err = pthread_create(thread, NULL, main, arg);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    return err;
}

#endif
