/* Memory the command's process no longer needs once a conversion is set up.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_CLI_PAGES_H
#define RVM_CLI_PAGES_H

/* Gives back what setting up left behind: malloc's free pages, and the clean read-only
 * pages of the files mapped (the shared libraries' pages that loading them touched). Only
 * for a process the command owns (it reaches every mapping of the process); pages used
 * again come back from the page cache (a minor fault). Linux (glibc for malloc's); a no-op
 * elsewhere. */
void rvmi_release_startup_pages(void);

#endif
