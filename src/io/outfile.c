/* SPDX-License-Identifier: GPL-3.0-or-later */
#define _GNU_SOURCE /* renameat2, getdents64, syncfs */
#include "io/outfile.h"
#include "io/image.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io/writer.h"

/* ---- what a run has made, for a signal handler to remove ----
 * Paths are copied into static slots when registered and never freed, so the handler can
 * read them at any instant from any thread. Only the main thread registers. */
#define CLEANUP_SLOTS 160
enum { CLEAN_NONE, CLEAN_FILE, CLEAN_FRAMES, CLEAN_FOLDER };
static struct {
    atomic_int kind; /* CLEAN_NONE once dropped */
    char path[PATH_MAX];
} slots[CLEANUP_SLOTS];
static atomic_int slots_used;

/* Returns the slot's number plus one (0: none, so that a zeroed rvmi_outfile holds none). */
static int cleanup_add(int kind, const char *path)
{
    size_t n = strlen(path);
    int i = atomic_load(&slots_used);
    if (n >= PATH_MAX || i >= CLEANUP_SLOTS)
        return 0; /* not removable by a signal; the normal paths still remove it */
    memcpy(slots[i].path, path, n + 1);
    atomic_store(&slots[i].kind, kind);
    atomic_store(&slots_used, i + 1);
    return i + 1;
}

static void cleanup_drop(int slot)
{
    if (slot > 0)
        atomic_store(&slots[slot - 1].kind, CLEAN_NONE);
}

/* Frame names (NNNN.png, NNNNN.png from 10000.png on) and the writer's hidden partial frames
 * (.NNNN.png.part). No library calls: used by the signal handler. */
static int frame_like(const char *name, int *partial)
{
    int hidden = name[0] == '.';
    const char *s = name + hidden;
    int digits = 0;
    while (s[digits] >= '0' && s[digits] <= '9')
        digits++;
    /* The writer's %04d: exactly 4 digits, or more without a leading zero (frame 10000 on);
     * 00001.png is not one of ours but may be the user's (ffmpeg's %05d). */
    if (digits < 4 || digits > 9 || (digits > 4 && s[0] == '0'))
        return 0;
    const char *want = hidden ? ".png.part" : ".png";
    s += digits;
    while (*want && *s == *want)
        s++, want++;
    if (*want || *s)
        return 0;
    *partial = hidden;
    return 1;
}

int rvmi_is_frame_name(const char *name)
{
    int partial;
    return frame_like(name, &partial) && !partial;
}

/* Removes a staging folder: its frames and partial frames, then the folder if that left it
 * empty (anything else in it is not ours and stays). Async-signal-safe (getdents64 on a
 * static buffer; the handler runs once: see rvmi_cleanup_now). */
static void remove_frames_folder(const char *path)
{
    static char buf[8192];
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        for (;;) {
            ssize_t n = getdents64(fd, buf, sizeof buf);
            if (n <= 0)
                break;
            for (ssize_t off = 0; off < n;) {
                struct dirent64 *e = (struct dirent64 *)(buf + off);
                int partial;
                if (frame_like(e->d_name, &partial))
                    unlinkat(fd, e->d_name, 0);
                off += e->d_reclen;
            }
        }
        close(fd);
    }
    rmdir(path);
}

void rvmi_cleanup_now(void)
{
    static atomic_flag once = ATOMIC_FLAG_INIT;
    if (atomic_flag_test_and_set(&once))
        return;
    for (int i = atomic_load(&slots_used) - 1; i >= 0; i--) {
        switch (atomic_load(&slots[i].kind)) {
        case CLEAN_FILE:
            unlink(slots[i].path);
            break;
        case CLEAN_FRAMES:
            remove_frames_folder(slots[i].path);
            break;
        case CLEAN_FOLDER:
            rmdir(slots[i].path); /* only when empty */
            break;
        default:
            break;
        }
    }
}

/* ---- output files ---- */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Why a file or folder could not be made beside the output, as the command's exit code
 * needs it: the place refuses it (no permission, a read-only file system, a missing or
 * not-a-folder component: the name's, as given; no retry helps) or the moment does (a full
 * disk or quota, an I/O error, too many open files: a retry can succeed). */
static void classify(rvmi_outfile *o, int e)
{
    if (e == EACCES || e == EPERM || e == EROFS || e == ENOENT || e == ENOTDIR ||
        e == ENAMETOOLONG || e == ELOOP)
        o->refused = 1;
    else if (e == ENOSPC || e == EDQUOT || e == EIO || e == ENOMEM || e == EMFILE ||
             e == ENFILE || e == EAGAIN)
        o->transient = 1;
}

/* O_EXCL checks anyway where a name is created. */
void rvmi_random_hex(char out[17])
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) != (ssize_t)sizeof v) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        v ^= (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)ts.tv_sec ^
             ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)out;
    }
    snprintf(out, 17, "%016llx", (unsigned long long)v);
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* The final path's folder and last component. "." and ".." (a folder output) are resolved
 * first, since they cannot be renamed. */
