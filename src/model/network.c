/* The forward pass of RVM, one frame at a time, as the official MattingNetwork computes it:
 * downsample, encoder (MobileNetV3 or ResNet50), LR-ASPP and the recurrent decoder. The
 * projection and the guided-filter refiner are in refiner.c, the public stream API in stream.c.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "model/network.h"

#include <assert.h>
#include <math.h>
#include <string.h>

#include "kernels/threadpool.h"
#include "model/pixels.h"
#include "model/scratch.h"

/* The loops over whole tensors (resizes, gates, the GRU update) are the stream's kernel set's
 * (s->kernels->loops, kernels.h); here they are split over the stream's threads. */

/* ---- bilinear resizes ---- */

typedef struct {
    const rvmi_loops *k;
    const rvmi_view *in, *out;
    float sy;
    const rvmi_lerp *lx; /* per output column */
    int first;           /* the row of the whole output that out's first row is */
} resize_job;

static void resize_rows(void *ctx, int y0, int y1, int thread)
{
    (void)thread;
    resize_job *j = ctx;
    /* rows by their index in the whole output (the input rows they read depend on it) */
    j->k->resize(j->in, j->out, j->sy, j->lx, j->first, j->first + y0, j->first + y1);
}

/* Rows [first, first + out->h) of the resize of in into out (which may be smaller than
 * in*scale: that is the decoder's crop to the skip connection's size). For streams that run
 * the decoder layer by layer (s->unbanded, tests). */
static int resize_band(rvm_stream *s, const rvmi_view *in, const rvmi_view *out, float sy,
                       float sx, int first)
{
    const rvmi_lerp *lx = rvmi_lerp_table(s, sx, out->w, in->w);
    if (!lx)
        return RVM_ENOMEM;
    resize_job j = {s->kernels->loops, in, out, sy, lx, first};
    rvmi_parallel_rows(s, out->h, resize_rows, &j);
    return 0;
}

/* ---- input ---- */

typedef struct {
    rvm_stream *s;
    const rvm_frame *f;
    const rvmi_view *out;
    float sy;
    const rvmi_lerp *lx;
    float *rows; /* other formats than RGB24: per thread, two input rows as float planes */
} input_job;

/* Packed RGB, the common case, read in place through the 8-bit table. */
static void input_rows_rgb24(void *ctx, int y0, int y1, int thread)
{
    (void)thread;
    input_job *j = ctx;
    j->s->kernels->loops->input_rgb24(j->f->planes[0], j->f->strides[0], j->f->height,
                                      j->s->u8_to_float, j->sy, j->lx, j->out, y0, y1);
}

/* Any format: the two input rows an output row needs, as float planes (in place for planar
 * floats), then the same interpolation. */
static void input_rows_any(void *ctx, int y0, int y1, int thread)
{
    input_job *j = ctx;
    const int w = j->f->width;
    float *buf = j->rows + (size_t)thread * 6 * w;
    for (int y = y0; y < y1; y++) {
        const float *p0[3], *p1[3];
        rvmi_lerp ly = {y, y, 1.f, 0.f};
        if (j->lx)
            ly = rvmi_lerp_at(j->sy, y, j->f->height);
        rvmi_frame_row(j->s->kernels, j->f, ly.i0, buf, p0);
        if (j->lx)
            rvmi_frame_row(j->s->kernels, j->f, ly.i1, buf + 3 * (size_t)w, p1);
        j->s->kernels->loops->input_planes(p0, p1, ly.l0, ly.l1, j->lx, j->out, y);
    }
}

static int downsample_input(rvm_stream *s, const rvm_frame *f, rvmi_view *out)
{
    NEW_VIEW(*out, s->h0, s->w0, 3);
    /* F.interpolate by scale factor: the coordinate step is 1/ratio in both directions */
    input_job j = {s, f, out, (float)(1.0 / s->ratio), NULL, NULL};
    if (s->ratio != 1.0 && !(j.lx = rvmi_lerp_table(s, (float)(1.0 / s->ratio), s->w0, f->width)))
        return RVM_ENOMEM;
    if (f->format == RVM_FORMAT_RGB24) {
        rvmi_parallel_rows(s, s->h0, input_rows_rgb24, &j);
        return 0;
    }
    size_t row_floats = (size_t)rvmi_pool_threads(s->pool) * 6 * f->width;
    if (!(j.rows = rvmi_arena_floats(&s->scratch, row_floats)))
        return rvmi_stream_fail(s, RVM_ENOMEM, "out of memory");
    rvmi_parallel_rows(s, s->h0, input_rows_any, &j);
    return 0;
}

