/* The int8 mode against our own fp32, frame by frame, on real inputs: golden cases' frames
 * and real clips (decoded by the command's reader). Per frame, for alpha and foreground
 * (values in 0..1): mean |int8 - fp32| <= 1e-3 and at least 99.9% of values within 2e-2.
 * The foreground is compared times its alpha, as every composition uses it: where alpha is 0
 * the network's foreground is unconstrained (the official training loss ignores it there), and
 * there int8 moves it by a few 1e-3 on average while it moves by under 1e-4 on the person;
 * the foreground alone is printed too.
 * Also: rvm_stream_set_precision gives int8 exactly where the CPU has VNNI, and
 * RVM_EUNSUPPORTED with a message elsewhere.
 *
 * The int8 kernels compute the same integers on every instruction set (src/kernels/int8.h),
 * so the best set this CPU runs stands for all of them.
 *
 * usage: test_int8 CHECKPOINT (--golden CASE_DIR | --clip FILE...) [--frames N] [--ratio R]
 *                  [--threads N] [--int8-isa NAME] [--table] [--set-fp32 L,L...]
 *                  [--set-int8 L,L...] [--calibrate N] [--skip N] [--control ISA]
 * --skip N: start N frames into the frames. --control ISA: no int8; fp32 against fp32 with
 * the kernel set ISA, to measure how the network amplifies mere rounding differences.
 * --calibrate N: measure calibrated activation ranges (recorded in fp32 over the first N
 * frames) instead of the default dynamic ones.
 * --table: a measurement, not a test: for every int8-capable layer, the error it adds alone
 * (all others fp32) and its time in both precisions (single-threaded: use --threads 1).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "io/reader.h"
#include "model/network.h"
#include "npy.h"
#include "rvm.h"

/* ---- frames: a golden case's input, or clips one after the other ---- */

typedef struct {
    int width, height, count;
    uint8_t *rgb; /* count frames */
    double ratio;
} frames;

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *t = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (t && fread(t, 1, (size_t)n, f) != (size_t)n) {
        free(t);
        t = NULL;
    }
    if (t)
        t[n] = 0;
    fclose(f);
    return t;
}

static int golden_frames(const char *dir, int max, frames *fr)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/meta.json", dir);
    char *text = read_text(path);
    cJSON *meta = text ? cJSON_Parse(text) : NULL;
    free(text);
    npy in;
    snprintf(path, sizeof path, "%s/input.npy", dir);
    if (!meta || npy_load(path, &in) || in.ndim != 4 || in.shape[3] != 3) {
        cJSON_Delete(meta);
        return -1;
    }
    fr->ratio = cJSON_GetObjectItem(meta, "downsample_ratio")->valuedouble;
    cJSON_Delete(meta);
    fr->count = (int)in.shape[0] < max ? (int)in.shape[0] : max;
    fr->height = (int)in.shape[1], fr->width = (int)in.shape[2];
    size_t size = (size_t)fr->count * fr->height * fr->width * 3;
    fr->rgb = malloc(size);
    if (fr->rgb)
        memcpy(fr->rgb, in.data, size);
    npy_free(&in);
    return fr->rgb ? 0 : -1;
}

/* Frames of the clips in turn (one video, with cuts) until max frames. */
static int clip_frames(char **clips, int nclips, int max, frames *fr)
{
    size_t cap = 0;
    fr->count = 0;
    fr->rgb = NULL;
    for (int c = 0; c < nclips && fr->count < max; c++) {
        char err[256];
        rvmi_reader_options opt = {.duration = -1, .image_fps = 25};
        rvmi_reader *r = rvmi_reader_open(clips[c], &opt, err, sizeof err);
        if (!r) {
            printf("cannot read %s: %s\n", clips[c], err);
            return -1;
        }
        int w = rvmi_reader_width(r), h = rvmi_reader_height(r);
        if (c == 0)
            fr->width = w, fr->height = h;
        if (w != fr->width || h != fr->height) {
            printf("%s is %dx%d, not %dx%d like the first clip\n", clips[c], w, h, fr->width, fr->height);
            rvmi_reader_close(r);
            return -1;
        }
        size_t size = (size_t)w * h * 3;
        for (;;) {
            if ((size_t)(fr->count + 1) * size > cap) {
                cap = (size_t)(fr->count + 16) * size;
                uint8_t *p = realloc(fr->rgb, cap);
                if (!p) {
                    rvmi_reader_close(r);
                    return -1;
                }
                fr->rgb = p;
            }
            rvmi_read_item item;
            int kind = rvmi_reader_read_into(r, &item, fr->rgb + (size_t)fr->count * size, err, sizeof err);
            if (kind < 0) {
                printf("cannot read %s: %s\n", clips[c], err);
                rvmi_reader_close(r);
                return -1;
            }
            if (kind == RVM_ITEM_END)
                break;
            if (kind == RVM_ITEM_VIDEO && ++fr->count == max)
                break;
        }
        rvmi_reader_close(r);
    }
    return 0;
}

