/* SPDX-License-Identifier: GPL-3.0-or-later */
#define _GNU_SOURCE
#include "io/protect.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void add(rvmi_protected *p, const struct stat *st, const char *real, const char *name,
                const char *what)
{
    for (int i = 0; i < p->count; i++)
        if (p->files[i].dev == st->st_dev && p->files[i].ino == st->st_ino)
            return;
    if (p->count == p->cap) {
        int cap = p->cap ? 2 * p->cap : 8;
        rvmi_protected_file *f = realloc(p->files, (size_t)cap * sizeof(*f));
        if (!f)
            return;
        p->files = f;
        p->cap = cap;
    }
    rvmi_protected_file *f = &p->files[p->count++];
    f->dev = st->st_dev;
    f->ino = st->st_ino;
    f->folder = S_ISDIR(st->st_mode);
    f->real = real ? strdup(real) : NULL;
    f->name = strdup(name);
    f->what = what;
}

static void add_path(rvmi_protected *p, const char *path, const char *name, const char *what)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return;
    char *real = realpath(path, NULL);
    add(p, &st, real, name, what);
    free(real);
}

static void add_fd(rvmi_protected *p, int fd, const char *name, const char *what)
{
    struct stat st;
    char link[64], real[PATH_MAX];
    if (fstat(fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)))
        return;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, real, sizeof real - 1);
    real[n > 0 ? n : 0] = '\0';
    add(p, &st, real[0] == '/' ? real : NULL, name, what);
}

/* The local file an FFmpeg URL reads, following its local protocols as FFmpeg does: "file:"
 * is dropped (so file:///a and file:a are the paths //a and a), "cache:" and "async:" wrap
 * another URL, "subfile,,opts,,:URL" reads part of URL, "concat:A|B" reads each. */
void rvmi_protect_source(rvmi_protected *p, const char *source, const char *what)
{
    const char *s = source;
    for (;;) {
        if (strncmp(s, "file:", 5) == 0)
            s += 5;
        else if (strncmp(s, "cache:", 6) == 0 || strncmp(s, "async:", 6) == 0)
            s += 6;
        else if (strncmp(s, "subfile,", 8) == 0 && strstr(s, ",:"))
            s = strstr(s, ",:") + 2;
        else
            break;
    }
    if (strcmp(s, "-") == 0 || strcmp(s, "pipe:") == 0 || strncmp(s, "pipe:", 5) == 0) {
        /* Named with the file the shell opened there (-i - <input.mkv), which is what the
         * user knows it by. */
        int fd = s[0] == '-' || !s[5] ? 0 : atoi(s + 5);
        char link[64], real[PATH_MAX], name[PATH_MAX + 64];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, real, sizeof real - 1);
        real[n > 0 ? n : 0] = '\0';
        if (real[0] == '/')
            snprintf(name, sizeof name, "%s: %s", source, real);
        else
            snprintf(name, sizeof name, "%s", source);
        add_fd(p, fd, name, what);
        return;
    }
    if (strncmp(s, "concat:", 7) == 0) {
        char *list = strdup(s + 7), *save = NULL;
        for (char *part = list ? strtok_r(list, "|", &save) : NULL; part;
             part = strtok_r(NULL, "|", &save))
            rvmi_protect_source(p, part, what);
        free(list);
        return;
    }
    add_path(p, s, source, what);
}

void rvmi_protect_open_files(rvmi_protected *p, const char *what)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return;
    int self = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        int fd = atoi(e->d_name);
        if (fd == self)
            continue;
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || (fl & O_ACCMODE) != O_RDONLY)
            continue;
        char link[64], real[PATH_MAX];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, real, sizeof real - 1);
        real[n > 0 ? n : 0] = '\0';
        add_fd(p, fd, real[0] ? real : "an open file", what);
    }
    closedir(d);
}

int rvmi_protect_check(const rvmi_protected *p, const char *flag, const char *path,
                       const char *shown, char *err, size_t errlen)
{
    const char *name = shown ? shown : path;
    struct stat st;
    if (stat(path, &st) < 0)
        return 0;
    for (int i = 0; i < p->count; i++) {
        const rvmi_protected_file *f = &p->files[i];
        if (f->dev == st.st_dev && f->ino == st.st_ino) {
            snprintf(err, errlen, "%s %s is the %s (%s); refusing to write over it", flag, name,
                     f->what, f->name);
            return -1;
        }
    }
    if (!S_ISDIR(st.st_mode))
        return 0;
    /* A folder output is replaced as a whole: it must not hold a protected file at any
     * depth (compared by device and inode along the file's real path, so links and "../"
     * do not hide it). */
    for (int i = 0; i < p->count; i++) {
        const rvmi_protected_file *f = &p->files[i];
        if (!f->real)
            continue;
        char *q = strdup(f->real);
        char *slash;
        int inside = 0;
        while (q && !inside && (slash = strrchr(q, '/'))) {
            if (slash == q)
                slash[1] = '\0';
            else
                *slash = '\0';
            struct stat a;
            inside = stat(q, &a) == 0 && a.st_dev == st.st_dev && a.st_ino == st.st_ino;
            if (slash == q)
                break;
        }
        free(q);
        if (inside) {
            snprintf(err, errlen, "%s %s holds the %s (%s); refusing to replace the folder",
                     flag, name, f->what, f->name);
            return -1;
        }
    }
    return 0;
}

void rvmi_protect_free(rvmi_protected *p)
{
    for (int i = 0; i < p->count; i++) {
        free(p->files[i].real);
        free(p->files[i].name);
    }
    free(p->files);
    p->files = NULL;
    p->count = p->cap = 0;
}
