/* Runs a golden case (frames through the official PyTorch model, see ../shared/golden/README.md)
 * through our network and compares the final alpha and foreground of every frame, and the
 * per-layer activations where the case has them, with the tolerances the golden README sets.
 *
 * usage: test_golden CASE_DIR CHECKPOINT [--isa NAME] [--threads N] [--frames N]
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/network.h"
#include "npy.h"
#include "rvm.h"

static int passed, failed;

typedef struct {
    double max_err, sum_err;
    size_t n, over_1e3, over_1e2;
} stats;

static void add(stats *st, double ours, double ref, double norm)
{
    double e = fabs(ours - ref) / norm;
    if (!(e <= st->max_err)) /* NaN counts as the worst */
        st->max_err = isnan(e) ? INFINITY : e;
    st->sum_err += isnan(e) ? 1.0 : e;
    st->over_1e3 += !(e <= 1e-3);
    st->over_1e2 += !(e <= 1e-2);
    st->n++;
}

/* The golden README's rule: >= 99.99% within 1e-3, all within 1e-2, mean <= 1e-4. */
static void verdict(const char *what, const stats *st)
{
    double mean = st->sum_err / (double)(st->n ? st->n : 1);
    double frac = 1.0 - (double)st->over_1e3 / (double)(st->n ? st->n : 1);
    int ok = st->n > 0 && frac >= 0.9999 && st->over_1e2 == 0 && mean <= 1e-4;
    printf("%-4s %-14s max %.2e mean %.2e within 1e-3 %.4f%% (%zu values)\n", ok ? "ok" : "FAIL",
           what, st->max_err, mean, 100.0 * frac, st->n);
    if (ok)
        passed++;
    else
        failed++;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = calloc(1, 1 << 16);
    if (buf)
        fread(buf, 1, (1 << 16) - 1, f);
    fclose(f);
    return buf;
}

/* Layers a case says it has no dumps of (meta.json "missing_layers", e.g. a subset), and
 * whether it has a layers/ folder at all (some cases dump only the outputs). */
static const cJSON *g_missing_layers;
static int g_has_layers;

static int declared_missing(const char *name)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, g_missing_layers)
        if (cJSON_IsString(m) && strcmp(m->valuestring, name) == 0)
            return 1;
    return 0;
}

/* Compares our NHWC view with a [C,h,w] float dump, errors scaled by max(1, max|ref|). A dump
 * that is missing without the case saying so fails: a test that compares nothing must not
 * pass. */
