/* Library-wide internals: diagnostics for the caller's log function (rvm_set_log).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_LIBRARY_H
#define RVM_LIBRARY_H

#include <stdarg.h>
#include <stddef.h>

#include "rvm.h"

/* Formats a message and hands it to the log function, if one is set (else does nothing). */
void rvmi_log(rvm_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The one way the library reports an error: formats a message into err (errlen bytes; none
 * when errlen is 0), cleans it with rvmi_clean_text, and returns status. */
int rvmi_seterr(char *err, size_t errlen, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int rvmi_vseterr(char *err, size_t errlen, int status, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
/* The cleaning rule for messages: names and paths come from untrusted files and may hold any
 * byte, so every control character (below 0x20, and 0x7f) becomes '?': a message stays one
 * line, and a terminal showing it acts on no escape sequence. */
void rvmi_clean_text(char *s);
/* Copies len untrusted bytes (not NUL-terminated, and possibly holding NULs) for a message:
 * at most 60 of them, then "..."; a NUL becomes '?' (the message helper cleans the other
 * control characters). cap must be at least RVMI_EXCERPT_CAP. */
#define RVMI_EXCERPT_CAP 64
const char *rvmi_excerpt(const char *s, size_t len, char *buf, size_t cap);

/* The CPU time limit, in whole CPUs (rounded up), of the groups that proc_cgroup
 * (/proc/self/cgroup) names under root (/sys/fs/cgroup: cgroup v2's there, v1's cpu
 * controller's under root/cpu) and of their parents: the smallest; 0 when none is set or
 * readable. */
int rvmi_cgroup_cpu_limit(const char *root, const char *proc_cgroup);

#endif
