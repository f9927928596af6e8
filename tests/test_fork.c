/* A process forked after it ran the library: the child runs the parent's streams and model
 * with the parent's numbers. fork copies only the calling thread, so a stream's worker threads
 * and any lock another thread held at that moment are missing in the child; a child that
 * waited for them hung. Each child runs under alarm(): a hang is a failure, not a stuck test.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fixture.h"

#define CHILD_SECONDS 60 /* a child takes well under a second (ASan: a few) */
/* The child's exit codes. */
enum { CHILD_OK = 0, CHILD_FAILED = 3, CHILD_DIFFERS = 4 };

static const uint8_t *frames;
static int W, H;
static size_t plane;

/* Frame t (0 or 1) through s into pha; the status. */
static int run_frame(rvm_stream *s, int t, uint16_t *pha)
{
    rvm_output out = {.type = RVM_PIXEL_U16, .pha = pha, .pha_stride = 2 * W};
    return rvm_stream_process(s, frames + (size_t)t * plane * 3, W, H, 3 * W, 0.5, &out);
}

/* Waits for the child; its exit code, or a line and -1 when a signal (the alarm: it hung)
 * ended it. */
static int wait_child(pid_t pid, const char *what)
{
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    if (WIFSIGNALED(st)) {
        printf("%s: the child %s (signal %d)\n", what,
               WTERMSIG(st) == SIGALRM ? "hung" : "crashed", WTERMSIG(st));
        return -1;
    }
    return WEXITSTATUS(st);
}

static void quiet_log(void *user, rvm_log_level level, const char *message)
{
    (void)level, (void)message;
    atomic_fetch_add((atomic_int *)user, 1);
}

/* Runs a stream of its own frame after frame, and makes and frees streams (each logs a line),
 * until told to stop: the locks of a pool and of the log are taken all the time. */
typedef struct {
    const rvm_model *model;
    rvm_stream *busy;
    atomic_int stop, frames;
} churn_arg;

static void *churn(void *arg)
{
    churn_arg *c = arg;
    uint16_t *pha = malloc(plane * 2);
    for (int t = 0; !atomic_load(&c->stop); t ^= 1) {
        run_frame(c->busy, t, pha);
        rvm_stream_free(rvm_stream_create(c->model, 2, NULL, NULL, 0));
        atomic_fetch_add(&c->frames, 1);
    }
    free(pha);
    return NULL;
}

int main(void)
{
    test_clip clip;
    if (test_clip_load(&clip))
        return check_report();
    frames = clip.rgb, H = clip.h, W = clip.w, plane = (size_t)W * H;
    char err[256];
    rvm_model *model = test_shipped_model();
    if (!model)
        return check_report();
    uint16_t *ref0 = malloc(plane * 2), *ref1 = malloc(plane * 2), *got = malloc(plane * 2);
    rvm_stream *ref = rvm_stream_create(model, 2, NULL, err, sizeof err);
    CHECK(ref && run_frame(ref, 0, ref0) == 0 && run_frame(ref, 1, ref1) == 0, "reference");
    rvm_stream_free(ref);

    /* 1. A stream of 2 threads (and of 1) ran a frame; the child runs the next one on it, a
     * fresh stream's first frame, and frees both; the parent goes on as if nothing happened. */
    for (int threads = 1; threads <= 2; threads++) {
        rvm_stream *s = rvm_stream_create(model, threads, NULL, err, sizeof err);
        CHECK(s && run_frame(s, 0, got) == 0 && memcmp(got, ref0, plane * 2) == 0,
              "frame 0 before the fork (%d threads)", threads);
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            alarm(CHILD_SECONDS);
            int code = CHILD_OK;
            if (run_frame(s, 1, got) != 0)
                code = CHILD_FAILED;
            else if (memcmp(got, ref1, plane * 2) != 0)
                code = CHILD_DIFFERS;
            rvm_stream *fresh = rvm_stream_create(model, 2, NULL, NULL, 0);
            if (!fresh || run_frame(fresh, 0, got) != 0)
                code = CHILD_FAILED;
            else if (memcmp(got, ref0, plane * 2) != 0)
                code = CHILD_DIFFERS;
            rvm_stream_free(fresh);
            rvm_stream_free(s);
            rvm_model_free(model);
            _exit(code);
        }
        int code = wait_child(pid, "after a run");
        CHECK(code == CHILD_OK, "the child of a stream of %d threads: %s", threads,
              code == CHILD_DIFFERS ? "other numbers than the parent's" : "failed or hung");
        CHECK(run_frame(s, 1, got) == 0 && memcmp(got, ref1, plane * 2) == 0,
              "the parent's next frame after the fork (%d threads)", threads);
        rvm_stream_free(s);
    }

    /* 2. Forks while another thread runs a stream and makes streams that log: the child finds
     * their locks as that thread left them (perhaps held) and must run all the same. */
    atomic_int logged = 0;
    rvm_set_log(quiet_log, &logged);
    churn_arg c = {.model = model, .busy = rvm_stream_create(model, 2, NULL, NULL, 0)};
    pthread_t t;
    pthread_create(&t, NULL, churn, &c);
    int failures = 0, forks = 12;
    for (int i = 0; i < forks; i++) {
        struct timespec pause = {0, 20000000 + 7000000 * i}; /* forks at varying moments */
        nanosleep(&pause, NULL);
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            alarm(CHILD_SECONDS);
            /* the busy stream stopped mid-frame: fresh state, then the first frame's numbers */
            rvm_stream_reset(c.busy);
            int code = CHILD_OK;
            if (run_frame(c.busy, 0, got) != 0)
                code = CHILD_FAILED;
            else if (memcmp(got, ref0, plane * 2) != 0)
                code = CHILD_DIFFERS;
            rvm_stream *fresh = rvm_stream_create(model, 2, NULL, NULL, 0); /* logs */
            if (!fresh || run_frame(fresh, 0, got) != 0 || run_frame(fresh, 1, got) != 0)
                code = CHILD_FAILED;
            else if (memcmp(got, ref1, plane * 2) != 0)
                code = CHILD_DIFFERS;
            rvm_stream_free(fresh);
            rvm_stream_free(c.busy);
            _exit(code);
        }
        int code = wait_child(pid, "during another thread's runs");
        if (code != CHILD_OK) {
            printf("fork %d: child exit %d\n", i, code);
            failures++;
            break; /* one is enough (and a hang costs CHILD_SECONDS each) */
        }
    }
    atomic_store(&c.stop, 1);
    pthread_join(t, NULL);
    rvm_set_log(NULL, NULL);
    CHECK(failures == 0, "%d of %d children forked during another thread's runs failed",
          failures, forks);
    CHECK(atomic_load(&c.frames) > 0 && atomic_load(&logged) > 0, "the other thread ran");
    rvm_stream_free(c.busy);

    rvm_model_free(model);
    free(ref0), free(ref1), free(got);
    test_clip_free(&clip);
    return check_report();
}
