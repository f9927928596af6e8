/* The forward pass of RVM, one frame at a time, as the official MattingNetwork computes it:
 * downsample, encoder (MobileNetV3 or ResNet50), LR-ASPP, recurrent decoder, projection,
 * guided-filter refiner, and the full-resolution output in one fused pass.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "model/network.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/clones.h"
#include "model/library.h"
#include "model/pixels.h"
#include "kernels/threadpool.h"

/* ---- scratch memory: a stack reset every frame ----
 * The first frame of a given size may spill into extra blocks; the next reset replaces them
 * with one block of the frame's peak size, so steady-state frames allocate nothing. Spilled
 * blocks follow the stack too (a release frees those above the mark), so even the first frame
 * holds no more than its peak. What a layer keeps (its output) is allocated before its
 * temporaries, which are released when it is done; the layer outputs stay valid until the
 * next frame (the tests read them). */
static void free_spills_above(arena *a, size_t mark)
{
    while (a->spills && a->spills->at >= mark) {
        spill *s = a->spills;
        a->spills = s->next;
        free(s);
    }
}

static void arena_reset(arena *a)
{
    if (a->spills || a->peak > a->size) {
        free_spills_above(a, 0);
        free(a->base);
        a->size = a->peak;
        a->base = a->size ? aligned_alloc(64, a->size) : NULL;
        if (!a->base)
            a->size = 0;
    }
    a->used = a->peak = 0;
}

static float *arena_floats(arena *a, size_t n)
{
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    float *p;
    if (a->base && a->used + bytes <= a->size) {
        p = (float *)(a->base + a->used);
    } else {
        /* does not fit (the first frame of a new size): a block of its own until it is
         * released or the next reset, which makes base big enough for the whole frame */
        spill *s = aligned_alloc(64, bytes + 64);
        if (!s)
            return NULL;
        s->next = a->spills;
        s->at = a->used;
        a->spills = s;
        p = (float *)((char *)s + 64);
    }
    a->used += bytes;
    if (a->used > a->peak)
        a->peak = a->used;
    return p;
}

/* Everything allocated after the mark is dead once released. */
static size_t arena_mark(const arena *a) { return a->used; }

static void arena_release(arena *a, size_t mark)
{
    free_spills_above(a, mark);
    a->used = mark;
}

static void arena_free(arena *a)
{
    free_spills_above(a, 0);
    free(a->base);
    memset(a, 0, sizeof(*a));
}

static const char *const layer_names[] = {"src_sm", "f1", "f2", "f3", "f4", "aspp", "x4", "x3",
                                          "x2",     "x1", "x0", "proj", "seg"};

struct frame {
    const rvm_frame *in;
    int width, height;
};

/* The plain loops over whole tensors below (resizes, gates, refiner rows) are marked
 * RVM_CLONES_V4_V3: compiled for AVX-512, AVX2 and baseline x86-64 and picked when the library
 * loads, as the kernels are (measured: 71 -> 69 ms for a single-threaded 1080p frame). */

/* ---- helpers ---- */

static int set_error(rvm_stream *s, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof s->err, fmt, ap);
    va_end(ap);
    return status;
}

#define NEW_VIEW(v, H, W, C)                                                                    \
    do {                                                                                        \
        (v) = (rvmi_view){.h = (H), .w = (W), .c = (C), .stride = (C)};                          \
        (v).data = arena_floats(&s->scratch, (size_t)(H) * (W) * (C));                          \
        if (!(v).data)                                                                          \
            return set_error(s, RVM_ENOMEM, "out of memory");                                   \
    } while (0)

static rvmi_view channels(rvmi_view v, int first, int count)
{
    v.data += first;
    v.c = count;
    return v;
}

/* Rows [y, y + n) of v. */
static rvmi_view rows_of(rvmi_view v, int y, int n)
{
    v.data += (size_t)y * v.w * v.stride;
    v.h = n;
    return v;
}

static float *pixel(const rvmi_view *v, int y, int x)
{
    return v->data + ((size_t)y * v->w + x) * v->stride;
}

/* Splits rows [0, h) into tasks across the stream's threads. */
typedef void (*rows_fn)(void *ctx, int y0, int y1, int thread);
typedef struct {
    rows_fn fn;
    void *ctx;
    int h, per_task;
} rows_job;

static void rows_task(void *ctx, int task, int thread)
{
    rows_job *j = ctx;
    int y0 = task * j->per_task, y1 = y0 + j->per_task < j->h ? y0 + j->per_task : j->h;
    j->fn(j->ctx, y0, y1, thread);
}

/* Rows [0, h) in tasks of `band` rows. */
static void parallel_bands(rvm_stream *s, int h, int band, rows_fn fn, void *ctx)
{
    rows_job j = {fn, ctx, h, band};
    rvmi_pool_run(s->pool, (h + band - 1) / band, rows_task, &j);
}

/* Rows [0, h) in a few tasks per thread, so uneven tasks balance. */
static void parallel_rows(rvm_stream *s, int h, rows_fn fn, void *ctx)
{
    int threads = rvmi_pool_threads(s->pool);
    int tasks = threads == 1 ? 1 : threads * 4;
    if (tasks > h)
        tasks = h;
    parallel_bands(s, h, (h + tasks - 1) / tasks, fn, ctx);
}

typedef struct {
    const rvmi_kernels *k;
    const rvmi_conv *cv;
    const rvmi_inputs *in;
    const rvmi_view *out, *res;
    const float *zeros;
} conv_job;

static void conv_rows(void *ctx, int y0, int y1, int thread)
{
    (void)thread;
    conv_job *j = ctx;
    if (j->cv->depthwise)
        j->k->conv_depthwise(j->cv, &j->in->v[0], j->out, j->res, y0, y1);
    else
        j->k->conv_dense(j->cv, j->in, j->out, j->res, y0, y1, j->zeros);
}

typedef struct {
    conv_job c;
    float *scratch; /* per thread */
    size_t scratch_floats;
} winograd_job;

static void winograd_rows(void *ctx, int ty0, int ty1, int thread)
{
    winograd_job *j = ctx;
    j->c.k->conv_winograd(j->c.cv, j->c.in, j->c.out, j->c.res, ty0, ty1, j->c.zeros,
                          j->scratch + (size_t)thread * j->scratch_floats);
}

/* out = act(conv(concatenation of in) + bias [+ res]); out must already have the conv's
 * output size. */
