/* rvm serve: the job store and queue. Each job is a folder DATA/jobs/ID holding the upload
 * ("source", and "background" for an image background), the outputs and job.json (its
 * state, rewritten whole on each change). Conversions run as rvm child processes, so a
 * failed or killed one never takes the server down; their progress comes back as JSON lines
 * (--progress-fd) and their error as the last "rvm: ..." line of their stderr.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define _GNU_SOURCE
#include "serve/jobs.h"

#include "io/background.h"
#include "rvm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* What a cancelled child gets after SIGTERM before SIGKILL (it finishes its encoders). */
#define CANCEL_GRACE_S 5.0

struct rvmi_job {
    char id[RVMI_JOB_ID_LEN + 1];
    char name[128]; /* the client's file name, for display only */
    char dir[PATH_MAX];
    rvmi_job_options opt;
    int bg_image;
    rvmi_job_state state;
    long long seq; /* queue order */
    double created, started, finished;
    long long frames, total;
    double fps, eta;
    char error[512];
    pid_t pid;
    int cancel, deleted;
    unsigned version; /* bumped on every change */
    int refs;
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    char dir[PATH_MAX], jobs_dir[PATH_MAX], exe[PATH_MAX];
    int max_running, running, runners, closing, threads_per_job;
    rvmi_job **list;
    int n, cap;
    long long next_seq;
    pthread_t dispatcher;
    int dispatcher_started;
} S = {.lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER};

static const char *const state_names[] = {"queued", "running", "done", "failed", "cancelled",
                                          "interrupted"};
static const char *const kind_names[3] = {"composition", "alpha", "foreground"};

/* Copies a string, cut to fit (messages and display names may be cut; paths are checked to
 * fit when the store opens). */
static void copy_text(char *dst, size_t n, const char *src)
{
    size_t len = strnlen(src, n - 1);
    memcpy(dst, src, len);
    dst[len] = '\0';
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int rvmi_jobs_valid_id(const char *id)
{
    size_t n = strlen(id);
    if (n != RVMI_JOB_ID_LEN)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return 0;
    return 1;
}

static const char *ext_of_format(const char *format)
{
    return strcmp(format, "webm") == 0 ? "webm" : strcmp(format, "mov") == 0 ? "mov" : "mp4";
}

static int wants(const rvmi_job_options *o, int kind)
{
    return kind == 0 ? o->composition : kind == 1 ? o->alpha : o->foreground;
}

static void output_name(const rvmi_job *j, int kind, char *buf, size_t n)
{
    snprintf(buf, n, "%s.%s", kind_names[kind], ext_of_format(j->opt.format));
}

/* ---- the folder of a job ---------------------------------------------------------------- */

/* Removes what is not the upload or job.json: outputs, and what a killed child left
 * (rvm's .NAME.PID.rvm-part files). */
static void remove_outputs(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        if (!strcmp(n, ".") || !strcmp(n, "..") || !strcmp(n, "source") ||
            !strcmp(n, "background") || !strcmp(n, "job.json"))
            continue;
        unlinkat(dirfd(d), n, 0);
    }
    closedir(d);
}

/* Job folders are flat: every entry is a file the server or rvm wrote. */
void rvmi_jobs_remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                unlinkat(dirfd(d), e->d_name, 0);
        closedir(d);
    }
    rmdir(dir);
}

int rvmi_jobs_new_upload_dir(char *id, char *dir, size_t dirlen, char *err, size_t errlen)
{
    unsigned char r[RVMI_JOB_ID_LEN / 2];
    for (int attempt = 0; attempt < 4; attempt++) {
        if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
            snprintf(err, errlen, "rvm: no random numbers for a job id: %s", strerror(errno));
            return -1;
        }
        for (size_t i = 0; i < sizeof r; i++)
            sprintf(id + 2 * i, "%02x", r[i]);
        snprintf(dir, dirlen, "%s/%s", S.jobs_dir, id);
        if (mkdir(dir, 0700) == 0)
            return 0;
        if (errno != EEXIST)
            break;
    }
    snprintf(err, errlen, "rvm: cannot make a job folder in %s: %s", S.jobs_dir, strerror(errno));
    return -1;
}

/* ---- job.json ----------------------------------------------------------------------------- */

static cJSON *options_json(const rvmi_job *j)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "background", j->opt.background);
    cJSON_AddBoolToObject(o, "background_image", j->bg_image);
    cJSON *outs = cJSON_AddArrayToObject(o, "outputs");
    for (int k = 0; k < 3; k++)
        if (wants(&j->opt, k))
            cJSON_AddItemToArray(outs, cJSON_CreateString(kind_names[k]));
    cJSON_AddStringToObject(o, "format", j->opt.format);
    if (j->opt.ratio > 0)
        cJSON_AddNumberToObject(o, "ratio", j->opt.ratio);
    else
        cJSON_AddStringToObject(o, "ratio", "auto");
    return o;
}

/* The saved form; called with the lock held. Written beside and renamed, so a crash leaves
 * the old or the new state, never half a file. */
