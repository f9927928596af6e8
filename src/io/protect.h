/* Files that must never be written over (the input, the background, the checkpoint), in
 * whatever form they were named: plain paths, links, FFmpeg's local URLs (file:, cache:,
 * async:, subfile, concat:), stdin, and any file FFmpeg opened to read them.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_IO_PROTECT_H
#define RVM_IO_PROTECT_H

#include <stddef.h>
#include <sys/types.h>

typedef struct {
    dev_t dev;
    ino_t ino;
    int folder;
    char *real;       /* its absolute path (for the folders holding it), or NULL */
    char *name;       /* for messages */
    const char *what; /* "input", "background", "checkpoint" */
} rvmi_protected_file;

typedef struct {
    rvmi_protected_file *files;
    int count, cap;
} rvmi_protected;

/* Protects what source names: a path or an FFmpeg URL ("-" and "pipe:" are stdin). Names
 * that are not local (http://...) add nothing. */
void rvmi_protect_source(rvmi_protected *p, const char *source, const char *what);
/* Protects every regular file and folder this process has open for reading (what FFmpeg
 * opened for the inputs, however they were named; stdin redirected from a file). */
void rvmi_protect_open_files(rvmi_protected *p, const char *what);
/* Whether writing path (a file, or a folder of frames that will be replaced) would destroy
 * a protected file: the same file, or a folder holding one. Returns 0, or -1 with a
 * message, which names the output as shown (the name the user gave, "-: stdout" for
 * /dev/fd/1), or as path when shown is NULL. */
int rvmi_protect_check(const rvmi_protected *p, const char *flag, const char *path,
                       const char *shown, char *err, size_t errlen);
void rvmi_protect_free(rvmi_protected *p);

#endif