static void conv_cat(rvm_stream *s, const rvmi_conv *cv, const rvmi_inputs *in, const rvmi_view *out,
                     const rvmi_view *res)
{
    conv_job j = {s->kernels, cv, in, out, res, s->zeros};
    if (cv->winograd && s->kernels->conv_winograd) {
        size_t n = rvmi_winograd_scratch(cv->cin, cv->cout);
        size_t mark = arena_mark(&s->scratch);
        float *scratch = arena_floats(&s->scratch, n * rvmi_pool_threads(s->pool));
        if (scratch) {
            winograd_job w = {j, scratch, n};
            parallel_rows(s, (out->h + 3) / 4, winograd_rows, &w);
            arena_release(&s->scratch, mark);
            return;
        }
        /* no memory for the transform: the direct convolution needs none */
    }
    parallel_rows(s, out->h, conv_rows, &j);
}

static void conv(rvm_stream *s, const rvmi_conv *cv, const rvmi_view *in, const rvmi_view *out,
                 const rvmi_view *res)
{
    rvmi_inputs one = rvmi_inputs_of(in);
    conv_cat(s, cv, &one, out, res);
}

/* Allocates the output of cv applied to in. */
#define NEW_CONV_OUT(out, cv, in)                                                               \
    NEW_VIEW(out, rvmi_conv_out_size((in).h, (cv)->kh, (cv)->stride, (cv)->dilation),            \
             rvmi_conv_out_size((in).w, (cv)->kw, (cv)->stride, (cv)->dilation), (cv)->cout)

/* Allocates the output of cv applied to in, and runs it. */
#define CONV(out, cv, in, res)                                                                  \
    do {                                                                                        \
        NEW_CONV_OUT(out, cv, in);                                                              \
        conv(s, (cv), &(in), &(out), (res));                                                    \
    } while (0)

/* ---- bilinear resampling (align_corners=False, PyTorch's index and weight rules) ---- */

typedef struct {
    int i0, i1;
    float l0, l1;
} lerp;

/* scale: input coordinate step per output pixel (1/ratio for "scale_factor" resizes,
 * in/out for "size" resizes), computed in float as PyTorch's CPU kernel does. */
static lerp lerp_at(float scale, int i, int in_size)
{
    float src = scale * ((float)i + 0.5f) - 0.5f;
    if (src < 0.f)
        src = 0.f;
    lerp l;
    l.i0 = (int)src;
    if (l.i0 > in_size - 1)
        l.i0 = in_size - 1;
    l.i1 = l.i0 + (l.i0 < in_size - 1 ? 1 : 0);
    float f = src - (float)l.i0;
    l.l1 = f < 0.f ? 0.f : f > 1.f ? 1.f : f;
    l.l0 = 1.f - l.l1;
    return l;
}

/* The lerps of every output column of a resize, in scratch memory; NULL if out of memory. */
static const lerp *lerp_table(rvm_stream *s, float scale, int out_size, int in_size)
{
    lerp *t = (lerp *)arena_floats(&s->scratch, (size_t)out_size * sizeof(lerp) / sizeof(float) + 1);
    for (int i = 0; t && i < out_size; i++)
        t[i] = lerp_at(scale, i, in_size);
    if (!t)
        set_error(s, RVM_ENOMEM, "out of memory");
    return t;
}

typedef struct {
    const rvmi_view *in, *out;
    float sy;
    const lerp *lx; /* per output column */
} resize_job;

RVM_CLONES_V4_V3 static void resize_rows(void *ctx, int y0, int y1, int thread)
{
    (void)thread;
    resize_job *j = ctx;
    const int c = j->in->c;
    for (int y = y0; y < y1; y++) {
        lerp ly = lerp_at(j->sy, y, j->in->h);
        for (int x = 0; x < j->out->w; x++) {
            lerp lx = j->lx[x];
            const float *a = pixel(j->in, ly.i0, lx.i0), *b = pixel(j->in, ly.i0, lx.i1);
            const float *cc = pixel(j->in, ly.i1, lx.i0), *d = pixel(j->in, ly.i1, lx.i1);
            float *o = pixel(j->out, y, x);
            for (int k = 0; k < c; k++)
                o[k] = ly.l0 * (lx.l0 * a[k] + lx.l1 * b[k]) + ly.l1 * (lx.l0 * cc[k] + lx.l1 * d[k]);
        }
    }
}

/* Resizes in into out (which may be a channel slice of a wider buffer, and may be smaller
 * than in*scale: that is the decoder's crop to the skip connection's size). */
static int resize(rvm_stream *s, const rvmi_view *in, const rvmi_view *out, float sy, float sx)
{
    const lerp *lx = lerp_table(s, sx, out->w, in->w);
    if (!lx)
        return RVM_ENOMEM;
    resize_job j = {in, out, sy, lx};
    parallel_rows(s, out->h, resize_rows, &j);
    return 0;
}

/* ---- input ---- */

typedef struct {
    rvm_stream *s;
    const struct frame *f;
    const rvmi_view *out;
    float sy;
    const lerp *lx;
    float *rows; /* other formats than RGB24: per thread, two input rows as float planes */
} input_job;

/* Packed RGB, the common case, read in place through the 8-bit table. */
RVM_CLONES_V4_V3 static void input_rows_rgb24(void *ctx, int y0, int y1, int thread)
{
    (void)thread;
    input_job *j = ctx;
    const float *lut = j->s->u8_to_float;
    const uint8_t *rgb = j->f->in->planes[0];
    ptrdiff_t stride = j->f->in->strides[0];
    for (int y = y0; y < y1; y++) {
        if (!j->lx) { /* ratio 1: the frame itself */
            const uint8_t *row = rgb + (ptrdiff_t)y * stride;
            float *o = pixel(j->out, y, 0);
            for (int x = 0; x < 3 * j->out->w; x++)
                o[x] = lut[row[x]];
            continue;
        }
        lerp ly = lerp_at(j->sy, y, j->f->height);
        const uint8_t *r0 = rgb + (ptrdiff_t)ly.i0 * stride;
        const uint8_t *r1 = rgb + (ptrdiff_t)ly.i1 * stride;
        for (int x = 0; x < j->out->w; x++) {
            lerp lx = j->lx[x];
            float *o = pixel(j->out, y, x);
            for (int k = 0; k < 3; k++)
                o[k] = ly.l0 * (lx.l0 * lut[r0[3 * lx.i0 + k]] + lx.l1 * lut[r0[3 * lx.i1 + k]]) +
                       ly.l1 * (lx.l0 * lut[r1[3 * lx.i0 + k]] + lx.l1 * lut[r1[3 * lx.i1 + k]]);
        }
    }
}

/* Any format: the two input rows an output row needs, as float planes (in place for planar
 * floats), then the same interpolation. */
