/* One model, several streams at once: the model must be read-only and each stream's state its
 * own. Two threads run the same frames through two streams of one model, each stream with one
 * and then with two threads of its own; their outputs must equal, bit for bit, those of a
 * stream that ran alone (the kernels are deterministic, whatever the thread count).
 * Also checks the API's argument errors (they return codes, never crash).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"

#define FRAMES 2

/* Collects the library's diagnostics (rvm_set_log). */
typedef struct {
    char text[2048];
    int count;
} log_sink;

static void collect(void *user, rvm_log_level level, const char *message)
{
    log_sink *l = user;
    (void)level;
    size_t n = strlen(l->text);
    snprintf(l->text + n, sizeof l->text - n, "%s\n", message);
    l->count++;
}

typedef struct {
    const rvm_model *model;
    const uint8_t *frames;
    int w, h;
    uint16_t *pha; /* FRAMES * w * h */
    int threads;   /* of the stream */
    int status;
} job;

static void *run(void *arg)
{
    job *j = arg;
    char err[256];
    rvm_stream *s = rvm_stream_create(j->model, j->threads, NULL, err, sizeof err);
    if (!s) {
        j->status = -1;
        return NULL;
    }
    for (int t = 0; t < FRAMES && !j->status; t++) {
        rvm_output out = {.type = RVM_PIXEL_U16, .pha = j->pha + (size_t)t * j->w * j->h,
                          .pha_stride = 2 * j->w};
        j->status = rvm_stream_process(s, j->frames + (size_t)t * j->w * j->h * 3, j->w, j->h,
                                       3 * j->w, 0.5, &out);
    }
    rvm_stream_free(s);
    return NULL;
}

