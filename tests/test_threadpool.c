/* The worker pool (src/kernels/threadpool.c), the stream's helper priority, the CPU count.
 * - Every run does each of its tasks exactly once, on a thread index in range, and returns
 *   only when all are finished, whoever took them: the caller no longer waits for workers that
 *   have not joined a run, so a worker that joins late, or not at all, must neither run a task
 *   twice, nor run one after its run returned (it would show up in the next run's counts),
 *   nor be left inside a run. Tasks of uneven length (some sleep) make workers join late and
 *   hold tasks while the caller runs out.
 * - rvm_stream_set_helper_nice: its argument errors, and that the stream's helper threads (and
 *   only they) end up the given nice levels below the calling thread (read from /proc).
 * - rvm_cpu_count: the affinity's CPUs (one CPU set with sched_setaffinity gives 1), and the
 *   cgroup CPU limits it also follows, read from made-up trees in both cgroup versions.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define _GNU_SOURCE
#include <dirent.h>
#include <sched.h>
#include <sys/stat.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "fixture.h"
#include "kernels/threadpool.h"
#include "model/library.h"

#define MAX_TASKS 64

typedef struct {
    atomic_int count[MAX_TASKS + 1]; /* one past n: a task index out of range */
    atomic_int inside, bad_thread;
    int threads;
    unsigned seed;
} runs;

static void task(void *ctx, int i, int thread)
{
    runs *r = ctx;
    atomic_fetch_add(&r->inside, 1);
    if (thread < 0 || thread >= r->threads)
        atomic_fetch_add(&r->bad_thread, 1);
    atomic_fetch_add(&r->count[i < MAX_TASKS ? i : MAX_TASKS], 1);
    unsigned h = (r->seed ^ (unsigned)i * 2654435761u) >> 7;
    if (h % 7 == 0) { /* now and then a slow task: up to 0.2 ms */
        struct timespec ts = {0, (long)(h % 200) * 1000};
        nanosleep(&ts, NULL);
    }
    atomic_fetch_sub(&r->inside, 1);
}

static void check_runs(int threads, int rounds)
{
    rvmi_pool *p = rvmi_pool_create(threads);
    CHECK(p && rvmi_pool_threads(p) == threads, "pool of %d threads", threads);
    if (!p)
        return;
    static runs r;
    r.threads = threads;
    int failures = 0;
    for (int k = 0; k < rounds && failures < 5; k++) {
        int n = 1 + (int)((k * 2654435761u) >> 8) % MAX_TASKS;
        for (int i = 0; i <= MAX_TASKS; i++)
            atomic_store(&r.count[i], 0);
        r.seed = (unsigned)k * 40503u + 1u;
        rvmi_pool_run(p, n, task, &r);
        int wrong = atomic_load(&r.inside) != 0 || atomic_load(&r.bad_thread) != 0 ||
                    atomic_load(&r.count[MAX_TASKS]) != 0;
        for (int i = 0; i < MAX_TASKS; i++)
            wrong |= atomic_load(&r.count[i]) != (i < n);
        if (wrong) {
            failures++;
            CHECK(0, "%d threads, run %d of %d tasks: a task ran twice, not at all, out of range "
                  "or after the run returned", threads, k, n);
        }
    }
    CHECK(failures == 0, "%d threads: %d runs of %d wrong", threads, failures, rounds);
    rvmi_pool_free(p);
}

/* The nice value of thread tid of this process (field 19 of its stat), or 99. */
static int thread_nice(const char *tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%s/stat", tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 99;
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = 0;
    char *s = strrchr(buf, ')'); /* the name may hold spaces */
    int field = 2, nice = 99;
    for (char *t = s ? strtok(s + 1, " ") : NULL; t; t = strtok(NULL, " "))
        if (++field == 19) {
            nice = atoi(t);
            break;
        }
    return nice;
}

/* Counts this process's threads other than the caller at want and at other nice values. */
static void count_helpers(int want, int *at, int *other)
{
    char self[32];
    snprintf(self, sizeof self, "%ld", (long)syscall(SYS_gettid));
    *at = *other = 0;
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, self))
            continue;
        if (thread_nice(e->d_name) == want)
            ++*at;
        else
            ++*other;
    }
    closedir(d);
}