RVM_CLONES_V4_V3 static void input_rows_any(void *ctx, int y0, int y1, int thread)
{
    input_job *j = ctx;
    const int w = j->f->width;
    float *buf = j->rows + (size_t)thread * 6 * w;
    for (int y = y0; y < y1; y++) {
        const float *p0[3], *p1[3];
        if (!j->lx) {
            rvmi_frame_row(j->f->in, y, buf, p0);
            float *o = pixel(j->out, y, 0);
            for (int x = 0; x < w; x++)
                for (int k = 0; k < 3; k++)
                    o[3 * x + k] = p0[k][x];
            continue;
        }
        lerp ly = lerp_at(j->sy, y, j->f->height);
        rvmi_frame_row(j->f->in, ly.i0, buf, p0);
        rvmi_frame_row(j->f->in, ly.i1, buf + 3 * (size_t)w, p1);
        for (int x = 0; x < j->out->w; x++) {
            lerp lx = j->lx[x];
            float *o = pixel(j->out, y, x);
            for (int k = 0; k < 3; k++)
                o[k] = ly.l0 * (lx.l0 * p0[k][lx.i0] + lx.l1 * p0[k][lx.i1]) +
                       ly.l1 * (lx.l0 * p1[k][lx.i0] + lx.l1 * p1[k][lx.i1]);
        }
    }
}

static int downsample_input(rvm_stream *s, const struct frame *f, rvmi_view *out)
{
    NEW_VIEW(*out, s->h0, s->w0, 3);
    /* F.interpolate by scale factor: the coordinate step is 1/ratio in both directions */
    input_job j = {s, f, out, (float)(1.0 / s->ratio), NULL, NULL};
    if (s->ratio != 1.0 && !(j.lx = lerp_table(s, (float)(1.0 / s->ratio), s->w0, f->width)))
        return RVM_ENOMEM;
    if (f->in->format == RVM_FORMAT_RGB24) {
        parallel_rows(s, s->h0, input_rows_rgb24, &j);
        return 0;
    }
    if (!(j.rows = arena_floats(&s->scratch, (size_t)rvmi_pool_threads(s->pool) * 6 * f->width)))
        return set_error(s, RVM_ENOMEM, "out of memory");
    parallel_rows(s, s->h0, input_rows_any, &j);
    return 0;
}

/* AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False): a last odd row or column averages
 * the pixels that exist. */
static int avgpool2(rvm_stream *s, const rvmi_view *in, rvmi_view *out)
{
    NEW_VIEW(*out, (in->h + 1) / 2, (in->w + 1) / 2, in->c);
    for (int y = 0; y < out->h; y++)
        for (int x = 0; x < out->w; x++) {
            float *o = pixel(out, y, x);
            int ny = 2 * y + 1 < in->h ? 2 : 1, nx = 2 * x + 1 < in->w ? 2 : 1;
            for (int k = 0; k < in->c; k++) {
                float sum = 0.f;
                for (int dy = 0; dy < ny; dy++)
                    for (int dx = 0; dx < nx; dx++)
                        sum += pixel(in, 2 * y + dy, 2 * x + dx)[k];
                o[k] = sum / (float)(ny * nx);
            }
        }
    return 0;
}

/* Per-channel mean over all pixels into a 1x1 view. */
RVM_CLONES_V4_V3 static int global_mean(rvm_stream *s, const rvmi_view *in, rvmi_view *out)
{
    NEW_VIEW(*out, 1, 1, in->c);
    double *sum = (double *)arena_floats(&s->scratch, 2 * (size_t)in->c);
    if (!sum)
        return set_error(s, RVM_ENOMEM, "out of memory");
    memset(sum, 0, (size_t)in->c * sizeof(double));
    for (int y = 0; y < in->h; y++)
        for (int x = 0; x < in->w; x++) {
            const float *p = pixel(in, y, x);
            for (int k = 0; k < in->c; k++)
                sum[k] += p[k];
        }
    for (int k = 0; k < in->c; k++)
        out->data[k] = (float)(sum[k] / ((double)in->h * in->w));
    return 0;
}

typedef struct {
    const rvmi_view *v;
    const float *scale;
} scale_job;

RVM_CLONES_V4_V3 static void scale_rows(void *ctx, int y0, int y1, int thread)
{
    (void)thread;
    scale_job *j = ctx;
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < j->v->w; x++) {
            float *p = pixel(j->v, y, x);
            for (int k = 0; k < j->v->c; k++)
                p[k] *= j->scale[k];
        }
}

/* Multiplies every pixel's channels by scale[] (SE and LR-ASPP gates). */
static void scale_channels(rvm_stream *s, const rvmi_view *v, const float *scale)
{
    scale_job j = {v, scale};
    parallel_rows(s, v->h, scale_rows, &j);
}

/* A per-pixel step over whole rows, run on the stream's threads: row(op, y) for every y. */
typedef struct row_op {
    void (*row)(const struct row_op *op, int y);
    const rvmi_view *a, *b, *c;
} row_op;

static void row_op_rows(void *ctx, int y0, int y1, int thread)
{
    (void)thread;
    const row_op *op = ctx;
    for (int y = y0; y < y1; y++)
        op->row(op, y);
}

static void run_rows(rvm_stream *s, void (*row)(const row_op *, int), const rvmi_view *a,
                     const rvmi_view *b, const rvmi_view *c)
{
    row_op op = {row, a, b, c};
    parallel_rows(s, b->h, row_op_rows, &op);
}

RVM_CLONES_V4_V3 static void copy_row(const row_op *op, int y)
{
    const int n = op->a->c;
    for (int x = 0; x < op->a->w; x++) {
        const float *from = pixel(op->a, y, x);
        float *to = pixel(op->b, y, x);
        for (int k = 0; k < n; k++)
            to[k] = from[k];
    }
}

/* Copies a's channels into b (a channel slice of a wider buffer, typically). */
static void copy_channels(rvm_stream *s, const rvmi_view *from, const rvmi_view *to)
{
    run_rows(s, copy_row, from, to, NULL);
}

/* ---- encoders ---- */

