/* The int8 mode against our own fp32, frame by frame, on real inputs: golden cases' frames
 * and real clips (decoded by the command's reader). Per frame, for alpha and foreground
 * (values in 0..1): mean |int8 - fp32| <= 1e-3 and at least 99.9% of values within 2e-2.
 * The foreground is judged as it is, where the person is: at the pixels where either
 * precision's alpha is at least 1/255 (one step of an 8-bit alpha). That is what a user sees:
 * the foreground output itself, and in every composition fgr * alpha + bg * (1 - alpha) the
 * foreground at every pixel that is not transparent. Where alpha is below that, the pixel is
 * transparent in every output, and the network's foreground there is undefined: the official
 * training loss masks it out (true alpha > 0), and int8 moves it by a few 1e-3 on average, up
 * to 5% of values beyond 2e-2, in a region nothing shows. Judging foreground times alpha
 * instead would shrink the errors at soft edges by alpha. Both are printed, not judged.
 * Also: rvm_stream_set_precision gives int8 exactly where the CPU has VNNI, and
 * RVM_EUNSUPPORTED with a message elsewhere.
 *
 * The int8 kernels compute the same integers on every instruction set (src/kernels/int8.h),
 * so the best set this CPU runs stands for all of them.
 *
 * usage: test_int8 CHECKPOINT (--golden CASE_DIR | --clip FILE...) [--frames N] [--ratio R]
 *                  [--threads N] [--int8-isa NAME] [--table] [--set-fp32 L,L...]
 *                  [--set-int8 L,L...] [--set-fine L,L...] [--set-coarse L,L...] [--calibrate N]
 *                  [--skip N] [--control ISA] [--every-frame]
 * --set-fine / --set-coarse: 16-bit / 8-bit activations for those layers (of the int8 ones).
 * --frames N: at most N frames; with clips, exactly N (fewer fails). --skip N: start N
 * frames into the frames, with fresh recurrent states. --every-frame: print every frame's
 * figures, not only those beyond the limits. --control ISA: no int8; fp32 against fp32 with
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

/* ---- frames: a golden case's input (in memory), or clips one after the other (decoded
 * frame by frame: 300 frames of 1080p would be 1.9 GB) ---- */

typedef struct {
    int width, height;
    double ratio;
    int skip, max;   /* frames skipped at the start, and at most this many after them */
    /* a golden case */
    uint8_t *rgb;    /* golden_count frames */
    int golden_count;
    /* clips */
    char **clips;
    int nclips, clip;
    rvmi_reader *reader;
    uint8_t *buf;
    int read;        /* frames returned since the rewind, skipped ones included */
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

static int golden_frames(const char *dir, frames *fr)
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
    fr->golden_count = (int)in.shape[0];
    fr->height = (int)in.shape[1], fr->width = (int)in.shape[2];
    size_t size = (size_t)fr->golden_count * fr->height * fr->width * 3;
    fr->rgb = malloc(size);
    if (fr->rgb)
        memcpy(fr->rgb, in.data, size);
    npy_free(&in);
    return fr->rgb ? 0 : -1;
}

static void frames_close_reader(frames *fr)
{
    rvmi_reader_close(fr->reader);
    fr->reader = NULL;
}

/* Back to the first frame (after the skipped ones). */
static void frames_rewind(frames *fr)
{
    frames_close_reader(fr);
    fr->clip = 0;
    fr->read = 0;
}

/* The next frame (width*height*3 bytes, valid until the next call), or NULL at the end or on
 * an error (printed, and *failed set). */
