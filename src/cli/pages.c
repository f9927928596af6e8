/* SPDX-License-Identifier: GPL-3.0-or-later */
#define _GNU_SOURCE
#include "cli/pages.h"

#ifdef __linux__
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#endif
#ifdef __GLIBC__
#include <malloc.h>
#endif

/* The command links FFmpeg's libraries, which link ~140 more (codecs, protocols, formats:
 * librsvg, libopenmpt, libx265, GnuTLS, ...). Loading them all binds their symbols and runs
 * their constructors, and the kernel maps each page read with its neighbours (fault-around,
 * 64 KiB): `rvm --version` is 29 MB resident, nearly all of it clean pages of those files,
 * which the conversion then never reads again (it uses the H.264 decoder, x264, the muxers
 * and its own code). They count in the process's resident memory until the kernel reclaims
 * them under pressure; dropping them from the process's page tables here takes 24 MB off
 * the conversion's peak (README's 4K and 1080p conversions alike), and the pages the
 * conversion does use fault back in from the page cache (a few hundred minor faults).
 * Only mappings that cannot differ from their file are dropped: private, not writable, and
 * holding no anonymous (copied-on-write) page, such as a library's relocated RELRO part;
 * no writable mapping is touched, so nothing is lost. */
#ifdef __linux__
static void drop_clean_file_pages(void)
{
    FILE *f = fopen("/proc/self/smaps", "re");
    if (!f)
        return;
    char line[4096];
    unsigned long start = 0, end = 0;
    int candidate = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long a, b;
        char perms[8];
        int path_at = 0;
        if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &a, &b, perms, &path_at) == 3 &&
            path_at > 0) {
            /* A mapping's first line: readable, not writable, private, of a file. */
            start = a;
            end = b;
            candidate = perms[0] == 'r' && perms[1] == '-' && perms[3] == 'p' &&
                        line[path_at] == '/';
            continue;
        }
        if (candidate && strncmp(line, "Anonymous:", 10) == 0) {
            if (strtol(line + 10, NULL, 10) == 0 && end > start)
                (void)madvise((void *)start, end - start, MADV_DONTNEED);
            candidate = 0;
        }
    }
    fclose(f);
}
#endif

void rvmi_release_startup_pages(void)
{
#ifdef __GLIBC__
    /* The model's packing and the set-up's temporaries leave free pages inside malloc's
     * heaps (~3 MB). */
    (void)malloc_trim(0);
#endif
#ifdef __linux__
    drop_clean_file_pages();
#endif
}