static void save(const rvmi_job *j)
{
    if (j->deleted)
        return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", j->id);
    cJSON_AddStringToObject(o, "name", j->name);
    cJSON_AddStringToObject(o, "state", state_names[j->state]);
    cJSON_AddNumberToObject(o, "seq", (double)j->seq);
    cJSON_AddNumberToObject(o, "created", j->created);
    cJSON_AddNumberToObject(o, "started", j->started);
    cJSON_AddNumberToObject(o, "finished", j->finished);
    cJSON_AddNumberToObject(o, "frames", (double)j->frames);
    cJSON_AddNumberToObject(o, "total", (double)j->total);
    cJSON_AddStringToObject(o, "error", j->error);
    cJSON_AddItemToObject(o, "options", options_json(j));
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text)
        return;
    char tmp[PATH_MAX + 16], path[PATH_MAX + 16];
    snprintf(tmp, sizeof tmp, "%s/job.json.tmp", j->dir);
    snprintf(path, sizeof path, "%s/job.json", j->dir);
    FILE *f = fopen(tmp, "we");
    if (f) {
        int ok = fputs(text, f) >= 0;
        ok &= fclose(f) == 0;
        if (ok)
            rename(tmp, path);
        else
            unlink(tmp);
    }
    free(text);
}

static void copy_string(char *dst, size_t n, const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    snprintf(dst, n, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

static double get_number(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static int by_seq(const void *a, const void *b)
{
    const rvmi_job *x = *(rvmi_job *const *)a, *y = *(rvmi_job *const *)b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int list_add(rvmi_job *j)
{
    if (S.n == S.cap) {
        int cap = S.cap ? 2 * S.cap : 16;
        rvmi_job **l = realloc(S.list, (size_t)cap * sizeof *l);
        if (!l)
            return -1;
        S.list = l;
        S.cap = cap;
    }
    S.list[S.n++] = j;
    return 0;
}

/* One folder of a previous run. Returns the job, or NULL: a folder without job.json is a
 * half-received upload (the upload is written first, job.json once it is whole), removed
 * with a line; a job.json that cannot be read or parsed is said and its folder kept as it
 * is, not listed (it was removed with the job's upload and outputs, without a word). */
static rvmi_job *load_job(const char *id)
{
    char dir[PATH_MAX], path[PATH_MAX + 16];
    if (snprintf(dir, sizeof dir, "%s/%s", S.jobs_dir, id) >= (int)sizeof dir)
        return NULL;
    snprintf(path, sizeof path, "%s/job.json", dir);
    struct stat st;
    if (lstat(path, &st) < 0 && errno == ENOENT) {
        fprintf(stderr, "rvm: serve: %s: an upload that never completed (no job.json), "
                        "removed\n", dir);
        rvmi_jobs_remove_dir(dir);
        return NULL;
    }
    FILE *f = fopen(path, "re");
    const char *why = f ? "out of memory" : strerror(errno);
    char *text = NULL;
    size_t len = 0;
    if (f) {
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        if (n <= 0 || n >= (1 << 20))
            why = n <= 0 ? "empty" : "over 1 MiB";
        if (n > 0 && n < (1 << 20) && (text = malloc((size_t)n + 1))) {
            len = fread(text, 1, (size_t)n, f);
            text[len] = '\0';
        }
        fclose(f);
    }
    int read_whole = text != NULL;
    cJSON *o = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (!cJSON_IsObject(o)) {
        fprintf(stderr, "rvm: serve: %s: %s; the job is not listed and its folder is kept as "
                        "it is\n", path, read_whole ? "not a job's JSON" : why);
        cJSON_Delete(o);
        return NULL;
    }
    rvmi_job *j = calloc(1, sizeof *j);
    if (!j) {
        cJSON_Delete(o);
        return NULL;
    }
    snprintf(j->id, sizeof j->id, "%s", id);
    snprintf(j->dir, sizeof j->dir, "%s", dir);
    copy_string(j->name, sizeof j->name, o, "name");
    char state[32];
    copy_string(state, sizeof state, o, "state");
    j->state = RVMI_JOB_INTERRUPTED;
    for (int s = 0; s < (int)(sizeof state_names / sizeof *state_names); s++)
        if (!strcmp(state, state_names[s]))
            j->state = (rvmi_job_state)s;
    j->seq = (long long)get_number(o, "seq");
    j->created = get_number(o, "created");
    j->started = get_number(o, "started");
    j->finished = get_number(o, "finished");
    j->frames = (long long)get_number(o, "frames");
    j->total = (long long)get_number(o, "total");
    copy_string(j->error, sizeof j->error, o, "error");
    const cJSON *opt = cJSON_GetObjectItemCaseSensitive(o, "options");
    copy_string(j->opt.background, sizeof j->opt.background, opt, "background");
    copy_string(j->opt.format, sizeof j->opt.format, opt, "format");
    j->bg_image = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(opt, "background_image"));
    j->opt.ratio = get_number(opt, "ratio");
    const cJSON *outs = cJSON_GetObjectItemCaseSensitive(opt, "outputs"), *k;
    cJSON_ArrayForEach(k, outs)
    {
        if (!cJSON_IsString(k))
            continue;
        j->opt.composition |= !strcmp(k->valuestring, "composition");
        j->opt.alpha |= !strcmp(k->valuestring, "alpha");
        j->opt.foreground |= !strcmp(k->valuestring, "foreground");
    }
    cJSON_Delete(o);
    char msg[256];
    if (rvmi_job_options_check(&j->opt, j->bg_image, msg, sizeof msg) < 0) {
        /* Not something this server wrote: listed as failed, never run. */
        j->state = RVMI_JOB_FAILED;
        snprintf(j->error, sizeof j->error, "%s", msg);
    }
    if (j->state == RVMI_JOB_RUNNING) {
        /* Cut off by a stop or crash of the server: what it wrote is incomplete. */
        j->state = RVMI_JOB_INTERRUPTED;
        j->finished = 0;
        snprintf(j->error, sizeof j->error, "rvm: the server stopped while this job ran");
        remove_outputs(dir);
    }
    j->refs = 1;
    save(j);
    return j;
}

/* ---- the child ----------------------------------------------------------------------------- */

typedef struct {
    char buf[1024];
    size_t len;
} line_buffer;

/* Reads what is there; calls fn for each complete line. Returns 0, or -1 at the end. */
static int read_lines(int fd, line_buffer *b, void (*fn)(rvmi_job *, char *), rvmi_job *j)
{
    ssize_t n = read(fd, b->buf + b->len, sizeof b->buf - 1 - b->len);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (n <= 0) {
        if (b->len) {
            b->buf[b->len] = '\0';
            fn(j, b->buf);
            b->len = 0;
        }
        return -1;
    }
    b->len += (size_t)n;
    char *start = b->buf, *nl;
    while ((nl = memchr(start, '\n', b->len - (size_t)(start - b->buf)))) {
        *nl = '\0';
        fn(j, start);
        start = nl + 1;
    }
    size_t rest = b->len - (size_t)(start - b->buf);
    if (rest == sizeof b->buf - 1) { /* a line longer than the buffer: cut */
        b->buf[rest] = '\0';
        fn(j, b->buf);
        rest = 0;
    }
    memmove(b->buf, start, rest);
    b->len = rest;
    return 0;
}

static void on_progress_line(rvmi_job *j, char *line)
{
    cJSON *o = cJSON_Parse(line);
    if (!o)
        return;
    pthread_mutex_lock(&S.lock);
    j->frames = (long long)get_number(o, "frames");
    j->total = (long long)get_number(o, "total");
    j->fps = get_number(o, "fps");
    j->eta = get_number(o, "eta");
    j->version++;
    pthread_cond_broadcast(&S.changed);
    pthread_mutex_unlock(&S.lock);
    cJSON_Delete(o);
}

/* The command's error is its last "rvm: ..." line. It names the files by their paths in the
 * data folder; the person knows the video by its own name, and the folder is none of the
 * client's business: "DIR/source" becomes the upload's name, "DIR/background" (after the
 * command's "background: " or "--background ") the background image, "DIR/" goes. */
static void on_stderr_line(rvmi_job *j, char *line)
{
    if (strncmp(line, "rvm: ", 5) != 0)
        return;
    char out[sizeof j->error];
    size_t k = 0, dirlen = strlen(j->dir);
    pthread_mutex_lock(&S.lock);
    for (const char *p = line; *p && k + 1 < sizeof out;) {
        if (!strncmp(p, j->dir, dirlen) && p[dirlen] == '/') {
            p += dirlen + 1;
            if (!strncmp(p, "source", 6)) {
                p += 6;
                for (const char *n = j->name; *n && k + 1 < sizeof out; n++)
                    out[k++] = *n;
            } else if (!strncmp(p, "background", 10)) {
                /* "rvm: background: background: no video stream" read as a stutter. */
                static const char *const lead[] = {"background: ", "--background "};
                p += 10;
                for (int i = 0; i < 2; i++) {
                    size_t m = strlen(lead[i]);
                    if (k >= m && !strncmp(out + k - m, lead[i], m)) {
                        k -= m;
                        break;
                    }
                }
                for (const char *n = "the background image"; *n && k + 1 < sizeof out; n++)
                    out[k++] = *n;
            }
            continue;
        }
        out[k++] = *p++;
    }
    out[k] = '\0';
    /* The command's advice for an animated WebP is a command line, for the file's own
     * path: in the page's terms, what to upload instead. */
    char *webp = strstr(out, "animated WebP cannot be decoded");
    if (webp)
        snprintf(webp, sizeof out - (size_t)(webp - out),
                 "animated WebP is not supported: upload a video (MP4, WebM) or a still image");
    copy_text(j->error, sizeof j->error, out);
    pthread_mutex_unlock(&S.lock);
}

/* Runs in the forked child of a threaded process: async-signal-safe calls only. */
static void exec_child(char **argv, int progress_fd, int err_fd, pid_t parent)
{
    /* The child dies with the server (even on SIGKILL), so no conversion runs on unseen. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL); /* the server blocks SIGINT/SIGTERM for sigwait */
    signal(SIGPIPE, SIG_DFL);
    int null = open("/dev/null", O_RDWR);
    if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(err_fd, 2) < 0 ||
        dup2(progress_fd, 3) < 0)
        _exit(127);
    close_range(4, ~0U, 0);
    execv(argv[0], argv);
    _exit(127);
}

static void *run_job(void *arg)
{
    rvmi_job *j = arg;
    char source[PATH_MAX + 16], bg[PATH_MAX + 16], outs[3][PATH_MAX + 32], ratio[32],
        threads[16];
    char *argv[32];
    int a = 0;
    argv[a++] = S.exe;
    snprintf(source, sizeof source, "%s/source", j->dir);
    argv[a++] = "--input-source";
    argv[a++] = source;
    static const char *const flags[3] = {"--output-composition", "--output-alpha",
                                         "--output-foreground"};
    for (int k = 0; k < 3; k++) {
        if (!wants(&j->opt, k))
            continue;
        char name[64];
        output_name(j, k, name, sizeof name);
        if (snprintf(outs[k], sizeof outs[k], "%s/%s", j->dir, name) >= (int)sizeof outs[k])
            outs[k][0] = '\0'; /* cannot happen: the folder's length is checked at open */
        argv[a++] = (char *)flags[k];
        argv[a++] = outs[k];
    }
    if (j->opt.composition) {
        if (!strcmp(j->opt.background, "image")) {
            snprintf(bg, sizeof bg, "%s/background", j->dir);
            argv[a++] = "--background";
            argv[a++] = bg;
        } else if (!strcmp(j->opt.background, "none")) {
            argv[a++] = "--background";
            argv[a++] = "none";
        } else if (strcmp(j->opt.background, "green") != 0) {
            /* a colour (checked), given to the command as #rrggbb: never taken for the name
             * of a file in the job's folder */
            uint8_t rgb[3] = {0};
            rvmi_parse_colour(j->opt.background, rgb);
            snprintf(bg, sizeof bg, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
            argv[a++] = "--background";
            argv[a++] = bg;
        }
    }
    argv[a++] = "--codec";
    argv[a++] = !strcmp(j->opt.format, "webm") ? "vp9" : !strcmp(j->opt.format, "mov") ? "prores"
                                                                                       : "h264";
    if (j->opt.ratio > 0) {
        snprintf(ratio, sizeof ratio, "%.6g", j->opt.ratio);
        argv[a++] = "--downsample-ratio";
        argv[a++] = ratio;
    }
    snprintf(threads, sizeof threads, "%d", S.threads_per_job);
    argv[a++] = "--threads";
    argv[a++] = threads;
    argv[a++] = "--disable-progress";
    argv[a++] = "--progress-fd";
    argv[a++] = "3";
    argv[a] = NULL;

    int prog[2] = {-1, -1}, errp[2] = {-1, -1};
    pid_t pid = -1;
    if (pipe2(prog, O_CLOEXEC) == 0 && pipe2(errp, O_CLOEXEC) == 0) {
        pid_t parent = getpid();
        pid = fork();
        if (pid == 0)
            exec_child(argv, prog[1], errp[1], parent);
    }
    if (prog[1] >= 0)
        close(prog[1]);
    if (errp[1] >= 0)
        close(errp[1]);

    pthread_mutex_lock(&S.lock);
    j->pid = pid > 0 ? pid : 0;
    if (pid > 0 && (j->cancel || S.closing))
        kill(pid, SIGTERM);
    pthread_mutex_unlock(&S.lock);

    int status = 0;
    if (pid > 0) {
        line_buffer pb = {.len = 0}, eb = {.len = 0};
        int open_fds = 2;
        struct pollfd fds[2] = {{prog[0], POLLIN, 0}, {errp[0], POLLIN, 0}};
        double stop_sent = -1;
        while (open_fds > 0) {
            int r = poll(fds, 2, 250);
            if (r < 0 && errno != EINTR)
                break;
            if (fds[0].fd >= 0 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) &&
                read_lines(prog[0], &pb, on_progress_line, j) < 0) {
                fds[0].fd = -1;
                open_fds--;
            }
            if (fds[1].fd >= 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) &&
                read_lines(errp[0], &eb, on_stderr_line, j) < 0) {
                fds[1].fd = -1;
                open_fds--;
            }
            pthread_mutex_lock(&S.lock);
            int stopping = j->cancel || S.closing;
            pthread_mutex_unlock(&S.lock);
            if (stopping) {
                if (stop_sent < 0) {
                    stop_sent = mono_now();
                    kill(pid, SIGTERM);
                } else if (mono_now() - stop_sent > CANCEL_GRACE_S) {
                    kill(pid, SIGKILL);
                }
            }
        }
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
    if (prog[0] >= 0)
        close(prog[0]);
    if (errp[0] >= 0)
        close(errp[0]);

    pthread_mutex_lock(&S.lock);
    j->pid = 0;
    j->finished = wall_now();
    if (pid < 0) {
        j->state = RVMI_JOB_FAILED;
        snprintf(j->error, sizeof j->error, "rvm: cannot start the conversion: %s",
                 strerror(errno));
    } else if (j->cancel) {
        j->state = RVMI_JOB_CANCELLED;
        j->error[0] = '\0';
    } else if (S.closing) {
        j->state = RVMI_JOB_INTERRUPTED;
        snprintf(j->error, sizeof j->error, "rvm: the server stopped while this job ran");
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        j->state = RVMI_JOB_DONE;
        j->error[0] = '\0';
    } else {
        j->state = RVMI_JOB_FAILED;
        if (WIFSIGNALED(status))
            snprintf(j->error, sizeof j->error, "rvm: the conversion was killed (%s)",
                     strsignal(WTERMSIG(status)));
        else if (!j->error[0])
            snprintf(j->error, sizeof j->error, "rvm: the conversion failed (exit code %d)",
                     WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    if (j->state != RVMI_JOB_DONE)
        remove_outputs(j->dir);
    if (j->deleted)
        rvmi_jobs_remove_dir(j->dir);
    else
        save(j);
    j->version++;
    S.running--;
    S.runners--;
    pthread_cond_broadcast(&S.changed);
    pthread_mutex_unlock(&S.lock);
    rvmi_job_put(j);
    return NULL;
}

/* Starts queued jobs, oldest first, while fewer than max_running run. */
static void *dispatch(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&S.lock);
    while (!S.closing) {
        rvmi_job *next = NULL;
        if (S.running < S.max_running)
            for (int i = 0; i < S.n; i++)
                if (S.list[i]->state == RVMI_JOB_QUEUED && (!next || S.list[i]->seq < next->seq))
                    next = S.list[i];
        if (!next) {
            pthread_cond_wait(&S.changed, &S.lock);
            continue;
        }
        next->state = RVMI_JOB_RUNNING;
        next->started = wall_now();
        next->version++;
        next->refs++;
        save(next);
        S.running++;
        S.runners++;
        pthread_t th;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&th, &at, run_job, next) != 0) {
            next->state = RVMI_JOB_FAILED;
            next->finished = wall_now();
            snprintf(next->error, sizeof next->error, "rvm: cannot start a thread for the job");
            save(next);
            next->refs--;
            S.running--;
            S.runners--;
        }
        pthread_attr_destroy(&at);
        pthread_cond_broadcast(&S.changed);
    }
    pthread_mutex_unlock(&S.lock);
    return NULL;
}

/* ---- the store ------------------------------------------------------------------------------ */

/* -2 for a failure of the moment (a full disk, an I/O error, too many open files: a retry
 * can succeed), -1 for the folder's own (missing parents, no permission, a file system that
 * takes no folders: /proc/x). */
static int open_failed(int e)
{
    return e == ENOSPC || e == EDQUOT || e == EIO || e == ENOMEM || e == EMFILE ||
                   e == ENFILE || e == EAGAIN
               ? -2
               : -1;
}

/* Cuts path's last part off in place (trailing slashes first): "a/b" -> "a", "b" -> ".",
 * "/b" -> "/". */
static void cut_last(char *path, size_t size)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        path[--n] = '\0';
    char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(path, size, ".");
    else if (slash == path)
        slash[1] = '\0';
    else
        *slash = '\0';
}