static int mobilenetv3(rvm_stream *s, const rvmi_view *src_sm, rvmi_view f[4])
{
    const struct rvm_model *m = s->model;
    static const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    rvmi_view x;
    NEW_VIEW(x, src_sm->h, src_sm->w, 3);
    for (size_t i = 0; i < (size_t)x.h * x.w; i++)
        for (int k = 0; k < 3; k++)
            x.data[3 * i + k] = (src_sm->data[3 * i + k] - mean[k]) / std[k];
    rvmi_view y;
    CONV(y, &m->mnv3_stem, x, NULL);
    x = y;
    for (int i = 0; i < RVM_MNV3_BLOCKS; i++) {
        const rvmi_mnv3_block *b = &m->mnv3[i];
        rvmi_view h = x, d;
        /* the block's output outlives its temporaries, so it is allocated first */
        const rvmi_conv *dw = &b->depthwise;
        NEW_VIEW(y, rvmi_conv_out_size(x.h, dw->kh, dw->stride, dw->dilation),
                 rvmi_conv_out_size(x.w, dw->kw, dw->stride, dw->dilation), b->project.cout);
        size_t mark = arena_mark(&s->scratch);
        if (b->has_expand)
            CONV(h, &b->expand, x, NULL);
        CONV(d, &b->depthwise, h, NULL);
        if (b->has_se) {
            rvmi_view mean1, red, gate;
            int st = global_mean(s, &d, &mean1);
            if (st)
                return st;
            CONV(red, &b->se_reduce, mean1, NULL);
            CONV(gate, &b->se_expand, red, NULL);
            scale_channels(s, &d, gate.data);
        }
        conv(s, &b->project, &d, &y, b->residual ? &x : NULL);
        arena_release(&s->scratch, mark);
        x = y;
        if (i == 0)
            f[0] = x; /* features[1] */
        else if (i == 2)
            f[1] = x; /* features[3] */
        else if (i == 5)
            f[2] = x; /* features[6] */
    }
    CONV(f[3], &m->mnv3_last, x, NULL);
    return 0;
}

/* MaxPool2d(3, 2, padding 1): padding never wins. */
static int maxpool3(rvm_stream *s, const rvmi_view *in, rvmi_view *out)
{
    NEW_VIEW(*out, (in->h - 1) / 2 + 1, (in->w - 1) / 2 + 1, in->c);
    for (int y = 0; y < out->h; y++)
        for (int x = 0; x < out->w; x++) {
            float *o = pixel(out, y, x);
            for (int k = 0; k < in->c; k++)
                o[k] = -INFINITY;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int iy = 2 * y + dy, ix = 2 * x + dx;
                    if (iy < 0 || iy >= in->h || ix < 0 || ix >= in->w)
                        continue;
                    const float *p = pixel(in, iy, ix);
                    for (int k = 0; k < in->c; k++)
                        o[k] = p[k] > o[k] ? p[k] : o[k];
                }
        }
    return 0;
}

static int resnet50(rvm_stream *s, const rvmi_view *src_sm, rvmi_view f[4])
{
    const struct rvm_model *m = s->model;
    rvmi_view x, y;
    CONV(f[0], &m->r50_stem, *src_sm, NULL);
    int st = maxpool3(s, &f[0], &x);
    if (st)
        return st;
    static const int ends[4] = {3, 7, 13, 16};
    for (int i = 0, layer = 0; i < RVM_R50_BLOCKS; i++) {
        const rvmi_r50_block *b = &m->r50[i];
        rvmi_view t1, t2, id = x;
        const rvmi_conv *c2 = &b->conv2;
        NEW_VIEW(y, rvmi_conv_out_size(x.h, c2->kh, c2->stride, c2->dilation),
                 rvmi_conv_out_size(x.w, c2->kw, c2->stride, c2->dilation), b->conv3.cout);
        size_t mark = arena_mark(&s->scratch);
        CONV(t1, &b->conv1, x, NULL);
        CONV(t2, &b->conv2, t1, NULL);
        if (b->has_downsample)
            CONV(id, &b->downsample, x, NULL);
        conv(s, &b->conv3, &t2, &y, &id);
        arena_release(&s->scratch, mark);
        x = y;
        if (i + 1 == ends[layer]) {
            if (layer == 0)
                f[1] = x;
            else if (layer == 1)
                f[2] = x;
            else if (layer == 3)
                f[3] = x;
            layer++;
        }
    }
    return 0;
}

/* ---- decoder ---- */

typedef struct {
    const rvmi_view *rz, *c;
    const rvmi_view *state, *out;
} gru_job;

RVM_CLONES_V4_V3 static void gru_update_rows(void *ctx, int y0, int y1, int thread)
{
    (void)thread;
    gru_job *j = ctx;
    const int ch = j->state->c;
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < j->state->w; x++) {
            const float *z = pixel(j->rz, y, x) + ch, *c = pixel(j->c, y, x);
            float *h = pixel(j->state, y, x), *o = pixel(j->out, y, x);
            for (int k = 0; k < ch; k++) {
                h[k] = (1.f - z[k]) * h[k] + z[k] * c[k];
                o[k] = h[k];
            }
        }
}

/* c = r * h, with r the first half of a's channels and h in b */
RVM_CLONES_V4_V3 static void reset_gate_row(const row_op *op, int y)
{
    const int ch = op->b->c;
    for (int x = 0; x < op->b->w; x++) {
        const float *r = pixel(op->a, y, x), *h = pixel(op->b, y, x);
        float *o = pixel(op->c, y, x);
        for (int i = 0; i < ch; i++)
            o[i] = r[i] * h[i];
    }
}

/* ConvGRU on the second half of x's channels, in place; the state advances. */
static int gru(rvm_stream *s, int k, const rvmi_view *x)
{
    const rvmi_gru *g = &s->model->gru[k];
    const int ch = g->channels;
    rvmi_view b = channels(*x, ch, ch);
    rvmi_view state = {.data = s->state[k], .h = x->h, .w = x->w, .c = ch, .stride = ch};
    rvmi_view rz, rh, c;
    size_t mark = arena_mark(&s->scratch);
    rvmi_inputs xh = {2, {b, state}};
    NEW_VIEW(rz, x->h, x->w, 2 * ch);
    conv_cat(s, &g->ih, &xh, &rz, NULL);
    NEW_VIEW(rh, x->h, x->w, ch);
    run_rows(s, reset_gate_row, &rz, &state, &rh);
    rvmi_inputs xrh = {2, {b, rh}};
    NEW_VIEW(c, x->h, x->w, ch);
    conv_cat(s, &g->hh, &xrh, &c, NULL);
    gru_job j = {&rz, &c, &state, &b};
    parallel_rows(s, x->h, gru_update_rows, &j);
    arena_release(&s->scratch, mark);
    return 0;
}

/* The decoder's input [upsample(x) cropped to s_img's size, f (if any), s_img]. */
static int upsample_inputs(rvm_stream *s, const rvmi_view *x, const rvmi_view *f,
                           const rvmi_view *s_img, rvmi_inputs *cat)
{
    rvmi_view up;
    NEW_VIEW(up, s_img->h, s_img->w, x->c);
    int st = resize(s, x, &up, 0.5f, 0.5f);
    if (st)
        return st;
    *cat = (rvmi_inputs){0};
    cat->v[cat->n++] = up;
    if (f)
        cat->v[cat->n++] = *f;
    cat->v[cat->n++] = *s_img;
    return 0;
}

