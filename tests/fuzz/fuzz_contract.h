/* What every checkpoint fuzz target checks of a failed load or build: the library's error
 * contract.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_FUZZ_CONTRACT_H
#define RVM_FUZZ_CONTRACT_H

#include <stdio.h>
#include <stdlib.h>

#include "model/model.h"
#include "model/weights.h"
#include "rvm.h"

/* RVM_FUZZ_VERBOSE=1 prints each input's outcome (to see what the seeds reach). */
static inline void report(const char *what, int rc, const char *err)
{
    static int verbose = -1;
    if (verbose < 0)
        verbose = getenv("RVM_FUZZ_VERBOSE") != NULL;
    if (verbose)
        fprintf(stderr, "%s: %d %s\n", what, rc, rc ? err : "ok");
}

static inline void check_error(int rc, const char *err, const rvmi_weights *w, const char *what)
{
    report(what, rc, err);
    /* One line, and no control characters: the message may name things from the file. */
    int one_line = 1;
    for (const char *p = err; *p; p++)
        one_line &= (unsigned char)*p >= 0x20 && *p != 0x7f;
    if (rc >= 0 || rc < RVM_EUNSUPPORTED || !err[0] || !one_line) {
        fprintf(stderr, "%s broke the error contract: rc %d, message '%s'\n", what, rc, err);
        abort();
    }
    if (w && (w->count || w->tensors)) {
        fprintf(stderr, "%s failed but left %d tensors\n", what, w->count);
        abort();
    }
}

/* Builds the network from w as the loaders' callers do (variant and refiner from the
 * weights); a failure must keep the error contract. Returns the builder's code. */
static inline int build_checked(struct rvm_model *m, const rvmi_weights *w)
{
    char err[256];
    int rc = rvmi_model_build(m, w, RVM_VARIANT_AUTO, RVM_REFINER_AUTO, err, sizeof err);
    if (rc)
        check_error(rc, err, NULL, "rvmi_model_build");
    else
        report("rvmi_model_build", 0, "");
    return rc;
}

#endif
