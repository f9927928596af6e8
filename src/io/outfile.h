/* Output files and folders written safely: under a name that cannot collide, beside the
 * final one, under a lock, and put in place only when complete (with the replaced file's
 * mode and owner, after fsync). Also the list of what a run has made so far, which a signal
 * handler can remove at any instant (async-signal-safe).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_IO_OUTFILE_H
#define RVM_IO_OUTFILE_H

#include <limits.h>
#include <stddef.h>
#include <sys/stat.h>

typedef struct {
    const char *flag;  /* for messages (--output-alpha) */
    const char *path;  /* as given */
    int folder;        /* a PNG sequence: a folder of frames */
    /* Set by rvmi_outfile_prepare: */
    int direct;        /* a device or pipe: written in place, nothing staged */
    int through_fd;    /* direct, into the open descriptor itself: write_path is pipe:N
                        * (a file the shell opened to append to, see prepare) */
    int reopened_fd;   /* direct, a regular file opened again by the descriptor's name
                        * (written as a file, seekable): that descriptor + 1, or 0 */
    int refused;       /* prepare refused the name as given (exists without -y, a folder
                        * where a file is needed, a place where nothing can be made: no
                        * permission, a read-only file system): the command's usage error,
                        * not a failure */
    int transient;     /* prepare failed for the moment (a full disk, an I/O error) */
    char *write_path;  /* the hidden file (or folder of frames) written until complete */
    char *resolved;    /* a folder output named by a symbolic link: the folder it names */
    char *dir, *base;  /* the final path's folder and last component */
    char *stem;        /* NAME in the hidden names beside it (rvmi_outfile_stem) */
    char *lock_path;
    int locked, lock_fd;
    int lock_slot;     /* its cleanup slot + 1, or 0 (a zeroed struct holds nothing) */
    int replaces;      /* an existing file (or folder) is replaced: old holds its stat */
    struct stat old;
    int write_slot;    /* the cleanup slot of write_path + 1, or 0 */
    int made_first, made_count; /* cleanup slots (+ 1) of the folders made for the output */
} rvmi_outfile;

/* Checks the output path (exists without overwrite, a folder where a file is wanted, ...),
 * makes its missing folders, takes the lock on the final name (one run at a time per
 * output), removes what dead runs left beside it, and creates the hidden file (or folder)
 * that is written. Returns 0, or -1 with a one-line message (and nothing left behind). */
int rvmi_outfile_prepare(rvmi_outfile *o, int overwrite, char *err, size_t errlen);

/* Whether path names an open file descriptor (/dev/stdout, /dev/fd/N, /proc/self/fd/N, or a
 * link to one): what is behind it is written in place, never staged and renamed (a rename
 * would put a file where the link was: /dev/stdout itself). */
int rvmi_outfile_names_descriptor(const char *path);
/* The descriptor number when path names one of this process's open descriptors (/dev/fd/N,
 * /dev/stdout, /proc/self/fd/N, /proc/<our pid>/fd/N, or a link to one), else -1. */
int rvmi_outfile_own_descriptor(const char *path);
/* Whether path is a symbolic link (1: out holds the path its chain of links ends at, which
 * need not exist; relative targets are taken from each link's folder), no link (0), or -1
 * with errno (a loop: ELOOP; too long: ENAMETOOLONG). A file output named by a link is
 * written at that path, so the link stays and names the new file, as ffmpeg writes through
 * it. */
int rvmi_outfile_link_target(const char *path, char out[PATH_MAX]);
/* The NAME of the hidden names beside an output named base in folder dir (.NAME.rvm-lock,
 * .NAME.<hex>.rvm-part, .NAME.<hex>.rvm-stage): base itself, or, when those would pass the
 * folder's limit on a name, a prefix of it cut at a UTF-8 character boundary + "~" + a hash
 * of base (the same on every run). NULL: out of memory. */
char *rvmi_outfile_stem(const char *dir, const char *base);
/* The folder's limit on a name (pathconf's _PC_NAME_MAX, from the nearest existing folder)
 * when path's last part (trailing slashes aside) is longer, else 0: such an output could
 * only fail at its rename, after the whole job, so it is refused first. *len: its length. */
long rvmi_outfile_name_too_long(const char *path, size_t *len);
/* Whether a file named path can be made in its folder, checked before any work (rvm plan
 * writes its plan there; rvm render makes NAME.parts there, and the folders missing on the
 * way when make_missing): 0, or -1 with "cannot write in FOLDER: WHY" in err (FOLDER: the
 * folder missing, a file on the way, or the nearest existing one that takes nothing: no
 * permission, a read-only file system). The user's argument, to be refused as such. */
int rvmi_outfile_folder_refuses(const char *path, int make_missing, char *err, size_t errlen);
/* prefix + base + suffix, together at most 28 bytes more than base (a render's
 * <output>.parts, a plan's or checksum's .NAME.<hex> while written), or with
 * rvmi_outfile_stem's NAME for base when that would pass the folder's limit on a name (the
 * same on every run, as the lock's). NULL: out of memory. */
char *rvmi_outfile_sibling(const char *dir, const char *prefix, const char *base,
                           const char *suffix);
/* Makes the written data durable and puts it under the final name, keeping the replaced
 * file's mode (and owner, where permitted). Returns 0 or -1 with a message. */
int rvmi_outfile_commit(rvmi_outfile *o, char *err, size_t errlen);
/* Removes what was written and the folders made (an existing output stays as it was). */
void rvmi_outfile_discard(rvmi_outfile *o);
/* Releases the lock and the memory (after commit or discard). */
void rvmi_outfile_release(rvmi_outfile *o);

/* 16 hex digits from the kernel's random source: temporary names that nobody can guess and
 * that concurrent runs (also in other PID namespaces, with the same PID) never share. */
void rvmi_random_hex(char out[17]);

/* Whether a name is a frame of a sequence (NNNN.png: 4 digits, or 5 to 9 without a leading
 * zero). */
int rvmi_is_frame_name(const char *name);

/* Removes everything the run registered (partial files, staged frames, its locks, the
 * folders it made), newest first. Only async-signal-safe calls: a signal handler calls it
 * before _exit. */
void rvmi_cleanup_now(void);

#endif