int main(void)
{
    test_clip clip;
    if (test_clip_load(&clip))
        return check_report();
    int h = clip.h, w = clip.w;
    char err[256];
    rvm_model *model = test_shipped_model();
    if (!model)
        return check_report();
    size_t n = (size_t)FRAMES * w * h;
    job alone = {model, clip.rgb, w, h, calloc(n, 2), 1, 0};
    run(&alone);
    CHECK(alone.status == 0, "a stream alone failed");
    job a = {model, clip.rgb, w, h, calloc(n, 2), 1, 0};
    job b = {model, clip.rgb, w, h, calloc(n, 2), 1, 0};
    for (int threads = 1; threads <= 2; threads++) {
        a.threads = b.threads = threads;
        memset(a.pha, 0, n * 2), memset(b.pha, 0, n * 2);
        pthread_t ta, tb;
        pthread_create(&ta, NULL, run, &a);
        pthread_create(&tb, NULL, run, &b);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        CHECK(a.status == 0 && b.status == 0, "concurrent streams (%d threads each) failed",
              threads);
        CHECK(memcmp(a.pha, alone.pha, n * 2) == 0,
              "stream A (%d threads) differs from a stream alone", threads);
        CHECK(memcmp(b.pha, alone.pha, n * 2) == 0,
              "stream B (%d threads) differs from a stream alone", threads);
    }

    /* argument errors: codes and messages, no crash */
    rvm_stream *s = rvm_stream_create(model, 2, NULL, err, sizeof err);
    uint8_t px[3 * 4] = {0};
    uint16_t o[4];
    rvm_output out = {.type = RVM_PIXEL_U16, .pha = o, .pha_stride = 4};
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
    /* Constructors give a status a program can test without reading the message. */
    int status = 0;
    CHECK(rvm_model_load("/nonexistent.pth", RVM_VARIANT_AUTO, RVM_REFINER_AUTO, &status, err,
                         sizeof err) == NULL &&
              status == RVM_EIO && strstr(err, "nonexistent") != NULL,
          "missing checkpoint: %d %s", status, err);
    CHECK(rvm_model_load(NULL, RVM_VARIANT_RESNET50, RVM_REFINER_AUTO, &status, err, sizeof err) == NULL &&
              status == RVM_EMISMATCH && strstr(err, "mobilenetv3") != NULL,
          "variant mismatch: %d %s", status, err);
    CHECK(rvm_model_load(NULL, RVM_VARIANT_AUTO, RVM_REFINER_DEEP_GUIDED_FILTER, &status, err,
                         sizeof err) == NULL && status == RVM_EMISMATCH,
          "refiner mismatch: %d", status);
    CHECK(rvm_model_load(RVM_SOURCE_DIR "/README.md", RVM_VARIANT_AUTO, RVM_REFINER_AUTO, &status,
                         err, sizeof err) == NULL && status == RVM_EFORMAT,
          "not a checkpoint: %d %s", status, err);
    CHECK(rvm_stream_create(NULL, 1, &status, err, sizeof err) == NULL && status == RVM_EINVAL,
          "stream without a model: %d", status);
    /* Values outside what rvm.h allows are refused by name, never taken for something else
     * (threads -1 ran one per core; variant 7 was a mismatch "not resnet50"). */
    CHECK(rvm_stream_create(model, -1, &status, err, sizeof err) == NULL &&
              status == RVM_EINVAL && strstr(err, "threads -1"),
          "threads -1: %d %s", status, err);
    CHECK(rvm_stream_create(model, -100, &status, err, sizeof err) == NULL &&
              status == RVM_EINVAL && strstr(err, "threads -100"),
          "threads -100: %d %s", status, err);
    CHECK(rvm_model_load(NULL, (rvm_variant)7, RVM_REFINER_AUTO, &status, err, sizeof err) == NULL &&
              status == RVM_EINVAL && strstr(err, "variant 7") && !strstr(err, "resnet50"),
          "variant 7: %d %s", status, err);
    CHECK(rvm_model_load(NULL, (rvm_variant)-1, RVM_REFINER_AUTO, &status, err, sizeof err) == NULL &&
              status == RVM_EINVAL && strstr(err, "variant -1"),
          "variant -1: %d %s", status, err);
    CHECK(rvm_model_load(NULL, RVM_VARIANT_AUTO, (rvm_refiner)3, &status, err, sizeof err) == NULL &&
              status == RVM_EINVAL && strstr(err, "refiner 3"),
          "refiner 3: %d %s", status, err);
    /* No model: a defined answer (AUTO), not a crash. */
    CHECK(rvm_model_variant(NULL) == RVM_VARIANT_AUTO, "rvm_model_variant(NULL)");
    CHECK(rvm_model_refiner(NULL) == RVM_REFINER_AUTO, "rvm_model_refiner(NULL)");
    CHECK(rvm_model_variant(model) == RVM_VARIANT_MOBILENETV3 &&
              rvm_model_refiner(model) == RVM_REFINER_FAST_GUIDED_FILTER,
          "the shipped model: variant %d refiner %d", rvm_model_variant(model),
          rvm_model_refiner(model));
    rvm_stream *ok = rvm_stream_create(model, 1, &status, err, sizeof err);
    CHECK(ok && status == RVM_OK, "stream status %d", status);
    rvm_stream_free(ok);
    CHECK(rvm_version() == RVM_VERSION_NUMBER && rvm_version_string()[0] == '0' + RVM_VERSION_MAJOR,
          "version %d %s", rvm_version(), rvm_version_string());
    /* Diagnostics go to the caller's function, never to stdout/stderr. */
    log_sink sink = {{0}, 0};
    rvm_set_log(collect, &sink);
    rvm_model *logged = rvm_model_load(NULL, RVM_VARIANT_AUTO, RVM_REFINER_AUTO, NULL, err, sizeof err);
    rvm_stream *ls = rvm_stream_create(logged, 2, NULL, err, sizeof err);
    rvm_stream *ls1 = rvm_stream_create(logged, 1, NULL, err, sizeof err);
    rvm_set_log(NULL, NULL);
    rvm_stream *quiet = rvm_stream_create(logged, 1, NULL, err, sizeof err);
    CHECK(sink.count == 3 && strstr(sink.text, "model: mobilenetv3") &&
              strstr(sink.text, " kernels, 2 threads\n") && strstr(sink.text, " kernels, 1 thread\n"),
          "log messages (%d): %s", sink.count, sink.text);
    rvm_stream_free(ls1);
    rvm_stream_free(quiet);
    rvm_stream_free(ls);
    rvm_model_free(logged);
    CHECK(rvm_auto_downsample_ratio(1920, 1080) == 512.0 / 1920 &&
              rvm_auto_downsample_ratio(320, 240) == 1.0, "auto ratio");
    /* The ratio suggested when one leaves no pixels (the command's and rvmmatte's): for
     * every side rvm takes, the smallest in thousandths that keeps a pixel as the library
     * computes the internal size, and as printed ("%g" read back) it still does. */
    int least_bad = 0;
    for (int side = 1; side <= RVM_MAX_SIDE && least_bad < 5; side++) {
        double r = rvm_least_downsample_ratio(side, RVM_MAX_SIDE);
        char text[32];
        snprintf(text, sizeof text, "%g", r);
        double printed = strtod(text, NULL);
        long k = lround(r * 1000);
        int keeps = (int)floor(side * printed) >= 1 && printed == k / 1000.0;
        int smallest = k == 1 || (int)floor(side * ((k - 1) / 1000.0)) < 1;
        if (!keeps || !smallest || rvm_least_downsample_ratio(RVM_MAX_SIDE, side) != r) {
            least_bad++;
            CHECK(0, "least ratio for a %d-pixel side: %s", side, text);
        }
    }
    CHECK(least_bad == 0 && rvm_least_downsample_ratio(160, 120) == 0.009 &&
              rvm_least_downsample_ratio(64, 48) == 0.021 &&
              rvm_least_downsample_ratio(1920, 1080) == 0.001 &&
              rvm_least_downsample_ratio(1, 5) == 1.0 && rvm_least_downsample_ratio(0, 5) == 1.0,
          "least ratio");
    rvm_stream_free(s);
    rvm_model_free(model);
    free(alone.pha), free(a.pha), free(b.pha);
    test_clip_free(&clip);
    return check_report();
}
