/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "cli/progress.h"

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

void rvmi_progress_start(rvmi_progress *p, int64_t total)
{
    p->t0 = now();
    p->total = total;
    p->drawn = 0;
}

void rvmi_progress_update(rvmi_progress *p, int64_t done)
{
    double el = now() - p->t0;
    double fps = el > 0 ? done / el : 0;
    /* The input's frame count is an estimate from its header; never show more than 100%. */
    int64_t total = p->total > 0 && done > p->total ? done : p->total;
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
        snprintf(text, sizeof(text), " %lld frames  %.1f fps  %s", (long long)done, fps, eta);
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

void rvmi_progress_end(rvmi_progress *p, int64_t done, int complete)
{
    if (complete)
        p->total = done;
    rvmi_progress_update(p, done);
    fputc('\n', stderr);
}
