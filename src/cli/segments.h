/* Plans of segment runs (rvm plan / render / join).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_CLI_SEGMENTS_H
#define RVM_CLI_SEGMENTS_H

#include <stdint.h>
#include <sys/types.h>

#include <libavutil/rational.h>

#include "cli/cli.h"

/* Frames each segment runs through the network before its first written frame, so that the
 * recurrent state has settled (README "Seams", bench/seams.py): on the shipped model and real
 * footage a fresh state's mean |dalpha| against a whole run's was <= 5e-4 from the 5th frame
 * on, while its 99.9th percentile (a few pixels at edges) stayed above 2e-2 until the 150th
 * and within it from the 154th to the 205th (the last measured). 160 frames (about 5 s) cost
 * 4.4% of a 2-minute segment at 30 fps. */
#define RVMI_DEFAULT_WARMUP 160
#define RVMI_STR2(x) #x
#define RVMI_STR(x) RVMI_STR2(x)

typedef struct {
    int64_t from, begin, end; /* frame indices: warm-up start, first written, one past last */
    int64_t seek_byte;        /* a transport stream: where the keyframe that decoding starts
                                 from begins in the file (-1: seek by timestamp) */
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
    int by_bytes;          /* video in a transport stream: segments seek to byte positions */
    int64_t nkeys;         /* while planning such a video: its keyframes in decode order, */
    int64_t *key_pts, *key_pos; /* their timestamps and byte positions */
    double image_fps;      /* images */
    int warmup;
    rvmi_plan_segment *segments;
    int nsegments;
} rvmi_plan;

/* asprintf that returns the string, or NULL when out of memory. */
char *rvmi_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Writes text (and a final newline if it has none) to path all at once: under a hidden name
 * beside it that nobody can guess (.NAME.<random>), created new (never through a link placed
 * there), synced, then renamed over path. 0, or -1 with a message. */
int rvmi_write_text(const char *path, const char *text, char *err, size_t errlen);
/* The whole of the file at path, NUL-terminated (free it), at most max bytes; NULL with a
 * message when it cannot be read or is larger. */
char *rvmi_read_text(const char *path, size_t max, char *err, size_t errlen);

/* SHA-256 (FFmpeg's av_hash) of plans and parts, as 64 hex digits and a NUL. */
struct AVHashContext *rvmi_sha256_new(void); /* NULL when out of memory */
/* Adds len bytes of fd from off (len < 0: to the end). 0, or -1 with errno set. */
int rvmi_sha256_add_fd(struct AVHashContext *ctx, int fd, off_t off, int64_t len);
/* The digest as hex; frees ctx. */
void rvmi_sha256_end(struct AVHashContext *ctx, char hex[65]);
/* A whole file (off 0, len -1) or a part of it. 0, or -1 with errno set. */
int rvmi_sha256_file(const char *path, off_t off, int64_t len, char hex[65]);

rvmi_plan *rvmi_plan_load(const char *path, char *err, size_t errlen);
void rvmi_plan_free(rvmi_plan *p);
/* 0 when the input is still the one planned, else -1 with a message. */
int rvmi_plan_check_input(const rvmi_plan *p, char *err, size_t errlen);
/* Segment index's range in the reader's units (timestamps, or file indices). */
rvmi_segment rvmi_plan_reader_range(const rvmi_plan *p, int index);

/* The names in dir that pass keep (NULL: all but . and ..), sorted by cmp (NULL: strcmp
 * order). 0, or -1 with errno set and out empty. */
typedef struct {
    char **names;
    int count;
} rvmi_name_list;
int rvmi_list_names(const char *dir, int (*keep)(const char *),
                    int (*cmp)(const void *, const void *), rvmi_name_list *out);
void rvmi_name_list_free(rvmi_name_list *l);

#endif