/* ImageNet normalisation of the encoder's input, rows [y0, y1) of in into out. */
static void imagenet_normalize(const rvmi_view *in, const rvmi_view *out, int y0, int y1)
{
    static const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    const float *src = in->data;
    float *dst = out->data;
    for (size_t i = (size_t)y0 * out->w; i < (size_t)y1 * out->w; i++)
        for (int k = 0; k < 3; k++)
            dst[3 * i + k] = (src[3 * i + k] - mean[k]) / std[k];
}

/* Loops over the rows of views (the kernel set's, and imagenet_normalize), on the stream's
 * threads: one job type and one task function for all of them, the loop named by `loop`. */
typedef enum {
    IMAGENET_NORMALIZE,
    AVGPOOL2,
    SCALE_CHANNELS,
    COPY_CHANNELS,
    MULTIPLY,
    GRU_UPDATE
} views_loop;

typedef struct {
    views_loop loop;
    const rvmi_view *a, *b, *c, *d;
    const float *scale;
    const rvmi_loops *k;
} views_job;

static void views_rows(void *ctx, int y0, int y1, int thread)
{
    (void)thread;
    const views_job *j = ctx;
    switch (j->loop) {
    case IMAGENET_NORMALIZE:
        imagenet_normalize(j->a, j->b, y0, y1);
        break;
    case AVGPOOL2:
        j->k->avgpool2(j->a, j->b, y0, y1);
        break;
    case SCALE_CHANNELS:
        j->k->scale_channels(j->a, j->scale, y0, y1);
        break;
    case COPY_CHANNELS:
        j->k->copy_channels(j->a, j->b, y0, y1);
        break;
    case MULTIPLY:
        j->k->multiply(j->a, j->b, j->c, y0, y1);
        break;
    case GRU_UPDATE:
        j->k->gru_update(j->a, j->b, j->c, j->d, y0, y1);
        break;
    }
}

/* Rows [0, rows) of j's loop. */
static void run_views(rvm_stream *s, int rows, views_job j)
{
    j.k = s->kernels->loops;
    rvmi_parallel_rows(s, rows, views_rows, &j);
}

/* AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False): a last odd row or column averages
 * the pixels that exist. On the stream's threads: alone, the pyramid's first level (480x270
 * at 1080p, ratio 0.25) was a serial 1% of the frame. */
static int avgpool2(rvm_stream *s, const rvmi_view *in, rvmi_view *out)
{
    NEW_VIEW(*out, (in->h + 1) / 2, (in->w + 1) / 2, in->c);
    run_views(s, out->h, (views_job){.loop = AVGPOOL2, .a = in, .b = out});
    return 0;
}

/* Per-channel mean over all pixels into a 1x1 view. */
typedef struct {
    const rvmi_loops *k;
    const rvmi_view *in;
    double *sum;
    float *mean;
} mean_job;

static void mean_channels(void *ctx, int c0, int c1, int thread)
{
    (void)thread;
    const mean_job *j = ctx;
    rvmi_view v = *j->in;
    v.data += c0, v.c = c1 - c0;
    j->k->channel_mean(&v, j->sum + c0, j->mean + c0);
}

/* The mean of every channel, in tasks of channels (each channel's sum in the same order
 * whichever task has it): alone on one thread, the other spun out its wait and went to sleep,
 * and waking it for the squeeze-and-excitation's first 1x1 layer that follows cost more than
 * that layer's other half. */
static int global_mean(rvm_stream *s, const rvmi_view *in, rvmi_view *out)
{
    NEW_VIEW(*out, 1, 1, in->c);
    double *sum = (double *)rvmi_arena_floats(&s->scratch, 2 * (size_t)in->c);
    if (!sum)
        return rvmi_stream_fail(s, RVM_ENOMEM, "out of memory");
    mean_job j = {s->kernels->loops, in, sum, out->data};
    const int tasks = 2 * rvmi_pool_threads(s->pool);
    const int band = ((in->c + tasks - 1) / tasks + 15) / 16 * 16;
    rvmi_parallel_bands(s, in->c, band, mean_channels, &j);
    return 0;
}

/* Multiplies every pixel's channels by scale[] (SE and LR-ASPP gates). */
static void scale_channels(rvm_stream *s, const rvmi_view *v, const float *scale)
{
    run_views(s, v->h, (views_job){.loop = SCALE_CHANNELS, .a = v, .scale = scale});
}

/* Copies a's channels into b (a channel slice of a wider buffer, typically). */
static void copy_channels(rvm_stream *s, const rvmi_view *from, const rvmi_view *to)
{
    run_views(s, from->h, (views_job){.loop = COPY_CHANNELS, .a = from, .b = to});
}

