/* The int8 mode of a stream (rvm_stream_set_precision): mixed precision, where the 1x1
 * convolutions chosen below run in int8 and everything else stays in float.
 *
 * Weights: symmetric, one scale per output channel, within [-127, 127], exact where they are
 * already on such a grid (int8.h).
 * Activations: one scale and zero point per tensor, from the tensor's own minimum and maximum
 * at every call ("dynamic"): it needs no calibration data, follows each video's contrast and
 * costs one read of the input. Calibrated ranges (RVM_Q8_CALIBRATED) measured worse at their
 * worst and only 2% faster in the int8 layers (README, int8 note). 8-bit (conv_1x1) or 16-bit
 * (conv_1x1_s16, the default: one pass of int16 activations times the weights widened to
 * int16, as exact as two int8 passes over two bytes and faster: docs/INT8.md).
 * The input is quantised in slices that stay in the L1 cache and multiplied at once, so the
 * int8 copy of a tensor never goes through memory.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "model/quantize.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    char name[32];
    const rvmi_conv *fp;
    rvmi_conv_q8 q;
    int enabled;
    int fine; /* 16-bit activations (conv_1x1_s16), else 8-bit ones (conv_1x1) */
    int limit; /* 16-bit activations: |q| <= limit (rvmi_q16_limit) */
    float cal_lo, cal_hi; /* recorded input range (RVM_Q8_CALIBRATING) */
    int calibrated;
    double ms[2];  /* fp32, int8 */
    int calls[2];
} q8_layer;

/* Bytes of int8 input quantised at once per thread: in L1 with room for the weights. */
#define SLICE_BYTES 16384
#define SLICE_ALIGN 24 /* pixels: a multiple of every kernel's pixel tile (4, 6, 8) */
/* a multiple of 64: aligned_alloc needs a size that is a multiple of the alignment (one
 * thread failed under ASan), and every thread's slice starts 64-byte aligned */
#define SLICE_MAX_BYTES ((2 * (RVM_MAX_CIN + 4) * SLICE_ALIGN + 63) / 64 * 64)

struct rvmi_q8_state {
    const rvmi_kernels_q8 *k;
    rvmi_q8_mode mode;
    int timing; /* every layer through rvmi_q8_conv (rvmi_q8_set_timing) */
    int n, threads;
    q8_layer *layers;
    uint8_t *slices; /* per thread: 8-bit activations, or 16-bit ones (twice the bytes) */
    float *lo, *hi;  /* per thread */
};

/* The default mix (measured: docs/INT8.md): MobileNetV3 from block 6 on (1/16 of the input's
 * size): the expansions and projections of blocks 6-14, the last convolution and the LR-ASPP's
 * main convolution (20 layers); ResNet50 from layer3 on (random weights only: no official ones
 * to judge by here). With 8-bit weights and 16-bit activations (default_fine) it keeps every
 * golden input and all 300 frames of a real clip at 1080p, ratio 0.25 within the quality rule
 * (per frame, mean error <= 1e-3 and 99.9% of alpha and foreground within 2e-2 of fp32; worst
 * frame 0% of alpha beyond 2e-2, largest difference 0.009); with 7-bit weights and 8-bit
 * activations the expansions alone failed 11 of those frames. Stay in float: blocks 0-5 (most
 * add more error alone than the whole mix, and with 16-72 channels int8 costs 2.5-4.8x fp32)
 * and project_mat (with 8-bit activations its foreground error alone failed every frame; with
 * 16-bit ones it passes at 4.8x its fp32 time). The squeeze-excitation and
 * LR-ASPP gate convolutions see one pixel and are not int8 layers at all. */
static int default_int8(const rvm_variant variant, const char *name)
{
    int block = -1, end = 0;
    if (variant == RVM_VARIANT_MOBILENETV3) {
        if (!strcmp(name, "mnv3.last") || !strcmp(name, "aspp"))
            return 1;
        sscanf(name, "mnv3.%d.expand%n", &block, &end);
        if (end == 0)
            sscanf(name, "mnv3.%d.project%n", &block, &end);
        return end > 0 && !name[end] && block >= 6;
    }
    return sscanf(name, "r50.%d.", &block) == 1 && block >= 7;
}

