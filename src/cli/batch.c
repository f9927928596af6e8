/* rvm batch: many inputs in one run, each converted by its own rvm process (a bad file
 * cannot take the others down), up to --jobs at once with the threads split between them;
 * outputs named from templates in an output folder; complete outputs skipped (resume).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/options.h"
#include "cli/segments.h"
#include "io/avlog.h"
#include "io/background.h"
#include "io/outfile.h"
#include "io/protect.h"
#include "io/reader.h"

/* Written into a PNG-sequence output folder when its conversion completed: frames are
 * written one by one, so only this tells a finished folder from an interrupted one. */
#define COMPLETE_MARK ".rvm-complete"

typedef enum { PENDING, RUNNING, DONE, SKIPPED, FAILED } state;

typedef struct {
    char *input;  /* as given (or found in a folder / list) */
    char *name;   /* base name without extension: {name} in the templates */
    char *outs[3];
    state st;
    pid_t pid;
    int err_fd;   /* the child's stderr */
    char line[1024];
    size_t line_len;
    int prog_fd;  /* the child's --progress-fd lines, or -1 */
    char pline[512];
    size_t pline_len;
    int index;    /* 1-based, in the order the conversions started */
    char last_error[1024]; /* the child's last line, or why it ended without one */
    char **warnings;       /* its "warning: " lines (what its outputs lack), WARNINGS_MAX at most */
    int nwarnings;
    int removed;           /* none of its outputs was in place once it ended */
    int exit_code;
    int killed;            /* by SIGKILL (the kernel's OOM killer sends it): transient */
    int transient;         /* its failure may pass: a retry of the batch converts it */
    long long oom_before;  /* the cgroup's OOM kill count when it started, or -1 */
    struct stat before[3]; /* its outputs when it started (st_nlink 0: none) */
    double t0, seconds;
} entry;

/* Starts one conversion: `self` with argv, stdin from /dev/null, stderr into err_fd. The
 * conversion dies with the batch, also when the batch is killed outright (SIGKILL), as
 * rvm serve's do: left running unwatched it would put its outputs in place under a batch
 * that no longer records them, and hold their locks, so that a batch started again at once
 * fails that input ("being written by another rvm run"). SIGKILL, not SIGTERM: a stopped
 * conversion completes its outputs with the frames done, which the next batch would take
 * for complete and skip; a killed one leaves hidden files that the next run removes. The
 * child runs only async-signal-safe calls (the batch has signal handlers). Returns 0, or
 * an errno value when the fork failed. */
static int spawn_conversion(pid_t *pid, const char *self, char **argv, int err_fd,
                            int prog_fd, pid_t parent)
{
    static const char msg[] = "rvm: batch: cannot run the rvm program\n";
    pid_t p = fork();
    if (p < 0)
        return errno;
    if (p == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) /* the batch died before prctl took effect */
            _exit(127);
        /* The progress pipe becomes descriptor 3 (--progress-fd 3 on the command line);
         * moved above 3 first if it is below, so that no dup2 below takes it. */
        if (prog_fd >= 0 && prog_fd < 3 && (prog_fd = fcntl(prog_fd, F_DUPFD, 4)) < 0)
            _exit(127);
        int null = open("/dev/null", O_RDONLY);
        if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(err_fd, STDERR_FILENO) < 0)
            _exit(127);
        if (null > STDERR_FILENO)
            close(null);
        /* dup2 leaves the new descriptor open across exec; one already 3 is not duplicated,
         * so its close-on-exec is cleared instead. */
        if (prog_fd >= 0 && (prog_fd == 3 ? fcntl(3, F_SETFD, 0) : dup2(prog_fd, 3)) < 0)
            _exit(127);
        execv(self, argv);
        if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0)
            _exit(127);
        _exit(127);
    }
    *pid = p;
    return 0;
}

/* The batch's own lines (see LOG_QUEUE_MAX). */
typedef struct sink sink;
static sink *g_err;
static void say(sink *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static const char *const out_flags[3] = {"--output-composition", "--output-alpha",
                                         "--output-foreground"};

static atomic_int g_batch_stop;
/* How many stop signals came: a second Ctrl-C is the same signal as the first. */
static atomic_int g_batch_signals;

static void on_stop(int sig)
{
    atomic_store(&g_batch_stop, sig);
    atomic_fetch_add(&g_batch_signals, 1);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
    entry *e;
    int n, cap;
} entries;

static int add_input(entries *l, const char *path)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 32;
        entry *e = realloc(l->e, (size_t)cap * sizeof(*e));
        if (!e)
            return -1;
        l->e = e;
        l->cap = cap;
    }
    entry *e = &l->e[l->n];
    memset(e, 0, sizeof(*e));
    e->err_fd = -1;
    e->prog_fd = -1;
    if (!(e->input = strdup(path)))
        return -1;
    /* The base name without its extension (a folder: its own name). */
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/')
        len--;
    const char *base = path;
    for (size_t i = 0; i < len; i++)
        if (path[i] == '/')
            base = path + i + 1;
    size_t blen = (size_t)(path + len - base);
    struct stat st;
    int dir = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
    const char *dot = dir ? NULL : memrchr(base, '.', blen);
    if (dot && dot > base)
        blen = (size_t)(dot - base);
    if (!(e->name = strndup(base, blen)))
        return -1;
    l->n++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* What a folder holds directly: video files, image files (not videos: a GIF counts as a
 * video), and sub-folders (not hidden). */
typedef struct {
    int videos, images, folders;
    char video[256], image[256]; /* the first of each by name, for a line naming them */
} folder_counts;

static void keep_first(char *kept, size_t cap, const char *name)
{
    if (!kept[0] || strcmp(name, kept) < 0)
        snprintf(kept, cap, "%s", name);
}

static int count_folder(const char *dir, folder_counts *c)
{
    memset(c, 0, sizeof(*c));
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        struct stat st;
        if (rvmi_is_video_name(e->d_name)) {
            c->videos++;
            keep_first(c->video, sizeof c->video, e->d_name);
        } else if (rvmi_is_image_name(e->d_name)) {
            c->images++;
            keep_first(c->image, sizeof c->image, e->d_name);
        }
        else if (e->d_name[0] != '.' && fstatat(dirfd(d), e->d_name, &st, 0) == 0 &&
                 S_ISDIR(st.st_mode))
            c->folders++;
    }
    closedir(d);
    return 0;
}

/* "/" to join a name to dir, or "" when dir ends in one (a folder completed by the shell's
 * Tab, "clips/"): input and output paths are shown in every line and the report. */
static const char *dir_sep(const char *dir)
{
    size_t n = strlen(dir);
    return n > 0 && dir[n - 1] == '/' ? "" : "/";
}

/* Whether a folder given as input is a folder of inputs (its videos, its image-sequence
 * sub-folders) rather than one image sequence: it has videos, or no images of its own. */
static int folder_of_inputs(const char *path)
{
    struct stat st;
    folder_counts c;
    if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode) || count_folder(path, &c) < 0)
        return 0;
    return c.videos > 0 || c.images == 0;
}

/* How many sub-folders (not hidden) of dir hold images. */
static int image_folders_in(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        struct stat st;
        folder_counts c;
        char path[PATH_MAX];
        if (e->d_name[0] == '.' || fstatat(dirfd(d), e->d_name, &st, 0) < 0 ||
            !S_ISDIR(st.st_mode))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        n += count_folder(path, &c) == 0 && c.images > 0;
    }
    closedir(d);
    return n;
}

/* One line for files of a folder that are not converted: count of what, the first name. */
static void say_left_out(const char *dir, const char *taken, int n, const char *what,
                         const char *first, const char *how)
{
    say(g_err, "rvm: batch: %s: %s; its %d %s%s not converted: %s%s (%s)\n", dir, taken,
            n, what, n == 1 ? "" : "s", first, n > 1 ? ", ..." : "", how);
}

/* A folder of inputs: the videos in it and each sub-folder holding images (an image
 * sequence, named after the sub-folder), sorted by name. What it does not convert is said:
 * its own images (beside videos) and the videos of a sub-folder of images, which an image
 * sequence does not read. */
