/* What the stream tests start from: the shipped model, and the frames of the golden clip
 * the library is checked on (uint8 RGB, 320x240). Each failure is a CHECK, so a test that
 * cannot start still ends with its "N passed, M failed" line.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_TEST_FIXTURE_H
#define RVM_TEST_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "check.h"
#include "npy.h"
#include "rvm.h"

/* The golden clip's frames: rgb holds count frames of w x h packed RGB, one after another. */
typedef struct {
    npy array;
    const uint8_t *rgb;
    int count, w, h;
} test_clip;

/* 0, or -1 after a failed CHECK. */
static inline int test_clip_load(test_clip *c)
{
    int bad = npy_load(RVM_TEST_DATA "/golden/official_fgf_320x240_r0.5/input.npy", &c->array);
    bad = bad || c->array.ndim != 4 || c->array.shape[3] != 3 || c->array.size != 1;
    CHECK(!bad, "no test frames (uint8 [T, H, W, 3]) in %s",
          RVM_TEST_DATA "/golden/official_fgf_320x240_r0.5/input.npy");
    if (bad)
        return -1;
    c->rgb = (const uint8_t *)c->array.data;
    c->count = (int)c->array.shape[0], c->h = (int)c->array.shape[1], c->w = (int)c->array.shape[2];
    return 0;
}

static inline void test_clip_free(test_clip *c) { npy_free(&c->array); }

/* The shipped model (MobileNetV3, real weights make real activations), or NULL after a failed
 * CHECK. */
static inline rvm_model *test_shipped_model(void)
{
    char err[256];
    rvm_model *m = rvm_model_load(NULL, RVM_VARIANT_AUTO, RVM_REFINER_AUTO, NULL, err, sizeof err);
    CHECK(m != NULL, "shipped model: %s", err);
    return m;
}

#endif