/* Pixels of int8 input quantised at once for a layer with kpad input bytes per pixel. */
static size_t slice_pixels(size_t kpad)
{
    size_t slice = SLICE_BYTES / kpad / SLICE_ALIGN * SLICE_ALIGN;
    return slice < SLICE_ALIGN ? SLICE_ALIGN : slice;
}

/* The int8 layers that take 16-bit activations by default: all of the default mix's. With
 * 8-bit activations per tensor (8-bit weights) the expansions alone failed 3 of the clip's 27
 * hardest frames; with 16-bit ones none, and all 300 frames pass. Measured: docs/INT8.md. */
static int default_fine(const rvm_variant variant, const char *name)
{
    return default_int8(variant, name);
}

static int add_layer(rvmi_q8_state *q, const struct rvm_model *m, const rvmi_conv *cv,
                     const char *fmt, int index)
{
    if (!cv->weight || cv->depthwise || cv->kh != 1 || cv->kw != 1 || cv->stride != 1)
        return 0;
    q8_layer *l = &q->layers[q->n];
    memset(l, 0, sizeof *l);
    snprintf(l->name, sizeof l->name, fmt, index);
    l->fp = cv;
    l->q.cin = cv->cin;
    l->q.cout = cv->cout;
    l->q.act = cv->act;
    l->q.bias = cv->bias;
    /* the float weights back from their packed layout ([cout/16][cin][16] for 1x1) */
    float *oi = malloc((size_t)cv->cout * cv->cin * sizeof(float));
    if (!oi)
        return -1;
    for (int o = 0; o < cv->cout; o++)
        for (int i = 0; i < cv->cin; i++)
            oi[(size_t)o * cv->cin + i] =
                cv->weight[((size_t)(o / RVM_COUT_BLOCK) * cv->cin + i) * RVM_COUT_BLOCK + o % RVM_COUT_BLOCK];
    int st = rvmi_q8_pack(&l->q, oi);
    free(oi);
    if (st)
        return -1;
    l->enabled = default_int8(m->variant, l->name);
    l->fine = default_fine(m->variant, l->name);
    l->limit = rvmi_q16_limit(&l->q);
    q->n++;
    return 0;
}

rvmi_q8_state *rvmi_q8_create(const struct rvm_model *m, const rvmi_kernels_q8 *k, int threads)
{
    rvmi_q8_state *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->k = k;
    q->threads = threads;
    enum { MAX_LAYERS = 2 * RVM_MNV3_BLOCKS + 3 * RVM_R50_BLOCKS + 8 };
    q->layers = calloc(MAX_LAYERS, sizeof *q->layers);
    q->slices = aligned_alloc(64, (size_t)threads * SLICE_MAX_BYTES);
    q->lo = calloc((size_t)threads, sizeof(float));
    q->hi = calloc((size_t)threads, sizeof(float));
    int st = !q->layers || !q->slices || !q->lo || !q->hi ? -1 : 0;
    if (m->variant == RVM_VARIANT_MOBILENETV3) {
        for (int i = 0; !st && i < RVM_MNV3_BLOCKS; i++) {
            if (m->mnv3[i].has_expand)
                st = add_layer(q, m, &m->mnv3[i].expand, "mnv3.%d.expand", i);
            if (!st)
                st = add_layer(q, m, &m->mnv3[i].project, "mnv3.%d.project", i);
        }
        if (!st)
            st = add_layer(q, m, &m->mnv3_last, "mnv3.last%.0d", 0);
    } else {
        for (int i = 0; !st && i < RVM_R50_BLOCKS; i++) {
            st = add_layer(q, m, &m->r50[i].conv1, "r50.%d.conv1", i);
            if (!st)
                st = add_layer(q, m, &m->r50[i].conv3, "r50.%d.conv3", i);
            if (!st && m->r50[i].has_downsample)
                st = add_layer(q, m, &m->r50[i].downsample, "r50.%d.downsample", i);
        }
    }
    if (!st)
        st = add_layer(q, m, &m->aspp_main, "aspp%.0d", 0);
    if (!st)
        st = add_layer(q, m, &m->project_mat, "project_mat%.0d", 0);
    if (!st)
        st = add_layer(q, m, &m->project_seg, "project_seg%.0d", 0);
    if (st) {
        rvmi_q8_free(q);
        return NULL;
    }
    return q;
}

