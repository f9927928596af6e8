/* The guided-filter refiners (deep and fast) and the full-resolution output: per
 * low-resolution pixel, coefficients A and b such that out = A * x + b, upsampled to the
 * frame's size and applied there in one fused pass with the conversion to the output type.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <string.h>

#include "kernels/threadpool.h"
#include "model/network.h"
#include "model/pixels.h"
#include "model/scratch.h"

/* ---- refiners: per low-resolution pixel, out = A * x + b (8 channels: A[4], b[4]) ---- */

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

static void refine_rows(void *ctx, int y0, int y1, int thread)
{
    refine_job *j = ctx;
    const struct rvm_model *m = j->s->model;
    const rvmi_kernels *k = j->s->kernels;
    const rvmi_loops *loop = k->loops;
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
    loop->guide(&src, &proj, &xy, 0, bh); /* [x, y, x*y, x*x] */
    rvmi_view box_rows = rows_of(box, l0, n), ab = rows_of(*j->ab, y0, n);
    rvmi_view a = channels(ab, 0, 4);
    if (m->refiner == RVM_REFINER_DEEP_GUIDED_FILTER) {
        k->conv_depthwise(&m->dgf_box, &xy, &box, NULL, l0, l0 + n);
        loop->cov_var(&box_rows, &cov_var, 0, n);
        rvmi_inputs cat = {2, {cov_var, rows_of(*j->hid, y0, n)}}; /* [cov, var, hid] */
        rvmi_inputs in1 = rvmi_inputs_of(&h1), in2 = rvmi_inputs_of(&h2);
        k->conv_dense(&m->dgf_conv[0], &cat, &h1, NULL, 0, n, j->s->zeros);
        k->conv_dense(&m->dgf_conv[1], &in1, &h2, NULL, 0, n, j->s->zeros);
        k->conv_dense(&m->dgf_conv[2], &in2, &a, NULL, 0, n, j->s->zeros);
    } else {
        loop->box_horizontal(&xy, &t, 0, bh);
        loop->box_vertical(&t, &box, l0, l0 + n);
        loop->fast_a(&box_rows, &a, 0, n);
    }
    loop->offset(&box_rows, &ab, 0, n);
}

static int refine_coefficients(rvm_stream *s, const rvmi_view *src_sm, const rvmi_view *proj,
                               const rvmi_view *hid, rvmi_view *ab)
{
    NEW_VIEW(*ab, src_sm->h, src_sm->w, 8);
    size_t per_thread = refine_scratch(src_sm->w), mark = rvmi_arena_mark(&s->scratch);
    float *scratch = rvmi_arena_floats(&s->scratch, per_thread * rvmi_pool_threads(s->pool));
    if (!scratch)
        return rvmi_stream_fail(s, RVM_ENOMEM, "out of memory");
    refine_job j = {s, src_sm, proj, hid, ab, scratch, per_thread};
    rvmi_parallel_bands(s, src_sm->h, REFINE_BAND, refine_rows, &j);
    rvmi_arena_release(&s->scratch, mark);
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
    const rvm_frame *f;
    const rvmi_view *ab;
    const rvm_output *out;
    float sy;
    const rvmi_lerp *lx;
    size_t plane;  /* floats between planes of an upsampled row */
    row_cache *cache; /* per thread */
    float *tmp;       /* per thread, 4 * width */
    float *x;         /* per thread, 3 * width: the input row as float planes */
    int first;        /* the frame row that out's first row holds */
    rvmi_float_range *range; /* per thread, for planar float frames; NULL for others */
    int packed; /* RGB24 in, 8-bit packed RGB out: blend_rgb24 */
} tail_job;

static const float *cached_row(const tail_job *j, row_cache *c, int low_row, int keep)
{
    for (int k = 0; k < 2; k++)
        if (c->row[k] == low_row)
            return c->planes[k];
    int k = c->row[0] == keep ? 1 : 0; /* replace the slot the caller does not need */
    /* the horizontal pass first, as PyTorch's separable bilinear does */
    j->s->kernels->loops->upsample_row(pixel(j->ab, low_row, 0), j->lx, j->f->width, c->planes[k],
                                       j->plane);
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
    for (int rel = y0; rel < y1; rel++) {
        int y = j->first + rel;
        rvmi_lerp ly = rvmi_lerp_at(j->sy, y, j->ab->h);
        const float *h0 = cached_row(j, cache, ly.i0, ly.i1);
        const float *h1 = cached_row(j, cache, ly.i1, ly.i0);
        rvmi_blend_out row = {out->type, out->fgr_layout,
                              out->pha ? (char *)out->pha + rel * out->pha_stride : NULL,
                              out->fgr ? (char *)out->fgr + rel * out->fgr_stride : NULL,
                              out->fgr_plane_stride};
        if (j->packed) { /* 8-bit RGB in and out: each pixel read and written once */
            const uint8_t *rgb = (const uint8_t *)j->f->planes[0] + (ptrdiff_t)y * j->f->strides[0];
            j->s->kernels->blend_rgb24(h0, h1, j->plane, ly.l0, ly.l1, rgb, j->f->width, &row);
            continue;
        }
        const float *x[3];
        rvmi_frame_row(j->s->kernels, j->f, y, xbuf, x);
        j->s->kernels->blend_row(h0, h1, j->plane, ly.l0, ly.l1, x, j->f->width, &row, tmp);
        /* After the blend, which brought the row into cache: checked first, the check took
         * the row's cache misses with nothing to overlap them (0.9 ms more CPU time a 1080p
         * frame). The range is read by Python's model(src) alone, whose outputs are new
         * arrays: the blend never overwrites the input's rows there. */
        if (j->range)
            for (int p = 0; p < 3; p++)
                j->s->kernels->float_range(x[p], j->f->width, &j->range[thread]);
    }
}

