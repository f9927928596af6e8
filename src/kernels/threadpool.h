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
/* The workers (all threads but the caller of rvmi_pool_run) run increment nice levels below
 * the priority they started with, from their next run on (Linux; elsewhere nothing). */
void rvmi_pool_set_helper_nice(rvmi_pool *pool, int increment);
/* Runs fn for every task and returns when all are done. Tasks are handed out in order, one at
 * a time, so uneven tasks balance. The caller runs tasks too and, once none is left, waits
 * only for the workers still running one: a worker that has not taken one yet (not woken yet,
 * or its core busy with another thread) is not waited for. */
void rvmi_pool_run(rvmi_pool *pool, int n, rvmi_task_fn fn, void *ctx);

#endif
