/* The library as a whole: its version and where its diagnostics go.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "model/library.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define STR2(x) #x
#define STR(x) STR2(x)

int rvm_version(void) { return RVM_VERSION_NUMBER; }

const char *rvm_version_string(void)
{
    return STR(RVM_VERSION_MAJOR) "." STR(RVM_VERSION_MINOR) "." STR(RVM_VERSION_PATCH);
}

/* The function and its argument change together, and a call must not see one without the
 * other: both are read and used under the lock (messages are rare: a load, a new stream). */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static rvm_log_fn log_fn;
static void *log_user;

/* A child forked while another thread held the lock (a message being delivered) would wait
 * for it for ever at its first message: that thread does not exist in the child. The child
 * starts with the lock free (a plain store: fork handlers must be async-signal-safe). */
static void log_lock_after_fork(void) { log_lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER; }

static void watch_forks(void) { pthread_atfork(NULL, NULL, log_lock_after_fork); }

static void lock_log(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, watch_forks);
    pthread_mutex_lock(&log_lock);
}

void rvm_set_log(rvm_log_fn fn, void *user)
{
    lock_log();
    log_fn = fn;
    log_user = user;
    pthread_mutex_unlock(&log_lock);
}

void rvmi_log(rvm_log_level level, const char *fmt, ...)
{
    lock_log();
    if (log_fn) {
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        log_fn(log_user, level, msg);
    }
    pthread_mutex_unlock(&log_lock);
}

void rvmi_clean_text(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

const char *rvmi_excerpt(const char *s, size_t len, char *buf, size_t cap)
{
    size_t n = 0;
    size_t max = cap - 4;
    for (size_t i = 0; i < len && n < max; i++)
        buf[n++] = s[i] ? s[i] : '?';
    if (len > max) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
    return buf;
}

int rvmi_vseterr(char *err, size_t errlen, int status, const char *fmt, va_list ap)
{
    if (err && errlen > 0) {
        vsnprintf(err, errlen, fmt, ap);
        rvmi_clean_text(err);
    }
    return status;
}

int rvmi_seterr(char *err, size_t errlen, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rvmi_vseterr(err, errlen, status, fmt, ap);
    va_end(ap);
    return status;
}