/* Rows [first, first + count) of the full-resolution output, into out (whose first rows
 * they become). */
static int full_resolution(rvm_stream *s, const rvm_frame *f, const rvmi_view *ab,
                           const rvm_output *out, int first, int count)
{
    size_t mark = rvmi_arena_mark(&s->scratch);
    int threads = rvmi_pool_threads(s->pool);
    size_t plane = ((size_t)f->width + 15) / 16 * 16;
    /* F.interpolate by size: the coordinate step is in/out */
    const rvmi_lerp *lx = rvmi_lerp_table(s, (float)ab->w / (float)f->width, f->width, ab->w);
    row_cache *cache = (row_cache *)rvmi_arena_floats(
        &s->scratch, threads * sizeof(row_cache) / sizeof(float) + 1);
    float *rows = rvmi_arena_floats(&s->scratch, (size_t)threads * 2 * 8 * plane);
    float *tmp = rvmi_arena_floats(&s->scratch, (size_t)threads * 4 * f->width);
    float *x = rvmi_arena_floats(&s->scratch, (size_t)threads * 3 * f->width);
    rvmi_float_range *range = NULL;
    if (f->format == RVM_FORMAT_F32_PLANAR)
        range = (rvmi_float_range *)rvmi_arena_floats(
            &s->scratch, threads * sizeof(rvmi_float_range) / sizeof(float) + 1);
    if (!lx || !cache || !rows || !tmp || !x || (f->format == RVM_FORMAT_F32_PLANAR && !range))
        return rvmi_stream_fail(s, RVM_ENOMEM, "out of memory");
    for (int t = 0; range && t < threads; t++)
        range[t] = s->input_range;
    for (int t = 0; t < threads; t++)
        for (int k = 0; k < 2; k++) {
            cache[t].row[k] = -1;
            cache[t].planes[k] = rows + ((size_t)t * 2 + k) * 8 * plane;
        }
    tail_job j = {s, f, ab, out, (float)ab->h / (float)f->height, lx, plane, cache, tmp, x,
                  first, range,
                  f->format == RVM_FORMAT_RGB24 && out->type == RVM_PIXEL_U8 &&
                      out->fgr_layout == RVM_FGR_RGB};
    rvmi_parallel_rows(s, count, tail_rows, &j);
    for (int t = 0; range && t < threads; t++) {
        rvmi_float_range *r = &s->input_range;
        r->lo = range[t].lo < r->lo ? range[t].lo : r->lo;
        r->hi = range[t].hi > r->hi ? range[t].hi : r->hi;
        r->nonfinite |= range[t].nonfinite;
    }
    rvmi_arena_release(&s->scratch, mark);
    return 0;
}

int rvmi_refine_coefficients(rvm_stream *s, const rvmi_view *src_sm, const rvmi_view *x0,
                             const rvmi_view *proj, rvmi_view *out_ab)
{
    rvmi_view ab;
    if (s->ratio != 1.0) {
        int st = refine_coefficients(s, src_sm, proj, x0, &ab);
        if (st)
            return st;
    } else {
        /* no refiner: A = 0, b = the projection, at the frame's own size */
        NEW_VIEW(ab, proj->h, proj->w, 8);
        for (size_t i = 0; i < (size_t)proj->h * proj->w; i++) {
            memset(ab.data + 8 * i, 0, 4 * sizeof(float));
            memcpy(ab.data + 8 * i + 4, proj->data + 4 * i, 4 * sizeof(float));
        }
    }
    *out_ab = ab;
    return 0;
}

int rvmi_refine_rows(rvm_stream *s, const rvm_frame *f, const rvmi_view *ab,
                     const rvm_output *out, int first, int count)
{
    return full_resolution(s, f, ab, out, first, count);
}