static int decoder(rvm_stream *s, const rvmi_view *s0, const rvmi_view f[4], rvmi_view *x0)
{
    const struct rvm_model *m = s->model;
    rvmi_view pyr[4] = {*s0}; /* s0..s3 */
    for (int i = 1; i < 4; i++) {
        int st = avgpool2(s, &pyr[i - 1], &pyr[i]);
        if (st)
            return st;
    }
    /* decode4: GRU on half of the LR-ASPP output (the other half passes through) */
    rvmi_view x;
    NEW_VIEW(x, f[3].h, f[3].w, f[3].c);
    copy_channels(s, &f[3], &x);
    int st = gru(s, 3, &x);
    if (st)
        return st;
    s->layers.x[3] = x;
    for (int k = 2; k >= 0; k--) {
        rvmi_inputs cat;
        rvmi_view y;
        NEW_VIEW(y, pyr[k + 1].h, pyr[k + 1].w, m->up_conv[k].cout);
        size_t mark = arena_mark(&s->scratch);
        if ((st = upsample_inputs(s, &x, &f[k], &pyr[k + 1], &cat)))
            return st;
        conv_cat(s, &m->up_conv[k], &cat, &y, NULL);
        arena_release(&s->scratch, mark);
        if ((st = gru(s, k, &y)))
            return st;
        x = y;
        s->layers.x[k] = x;
    }
    rvmi_inputs cat;
    rvmi_view y;
    NEW_VIEW(*x0, s0->h, s0->w, m->out_conv[1].cout);
    size_t mark = arena_mark(&s->scratch);
    if ((st = upsample_inputs(s, &x, NULL, s0, &cat)))
        return st;
    NEW_CONV_OUT(y, &m->out_conv[0], cat.v[0]);
    conv_cat(s, &m->out_conv[0], &cat, &y, NULL);
    conv(s, &m->out_conv[1], &y, x0, NULL);
    arena_release(&s->scratch, mark);
    return 0;
}

/* ---- refiners: per low-resolution pixel, out = A * x + b (8 channels: A[4], b[4]) ---- */

/* [x, y, x*y, x*x] with x = [rgb, mean(rgb)] (from a) and y = [fgr residual, alpha] (b). */
RVM_CLONES_V4_V3 static void guide_row(const row_op *op, int y)
{
    for (int x = 0; x < op->c->w; x++) {
        const float *rgb = pixel(op->a, y, x), *p = pixel(op->b, y, x);
        float *o = pixel(op->c, y, x);
        o[0] = rgb[0], o[1] = rgb[1], o[2] = rgb[2];
        o[3] = (rgb[0] + rgb[1] + rgb[2]) / 3.f;
        for (int k = 0; k < 4; k++) {
            o[4 + k] = p[k];
            o[8 + k] = o[k] * p[k];
            o[12 + k] = o[k] * o[k];
        }
    }
}

/* The fast guided filter's box: a 1x3 then a 3x1 pass, each a/3 + b/3 + c/3, zero padded. */
RVM_CLONES_V4_V3 static void box_horizontal_row(const row_op *op, int y)
{
    const float third = 1.f / 3.f;
    const rvmi_view *in = op->a;
    for (int x = 0; x < in->w; x++)
        for (int k = 0; k < in->c; k++) {
            float l = x > 0 ? pixel(in, y, x - 1)[k] : 0.f;
            float r = x + 1 < in->w ? pixel(in, y, x + 1)[k] : 0.f;
            pixel(op->b, y, x)[k] = l * third + pixel(in, y, x)[k] * third + r * third;
        }
}

RVM_CLONES_V4_V3 static void box_vertical_row(const row_op *op, int y)
{
    const float third = 1.f / 3.f;
    const rvmi_view *t = op->a;
    for (int x = 0; x < t->w; x++)
        for (int k = 0; k < t->c; k++) {
            float u = y > 0 ? pixel(t, y - 1, x)[k] : 0.f;
            float d = y + 1 < t->h ? pixel(t, y + 1, x)[k] : 0.f;
            pixel(op->b, y, x)[k] = u * third + pixel(t, y, x)[k] * third + d * third;
        }
}

/* From the box-filtered [x, y, x*y, x*x] (a): cov = mean(xy) - mean(x)mean(y) and
 * var = mean(xx) - mean(x)^2 into the first 8 channels of b. */
RVM_CLONES_V4_V3 static void cov_var_row(const row_op *op, int y)
{
    for (int x = 0; x < op->a->w; x++) {
        const float *b = pixel(op->a, y, x);
        float *o = pixel(op->b, y, x);
        for (int k = 0; k < 4; k++) {
            o[k] = b[8 + k] - b[k] * b[4 + k];
            o[4 + k] = b[12 + k] - b[k] * b[k];
        }
    }
}

/* The fast guided filter's A = cov / (var + eps) into b's first 4 channels. */
RVM_CLONES_V4_V3 static void fast_a_row(const row_op *op, int y)
{
    for (int x = 0; x < op->a->w; x++) {
        const float *b = pixel(op->a, y, x);
        float *o = pixel(op->b, y, x);
        for (int k = 0; k < 4; k++) {
            float cov = b[8 + k] - b[k] * b[4 + k];
            float var = b[12 + k] - b[k] * b[k];
            o[k] = cov / (var + 1e-5f);
        }
    }
}

/* b = mean(y) - A * mean(x), next to A in the 8-channel coefficients (b). */
RVM_CLONES_V4_V3 static void offset_row(const row_op *op, int y)
{
    for (int x = 0; x < op->a->w; x++) {
        const float *b = pixel(op->a, y, x);
        float *o = pixel(op->b, y, x);
        for (int k = 0; k < 4; k++)
            o[4 + k] = b[4 + k] - o[k] * b[k];
    }
}

/* The refiner works on bands of rows, each band from the guide products to A and b in
 * per-thread buffers that stay in cache: the whole chain at once over the image would stream
 * about ten 16-channel images through memory. */
#define REFINE_BAND 4

typedef struct {
    rvm_stream *s;
    const rvmi_view *src_sm, *proj, *hid, *ab;
    float *scratch;
    size_t per_thread;
} refine_job;

static size_t refine_scratch(int w)
{
    return (size_t)w * ((REFINE_BAND + 2) * 48 + REFINE_BAND * 40);
}

static void run_local_rows(void (*row)(const row_op *, int), const rvmi_view *a, const rvmi_view *b,
                           const rvmi_view *c, int y0, int y1)
{
    row_op op = {row, a, b, c};
    for (int y = y0; y < y1; y++)
        row(&op, y);
}