static int split_path(rvmi_outfile *o, char *err, size_t errlen)
{
    char *a = strdup(o->path), *b = strdup(o->path);
    if (a && b) {
        const char *base = basename(b);
        if (strcmp(base, ".") == 0 || strcmp(base, "..") == 0 || strcmp(base, "/") == 0) {
            char *real = realpath(o->path, NULL);
            if (!real || strcmp(real, "/") == 0) {
                set_err(err, errlen, "%s %s: cannot use this folder as an output", o->flag,
                        o->path);
                free(real);
                free(a);
                free(b);
                return -1;
            }
            free(a);
            free(b);
            a = strdup(real);
            b = real;
            base = a && b ? basename(b) : NULL;
        }
        if (a && b) {
            o->dir = strdup(dirname(a));
            o->base = strdup(base);
        }
    }
    free(a);
    free(b);
    if (!o->dir || !o->base) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* Makes dir and its missing parents, registering each folder made (so a failure, or a
 * signal, removes exactly those, when empty). */
static int make_parents(rvmi_outfile *o, char *err, size_t errlen)
{
    struct stat st;
    if (stat(o->dir, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return 0;
        /* The name's own mistake (a file where its folder should be), the same on every
         * retry: exit 2, as ENOTDIR from mkdir is (it was 1). */
        o->refused = 1;
        set_err(err, errlen, "%s %s: %s is not a folder", o->flag, o->path, o->dir);
        return -1;
    }
    char *p = strdup(o->dir);
    if (!p) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0777) == 0) {
            int slot = cleanup_add(CLEAN_FOLDER, p);
            if (o->made_count == 0)
                o->made_first = slot;
            /* Consecutive slots (only this loop registers meanwhile); none once full. */
            if (slot && o->made_first)
                o->made_count++;
            else
                o->made_first = o->made_count = 0;
        } else if (errno != EEXIST) {
            classify(o, errno);
            set_err(err, errlen, "%s %s: cannot create folder %s: %s", o->flag, o->path, p,
                    strerror(errno));
            free(p);
            return -1;
        }
        *s = c;
        if (c == '\0')
            break;
    }
    free(p);
    if (stat(o->dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        o->refused = 1;
        set_err(err, errlen, "%s %s: %s is not a folder", o->flag, o->path, o->dir);
        return -1;
    }
    return 0;
}

/* The NAME of the hidden names beside an output (.NAME.rvm-lock, .NAME.<hex>.rvm-part,
 * .NAME.<hex>.rvm-stage): the output's own name while the longest of them (28 bytes more)
 * fits the folder's limit on a name (pathconf: 255 bytes on most file systems, so an output
 * name of 228 bytes or more), else its first bytes, cut before a UTF-8 character that would
 * not fit whole, then "~" and a hash of the whole name. Derived from the name alone, so every
 * run into one output takes the same lock (two runs still exclude each other) and a later
 * run finds what a killed one left (remove_stale). */
#define HIDDEN_EXTRA 28 /* "." + "." + 16 hex + ".rvm-stage" */

/* The folder's limit on a name (pathconf), from its nearest existing parent when it is not
 * made yet (a render's output folder: the same limit before and after); 0: none. */
static long name_max(const char *dir)
{
    char *d = malloc(strlen(dir) + 2); /* room for "." */
    if (d)
        strcpy(d, dir);
    long max = -1;
    for (;;) {
        errno = 0;
        max = pathconf(d ? d : dir, _PC_NAME_MAX);
        if (max >= 0 || errno != ENOENT || !d)
            break;
        char *slash = strrchr(d, '/');
        if (!slash || slash == d) {
            if (slash)
                d[1] = '\0';
            else
                strcpy(d, ".");
            errno = 0;
            max = pathconf(d, _PC_NAME_MAX);
            break;
        }
        *slash = '\0';
    }
    int e = errno;
    free(d);
    if (max < 0 && e == 0)
        return 0;
    return max < 0 ? NAME_MAX : max;
}

long rvmi_outfile_name_too_long(const char *path, size_t *len)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    size_t b = n;
    while (b > 0 && path[b - 1] != '/')
        b--;
    *len = n - b;
    if (n - b <= 14) /* POSIX's least _POSIX_NAME_MAX: fits everywhere */
        return 0;
    char *dir = b == 0 ? strdup(".") : b == 1 ? strdup("/") : strndup(path, b - 1);
    if (!dir)
        return 0; /* out of memory: the rename says it later */
    long max = name_max(dir);
    free(dir);
    return max > 0 && (long)(n - b) > max ? max : 0;
}

