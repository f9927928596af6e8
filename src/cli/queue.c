/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "cli/queue.h"

#include <stdlib.h>

int rvmi_queue_init(rvmi_queue *q, int capacity)
{
    q->items = calloc((size_t)capacity, sizeof(*q->items));
    if (!q->items)
        return -1;
    q->cap = capacity;
    q->head = q->count = q->closed = q->aborted = 0;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->not_empty, NULL);
    pthread_cond_init(&q->not_full, NULL);
    return 0;
}

void rvmi_queue_destroy(rvmi_queue *q)
{
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->not_empty);
    pthread_cond_destroy(&q->not_full);
    free(q->items);
    q->items = NULL;
}

int rvmi_queue_push(rvmi_queue *q, void *item)
{
    pthread_mutex_lock(&q->lock);
    while (q->count == q->cap && !q->aborted)
        pthread_cond_wait(&q->not_full, &q->lock);
    if (q->aborted) {
        pthread_mutex_unlock(&q->lock);
        return -1;
    }
    q->items[(q->head + q->count) % q->cap] = item;
    q->count++;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->lock);
    return 0;
}

void *rvmi_queue_pop(rvmi_queue *q)
{
    pthread_mutex_lock(&q->lock);
    while (q->count == 0 && !q->closed && !q->aborted)
        pthread_cond_wait(&q->not_empty, &q->lock);
    void *item = NULL;
    if (!q->aborted && q->count > 0) {
        item = q->items[q->head];
        q->head = (q->head + 1) % q->cap;
        q->count--;
        pthread_cond_signal(&q->not_full);
    }
    pthread_mutex_unlock(&q->lock);
    return item;
}

void *rvmi_queue_take_left(rvmi_queue *q)
{
    pthread_mutex_lock(&q->lock);
    void *item = NULL;
    if (q->count > 0) {
        item = q->items[q->head];
        q->head = (q->head + 1) % q->cap;
        q->count--;
    }
    pthread_mutex_unlock(&q->lock);
    return item;
}

void rvmi_queue_close(rvmi_queue *q)
{
    pthread_mutex_lock(&q->lock);
    q->closed = 1;
    pthread_cond_broadcast(&q->not_empty);
    pthread_mutex_unlock(&q->lock);
}

void rvmi_queue_abort(rvmi_queue *q)
{
    pthread_mutex_lock(&q->lock);
    q->aborted = 1;
    pthread_cond_broadcast(&q->not_empty);
    pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->lock);
}
