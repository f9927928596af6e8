/* A one-line progress bar on stderr: frames done/total, speed, time left.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_CLI_PROGRESS_H
#define RVM_CLI_PROGRESS_H

#include <stdint.h>

typedef struct {
    double t0;
    int64_t total; /* <= 0: unknown */
    int drawn;
} rvm_progress;

void rvm_progress_start(rvm_progress *p, int64_t total);
void rvm_progress_update(rvm_progress *p, int64_t done);
/* Draws the last state and ends the line; complete: the input ended (the total, an
 * estimate from the header, becomes the count done). */
void rvm_progress_end(rvm_progress *p, int64_t done, int complete);

#endif
