/* Library-wide internals: diagnostics for the caller's log function (rvm_set_log).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_LIBRARY_H
#define RVM_LIBRARY_H

#include "rvm.h"

/* Formats a message and hands it to the log function, if one is set (else does nothing). */
void rvmi_log(rvm_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