/* ---- comparison ---- */

typedef struct {
    double mean, far, max; /* mean |d|, fraction of |d| > 2e-2, largest |d| */
} diff;

static diff compare(const float *a, const float *b, size_t n)
{
    diff d = {0, 0, 0};
    size_t far = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        d.mean += e;
        far += e > 2e-2;
        d.max = e > d.max ? e : d.max;
    }
    d.mean /= (double)n;
    d.far = (double)far / (double)n;
    return d;
}

typedef struct {
    int frames;
    diff worst_pha, worst_fgr; /* per field, the worst frame's */
    double mean_pha, mean_fgr; /* over all frames */
    diff worst_raw; /* the foreground without alpha, where alpha is 0 too (not judged) */
    double mean_raw;
    int bad_frames;
} run_result;

static void worst_of(diff *w, diff d)
{
    w->mean = d.mean > w->mean ? d.mean : w->mean;
    w->far = d.far > w->far ? d.far : w->far;
    w->max = d.max > w->max ? d.max : w->max;
}

/* Runs the frames through both streams (fresh state each) and compares every frame. */
static int run(rvm_stream *fp, rvm_stream *q, const frames *fr, run_result *res, int verbose)
{
    const int W = fr->width, H = fr->height;
    size_t n = (size_t)W * H;
    float *pa = malloc(sizeof(float) * n), *pb = malloc(sizeof(float) * n);
    float *fa = malloc(sizeof(float) * 3 * n), *fb = malloc(sizeof(float) * 3 * n);
    memset(res, 0, sizeof *res);
    rvm_stream_reset(fp);
    rvm_stream_reset(q);
    int st = !pa || !pb || !fa || !fb ? RVM_ENOMEM : 0;
    for (int t = 0; !st && t < fr->count; t++) {
        const uint8_t *rgb = fr->rgb + (size_t)t * n * 3;
        rvm_output oa = {.type = RVM_PIXEL_F32, .pha = pa, .pha_stride = sizeof(float) * W,
                         .fgr = fa, .fgr_stride = sizeof(float) * 3 * W};
        rvm_output ob = oa;
        ob.pha = pb, ob.fgr = fb;
        if ((st = rvm_stream_process(fp, rgb, W, H, 3 * W, fr->ratio, &oa)) ||
            (st = rvm_stream_process(q, rgb, W, H, 3 * W, fr->ratio, &ob))) {
            printf("FAIL frame %d: %s / %s\n", t, rvm_stream_error(fp), rvm_stream_error(q));
            break;
        }
        diff dp = compare(pa, pb, n), raw = compare(fa, fb, 3 * n);
        /* the foreground as every composition shows it: times its own alpha */
        for (size_t i = 0; i < n; i++)
            for (int c = 0; c < 3; c++)
                fa[3 * i + c] *= pa[i], fb[3 * i + c] *= pb[i];
        diff df = compare(fa, fb, 3 * n);
        worst_of(&res->worst_raw, raw);
        res->mean_raw += raw.mean / fr->count;
        worst_of(&res->worst_pha, dp);
        worst_of(&res->worst_fgr, df);
        res->mean_pha += dp.mean / fr->count;
        res->mean_fgr += df.mean / fr->count;
        int ok = dp.mean <= 1e-3 && dp.far <= 1e-3 && df.mean <= 1e-3 && df.far <= 1e-3;
        if (!ok)
            res->bad_frames++;
        if (verbose && !ok)
            printf("  frame %d: alpha mean %.2e, beyond 2e-2 %.4f%%; foreground x alpha mean %.2e, beyond %.4f%%\n",
                   t, dp.mean, 100 * dp.far, df.mean, 100 * df.far);
        res->frames++;
    }
    free(pa), free(pb), free(fa), free(fb);
    return st;
}