static const uint8_t *frames_next(frames *fr, int *failed)
{
    for (;;) {
        if (fr->read >= fr->skip + fr->max)
            return NULL;
        const uint8_t *frame = NULL;
        if (fr->rgb) {
            if (fr->read >= fr->golden_count)
                return NULL;
            frame = fr->rgb + (size_t)fr->read * fr->width * fr->height * 3;
        } else {
            char err[256];
            while (!frame && fr->clip < fr->nclips) {
                if (!fr->reader) {
                    rvmi_reader_options opt = {.duration = -1, .image_fps = 25};
                    fr->reader = rvmi_reader_open(fr->clips[fr->clip], &opt, err, sizeof err);
                    if (!fr->reader) {
                        printf("cannot read %s: %s\n", fr->clips[fr->clip], err);
                        *failed = 1;
                        return NULL;
                    }
                    int w = rvmi_reader_width(fr->reader), h = rvmi_reader_height(fr->reader);
                    if (!fr->buf) {
                        fr->width = w, fr->height = h;
                        fr->buf = malloc((size_t)w * h * 3);
                        if (!fr->buf) {
                            *failed = 1;
                            return NULL;
                        }
                    } else if (w != fr->width || h != fr->height) {
                        printf("%s is %dx%d, not %dx%d like the first clip\n", fr->clips[fr->clip],
                               w, h, fr->width, fr->height);
                        *failed = 1;
                        return NULL;
                    }
                }
                rvmi_read_item item;
                int kind = rvmi_reader_read_into(fr->reader, &item, fr->buf, err, sizeof err);
                if (kind < 0) {
                    printf("cannot read %s: %s\n", fr->clips[fr->clip], err);
                    *failed = 1;
                    return NULL;
                }
                if (kind == RVM_ITEM_END) {
                    frames_close_reader(fr);
                    fr->clip++;
                } else if (kind == RVM_ITEM_VIDEO) {
                    frame = fr->buf;
                }
            }
            if (!frame)
                return NULL;
        }
        if (fr->read++ >= fr->skip)
            return frame;
    }
}

/* ---- comparison ---- */

/* The foreground is judged where the person is: at the pixels where either precision's alpha
 * is at least this. See the top of the file and docs/INT8.md. */
#define FGR_ALPHA_MIN (1.0 / 255)

typedef struct {
    double mean, far, max; /* mean |d|, fraction of |d| > 2e-2, largest |d| */
} diff;

typedef struct {
    double sum, max;
    size_t far, n;
} accum;

static void add(accum *a, double e)
{
    a->sum += e;
    a->far += e > 2e-2;
    a->max = e > a->max ? e : a->max;
    a->n++;
}

static diff result(const accum *a)
{
    diff d = {0, 0, a->max};
    if (a->n)
        d.mean = a->sum / (double)a->n, d.far = (double)a->far / (double)a->n;
    return d;
}

typedef struct {
    int frames;
    diff worst_pha, worst_fgr; /* judged, per field: the worst frame's */
    double mean_pha, mean_fgr; /* over all frames */
    /* not judged, for the note: foreground times alpha, and the foreground everywhere */
    diff worst_fxa, worst_raw;
    double mean_fxa, mean_raw;
    double fgr_pixels; /* fraction of pixels where the foreground is judged, over all frames */
    int bad_frames;
} run_result;

static void worst_of(diff *w, diff d)
{
    w->mean = d.mean > w->mean ? d.mean : w->mean;
    w->far = d.far > w->far ? d.far : w->far;
    w->max = d.max > w->max ? d.max : w->max;
}

/* The fp32 outputs of the frames, kept by the table so that each of its runs only runs int8. */
typedef struct {
    int count, cap;
    float **pha, **fgr;
} reference;

static void reference_free(reference *ref)
{
    for (int i = 0; i < ref->count; i++)
        free(ref->pha[i]), free(ref->fgr[i]);
    free(ref->pha), free(ref->fgr);
    memset(ref, 0, sizeof *ref);
}

/* Runs at most `limit` frames through both streams (fresh state each) and compares every
 * frame. verbose: 1 prints the frames beyond the limits, 2 every frame. ref (may be NULL):
 * the fp32 outputs, recorded on the first run and used instead of the fp32 stream after. */
