/* FFmpeg's log (and x264's, which goes through it), routed through rvm's: nothing is
 * printed beside rvm's own one-line messages unless --verbose; the last error a library
 * logged is kept, so rvm's message can say why.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_IO_AVLOG_H
#define RVM_IO_AVLOG_H

#include <stddef.h>

/* verbose: FFmpeg's messages are printed as FFmpeg prints them (AV_LOG_INFO and above). */
void rvmi_avlog_install(int verbose);
/* Whether FFmpeg's messages are printed (libraries with their own log, like x265, are
 * then left to print theirs). */
int rvmi_avlog_verbose(void);
/* Copies the last error logged since the previous call ("" if none) and forgets it. */
void rvmi_avlog_take_error(char *buf, size_t len);

#endif
