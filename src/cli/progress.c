/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "cli/progress.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void fmt_time(char *buf, size_t n, double s)
{
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, n, "%02ld:%02ld", t / 60, t % 60);
}

void rvmi_progress_start(rvmi_progress *p, int64_t total, int bar, int fd)
{
    p->t0 = now();
    p->total = total;
    p->drawn = 0;
    p->bar = bar;
    p->fd = fd;
    p->last_json = -1;
}

/* One line, written whole; a reader that went away only ends the lines (SIGPIPE is
 * ignored by the command). Lines come at most every 0.25 s, and always the last. */
static void write_json(rvmi_progress *p, int64_t done, int64_t total, double el, double fps,
                       int last)
{
    if (p->fd < 0 || (!last && p->last_json >= 0 && el - p->last_json < 0.25))
        return;
    p->last_json = el;
    char line[256];
    double eta = total > 0 && fps > 0 ? (total - done) / fps : -1;
    int n = snprintf(line, sizeof line,
                     "{\"frames\":%lld,\"total\":%lld,\"fps\":%.2f,\"eta\":%.1f,"
                     "\"elapsed\":%.1f%s}\n",
                     (long long)done, (long long)(total > 0 ? total : -1), fps, eta, el,
                     last ? ",\"done\":true" : "");
    for (int off = 0; off < n;) {
        ssize_t w = write(p->fd, line + off, (size_t)(n - off));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            p->fd = -1;
            return;
        }
        off += (int)w;
    }
}

static void update(rvmi_progress *p, int64_t done, int last)
{
    double el = now() - p->t0;
    double fps = el > 0 ? done / el : 0;
    /* The input's frame count is an estimate from its header; never show more than 100%. */
    int64_t total = p->total > 0 && done > p->total ? done : p->total;
    write_json(p, done, total, el, fps, last);
    if (!p->bar)
        return;
    char text[128], eta[32];
    if (total > 0) {
        if (fps > 0)
            fmt_time(eta, sizeof(eta), (total - done) / fps);
        else
            snprintf(eta, sizeof(eta), "--:--");
        snprintf(text, sizeof(text), " %lld/%lld frames  %.1f fps  ETA %s", (long long)done,
                 (long long)total, fps, eta);
    } else {
        fmt_time(eta, sizeof(eta), el);
        snprintf(text, sizeof(text), " %lld frame%s  %.1f fps  %s", (long long)done,
                 done == 1 ? "" : "s", fps, eta);
    }
    struct winsize ws;
    int cols = ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 80;
    char line[512];
    int bar = cols - (int)strlen(text) - 4;
    if (bar > 50)
        bar = 50;
    int n = 0;
    if (total > 0 && bar >= 10) {
        int fill = (int)(bar * (double)done / total);
        line[n++] = '[';
        for (int i = 0; i < bar; i++)
            line[n++] = i < fill ? '#' : '.';
        line[n++] = ']';
    }
    snprintf(line + n, sizeof(line) - (size_t)n, "%s", text);
    /* \r and clear to the end of the line: redraw in place. */
    fprintf(stderr, "\r%s\033[K", line);
    fflush(stderr);
    p->drawn = 1;
}

void rvmi_progress_update(rvmi_progress *p, int64_t done)
{
    update(p, done, 0);
}

void rvmi_progress_end(rvmi_progress *p, int64_t done, int complete)
{
    if (complete)
        p->total = done;
    update(p, done, 1);
    if (p->bar)
        fputc('\n', stderr);
}
