/* A small pool of worker threads that run "task i of n" callbacks; the caller's thread works
 * too. One pool per stream, so streams never wait on each other.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_THREADPOOL_H
#define RVM_THREADPOOL_H

typedef struct rvmi_pool rvmi_pool;
/* fn(ctx, task, thread): task in [0, n), thread in [0, threads). */
typedef void (*rvmi_task_fn)(void *ctx, int task, int thread);

rvmi_pool *rvmi_pool_create(int threads);
void rvmi_pool_free(rvmi_pool *pool);
int rvmi_pool_threads(const rvmi_pool *pool);
/* Runs fn for every task and returns when all are done. Tasks are handed out in order, one at
 * a time, so uneven tasks balance. */
void rvmi_pool_run(rvmi_pool *pool, int n, rvmi_task_fn fn, void *ctx);

#endif