/* ---- encoders ---- */

/* A MobileNetV3 block without SE (expand 1x1, depthwise, project 1x1) in bands of output
 * rows, so that its expanded tensor, the largest of the block (at 1080p, ratio 0.25: 8 MB in
 * block 1, made and read again at 5 GB/s), never goes whole through memory: each band's
 * expanded rows are made into a buffer of the thread's that stays in L2, the depthwise
 * convolution reads them there into a second such buffer, and the projection reads that.
 *
 * The depthwise kernel sees a band as a whole picture of e1 - e0 rows: taps that fall outside
 * it read zeros, as in the padding. A band starts at a multiple of the stride and holds every
 * row that the outputs taken from it read (or ends where the input does), so those outputs
 * see exactly what they would in the whole tensor, and every value is the same float as the
 * layers run one by one give (the kernels sum each pixel in the same order, wherever it
 * falls). A thread's next band keeps the rows the two share (moved to the buffer's start)
 * instead of expanding them again. */
#define BAND_BYTES (160 * 1024) /* an expanded band at most (a band is one output row at least) */

typedef struct {
    rvm_stream *s;
    const rvmi_mnv3_block *b;
    const rvmi_view *x, *y; /* the block's input and output */
    int rows;               /* output rows per band */
    size_t band_floats;     /* the expanded band's buffer (0 without expansion) */
    float *scratch;
    size_t per_thread;      /* floats */
} block_job;

static void block_rows(void *ctx, int y0, int y1, int thread)
{
    block_job *j = ctx;
    const rvmi_kernels *k = j->s->kernels;
    const rvmi_mnv3_block *b = j->b;
    const rvmi_conv *dw = &b->depthwise;
    const int st = dw->stride, pad = (dw->kh - 1) / 2 * dw->dilation;
    const int reach = (dw->kh - 1) * dw->dilation, W = j->x->w, C = dw->cin;
    const size_t row = (size_t)W * C;
    float *ebuf = j->scratch + (size_t)thread * j->per_thread, *dbuf = ebuf + j->band_floats;
    int have0 = 0, have1 = 0; /* the expanded rows in ebuf (its first row is have0) */
    for (int o0 = y0; o0 < y1; o0 += j->rows) {
        const int o1 = o0 + j->rows < y1 ? o0 + j->rows : y1;
        /* input rows [e0, e1): from a multiple of the stride to the last row o1 - 1 reads */
        int e0 = o0 * st - pad, e1 = (o1 - 1) * st - pad + reach + 1;
        e0 = e0 < 0 ? 0 : e0 / st * st;
        e1 = e1 < j->x->h ? e1 : j->x->h;
        rvmi_view band;
        if (b->has_expand) {
            int from = e0;
            if (have0 <= e0 && e0 < have1) {
                memmove(ebuf, ebuf + (size_t)(e0 - have0) * row,
                        sizeof(float) * (size_t)(have1 - e0) * row);
                from = have1;
            }
            band = (rvmi_view){ebuf, e1 - e0, W, C, C};
            if (from < e1) {
                rvmi_view xin = rows_of(*j->x, from, e1 - from);
                rvmi_view eout = rows_of(band, from - e0, e1 - from);
                rvmi_inputs one = rvmi_inputs_of(&xin);
                k->conv_dense(&b->expand, &one, &eout, NULL, 0, e1 - from, j->s->zeros);
            }
            have0 = e0, have1 = e1;
        } else {
            band = rows_of(*j->x, e0, e1 - e0);
        }
        /* the band's output rows [r0, r1) are the block's [o0, o1); dbuf holds the band's
         * output rows from its row 0 on (rows before r0, at most pad of them, unused) */
        const int r0 = o0 - e0 / st, r1 = o1 - e0 / st, n = o1 - o0;
        rvmi_view dout = {dbuf, r1, j->y->w, C, C};
        k->conv_depthwise(dw, &band, &dout, NULL, r0, r1);
        rvmi_view pin = rows_of(dout, r0, n), pout = rows_of(*j->y, o0, n);
        rvmi_view res = rows_of(*j->x, o0, n);
        rvmi_inputs one = rvmi_inputs_of(&pin);
        k->conv_dense(&b->project, &one, &pout, b->residual ? &res : NULL, 0, n, j->s->zeros);
    }
}