/* Why the folder data_dir could not be made (mkdir's error e), said of the folder it goes
 * in: ENOENT is a missing parent (the first one missing is named: "/nonexist", not
 * "/nonexist/a"), or a file system that takes no new folders (/proc, /sys), whose "No such
 * file or directory" would mislead; ENOTDIR a file on the way (named). */
static void explain_mkdir(const char *data_dir, int e, char *err, size_t errlen)
{
    char parent[PATH_MAX], missing[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", data_dir);
    snprintf(missing, sizeof missing, "%s", data_dir);
    cut_last(parent, sizeof parent);
    struct stat st;
    int found = 0;
    while (!(found = stat(parent, &st) == 0) && (errno == ENOENT || errno == ENOTDIR) &&
           strcmp(parent, ".") != 0 && strcmp(parent, "/") != 0) {
        snprintf(missing, sizeof missing, "%s", parent);
        cut_last(parent, sizeof parent);
    }
    if ((e == ENOENT || e == ENOTDIR) && found && !S_ISDIR(st.st_mode))
        snprintf(err, errlen, "--data-dir %s: %s is a file, not a folder", data_dir, parent);
    else if (e == ENOENT && found && strcmp(missing, data_dir) == 0)
        snprintf(err, errlen, "--data-dir %s: cannot make a folder in %s: its file system takes "
                              "no new folders", data_dir, parent);
    else if (e == ENOENT)
        snprintf(err, errlen, "--data-dir %s: cannot make it: %s does not exist (make it first)",
                 data_dir, missing);
    else if (e == EACCES || e == EPERM || e == EROFS)
        snprintf(err, errlen, "--data-dir %s: cannot make a folder in %s: %s", data_dir, parent,
                 strerror(e));
    else
        snprintf(err, errlen, "--data-dir %s: %s", data_dir, strerror(e));
}

int rvmi_jobs_open(const char *data_dir, const char *rvm_exe, int max_running, char *err,
                   size_t errlen)
{
    if (mkdir(data_dir, 0700) < 0 && errno != EEXIST) {
        int e = errno;
        explain_mkdir(data_dir, e, err, errlen);
        return open_failed(e);
    }
    if (!realpath(data_dir, S.dir)) {
        snprintf(err, errlen, "--data-dir %s: %s", data_dir, strerror(errno));
        return open_failed(errno);
    }
    if (strlen(S.dir) > PATH_MAX - 128) {
        snprintf(err, errlen, "--data-dir %s: the path is too long", data_dir);
        return -1;
    }
    if (snprintf(S.jobs_dir, sizeof S.jobs_dir, "%s/jobs", S.dir) >= (int)sizeof S.jobs_dir)
        return -1;
    if (mkdir(S.jobs_dir, 0700) < 0 && errno != EEXIST) {
        int e = errno;
        snprintf(err, errlen, "--data-dir %s: cannot make %s: %s", data_dir, S.jobs_dir,
                 e == ENOENT ? "its file system takes no new folders" : strerror(e));
        return open_failed(e);
    }
    if (access(S.jobs_dir, W_OK | X_OK) < 0) {
        snprintf(err, errlen, "--data-dir %s: %s is not writable", data_dir, S.jobs_dir);
        return -1;
    }
    snprintf(S.exe, sizeof S.exe, "%s", rvm_exe);
    S.max_running = max_running;
    int cores = rvm_cpu_count();
    S.threads_per_job = cores > max_running ? cores / max_running : 1;
    DIR *d = opendir(S.jobs_dir);
    if (!d) {
        snprintf(err, errlen, "--data-dir %s: %s", data_dir, strerror(errno));
        return open_failed(errno);
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!rvmi_jobs_valid_id(e->d_name))
            continue;
        rvmi_job *j = load_job(e->d_name);
        if (j && list_add(j) < 0)
            free(j);
        if (j && j->seq >= S.next_seq)
            S.next_seq = j->seq + 1;
    }
    closedir(d);
    if (S.n > 1) /* qsort must not be given the NULL of an empty list */
        qsort(S.list, (size_t)S.n, sizeof *S.list, by_seq);
    if (pthread_create(&S.dispatcher, NULL, dispatch, NULL) != 0) {
        snprintf(err, errlen, "cannot start the job queue");
        return -2;
    }
    S.dispatcher_started = 1;
    return 0;
}