int rvmi_outfile_folder_refuses(const char *path, int make_missing, char *err, size_t errlen)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    while (n > 0 && path[n - 1] != '/')
        n--;
    char *dir = n == 0 ? strdup(".") : n == 1 ? strdup("/") : strndup(path, n - 1);
    if (!dir)
        return 0; /* out of memory: the write says so */
    const char *why = NULL;
    struct stat st;
    for (;;) {
        if (stat(dir, &st) == 0) {
            if (!S_ISDIR(st.st_mode))
                why = "not a folder";
            else if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) < 0)
                why = strerror(errno);
            break;
        }
        /* ENOTDIR: a file on the way, named itself below (not the path under it). */
        if (errno != ENOTDIR && (errno != ENOENT || !make_missing)) {
            why = errno == ENOENT ? "no such folder" : strerror(errno);
            break;
        }
        /* Missing, to be made: its parent must take it. */
        char *slash = strrchr(dir, '/');
        if (!slash) {
            strcpy(dir, ".");
        } else {
            while (slash > dir && slash[-1] == '/')
                slash--;
            slash[slash == dir] = '\0';
        }
    }
    if (why)
        set_err(err, errlen, "cannot write in %s: %s", dir, why);
    free(dir);
    return why ? -1 : 0;
}

char *rvmi_outfile_stem(const char *dir, const char *base)
{
    size_t len = strlen(base);
    long max = name_max(dir);
    if (max == 0)
        return strdup(base); /* no limit */
    if ((long)len + HIDDEN_EXTRA <= max)
        return strdup(base);
    /* FNV-1a, 64 bits: stable across runs, versions and machines. */
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *c = (const unsigned char *)base; *c; c++)
        h = (h ^ *c) * 0x100000001b3ull;
    long room = max - HIDDEN_EXTRA - 17; /* "~" + 16 hex */
    size_t keep = room > 0 ? (size_t)room : 0;
    if (keep > len)
        keep = len;
    while (keep > 0 && ((unsigned char)base[keep] & 0xC0) == 0x80)
        keep--; /* base[keep], the first byte left out, continues a character */
    size_t n = keep + 18;
    char *stem = malloc(n);
    if (stem)
        snprintf(stem, n, "%.*s~%016llx", (int)keep, base, (unsigned long long)h);
    return stem;
}

char *rvmi_outfile_sibling(const char *dir, const char *prefix, const char *base,
                           const char *suffix)
{
    long max = name_max(dir);
    size_t extra = strlen(prefix) + strlen(suffix);
    char *stem = max == 0 || (long)(strlen(base) + extra) <= max ? strdup(base)
                                                                 : rvmi_outfile_stem(dir, base);
    size_t n = stem ? strlen(stem) + extra + 1 : 0;
    char *s = stem ? malloc(n) : NULL;
    if (s)
        snprintf(s, n, "%s%s%s", prefix, stem, suffix);
    free(stem);
    return s;
}

/* One run at a time per output: a second run into the same file or folder would leave a
 * mix. The lock is flock on ".NAME.rvm-lock" beside the output; it is released when the
 * process dies however it dies, so a lock file left by a killed run is simply taken over.
 * The file is removed when the run ends; whoever locked a file that was removed meanwhile
 * sees that it is no longer at its path and tries again. */
static int take_lock(rvmi_outfile *o, char *err, size_t errlen)
{
    if (!(o->stem = rvmi_outfile_stem(o->dir, o->base))) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    size_t n = strlen(o->dir) + strlen(o->stem) + 16;
    if (!(o->lock_path = malloc(n))) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    snprintf(o->lock_path, n, "%s/.%s.rvm-lock", o->dir, o->stem);
    for (int attempt = 0; attempt < 100; attempt++) {
        int fd = open(o->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
        if (fd < 0) {
            /* The lock is the first file made beside the output: a folder that takes
             * nothing is said of the output and its folder (the lock's name means nothing
             * to the user). The folder exists (make_parents): ENOENT there is a file system
             * that takes no new files (/proc, /sys), whose "No such file" would mislead.
             * Anything else is the lock's own (a folder in its place): named. */
            int e = errno;
            classify(o, e);
            if (e == ENOENT)
                set_err(err, errlen, "%s %s: cannot write in %s: its file system takes no new "
                                     "files", o->flag, o->path, o->dir);
            else if (e == EACCES || e == EPERM || e == EROFS)
                set_err(err, errlen, "%s %s: cannot write in %s: %s", o->flag, o->path, o->dir,
                        strerror(e));
            else
                set_err(err, errlen, "%s %s: cannot create %s: %s", o->flag, o->path,
                        o->lock_path, strerror(e));
            return -1;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
            int e = errno;
            char pid[32] = "";
            ssize_t got = pread(fd, pid, sizeof pid - 1, 0);
            pid[got > 0 ? got : 0] = '\0';
            pid[strcspn(pid, "\n")] = '\0';
            close(fd);
            if (e == EWOULDBLOCK) {
                /* Retrying once the other run has ended can succeed (exit 75). */
                o->transient = 1;
                set_err(err, errlen,
                        "%s %s is being written by another rvm run%s%s%s; wait for it to end "
                        "or choose another name",
                        o->flag, o->path, *pid ? " (pid " : "", pid, *pid ? ")" : "");
            } else
                set_err(err, errlen, "%s: cannot lock %s: %s", o->flag, o->lock_path,
                        strerror(e));
            return -1;
        }
        struct stat held, now;
        if (fstat(fd, &held) == 0 && stat(o->lock_path, &now) == 0 && held.st_dev == now.st_dev &&
            held.st_ino == now.st_ino) {
            char pid[32];
            int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
            if (ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)len, 0) == len) {
                /* only informative (the message above) */
            }
            o->lock_fd = fd;
            o->locked = 1;
            o->lock_slot = cleanup_add(CLEAN_FILE, o->lock_path);
            return 0;
        }
        close(fd); /* removed by the run that held it: try again */
    }
    set_err(err, errlen, "%s: cannot lock %s", o->flag, o->lock_path);
    return -1;
}

