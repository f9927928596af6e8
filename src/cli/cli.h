/* The rvm command's entry points and exit codes.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_CLI_CLI_H
#define RVM_CLI_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "cli/options.h"
#include "io/protect.h"

/* Exit codes. Schedulers retry on some and not others (scripts/slurm, scripts/kubernetes):
 * a retry cannot help bad flags or a bad input, and can help a full disk. */
#define RVMI_EXIT_FAILURE 1    /* anything not below */
#define RVMI_EXIT_USAGE 2      /* bad flags or arguments: do not retry */
#define RVMI_EXIT_BAD_INPUT 3  /* the input is missing, unreadable or damaged, or is not the
                                  one a plan was made for: do not retry */
#define RVMI_EXIT_PARTS 4      /* rvm join: parts are missing or broken (named on the line):
                                  render those indices, then join again */
#define RVMI_EXIT_TRANSIENT 75 /* writing failed (disk full, I/O error), out of memory, a
                                  file busy: retrying can succeed (EX_TEMPFAIL) */
/* 130 / 143: stopped by SIGINT / SIGTERM (outputs hold the frames done). */

/* One range of frames of a plan, in the reader's units (see rvmi_reader_options.segment):
 * frames from `from` are run through the network, those from `begin` to `end` written. */
typedef struct {
    int64_t from, begin, end;
    int64_t seek_byte; /* >= 0: where decoding starts (see rvmi_reader_options) */
    /* Set by a conversion that succeeds: the frames of [begin, end) skipped as damaged (the
     * outputs lack them; the warning counts them), and the first frame written (its
     * timestamp in the reader's units, AV_NOPTS_VALUE: none): rvmi_reader_damaged. */
    int64_t damaged, first_written;
} rvmi_segment;

/* One conversion, as `rvm FLAGS` runs it; seg (or NULL) limits it to a segment, whose
 * outputs then carry no audio (rvm join adds it once), and gets what was skipped in it.
 * Returns the exit code. */
int rvmi_convert(const rvmi_cli_options *opt, rvmi_segment *seg);

/* Protects the files a conversion with these options reads (the input, the background, the
 * checkpoint), in every form they are named: no output may be one or hold one. */
void rvmi_cli_protect_sources(const rvmi_cli_options *opt, rvmi_protected *prot);

/* The exit code for a video writer's failed write (a packet, the header, the trailer):
 * RVMI_EXIT_FAILURE when the pipe's reader closed it (EPIPE: no retry brings the reader
 * back), else RVMI_EXIT_TRANSIENT (a full disk, an I/O error: a retry can succeed). The
 * conversion, rvm render and rvm join all map writes so. */
int rvmi_cli_write_status(const rvmi_video_writer *w);

/* Checks the outputs opt names as a conversion does before it writes anything: codec and
 * container, an uncompressed pixel format against the container (.y4m, .yuv, .rgb, ...),
 * an image format's colours and transparency. The files need not exist (rvm batch checks
 * its templates once with it). Returns 0, or -1 with the conversion's message in err. */
int rvmi_cli_check_outputs(const rvmi_cli_options *opt, int templates, char *err,
                           size_t errlen);

/* The plural's "s" for a count in a message: "1 frame", "2 frames". */
static inline const char *rvmi_s(long long n)
{
    return n == 1 ? "" : "s";
}

/* "rvm: " + the message + newline, on stderr. */
void rvmi_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Subcommands: argv[0] is the subcommand's name. Each returns the exit code. */
int rvmi_plan_main(int argc, char **argv);
int rvmi_render_main(int argc, char **argv);
int rvmi_join_main(int argc, char **argv);
int rvmi_batch_main(int argc, char **argv);

#endif