/* The error each layer adds alone, and every layer's time in both precisions. */
static void table(rvm_stream *fp, rvm_stream *q, const frames *fr)
{
    rvmi_q8_state *st = q->q8;
    int n = rvmi_q8_layers(st);
    int *was = malloc(sizeof(int) * n);
    for (int i = 0; i < n; i++)
        was[i] = rvmi_q8_layer_enable(st, i, -1);
    printf("| layer | alpha mean abs err | alpha beyond 2e-2 | fgr x alpha mean abs err | fgr alone | fp32 ms | int8 ms | default |\n");
    printf("|---|---|---|---|---|---|---|---|\n");
    /* times: every layer int8, then every layer fp32, same frames */
    double *t8 = calloc(n, sizeof(double)), *t32 = calloc(n, sizeof(double));
    run_result r;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < n; i++)
            rvmi_q8_layer_enable(st, i, pass == 0);
        rvmi_q8_reset_times(st);
        run(fp, q, fr, &r, 0);
        for (int i = 0; i < n; i++) {
            double a, b;
            int ca, cb;
            rvmi_q8_layer_time(st, i, &a, &ca, &b, &cb);
            if (pass == 0)
                t8[i] = cb ? b / cb : 0;
            else
                t32[i] = ca ? a / ca : 0;
        }
    }
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < n; k++)
            rvmi_q8_layer_enable(st, k, k == i);
        run(fp, q, fr, &r, 0);
        printf("| %s | %.2e | %.4f%% | %.2e | %.2e | %.3f | %.3f | %s |\n", rvmi_q8_layer_name(st, i),
               r.mean_pha, 100 * r.worst_pha.far, r.mean_fgr, r.mean_raw, t32[i], t8[i],
               was[i] ? "int8" : "fp32");
    }
    for (int i = 0; i < n; i++)
        rvmi_q8_layer_enable(st, i, was[i]);
    free(was), free(t8), free(t32);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: test_int8 CHECKPOINT (--golden DIR | --clip FILE...) [--frames N] "
                        "[--ratio R] [--threads N] [--int8-isa NAME] [--table]\n");
        return 2;
    }
    const char *ckpt = argv[1], *golden = NULL, *isa = NULL;
    char *clips[16];
    int nclips = 0, max_frames = 1 << 30, threads = 2, want_table = 0, calibrate = 0, skip = 0;
    const char *control = NULL;
    double ratio = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--golden") && i + 1 < argc)
            golden = argv[++i];
        else if (!strcmp(argv[i], "--clip"))
            while (i + 1 < argc && strncmp(argv[i + 1], "--", 2) && nclips < 16)
                clips[nclips++] = argv[++i];
        else if (!strcmp(argv[i], "--frames") && i + 1 < argc)
            max_frames = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--ratio") && i + 1 < argc)
            ratio = atof(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--int8-isa") && i + 1 < argc)
            isa = argv[++i];
        else if (!strcmp(argv[i], "--table"))
            want_table = 1;
        else if (!strcmp(argv[i], "--skip") && i + 1 < argc)
            skip = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--control") && i + 1 < argc)
            control = argv[++i];
        else if (!strcmp(argv[i], "--calibrate") && i + 1 < argc)
            calibrate = atoi(argv[++i]);
        else if ((!strcmp(argv[i], "--set-fp32") || !strcmp(argv[i], "--set-int8")) && i + 1 < argc)
            i++; /* applied once the int8 state exists */
        else {
            fprintf(stderr, "test_int8: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    FILE *probe = fopen(ckpt, "rb");
    int have_ckpt = probe && fgetc(probe) != EOF;
    if (probe)
        fclose(probe);
    if (!have_ckpt || (golden && !fopen(golden, "r")) || (nclips && !fopen(clips[0], "rb"))) {
        printf("SKIP: missing %s\n", !have_ckpt ? ckpt : golden ? golden : clips[0]);
        return 77;
    }
    frames fr = {0};
    if (golden ? golden_frames(golden, max_frames + skip, &fr)
               : clip_frames(clips, nclips, max_frames + skip, &fr)) {
        printf("FAIL: cannot read the frames\n");
        return 1;
    }
    if (skip > 0) { /* measurements: start later in the frames */
        skip = skip < fr.count ? skip : fr.count;
        memmove(fr.rgb, fr.rgb + (size_t)skip * fr.width * fr.height * 3,
                (size_t)(fr.count - skip) * fr.width * fr.height * 3);
        fr.count -= skip;
    }
    if (!golden)
        fr.ratio = ratio > 0 ? ratio : rvm_auto_downsample_ratio(fr.width, fr.height);
    else if (ratio > 0)
        fr.ratio = ratio;

    char err[256];
    rvm_model *m = rvm_model_load(ckpt, RVM_VARIANT_AUTO, RVM_REFINER_AUTO, NULL, err, sizeof err);
    if (!m) {
        printf("FAIL loading %s: %s\n", ckpt, err);
        return 1;
    }
    rvm_stream *fp = rvm_stream_create(m, threads, NULL, err, sizeof err);
    rvm_stream *q = rvm_stream_create(m, threads, NULL, err, sizeof err);
    CHECK(fp && q, "streams: %s", err);
    if (!fp || !q)
        return check_report();

    /* the public switch: int8 exactly where the CPU has VNNI */
    int vnni = rvmi_kernels_q8_select() != NULL;
    int st = rvm_stream_set_precision(q, RVM_PRECISION_INT8);
    if (vnni)
        CHECK(st == 0 && rvm_stream_precision(q) == RVM_PRECISION_INT8, "int8 refused: %s",
              rvm_stream_error(q));
    else
        CHECK(st == RVM_EUNSUPPORTED && strstr(rvm_stream_error(q), "VNNI") &&
                  rvm_stream_precision(q) == RVM_PRECISION_FP32,
              "without VNNI: status %d, '%s'", st, rvm_stream_error(q));
    CHECK(rvm_stream_set_precision(q, (rvm_precision)7) == RVM_EINVAL, "a bad precision is accepted");

    /* the comparison, with the best int8 set this CPU runs (or the one asked for) */
    const char *sets[] = {"avx512vnni", "avxvnni", "avx2", "reference"};
    for (int i = 0; !isa && i < 4; i++)
        if (rvmi_kernels_q8_by_name(sets[i]))
            isa = sets[i];
    if (control) {
        /* a control measurement: fp32 against fp32 with another kernel set (another order of
         * rounding), to see how far the network itself amplifies rounding differences */
        if (rvmi_stream_set_int8(q, NULL) || rvmi_stream_set_kernels(q, control)) {
            printf("SKIP: %s\n", rvm_stream_error(q));
            return 77;
        }
        run_result r;
        run(fp, q, &fr, &r, 1);
        printf("control fp32 %s vs %s: alpha worst frame mean %.2e, beyond 2e-2 %.4f%%; "
               "foreground x alpha worst mean %.2e, beyond %.4f%%\n", control, fp->kernels->name,
               r.worst_pha.mean, 100 * r.worst_pha.far, r.worst_fgr.mean, 100 * r.worst_fgr.far);
        return 0;
    }
    if (rvmi_stream_set_int8(q, isa)) {
        printf("SKIP: %s\n", rvm_stream_error(q));
        return 77;
    }
    /* measurements: --set-fp32 / --set-int8 NAME[,NAME...] change the mix */
    for (int i = 2; i + 1 < argc; i++) {
        int on = !strcmp(argv[i], "--set-int8");
        if (!on && strcmp(argv[i], "--set-fp32"))
            continue;
        for (int l = 0; l < rvmi_q8_layers(q->q8); l++) {
            const char *name = rvmi_q8_layer_name(q->q8, l), *p = argv[i + 1];
            size_t len = strlen(name);
            for (; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
                if (!strncmp(p, name, len) && (p[len] == ',' || !p[len]))
                    rvmi_q8_layer_enable(q->q8, l, on);
        }
    }
    printf("%s: %d frames %dx%d, ratio %g, int8 kernels %s, %d threads\n", golden ? golden : clips[0],
           fr.count, fr.width, fr.height, fr.ratio, isa, threads);
    if (calibrate > 0) {
        /* static ranges instead of dynamic ones: recorded over the first frames in fp32 */
        frames first = fr;
        first.count = calibrate < fr.count ? calibrate : fr.count;
        run_result r;
        rvmi_q8_set_mode(q->q8, RVM_Q8_CALIBRATING);
        run(fp, q, &first, &r, 0);
        rvmi_q8_set_mode(q->q8, RVM_Q8_CALIBRATED);
        printf("activation ranges calibrated on the first %d frames\n", first.count);
    }
    if (want_table) {
        table(fp, q, &fr);
    } else {
        run_result r;
        st = run(fp, q, &fr, &r, 1);
        CHECK(st == 0, "run failed");
        printf("alpha: worst frame mean %.2e, beyond 2e-2 %.4f%%, max %.3f; mean over frames %.2e\n",
               r.worst_pha.mean, 100 * r.worst_pha.far, r.worst_pha.max, r.mean_pha);
        printf("foreground x alpha: worst frame mean %.2e, beyond 2e-2 %.4f%%, max %.3f; mean over frames %.2e\n",
               r.worst_fgr.mean, 100 * r.worst_fgr.far, r.worst_fgr.max, r.mean_fgr);
        printf("(foreground alone, not judged: worst frame mean %.2e, beyond 2e-2 %.4f%%; mean %.2e)\n",
               r.worst_raw.mean, 100 * r.worst_raw.far, r.mean_raw);
        double ms8 = 0;
        int calls8 = 0;
        for (int l = 0; l < rvmi_q8_layers(q->q8); l++) {
            double a, b;
            int ca, cb;
            rvmi_q8_layer_time(q->q8, l, &a, &ca, &b, &cb);
            ms8 += b, calls8 += cb;
        }
        printf("int8 layers: %.2f ms per frame (caller's thread CPU time, %d calls)\n",
               r.frames ? ms8 / r.frames : 0, calls8);
        CHECK(r.frames == fr.count && r.bad_frames == 0, "%d of %d frames beyond the limits",
              r.bad_frames, r.frames);
    }
    free(fr.rgb);
    rvm_stream_free(fp);
    rvm_stream_free(q);
    rvm_model_free(m);
    return check_report();
}