static int run(rvm_stream *fp, rvm_stream *q, frames *fr, int limit, run_result *res, int verbose,
               reference *ref)
{
    memset(res, 0, sizeof *res);
    rvm_stream_reset(fp);
    rvm_stream_reset(q);
    frames_rewind(fr);
    float *pa = NULL, *pb = NULL, *fa = NULL, *fb = NULL;
    int st = 0, failed = 0;
    const uint8_t *rgb;
    double sum_pha = 0, sum_fgr = 0, sum_fxa = 0, sum_raw = 0, sum_pixels = 0;
    while (!st && res->frames < limit && (rgb = frames_next(fr, &failed))) {
        const int W = fr->width, H = fr->height;
        const size_t n = (size_t)W * H;
        if (!pb) {
            if (!ref)
                pa = malloc(sizeof(float) * n), fa = malloc(sizeof(float) * 3 * n);
            pb = malloc(sizeof(float) * n), fb = malloc(sizeof(float) * 3 * n);
            if ((!ref && (!pa || !fa)) || !pb || !fb) {
                st = RVM_ENOMEM;
                break;
            }
        }
        int cached = ref && res->frames < ref->count;
        if (cached)
            pa = ref->pha[res->frames], fa = ref->fgr[res->frames];
        else if (ref) {
            /* recording: new buffers for each frame */
            if (ref->count == ref->cap) {
                ref->cap = ref->cap ? 2 * ref->cap : 64;
                float **p = realloc(ref->pha, sizeof(float *) * ref->cap);
                float **f = p ? realloc(ref->fgr, sizeof(float *) * ref->cap) : NULL;
                ref->pha = p ? p : ref->pha;
                ref->fgr = f ? f : ref->fgr;
                if (!p || !f) {
                    st = RVM_ENOMEM;
                    break;
                }
            }
            pa = ref->pha[ref->count] = malloc(sizeof(float) * n);
            fa = ref->fgr[ref->count] = malloc(sizeof(float) * 3 * n);
            ref->count++;
            if (!pa || !fa) {
                st = RVM_ENOMEM;
                break;
            }
        }
        rvm_output oa = {.type = RVM_PIXEL_F32, .pha = pa, .pha_stride = sizeof(float) * W,
                         .fgr = fa, .fgr_stride = sizeof(float) * 3 * W};
        rvm_output ob = oa;
        ob.pha = pb, ob.fgr = fb;
        if ((!cached && (st = rvm_stream_process(fp, rgb, W, H, 3 * W, fr->ratio, &oa))) ||
            (st = rvm_stream_process(q, rgb, W, H, 3 * W, fr->ratio, &ob))) {
            printf("FAIL frame %d: %s / %s\n", res->frames, rvm_stream_error(fp), rvm_stream_error(q));
            break;
        }
        accum ap = {0}, af = {0}, axa = {0}, araw = {0};
        for (size_t i = 0; i < n; i++) {
            add(&ap, fabs((double)pa[i] - pb[i]));
            int judged = pa[i] >= FGR_ALPHA_MIN || pb[i] >= FGR_ALPHA_MIN;
            for (int c = 0; c < 3; c++) {
                double a = fa[3 * i + c], b = fb[3 * i + c];
                add(&araw, fabs(a - b));
                add(&axa, fabs(a * pa[i] - b * pb[i]));
                if (judged)
                    add(&af, fabs(a - b));
            }
        }
        diff dp = result(&ap), df = result(&af), dxa = result(&axa), draw = result(&araw);
        worst_of(&res->worst_pha, dp);
        worst_of(&res->worst_fgr, df);
        worst_of(&res->worst_fxa, dxa);
        worst_of(&res->worst_raw, draw);
        sum_pha += dp.mean, sum_fgr += df.mean, sum_fxa += dxa.mean, sum_raw += draw.mean;
        sum_pixels += (double)af.n / (3.0 * n);
        int ok = dp.mean <= 1e-3 && dp.far <= 1e-3 && df.mean <= 1e-3 && df.far <= 1e-3;
        if (!ok)
            res->bad_frames++;
        if (verbose > 1 || (verbose && !ok))
            printf("  frame %d%s: alpha mean %.2e, beyond 2e-2 %.4f%%, max %.3f; foreground (alpha >= 1/255, "
                   "%.1f%% of pixels) mean %.2e, beyond %.4f%%, max %.3f\n",
                   res->frames, ok ? "" : " FAILS", dp.mean, 100 * dp.far, dp.max, 100.0 * af.n / (3.0 * n),
                   df.mean, 100 * df.far, df.max);
        res->frames++;
    }
    if (res->frames) {
        res->mean_pha = sum_pha / res->frames, res->mean_fgr = sum_fgr / res->frames;
        res->mean_fxa = sum_fxa / res->frames, res->mean_raw = sum_raw / res->frames;
        res->fgr_pixels = sum_pixels / res->frames;
    }
    if (!ref)
        free(pa), free(fa);
    free(pb), free(fb);
    return st ? st : failed ? -1 : 0;
}