static void refine_rows(void *ctx, int y0, int y1, int thread)
{
    refine_job *j = ctx;
    const struct rvm_model *m = j->s->model;
    const rvmi_kernels *k = j->s->kernels;
    const int w = j->src_sm->w, n = y1 - y0;
    /* the band with one row of context above and below, where the image has it */
    const int ya = y0 > 0 ? y0 - 1 : 0, yb = y1 < j->src_sm->h ? y1 + 1 : y1, bh = yb - ya;
    const int l0 = y0 - ya; /* the band's first row, in band rows */
    float *p = j->scratch + (size_t)thread * j->per_thread;
    rvmi_view xy = {p, bh, w, 16, 16}, box = {p + (size_t)bh * w * 16, bh, w, 16, 16};
    rvmi_view t = {p + (size_t)bh * w * 32, bh, w, 16, 16};
    p += (size_t)(REFINE_BAND + 2) * w * 48;
    rvmi_view cov_var = {p, n, w, 8, 8}, h1 = {p + (size_t)n * w * 8, n, w, 16, 16};
    rvmi_view h2 = {p + (size_t)n * w * 24, n, w, 16, 16};

    rvmi_view src = rows_of(*j->src_sm, ya, bh), proj = rows_of(*j->proj, ya, bh);
    run_local_rows(guide_row, &src, &proj, &xy, 0, bh);
    rvmi_view box_rows = rows_of(box, l0, n), ab = rows_of(*j->ab, y0, n);
    rvmi_view a = channels(ab, 0, 4);
    if (m->refiner == RVM_REFINER_DEEP_GUIDED_FILTER) {
        k->conv_depthwise(&m->dgf_box, &xy, &box, NULL, l0, l0 + n);
        run_local_rows(cov_var_row, &box_rows, &cov_var, NULL, 0, n);
        rvmi_inputs cat = {2, {cov_var, rows_of(*j->hid, y0, n)}}; /* [cov, var, hid] */
        rvmi_inputs in1 = rvmi_inputs_of(&h1), in2 = rvmi_inputs_of(&h2);
        k->conv_dense(&m->dgf_conv[0], &cat, &h1, NULL, 0, n, j->s->zeros);
        k->conv_dense(&m->dgf_conv[1], &in1, &h2, NULL, 0, n, j->s->zeros);
        k->conv_dense(&m->dgf_conv[2], &in2, &a, NULL, 0, n, j->s->zeros);
    } else {
        run_local_rows(box_horizontal_row, &xy, &t, NULL, 0, bh);
        run_local_rows(box_vertical_row, &t, &box, NULL, l0, l0 + n);
        run_local_rows(fast_a_row, &box_rows, &a, NULL, 0, n);
    }
    run_local_rows(offset_row, &box_rows, &ab, NULL, 0, n);
}

static int refine_coefficients(rvm_stream *s, const rvmi_view *src_sm, const rvmi_view *proj,
                               const rvmi_view *hid, rvmi_view *ab)
{
    NEW_VIEW(*ab, src_sm->h, src_sm->w, 8);
    size_t per_thread = refine_scratch(src_sm->w), mark = arena_mark(&s->scratch);
    float *scratch = arena_floats(&s->scratch, per_thread * rvmi_pool_threads(s->pool));
    if (!scratch)
        return set_error(s, RVM_ENOMEM, "out of memory");
    refine_job j = {s, src_sm, proj, hid, ab, scratch, per_thread};
    parallel_bands(s, src_sm->h, REFINE_BAND, refine_rows, &j);
    arena_release(&s->scratch, mark);
    return 0;
}

/* ---- full-resolution output: upsample A and b, out = A * x + b, clamp, convert, store ---- */

/* Each thread keeps the two coefficient rows it last upsampled horizontally: consecutive
 * output rows mostly share them (1/ratio output rows per low-resolution row). */
typedef struct {
    int row[2]; /* low-resolution row held in slot k, or -1 */
    float *planes[2];
} row_cache;

typedef struct {
    rvm_stream *s;
    const struct frame *f;
    const rvmi_view *ab;
    const rvm_output *out;
    float sy;
    const lerp *lx;
    size_t plane;  /* floats between planes of an upsampled row */
    row_cache *cache; /* per thread */
    float *tmp;       /* per thread, 4 * width */
    float *x;         /* per thread, 3 * width: the input row as float planes */
} tail_job;

/* Horizontal pass, as PyTorch's separable bilinear does it first: 8 planes of width floats. */
RVM_CLONES_V4_V3 static void upsample_row(const tail_job *j, int low_row, float *planes)
{
    const float *src = pixel(j->ab, low_row, 0);
    for (int x = 0; x < j->f->width; x++) {
        lerp l = j->lx[x];
        const float *a = src + 8 * l.i0, *b = src + 8 * l.i1;
        for (int c = 0; c < 8; c++)
            planes[c * j->plane + x] = l.l0 * a[c] + l.l1 * b[c];
    }
}

static const float *cached_row(const tail_job *j, row_cache *c, int low_row, int keep)
{
    for (int k = 0; k < 2; k++)
        if (c->row[k] == low_row)
            return c->planes[k];
    int k = c->row[0] == keep ? 1 : 0; /* replace the slot the caller does not need */
    upsample_row(j, low_row, c->planes[k]);
    c->row[k] = low_row;
    return c->planes[k];
}

static void tail_rows(void *ctx, int y0, int y1, int thread)
{
    tail_job *j = ctx;
    const rvm_output *out = j->out;
    row_cache *cache = &j->cache[thread];
    float *tmp = j->tmp + (size_t)thread * 4 * j->f->width;
    float *xbuf = j->x + (size_t)thread * 3 * j->f->width;
    for (int y = y0; y < y1; y++) {
        lerp ly = lerp_at(j->sy, y, j->ab->h);
        const float *h0 = cached_row(j, cache, ly.i0, ly.i1);
        const float *h1 = cached_row(j, cache, ly.i1, ly.i0);
        const float *x[3];
        rvmi_frame_row(j->f->in, y, xbuf, x);
        rvmi_blend_out row = {out->type, out->fgr_layout,
                              out->pha ? (char *)out->pha + y * out->pha_stride : NULL,
                              out->fgr ? (char *)out->fgr + y * out->fgr_stride : NULL,
                              out->fgr_plane_stride};
        j->s->kernels->blend_row(h0, h1, j->plane, ly.l0, ly.l1, x, j->f->width, &row, tmp);
    }
}

