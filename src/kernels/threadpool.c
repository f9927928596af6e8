/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

struct rvm_pool {
    int threads;
    pthread_t *workers;
    pthread_mutex_t lock;
    pthread_cond_t start, done;
    unsigned long generation; /* bumped for each run; workers wait for a new one */
    int busy;                 /* workers still inside the current run */
    int quit;
    rvm_task_fn fn;
    void *ctx;
    int n;
    atomic_int next;
};

typedef struct {
    rvm_pool *pool;
    int index;
} worker_arg;

static void work(rvm_pool *p, int thread)
{
    for (;;) {
        int i = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (i >= p->n)
            return;
        p->fn(p->ctx, i, thread);
    }
}

static void *worker_main(void *arg)
{
    worker_arg a = *(worker_arg *)arg;
    free(arg);
    rvm_pool *p = a.pool;
    unsigned long seen = 0;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->quit && p->generation == seen)
            pthread_cond_wait(&p->start, &p->lock);
        if (p->quit)
            break;
        seen = p->generation;
        pthread_mutex_unlock(&p->lock);
        work(p, a.index);
        pthread_mutex_lock(&p->lock);
        if (--p->busy == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

rvm_pool *rvm_pool_create(int threads)
{
    if (threads < 1)
        threads = 1;
    rvm_pool *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->threads = threads;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->start, NULL);
    pthread_cond_init(&p->done, NULL);
    p->workers = calloc((size_t)threads, sizeof(pthread_t));
    if (!p->workers)
        goto fail;
    for (int i = 1; i < threads; i++) {
        worker_arg *a = malloc(sizeof(*a));
        if (!a)
            goto fail;
        a->pool = p;
        a->index = i;
        if (pthread_create(&p->workers[i], NULL, worker_main, a) != 0) {
            free(a);
            goto fail;
        }
        p->threads = i + 1; /* threads actually started, for clean-up on failure */
    }
    p->threads = threads;
    return p;
fail:
    rvm_pool_free(p);
    return NULL;
}

void rvm_pool_free(rvm_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->quit = 1;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->lock);
    if (p->workers)
        for (int i = 1; i < p->threads; i++)
            if (p->workers[i])
                pthread_join(p->workers[i], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->start);
    pthread_cond_destroy(&p->done);
    free(p->workers);
    free(p);
}

int rvm_pool_threads(const rvm_pool *p) { return p->threads; }

void rvm_pool_run(rvm_pool *p, int n, rvm_task_fn fn, void *ctx)
{
    if (n <= 0)
        return;
    if (p->threads == 1 || n == 1) {
        for (int i = 0; i < n; i++)
            fn(ctx, i, 0);
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->fn = fn;
    p->ctx = ctx;
    p->n = n;
    atomic_store(&p->next, 0);
    p->busy = p->threads - 1;
    p->generation++;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->lock);
    work(p, 0);
    pthread_mutex_lock(&p->lock);
    while (p->busy > 0)
        pthread_cond_wait(&p->done, &p->lock);
    pthread_mutex_unlock(&p->lock);
}