void rvmi_jobs_close(void)
{
    pthread_mutex_lock(&S.lock);
    S.closing = 1;
    for (int i = 0; i < S.n; i++)
        if (S.list[i]->pid > 0)
            kill(S.list[i]->pid, SIGTERM);
    pthread_cond_broadcast(&S.changed);
    /* The runners stop their children (SIGKILL after the grace time) and record them as
     * interrupted. */
    while (S.runners > 0)
        pthread_cond_wait(&S.changed, &S.lock);
    pthread_mutex_unlock(&S.lock);
    if (S.dispatcher_started)
        pthread_join(S.dispatcher, NULL);
    for (int i = 0; i < S.n; i++)
        rvmi_job_put(S.list[i]);
    free(S.list);
    S.list = NULL;
    S.n = S.cap = 0;
}

const char *rvmi_jobs_data_dir(void)
{
    return S.dir;
}

int64_t rvmi_jobs_free_space(void)
{
    struct statvfs v;
    if (statvfs(S.jobs_dir, &v) < 0)
        return -1;
    return (int64_t)v.f_bavail * (int64_t)v.f_frsize;
}

int rvmi_job_options_check(const rvmi_job_options *o, int have_background_image, char *err,
                           size_t errlen)
{
    const char *bg = o->background;
    if (!o->composition && !o->alpha && !o->foreground) {
        snprintf(err, errlen, "rvm: choose at least one output (composition, alpha, foreground)");
        return -1;
    }
    if (strcmp(o->format, "mp4") && strcmp(o->format, "webm") && strcmp(o->format, "mov")) {
        snprintf(err, errlen, "rvm: format %s: expected mp4, webm or mov", o->format);
        return -1;
    }
    /* A colour is what the command's --background takes as one (its own parser): a name,
     * #RRGGBB, #RGB, 0xRRGGBB or R,G,B; "green" is the official green screen. */
    uint8_t rgb[3];
    int colour = strcmp(bg, "green") && strcmp(bg, "image") && strcmp(bg, "none")
                     ? rvmi_parse_colour(bg, rgb)
                     : 0;
    if (colour == -2) {
        snprintf(err, errlen, "rvm: background %s: a background colour cannot be see-through "
                              "(the composition is opaque); none gives a transparent composition "
                              "(WebM or MOV)", bg);
        return -1;
    }
    if (colour < 0) {
        snprintf(err, errlen, "rvm: background %s: %s", bg, SERVE_BACKGROUNDS);
        return -1;
    }
    if (!strcmp(bg, "image") && !have_background_image) {
        snprintf(err, errlen, "rvm: the background is an image, but no image was sent");
        return -1;
    }
    if (!strcmp(bg, "none") && o->composition && !strcmp(o->format, "mp4")) {
        snprintf(err, errlen, "rvm: a transparent composition needs WebM (VP9) or MOV (ProRes "
                              "4444); MP4 (H.264) has no alpha channel");
        return -1;
    }
    if (!(o->ratio >= 0 && o->ratio <= 1)) {
        snprintf(err, errlen, "rvm: the downsample ratio: expected auto or a number in (0, 1]");
        return -1;
    }
    return 0;
}