void rvmi_q8_free(rvmi_q8_state *q)
{
    if (!q)
        return;
    for (int i = 0; q->layers && i < q->n; i++)
        rvmi_q8_release(&q->layers[i].q);
    free(q->layers);
    free(q->slices);
    free(q->lo);
    free(q->hi);
    free(q);
}

/* The calling thread's CPU time: per-layer times are measured single-threaded, where it is
 * the layer's whole cost, and on a shared machine it does not count time spent preempted. */
static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- one convolution ---- */

typedef struct {
    rvmi_q8_state *q;
    const q8_layer *l;
    const rvmi_inputs *in;
    const rvmi_view *out, *res;
    size_t pixels, per_task;
    float inv_scale;
    rvmi_qtensor qt; /* the scale and zero point (of 8- or 16-bit activations) */
} q8_job;

static void task_range(const q8_job *j, int task, size_t *p0, size_t *p1)
{
    *p0 = (size_t)task * j->per_task;
    *p1 = *p0 + j->per_task < j->pixels ? *p0 + j->per_task : j->pixels;
}

static void minmax_task(void *ctx, int task, int thread)
{
    q8_job *j = ctx;
    size_t p0, p1;
    task_range(j, task, &p0, &p1);
    float lo = j->q->lo[thread], hi = j->q->hi[thread];
    for (int g = 0; g < j->in->n; g++) {
        const rvmi_view *v = &j->in->v[g];
        if (v->stride == v->c) {
            j->q->k->minmax(v->data + p0 * v->c, (int)((p1 - p0) * v->c), &lo, &hi);
            continue;
        }
        for (size_t p = p0; p < p1; p++)
            j->q->k->minmax(v->data + p * v->stride, v->c, &lo, &hi);
    }
    j->q->lo[thread] = lo, j->q->hi[thread] = hi;
}

/* The input's range over all its views, on the pool's threads. */
static void input_range(q8_job *j, rvmi_pool *pool, int tasks, float *lo, float *hi)
{
    for (int t = 0; t < j->q->threads; t++)
        j->q->lo[t] = INFINITY, j->q->hi[t] = -INFINITY;
    rvmi_pool_run(pool, tasks, minmax_task, j);
    *lo = INFINITY, *hi = -INFINITY;
    for (int t = 0; t < j->q->threads; t++)
        *lo = fminf(*lo, j->q->lo[t]), *hi = fmaxf(*hi, j->q->hi[t]);
}