static int full_resolution(rvm_stream *s, const struct frame *f, const rvmi_view *ab,
                           const rvm_output *out)
{
    int threads = rvmi_pool_threads(s->pool);
    size_t plane = ((size_t)f->width + 15) / 16 * 16;
    /* F.interpolate by size: the coordinate step is in/out */
    const lerp *lx = lerp_table(s, (float)ab->w / (float)f->width, f->width, ab->w);
    row_cache *cache = (row_cache *)arena_floats(&s->scratch, threads * sizeof(row_cache) / sizeof(float) + 1);
    float *rows = arena_floats(&s->scratch, (size_t)threads * 2 * 8 * plane);
    float *tmp = arena_floats(&s->scratch, (size_t)threads * 4 * f->width);
    float *x = arena_floats(&s->scratch, (size_t)threads * 3 * f->width);
    if (!lx || !cache || !rows || !tmp || !x)
        return set_error(s, RVM_ENOMEM, "out of memory");
    for (int t = 0; t < threads; t++)
        for (int k = 0; k < 2; k++) {
            cache[t].row[k] = -1;
            cache[t].planes[k] = rows + ((size_t)t * 2 + k) * 8 * plane;
        }
    tail_job j = {s, f, ab, out, (float)ab->h / (float)f->height, lx, plane, cache, tmp, x};
    parallel_rows(s, f->height, tail_rows, &j);
    return 0;
}

/* ---- one frame ---- */

/* Checks a frame and a ratio, and gives the internal (downsampled) size: floor(size * ratio),
 * as F.interpolate computes it, or the frame's size at ratio 1 (no resize at all). */
static int internal_size(rvm_stream *s, const struct frame *f, double ratio, int *h0, int *w0)
{
    if (f->width < 1 || f->height < 1 || f->width > RVM_MAX_SIDE || f->height > RVM_MAX_SIDE)
        return set_error(s, RVM_EINVAL, "frame size %dx%d is outside 1..%d", f->width, f->height,
                         RVM_MAX_SIDE);
    if (!(ratio > 0.0 && ratio <= 1.0))
        return set_error(s, RVM_EINVAL, "downsample ratio %g is not in (0, 1]", ratio);
    if (rvmi_internal_size(f->width, f->height, ratio, h0, w0))
        return set_error(s, RVM_EINVAL, "downsample ratio %g leaves no pixels of a %dx%d frame",
                         ratio, f->width, f->height);
    return 0;
}

static int prepare(rvm_stream *s, const struct frame *f, double ratio)
{
    int h0, w0, st = internal_size(s, f, ratio, &h0, &w0);
    if (st)
        return st;
    if ((st = rvmi_frame_check(f->in, s->err, sizeof s->err)))
        return st;
    arena_reset(&s->scratch);
    memset(&s->layers, 0, sizeof s->layers);
    s->ratio = ratio;
    if (h0 != s->h0 || w0 != s->w0 || !s->state[0]) {
        /* new internal size: the recurrent state starts over, as for a new video */
        if (s->state[0])
            rvmi_log(RVM_LOG_DEBUG, "stream: internal size %dx%d -> %dx%d, the recurrent state "
                     "starts over", s->w0, s->h0, w0, h0);
        s->h0 = h0, s->w0 = w0;
        int h = h0, w = w0;
        for (int k = 0; k < 4; k++) {
            h = (h + 1) / 2, w = (w + 1) / 2; /* r1 at 1/2, r2 at 1/4, r3 at 1/8, r4 at 1/16 */
            free(s->state[k]);
            s->state_h[k] = h, s->state_w[k] = w;
            s->state[k] = calloc((size_t)h * w * s->model->gru[k].channels, sizeof(float));
            if (!s->state[k])
                return set_error(s, RVM_ENOMEM, "out of memory");
        }
    }
    return 0;
}

static int forward(rvm_stream *s, const struct frame *f, double ratio, rvmi_view *x0,
                   rvmi_view *src_sm)
{
    int st = prepare(s, f, ratio);
    if (st)
        return st;
    if ((st = downsample_input(s, f, src_sm)))
        return st;
    s->layers.src_sm = *src_sm;
    rvmi_view feats[4];
    st = s->model->variant == RVM_VARIANT_MOBILENETV3 ? mobilenetv3(s, src_sm, feats)
                                                       : resnet50(s, src_sm, feats);
    if (st)
        return st;
    for (int i = 0; i < 4; i++)
        s->layers.f[i] = feats[i];
    /* LR-ASPP: relu(bn(conv(f4))) * sigmoid(conv(mean(f4))) */
    rvmi_view mean4, gate, aspp;
    if ((st = global_mean(s, &feats[3], &mean4)))
        return st;
    CONV(gate, &s->model->aspp_gate, mean4, NULL);
    CONV(aspp, &s->model->aspp_main, feats[3], NULL);
    scale_channels(s, &aspp, gate.data);
    s->layers.aspp = aspp;
    feats[3] = aspp;
    if ((st = decoder(s, src_sm, feats, x0)))
        return st;
    s->layers.x0 = *x0;
    for (int k = 0; k < 4; k++)
        s->layers.r[k] = (rvmi_view){s->state[k], s->state_h[k], s->state_w[k],
                                    s->model->gru[k].channels, s->model->gru[k].channels};
    return 0;
}

/* Checks where the results go: a known type and layout, strides of at least a row. */
static int check_output(rvm_stream *s, const rvm_output *out, int width, int height)
{
    if (!out || out->type < RVM_PIXEL_F32 || out->type > RVM_PIXEL_U16)
        return set_error(s, RVM_EINVAL, "no valid output description");
    if (out->fgr_layout < RVM_FGR_RGB || out->fgr_layout > RVM_FGR_RGBA_PREMULTIPLIED)
        return set_error(s, RVM_EINVAL, "unknown foreground layout %d", (int)out->fgr_layout);
    ptrdiff_t size = out->type == RVM_PIXEL_F32 ? 4 : out->type == RVM_PIXEL_U16 ? 2 : 1;
    if (out->pha && out->pha_stride < size * width)
        return set_error(s, RVM_EINVAL, "alpha row stride %td is less than a row's %td bytes",
                         out->pha_stride, size * width);
    if (!out->fgr)
        return 0;
    int channels = out->fgr_layout == RVM_FGR_RGB ? 3 : out->fgr_layout == RVM_FGR_PLANAR ? 1 : 4;
    if (out->fgr_stride < size * channels * width)
        return set_error(s, RVM_EINVAL,
                         "foreground row stride %td is less than a row's %td bytes",
                         out->fgr_stride, size * channels * width);
    if (out->fgr_layout == RVM_FGR_PLANAR && out->fgr_plane_stride < out->fgr_stride * height)
        return set_error(s, RVM_EINVAL,
                         "foreground plane stride %td is less than a plane's %td bytes",
                         out->fgr_plane_stride, out->fgr_stride * height);
    return 0;
}