/* The error each layer adds alone, and every layer's time in both precisions. */
static void table(rvm_stream *fp, rvm_stream *q, frames *fr)
{
    rvmi_q8_state *st = q->q8;
    int n = rvmi_q8_layers(st);
    int *was = malloc(sizeof(int) * n);
    for (int i = 0; i < n; i++)
        was[i] = rvmi_q8_layer_enable(st, i, -1);
    /* times: every layer int8, then every layer fp32, same frames */
    double *t8 = calloc(n, sizeof(double)), *t32 = calloc(n, sizeof(double));
    run_result r;
    reference ref = {0};
    run(fp, q, fr, fr->max, &r, 0, &ref);
    printf("the default mix: %d of %d frames beyond the limits; alpha mean %.2e, worst frame beyond 2e-2 %.4f%%; "
           "foreground worst frame beyond 2e-2 %.4f%%\n",
           r.bad_frames, r.frames, r.mean_pha, 100 * r.worst_pha.far, 100 * r.worst_fgr.far);
    fflush(stdout);
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < n; i++)
            rvmi_q8_layer_enable(st, i, pass == 0);
        rvmi_q8_reset_times(st);
        run(fp, q, fr, fr->max, &r, 0, &ref);
        for (int i = 0; i < n; i++) {
            double a, b;
            int ca, cb;
            rvmi_q8_layer_time(st, i, &a, &ca, &b, &cb);
            if (pass == 0)
                t8[i] = cb ? b / cb : 0;
            else
                t32[i] = ca ? a / ca : 0;
        }
        if (pass == 0)
            printf("every layer int8: %d of %d frames beyond the limits; alpha mean %.2e, worst frame beyond 2e-2 "
                   "%.4f%%; foreground worst frame beyond 2e-2 %.4f%%\n", r.bad_frames, r.frames, r.mean_pha,
                   100 * r.worst_pha.far, 100 * r.worst_fgr.far);
    }
    printf("| layer | alpha mean abs err | alpha worst frame: mean, beyond 2e-2 | foreground (alpha >= 1/255) "
           "mean abs err | its worst frame: beyond 2e-2 | frames failing | fp32 ms | int8 ms | default |\n");
    printf("|---|---|---|---|---|---|---|---|---|\n");
    fflush(stdout);
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < n; k++)
            rvmi_q8_layer_enable(st, k, k == i);
        run(fp, q, fr, fr->max, &r, 0, &ref);
        printf("| %s | %.2e | %.2e, %.4f%% | %.2e | %.4f%% | %d | %.3f | %.3f | %s |\n", rvmi_q8_layer_name(st, i),
               r.mean_pha, r.worst_pha.mean, 100 * r.worst_pha.far, r.mean_fgr, 100 * r.worst_fgr.far,
               r.bad_frames, t32[i], t8[i], was[i] ? "int8" : "fp32");
        fflush(stdout);
    }
    for (int i = 0; i < n; i++)
        rvmi_q8_layer_enable(st, i, was[i]);
    free(was), free(t8), free(t32);
    reference_free(&ref);
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
    int verbose = 1;
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
        else if (!strcmp(argv[i], "--every-frame"))
            verbose = 2;
        else if (!strcmp(argv[i], "--table"))
            want_table = 1;
        else if (!strcmp(argv[i], "--skip") && i + 1 < argc)
            skip = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--control") && i + 1 < argc)
            control = argv[++i];
        else if (!strcmp(argv[i], "--calibrate") && i + 1 < argc)
            calibrate = atoi(argv[++i]);
        else if ((!strcmp(argv[i], "--set-fp32") || !strcmp(argv[i], "--set-int8") ||
                  !strcmp(argv[i], "--set-fine") || !strcmp(argv[i], "--set-coarse")) && i + 1 < argc)
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
    fr.skip = skip > 0 ? skip : 0;
    fr.max = max_frames;
    fr.clips = clips, fr.nclips = nclips;
    int failed = 0;
    if (golden ? golden_frames(golden, &fr) : !frames_next(&fr, &failed)) {
        printf("FAIL: cannot read the frames\n");
        return 1;
    }
    frames_rewind(&fr);
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
        run(fp, q, &fr, fr.max, &r, 1, NULL);
        printf("control fp32 %s vs %s: alpha worst frame mean %.2e, beyond 2e-2 %.4f%%; "
               "foreground (alpha >= 1/255) worst mean %.2e, beyond %.4f%%\n", control, fp->kernels->name,
               r.worst_pha.mean, 100 * r.worst_pha.far, r.worst_fgr.mean, 100 * r.worst_fgr.far);
        return 0;
    }
    if (rvmi_stream_set_int8(q, isa)) {
        printf("SKIP: %s\n", rvm_stream_error(q));
        return 77;
    }
    /* the table's fp32 times: every layer through the int8 state, none in a banded block */
    rvmi_q8_set_timing(q->q8, want_table);
    /* measurements: --set-fp32 / --set-int8 NAME[,NAME...] change the mix */
    for (int i = 2; i + 1 < argc; i++) {
        int on = !strcmp(argv[i], "--set-int8") || !strcmp(argv[i], "--set-fine");
        int fine = !strcmp(argv[i], "--set-fine") || !strcmp(argv[i], "--set-coarse");
        if (!on && !fine && strcmp(argv[i], "--set-fp32"))
            continue;
        for (int l = 0; l < rvmi_q8_layers(q->q8); l++) {
            const char *name = rvmi_q8_layer_name(q->q8, l), *p = argv[i + 1];
            size_t len = strlen(name);
            for (; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
                if (!strncmp(p, name, len) && (p[len] == ',' || !p[len]))
                    fine ? rvmi_q8_layer_fine(q->q8, l, on) : rvmi_q8_layer_enable(q->q8, l, on);
        }
    }
    printf("%s: %dx%d, ratio %g, int8 kernels %s, %d threads\n", golden ? golden : clips[0],
           fr.width, fr.height, fr.ratio, isa, threads);
    if (calibrate > 0) {
        /* static ranges instead of dynamic ones: recorded over the first frames in fp32 */
        run_result r;
        rvmi_q8_set_mode(q->q8, RVM_Q8_CALIBRATING);
        run(fp, q, &fr, calibrate, &r, 0, NULL);
        rvmi_q8_set_mode(q->q8, RVM_Q8_CALIBRATED);
        printf("activation ranges calibrated on the first %d frames\n", r.frames);
    }
    if (want_table) {
        table(fp, q, &fr);
    } else {
        run_result r;
        st = run(fp, q, &fr, fr.max, &r, verbose, NULL);
        CHECK(st == 0, "run failed");
        printf("alpha: worst frame mean %.2e, beyond 2e-2 %.4f%%, max %.3f; mean over frames %.2e\n",
               r.worst_pha.mean, 100 * r.worst_pha.far, r.worst_pha.max, r.mean_pha);
        printf("foreground where alpha >= 1/255 (%.1f%% of pixels): worst frame mean %.2e, beyond 2e-2 %.4f%%, "
               "max %.3f; mean over frames %.2e\n", 100 * r.fgr_pixels,
               r.worst_fgr.mean, 100 * r.worst_fgr.far, r.worst_fgr.max, r.mean_fgr);
        printf("(not judged: foreground x alpha: worst frame mean %.2e, beyond 2e-2 %.4f%%, max %.3f; mean %.2e)\n",
               r.worst_fxa.mean, 100 * r.worst_fxa.far, r.worst_fxa.max, r.mean_fxa);
        printf("(not judged: foreground everywhere: worst frame mean %.2e, beyond 2e-2 %.4f%%, max %.3f; mean %.2e)\n",
               r.worst_raw.mean, 100 * r.worst_raw.far, r.worst_raw.max, r.mean_raw);
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
        CHECK(r.bad_frames == 0, "%d of %d frames beyond the limits", r.bad_frames, r.frames);
        /* a clip with --frames must give that many: a short read would judge too little */
        if (!golden && max_frames < (1 << 30))
            CHECK(r.frames == max_frames, "%d frames read, %d asked for", r.frames, max_frames);
        CHECK(r.frames > 0, "no frames");
    }
    free(fr.rgb);
    free(fr.buf);
    frames_close_reader(&fr);
    rvm_stream_free(fp);
    rvm_stream_free(q);
    rvm_model_free(m);
    return check_report();
}