static void conv_task(void *ctx, int task, int thread)
{
    q8_job *j = ctx;
    const rvmi_conv_q8 *cv = &j->l->q;
    const rvmi_kernels_q8 *k = j->q->k;
    const size_t kpad = (size_t)cv->kpad;
    const int fine = j->l->fine, limit = j->l->limit;
    size_t p0, p1;
    task_range(j, task, &p0, &p1);
    size_t slice = slice_pixels(fine ? 2 * kpad : kpad);
    uint8_t *buf = j->q->slices + (size_t)thread * SLICE_MAX_BYTES;
    int16_t *buf16 = (int16_t *)buf;
    for (size_t s0 = p0; s0 < p1; s0 += slice) {
        size_t s1 = s0 + slice < p1 ? s0 + slice : p1;
        const rvmi_view *v0 = &j->in->v[0];
        if (j->in->n == 1 && v0->stride == v0->c && (size_t)v0->c == kpad) {
            /* one dense tensor: one run of floats */
            const float *x = v0->data + s0 * kpad;
            int n = (int)((s1 - s0) * kpad);
            if (fine)
                k->quantize_s16(x, n, j->inv_scale, j->qt.zero, limit, buf16, n);
            else
                k->quantize(x, n, j->inv_scale, j->qt.zero, buf, n);
        } else {
            for (size_t p = s0; p < s1; p++) {
                size_t at = (p - s0) * kpad;
                for (int g = 0; g < j->in->n; g++) {
                    const rvmi_view *v = &j->in->v[g];
                    int last = g + 1 == j->in->n;
                    int pad = last ? (int)((p - s0 + 1) * kpad - at) : v->c;
                    const float *x = v->data + p * v->stride;
                    if (fine)
                        k->quantize_s16(x, v->c, j->inv_scale, j->qt.zero, limit, buf16 + at, pad);
                    else
                        k->quantize(x, v->c, j->inv_scale, j->qt.zero, buf + at, pad);
                    at += (size_t)v->c;
                }
            }
        }
        if (fine) {
            rvmi_qtensor16 qt = {buf16, kpad, j->qt.scale, j->qt.zero};
            k->conv_1x1_s16(cv, &qt, j->out, j->res, s0, s1);
        } else {
            rvmi_qtensor qt = j->qt;
            qt.data = buf;
            qt.stride = kpad;
            k->conv_1x1(cv, &qt, j->out, j->res, s0, s1);
        }
    }
}

static void run_int8(rvmi_q8_state *q, q8_layer *l, rvmi_pool *pool, const rvmi_inputs *in,
                     const rvmi_view *out, const rvmi_view *res)
{
    q8_job j = {q, l, in, out, res, (size_t)out->h * out->w, 0, 0.f, {0}};
    int threads = rvmi_pool_threads(pool);
    size_t tasks = threads == 1 ? 1 : (size_t)threads * 4;
    j.per_task = (j.pixels + tasks - 1) / tasks;
    j.per_task = (j.per_task + SLICE_ALIGN - 1) / SLICE_ALIGN * SLICE_ALIGN;
    int ntasks = (int)((j.pixels + j.per_task - 1) / j.per_task);
    float lo = l->cal_lo, hi = l->cal_hi;
    if (q->mode == RVM_Q8_DYNAMIC || !l->calibrated)
        input_range(&j, pool, ntasks, &lo, &hi);
    if (l->fine)
        rvmi_q16_range(lo, hi, l->limit, &j.qt.scale, &j.qt.zero);
    else
        rvmi_q8_range(lo, hi, &j.qt.scale, &j.qt.zero);
    j.inv_scale = 1.f / j.qt.scale;
    rvmi_pool_run(pool, ntasks, conv_task, &j);
}

static q8_layer *find(rvmi_q8_state *q, const rvmi_conv *cv)
{
    for (int i = 0; i < q->n; i++)
        if (q->layers[i].fp == cv)
            return &q->layers[i];
    return NULL;
}

int rvmi_q8_conv(rvmi_q8_state *q, rvmi_pool *pool, const rvmi_conv *cv, const rvmi_inputs *in,
                 const rvmi_view *out, const rvmi_view *res, rvmi_conv_fn fp32, void *ctx)
{
    q8_layer *l = find(q, cv);
    if (!l)
        return 0;
    double t0 = now_ms();
    int int8 = l->enabled && q->mode != RVM_Q8_CALIBRATING;
    if (int8) {
        run_int8(q, l, pool, in, out, res);
    } else {
        if (q->mode == RVM_Q8_CALIBRATING) {
            q8_job j = {q, l, in, out, res, (size_t)out->h * out->w, 0, 0.f, {0}};
            j.per_task = j.pixels;
            float lo, hi;
            input_range(&j, pool, 1, &lo, &hi);
            l->cal_lo = l->calibrated ? fminf(l->cal_lo, lo) : lo;
            l->cal_hi = l->calibrated ? fmaxf(l->cal_hi, hi) : hi;
            l->calibrated = 1;
        }
        fp32(ctx, cv, in, out, res);
    }
    l->ms[int8] += now_ms() - t0;
    l->calls[int8]++;
    return 1;
}

