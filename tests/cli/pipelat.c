/* Per-frame latency of the rvm command between two pipes, as a live source would see it:
 * a frame goes into rvm's stdin (YUV4MPEG2, the simplest stream FFmpeg reads from a pipe),
 * and the time until its matte comes out of rvm's stdout (rawvideo, gray) is measured.
 * Frames are sent one at a time, each after the previous one's matte came back, and stdin
 * stays open meanwhile: a frame held back anywhere (a reader waiting for more input, an
 * unflushed output) shows as a timeout rather than as a number.
 *
 *   pipelat FRAMES.yuv W H COUNT TIMEOUT_S -- rvm ARGS...
 * FRAMES.yuv holds yuv420p frames (looped when fewer than COUNT). rvm ARGS must read
 * "-i -" and write the alpha to stdout as rawvideo. Prints one JSON line (milliseconds);
 * exits 0 when every matte came back in time, 1 otherwise, 2 on bad use.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Reads exactly n bytes before the deadline (ms on now_ms's clock). 0, or -1 on timeout,
 * end of stream or error. */
static int read_until(int fd, void *buf, size_t n, double deadline)
{
    char *p = buf;
    while (n > 0) {
        int left = (int)(deadline - now_ms());
        if (left <= 0)
            return -1;
        struct pollfd pfd = {fd, POLLIN, 0};
        int r = poll(&pfd, 1, left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        ssize_t k = read(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 8 || strcmp(argv[6], "--") != 0) {
        fprintf(stderr, "usage: pipelat FRAMES.yuv W H COUNT TIMEOUT_S -- rvm ARGS...\n");
        return 2;
    }
    int w = atoi(argv[2]), h = atoi(argv[3]), count = atoi(argv[4]);
    double timeout_ms = atof(argv[5]) * 1e3;
    if (w < 2 || h < 2 || (w & 1) || (h & 1) || count < 1 || count > 100000 || timeout_ms <= 0) {
        fprintf(stderr, "pipelat: bad size, count or timeout\n");
        return 2;
    }
    size_t in_size = (size_t)w * h * 3 / 2, out_size = (size_t)w * h;
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        fprintf(stderr, "pipelat: cannot open %s\n", argv[1]);
        return 2;
    }
    fseek(f, 0, SEEK_END);
    long total = ftell(f);
    fseek(f, 0, SEEK_SET);
    int nframes = total > 0 ? (int)(total / (long)in_size) : 0;
    char *frames = nframes > 0 ? malloc((size_t)nframes * in_size) : NULL;
    if (!frames || fread(frames, in_size, (size_t)nframes, f) != (size_t)nframes) {
        fprintf(stderr, "pipelat: %s holds no whole %dx%d yuv420p frame\n", argv[1], w, h);
        return 2;
    }
    fclose(f);

    int to_rvm[2], from_rvm[2];
    if (pipe(to_rvm) < 0 || pipe(from_rvm) < 0) {
        perror("pipelat: pipe");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    pid_t pid = fork();
    if (pid < 0) {
        perror("pipelat: fork");
        return 2;
    }
    if (pid == 0) {
        dup2(to_rvm[0], STDIN_FILENO);
        dup2(from_rvm[1], STDOUT_FILENO);
        close(to_rvm[0]);
        close(to_rvm[1]);
        close(from_rvm[0]);
        close(from_rvm[1]);
        execvp(argv[7], argv + 7);
        perror("pipelat: exec");
        _exit(127);
    }
    close(to_rvm[0]);
    close(from_rvm[1]);

    char header[128];
    int hl = snprintf(header, sizeof header, "YUV4MPEG2 W%d H%d F30:1 Ip A1:1 C420jpeg\n", w, h);
    double *lat = malloc(sizeof(double) * (size_t)count);
    char *out = malloc(out_size);
    int done = 0, ok = lat && out && write_all(to_rvm[1], header, (size_t)hl) == 0;
    for (int i = 0; ok && i < count; i++) {
        double t0 = now_ms();
        ok = write_all(to_rvm[1], "FRAME\n", 6) == 0 &&
             write_all(to_rvm[1], frames + (size_t)(i % nframes) * in_size, in_size) == 0;
        if (!ok) {
            fprintf(stderr, "pipelat: rvm stopped reading at frame %d\n", i);
            break;
        }
        if (read_until(from_rvm[0], out, out_size, t0 + timeout_ms) < 0) {
            fprintf(stderr, "pipelat: frame %d's matte did not come back within %.0f s (stdin "
                    "still open)\n", i, timeout_ms / 1e3);
            ok = 0;
            break;
        }
        lat[done++] = now_ms() - t0;
    }
    close(to_rvm[1]); /* end of input: rvm finishes */
    /* Whatever is left, then rvm's exit status. */
    while (read_until(from_rvm[0], out, out_size, now_ms() + timeout_ms) == 0)
        ;
    close(from_rvm[0]);
    int status = 0;
    if (!ok)
        kill(pid, SIGTERM);
    waitpid(pid, &status, 0);
    if (ok && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        fprintf(stderr, "pipelat: rvm ended with status %d\n", status);
        ok = 0;
    }
    if (done > 0) {
        double first = lat[0];
        qsort(lat, (size_t)done, sizeof(double), cmp_double);
        printf("{\"width\": %d, \"height\": %d, \"frames\": %d, \"first_ms\": %.1f, "
               "\"median_ms\": %.1f, \"p90_ms\": %.1f, \"max_ms\": %.1f}\n",
               w, h, done, first, lat[done / 2], lat[(done * 9) / 10], lat[done - 1]);
    }
    free(lat);
    free(out);
    free(frames);
    return ok && done == count ? 0 : 1;
}
