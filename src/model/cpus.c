/* How many CPUs this process can use (rvm_cpu_count): what a stream's "one thread per core"
 * means. The CPUs online overstate it wherever a scheduler or container gives a job fewer:
 * taskset, Slurm and Docker --cpuset-cpus restrict the affinity; a Kubernetes CPU limit (and
 * docker --cpus) is a CPU time quota of the job's cgroup, with every core still in the
 * affinity (cgroup v2's cpu.max, v1's cpu.cfs_quota_us). Threads beyond either take turns:
 * slower than fewer, not faster.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define _GNU_SOURCE
#include "model/library.h"

#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Whole CPUs (rounded up: a part of a CPU is a thread's worth) of a quota per period, both in
 * microseconds; 0 for none. */
static int cpus_of(long long quota, long long period)
{
    if (quota <= 0 || period <= 0)
        return 0;
    long long cpus = (quota + period - 1) / period;
    return cpus > INT_MAX ? INT_MAX : (int)cpus;
}

/* The limit set in one group's folder: cgroup v2's cpu.max ("QUOTA PERIOD" or "max PERIOD"),
 * or cgroup v1's cpu.cfs_quota_us (-1: none) and cpu.cfs_period_us; 0 for none. */
static int group_limit(const char *dir, int v1)
{
    char file[2 * PATH_MAX + 32];
    long long quota = 0, period = 0;
    snprintf(file, sizeof file, "%s/%s", dir, v1 ? "cpu.cfs_quota_us" : "cpu.max");
    FILE *f = fopen(file, "r");
    if (!f)
        return 0;
    int got = fscanf(f, "%lld", &quota);
    if (!v1 && got == 1)
        got += fscanf(f, " %lld", &period);
    fclose(f);
    if (v1) {
        snprintf(file, sizeof file, "%s/cpu.cfs_period_us", dir);
        if (got != 1 || !(f = fopen(file, "r")))
            return 0;
        got += fscanf(f, "%lld", &period);
        fclose(f);
    }
    return got == 2 ? cpus_of(quota, period) : 0; /* "max" reads as no number: none */
}

/* The smallest limit of the group at path (under base) and of its parents, or 0. The root
 * seen here may be a container's own group (a cgroup namespace shows it as "/"). */
static int walk_up(const char *base, char *path, int v1)
{
    int limit = 0;
    for (;;) {
        char dir[2 * PATH_MAX + 8];
        snprintf(dir, sizeof dir, "%s%s", base, strcmp(path, "/") == 0 ? "" : path);
        int l = group_limit(dir, v1);
        if (l > 0 && (limit == 0 || l < limit))
            limit = l;
        if (strcmp(path, "/") == 0)
            return limit;
        char *slash = strrchr(path, '/');
        if (slash == path)
            path[1] = 0;
        else
            *slash = 0;
    }
}

/* Whether a v1 line's controller list ("cpu,cpuacct") holds "cpu". */
static int lists_cpu(const char *list, size_t len)
{
    for (const char *p = list; p < list + len;) {
        size_t n = strcspn(p, ",:");
        if (n == 3 && strncmp(p, "cpu", 3) == 0)
            return 1;
        p += n + 1;
    }
    return 0;
}

int rvmi_cgroup_cpu_limit(const char *root, const char *proc_cgroup)
{
    FILE *f = fopen(proc_cgroup, "r");
    if (!f)
        return 0;
    char line[PATH_MAX + 64], path[PATH_MAX];
    int limit = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        /* "ID:CONTROLLERS:PATH": v2's line is "0::PATH"; v1's cpu controller has its own
         * hierarchy, mounted at ROOT/cpu (often a link to cpu,cpuacct). */
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2 || c2[1] != '/')
            continue;
        int v2 = c2 == c1 + 1 && strncmp(line, "0:", 2) == 0;
        if (!v2 && !lists_cpu(c1 + 1, (size_t)(c2 - c1 - 1)))
            continue;
        char base[PATH_MAX + 8];
        snprintf(base, sizeof base, "%s%s", root, v2 ? "" : "/cpu");
        snprintf(path, sizeof path, "%s", c2 + 1);
        int l = walk_up(base, path, !v2);
        if (l > 0 && (limit == 0 || l < limit))
            limit = l;
    }
    fclose(f);
    return limit;
}

int rvm_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
#ifdef __linux__
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        n = CPU_COUNT(&set);
    int limit = rvmi_cgroup_cpu_limit("/sys/fs/cgroup", "/proc/self/cgroup");
    if (limit > 0 && limit < n)
        n = limit;
#endif
    return n > 0 ? (n > INT_MAX ? INT_MAX : (int)n) : 1;
}