/* The length of the well-formed UTF-8 sequence of a non-ASCII character at p, or 0. */
static size_t utf8_length(const unsigned char *p)
{
    size_t n = p[0] >= 0xc2 && p[0] <= 0xdf ? 2 : p[0] >= 0xe0 && p[0] <= 0xef ? 3
               : p[0] >= 0xf0 && p[0] <= 0xf4                                ? 4
                                                                              : 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if ((n == 3 && p[0] == 0xe0 && p[1] < 0xa0) || (n == 3 && p[0] == 0xed && p[1] >= 0xa0) ||
        (n == 4 && p[0] == 0xf0 && p[1] < 0x90) || (n == 4 && p[0] == 0xf4 && p[1] >= 0x90))
        return 0; /* overlong, surrogate or beyond U+10FFFF */
    return n;
}

void rvmi_fit_name(char *dst, size_t n, const char *src)
{
    size_t k = strlen(src);
    if (k < n) {
        memcpy(dst, src, k + 1);
        return;
    }
    const char *dot = strrchr(src, '.');
    size_t ext = dot && dot != src && strlen(dot) < n / 2 && strlen(dot) <= 16 ? strlen(dot) : 0;
    size_t stem = n - 1 - ext;
    while (stem > 0 && ((unsigned char)src[stem] & 0xc0) == 0x80)
        stem--; /* not inside a character */
    memcpy(dst, src, stem);
    memcpy(dst + stem, src + k - ext, ext + 1);
}