static int add_folder(entries *l, const char *dir, char *err, size_t errlen)
{
    folder_counts own;
    if (count_folder(dir, &own) == 0 && own.images)
        say_left_out(dir, "its videos and sub-folders of images are inputs", own.images,
                     "image", own.image,
                     "images beside videos are no image sequence: put them in a sub-folder of "
                     "their own");
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    int n = 0, cap = 0, passed = 0, others = 0;
    char other[256] = "";
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!rvmi_is_video_name(e->d_name)) {
            struct stat st;
            if (e->d_name[0] == '.' || fstatat(dirfd(d), e->d_name, &st, 0) < 0)
                continue;
            if (!S_ISDIR(st.st_mode)) {
                /* Images are said above; anything else (audio, notes, a video with an
                 * extension not listed) is said below, so that it is not taken for done. */
                if (!rvmi_is_image_name(e->d_name)) {
                    others++;
                    keep_first(other, sizeof other, e->d_name);
                }
                continue;
            }
            char path[PATH_MAX];
            folder_counts c;
            /* As the inputs' paths (below): the line naming it has one slash there. */
            snprintf(path, sizeof path, "%s%s%s", dir, dir_sep(dir), e->d_name);
            if (count_folder(path, &c) < 0 || c.images == 0) {
                passed++;
                continue;
            }
            if (c.videos)
                say_left_out(path, "one image sequence (its images)", c.videos, "video",
                             c.video, "an image sequence reads only images: name each video with -i, or "
                             "move it out");
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 32;
            char **m = realloc(names, (size_t)cap * sizeof(*m));
            if (!m)
                break;
            names = m;
        }
        if (!(names[n] = strdup(e->d_name)))
            break;
        n++;
    }
    closedir(d);
    if (others)
        say_left_out(dir, "its videos and sub-folders of images are inputs", others,
                     "other file", other,
                     "not a video's extension: name a video with -i, or give it one");
    if (n == 0) {
        free(names);
        snprintf(err, errlen, "%s: no video files or image-sequence folders in this folder", dir);
        return -1;
    }
    /* Not looked into further (a folder inside may hold more videos): said, so that they
     * are not taken for converted. */
    if (passed)
        say(g_err, "rvm: batch: %s: %d sub-folder%s without images not converted (a "
                        "folder gives its video files and its sub-folders of images; name "
                        "other folders with -i or in a --list file)\n",
                dir, passed, passed == 1 ? "" : "s");
    qsort(names, (size_t)n, sizeof(*names), cmp_str);
    int ret = 0;
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s%s%s", dir, dir_sep(dir), names[i]);
        if (ret == 0 && add_input(l, path) < 0) {
            snprintf(err, errlen, "out of memory");
            ret = -1;
        }
        free(names[i]);
    }
    free(names);
    return ret;
}