static void compare_layer(const char *dir, int t, const char *name, const rvmi_view *v)
{
    char path[1024], what[64];
    snprintf(path, sizeof path, "%s/layers/t%02d_%s.npy", dir, t, name);
    snprintf(what, sizeof what, "t%02d %s", t, name);
    if (!g_has_layers || declared_missing(name))
        return;
    npy ref;
    if (npy_load(path, &ref)) {
        printf("FAIL %-14s no dump at %s\n", what, path);
        failed++;
        return;
    }
    stats st = {0};
    if (!v || ref.type != 'f' || ref.ndim != 3 || ref.shape[0] != v->c || ref.shape[1] != v->h ||
        ref.shape[2] != v->w) {
        printf("FAIL %-14s shape: ours %dx%dx%d, reference %ldx%ldx%ld\n", what, v ? v->c : 0,
               v ? v->h : 0, v ? v->w : 0, ref.shape[0], ref.shape[1], ref.shape[2]);
        failed++;
        npy_free(&ref);
        return;
    }
    const float *r = ref.data;
    double norm = 1.0;
    for (size_t i = 0; i < ref.count; i++)
        norm = fabs(r[i]) > norm ? fabs(r[i]) : norm;
    for (int c = 0; c < v->c; c++)
        for (int y = 0; y < v->h; y++)
            for (int x = 0; x < v->w; x++)
                add(&st, v->data[((size_t)y * v->w + x) * v->stride + c],
                    r[((size_t)c * v->h + y) * v->w + x], norm);
    verdict(what, &st);
    npy_free(&ref);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_golden CASE_DIR CHECKPOINT [--isa NAME] [--threads N] [--frames N]\n");
        return 2;
    }
    const char *dir = argv[1], *ckpt = argv[2], *isa = NULL;
    int threads = 2, max_frames = 1 << 30;
    for (int i = 3; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--isa"))
            isa = argv[i + 1];
        else if (!strcmp(argv[i], "--threads"))
            threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--frames"))
            max_frames = atoi(argv[i + 1]);
    }
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/meta.json", dir);
    char *text = read_text(path);
    cJSON *meta = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (!meta) {
        printf("SKIP: no golden case at %s\n", dir);
        return 77;
    }
    double ratio = cJSON_GetObjectItem(meta, "downsample_ratio")->valuedouble;
    int layer_frames = cJSON_GetObjectItem(meta, "layer_frames")->valueint;
    const char *refiner = cJSON_GetObjectItem(meta, "refiner")->valuestring;
    const char *variant = cJSON_GetObjectItem(meta, "variant")->valuestring;

    rvm_model *model = rvm_model_load(
        ckpt, !strcmp(variant, "resnet50") ? RVM_VARIANT_RESNET50 : RVM_VARIANT_MOBILENETV3,
        !strcmp(refiner, "deep_guided_filter") ? RVM_REFINER_DEEP_GUIDED_FILTER
                                               : RVM_REFINER_FAST_GUIDED_FILTER,
        NULL, err, sizeof err);
    rvm_stream *s = NULL, *seg_stream = NULL;
    int early = 0; /* an exit before the comparison: what was made is freed (LeakSanitizer) */
    if (!model) {
        printf("FAIL loading %s: %s\n", ckpt, err);
        early = 1;
    } else if (!(s = rvm_stream_create(model, threads, NULL, err, sizeof err)) ||
               !(seg_stream = rvm_stream_create(model, threads, NULL, err, sizeof err))) {
        printf("FAIL creating a stream: %s\n", err); /* ours, not a missing CPU feature */
        early = 1;
    } else if (isa && (rvmi_stream_set_kernels(s, isa) || rvmi_stream_set_kernels(seg_stream, isa))) {
        printf("SKIP: cannot run the %s kernels here\n", isa);
        early = 77;
    }
    if (early) {
        rvm_stream_free(seg_stream);
        rvm_stream_free(s);
        rvm_model_free(model);
        cJSON_Delete(meta);
        return early;
    }
    printf("case %s, checkpoint %s, kernels %s, %d threads\n", dir, ckpt, s->kernels->name, threads);

    npy in, pha, fgr;
    snprintf(path, sizeof path, "%s/input.npy", dir);
    int bad = npy_load(path, &in);
    snprintf(path, sizeof path, "%s/pha.npy", dir);
    bad |= npy_load(path, &pha);
    snprintf(path, sizeof path, "%s/fgr.npy", dir);
    bad |= npy_load(path, &fgr);
    if (bad) {
        printf("FAIL: cannot read the golden arrays in %s\n", dir);
        return 1;
    }
    int frames = (int)in.shape[0], H = (int)in.shape[1], W = (int)in.shape[2];
    if (frames > max_frames)
        frames = max_frames;
    if (frames < 1) {
        printf("FAIL: no frames to compare (%d in %s, --frames %d)\n", (int)in.shape[0], dir,
               max_frames);
        return 1;
    }
    snprintf(path, sizeof path, "%s/layers", dir);
    g_has_layers = access(path, F_OK) == 0;
    g_missing_layers = cJSON_GetObjectItem(meta, "missing_layers");
    if (layer_frames > 0 && !g_has_layers)
        printf("note: %s has no layers/ folder; only the outputs are compared\n", dir);
    float *out_pha = malloc(sizeof(float) * H * W), *out_fgr = malloc(sizeof(float) * 3 * H * W);
    const uint16_t *ref_pha = pha.data, *ref_fgr = fgr.data;
    for (int t = 0; t < frames; t++) {
        const uint8_t *rgb = (const uint8_t *)in.data + (size_t)t * H * W * 3;
        if (t == 0 && layer_frames > 0) { /* the segmentation pass, from an empty state */
            int sw, sh;
            rvm_stream_segment(seg_stream, rgb, W, H, 3 * W, ratio, NULL, 0, &sw, &sh);
            float *seg = malloc(sizeof(float) * sw * sh);
            int st = rvm_stream_segment(seg_stream, rgb, W, H, 3 * W, ratio, seg,
                                        (size_t)sw * sh, &sw, &sh);
            if (st)
                printf("FAIL segment: %s\n", rvm_stream_error(seg_stream)), failed++;
            else
                compare_layer(dir, 0, "seg", rvmi_stream_layer(seg_stream, "seg"));
            free(seg);
        }
        rvm_output out = {.type = RVM_PIXEL_F32, .pha = out_pha, .pha_stride = sizeof(float) * W,
                          .fgr = out_fgr, .fgr_stride = sizeof(float) * 3 * W};
        /* The layers compared stay in memory; the frames after them run as the command
         * runs them, dropping each layer when it is no longer read. */
        s->keep_layers = t < layer_frames;
        int st = rvm_stream_process(s, rgb, W, H, 3 * W, ratio, &out);
        if (st) {
            printf("FAIL frame %d: %s\n", t, rvm_stream_error(s));
            failed++;
            break;
        }
        stats sp = {0}, sf = {0};
        for (size_t i = 0; i < (size_t)H * W; i++)
            add(&sp, out_pha[i], ref_pha[(size_t)t * H * W + i] / 65535.0, 1.0);
        for (int c = 0; c < 3; c++)
            for (size_t i = 0; i < (size_t)H * W; i++)
                add(&sf, out_fgr[3 * i + c], ref_fgr[((size_t)t * 3 + c) * H * W + i] / 65535.0, 1.0);
        char what[32];
        snprintf(what, sizeof what, "t%02d pha", t);
        verdict(what, &sp);
        snprintf(what, sizeof what, "t%02d fgr", t);
        verdict(what, &sf);
        if (t < layer_frames) {
            static const char *names[] = {"src_sm", "f1", "f2", "f3", "f4", "aspp", "x4", "x3",
                                          "x2", "x1", "x0", "proj", "r1", "r2", "r3", "r4"};
            for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
                compare_layer(dir, t, names[i], rvmi_stream_layer(s, names[i]));
            rvmi_view vp = {out_pha, H, W, 1, 1}, vf = {out_fgr, H, W, 3, 3};
            compare_layer(dir, t, "pha", &vp);
            compare_layer(dir, t, "fgr", &vf);
        }
    }
    free(out_pha);
    free(out_fgr);
    npy_free(&in);
    npy_free(&pha);
    npy_free(&fgr);
    rvm_stream_free(s);
    rvm_stream_free(seg_stream);
    rvm_model_free(model);
    cJSON_Delete(meta);
    printf("%d passed, %d failed\n", passed, failed);
    return failed || !passed ? 1 : 0;
}