/* Well-formed UTF-8 without control characters, slashes or backslashes (each becomes '_'):
 * the name only ever shows on the page (as text) and in a Content-Disposition header (encoded
 * there), never as a path. A leading dot becomes '_' (a download would be a hidden file). */
static void clean_name(char *dst, size_t n, const char *src)
{
    size_t len = strlen(src), k = 0;
    char *all = malloc(len + 1); /* cleaning never makes a name longer */
    if (!all) {
        snprintf(dst, n, "video");
        return;
    }
    const unsigned char *p = (const unsigned char *)src;
    while (*p) {
        size_t c = *p >= 0x80 ? utf8_length(p) : 1;
        if (c > 1) {
            memcpy(all + k, p, c);
            k += c;
            p += c;
            continue;
        }
        unsigned char b = *p++;
        all[k++] = (b >= 0x20 && b < 0x7f && b != '\\' && b != '/') ? (char)b : '_';
    }
    all[k] = '\0';
    for (char *d = all; *d == '.'; d++)
        *d = '_';
    rvmi_fit_name(dst, n, all);
    free(all);
    if (!dst[0])
        snprintf(dst, n, "video");
}

rvmi_job *rvmi_jobs_add(const char *id, const char *name, const rvmi_job_options *o,
                        int have_background_image, char *err, size_t errlen)
{
    rvmi_job *j = calloc(1, sizeof *j);
    if (!j) {
        snprintf(err, errlen, "rvm: out of memory");
        return NULL;
    }
    snprintf(j->id, sizeof j->id, "%s", id);
    if (snprintf(j->dir, sizeof j->dir, "%s/%s", S.jobs_dir, id) >= (int)sizeof j->dir) {
        free(j);
        snprintf(err, errlen, "rvm: the data folder's path is too long");
        return NULL;
    }
    clean_name(j->name, sizeof j->name, name ? name : "");
    j->opt = *o;
    j->bg_image = have_background_image && !strcmp(o->background, "image");
    j->state = RVMI_JOB_QUEUED;
    j->created = wall_now();
    j->refs = 2; /* the store's and the caller's */
    pthread_mutex_lock(&S.lock);
    if (S.closing || list_add(j) < 0) {
        pthread_mutex_unlock(&S.lock);
        free(j);
        snprintf(err, errlen, "rvm: the server is stopping");
        return NULL;
    }
    j->seq = S.next_seq++;
    save(j);
    pthread_cond_broadcast(&S.changed);
    pthread_mutex_unlock(&S.lock);
    return j;
}

