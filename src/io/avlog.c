/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "io/avlog.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <libavutil/log.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char last_error[512];
static int verbose;

static void on_log(void *avcl, int level, const char *fmt, va_list vl)
{
    if (verbose) {
        /* Printed as FFmpeg prints it, and kept too when an error (the reader reads FFmpeg's
         * reason: "moov atom not found"). */
        va_list copy;
        va_copy(copy, vl);
        av_log_default_callback(avcl, level, fmt, copy);
        va_end(copy);
    }
    if (level > AV_LOG_ERROR)
        return;
    char line[512];
    int print_prefix = 1;
    av_log_format_line2(avcl, level, fmt, vl, line, sizeof line, &print_prefix);
    /* One line: "[libx264 @ 0x...] message\n" becomes "libx264: message". */
    char *msg = line;
    if (msg[0] == '[') {
        char *at = strstr(msg, " @ "), *end = strchr(msg, ']');
        if (at && end && at < end) {
            memmove(msg + (at - msg), end, strlen(end) + 1);
            msg++;
            end = strchr(msg, ']');
            if (end) {
                end[0] = ':';
            }
        }
    }
    msg[strcspn(msg, "\r\n")] = '\0';
    if (!*msg)
        return;
    pthread_mutex_lock(&lock);
    snprintf(last_error, sizeof last_error, "%s", msg);
    pthread_mutex_unlock(&lock);
}

void rvmi_avlog_install(int be_verbose)
{
    verbose = be_verbose;
    av_log_set_level(be_verbose ? AV_LOG_INFO : AV_LOG_ERROR);
    av_log_set_callback(on_log);
}

int rvmi_avlog_verbose(void)
{
    return verbose;
}

void rvmi_avlog_take_error(char *buf, size_t len)
{
    pthread_mutex_lock(&lock);
    snprintf(buf, len, "%s", last_error);
    last_error[0] = '\0';
    pthread_mutex_unlock(&lock);
}
