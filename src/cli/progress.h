/* A one-line progress bar on stderr: frames done/total, speed, time left; and/or the same as
 * JSON lines on a descriptor, for a program that runs rvm (rvm serve).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_CLI_PROGRESS_H
#define RVM_CLI_PROGRESS_H

#include <stdint.h>

typedef struct {
    double t0;
    int64_t total; /* <= 0: unknown */
    int drawn;
    int bar;          /* draw the bar on stderr */
    int fd;           /* -1, or where JSON lines go */
    double last_json; /* when the last JSON line was written */
} rvmi_progress;

void rvmi_progress_start(rvmi_progress *p, int64_t total, int bar, int fd);
void rvmi_progress_update(rvmi_progress *p, int64_t done);
/* Draws the last state and ends the line; complete: the input ended (the total, an
 * estimate from the header, becomes the count done). */
void rvmi_progress_end(rvmi_progress *p, int64_t done, int complete);

#endif
