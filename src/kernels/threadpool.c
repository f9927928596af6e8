/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "threadpool.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

/* A frame runs ~100 parallel steps back to back, microseconds apart. Waking a sleeping thread
 * costs ~40 us each time here (measured: 3.3 ms of a 45 ms frame at 1080p), so a thread that
 * runs out of work first spins briefly for the next step. Briefly: when other programs (or
 * the converter's own decoder and encoders) want the cores, every spin takes time from them
 * (a 100 us spin cost 105 -> 136 ms/frame under load); between frames the threads sleep. */
#define SPIN_NS 10000

/* Spins until done(p) or SPIN_NS pass; returns done(p). */
static int spin_until(int (*done)(rvmi_pool *, unsigned long), rvmi_pool *p, unsigned long arg)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 1;; i++) {
        if (done(p, arg))
            return 1;
        CPU_RELAX();
        if (i % 16 == 0) {
            clock_gettime(CLOCK_MONOTONIC, &t);
            if ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) > SPIN_NS)
                return done(p, arg);
        }
    }
}

/* Forks seen by this process's children: a child's fork handler bumps it. A pool made in
 * another generation belongs to an ancestor: its workers do not exist in this process (fork
 * copies only the thread that called it), and its lock may be held by a thread that does not
 * exist either (one that was inside rvmi_pool_run or a worker's wait at the fork), so waiting
 * for either would hang forever. Such a pool starts its workers again at its first use here. */
static atomic_uint forks;

static void after_fork_in_child(void) { atomic_fetch_add(&forks, 1); }

static void watch_forks(void) { pthread_atfork(NULL, NULL, after_fork_in_child); }

struct rvmi_pool {
    int threads;
    int wanted;        /* threads asked for, started again after a fork */
    unsigned born;     /* the value of forks when the workers were started */
    pthread_t *workers;
    pthread_mutex_t lock;
    pthread_cond_t start, done;
    /* The run's state in one word, so that joining and closing cannot cross: the run's number
     * (bumped for each run; workers wait for a new one) above RUN_CLOSED, and below it the
     * workers that joined the run and have not left it yet. */
    atomic_ulong run;
    atomic_int quit;
    atomic_int helper_nice; /* nice levels the workers keep below their starting priority */
    rvmi_task_fn fn;
    void *ctx;
    int n;
    atomic_int next;
};

#define RUN_SHIFT 16
#define RUN_CLOSED (1UL << (RUN_SHIFT - 1))
#define RUN_JOINED (RUN_CLOSED - 1)

typedef struct {
    rvmi_pool *pool;
    int index;
} worker_arg;

static void work(rvmi_pool *p, int thread)
{
    for (;;) {
        int i = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (i >= p->n)
            return;
        p->fn(p->ctx, i, thread);
    }
}

static unsigned long run_number(rvmi_pool *p)
{
    return atomic_load_explicit(&p->run, memory_order_acquire) >> RUN_SHIFT;
}

static int run_started(rvmi_pool *p, unsigned long seen)
{
    return run_number(p) != seen || atomic_load(&p->quit);
}

static int run_left(rvmi_pool *p, unsigned long unused)
{
    (void)unused;
    return (atomic_load_explicit(&p->run, memory_order_acquire) & RUN_JOINED) == 0;
}

/* Waits for a run other than seen (or quit); returns its number. */
static unsigned long wait_for_run(rvmi_pool *p, unsigned long seen)
{
    if (spin_until(run_started, p, seen))
        return run_number(p);
    pthread_mutex_lock(&p->lock);
    unsigned long g;
    while ((g = run_number(p)) == seen && !atomic_load(&p->quit))
        pthread_cond_wait(&p->start, &p->lock);
    pthread_mutex_unlock(&p->lock);
    return g;
}

/* Joins run g unless it has moved on or its caller closed it (it ran out of tasks first). */
static int join_run(rvmi_pool *p, unsigned long g)
{
    unsigned long s = atomic_load_explicit(&p->run, memory_order_acquire);
    while ((s >> RUN_SHIFT) == g && !(s & RUN_CLOSED))
        if (atomic_compare_exchange_weak_explicit(&p->run, &s, s + 1, memory_order_acq_rel,
                                                  memory_order_acquire))
            return 1;
    return 0;
}

/* A worker's priority: nice levels below the one it started with (Linux: per thread). */
typedef struct {
    int base, applied;
} worker_nice;

static void start_nice(worker_nice *w)
{
    w->base = w->applied = 0;
#ifdef __linux__
    errno = 0;
    int n = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
    if (errno == 0)
        w->base = n;
#endif
}

