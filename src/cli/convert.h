/* The conversion the rvm command runs, callable by another program in its own process (the
 * Python package's convert_video): the command's options, an optional loaded model, a stop
 * flag, and where messages and progress go. Nothing here touches signals or other
 * process-wide settings, except FFmpeg's log callback (rvm's, which keeps the last error).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_CLI_CONVERT_H
#define RVM_CLI_CONVERT_H

#include <stdatomic.h>
#include <stdint.h>

#include "cli/options.h"
#include "rvm.h"

typedef enum {
    RVMI_MESSAGE_ERROR,   /* why the run failed */
    RVMI_MESSAGE_WARNING, /* something the outputs lack (damaged audio skipped, ...) */
    RVMI_MESSAGE_NOTICE,  /* about the input or the run (tone-mapped, interrupted, ...) */
} rvmi_message_kind;

typedef struct {
    /* Each line the command would print, without its "rvm: " (and "warning: ") prefix.
     * Notices about the input come from the thread that decodes; the rest from the calling
     * thread. */
    void (*message)(void *user, rvmi_message_kind kind, const char *text);
    /* From the calling thread, about every 0.1 s while frames are converted and once at
     * the end: frames written, and the total expected (<= 0: unknown). */
    void (*progress)(void *user, int64_t done, int64_t total);
    void *user;
} rvmi_convert_hooks;

/* Runs one conversion as `rvm` does with these options (opt->no_progress and
 * opt->progress_fd are honoured as the command does) and returns its exit code (cli/cli.h:
 * 0, 1, 2, 3, 75; 128 + *stop when stopped, the outputs then hold the frames done, or are
 * removed when none was done). model: a loaded model to use (NULL: load opt->checkpoint as
 * the command does; opt->checkpoint is protected from being written over either way).
 * Setting *stop to a signal number stops the run as that signal stops the command. */
int rvmi_convert_in_process(const rvmi_cli_options *opt, const rvm_model *model,
                            atomic_int *stop, const rvmi_convert_hooks *hooks);

#endif
