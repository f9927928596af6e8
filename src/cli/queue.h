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
} rvm_queue;

int rvm_queue_init(rvm_queue *q, int capacity);
void rvm_queue_destroy(rvm_queue *q);
/* Returns 0, or -1 when the queue was aborted (the item was not taken). */
int rvm_queue_push(rvm_queue *q, void *item);
/* Returns the next item, or NULL when closed and empty, or aborted. */
void *rvm_queue_pop(rvm_queue *q);
/* Takes any item left, without waiting (for clean-up after the threads are gone). */
void *rvm_queue_take_left(rvm_queue *q);
void rvm_queue_close(rvm_queue *q);
void rvm_queue_abort(rvm_queue *q);

#endif
