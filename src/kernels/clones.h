/* Function multi-versioning for plain loops that the compiler vectorises: a function marked
 * with one of these is compiled once per listed instruction set, and the best one for the CPU
 * is picked when the program loads (GCC/Clang target_clones, through glibc's ifunc). Elsewhere
 * the marks are empty and one portable version is built.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_KERNELS_CLONES_H
#define RVM_KERNELS_CLONES_H

/* AVX-512 (x86-64-v4), AVX2+FMA (v3) and baseline copies. */
#if defined(__x86_64__) && defined(__GNUC__)
#define RVM_CLONES_V4_V3                                                                        \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define RVM_CLONES_V4_V3
#endif

/* AVX2 and baseline copies; GCC only, as these loops were measured with it. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define RVM_CLONES_AVX2 __attribute__((target_clones("avx2", "default")))
#else
#define RVM_CLONES_AVX2
#endif

#endif