int rvm_stream_process_frame(rvm_stream *s, const rvm_frame *in, double ratio,
                             const rvm_output *out)
{
    if (!s)
        return RVM_EINVAL;
    if (!in)
        return set_error(s, RVM_EINVAL, "no frame");
    int st = check_output(s, out, in->width, in->height);
    if (st)
        return st;
    struct frame f = {in, in->width, in->height};
    rvmi_view x0, src_sm, proj, ab;
    if ((st = forward(s, &f, ratio, &x0, &src_sm)))
        return st;
    CONV(proj, &s->model->project_mat, x0, NULL);
    s->layers.proj = proj;
    if (ratio != 1.0) {
        if ((st = refine_coefficients(s, &src_sm, &proj, &x0, &ab)))
            return st;
    } else {
        /* no refiner: A = 0, b = the projection, at the frame's own size */
        NEW_VIEW(ab, proj.h, proj.w, 8);
        for (size_t i = 0; i < (size_t)proj.h * proj.w; i++) {
            memset(ab.data + 8 * i, 0, 4 * sizeof(float));
            memcpy(ab.data + 8 * i + 4, proj.data + 4 * i, 4 * sizeof(float));
        }
    }
    return full_resolution(s, &f, &ab, out);
}

static rvm_frame rgb24_frame(const uint8_t *rgb, int width, int height, ptrdiff_t stride)
{
    return (rvm_frame){.format = RVM_FORMAT_RGB24, .width = width, .height = height,
                       .planes = {rgb}, .strides = {stride}};
}

int rvm_stream_process(rvm_stream *s, const uint8_t *rgb, int width, int height,
                       ptrdiff_t stride, double ratio, const rvm_output *out)
{
    rvm_frame in = rgb24_frame(rgb, width, height, stride);
    return rvm_stream_process_frame(s, &in, ratio, out);
}

int rvm_stream_segment_frame(rvm_stream *s, const rvm_frame *in, double ratio, float *seg,
                             size_t capacity, int *seg_w, int *seg_h)
{
    if (!s)
        return RVM_EINVAL;
    if (!in)
        return set_error(s, RVM_EINVAL, "no frame");
    struct frame f = {in, in->width, in->height};
    int h0, w0, st = internal_size(s, &f, ratio, &h0, &w0);
    if (st)
        return st;
    if (seg_w)
        *seg_w = w0;
    if (seg_h)
        *seg_h = h0;
    if (!seg) /* size only */
        return 0;
    if (capacity < (size_t)w0 * h0)
        return set_error(s, RVM_EINVAL, "segmentation buffer of %zu floats is less than %dx%d",
                         capacity, w0, h0);
    rvmi_view x0, src_sm, out;
    if ((st = forward(s, &f, ratio, &x0, &src_sm)))
        return st;
    CONV(out, &s->model->project_seg, x0, NULL);
    s->layers.seg = out;
    memcpy(seg, out.data, (size_t)out.h * out.w * sizeof(float));
    return 0;
}

int rvm_stream_segment(rvm_stream *s, const uint8_t *rgb, int width, int height,
                       ptrdiff_t stride, double ratio, float *seg, size_t capacity, int *seg_w,
                       int *seg_h)
{
    rvm_frame in = rgb24_frame(rgb, width, height, stride);
    return rvm_stream_segment_frame(s, &in, ratio, seg, capacity, seg_w, seg_h);
}

double rvm_auto_downsample_ratio(int width, int height)
{
    int m = width > height ? width : height;
    if (m <= 0)
        return 1.0;
    double r = 512.0 / m;
    return r < 1.0 ? r : 1.0;
}

/* ---- stream lifetime ---- */

rvm_stream *rvm_stream_create(const rvm_model *model, int threads, int *status, char *err,
                              size_t errlen)
{
    char dummy[8];
    int ignored;
    if (!err || errlen == 0)
        err = dummy, errlen = sizeof dummy;
    if (!status)
        status = &ignored;
    *status = RVM_OK;
    if (!model) {
        snprintf(err, errlen, "no model");
        *status = RVM_EINVAL;
        return NULL;
    }
    if (threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (int)n : 1;
    }
    if (threads > 256)
        threads = 256;
    rvm_stream *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        *status = RVM_ENOMEM;
        return NULL;
    }
    s->model = model;
    s->kernels = rvmi_kernels_select();
    s->pool = rvmi_pool_create(threads);
    s->zeros = calloc(RVM_MAX_CIN, sizeof(float));
    if (!s->pool || !s->zeros) {
        rvm_stream_free(s);
        snprintf(err, errlen, "cannot start %d threads", threads);
        *status = RVM_ENOMEM;
        return NULL;
    }
    for (int i = 0; i < 256; i++)
        s->u8_to_float[i] = (float)i / 255.f;
    rvmi_log(RVM_LOG_INFO, "stream: %s kernels, %d threads", s->kernels->name, threads);
    return s;
}

void rvm_stream_reset(rvm_stream *s)
{
    if (!s)
        return;
    for (int k = 0; k < 4; k++) {
        free(s->state[k]);
        s->state[k] = NULL;
    }
}

void rvm_stream_free(rvm_stream *s)
{
    if (!s)
        return;
    rvm_stream_reset(s);
    arena_free(&s->scratch);
    rvmi_pool_free(s->pool);
    free(s->zeros);
    free(s);
}

const char *rvm_stream_error(const rvm_stream *s) { return s ? s->err : "no stream"; }

int rvmi_stream_set_kernels(rvm_stream *s, const char *isa)
{
    const rvmi_kernels *k = rvmi_kernels_by_name(isa);
    if (!k)
        return set_error(s, RVM_EUNSUPPORTED, "this CPU cannot run the %s kernels", isa);
    s->kernels = k;
    rvmi_log(RVM_LOG_INFO, "stream: %s kernels (asked for)", k->name);
    return 0;
}

const rvmi_view *rvmi_stream_layer(const rvm_stream *s, const char *name)
{
    const rvmi_view *all[] = {&s->layers.src_sm, &s->layers.f[0], &s->layers.f[1], &s->layers.f[2],
                             &s->layers.f[3],   &s->layers.aspp, &s->layers.x[3], &s->layers.x[2],
                             &s->layers.x[1],   &s->layers.x[0], &s->layers.x0,   &s->layers.proj,
                             &s->layers.seg};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(name, layer_names[i]) == 0)
            return all[i]->data ? all[i] : NULL;
    if (name[0] == 'r' && name[1] >= '1' && name[1] <= '4' && !name[2])
        return s->layers.r[name[1] - '1'].data ? &s->layers.r[name[1] - '1'] : NULL;
    return NULL;
}

const char *rvm_status_string(int status)
{
    switch (status) {
    case RVM_OK: return "ok";
    case RVM_EINVAL: return "invalid argument";
    case RVM_ENOMEM: return "out of memory";
    case RVM_EIO: return "input/output error";
    case RVM_EFORMAT: return "invalid file format";
    case RVM_EMISMATCH: return "weights do not match the request";
    case RVM_EUNSUPPORTED: return "not supported";
    }
    return "unknown error";
}
