/* c11_threads_tsan: C11 <threads.h> over the public pthread API, for programs that run
 * librdkafka under ThreadSanitizer. Include in exactly one .c file of the program. */
#ifndef RP_C11_THREADS_TSAN_H
#define RP_C11_THREADS_TSAN_H

/*
 * Why: Debian's librdkafka uses C11 threads (thrd_create, mtx_lock, cnd_wait, ...), and glibc
 * implements those on its internal pthread entry points, which ThreadSanitizer does not
 * intercept: threads started that way crash in TSan's allocator (no thread state), and their
 * mutexes are invisible to it (false races everywhere). Defining the C11 functions in the
 * executable interposes them for librdkafka (the dynamic linker binds its references to the
 * executable's definitions first) and routes them through the intercepted pthread calls.
 * glibc's mtx_t, cnd_t and once_flag share the layout of the pthread types.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

struct rp_c11_tramp {
    thrd_start_t fn;
    void *arg;
};

static void *rp_c11_tramp_main(void *p)
{
    struct rp_c11_tramp t = *(struct rp_c11_tramp *)p;
    free(p);
    return (void *)(intptr_t)t.fn(t.arg);
}

int thrd_create(thrd_t *thr, thrd_start_t func, void *arg)
{
    struct rp_c11_tramp *t = malloc(sizeof(*t));
    if (!t)
        return thrd_nomem;
    t->fn = func;
    t->arg = arg;
    int rc = pthread_create((pthread_t *)thr, NULL, rp_c11_tramp_main, t);
    if (rc) {
        free(t);
        return rc == ENOMEM ? thrd_nomem : thrd_error;
    }
    return thrd_success;
}

int thrd_join(thrd_t thr, int *res)
{
    void *r;
    if (pthread_join((pthread_t)thr, &r) != 0)
        return thrd_error;
    if (res)
        *res = (int)(intptr_t)r;
    return thrd_success;
}

int thrd_detach(thrd_t thr)
{
    return pthread_detach((pthread_t)thr) == 0 ? thrd_success : thrd_error;
}

int mtx_init(mtx_t *m, int type)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    if (type & mtx_recursive)
        pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    int rc = pthread_mutex_init((pthread_mutex_t *)m, &a);
    pthread_mutexattr_destroy(&a);
    return rc == 0 ? thrd_success : thrd_error;
}

int mtx_lock(mtx_t *m)
{
    return pthread_mutex_lock((pthread_mutex_t *)m) == 0 ? thrd_success : thrd_error;
}

int mtx_trylock(mtx_t *m)
{
    int rc = pthread_mutex_trylock((pthread_mutex_t *)m);
    return rc == 0 ? thrd_success : rc == EBUSY ? thrd_busy : thrd_error;
}

int mtx_unlock(mtx_t *m)
{
    return pthread_mutex_unlock((pthread_mutex_t *)m) == 0 ? thrd_success : thrd_error;
}

void mtx_destroy(mtx_t *m)
{
    pthread_mutex_destroy((pthread_mutex_t *)m);
}

int cnd_init(cnd_t *c)
{
    return pthread_cond_init((pthread_cond_t *)c, NULL) == 0 ? thrd_success : thrd_error;
}

int cnd_signal(cnd_t *c)
{
    return pthread_cond_signal((pthread_cond_t *)c) == 0 ? thrd_success : thrd_error;
}

int cnd_broadcast(cnd_t *c)
{
    return pthread_cond_broadcast((pthread_cond_t *)c) == 0 ? thrd_success : thrd_error;
}

int cnd_wait(cnd_t *c, mtx_t *m)
{
    return pthread_cond_wait((pthread_cond_t *)c, (pthread_mutex_t *)m) == 0 ? thrd_success
                                                                             : thrd_error;
}

int cnd_timedwait(cnd_t *restrict c, mtx_t *restrict m, const struct timespec *restrict ts)
{
    int rc = pthread_cond_timedwait((pthread_cond_t *)c, (pthread_mutex_t *)m, ts);
    return rc == 0 ? thrd_success : rc == ETIMEDOUT ? thrd_timedout : thrd_error;
}

void cnd_destroy(cnd_t *c)
{
    pthread_cond_destroy((pthread_cond_t *)c);
}

void call_once(once_flag *flag, void (*func)(void))
{
    pthread_once((pthread_once_t *)flag, func);
}

#endif