int rvmi_q8_claims(const rvmi_q8_state *q, const rvmi_conv *cv)
{
    for (int i = 0; i < q->n; i++)
        if (q->layers[i].fp == cv)
            return q->layers[i].enabled || q->timing || q->mode == RVM_Q8_CALIBRATING;
    return 0;
}

void rvmi_q8_set_timing(rvmi_q8_state *q, int on) { q->timing = on != 0; }

/* ---- for measurements and tests ---- */

int rvmi_q8_layers(const rvmi_q8_state *q) { return q->n; }

const char *rvmi_q8_layer_name(const rvmi_q8_state *q, int i)
{
    return i >= 0 && i < q->n ? q->layers[i].name : NULL;
}

int rvmi_q8_layer_enable(rvmi_q8_state *q, int i, int on)
{
    if (i < 0 || i >= q->n)
        return -1;
    if (on >= 0)
        q->layers[i].enabled = on != 0;
    return q->layers[i].enabled;
}

int rvmi_q8_layer_fine(rvmi_q8_state *q, int i, int on)
{
    if (i < 0 || i >= q->n)
        return -1;
    if (on >= 0)
        q->layers[i].fine = on != 0;
    return q->layers[i].fine;
}

void rvmi_q8_layer_time(const rvmi_q8_state *q, int i, double *fp32_ms, int *fp32_calls,
                        double *int8_ms, int *int8_calls)
{
    const q8_layer *l = &q->layers[i];
    *fp32_ms = l->ms[0], *fp32_calls = l->calls[0];
    *int8_ms = l->ms[1], *int8_calls = l->calls[1];
}

void rvmi_q8_reset_times(rvmi_q8_state *q)
{
    for (int i = 0; i < q->n; i++) {
        q->layers[i].ms[0] = q->layers[i].ms[1] = 0;
        q->layers[i].calls[0] = q->layers[i].calls[1] = 0;
    }
}

void rvmi_q8_set_mode(rvmi_q8_state *q, rvmi_q8_mode mode) { q->mode = mode; }

const char *rvmi_q8_kernels_name(const rvmi_q8_state *q) { return q->k->name; }

/* ---- the stream's precision ---- */

#include "model/network.h"

int rvmi_stream_set_int8(rvm_stream *s, const char *q8_isa)
{
    if (!s)
        return RVM_EINVAL;
    if (!q8_isa) {
        rvmi_q8_free(s->q8);
        s->q8 = NULL;
        return 0;
    }
    const rvmi_kernels_q8 *k = rvmi_kernels_q8_by_name(q8_isa);
    if (!k) {
        snprintf(s->err, sizeof s->err, "this CPU cannot run the %s int8 kernels", q8_isa);
        return RVM_EUNSUPPORTED;
    }
    rvmi_q8_state *q = rvmi_q8_create(s->model, k, rvmi_pool_threads(s->pool));
    if (!q) {
        snprintf(s->err, sizeof s->err, "out of memory");
        return RVM_ENOMEM;
    }
    rvmi_q8_free(s->q8);
    s->q8 = q;
    return 0;
}

int rvm_stream_set_precision(rvm_stream *s, rvm_precision precision)
{
    if (!s)
        return RVM_EINVAL;
    if (precision == RVM_PRECISION_FP32)
        return rvmi_stream_set_int8(s, NULL);
    if (precision != RVM_PRECISION_INT8) {
        snprintf(s->err, sizeof s->err, "unknown precision %d", (int)precision);
        return RVM_EINVAL;
    }
    const rvmi_kernels_q8 *k = rvmi_kernels_q8_select();
    if (!k) {
        snprintf(s->err, sizeof s->err,
                 "int8 precision needs a CPU with AVX512-VNNI or AVX-VNNI; this one has neither");
        return RVM_EUNSUPPORTED;
    }
    if (s->q8 && s->q8->k == k)
        return 0;
    return rvmi_stream_set_int8(s, k->name);
}

rvm_precision rvm_stream_precision(const rvm_stream *s)
{
    return s && s->q8 ? RVM_PRECISION_INT8 : RVM_PRECISION_FP32;
}