/* Block b (without SE) on x into y, in bands on the stream's threads. */
static int banded_block(rvm_stream *s, const rvmi_mnv3_block *b, const rvmi_view *x,
                        const rvmi_view *y)
{
    const rvmi_conv *dw = &b->depthwise;
    const int st = dw->stride, reach = (dw->kh - 1) * dw->dilation, C = dw->cin;
    const int pad = (dw->kh - 1) / 2 * dw->dilation;
    const size_t row = (size_t)x->w * C * sizeof(float), orow = (size_t)y->w * C * sizeof(float);
    /* output rows per band: as many as keep the expanded band (or, without expansion, the
     * depthwise output) within BAND_BYTES; a band starts up to st - 1 rows before the first
     * row it needs */
    int rows = b->has_expand ? ((int)(BAND_BYTES / row) - reach - st) / st + 1
                             : (int)(BAND_BYTES / orow);
    rows = rows < 1 ? 1 : rows > y->h ? y->h : rows;
    size_t band_floats = b->has_expand ? (size_t)((rows - 1) * st + reach + st) * x->w * C : 0;
    band_floats = (band_floats + 15) / 16 * 16; /* the depthwise output 64-byte aligned too */
    size_t per_thread = band_floats + (size_t)(rows + pad) * y->w * C;
    per_thread = (per_thread + 15) / 16 * 16;
    float *scratch = rvmi_arena_floats(&s->scratch, per_thread * rvmi_pool_threads(s->pool));
    if (!scratch)
        return rvmi_stream_fail(s, RVM_ENOMEM, "out of memory");
    block_job j = {s, b, x, y, rows, band_floats, scratch, per_thread};
    /* few tasks: the first band of each expands again the rows it shares with the task before */
    int threads = rvmi_pool_threads(s->pool), tasks = threads == 1 ? 1 : 2 * threads;
    rvmi_parallel_bands(s, y->h, (y->h + tasks - 1) / tasks, block_rows, &j);
    return 0;
}