/* Whether NAME in folder A and in folder B is one file (two links). */
static int same_file_at(int a, int b, const char *name)
{
    struct stat sa, sb;
    return fstatat(a, name, &sa, AT_SYMLINK_NOFOLLOW) == 0 &&
           fstatat(b, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* Whether NAME in folders A and B are regular files of the same bytes (a copy of the same
 * file, as a folder restored from a backup holds). */
static int same_content_at(int a, int b, const char *name)
{
    struct stat sa, sb;
    int fa = openat(a, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    int fb = openat(b, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    int same = fa >= 0 && fb >= 0 && fstat(fa, &sa) == 0 && fstat(fb, &sb) == 0 &&
               S_ISREG(sa.st_mode) && S_ISREG(sb.st_mode) && sa.st_size == sb.st_size;
    char ba[4096], bb[4096];
    while (same) {
        ssize_t na = read(fa, ba, sizeof ba), nb = na > 0 ? read(fb, bb, (size_t)na) : 0;
        if (na <= 0) {
            same = na == 0;
            break;
        }
        same = nb == na && memcmp(ba, bb, (size_t)na) == 0;
    }
    if (fa >= 0)
        close(fa);
    if (fb >= 0)
        close(fb);
    return same;
}

/* Before the new folder of frames takes the old one's place: whatever the old folder holds
 * besides frames (the user's other files) gets a second name in the new folder (a hard link),
 * so that the path holds those files at every moment, even when the run dies between the
 * swap and settle_folder. What cannot be linked (folders, file systems without hard
 * links) is moved after the swap. */
static void link_others(const char *old_path, const char *new_path)
{
    int odir = open(old_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int ndir = open(new_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = odir >= 0 ? fdopendir(dup(odir)) : NULL;
    if (d && ndir >= 0) {
        struct dirent *e;
        int partial;
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
                frame_like(e->d_name, &partial))
                continue;
            if (linkat(odir, e->d_name, ndir, e->d_name, 0) < 0)
                continue; /* moved after the swap instead */
        }
    }
    if (d)
        closedir(d);
    if (odir >= 0)
        close(odir);
    if (ndir >= 0)
        close(ndir);
}

/* Empties FROM, a folder of frames beside the output folder INTO (the old sequence after the
 * swap, or a dead run's staging folder): frames are removed, and so are the other entries
 * that INTO holds as the same file (link_others' links) or, unless `replace`, as a file of the
 * same bytes; the rest (the user's files) moves into INTO, replacing nothing unless
 * `replace`. Then FROM is removed if empty. Returns 0, or 1 with a warning in err (if err is
 * not NULL). */
static int settle_folder(const char *from, const char *into, int replace, const char *flag,
                         char *err, size_t errlen)
{
    int fdir = open(from, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int idir = open(into, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fdir >= 0 ? fdopendir(dup(fdir)) : NULL;
    int warned = 0;
    if (d && idir >= 0) {
        struct dirent *e;
        while ((e = readdir(d))) {
            int partial;
            struct stat st;
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            if (frame_like(e->d_name, &partial) || same_file_at(fdir, idir, e->d_name))
                unlinkat(fdir, e->d_name, 0);
            else if (!replace && fstatat(idir, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                /* A copy of the same bytes goes; a different file of that name: both stay. */
                if (same_content_at(fdir, idir, e->d_name))
                    unlinkat(fdir, e->d_name, 0);
            } else if (renameat(fdir, e->d_name, idir, e->d_name) < 0 && err && !warned) {
                set_err(err, errlen, "%s: could not move %s/%s back into %s: %s", flag, from,
                        e->d_name, into, strerror(errno));
                warned = 1;
            }
        }
    }
    if (d)
        closedir(d);
    if (fdir >= 0)
        close(fdir);
    if (idir >= 0)
        close(idir);
    if (rmdir(from) < 0 && err && !warned) {
        set_err(err, errlen, "%s: the replaced folder's other files stay in %s", flag, from);
        warned = 1;
    }
    return warned;
}

/* What follows ".NAME." in the name of a part file or staging folder of an earlier run:
 * 16 hex digits then the suffix. */
static int is_ours(const char *rest, const char *suffix)
{
    for (int i = 0; i < 16; i++)
        if (!((rest[i] >= '0' && rest[i] <= '9') || (rest[i] >= 'a' && rest[i] <= 'f')))
            return 0;
    return strcmp(rest + 16, suffix) == 0;
}

/* With the lock held no other run writes this output, so the part files and staging
 * folders beside it are from runs that died (SIGKILL, out of memory, power loss): removed.
 * A staging folder's other files than frames are the user's (link_others' links, or all
 * that is left of them): given back to the output folder if it exists, else kept until it
 * does (a new folder's commit calls this again); one that differs from the output folder's
 * file of its name stays where it is. Also ".NAME.PID.rvm-part" of older rvm versions whose
 * process is gone. */
static void remove_stale(const rvmi_outfile *o)
{
    DIR *d = opendir(o->dir);
    if (!d)
        return;
    size_t bl = strlen(o->stem);
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *name = e->d_name;
        if (name[0] != '.' || strncmp(name + 1, o->stem, bl) != 0 || name[1 + bl] != '.')
            continue;
        const char *rest = name + 2 + bl;
        char *full = join(o->dir, name);
        if (!full)
            break;
        if (is_ours(rest, ".rvm-part")) {
            unlink(full);
        } else if (is_ours(rest, ".rvm-stage")) {
            /* A run that died after its swap may have left the user's files here. */
            struct stat st;
            if (stat(o->path, &st) == 0 && S_ISDIR(st.st_mode))
                settle_folder(full, o->path, 0, o->flag, NULL, 0);
            else
                remove_frames_folder(full);
        } else {
            char *end;
            long pid = strtol(rest, &end, 10);
            if (end != rest && strcmp(end, ".rvm-part") == 0 && pid > 0 &&
                (pid == (long)getpid() || (kill((pid_t)pid, 0) < 0 && errno == ESRCH)))
                unlink(full);
        }
        free(full);
    }
    closedir(d);
}

/* The hidden file (or folder) written until complete: ".NAME.<random>.rvm-part" (or
 * ".rvm-stage"), created exclusively. */
static int create_write_path(rvmi_outfile *o, char *err, size_t errlen)
{
    size_t n = strlen(o->dir) + strlen(o->stem) + 40;
    if (!(o->write_path = malloc(n))) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    for (int attempt = 0; attempt < 16; attempt++) {
        char hex[17];
        rvmi_random_hex(hex);
        snprintf(o->write_path, n, "%s/.%s.%s.%s", o->dir, o->stem, hex,
                 o->folder ? "rvm-stage" : "rvm-part");
        int ok;
        if (o->folder) {
            ok = mkdir(o->write_path, 0777) == 0;
        } else {
            int fd = open(o->write_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
            ok = fd >= 0;
            if (ok)
                close(fd);
        }
        if (ok) {
            o->write_slot = cleanup_add(o->folder ? CLEAN_FRAMES : CLEAN_FILE, o->write_path);
            return 0;
        }
        if (errno != EEXIST)
            break;
    }
    classify(o, errno);
    set_err(err, errlen, "%s: cannot create %s: %s", o->flag, o->write_path, strerror(errno));
    free(o->write_path);
    o->write_path = NULL;
    return -1;
}

/* One step along a chain of links: cur becomes the name the link cur holds (a relative one
 * taken from the link's folder). 1 if cur was a link, 0 if not (or there is nothing there),
 * -1 on error (errno). */
static int follow_link(char cur[PATH_MAX])
{
    char link[PATH_MAX];
    struct stat lst;
    if (lstat(cur, &lst) < 0 || !S_ISLNK(lst.st_mode))
        return 0;
    ssize_t n = readlink(cur, link, sizeof link - 1);
    if (n < 0)
        return -1;
    link[n] = '\0';
    if (link[0] == '/') {
        strcpy(cur, link);
        return 1;
    }
    char *slash = strrchr(cur, '/');
    size_t dir = slash ? (size_t)(slash - cur) + 1 : 0;
    if (dir + (size_t)n >= PATH_MAX) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(cur + dir, link, (size_t)n + 1);
    return 1;
}

/* The descriptor name path is, or a chain of links ends at (/dev/fd/N, /proc/.../fd/N),
 * copied into cur; 0 when it names none. */
static int descriptor_name(const char *path, char cur[PATH_MAX])
{
    if (strlen(path) >= PATH_MAX)
        return 0;
    strcpy(cur, path);
    for (int hops = 0; hops < 40; hops++) { /* the kernel's own limit on a chain of links */
        if (strncmp(cur, "/dev/fd/", 8) == 0 ||
            (strncmp(cur, "/proc/", 6) == 0 && strstr(cur, "/fd/")))
            return 1;
        if (follow_link(cur) <= 0)
            return 0;
    }
    return 0;
}

/* Whether stdout or stderr, other than descriptor fd, writes into the file st describes. */
static int shared_std(int fd, const struct stat *st)
{
    for (int std = STDOUT_FILENO; std <= STDERR_FILENO; std++) {
        struct stat s;
        if (std != fd && fstat(std, &s) == 0 && s.st_dev == st->st_dev && s.st_ino == st->st_ino)
            return 1;
    }
    return 0;
}

int rvmi_outfile_names_descriptor(const char *path)
{
    char cur[PATH_MAX];
    return descriptor_name(path, cur);
}

int rvmi_outfile_own_descriptor(const char *path)
{
    char cur[PATH_MAX], own[64];
    if (!descriptor_name(path, cur))
        return -1;
    const char *num = NULL;
    snprintf(own, sizeof own, "/proc/%ld/fd/", (long)getpid());
    static const char *const mine[] = {"/dev/fd/", "/proc/self/fd/", "/proc/thread-self/fd/"};
    for (size_t i = 0; i < sizeof mine / sizeof mine[0]; i++)
        if (strncmp(cur, mine[i], strlen(mine[i])) == 0)
            num = cur + strlen(mine[i]);
    if (strncmp(cur, own, strlen(own)) == 0)
        num = cur + strlen(own);
    char *end;
    long fd = num && *num >= '0' && *num <= '9' ? strtol(num, &end, 10) : -1;
    return fd >= 0 && fd <= INT_MAX && *end == '\0' && fcntl((int)fd, F_GETFD) >= 0 ? (int)fd
                                                                                    : -1;
}

int rvmi_outfile_link_target(const char *path, char out[PATH_MAX])
{
    if (strlen(path) >= PATH_MAX) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(out, path);
    for (int hops = 0; hops < 40; hops++) { /* the kernel's own limit on a chain of links */
        int r = follow_link(out);
        if (r <= 0)
            return r < 0 ? -1 : hops > 0;
    }
    errno = ELOOP;
    return -1;
}

int rvmi_outfile_prepare(rvmi_outfile *o, int overwrite, char *err, size_t errlen)
{
    o->locked = 0;
    o->refused = 0;
    o->transient = 0;
    o->through_fd = 0;
    o->reopened_fd = 0;
    o->lock_slot = 0;
    o->write_slot = 0;
    o->made_first = 0;
    o->made_count = 0;
    struct stat st;
    int exists = stat(o->path, &st) == 0;
    if (o->folder) {
        if (exists && !S_ISDIR(st.st_mode)) {
            set_err(err, errlen, "%s %s exists and is not a folder", o->flag, o->path);
            o->refused = 1;
            return -1;
        }
        if (exists && !overwrite && rvmi_png_sequence_exists(o->path)) {
            set_err(err, errlen, "%s %s already holds a PNG sequence (use -y to overwrite)",
                    o->flag, o->path);
            o->refused = 1;
            return -1;
        }
    } else {
        if (exists && S_ISDIR(st.st_mode)) {
            set_err(err, errlen,
                    "%s %s is a folder (a video file name is needed, or use --output-type "
                    "png_sequence)",
                    o->flag, o->path);
            o->refused = 1;
            return -1;
        }
        if (exists && (!S_ISREG(st.st_mode) || rvmi_outfile_names_descriptor(o->path))) {
            /* A device or pipe (/dev/null, a FIFO), or an open descriptor (/dev/stdout
             * redirected to a file: the shell made the file): written directly, nothing to
             * protect. But a file the shell opened to append to (3>>file) or holding data
             * before the descriptor's offset ({ echo; rvm; } >file) keeps it: opening the
             * name again would truncate it, so the descriptor itself is written, from where
             * it stands (at the end with >>), as a stream (not seekable: what the muxer would
             * go back to rewrite would land at the end). An empty file opened to append to
             * has nothing to keep: it is opened again by name (a description of its own,
             * without O_APPEND, from 0) and written as a file, with the duration and index
             * the muxer goes back to write, as 3>file gets them; unless stderr or stdout
             * writes into it too (2>&1), whose appended lines the file's rewrites would
             * overwrite. */
            int fd = S_ISREG(st.st_mode) ? rvmi_outfile_own_descriptor(o->path) : -1;
            int fl = fd >= 0 ? fcntl(fd, F_GETFL) : -1;
            char pipe[32];
            o->direct = 1;
            /* Written as a file only when that loses nothing: the file is empty, the
             * descriptor at its start, and neither stdout nor stderr writes into it besides
             * (their lines would land where the muxer's bytes are). A non-empty file opened
             * to write from its start (1<>f) was never truncated by rvm either. */
            int from_start = st.st_size == 0 && lseek(fd, 0, SEEK_CUR) == 0 &&
                             !shared_std(fd, &st);
            if (fl >= 0 && (fl & O_ACCMODE) != O_RDONLY && !from_start) {
                snprintf(pipe, sizeof pipe, "pipe:%d", fd);
                o->write_path = strdup(pipe);
                o->through_fd = 1;
            } else {
                o->write_path = strdup(o->path);
                /* Its own description leaves the descriptor's offset at 0: commit moves it
                 * past what was written, where writing through it would have left it, so
                 * that what the shell writes next ({ rvm ...; echo; } >f) comes after. */
                if (fl >= 0 && (fl & O_ACCMODE) != O_RDONLY)
                    o->reopened_fd = fd + 1;
            }
            if (!o->write_path)
                set_err(err, errlen, "out of memory");
            return o->write_path ? 0 : -1;
        }
        if (exists && !overwrite) {
            set_err(err, errlen, "%s %s exists (use -y to overwrite)", o->flag, o->path);
            o->refused = 1;
            return -1;
        }
    }
    if (exists) {
        o->replaces = 1;
        o->old = st;
    }
    char target[PATH_MAX];
    int link = rvmi_outfile_link_target(o->path, target);
    if (link < 0) {
        set_err(err, errlen, "%s %s: %s", o->flag, o->path, strerror(errno));
        o->refused = errno == ELOOP; /* the name's, on every retry */
        return -1;
    }
    if (link && !(o->folder && exists)) {
        /* A file named by a link (also one to a file still to be made, and a folder of
         * frames still to be made): staged beside what the link names and renamed onto it,
         * so the link stays and names the new file (a rename onto the link itself would
         * replace it with a file, or fail for a folder after the whole conversion). */
        if (!(o->resolved = strdup(target))) {
            set_err(err, errlen, "out of memory");
            return -1;
        }
        o->path = o->resolved;
    }
    struct stat lst;
    if (o->folder && exists && lstat(o->path, &lst) == 0 && S_ISLNK(lst.st_mode)) {
        /* The swap renames what the path names: the link itself would be swapped out (hidden
         * as a staging folder) and the folder it points to emptied into a new real folder.
         * The folder it points to is the output. */
        if (!(o->resolved = realpath(o->path, NULL))) {
            set_err(err, errlen, "%s %s: %s", o->flag, o->path, strerror(errno));
            return -1;
        }
        o->path = o->resolved;
    }
    if (split_path(o, err, errlen) < 0 || make_parents(o, err, errlen) < 0 ||
        take_lock(o, err, errlen) < 0) {
        rvmi_outfile_discard(o);
        return -1;
    }
    remove_stale(o);
    if (create_write_path(o, err, errlen) < 0) {
        rvmi_outfile_discard(o);
        return -1;
    }
    return 0;
}

/* The replaced file's owner (where permitted: root, or a group we are in) and mode; the
 * owner first, since a change of owner clears set-id bits. Best effort, like cp -p: a file
 * we may not give away stays ours, with the old mode. */
static void keep_owner_mode(int fd, const struct stat *old)
{
    if (fchown(fd, old->st_uid, old->st_gid) < 0 && fchown(fd, (uid_t)-1, old->st_gid) < 0) {
    }
    if (fchmod(fd, old->st_mode & 07777) < 0) {
    }
}

static void keep_owner_mode_at(int dirfd, const char *name, const struct stat *old)
{
    if (fchownat(dirfd, name, old->st_uid, old->st_gid, AT_SYMLINK_NOFOLLOW) < 0 &&
        fchownat(dirfd, name, (uid_t)-1, old->st_gid, AT_SYMLINK_NOFOLLOW) < 0) {
    }
    if (fchmodat(dirfd, name, old->st_mode & 07777, 0) < 0) {
    }
}

/* fsync of a folder: a rename in it survives a crash. Not every file system can (EINVAL). */
static int sync_folder(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    int ret = fsync(fd) < 0 && errno != EINVAL && errno != EROFS ? -1 : 0;
    close(fd);
    return ret;
}

static int commit_folder(rvmi_outfile *o, char *err, size_t errlen)
{
    int dfd = open(o->write_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        set_err(err, errlen, "%s: %s: %s", o->flag, o->write_path, strerror(errno));
        return -1;
    }
    /* One syncfs for all the frames instead of an fsync per frame. */
    if (syncfs(dfd) < 0) {
        set_err(err, errlen, "%s: writing %s: %s", o->flag, o->path, strerror(errno));
        close(dfd);
        return -1;
    }
    if (o->replaces) {
        keep_owner_mode(dfd, &o->old);
        /* The frames take the mode and owner of the old sequence's first frame. */
        char *first = join(o->path, "0000.png");
        struct stat fst;
        if (first && lstat(first, &fst) == 0 && S_ISREG(fst.st_mode)) {
            DIR *d = fdopendir(dup(dfd));
            struct dirent *e;
            while (d && (e = readdir(d)))
                if (rvmi_is_frame_name(e->d_name))
                    keep_owner_mode_at(dfd, e->d_name, &fst);
            if (d)
                closedir(d);
        }
        free(first);
    }
    close(dfd);
    /* From here on the staging folder may hold the old frames: a second Ctrl-C must not
     * remove it. If it strikes before the swap, the next run removes this staging folder. */
    cleanup_drop(o->write_slot);
    o->write_slot = 0;
    if (!o->replaces) {
        if (rename(o->write_path, o->path) < 0) {
            set_err(err, errlen, "%s: cannot rename %s to %s: %s", o->flag, o->write_path,
                    o->path, strerror(errno));
            remove_frames_folder(o->write_path);
            return -1;
        }
        return 0;
    }
    link_others(o->path, o->write_path);
    /* One atomic exchange: the path always holds a whole sequence, old or new. */
    if (renameat2(AT_FDCWD, o->write_path, AT_FDCWD, o->path, RENAME_EXCHANGE) == 0)
        return settle_folder(o->write_path, o->path, 1, o->flag, err, errlen);
    if (errno != EINVAL && errno != ENOSYS) {
        set_err(err, errlen, "%s: cannot put %s in place of %s: %s", o->flag, o->write_path,
                o->path, strerror(errno));
        settle_folder(o->write_path, o->path, 0, o->flag, NULL, 0);
        return -1;
    }
    /* A file system without RENAME_EXCHANGE: the old folder is moved aside first. */
    char hex[17];
    rvmi_random_hex(hex);
    size_t n = strlen(o->dir) + strlen(o->stem) + 40;
    char *aside = malloc(n);
    if (!aside) {
        set_err(err, errlen, "out of memory");
        settle_folder(o->write_path, o->path, 0, o->flag, NULL, 0);
        return -1;
    }
    snprintf(aside, n, "%s/.%s.%s.rvm-stage", o->dir, o->stem, hex);
    int ret;
    if (rename(o->path, aside) < 0) {
        set_err(err, errlen, "%s: cannot move the old %s aside: %s", o->flag, o->path,
                strerror(errno));
        settle_folder(o->write_path, o->path, 0, o->flag, NULL, 0);
        ret = -1;
    } else if (rename(o->write_path, o->path) < 0) {
        set_err(err, errlen, "%s: cannot rename %s to %s: %s", o->flag, o->write_path, o->path,
                strerror(errno));
        if (rename(aside, o->path) < 0) {
        }
        settle_folder(o->write_path, o->path, 0, o->flag, NULL, 0);
        ret = -1;
    } else {
        ret = settle_folder(aside, o->path, 1, o->flag, err, errlen);
    }
    free(aside);
    return ret;
}

int rvmi_outfile_commit(rvmi_outfile *o, char *err, size_t errlen)
{
    if (o->direct && o->reopened_fd > 0)
        lseek(o->reopened_fd - 1, 0, SEEK_END);
    if (o->direct || !o->write_path)
        return 0;
    int ret = 0;
    if (o->folder) {
        ret = commit_folder(o, err, errlen);
        if (ret < 0)
            return -1;
        /* A dead run's staging folder kept the user's files when there was no folder to
         * give them back to (remove_stale at the start): now there is. */
        remove_stale(o);
    } else {
        int fd = open(o->write_path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            set_err(err, errlen, "%s: %s: %s", o->flag, o->write_path, strerror(errno));
            return -1;
        }
        if (o->replaces)
            keep_owner_mode(fd, &o->old);
        /* Durable before it gets the final name: a crash never leaves an empty or partial
         * file there. */
        if (fsync(fd) < 0 && errno != EINVAL) {
            set_err(err, errlen, "%s: writing %s: %s", o->flag, o->path, strerror(errno));
            close(fd);
            return -1;
        }
        close(fd);
        if (rename(o->write_path, o->path) < 0) {
            set_err(err, errlen, "%s: cannot rename %s to %s: %s", o->flag, o->write_path,
                    o->path, strerror(errno));
            return -1;
        }
        cleanup_drop(o->write_slot);
        o->write_slot = 0;
    }
    if (sync_folder(o->dir) < 0 && ret == 0) {
        set_err(err, errlen, "%s: %s: syncing the folder: %s", o->flag, o->dir, strerror(errno));
        ret = 1;
    }
    /* The folders made now hold the output. */
    for (int i = 0; i < o->made_count; i++)
        cleanup_drop(o->made_first + i);
    o->made_count = 0;
    return ret;
}

static void unlock(rvmi_outfile *o)
{
    if (o->locked) {
        /* Removed while still held: see take_lock. */
        unlink(o->lock_path);
        close(o->lock_fd);
        o->locked = 0;
    }
    cleanup_drop(o->lock_slot);
    o->lock_slot = 0;
}

void rvmi_outfile_discard(rvmi_outfile *o)
{
    if (o->direct)
        return;
    if (o->write_slot) {
        if (o->folder)
            remove_frames_folder(o->write_path);
        else
            unlink(o->write_path);
        cleanup_drop(o->write_slot);
        o->write_slot = 0;
    }
    unlock(o);
    /* The folders made, newest first, each only when empty. */
    if (o->made_first)
        for (int i = o->made_count - 1; i >= 0; i--) {
            rmdir(slots[o->made_first - 1 + i].path);
            cleanup_drop(o->made_first + i);
        }
    o->made_count = 0;
}

void rvmi_outfile_release(rvmi_outfile *o)
{
    unlock(o);
    free(o->write_path);
    free(o->dir);
    free(o->base);
    free(o->stem);
    free(o->lock_path);
    if (o->resolved && o->path == o->resolved)
        o->path = NULL;
    free(o->resolved);
    o->write_path = o->dir = o->base = o->stem = o->lock_path = o->resolved = NULL;
}