static void check_helper_nice(void)
{
    CHECK(rvm_stream_set_helper_nice(NULL, 5) == RVM_EINVAL, "a NULL stream accepted");
    rvm_model *model = test_shipped_model();
    if (!model)
        return;
    char err[256];
    rvm_stream *s = rvm_stream_create(model, 3, NULL, err, sizeof err);
    CHECK(s != NULL, "stream: %s", err);
    if (!s) {
        rvm_model_free(model);
        return;
    }
    CHECK(rvm_stream_set_helper_nice(s, -1) == RVM_EINVAL, "helper nice -1 accepted");
    CHECK(rvm_stream_set_helper_nice(s, 20) == RVM_EINVAL, "helper nice 20 accepted");
    CHECK(strstr(rvm_stream_error(s), "0 to 19") != NULL, "the error says the range: %s",
          rvm_stream_error(s));
    char self[32];
    snprintf(self, sizeof self, "%ld", (long)syscall(SYS_gettid));
    const int base = thread_nice(self), inc = base + 7 > 19 ? 19 - base : 7;
    CHECK(rvm_stream_set_helper_nice(s, inc) == 0, "helper nice %d: %s", inc, rvm_stream_error(s));
    const int w = 64, h = 48;
    uint8_t rgb[64 * 48 * 3], pha[64 * 48];
    for (int i = 0; i < w * h * 3; i++)
        rgb[i] = (uint8_t)(i * 37);
    rvm_output out = {.type = RVM_PIXEL_U8, .pha = pha, .pha_stride = w};
    CHECK(rvm_stream_process(s, rgb, w, h, 3 * w, 1.0, &out) == 0, "frame: %s",
          rvm_stream_error(s));
    /* The helpers take the new priority when they wake for a step, which may be after the
     * frame returned (the caller does not wait for them): look for up to 10 s. */
    int at = 0, other = 0;
    for (int tries = 0; tries < 1000; tries++) {
        count_helpers(base + inc, &at, &other);
        if (at == 2 && other == 0)
            break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    CHECK(at == 2 && other == 0, "helpers at nice %d: %d of 2 (%d other threads)", base + inc,
          at, other);
    CHECK(thread_nice(self) == base, "the calling thread moved from nice %d to %d", base,
          thread_nice(self));
    rvm_stream_free(s);
    rvm_model_free(model);
}

/* Writes text to root/rel, making its folders. */
static void put(const char *root, const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
        *p = 0;
        mkdir(path, 0700);
        *p = '/';
    }
    FILE *f = fopen(path, "w");
    CHECK(f != NULL, "cannot write %s", path);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void check_cpu_count(void)
{
    cpu_set_t all, one;
    CHECK(sched_getaffinity(0, sizeof all, &all) == 0, "sched_getaffinity");
    int n = rvm_cpu_count();
    CHECK(n >= 1 && n <= CPU_COUNT(&all), "rvm_cpu_count %d, the affinity holds %d", n,
          CPU_COUNT(&all));
    int first = 0;
    while (first < CPU_SETSIZE && !CPU_ISSET(first, &all))
        first++;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    if (sched_setaffinity(0, sizeof one, &one) == 0) {
        CHECK(rvm_cpu_count() == 1, "one CPU in the affinity: rvm_cpu_count %d", rvm_cpu_count());
        sched_setaffinity(0, sizeof all, &all);
    }

    char root[] = "/tmp/rvm-cgroup-XXXXXX";
    CHECK(mkdtemp(root) != NULL, "mkdtemp");
    char proc[600];
    snprintf(proc, sizeof proc, "%s/proc", root);
    /* Each case writes its files over the earlier cases' and expects a limit. */
    static const struct {
        const char *what, *files[5][2];
        int want;
    } cases[] = {
        {"v2: the group, its parent and the root limit; the smallest wins, rounded up",
         {{"proc", "0::/a/b\n"}, {"a/b/cpu.max", "max 100000\n"},
          {"a/cpu.max", "250000 100000\n"}, {"cpu.max", "800000 100000\n"}}, 3},
        {"v2: half a CPU in the group", {{"a/b/cpu.max", "50000 100000\n"}}, 1},
        {"v2: no limit", {{"proc", "0::/\n"}, {"cpu.max", "max 100000\n"}}, 0},
        {"v1: the cpu controller's hierarchy under root/cpu, 1.5 CPUs (-1 above: none)",
         {{"proc", "9:name=systemd:/\n4:cpu,cpuacct:/k8s/pod\n1:memory:/k8s/pod\n"},
          {"cpu/k8s/pod/cpu.cfs_quota_us", "150000\n"},
          {"cpu/k8s/pod/cpu.cfs_period_us", "100000\n"},
          {"cpu/k8s/cpu.cfs_quota_us", "-1\n"}, {"cpu/k8s/cpu.cfs_period_us", "100000\n"}}, 2},
        {"v1: no limit", {{"cpu/k8s/pod/cpu.cfs_quota_us", "-1\n"}}, 0},
        {"a malformed /proc/self/cgroup", {{"proc", "garbage\n0::relative\n"}}, 0},
        {"a malformed cpu.max", {{"proc", "0::/\n"}, {"cpu.max", "abc 100000\n"}}, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        for (int i = 0; i < 5 && cases[k].files[i][0]; i++)
            put(root, cases[k].files[i][0], cases[k].files[i][1]);
        int got = rvmi_cgroup_cpu_limit(root, proc);
        CHECK(got == cases[k].want, "%s: %d, not %d", cases[k].what, got, cases[k].want);
    }
    CHECK(rvmi_cgroup_cpu_limit(root, "/nonexistent/cgroup") == 0, "no /proc/self/cgroup");
    char cmd[640];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    CHECK(system(cmd) == 0, "rm %s", root);
}

int main(void)
{
    check_cpu_count();
    check_runs(2, 3000);
    check_runs(3, 2000);
    check_runs(8, 500); /* more threads than cores: workers join late or not at all */
    check_helper_nice();
    return check_report();
}