static int mobilenetv3(rvm_stream *s, const rvmi_view *src_sm, rvmi_view f[4])
{
    const struct rvm_model *m = s->model;
    rvmi_view x;
    NEW_VIEW(x, src_sm->h, src_sm->w, 3);
    run_views(s, x.h, (views_job){.loop = IMAGENET_NORMALIZE, .a = src_sm, .b = &x});
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
        size_t mark = rvmi_arena_mark(&s->scratch);
        /* Blocks without SE in row bands (with SE, the gate needs the whole depthwise output
         * first, and banding their expansion measured no faster: their expanded tensors are
         * at most 2.4 MB at 1080p, and their bands of one row of 30 or 60 pixels too short).
         * In int8 mode, those whose 1x1 layers are all fp32 (blocks 0-2 by default): an int8
         * layer runs on its own (its activation range is the whole tensor's). */
        int q8 = s->q8 && ((b->has_expand && rvmi_q8_claims(s->q8, &b->expand)) ||
                           rvmi_q8_claims(s->q8, &b->project));
        if (!b->has_se && !q8 && !s->unbanded) {
            int st = banded_block(s, b, &x, &y);
            if (st)
                return st;
        } else {
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
            rvmi_run_conv(s, &b->project, &d, &y, b->residual ? &x : NULL);
        }
        rvmi_arena_release(&s->scratch, mark);
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
        size_t mark = rvmi_arena_mark(&s->scratch);
        CONV(t1, &b->conv1, x, NULL);
        CONV(t2, &b->conv2, t1, NULL);
        if (b->has_downsample)
            CONV(id, &b->downsample, x, NULL);
        rvmi_run_conv(s, &b->conv3, &t2, &y, &id);
        rvmi_arena_release(&s->scratch, mark);
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

/* ConvGRU on the second half of x's channels, in place; the state advances. */
static int gru(rvm_stream *s, int k, const rvmi_view *x)
{
    const rvmi_gru *g = &s->model->gru[k];
    const int ch = g->channels;
    rvmi_view b = channels(*x, ch, ch);
    rvmi_view state = {.data = s->state[k], .h = x->h, .w = x->w, .c = ch, .stride = ch};
    rvmi_view rz, rh, c;
    size_t mark = rvmi_arena_mark(&s->scratch);
    rvmi_inputs xh = {2, {b, state}};
    NEW_VIEW(rz, x->h, x->w, 2 * ch);
    rvmi_run_conv_cat(s, &g->ih, &xh, &rz, NULL);
    NEW_VIEW(rh, x->h, x->w, ch);
    /* rh = r * h, with r the first half of rz's channels */
    run_views(s, x->h, (views_job){.loop = MULTIPLY, .a = &rz, .b = &state, .c = &rh});
    rvmi_inputs xrh = {2, {b, rh}};
    NEW_VIEW(c, x->h, x->w, ch);
    rvmi_run_conv_cat(s, &g->hh, &xrh, &c, NULL);
    run_views(s, x->h, (views_job){.loop = GRU_UPDATE, .a = &rz, .b = &c, .c = &state, .d = &b});
    rvmi_arena_release(&s->scratch, mark);
    return 0;
}

/* A decoder stage's 3x3 convolution on [upsample(x) cropped to the other inputs' size, the
 * other inputs], without the upsampled tensor ever being whole: each task upsamples the rows
 * its output tile rows read (one above and one below its own) into a buffer of its thread's
 * that stays in L2, and convolves them there. Whole, the upsampled x (5 MB at 240x135, 4.7 MB
 * in each of the last stage's bands at 1080p, ratio 0.25) was written to memory and read back.
 * The buffer's view starts 4 rows above the band's first output row (3 of them never touched),
 * so Winograd's 4x4 tiles fall where they fall over the whole picture; the upsampled rows are
 * the resize kernel's, row by row, so the result is bit-identical to the stage run in steps.
 * A task's next band keeps the two rows the two share (moved to the buffer's start). */
#define UPCONV_BYTES (384 * 1024) /* the upsampled rows a band touches, at most */

typedef struct {
    rvm_stream *s;
    const rvmi_conv *cv;
    const rvmi_view *x;    /* the low-resolution input, whole */
    const rvmi_inputs *rest; /* the other inputs, rows counted as out's */
    const rvmi_view *out;  /* its row 0 is row `first` of the upsampled picture */
    const rvmi_lerp *lx;
    int first, y0, y1;     /* out's rows [y0, y1) are computed (y0 a multiple of 4) */
    int tile_rows;         /* output tile rows per band */
    float *buf;            /* per thread: the band's rows, then Winograd's scratch */
    size_t band_floats, per_thread;
} upconv_job;

static void upconv_rows(void *ctx, int t0, int t1, int thread)
{
    upconv_job *j = ctx;
    const rvmi_kernels *k = j->s->kernels;
    const rvmi_view *out = j->out;
    const int h = out->h, w = out->w, c = j->x->c;
    const size_t row = (size_t)w * c;
    float *ubuf = j->buf + (size_t)thread * j->per_thread, *wscratch = ubuf + j->band_floats;
    int have0 = 0, have1 = 0, have_r0 = 0; /* rows [have0, have1) of out's in ubuf, from have_r0 */
    for (int t = t0; t < t1; t += j->tile_rows) {
        const int te = t + j->tile_rows < t1 ? t + j->tile_rows : t1;
        const int oy0 = j->y0 + 4 * t, oy1 = j->y0 + 4 * te < j->y1 ? j->y0 + 4 * te : j->y1;
        const int r0 = oy0 - 4 > 0 ? oy0 - 4 : 0; /* the band's first row, a tile row's */
        const int lo = oy0 - 1 > 0 ? oy0 - 1 : 0, hi = oy1 + 1 < h ? oy1 + 1 : h;
        int from = lo;
        if (have0 <= lo && lo < have1) { /* rows the band before made */
            memmove(ubuf + (size_t)(lo - r0) * row, ubuf + (size_t)(lo - have_r0) * row,
                    sizeof(float) * (size_t)(have1 - lo) * row);
            from = have1;
        }
        rvmi_view up = {ubuf, hi - r0, w, c, c};
        if (from < hi) {
            rvmi_view part = rows_of(up, from - r0, hi - from);
            k->loops->resize(j->x, &part, 0.5f, j->lx, j->first + from, j->first + from,
                             j->first + hi);
        }
        have0 = lo, have1 = hi, have_r0 = r0;
        rvmi_inputs in = {0};
        in.v[in.n++] = up;
        for (int g = 0; g < j->rest->n; g++)
            in.v[in.n++] = rows_of(j->rest->v[g], r0, hi - r0);
        rvmi_view o = rows_of(*out, r0, hi - r0);
        if (k->conv_winograd && j->cv->winograd)
            k->conv_winograd(j->cv, &in, &o, NULL, (oy0 - r0) / 4, (oy1 - r0 + 3) / 4,
                             j->s->zeros, wscratch);
        else
            k->conv_dense(j->cv, &in, &o, NULL, oy0 - r0, oy1 - r0, j->s->zeros);
    }
}

/* Rows [y0, y1) of out = cv([upsample(x), rest]) (y0 a multiple of 4, y1 one too or out->h;
 * out's row 0 is row `first` of the picture, a multiple of 4; the inputs hold a row past y1
 * unless y1 is the picture's last), on the stream's threads. */
static int upsample_conv(rvm_stream *s, const rvmi_conv *cv, const rvmi_view *x,
                         const rvmi_inputs *rest, const rvmi_view *out, int first, int y0,
                         int y1)
{
    /* what the callers guarantee (rvmi_run_conv_rows checks the same, which the banded path
     * does not go through) */
    assert(y0 % 4 == 0 && first % 4 == 0 && (y1 % 4 == 0 || y1 == out->h) && y1 <= out->h);
    assert(rest->n >= 1 && rest->n < RVM_MAX_INPUTS && out->c == cv->cout);
    int cin = x->c;
    for (int g = 0; g < rest->n; g++) {
        assert(rest->v[g].h == out->h && rest->v[g].w == out->w);
        cin += rest->v[g].c;
    }
    assert(cin == cv->cin && cv->kh == 3 && cv->kw == 3 && cv->stride == 1 && cv->dilation == 1);
    (void)cin;
    if (y0 >= y1)
        return 0;
    size_t mark = rvmi_arena_mark(&s->scratch);
    if (s->unbanded) { /* layer by layer: the upsampled rows, whole, then the convolution */
        rvmi_view up;
        NEW_VIEW(up, out->h, out->w, x->c);
        int st = resize_band(s, x, &up, 0.5f, 0.5f, first);
        if (st)
            return st;
        rvmi_inputs cat = {1, {up}};
        for (int g = 0; g < rest->n; g++)
            cat.v[cat.n++] = rest->v[g];
        rvmi_run_conv_rows(s, cv, &cat, out, NULL, y0, y1);
        rvmi_arena_release(&s->scratch, mark);
        return 0;
    }
    const size_t row = (size_t)out->w * x->c;
    int tile_rows = ((int)(UPCONV_BYTES / (row * sizeof(float))) - 2) / 4;
    tile_rows = tile_rows < 1 ? 1 : tile_rows;
    size_t band_floats = (size_t)(4 * tile_rows + 5) * row;
    band_floats = (band_floats + 15) / 16 * 16;
    size_t per_thread = band_floats + rvmi_winograd_scratch(cv->cin, cv->cout);
    per_thread = (per_thread + 15) / 16 * 16;
    float *buf = rvmi_arena_floats(&s->scratch, per_thread * rvmi_pool_threads(s->pool));
    const rvmi_lerp *lx = buf ? rvmi_lerp_table(s, 0.5f, out->w, x->w) : NULL;
    if (!lx)
        return rvmi_stream_fail(s, RVM_ENOMEM, "out of memory");
    upconv_job j = {s, cv, x, rest, out, lx, first, y0, y1, tile_rows, buf, band_floats,
                    per_thread};
    int trows = (y1 - y0 + 3) / 4, threads = rvmi_pool_threads(s->pool);
    int tasks = threads == 1 ? 1 : 4 * threads;
    tasks = tasks > trows ? trows : tasks;
    rvmi_parallel_bands(s, trows, (trows + tasks - 1) / tasks, upconv_rows, &j);
    rvmi_arena_release(&s->scratch, mark);
    return 0;
}

/* The last stage's conv1 (Winograd) on a band's tile rows and the projection of the x0 rows
 * each task writes, in the same task: one parallel step a band instead of two, and the
 * projection reads rows the task has just written (in its core's cache) rather than the band's
 * 2 MB back from L3. The same floats as the two steps apart: the Winograd tiles and each
 * pixel's projection sums do not depend on how rows are split. */
typedef struct {
    rvm_stream *s;
    const rvmi_conv *cv, *project;
    const rvmi_inputs *in;
    const rvmi_view *out, *proj; /* rows of x0 and of the projection, from one row on */
    int y0, y1;                  /* out's rows computed (y0 a multiple of 4) */
    float *scratch;              /* Winograd's, per thread */
    size_t scratch_floats;
} last_job;

static void last_rows(void *ctx, int t0, int t1, int thread)
{
    const last_job *j = ctx;
    const rvmi_kernels *k = j->s->kernels;
    const int ty0 = j->y0 / 4 + t0, ty1 = j->y0 / 4 + t1;
    k->conv_winograd(j->cv, j->in, j->out, NULL, ty0, ty1, j->s->zeros,
                     j->scratch + (size_t)thread * j->scratch_floats);
    if (j->project) {
        const int r1 = 4 * ty1 < j->y1 ? 4 * ty1 : j->y1;
        rvmi_inputs x = rvmi_inputs_of(j->out);
        k->conv_dense(j->project, &x, j->proj, NULL, 4 * ty0, r1, j->s->zeros);
    }
}

/* Rows [y0, y1) of out = cv(in) and, unless project is NULL, of proj = project(out), as
 * last_rows does; 0 (nothing done) where cv has no Winograd form or there is no memory for
 * its scratch: the caller runs the two apart. */
static int last_conv(rvm_stream *s, const rvmi_conv *cv, const rvmi_inputs *in,
                     const rvmi_view *out, const rvmi_conv *project, const rvmi_view *proj, int y0,
                     int y1)
{
    if (!s->kernels->conv_winograd || !cv->winograd || y0 >= y1)
        return 0;
    assert(y0 % 4 == 0 && cv->kh == 3 && cv->kw == 3 && cv->stride == 1 && cv->dilation == 1);
    assert(!project || (project->kh == 1 && project->kw == 1 && project->stride == 1 &&
                        !project->depthwise && proj->h == out->h && proj->w == out->w));
    const size_t n = rvmi_winograd_scratch(cv->cin, cv->cout), mark = rvmi_arena_mark(&s->scratch);
    float *scratch = rvmi_arena_floats(&s->scratch, n * rvmi_pool_threads(s->pool));
    if (!scratch)
        return 0;
    last_job j = {s, cv, project, in, out, proj, y0, y1, scratch, n};
    rvmi_parallel_rows(s, (y1 + 3) / 4 - y0 / 4, last_rows, &j);
    rvmi_arena_release(&s->scratch, mark);
    return 1;
}

/* The decoder's last stage at the internal size: x0 = conv1(conv0([upsample(x), s0])), both
 * 3x3. Run in bands of FULL_BAND rows, so the upsampled x (32 channels: 18 MB at 512x288) and
 * conv0's output (9 MB) are never held whole. conv1 needs conv0's rows FULL_HALO either side
 * of its band (it needs one): the first FULL_HALO of them, and the FULL_HALO below the last
 * band's rows, were computed for the band before and carried over, so every row of conv0 is
 * computed once (the halos cost conv0 24% more rows when each band computed all of its own,
 * 12% when it computed them from one halo of input). conv0 runs on s0's rows from FULL_HALO
 * above its first new row (upsample_conv: the upsampled x is made a few rows at a time beside
 * them), conv1 writes its band straight into x0. Bands and halos
 * are multiples of 4 rows, so Winograd's 4x4 tiles fall where they fall over the whole
 * picture and x0 is bit-identical to the unbanded computation. */
#define FULL_BAND 64
#define FULL_HALO 4
static int decode_full(rvm_stream *s, const rvmi_view *x, const rvmi_view *s0,
                       const rvmi_view *x0, const rvmi_conv *project, const rvmi_view *proj)
{
    const struct rvm_model *m = s->model;
    /* conv0's rows [ya, yb) of the band; its rows [ya, carried_end) came from the band before */
    size_t y_mark = rvmi_arena_mark(&s->scratch);
    rvmi_view y;
    NEW_VIEW(y, FULL_BAND + 3 * FULL_HALO, s0->w, m->out_conv[0].cout);
    int carried_end = 0, st;
    for (int a = 0; a < s0->h; a += FULL_BAND) {
        int b = a + FULL_BAND < s0->h ? a + FULL_BAND : s0->h;
        int ya = a - FULL_HALO > 0 ? a - FULL_HALO : 0;
        int yb = b + FULL_HALO < s0->h ? b + FULL_HALO : s0->h;
        if (a > 0) { /* the rows [ya, carried_end) sit at the end of the band before */
            size_t row = (size_t)y.w * y.stride;
            int prev_ya = a - FULL_BAND - FULL_HALO > 0 ? a - FULL_BAND - FULL_HALO : 0;
            memmove(y.data, y.data + (size_t)(ya - prev_ya) * row,
                    (size_t)(carried_end - ya) * row * sizeof(float));
        }
        /* conv0's new rows [carried_end, yb) from the upsampled rows [ua, ub). When the band
         * before reached the picture's end (its halo covered a last band of 1 to 3 rows:
         * heights of 64k + 1..3) there are none, and ua, s0->h - FULL_HALO, need not be a
         * multiple of 4, which upsample_conv asserts. */
        if (carried_end < yb) {
            int ua = carried_end - FULL_HALO > 0 ? carried_end - FULL_HALO : 0;
            int ub = yb + FULL_HALO < s0->h ? yb + FULL_HALO : s0->h;
            rvmi_inputs img = {1, {rows_of(*s0, ua, ub - ua)}};
            rvmi_view y_up = rows_of(y, ua - ya, ub - ua); /* y's rows beside s0's */
            if ((st = upsample_conv(s, &m->out_conv[0], x, &img, &y_up, ua, carried_end - ua,
                                    yb - ua)))
                return st;
            carried_end = yb;
        }
        /* conv1 over conv0's rows [ya, yb), its rows [a, b) straight into x0 */
        rvmi_view yr = rows_of(y, 0, yb - ya), out = rows_of(*x0, ya, yb - ya);
        rvmi_inputs one = rvmi_inputs_of(&yr);
        rvmi_view pr = project ? rows_of(*proj, ya, yb - ya) : out;
        if (!last_conv(s, &m->out_conv[1], &one, &out, project, &pr, a - ya, b - ya)) {
            rvmi_run_conv_rows(s, &m->out_conv[1], &one, &out, NULL, a - ya, b - ya);
            if (project) { /* x0's new rows, still in cache (network.h) */
                rvmi_view xr = rows_of(*x0, a, b - a), pb = rows_of(*proj, a, b - a);
                rvmi_run_conv(s, project, &xr, &pb, NULL);
            }
        }
    }
    rvmi_arena_release(&s->scratch, y_mark);
    return 0;
}

/* Unless the stream keeps every layer (s->keep_layers), the tensors the rest of the frame
 * no longer reads are dropped before the last two stages, the largest (at 1/2 and the full
 * internal size), and what they read moves down to mark (just after src_sm): the scratch
 * memory's peak is then the refiner's (src_sm, x1, x0, its projection and the refiner's own
 * scratch), not all of the frame's layers at once: 44.7 -> 24.9 MB at 512x288 (the internal
 * size of 1080p and 4K frames by default). Moving the ~6 MB kept costs well under 1 ms. Only
 * addresses change: the values, and the outputs, are bit-identical either way. */
static int drop_dead(rvm_stream *s, size_t mark, rvmi_view *const *live, int n)
{
    if (s->keep_layers)
        return 0;
    return rvmi_arena_keep(&s->scratch, mark, live, n)
               ? rvmi_stream_fail(s, RVM_ENOMEM, "out of memory")
               : 0;
}

static int decoder(rvm_stream *s, size_t mark, const rvmi_view *s0, const rvmi_view f[4],
                   const rvmi_conv *project, rvmi_view *x0, rvmi_view *proj)
{
    const struct rvm_model *m = s->model;
    rvmi_view f0 = f[0];
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
        if (k == 0) { /* it reads f0, s1 and x1 alone (and s0, below the mark) */
            rvmi_view *live[] = {&f0, &pyr[1], &x};
            if ((st = drop_dead(s, mark, live, 3)))
                return st;
        }
        rvmi_view y;
        NEW_VIEW(y, pyr[k + 1].h, pyr[k + 1].w, m->up_conv[k].cout);
        rvmi_inputs rest = {2, {k ? f[k] : f0, pyr[k + 1]}};
        if ((st = upsample_conv(s, &m->up_conv[k], &x, &rest, &y, 0, 0, y.h)))
            return st;
        if ((st = gru(s, k, &y)))
            return st;
        x = y;
        s->layers.x[k] = x;
    }
    rvmi_view *live[] = {&x}; /* the last stage reads x and s0 alone */
    if ((st = drop_dead(s, mark, live, 1)))
        return st;
    s->layers.x[0] = x;
    NEW_VIEW(*x0, s0->h, s0->w, m->out_conv[1].cout);
    /* a projection the int8 state claims runs on the whole of x0, after (network.h) */
    proj->data = NULL;
    if (project && s->q8 && rvmi_q8_claims(s->q8, project))
        project = NULL;
    if (project)
        NEW_CONV_OUT(*proj, project, *x0);
    return decode_full(s, &x, s0, x0, project, proj);
}

/* ---- one frame ---- */

int rvmi_network_forward(rvm_stream *s, const rvm_frame *f, const rvmi_conv *project,
                         rvmi_view *x0, rvmi_view *src_sm, rvmi_view *proj)
{
    int st;
    if ((st = downsample_input(s, f, src_sm)))
        return st;
    s->layers.src_sm = *src_sm;
    size_t mark = rvmi_arena_mark(&s->scratch); /* what is above may be dropped (decoder) */
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
    if ((st = decoder(s, mark, src_sm, feats, project, x0, proj)))
        return st;
    if (!s->keep_layers) { /* dropped */
        memset(s->layers.f, 0, sizeof s->layers.f);
        memset(&s->layers.aspp, 0, sizeof s->layers.aspp);
        memset(&s->layers.x[1], 0, 3 * sizeof s->layers.x[1]);
    }
    s->layers.x0 = *x0;
    for (int k = 0; k < 4; k++)
        s->layers.r[k] = (rvmi_view){s->state[k], s->state_h[k], s->state_w[k],
                                    s->model->gru[k].channels, s->model->gru[k].channels};
    return 0;
}
