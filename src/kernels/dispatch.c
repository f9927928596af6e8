/* Picks the kernel set once, from what the CPU supports.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"

static int cpu_has(const char *isa)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (strcmp(isa, "avx512") == 0)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    if (strcmp(isa, "avx2") == 0)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    return strcmp(isa, "generic") == 0 || strcmp(isa, "reference") == 0;
}

const rvmi_kernels *rvmi_kernels_by_name(const char *name)
{
    static const rvmi_kernels *const all[] = {&rvmi_kernels_avx512, &rvmi_kernels_avx2,
                                             &rvmi_kernels_generic, &rvmi_kernels_reference};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (strcmp(all[i]->name, name) == 0)
            return cpu_has(name) ? all[i] : NULL;
    return NULL;
}

const rvmi_kernels *rvmi_kernels_select(void)
{
    const char *want = getenv("RVM_ISA");
    if (want && *want) {
        const rvmi_kernels *k = rvmi_kernels_by_name(want);
        if (k)
            return k;
    }
    if (cpu_has("avx512"))
        return &rvmi_kernels_avx512;
    if (cpu_has("avx2"))
        return &rvmi_kernels_avx2;
    return &rvmi_kernels_generic;
}

static const rvmi_kernels *chosen;
static pthread_once_t chosen_once = PTHREAD_ONCE_INIT;
static void choose(void) { chosen = rvmi_kernels_select(); }

const rvmi_kernels *rvmi_kernels_default(void)
{
    pthread_once(&chosen_once, choose);
    return chosen;
}
