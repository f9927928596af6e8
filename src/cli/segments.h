/* Plans of segment runs (rvm plan / render / join).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_CLI_SEGMENTS_H
#define RVM_CLI_SEGMENTS_H

#include <stdint.h>

#include <libavutil/rational.h>

#include "cli/cli.h"

/* Frames each segment runs through the network before its first written frame, so that the
 * recurrent state has settled: chosen from the seam measurement in the README (joined result
 * against a whole run: mean |dalpha| <= 5e-4 on every frame after a seam, p99.9 <= 2e-2). */
#define RVMI_DEFAULT_WARMUP 16
#define RVMI_STR2(x) #x
#define RVMI_STR(x) RVMI_STR2(x)

typedef struct {
    int64_t from, begin, end; /* frame indices: warm-up start, first written, one past last */
} rvmi_plan_segment;

typedef struct {
    char id[33];           /* random, names the plan in its parts */
    char *input;           /* absolute path */
    int images;            /* an image folder (frames by file index) */
    int64_t size, mtime_ns;
    char head[65], tail[65]; /* SHA-256 of the first and last MiB (images: first and last
                                image) */
    char listing[65];      /* images: SHA-256 of every image's name, size and time */
    int64_t frames;
    AVRational time_base;  /* video: of pts */
    int64_t *pts;          /* video: every frame's timestamp, ascending */
    double image_fps;      /* images */
    int warmup;
    rvmi_plan_segment *segments;
    int nsegments;
} rvmi_plan;

rvmi_plan *rvmi_plan_load(const char *path, char *err, size_t errlen);
void rvmi_plan_free(rvmi_plan *p);
/* 0 when the input is still the one planned, else -1 with a message. */
int rvmi_plan_check_input(const rvmi_plan *p, char *err, size_t errlen);
/* Segment index's range in the reader's units (timestamps, or file indices). */
rvmi_segment rvmi_plan_reader_range(const rvmi_plan *p, int index);

#endif
