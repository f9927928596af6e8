/* One model, several streams at once: the model must be read-only and each stream's state its
 * own. Two threads run the same frames through two streams of one model; their outputs must
 * equal, bit for bit, those of a stream that ran alone (the kernels are deterministic).
 * Also checks the API's argument errors (they return codes, never crash).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npy.h"
#include "rvm.h"

#define FRAMES 2

#include "check.h"

typedef struct {
    const rvm_model *model;
    const uint8_t *frames;
    int w, h;
    uint16_t *pha; /* FRAMES * w * h */
    int status;
} job;

static void *run(void *arg)
{
    job *j = arg;
    char err[256];
    rvm_stream *s = rvm_stream_create(j->model, 1, err, sizeof err);
    if (!s) {
        j->status = -1;
        return NULL;
    }
    for (int t = 0; t < FRAMES && !j->status; t++) {
        rvm_output out = {RVM_PIXEL_U16, j->pha + (size_t)t * j->w * j->h, 2 * j->w, NULL, 0};
        j->status = rvm_stream_process(s, j->frames + (size_t)t * j->w * j->h * 3, j->w, j->h,
                                       3 * j->w, 0.5, &out);
    }
    rvm_stream_free(s);
    return NULL;
}

int main(void)
{
    npy in;
    if (npy_load(RVM_TEST_DATA "/golden/official_fgf_320x240_r0.5/input.npy", &in)) {
        printf("FAIL: no test frames\n");
        return 1;
    }
    int h = (int)in.shape[1], w = (int)in.shape[2];
    char err[256];
    rvm_model *model = rvm_model_load(NULL, RVM_VARIANT_AUTO, RVM_REFINER_AUTO, err, sizeof err);
    CHECK(model != NULL, "shipped model: %s", err);
    if (!model)
        return 1;
    size_t n = (size_t)FRAMES * w * h;
    job alone = {model, in.data, w, h, calloc(n, 2), 0};
    run(&alone);
    CHECK(alone.status == 0, "a stream alone failed");
    job a = {model, in.data, w, h, calloc(n, 2), 0}, b = {model, in.data, w, h, calloc(n, 2), 0};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, run, &a);
    pthread_create(&tb, NULL, run, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK(a.status == 0 && b.status == 0, "concurrent streams failed");
    CHECK(memcmp(a.pha, alone.pha, n * 2) == 0, "stream A differs from a stream alone");
    CHECK(memcmp(b.pha, alone.pha, n * 2) == 0, "stream B differs from a stream alone");

    /* argument errors: codes and messages, no crash */
    rvm_stream *s = rvm_stream_create(model, 2, err, sizeof err);
    uint8_t px[3 * 4] = {0};
    uint16_t o[4];
    rvm_output out = {RVM_PIXEL_U16, o, 4, NULL, 0};
    CHECK(rvm_stream_process(s, px, 2, 2, 6, 0.0, &out) == RVM_EINVAL, "ratio 0 accepted");
    CHECK(rvm_stream_process(s, px, 2, 2, 6, -1.0, &out) == RVM_EINVAL, "ratio -1 accepted");
    CHECK(rvm_stream_process(s, px, 2, 2, 6, 1.5, &out) == RVM_EINVAL, "ratio 1.5 accepted");
    CHECK(rvm_stream_process(s, px, 2, 2, 6, NAN, &out) == RVM_EINVAL, "ratio NaN accepted");
    CHECK(strstr(rvm_stream_error(s), "ratio") != NULL, "message: %s", rvm_stream_error(s));
    CHECK(rvm_stream_process(s, px, 0, 2, 6, 1.0, &out) == RVM_EINVAL, "width 0 accepted");
    CHECK(rvm_stream_process(s, px, RVM_MAX_SIDE + 1, 1, 3 * (RVM_MAX_SIDE + 1), 0.5, &out) ==
              RVM_EINVAL, "width above the limit accepted");
    CHECK(rvm_stream_process(s, px, 2, 2, 5, 1.0, &out) == RVM_EINVAL, "short stride accepted");
    CHECK(rvm_stream_process(s, NULL, 2, 2, 6, 1.0, &out) == RVM_EINVAL, "no data accepted");
    CHECK(rvm_stream_process(s, px, 2, 2, 6, 1.0, NULL) == RVM_EINVAL, "no output accepted");
    CHECK(rvm_stream_process(s, px, 2, 2, 6, 0.25, &out) == RVM_EINVAL, "empty internal size");
    CHECK(rvm_stream_process(s, px, 2, 2, 6, 1.0, &out) == 0, "a 2x2 frame: %s", rvm_stream_error(s));
    CHECK(rvm_stream_process(NULL, px, 2, 2, 6, 1.0, &out) == RVM_EINVAL, "no stream accepted");
    CHECK(rvm_model_load("/nonexistent.pth", RVM_VARIANT_AUTO, RVM_REFINER_AUTO, err, sizeof err) == NULL &&
              strstr(err, "nonexistent") != NULL, "missing checkpoint: %s", err);
    CHECK(rvm_model_load(NULL, RVM_VARIANT_RESNET50, RVM_REFINER_AUTO, err, sizeof err) == NULL &&
              strstr(err, "mobilenetv3") != NULL, "variant mismatch: %s", err);
    CHECK(rvm_model_load(NULL, RVM_VARIANT_AUTO, RVM_REFINER_DEEP_GUIDED_FILTER, err, sizeof err) == NULL,
          "refiner mismatch accepted");
    CHECK(rvm_auto_downsample_ratio(1920, 1080) == 512.0 / 1920 &&
              rvm_auto_downsample_ratio(320, 240) == 1.0, "auto ratio");
    rvm_stream_free(s);
    rvm_model_free(model);
    free(alone.pha), free(a.pha), free(b.pha);
    npy_free(&in);
    return check_report();
}
