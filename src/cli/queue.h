/* A bounded FIFO of pointers between pipeline threads: push blocks while full, pop blocks
 * while empty, so a fast stage waits for a slow one instead of filling memory.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_CLI_QUEUE_H
#define RVM_CLI_QUEUE_H

#include <pthread.h>

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full;
    void **items;
    int cap, head, count;
    int closed;   /* the producer is done: pop drains what is left, then gets NULL */
    int aborted;  /* give up: push and pop return at once */
} rvmi_queue;

int rvmi_queue_init(rvmi_queue *q, int capacity);
void rvmi_queue_destroy(rvmi_queue *q);
/* Returns 0, or -1 when the queue was aborted (the item was not taken). */
int rvmi_queue_push(rvmi_queue *q, void *item);
/* Returns the next item, or NULL when closed and empty, or aborted. */
void *rvmi_queue_pop(rvmi_queue *q);
/* Takes any item left, without waiting (for clean-up after the threads are gone). */
void *rvmi_queue_take_left(rvmi_queue *q);
void rvmi_queue_close(rvmi_queue *q);
void rvmi_queue_abort(rvmi_queue *q);

#endif