rvmi_job *rvmi_job_get(const char *id)
{
    if (!rvmi_jobs_valid_id(id))
        return NULL;
    rvmi_job *found = NULL;
    pthread_mutex_lock(&S.lock);
    for (int i = 0; i < S.n; i++)
        if (!strcmp(S.list[i]->id, id)) {
            found = S.list[i];
            found->refs++;
            break;
        }
    pthread_mutex_unlock(&S.lock);
    return found;
}

void rvmi_job_put(rvmi_job *j)
{
    if (!j)
        return;
    pthread_mutex_lock(&S.lock);
    int last = --j->refs == 0;
    pthread_mutex_unlock(&S.lock);
    if (last)
        free(j);
}

static void download_name(const rvmi_job *j, const char *kind, char *buf, size_t n)
{
    if (!strcmp(kind, "source")) {
        copy_text(buf, n, j->name);
        return;
    }
    char stem[128];
    copy_text(stem, sizeof stem, j->name);
    char *dot = strrchr(stem, '.');
    if (dot && dot != stem)
        *dot = '\0';
    snprintf(buf, n, "%s-%s.%s", stem, kind, ext_of_format(j->opt.format));
}

static void file_entry(cJSON *files, const rvmi_job *j, const char *name, const char *kind)
{
    char path[PATH_MAX + 80];
    snprintf(path, sizeof path, "%s/%s", j->dir, name);
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
        return;
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "name", name);
    cJSON_AddStringToObject(f, "kind", kind);
    char dl[200];
    download_name(j, kind, dl, sizeof dl);
    cJSON_AddStringToObject(f, "download_name", dl);
    cJSON_AddNumberToObject(f, "size", (double)st.st_size);
    char url[200];
    snprintf(url, sizeof url, "/api/jobs/%s/files/%s", j->id, name);
    cJSON_AddStringToObject(f, "url", url);
    cJSON_AddItemToArray(files, f);
}

/* Called with the lock held. */
static cJSON *job_json_locked(rvmi_job *j)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", j->id);
    cJSON_AddStringToObject(o, "name", j->name);
    cJSON_AddStringToObject(o, "state", state_names[j->state]);
    cJSON_AddNumberToObject(o, "created", j->created);
    if (j->started > 0)
        cJSON_AddNumberToObject(o, "started", j->started);
    if (j->finished > 0)
        cJSON_AddNumberToObject(o, "finished", j->finished);
    if (j->state == RVMI_JOB_QUEUED) {
        int ahead = 0;
        for (int i = 0; i < S.n; i++)
            ahead += S.list[i]->state == RVMI_JOB_QUEUED && S.list[i]->seq < j->seq;
        cJSON_AddNumberToObject(o, "queue_position", ahead + 1);
    }
    cJSON *p = cJSON_AddObjectToObject(o, "progress");
    cJSON_AddNumberToObject(p, "frames", (double)j->frames);
    if (j->total > 0)
        cJSON_AddNumberToObject(p, "total", (double)j->total);
    if (j->state == RVMI_JOB_RUNNING) {
        cJSON_AddNumberToObject(p, "fps", j->fps);
        if (j->eta >= 0)
            cJSON_AddNumberToObject(p, "eta", j->eta);
    }
    if (j->error[0])
        cJSON_AddStringToObject(o, "error", j->error);
    cJSON_AddItemToObject(o, "options", options_json(j));
    cJSON *files = cJSON_AddArrayToObject(o, "files");
    file_entry(files, j, "source", "source");
    if (j->state == RVMI_JOB_DONE)
        for (int k = 0; k < 3; k++)
            if (wants(&j->opt, k)) {
                char name[64];
                output_name(j, k, name, sizeof name);
                file_entry(files, j, name, kind_names[k]);
            }
    return o;
}

