/* The tests' CHECK: counts, prints a failing check with its place, and a closing line
 * "N passed, M failed" that CI reads.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_TEST_CHECK_H
#define RVM_TEST_CHECK_H

#include <stdio.h>

static int checks_passed, checks_failed;

#define CHECK(cond, ...)                                                                        \
    do {                                                                                        \
        if (cond) {                                                                             \
            checks_passed++;                                                                    \
        } else {                                                                                \
            checks_failed++;                                                                    \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                         \
            printf(__VA_ARGS__);                                                                \
            printf("\n");                                                                       \
        }                                                                                       \
    } while (0)

/* Prints the closing line; returns the process exit code. */
static inline int check_report(void)
{
    printf("%d passed, %d failed\n", checks_passed, checks_failed);
    return checks_failed ? 1 : 0;
}

#endif