static void follow_nice(rvmi_pool *p, worker_nice *w)
{
    int want = atomic_load_explicit(&p->helper_nice, memory_order_relaxed);
    if (want == w->applied)
        return;
    w->applied = want;
#ifdef __linux__
    int n = w->base + want;
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), n > 19 ? 19 : n);
#endif
}

static void *worker_main(void *arg)
{
    worker_arg a = *(worker_arg *)arg;
    free(arg);
    rvmi_pool *p = a.pool;
    unsigned long seen = 0;
    worker_nice nice;
    start_nice(&nice);
    for (;;) {
        seen = wait_for_run(p, seen);
        if (atomic_load(&p->quit))
            break;
        follow_nice(p, &nice);
        if (!join_run(p, seen))
            continue;
        work(p, a.index);
        unsigned long s = atomic_fetch_sub_explicit(&p->run, 1, memory_order_acq_rel);
        if ((s & RUN_CLOSED) && (s & RUN_JOINED) == 1) { /* the last one out wakes the caller */
            pthread_mutex_lock(&p->lock);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->lock);
        }
    }
    return NULL;
}

/* Starts workers 1..wanted-1 on a zeroed run state; p->threads counts the threads running. */
static int start_workers(rvmi_pool *p)
{
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->start, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_store(&p->run, 0);
    atomic_store(&p->quit, 0);
    p->born = atomic_load(&forks);
    p->threads = 1;
    for (int i = 1; i < p->wanted; i++) {
        worker_arg *a = malloc(sizeof(*a));
        if (!a)
            return -1;
        a->pool = p;
        a->index = i;
        if (pthread_create(&p->workers[i], NULL, worker_main, a) != 0) {
            free(a);
            return -1;
        }
        p->threads = i + 1;
    }
    return 0;
}

rvmi_pool *rvmi_pool_create(int threads)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, watch_forks);
    if (threads < 1)
        threads = 1;
    rvmi_pool *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->wanted = threads;
    p->workers = calloc((size_t)threads, sizeof(pthread_t));
    if (!p->workers) {
        free(p);
        return NULL;
    }
    if (start_workers(p) < 0) {
        rvmi_pool_free(p);
        return NULL;
    }
    return p;
}

void rvmi_pool_free(rvmi_pool *p)
{
    if (!p)
        return;
    if (p->born != atomic_load(&forks)) { /* an ancestor's: no thread to stop, nor to wait on */
        free(p->workers);
        free(p);
        return;
    }
    pthread_mutex_lock(&p->lock);
    atomic_store(&p->quit, 1);
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->lock);
    for (int i = 1; i < p->threads; i++)
        pthread_join(p->workers[i], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->start);
    pthread_cond_destroy(&p->done);
    free(p->workers);
    free(p);
}

int rvmi_pool_threads(const rvmi_pool *p) { return p->threads; }

void rvmi_pool_set_helper_nice(rvmi_pool *p, int increment)
{
    atomic_store_explicit(&p->helper_nice, increment, memory_order_relaxed);
}

void rvmi_pool_run(rvmi_pool *p, int n, rvmi_task_fn fn, void *ctx)
{
    if (n <= 0)
        return;
    /* In a forked child, the first run: the ancestor's workers and lock are left as they are
     * (the threads are gone; the lock may be held for ever) and the pool starts afresh; a
     * worker that cannot be started leaves fewer threads, the tasks run all the same. One load
     * a run (~100 a frame), where comparing getpid() would be a system call each. */
    if (p->born != atomic_load_explicit(&forks, memory_order_relaxed))
        start_workers(p);
    if (p->threads == 1 || n == 1) {
        for (int i = 0; i < n; i++)
            fn(ctx, i, 0);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    p->n = n;
    atomic_store(&p->next, 0);
    pthread_mutex_lock(&p->lock); /* a worker past its spin sleeps on start: wake it */
    atomic_store_explicit(&p->run, (run_number(p) + 1) << RUN_SHIFT, memory_order_release);
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->lock);
    work(p, 0);
    /* Out of tasks: close the run and wait only for the workers inside it, finishing the tasks
     * they took. A worker that has not joined yet (still waking up, or its core busy with
     * another thread: the converter's decoder and encoders) no longer holds the caller. */
    unsigned long s = atomic_fetch_or_explicit(&p->run, RUN_CLOSED, memory_order_acq_rel);
    if ((s & RUN_JOINED) && !spin_until(run_left, p, 0)) {
        pthread_mutex_lock(&p->lock);
        while (!run_left(p, 0))
            pthread_cond_wait(&p->done, &p->lock);
        pthread_mutex_unlock(&p->lock);
    }
}