/* A list file: one path per line; empty lines and lines starting with # are skipped. */
static int add_list(entries *l, const char *file, char *err, size_t errlen)
{
    FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
    if (!f) {
        snprintf(err, errlen, "--list %s: %s", file, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int ret = 0;
    while (ret == 0 && (n = getline(&line, &cap, f)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0 || line[0] == '#')
            continue;
        if (add_input(l, line) < 0) {
            snprintf(err, errlen, "out of memory");
            ret = -1;
        }
    }
    free(line);
    if (f != stdin)
        fclose(f);
    return ret;
}

/* template with every {name} replaced, under dir. */
static char *expand(const char *dir, const char *tmpl, const char *name)
{
    size_t n = strlen(dir) + 2, nl = strlen(name);
    for (const char *p = tmpl; *p; p++)
        n += strncmp(p, "{name}", 6) == 0 ? nl : 1;
    char *out = malloc(n), *o = out;
    if (!out)
        return NULL;
    o += sprintf(o, "%s%s", dir, dir_sep(dir));
    for (const char *p = tmpl; *p;) {
        if (strncmp(p, "{name}", 6) == 0) {
            memcpy(o, name, nl);
            o += nl;
            p += 6;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
}

/* Whether a finished conversion wrote all of e's outputs. An output that is the input
 * itself (--output-dir beside the inputs, {name}.mkv) is not one: the conversion is run so
 * that it refuses it (exit 2) rather than the input being counted as skipped. */
static int complete(const entry *e, int png)
{
    struct stat in;
    int have_in = stat(e->input, &in) == 0;
    for (int k = 0; k < 3; k++) {
        if (!e->outs[k])
            continue;
        struct stat st;
        if (have_in && stat(e->outs[k], &st) == 0 && st.st_dev == in.st_dev &&
            st.st_ino == in.st_ino)
            return 0;
        if (png) {
            char mark[PATH_MAX];
            snprintf(mark, sizeof mark, "%s/" COMPLETE_MARK, e->outs[k]);
            if (stat(mark, &st) < 0)
                return 0;
        } else if (stat(e->outs[k], &st) < 0 || !S_ISREG(st.st_mode)) {
            return 0;
        }
    }
    return 1;
}

/* The OOM kill count of the batch's own memory cgroup, or -1 when it cannot be read: the
 * oom_kill line of memory.events (cgroup v2) or of memory.oom_control (v1, Linux 4.13 on),
 * under /sys/fs/cgroup at the path /proc/self/cgroup gives. RVM_CGROUP_MEMORY_EVENTS names
 * another file with such a line (a cgroup file system mounted elsewhere; empty: none). A
 * conversion killed by SIGKILL while the count rose was most likely killed by the OOM
 * killer (the conversions run in the batch's cgroup, and the count includes its
 * sub-groups); while it did not, by someone's kill -9. */
static long long oom_kills(void)
{
    static char path[PATH_MAX];
    static int resolved;
    if (!resolved) {
        resolved = 1;
        const char *env = getenv("RVM_CGROUP_MEMORY_EVENTS");
        FILE *f = env ? NULL : fopen("/proc/self/cgroup", "r");
        char line[PATH_MAX], v2[PATH_MAX] = "", v1[PATH_MAX] = "";
        if (env)
            snprintf(path, sizeof path, "%s", env);
        while (f && fgets(line, sizeof line, f)) {
            line[strcspn(line, "\n")] = '\0';
            /* hierarchy-ID:controllers:path; v2's is 0 with no controllers. */
            char *c = strchr(line, ':'), *g = c ? strchr(c + 1, ':') : NULL;
            if (!g)
                continue;
            *g++ = '\0';
            if (strcmp(line, "0") == 0 && c[1] == '\0') {
                snprintf(v2, sizeof v2, "/sys/fs/cgroup%s/memory.events",
                         strcmp(g, "/") == 0 ? "" : g);
                continue;
            }
            for (char *t = strtok(c + 1, ","); t; t = strtok(NULL, ","))
                if (strcmp(t, "memory") == 0)
                    snprintf(v1, sizeof v1, "/sys/fs/cgroup/memory%s/memory.oom_control",
                             strcmp(g, "/") == 0 ? "" : g);
        }
        if (f)
            fclose(f);
        /* v2 where the memory controller is there (a hybrid system has v2 without it). */
        if (!env)
            snprintf(path, sizeof path, "%s", v2[0] && access(v2, R_OK) == 0 ? v2 : v1);
    }
    FILE *f = path[0] ? fopen(path, "r") : NULL;
    long long n = -1;
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "oom_kill ", 9) == 0) {
            n = strtoll(line + 9, NULL, 10);
            break;
        }
    if (f)
        fclose(f);
    return n;
}

/* OOM kills already put down to a conversion: one that rose the count once is not put down
 * to two conversions killed one after the other (the second by someone's kill -9). */
static long long g_oom_counted = -1;

/* Whether a conversion killed by SIGKILL was killed by the OOM killer: 1 (the count rose
 * while it ran, more than conversions ended before were given), 0 (it did not), -1 (not
 * known). */
static int oom_killed(const entry *e)
{
    long long now = e->oom_before >= 0 ? oom_kills() : -1;
    if (now < 0)
        return -1;
    long long from = e->oom_before > g_oom_counted ? e->oom_before : g_oom_counted;
    if (now <= from)
        return 0;
    g_oom_counted = from + 1;
    return 1;
}

/* Whether none of e's outputs is in place now, where its conversion (ended) would have put
 * it: each is missing, or the very file that was there when it started (one of an earlier
 * run, kept by a failure). */
static int outputs_absent(const entry *e)
{
    for (int k = 0; k < 3; k++) {
        struct stat st;
        const struct stat *b = &e->before[k];
        if (!e->outs[k] || stat(e->outs[k], &st) < 0)
            continue;
        if (b->st_nlink == 0 || st.st_dev != b->st_dev || st.st_ino != b->st_ino ||
            st.st_ctim.tv_sec != b->st_ctim.tv_sec || st.st_ctim.tv_nsec != b->st_ctim.tv_nsec)
            return 0;
    }
    return 1;
}

/* A conversion's warnings kept for the report: a program reading it learns that an input
 * "done" was truncated or had damaged frames skipped (its outputs lack frames) without
 * parsing the batch's stderr. More than this many are the same kind of line again. */
#define WARNINGS_MAX 16

static void keep_warning(entry *e, const char *msg)
{
    if (strncmp(msg, "warning: ", 9) != 0 || e->nwarnings >= WARNINGS_MAX)
        return;
    if (!e->warnings && !(e->warnings = calloc(WARNINGS_MAX, sizeof *e->warnings)))
        return;
    if ((e->warnings[e->nwarnings] = strdup(msg + 9)))
        e->nwarnings++;
}

/* "warnings": [...] on an input's object, when it had any. */
static void add_warnings(cJSON *o, const entry *e)
{
    if (e->nwarnings == 0)
        return;
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < e->nwarnings; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(e->warnings[i]));
    cJSON_AddItemToObject(o, "warnings", arr);
}

/* Passes the child's stderr on, each line as "rvm: INPUT: ...", and keeps the last (and
 * the warnings). */
static void pump(entry *e, int final)
{
    char buf[4096];
    ssize_t n;
    while ((n = read(e->err_fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
        for (ssize_t i = 0; i < n; i++) {
            char c = buf[i];
            if (c != '\n' && e->line_len + 1 < sizeof e->line) {
                e->line[e->line_len++] = c;
                continue;
            }
            if (c != '\n')
                continue; /* overlong: the rest of the line is dropped */
            e->line[e->line_len] = '\0';
            const char *msg = strncmp(e->line, "rvm: ", 5) == 0 ? e->line + 5 : e->line;
            size_t il = strlen(e->input);
            if (strncmp(msg, e->input, il) == 0 && strncmp(msg + il, ": ", 2) == 0)
                msg += il + 2; /* the input is named once */
            if (*msg) {
                say(g_err, "rvm: %s: %s\n", e->input, msg);
                snprintf(e->last_error, sizeof e->last_error, "%s", msg);
                keep_warning(e, msg);
            }
            e->line_len = 0;
        }
    }
    if (final && e->line_len) {
        e->line[e->line_len] = '\0';
        say(g_err, "rvm: %s: %s\n", e->input, e->line);
        snprintf(e->last_error, sizeof e->last_error, "%s", e->line);
        e->line_len = 0;
    }
}

/* The batch's --progress-fd N: one stream of JSON lines for the whole batch, whatever
 * --jobs. Each conversion writes its own lines into a pipe of its own; the batch passes them
 * on whole, each with the input it is about and where the batch stands, so lines of
 * conversions running side by side never mix:
 *   {"event":"progress","input":I,"index":K,"inputs":T,"finished":F, <the conversion's line>}
 *   {"event":"input","input":I,"index":K,"inputs":T,"finished":F,"status":"done"|"failed",
 *    "exit_code":C,"seconds":S[,"error":E][,"warnings":[W...]]}   (an input ended; "skipped"
 *    ones have no index)
 *   {"event":"batch","done":D,"skipped":S,"failed":F,"not_started":N,"seconds":S,
 *    "exit_code":C}                            (the last line)
 *
 * A reader that is slow, or stopped (a GUI that hangs, a `less` left at its prompt), must
 * not hold the batch up: blocked on a full pipe, the batch would stop reading the
 * conversions' pipes, and they would stop too. So lines wait in a queue of the batch's own
 * and are written without blocking whenever the descriptor takes them (the main loop polls
 * it). While they wait, an input's newer progress line replaces its older one still waiting
 * (a reader catching up gets each input's latest state, not a backlog), and the lines
 * saying an input ended and the batch's last line are never dropped. At the end the batch
 * waits for a reader that still takes lines, and gives up on one that took nothing for
 * PROGRESS_END_WAIT seconds, saying in one line how many lines it did not get: a stopped
 * reader does not keep a finished batch (and its exit code) from a scheduler. */
#define PROGRESS_END_WAIT 10.0

/* The batch's own stdout and stderr (its "[K/N] INPUT: done" lines, the conversions' lines
 * passed on, the summary) are written the same way: a terminal whose output is held (Ctrl-S,
 * a `less` at its prompt, `| sleep 1000`) would otherwise stop the batch at its next line,
 * and with it the reading of the conversions' pipes: every conversion would stop too, and
 * --progress-fd with them. Their lines wait in the batch (none is replaced: each says
 * something of its own) and go out as the reader takes them, in order, stdout's and stderr's
 * in one queue when they are the same file (2>&1, one terminal). Up to LOG_QUEUE_MAX bytes
 * wait; lines beyond that are counted and said in one line once the reader catches up (the
 * --report and --progress-fd have every input's outcome). At the end the batch waits for
 * that reader as long as it takes lines, as any program writing to it would (the summary
 * must not be lost to a reader who scrolls slowly); Ctrl-C ends the wait. A reader that
 * went away ends the batch as ever (SIGPIPE: `rvm batch ... | head`). */
#define LOG_QUEUE_MAX (8u << 20)

typedef struct {
    char *text;
    size_t len;
    int index; /* the input's (entry.index) for a progress line; 0: a line always kept */
} queued_line;

typedef struct sink {
    int given;   /* the descriptor as given, or -1 */
    int fd;      /* where lines go (see sink_open); -1: none, or the reader went away */
    int sock;    /* fd is a socket: send() without blocking */
    int log;     /* stdout or stderr: a reader gone is SIGPIPE as ever; LOG_QUEUE_MAX */
    queued_line *q;
    size_t head, n, cap; /* q[head .. n - 1] wait, the first with off bytes written */
    size_t off;
    size_t bytes;        /* waiting (log sinks) */
    size_t dropped;      /* lines not queued: more than LOG_QUEUE_MAX waited */
    int write_errno;     /* a log sink's failed write (ENOSPC: >/dev/full, EIO), or 0 */
    size_t lost;         /* lines that failed so, or were still waiting then */
} sink;

static sink g_prog = {.given = -1, .fd = -1}, g_out = {.given = -1, .fd = -1},
            g_err_own = {.given = -1, .fd = -1};
/* The stderr lines' sink: g_err_own, or g_out when both are one file. */
static sink *g_err = &g_err_own;

/* Where the lines to descriptor n go, without blocking. A regular file never waits for a
 * reader: written as it is. A socket: send(MSG_DONTWAIT). A pipe, FIFO or terminal is
 * opened again through /proc (an open file description of the batch's own) and made
 * non-blocking there: O_NONBLOCK set on n itself would hold for whoever shares n (the
 * shell that gave it, the batch's own stdout with --progress-fd 1), whose writes would then
 * fail with EAGAIN. A pipe whose reader is gone cannot be opened (ENXIO): for the progress
 * nothing is written; stdout and stderr are written as they are (SIGPIPE, as ever). Without
 * /proc, n is written as it is (blocking). */
static void sink_open(sink *s, int n, int log)
{
    struct stat st;
    s->given = n;
    s->log = log;
    if (fstat(n, &st) < 0)
        return;
    if (S_ISREG(st.st_mode) || S_ISSOCK(st.st_mode)) {
        s->fd = n;
        s->sock = S_ISSOCK(st.st_mode);
        return;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", n);
    int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    s->fd = fd >= 0 ? fd : errno == ENXIO && !log ? -1 : n;
}

static size_t sink_waiting(const sink *s)
{
    return s->n - s->head;
}

/* The reader went away (or cannot take lines): the batch goes on without it. */
static void sink_close(sink *s)
{
    for (size_t i = s->head; i < s->n; i++)
        free(s->q[i].text);
    free(s->q);
    s->q = NULL;
    s->head = s->n = s->cap = s->off = s->bytes = 0;
    if (s->fd >= 0 && s->fd != s->given)
        close(s->fd);
    s->fd = -1;
}

/* Writes what the descriptor takes now. Returns how many bytes were written. */
static size_t sink_flush(sink *s)
{
    size_t wrote = 0;
    while (s->fd >= 0 && s->head < s->n) {
        queued_line *l = &s->q[s->head];
        ssize_t w;
        if (s->sock) {
            w = send(s->fd, l->text + s->off, l->len - s->off,
                     MSG_DONTWAIT | (s->log ? 0 : MSG_NOSIGNAL));
        } else if (s->log) {
            w = write(s->fd, l->text + s->off, l->len - s->off);
        } else {
            /* A reader gone is EPIPE here, not a SIGPIPE that would end the batch (whose
             * stdout keeps its usual SIGPIPE: `rvm batch ... | head` ends as ever). */
            struct sigaction ign = {.sa_handler = SIG_IGN}, was;
            sigaction(SIGPIPE, &ign, &was);
            w = write(s->fd, l->text + s->off, l->len - s->off);
            int e = errno;
            sigaction(SIGPIPE, &was, NULL);
            errno = e;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (w <= 0) {
            if (s->log) { /* its lines are lost: the batch's exit code says so (log_lost) */
                s->write_errno = w < 0 ? errno : EIO;
                s->lost += sink_waiting(s);
            }
            sink_close(s);
            break;
        }
        wrote += (size_t)w;
        s->off += (size_t)w;
        if (s->off == l->len) {
            s->bytes -= l->len;
            free(l->text);
            s->head++;
            s->off = 0;
        }
    }
    /* The lines written are dropped from the front once they are half the queue. */
    if (s->head > 0 && s->head * 2 >= s->n) {
        memmove(s->q, s->q + s->head, sink_waiting(s) * sizeof *s->q);
        s->n -= s->head;
        s->head = 0;
    }
    return wrote;
}

/* Queues text (malloc'd, len bytes, taken over) and writes what the descriptor takes.
 * index > 0: a progress line of that input, which replaces one of its own still waiting
 * whole. keep: a log line that is queued whatever waits (the summary). */
static void sink_put(sink *s, char *text, size_t len, int index, int keep)
{
    if (s->fd < 0) {
        s->lost += s->write_errno != 0;
        free(text);
        return;
    }
    for (size_t i = s->head + (s->off > 0); index > 0 && i < s->n; i++)
        if (s->q[i].index == index) {
            free(s->q[i].text);
            s->q[i].text = text;
            s->q[i].len = len;
            sink_flush(s);
            return;
        }
    if (s->log && !keep && s->bytes + len > LOG_QUEUE_MAX) {
        s->dropped++;
        free(text);
        sink_flush(s);
        return;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        queued_line *q = realloc(s->q, cap * sizeof *q);
        if (!q) {
            free(text);
            return;
        }
        s->q = q;
        s->cap = cap;
    }
    s->q[s->n++] = (queued_line){text, len, index};
    s->bytes += len;
    sink_flush(s);
}

static void say_v(sink *s, int keep, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    char *text = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (text)
        vsnprintf(text, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    if (!text)
        return;
    /* Lines left out while the queue was full are said once it has room again. */
    if (s->dropped && s->bytes < LOG_QUEUE_MAX / 2) {
        char *note = NULL;
        if (asprintf(&note, "rvm: batch: %zu line%s of this output not written: its reader "
                            "took nothing while %u MiB waited (the --report has each "
                            "input's outcome)\n",
                     s->dropped, s->dropped == 1 ? "" : "s", LOG_QUEUE_MAX >> 20) >= 0) {
            s->dropped = 0;
            sink_put(s, note, strlen(note), 0, 1);
        }
    }
    sink_put(s, text, (size_t)n, 0, keep);
}

/* A line (fmt ends with its newline) of the batch's own output: s is &g_out or g_err. */
static void say(sink *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say_v(s, 0, fmt, ap);
    va_end(ap);
}

/* The batch's stdout and stderr through sinks from here on (the conversions are about to
 * start). What was printed before went out as it was; stdout has nothing buffered. */
static void log_open(void)
{
    fflush(stdout);
    sink_open(&g_out, STDOUT_FILENO, 1);
    struct stat a, b;
    if (fstat(STDOUT_FILENO, &a) == 0 && fstat(STDERR_FILENO, &b) == 0 &&
        a.st_dev == b.st_dev && a.st_ino == b.st_ino)
        g_err = &g_out; /* 2>&1, or one terminal: one queue keeps the lines in order */
    else
        sink_open(&g_err_own, STDERR_FILENO, 1);
}

/* When stdout or stderr could not be written (>/dev/full, an I/O error), its lines were lost
 * without a word: says so on the other one (when it is another file) and returns the exit
 * code for it, as a conversion's on such a stdout (rvmi_cli_write_status: 1 for a reader
 * gone, EPIPE, when SIGPIPE is ignored; 75 else), or 0 when nothing was lost. direct: the
 * sinks are finished, so the line is written to stderr at once. */
static int log_lost(int direct)
{
    sink *lost = g_out.write_errno ? &g_out : g_err->write_errno ? g_err : NULL;
    if (!lost)
        return 0;
    sink *other = lost == &g_out && g_err != &g_out ? g_err : NULL;
    if (other && !other->write_errno) {
        char line[256];
        int n = snprintf(line, sizeof line,
                         "rvm: batch: stdout: writing: %s; %zu line%s of it lost\n",
                         strerror(lost->write_errno), lost->lost, lost->lost == 1 ? "" : "s");
        if (direct)
            (void)!write(STDERR_FILENO, line, (size_t)n);
        else
            say(other, "%s", line);
    }
    return lost->write_errno == EPIPE ? RVMI_EXIT_FAILURE : RVMI_EXIT_TRANSIENT;
}

/* The progress lines: --progress-fd's sink. */
static void progress_open(int n)
{
    sink_open(&g_prog, n, 0);
}

/* Queues head + "," + tail (tail: an object's fields after its '{') and a newline. index >
 * 0: a progress line of that input (see sink_put). */
static void progress_write(const char *head, const char *tail, size_t tail_len, int index)
{
    if (g_prog.fd < 0 || !head)
        return;
    size_t hl = strlen(head), n = hl + 1 + tail_len + 1;
    char *text = malloc(n);
    if (!text)
        return;
    memcpy(text, head, hl);
    text[hl] = ',';
    memcpy(text + hl + 1, tail, tail_len);
    text[n - 1] = '\n';
    sink_put(&g_prog, text, n, index, 0);
}

/* The end: writes what waits while the readers take it: the progress's reader is given up
 * after PROGRESS_END_WAIT seconds of taking nothing (see above), stdout's and stderr's are
 * waited for. A stop signal arriving now (a Ctrl-C, a second one) ends the wait at once.
 * signals: g_batch_signals when the exit code was chosen. Returns the signal that came
 * since, or 0. */
static int sinks_finish(int signals)
{
    int late = 0;
    double last = now_seconds();
    sink *s[3] = {&g_prog, &g_out, g_err != &g_out ? g_err : NULL};
    for (;;) {
        int waiting = 0;
        if (sink_flush(&g_prog) > 0)
            last = now_seconds();
        sink_flush(&g_out);
        sink_flush(g_err);
        if (atomic_load(&g_batch_signals) != signals)
            late = atomic_load(&g_batch_stop);
        if (g_prog.fd >= 0 && sink_waiting(&g_prog) > 0 &&
            (now_seconds() - last >= PROGRESS_END_WAIT || late)) {
            size_t left = sink_waiting(&g_prog);
            say(g_err, "rvm: batch: --progress-fd %d: its reader took nothing for %.0f s; "
                       "the last %zu line%s not written\n", g_prog.given,
                now_seconds() - last, left, left == 1 ? " was" : "s were");
            sink_close(&g_prog);
        }
        struct pollfd p[3];
        int np = 0;
        for (int i = 0; i < 3; i++)
            if (s[i] && s[i]->fd >= 0 && sink_waiting(s[i]) > 0) {
                p[np].fd = s[i]->fd;
                p[np++].events = POLLOUT;
                waiting = 1;
            }
        if (!waiting || late)
            break;
        poll(p, (nfds_t)np, 200);
    }
    sink_flush(&g_out); /* the line above, if it can go now */
    sink_flush(g_err);
    for (int i = 0; i < 3; i++)
        if (s[i])
            sink_close(s[i]);
    return late;
}


/* The fields every line about an input starts with, without the closing brace. */
static char *progress_head(const char *event, const entry *e, int inputs, int finished)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "event", event);
    cJSON_AddStringToObject(o, "input", e->input);
    if (e->index > 0) {
        cJSON_AddNumberToObject(o, "index", e->index);
        cJSON_AddNumberToObject(o, "inputs", inputs);
        cJSON_AddNumberToObject(o, "finished", finished);
    }
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (text)
        text[strlen(text) - 1] = '\0'; /* the '}' */
    return text;
}

/* Passes on the conversion's complete progress lines (a line too long for pline, which
 * none is, is dropped whole rather than passed on cut). */
static void pump_progress(entry *e, int inputs, int finished)
{
    char buf[4096];
    ssize_t n;
    while ((n = read(e->prog_fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
        for (ssize_t i = 0; i < n; i++) {
            char c = buf[i];
            if (c != '\n') {
                if (e->pline_len < sizeof e->pline) /* == sizeof: overlong */
                    e->pline[e->pline_len++] = c;
                continue;
            }
            /* The conversion's own object, {"frames":...}: its fields follow the batch's. */
            if (e->pline_len > 2 && e->pline_len < sizeof e->pline && e->pline[0] == '{' &&
                g_prog.fd >= 0) {
                char *head = progress_head("progress", e, inputs, finished);
                progress_write(head, e->pline + 1, e->pline_len - 1, e->index);
                free(head);
            }
            e->pline_len = 0;
        }
    }
}

/* The line saying an input ended (done, failed) or was skipped. */
static void progress_ended(const entry *e, const char *status, int inputs, int finished)
{
    if (g_prog.fd < 0)
        return;
    char *head = progress_head("input", e, inputs, finished);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", status);
    if (e->index > 0) {
        cJSON_AddNumberToObject(o, "exit_code", e->exit_code);
        cJSON_AddNumberToObject(o, "seconds", round(e->seconds * 10) / 10);
    }
    if (e->st == FAILED)
        cJSON_AddStringToObject(o, "error", e->last_error);
    add_warnings(o, e);
    char *tail = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (tail)
        progress_write(head, tail + 1, strlen(tail + 1), 0);
    free(head);
    free(tail);
}

/* An input whose conversion could not be started (no pipe, no process): failed, said in
 * one line; transient, so a cluster may retry the batch. */
static void start_failed(entry *e, int err)
{
    snprintf(e->last_error, sizeof e->last_error, "cannot start: %s", strerror(err));
    e->st = FAILED;
    e->exit_code = RVMI_EXIT_TRANSIENT;
    say(g_err, "rvm: %s: %s\n", e->input, e->last_error);
}

/* Whether path holds a report of an earlier batch (a JSON object with its "inputs" and
 * "not_started"): a retried batch (exit 75) writes its report again without -y. */
static int earlier_report(const char *path)
{
    char err[PATH_MAX + 64];
    /* 64 MiB: a report of some 200 000 inputs (and no more of a video read to tell) */
    char *text = rvmi_read_text(path, ((size_t)1 << 26) - 1, err, sizeof err);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    free(text);
    int yes = cJSON_IsObject(root) && cJSON_IsArray(cJSON_GetObjectItem(root, "inputs")) &&
              cJSON_IsNumber(cJSON_GetObjectItem(root, "not_started"));
    cJSON_Delete(root);
    return yes;
}

/* The report is checked before anything runs, as every output of a conversion is (it was
 * written over whatever the name held at the end: the batch's own input, with or without
 * -y): never an input (nor a folder holding one), the background, the checkpoint or an
 * output of the batch; an existing file only with -y or when it is an earlier report.
 * 0, or -1 with a message. */
static int check_report(const char *report, const entries *l, const rvmi_cli_options *opt,
                        int overwrite, char *err, size_t errlen)
{
    rvmi_protected prot = {0};
    for (int i = 0; i < l->n; i++)
        rvmi_protect_source(&prot, l->e[i].input, "input");
    if (opt->background && strcmp(opt->background, "none") != 0)
        rvmi_protect_source(&prot, opt->background, "background");
    if (opt->checkpoint)
        rvmi_protect_source(&prot, opt->checkpoint, "checkpoint");
    int refused = rvmi_protect_check(&prot, "--report", report, NULL, err, errlen) < 0;
    rvmi_protect_free(&prot);
    if (refused)
        return -1;
    for (int i = 0; i < l->n; i++)
        for (int k = 0; k < 3; k++)
            if (l->e[i].outs[k] && strcmp(l->e[i].outs[k], report) == 0) {
                snprintf(err, errlen, "--report %s is an output of %s", report, l->e[i].input);
                return -1;
            }
    struct stat st;
    if (stat(report, &st) == 0 && (S_ISDIR(st.st_mode) || (!overwrite && !earlier_report(report)))) {
        snprintf(err, errlen, "--report %s %s", report,
                 S_ISDIR(st.st_mode) ? "is a folder" : "exists (use -y to overwrite)");
        return -1;
    }
    return 0;
}

static void usage(FILE *f)
{
    fputs("Usage: rvm batch -i INPUT [-i INPUT ...] [--list FILE] --output-dir DIR\n"
          "                 --output-composition|--output-alpha|--output-foreground TEMPLATE\n"
          "                 [--jobs N] [--report FILE.json] [-y] [conversion flags: rvm --help]\n"
          "Converts many inputs, each into DIR with names from the templates ({name} is the\n"
          "input's name without extension, e.g. --output-alpha {name}_pha.mp4). An input folder\n"
          "gives the videos in it and each sub-folder of images (named after it); a folder\n"
          "of images is one input; --list names one input (video or image folder) per line.\n"
          "Inputs whose outputs are all complete are skipped (-y converts them again). A\n"
          "failure is one line and does not stop the others; the exit code is 75 if every\n"
          "failure was transient (retry; a conversion killed by SIGKILL, the OOM killer's\n"
          "signal, or stopped by a signal not the batch's counts so), else 1 if any failed.\n"
          "--jobs N converts N at once, the threads (--threads, default one per usable CPU) split\n"
          "between them. --progress-fd N writes the batch's progress as JSON lines: each\n"
          "input's, which it is, how many ended. --report FILE writes every input's outcome\n"
          "as JSON at the end, with its warnings (a truncated input; never over an input; an\n"
          "existing FILE only with -y or when it is an earlier batch's report).\n",
          f);
}

/* The batch's own flags that take a value (besides -i): the output templates, at their
 * index in out_flags, then the others. Returns the flag's index, or -1. */
static int batch_flag(const char *a)
{
    static const char *const own[] = {"--input-source", "--list", "--output-dir", "--jobs",
                                      "--report", "--threads"};
    for (int m = 0; m < 3 + (int)(sizeof own / sizeof own[0]); m++)
        if (strcmp(a, m < 3 ? out_flags[m] : own[m - 3]) == 0)
            return m;
    return -1;
}

int rvmi_batch_main(int argc, char **argv)
{
    entries l = {NULL, 0, 0};
    const char *dir = NULL, *report = NULL, *tmpl[3] = {NULL, NULL, NULL};
    int jobs = 1, overwrite = 0, threads = 0, status = RVMI_EXIT_USAGE;
    char err[1024];
    char **pass = calloc((size_t)argc + 1, sizeof(char *));
    int npass = 0;
    const char **inputs = calloc((size_t)argc + 1, sizeof(char *));
    const char **lists = calloc((size_t)argc + 1, sizeof(char *));
    int ninputs = 0, nlists = 0;
    const char *progress_arg[2] = {NULL, NULL}; /* --progress-fd N, or --progress-fd=N */
    if (!pass || !inputs || !lists) {
        rvmi_cli_error("out of memory");
        status = RVMI_EXIT_TRANSIENT;
        goto done;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        /* --flag=VALUE, as the conversion's own flags take it: the batch's flags too (else
         * --jobs=2 was refused and --output-alpha={name}_pha.mp4 went to every conversion as
         * it stands). */
        char name[32];
        const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
        int inline_value = 0;
        if (eq && (size_t)(eq - a) < sizeof name) {
            memcpy(name, a, (size_t)(eq - a));
            name[eq - a] = '\0';
            if (batch_flag(name) >= 0) {
                a = name;
                v = eq + 1;
                inline_value = 1;
            }
        }
        int f = batch_flag(a), k = f < 3 ? f : -1; /* k: an output template's */
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            status = 0;
            goto done;
        } else if (strcmp(a, "-y") == 0 || strcmp(a, "--overwrite") == 0) {
            overwrite = 1;
            continue;
        }
        int takes = strcmp(a, "-i") == 0 || f >= 0;
        /* Every conversion gets --disable-progress and --complete-only below: passed on as
         * well, a conversion had them twice on its command line. */
        if (strcmp(a, "--disable-progress") == 0 || strcmp(a, "--complete-only") == 0)
            continue;
        /* The batch's own: each conversion gets a pipe of its own instead (see
         * progress_head), so that they do not all write into one descriptor at once. */
        if (strcmp(a, "--progress-fd") == 0 || strncmp(a, "--progress-fd=", 14) == 0) {
            progress_arg[0] = a;
            progress_arg[1] = a[13] == '=' ? NULL : v;
            i += a[13] != '=' && v;
            continue;
        }
        if (!takes) {
            pass[npass++] = argv[i];
            continue;
        }
        if (!v) {
            rvmi_cli_error("batch: %s needs a value", a);
            goto done;
        }
        i += !inline_value;
        char *end;
        if (k >= 0) {
            if (!strstr(v, "{name}") || v[0] == '/') {
                rvmi_cli_error("batch: %s %s: a name under --output-dir with {name} in it (the "
                            "input's name), e.g. {name}_pha.mp4", a, v);
                goto done;
            }
            tmpl[k] = v;
        } else if (a[1] == 'i' || strcmp(a, "--input-source") == 0) {
            inputs[ninputs++] = v;
        } else if (strcmp(a, "--list") == 0) {
            lists[nlists++] = v;
        } else if (strcmp(a, "--output-dir") == 0) {
            dir = v;
        } else if (strcmp(a, "--report") == 0) {
            report = v;
        } else if (strcmp(a, "--jobs") == 0) {
            long n = strtol(v, &end, 10);
            if (*end || n < 1 || n > 256) {
                rvmi_cli_error("batch: --jobs %s: expected a whole number from 1 to 256", v);
                goto done;
            }
            jobs = (int)n;
        } else {
            long n = strtol(v, &end, 10);
            if (*end || n < 0 || n > RVM_MAX_THREADS) {
                rvmi_cli_error("batch: --threads %s: expected a whole number from 0 to %d", v,
                               RVM_MAX_THREADS);
                goto done;
            }
            threads = (int)n;
        }
    }
    if (!dir || (!tmpl[0] && !tmpl[1] && !tmpl[2]) || (!ninputs && !nlists)) {
        rvmi_cli_error(!dir ? "batch: --output-dir DIR is required (see rvm batch --help)"
                    : (!ninputs && !nlists) ? "batch: no inputs (-i INPUT or --list FILE)"
                                            : "batch: no output given: use --output-composition, "
                                              "--output-alpha or --output-foreground with a "
                                              "{name} template");
        goto done;
    }
    /* The conversion flags are checked once here, not once per file. */
    {
        /* "rvm batch", the flags passed, two --progress-fd words, "-i input", three outputs. */
        char **probe = calloc((size_t)npass + 11, sizeof(char *));
        if (!probe) {
            rvmi_cli_error("out of memory");
            status = RVMI_EXIT_TRANSIENT;
            goto done;
        }
        int n = 0;
        probe[n++] = "rvm batch"; /* the help the parse names */
        for (int i = 0; i < npass; i++)
            probe[n++] = pass[i];
        for (int i = 0; i < 2; i++)
            if (progress_arg[i])
                probe[n++] = (char *)progress_arg[i];
        probe[n++] = "-i";
        probe[n++] = "input";
        for (int k = 0; k < 3; k++)
            if (tmpl[k]) {
                probe[n++] = (char *)out_flags[k];
                probe[n++] = (char *)tmpl[k];
            }
        rvmi_cli_options opt;
        int bad = rvmi_cli_parse(n, probe, &opt, err, sizeof err) < 0;
        free(probe);
        if (bad) {
            rvmi_cli_error("batch: %s", err);
            goto done;
        }
        /* Open (checked by the parse); kept from the conversions, which write elsewhere. */
        if (opt.progress_fd >= 0) {
            fcntl(opt.progress_fd, F_SETFD, FD_CLOEXEC);
            progress_open(opt.progress_fd);
        }
        /* FFmpeg's messages through rvm's log, as in a conversion (the checks below write
         * a container's header into nothing; a colour that is none has libavutil's line). */
        rvmi_avlog_install(opt.verbose);
        /* The conversion's own check of its outputs (codec, container, an uncompressed pixel
         * format: what every conversion would refuse), on the templates as named. Their
         * names' lengths are checked once expanded (below). */
        if (rvmi_cli_check_outputs(&opt, 1, err, sizeof err) < 0) {
            rvmi_cli_error("batch: %s", err);
            goto done;
        }
        /* Two outputs on one template: each conversion refused them as being written by
         * another run, which the batch counted transient (exit 75: a retry never helps). */
        for (int a = 0; a < 3; a++)
            for (int b = a + 1; b < 3; b++)
                if (tmpl[a] && tmpl[b] && strcmp(tmpl[a], tmpl[b]) == 0) {
                    rvmi_cli_error("batch: %s and %s name the same path (%s)", out_flags[a],
                                   out_flags[b], tmpl[a]);
                    goto done;
                }
        /* A colour that is none would fail every conversion the same way. */
        if (tmpl[0] && opt.background && strcmp(opt.background, "none") != 0 &&
            rvmi_background_check_colour(opt.background, err, sizeof err) < 0) {
            rvmi_cli_error("batch: %s", err);
            goto done;
        }
        /* From here on the batch's own lines never hold it up (see LOG_QUEUE_MAX): nothing
         * is running yet, but a terminal held from the start would keep it from starting. */
        log_open();
        status = RVMI_EXIT_BAD_INPUT;
        for (int i = 0; i < ninputs; i++) {
            /* A folder of image-sequence folders with a stray image of its own (a cover, a
             * contact sheet) is that image alone: said, or its sub-folders would be left out
             * without a word (the batch said "done"). */
            struct stat st;
            int subs = !folder_of_inputs(inputs[i]) && stat(inputs[i], &st) == 0 &&
                       S_ISDIR(st.st_mode) ? image_folders_in(inputs[i]) : 0;
            if (subs)
                say(g_err, "rvm: batch: %s: one image sequence (its own images); its %d "
                                "sub-folder%s of images not converted (name %s with -i, or "
                                "move the folder's own images out)\n",
                        inputs[i], subs, subs == 1 ? "" : "s", subs == 1 ? "it" : "them");
            if ((folder_of_inputs(inputs[i]) ? add_folder(&l, inputs[i], err, sizeof err)
                                  : add_input(&l, inputs[i]) < 0 ? (snprintf(err, sizeof err, "out of memory"), -1) : 0) < 0) {
                say(g_err, "rvm: batch: %s\n", err);
                goto done;
            }
        }
        for (int i = 0; i < nlists; i++)
            if (add_list(&l, lists[i], err, sizeof err) < 0) {
                say(g_err, "rvm: batch: %s\n", err);
                goto done;
            }
        if (l.n == 0) {
            say(g_err, "rvm: batch: no inputs\n");
            goto done;
        }
        for (int i = 0; i < l.n; i++) {
            for (int m = 0; m < i; m++)
                if (strcmp(l.e[i].name, l.e[m].name) == 0) {
                    say(g_err, "rvm: batch: %s and %s have the same name, so their outputs would "
                               "too\n", l.e[m].input, l.e[i].input);
                    status = RVMI_EXIT_USAGE;
                    goto done;
                }
            for (int k = 0; k < 3; k++) {
                if (tmpl[k] && !(l.e[i].outs[k] = expand(dir, tmpl[k], l.e[i].name))) {
                    say(g_err, "rvm: out of memory\n");
                    status = RVMI_EXIT_TRANSIENT;
                    goto done;
                }
                /* A name longer than its folder takes could only fail at the rename, after
                 * the conversion: refused before any runs, as the conversion would name it
                 * (the template's own length is not the name's: {name} is replaced). */
                size_t name_len;
                long name_limit = l.e[i].outs[k]
                                      ? rvmi_outfile_name_too_long(l.e[i].outs[k], &name_len)
                                      : 0;
                if (name_limit) {
                    say(g_err, "rvm: batch: %s %s: a name of %zu bytes is longer than its "
                               "folder takes (%ld)\n", out_flags[k], l.e[i].outs[k], name_len,
                        name_limit);
                    status = RVMI_EXIT_USAGE;
                    goto done;
                }
            }
        }
        if (report && check_report(report, &l, &opt, overwrite, err, sizeof err) < 0) {
            say(g_err, "rvm: batch: %s\n", err);
            status = RVMI_EXIT_USAGE;
            goto done;
        }
        int png = opt.png;

        /* Resume: inputs whose outputs are all complete are skipped. */
        for (int i = 0; i < l.n; i++)
            if (!overwrite && complete(&l.e[i], png))
                l.e[i].st = SKIPPED;

        int total = threads > 0 ? threads : rvm_cpu_count();
        int per = total / jobs > 0 ? total / jobs : 1;
        char per_s[16];
        snprintf(per_s, sizeof per_s, "%d", per);
        char self[PATH_MAX];
        ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
        if (sl <= 0) {
            say(g_err, "rvm: batch: cannot find the rvm program itself\n");
            status = RVMI_EXIT_FAILURE;
            goto done;
        }
        self[sl] = '\0';
        pid_t parent = getpid();

        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_stop;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        /* A closed terminal or ssh session (SIGHUP) stops the batch as Ctrl-C does, rather
         * than killing it and leaving its conversions to finish unwatched; under nohup it
         * stays ignored. */
        struct sigaction was;
        if (sigaction(SIGHUP, NULL, &was) == 0 && was.sa_handler != SIG_IGN)
            sigaction(SIGHUP, &sa, NULL);

        double t_start = now_seconds();
        int next = 0, running = 0, finished = 0, todo = 0;
        for (int i = 0; i < l.n; i++)
            todo += l.e[i].st == PENDING;
        for (int i = 0; i < l.n; i++)
            if (l.e[i].st == SKIPPED)
                progress_ended(&l.e[i], "skipped", todo, 0);
        int forwarded = 0, started = 0;
        for (;;) {
            int stop = atomic_load(&g_batch_stop);
            while (!stop && running < jobs && next < l.n) {
                entry *e = &l.e[next++];
                if (e->st != PENDING)
                    continue;
                char **cargv = calloc((size_t)npass + 20, sizeof(char *));
                int n = 0, fds[2], pfds[2] = {-1, -1};
                e->index = ++started;
                /* A progress pipe only for a batch given --progress-fd. */
                if (!cargv || pipe2(fds, O_CLOEXEC) < 0 ||
                    (g_prog.fd >= 0 && pipe2(pfds, O_CLOEXEC) < 0 &&
                     (close(fds[0]), close(fds[1]), 1))) {
                    int e_no = errno;
                    free(cargv);
                    start_failed(e, e_no);
                    finished++;
                    progress_ended(e, "failed", todo, finished);
                    continue;
                }
                cargv[n++] = self;
                for (int i = 0; i < npass; i++)
                    cargv[n++] = pass[i];
                cargv[n++] = "-i";
                cargv[n++] = e->input;
                for (int k = 0; k < 3; k++)
                    if (e->outs[k]) {
                        cargv[n++] = (char *)out_flags[k];
                        cargv[n++] = e->outs[k];
                    }
                cargv[n++] = "--threads";
                cargv[n++] = per_s;
                cargv[n++] = "--disable-progress";
                /* A conversion stopped halfway (the batch's Ctrl-C, SIGTERM or SIGHUP passed
                 * on, the file size limit) puts nothing in place: its outputs would hold the
                 * frames done, and the next run would take them for complete and skip the
                 * input. The conversion removes them itself, while it still holds their
                 * locks: what it removes is its own hidden files. The batch removing them
                 * after the conversion ended (as it did) could remove a complete output that
                 * another run put in place in between: the locks were released by then. */
                cargv[n++] = "--complete-only";
                if (pfds[1] >= 0) {
                    cargv[n++] = "--progress-fd";
                    cargv[n++] = "3"; /* where spawn_conversion puts the pipe */
                }
                /* Outputs present but not all complete are from an interrupted run. */
                cargv[n++] = "-y";
                if (png)
                    for (int k = 0; k < 3; k++)
                        if (e->outs[k]) {
                            char mark[PATH_MAX];
                            snprintf(mark, sizeof mark, "%s/" COMPLETE_MARK, e->outs[k]);
                            unlink(mark);
                        }
                /* What is there before it runs, to tell what it left (outputs_absent). */
                for (int k = 0; k < 3; k++)
                    if (!e->outs[k] || stat(e->outs[k], &e->before[k]) < 0)
                        e->before[k].st_nlink = 0;
                e->oom_before = oom_kills();
                e->t0 = now_seconds();
                int ret = spawn_conversion(&e->pid, self, cargv, fds[1], pfds[1], parent);
                close(fds[1]);
                if (pfds[1] >= 0)
                    close(pfds[1]);
                free(cargv);
                if (ret != 0) {
                    close(fds[0]);
                    if (pfds[0] >= 0)
                        close(pfds[0]);
                    start_failed(e, ret);
                    finished++;
                    progress_ended(e, "failed", todo, finished);
                    continue;
                }
                fcntl(fds[0], F_SETFL, O_NONBLOCK);
                e->err_fd = fds[0];
                if (pfds[0] >= 0)
                    fcntl(pfds[0], F_SETFL, O_NONBLOCK);
                e->prog_fd = pfds[0];
                e->st = RUNNING;
                running++;
            }
            if (stop && !forwarded) {
                /* Each conversion stops cleanly, and removes its unfinished outputs
                 * (--complete-only), so the next run converts it again. */
                for (int i = 0; i < l.n; i++)
                    if (l.e[i].st == RUNNING)
                        kill(l.e[i].pid, stop);
                forwarded = 1;
            }
            if (running == 0)
                break;
            struct pollfd pf[515];
            int idx[515], np = 0;
            for (int i = 0; i < l.n && np < 256; i++)
                if (l.e[i].st == RUNNING && l.e[i].err_fd >= 0) {
                    pf[np].fd = l.e[i].err_fd;
                    pf[np].events = POLLIN;
                    idx[np++] = i;
                }
            /* Progress pipes after the stderr pipes: pf[m] for m < nerr is a stderr. */
            int nerr = np;
            for (int m = 0; m < nerr; m++)
                if (l.e[idx[m]].prog_fd >= 0) {
                    pf[np].fd = l.e[idx[m]].prog_fd;
                    pf[np].events = POLLIN;
                    idx[np++] = idx[m];
                }
            /* Last: the progress descriptor, when lines wait for it. */
            int pout = g_prog.fd >= 0 && sink_waiting(&g_prog) > 0 ? np : -1;
            if (pout >= 0) {
                pf[np].fd = g_prog.fd;
                pf[np].events = POLLOUT;
                idx[np++] = -1;
            }
            /* And the batch's stdout and stderr, when lines wait for them. */
            sink *logs[2] = {&g_out, g_err != &g_out ? g_err : NULL};
            int plog = np;
            for (int k = 0; k < 2; k++)
                if (logs[k] && logs[k]->fd >= 0 && sink_waiting(logs[k]) > 0) {
                    pf[np].fd = logs[k]->fd;
                    pf[np].events = POLLOUT;
                    idx[np++] = -1;
                }
            if (poll(pf, (nfds_t)np, 200) < 0 && errno != EINTR)
                break;
            if (pout >= 0 && pf[pout].revents)
                sink_flush(&g_prog);
            if (np > plog) {
                sink_flush(&g_out);
                sink_flush(g_err);
            }
            for (int m = nerr; m < (pout >= 0 ? pout : plog); m++)
                if (pf[m].revents & POLLIN)
                    pump_progress(&l.e[idx[m]], todo, finished);
            for (int m = 0; m < nerr; m++) {
                entry *e = &l.e[idx[m]];
                if (!(pf[m].revents & (POLLIN | POLLHUP | POLLERR)))
                    continue;
                pump(e, 0);
                if (!(pf[m].revents & POLLHUP) || (pf[m].revents & POLLIN))
                    continue;
                /* The child closed its stderr: it is ending. */
                int ws;
                while (waitpid(e->pid, &ws, 0) < 0 && errno == EINTR)
                    ;
                pump(e, 1);
                close(e->err_fd);
                e->err_fd = -1;
                if (e->prog_fd >= 0) { /* the conversion ended: all its lines are in the pipe */
                    pump_progress(e, todo, finished);
                    close(e->prog_fd);
                    e->prog_fd = -1;
                }
                e->seconds = now_seconds() - e->t0;
                e->exit_code = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
                running--;
                finished++;
                if (e->exit_code == 0) {
                    e->st = DONE;
                    for (int k = 0; png && k < 3; k++)
                        if (e->outs[k]) {
                            char mark[PATH_MAX];
                            snprintf(mark, sizeof mark, "%s/" COMPLETE_MARK, e->outs[k]);
                            FILE *f = fopen(mark, "w");
                            if (f)
                                fclose(f);
                        }
                    say(&g_out, "[%d/%d] %s: done in %.1f s\n", finished, todo, e->input,
                        e->seconds);
                } else {
                    e->st = FAILED;
                    /* The signal that ended it: killed by it, or stopped by it (a conversion
                     * exits with 128 + the signal after a stop). */
                    int sig = WIFSIGNALED(ws)         ? WTERMSIG(ws)
                              : e->exit_code > 128    ? e->exit_code - 128
                                                      : 0;
                    int stopped = sig == SIGINT || sig == SIGTERM || sig == SIGHUP;
                    /* SIGKILL is what the kernel's OOM killer (a cgroup's memory limit on
                     * Slurm or Kubernetes) sends; a person's kill -9 too. Either way the
                     * input is not known to be bad: counted as transient (exit 75 when
                     * every failure is), so that a scheduler retries the batch, which skips
                     * what is done and converts it again, with fewer conversions beside it.
                     * One that runs out of memory alone fails again, until the scheduler's
                     * retries run out. The cgroup's OOM kill count tells which it was,
                     * where it can be read. */
                    e->killed = WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL;
                    /* Stopped by a signal that was not the batch's (`pkill -INT -f 'rvm -i'`
                     * from another shell, a process manager's SIGTERM): nothing says the
                     * input is bad, a retry converts it. When the batch is stopping, the
                     * stop is its own (the terminal's Ctrl-C reaches the conversions
                     * directly too) and its exit code says so. */
                    int outside = stopped && !atomic_load(&g_batch_stop);
                    e->transient = e->exit_code == RVMI_EXIT_TRANSIENT || e->killed || outside;
                    /* The error is the conversion's own last line (what it ended on: the
                     * failure, or the stop and its cause); one killed by a signal printed
                     * no such line, its last one is from before. */
                    if (e->killed) {
                        int oom = oom_killed(e);
                        snprintf(e->last_error, sizeof e->last_error, "%s",
                                 oom > 0 ? "killed by the kernel's OOM killer (SIGKILL; the "
                                           "cgroup's OOM kill count rose while it ran: out of "
                                           "memory; counted as transient, a retry converts it "
                                           "again)"
                                 : oom == 0 ? "killed by signal 9 (SIGKILL, not by the OOM "
                                              "killer: the cgroup's OOM kill count did not "
                                              "change; counted as transient, a retry converts "
                                              "it again)"
                                            : "killed by signal 9 (SIGKILL: possibly out of "
                                              "memory, the kernel's OOM killer; counted as "
                                              "transient, a retry converts it again)");
                    } else if (WIFSIGNALED(ws)) {
                        snprintf(e->last_error, sizeof e->last_error, "killed by signal %d%s",
                                 sig, outside ? " (not the batch's: counted as transient, a "
                                                "retry converts it again)" : "");
                    } else if (outside) { /* after its own line, if any */
                        size_t at = strlen(e->last_error), room = sizeof e->last_error - at;
                        int w = snprintf(e->last_error + at, room,
                                         "%s(SIG%s from outside the batch: counted as "
                                         "transient, a retry converts it again)",
                                         at ? " " : "",
                                         sig == SIGINT ? "INT" : sig == SIGTERM ? "TERM" : "HUP");
                        (void)w;
                    }
                    /* What it left, as it is now: a stopped or failed conversion removes
                     * its unfinished outputs itself (--complete-only), one killed leaves
                     * hidden files only (the next run removes them); an output in place is
                     * one it put there before it was killed, or another run's. */
                    e->removed = outputs_absent(e);
                    if (!e->last_error[0])
                        snprintf(e->last_error, sizeof e->last_error, "failed (exit code %d)",
                                 e->exit_code);
                    if (WIFSIGNALED(ws) && !atomic_load(&g_batch_stop))
                        say(g_err, "rvm: %s: %s\n", e->input, e->last_error);
                    else if (outside) /* after its own line, which says how it stopped */
                        say(g_err, "rvm: %s: stopped by SIG%s from outside the batch: counted "
                                   "as transient, a retry converts it again\n", e->input,
                            sig == SIGINT ? "INT" : sig == SIGTERM ? "TERM" : "HUP");
                }
                progress_ended(e, e->st == DONE ? "done" : "failed", todo, finished);
            }
        }
        double elapsed = now_seconds() - t_start;
        int nd = 0, ns = 0, nf = 0;
        for (int i = 0; i < l.n; i++) {
            nd += l.e[i].st == DONE;
            ns += l.e[i].st == SKIPPED;
            nf += l.e[i].st == FAILED;
        }
        int nleft = l.n - nd - ns - nf;
        /* The summary: queued whatever waits (never dropped). */
        char *sum = NULL;
        size_t sum_len = 0;
        FILE *m = open_memstream(&sum, &sum_len);
        if (m) {
            fprintf(m, "rvm: batch: %d done, %d skipped, %d failed", nd, ns, nf);
            if (nleft)
                fprintf(m, ", %d not started", nleft);
            for (int i = 0, first = 1; i < l.n; i++)
                if (l.e[i].st == FAILED) {
                    fprintf(m, "%s%s", first ? " (" : ", ", l.e[i].input);
                    first = 0;
                }
            fprintf(m, "%s in %.1f s", nf ? ")" : "", elapsed);
            if (nd > 0)
                fprintf(m, " (%.0f files per hour)", nd * 3600.0 / elapsed);
            fputc('\n', m);
            if (fclose(m) == 0)
                sink_put(g_err, sum, sum_len, 0, 1);
            else
                free(sum);
        }
        int report_failed = 0;
        if (report) {
            cJSON *root = cJSON_CreateObject(), *arr = cJSON_CreateArray();
            static const char *const names[] = {"pending", "running", "done", "skipped",
                                                "failed"};
            cJSON_AddNumberToObject(root, "done", nd);
            cJSON_AddNumberToObject(root, "skipped", ns);
            cJSON_AddNumberToObject(root, "failed", nf);
            cJSON_AddNumberToObject(root, "not_started", nleft);
            cJSON_AddNumberToObject(root, "jobs", jobs);
            cJSON_AddNumberToObject(root, "threads_per_job", per);
            cJSON_AddNumberToObject(root, "seconds", elapsed);
            cJSON_AddItemToObject(root, "inputs", arr);
            for (int i = 0; i < l.n; i++) {
                entry *e = &l.e[i];
                cJSON *o = cJSON_CreateObject(), *outs = cJSON_CreateArray();
                cJSON_AddStringToObject(o, "input", e->input);
                cJSON_AddStringToObject(o, "status", names[e->st]);
                for (int k = 0; k < 3; k++)
                    if (e->outs[k])
                        cJSON_AddItemToArray(outs, cJSON_CreateString(e->outs[k]));
                cJSON_AddItemToObject(o, "outputs", outs);
                if (e->st == DONE || e->st == FAILED) {
                    cJSON_AddNumberToObject(o, "exit_code", e->exit_code);
                    cJSON_AddNumberToObject(o, "seconds", e->seconds);
                }
                if (e->st == FAILED) {
                    cJSON_AddStringToObject(o, "error", e->last_error);
                    cJSON_AddBoolToObject(o, "outputs_removed", e->removed);
                }
                add_warnings(o, e);
                cJSON_AddItemToArray(arr, o);
            }
            char *text = cJSON_Print(root);
            cJSON_Delete(root);
            /* Under a hidden name, put in place complete (an interrupted write left half a
             * report, or nothing of the file it replaced). */
            if (!text)
                snprintf(err, sizeof err, "out of memory");
            int ok = text && rvmi_write_text(report, text, err, sizeof err) == 0;
            free(text);
            if (!ok)
                say(g_err, "rvm: batch: the report: %s\n", err);
            report_failed = !ok;
        }
        /* What a scheduler needs to know: 75 (retry) when every failure was transient (75,
         * killed by SIGKILL, stopped by a signal not the batch's), as a retried batch skips
         * what is done and converts the rest again; 1 when any failure would fail again the
         * same way. */
        int transient = nf > 0;
        for (int i = 0; i < l.n; i++)
            if (l.e[i].st == FAILED && !l.e[i].transient)
                transient = 0;
        int signals = atomic_load(&g_batch_signals), sig = atomic_load(&g_batch_stop);
        /* A stop that stopped nothing (every input done or skipped: it came after the last
         * frame of the last ones, whose outputs are complete and in place) ends the batch as
         * done, as such a stop ends a conversion (exit 0; it was 128 + the signal). */
        if (sig && nf == 0 && nleft == 0)
            sig = 0;
        sink_flush(&g_out); /* what waits for a stdout that fails shows it now */
        int lost = log_lost(0);
        status = report_failed ? RVMI_EXIT_TRANSIENT
                 : sig         ? 128 + sig
                 : nf          ? (transient ? RVMI_EXIT_TRANSIENT : RVMI_EXIT_FAILURE)
                 : lost        ? lost
                               : 0;
        char tail[256];
        int tl = snprintf(tail, sizeof tail,
                          "\"done\":%d,\"skipped\":%d,\"failed\":%d,\"not_started\":%d,"
                          "\"seconds\":%.1f,\"exit_code\":%d}",
                          nd, ns, nf, nleft, elapsed, status);
        progress_write("{\"event\":\"batch\"", tail, (size_t)tl, 0);
        /* A stop while the batch waits for its readers (Ctrl-C at a stalled one) is a stop:
         * 128 + the signal, as a stop before (which keeps its own). */
        int late = sinks_finish(signals);
        if (late && !sig && !report_failed)
            status = 128 + late;
        else if (!lost && status == 0 && (lost = log_lost(1)))
            status = lost; /* a write that failed only while the batch waited for its readers */
    }
done:
    sinks_finish(atomic_load(&g_batch_signals)); /* a failed set-up's lines (after a run: none) */
    for (int i = 0; i < l.n; i++) {
        free(l.e[i].input);
        free(l.e[i].name);
        for (int k = 0; k < 3; k++)
            free(l.e[i].outs[k]);
        for (int k = 0; k < l.e[i].nwarnings; k++)
            free(l.e[i].warnings[k]);
        free(l.e[i].warnings);
        if (l.e[i].err_fd >= 0)
            close(l.e[i].err_fd);
        if (l.e[i].prog_fd >= 0)
            close(l.e[i].prog_fd);
    }
    free(l.e);
    free(pass);
    free(inputs);
    free(lists);
    return status;
}