cJSON *rvmi_job_json(rvmi_job *j)
{
    pthread_mutex_lock(&S.lock);
    cJSON *o = job_json_locked(j);
    pthread_mutex_unlock(&S.lock);
    return o;
}

cJSON *rvmi_jobs_json(void)
{
    cJSON *a = cJSON_CreateArray();
    pthread_mutex_lock(&S.lock);
    for (int i = 0; i < S.n; i++)
        cJSON_AddItemToArray(a, job_json_locked(S.list[i]));
    pthread_mutex_unlock(&S.lock);
    return a;
}

static int cancel_locked(rvmi_job *j)
{
    if (j->state == RVMI_JOB_QUEUED) {
        j->state = RVMI_JOB_CANCELLED;
        j->finished = wall_now();
        save(j);
    } else if (j->state == RVMI_JOB_RUNNING) {
        j->cancel = 1; /* the runner stops the child and records the end */
        if (j->pid > 0)
            kill(j->pid, SIGTERM);
    } else {
        return -1;
    }
    j->version++;
    pthread_cond_broadcast(&S.changed);
    return 0;
}

int rvmi_job_cancel(rvmi_job *j)
{
    pthread_mutex_lock(&S.lock);
    int r = cancel_locked(j);
    pthread_mutex_unlock(&S.lock);
    return r;
}

void rvmi_job_delete(rvmi_job *j)
{
    pthread_mutex_lock(&S.lock);
    for (int i = 0; i < S.n; i++)
        if (S.list[i] == j) {
            memmove(&S.list[i], &S.list[i + 1], (size_t)(S.n - i - 1) * sizeof *S.list);
            S.n--;
            j->refs--; /* the store's reference (the caller still holds one) */
            int running = j->state == RVMI_JOB_RUNNING;
            cancel_locked(j);
            j->deleted = 1;
            if (!running)
                rvmi_jobs_remove_dir(j->dir);
            j->version++;
            pthread_cond_broadcast(&S.changed);
            break;
        }
    pthread_mutex_unlock(&S.lock);
}

int rvmi_job_ended(rvmi_job *j)
{
    pthread_mutex_lock(&S.lock);
    int ended = j->deleted || (j->state != RVMI_JOB_QUEUED && j->state != RVMI_JOB_RUNNING);
    pthread_mutex_unlock(&S.lock);
    return ended;
}

int rvmi_job_wait(rvmi_job *j, unsigned *version, int timeout_ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    int r = 0;
    pthread_mutex_lock(&S.lock);
    while (j->version == *version && !S.closing)
        if (pthread_cond_timedwait(&S.changed, &S.lock, &dl) == ETIMEDOUT)
            break;
    if (S.closing)
        r = -1;
    else if (j->version != *version)
        r = 1;
    *version = j->version;
    pthread_mutex_unlock(&S.lock);
    return r;
}

static const char *source_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {{".mp4", "video/mp4"},        {".m4v", "video/mp4"},
                 {".webm", "video/webm"},      {".mkv", "video/x-matroska"},
                 {".mov", "video/quicktime"},  {".ogv", "video/ogg"},
                 {".avi", "video/x-msvideo"}};
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof *types; i++)
        if (!strcasecmp(dot, types[i].ext))
            return types[i].type;
    return "application/octet-stream";
}

int rvmi_job_open_file(rvmi_job *j, const char *name, int64_t *size, const char **type,
                       char *dl, size_t dnlen)
{
    int fd = -1;
    pthread_mutex_lock(&S.lock);
    const char *file = NULL;
    if (!j->deleted && !strcmp(name, "source")) {
        file = "source";
        *type = source_type(j->name);
        download_name(j, "source", dl, dnlen);
    } else if (!j->deleted && j->state == RVMI_JOB_DONE) {
        /* Only the exact names of this job's outputs: nothing the client sends becomes a
         * path. */
        for (int k = 0; k < 3; k++) {
            char out[64];
            output_name(j, k, out, sizeof out);
            if (wants(&j->opt, k) && !strcmp(name, out)) {
                file = kind_names[k];
                const char *ext = ext_of_format(j->opt.format);
                *type = !strcmp(ext, "webm")  ? "video/webm"
                        : !strcmp(ext, "mov") ? "video/quicktime"
                                              : "video/mp4";
                download_name(j, kind_names[k], dl, dnlen);
                break;
            }
        }
    }
    if (file) {
        char path[PATH_MAX + 80];
        if (!strcmp(file, "source"))
            snprintf(path, sizeof path, "%s/source", j->dir);
        else
            snprintf(path, sizeof path, "%s/%s", j->dir, name);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        struct stat st;
        if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
            close(fd);
            fd = -1;
        } else if (fd >= 0) {
            *size = st.st_size;
        }
    }
    pthread_mutex_unlock(&S.lock);
    return fd;
}
