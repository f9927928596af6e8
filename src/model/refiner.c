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
        if (!k->dgf_mlp || !k->dgf_mlp(m->dgf_conv, &cat, &a, 0, n, j->s->zeros)) {
            rvmi_inputs in1 = rvmi_inputs_of(&h1), in2 = rvmi_inputs_of(&h2);
            k->conv_dense(&m->dgf_conv[0], &cat, &h1, NULL, 0, n, j->s->zeros);
            k->conv_dense(&m->dgf_conv[1], &in1, &h2, NULL, 0, n, j->s->zeros);
            k->conv_dense(&m->dgf_conv[2], &in2, &a, NULL, 0, n, j->s->zeros);
        }
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

/* Each thread keeps the coefficient rows it last upsampled horizontally: consecutive output
 * rows mostly share them (1/ratio output rows per low-resolution row). Two slots for a row at
 * a time; four for a pair of rows (yuv_pairs), which may need three low-resolution rows. */
#define CACHE_SLOTS 4
typedef struct {
    int row[CACHE_SLOTS]; /* low-resolution row held in slot k, or -1 */
    float *planes[CACHE_SLOTS];
    int slots;            /* in use: 2, or 4 for pairs of rows */
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
    const rvmi_yuv420_out *yuv; /* yuv_pairs' outputs */
} tail_job;

/* need: the nneed low-resolution rows the caller wants at once (low_row among them), none of
 * which is replaced. */
static const float *cached_row(const tail_job *j, row_cache *c, int low_row, const int *need,
                               int nneed)
{
    for (int k = 0; k < c->slots; k++)
        if (c->row[k] == low_row)
            return c->planes[k];
    int k = 0; /* the first slot the caller does not need */
    for (; k < c->slots - 1; k++) {
        int needed = 0;
        for (int i = 0; i < nneed; i++)
            needed |= c->row[k] == need[i];
        if (!needed)
            break;
    }
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
        const int need[2] = {ly.i0, ly.i1};
        const float *h0 = cached_row(j, cache, ly.i0, need, 2);
        const float *h1 = cached_row(j, cache, ly.i1, need, 2);
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

/* The command's composition and matte into 8-bit 4:2:0 (rvmi_yuv420_out) a pair of rows at a
 * time. With the kernel set's blend_yuv420 (I420 frames) each 16 pixels go from the frame's
 * samples to the pictures' in registers; through the band route they went through float
 * planes (12 bytes a pixel), 16-bit results (8) and the composition's packed RGB (3), each
 * written and read again, and the last steps ran on the network's thread alone. Elsewhere (the
 * last width % 16 pixels, other formats, sets without it) the same kernels the band route
 * runs, on strips of pixels: the same bytes either way (tests/test_yuv420.c). A strip is a
 * multiple of 16 pixels, so each kernel's vector loop and tail cover the same pixels as on a
 * whole row. (Strips alone, without blend_yuv420, were no faster than the band route: the
 * same kernels, interleaved, each ran slower.) */
#define STRIP 256

static void yuv_pairs(void *ctx, int p0, int p1, int thread)
{
    tail_job *j = ctx;
    const rvmi_yuv420_out *o = j->yuv;
    const rvmi_kernels *k = j->s->kernels;
    const rvmi_frame_loops *fl = k->frames;
    const rvm_frame *f = j->f;
    const int w = f->width, h = f->height;
    row_cache *cache = &j->cache[thread];
    float *xbuf = j->x + (size_t)thread * 3 * w, *tmp = j->tmp + (size_t)thread * 4 * w;
    _Alignas(64) uint16_t fgr[2][3 * STRIP];
    _Alignas(64) uint16_t pha[2][STRIP];
    _Alignas(64) uint8_t rgb[2][3 * STRIP];
    _Alignas(64) uint8_t a8[STRIP];
    _Alignas(64) uint8_t block[3 * STRIP];
    for (int i = 0; !o->bg && i < STRIP; i++)
        memcpy(block + 3 * i, o->colour, 3);
    /* the pixels blend_yuv420 takes: whole vectors of 16 */
    const int fast = fl->blend_yuv420 && f->format == RVM_FORMAT_I420 && o->com[0] ? w / 16 * 16 : 0;
    rvmi_yuv_coeffs yc;
    if (fast)
        yc = rvmi_frame_coefficients(f);
    for (int p = p0; p < p1; p++) {
        const int rows = 2 * p + 1 < h ? 2 : 1, ys[2] = {2 * p, 2 * p + 1};
        rvmi_lerp ly[2];
        for (int r = 0; r < rows; r++)
            ly[r] = rvmi_lerp_at(j->sy, ys[r], j->ab->h);
        const int need[4] = {ly[0].i0, ly[0].i1, ly[rows - 1].i0, ly[rows - 1].i1};
        const float *h0[2], *h1[2];
        for (int r = 0; r < rows; r++) {
            h0[r] = cached_row(j, cache, ly[r].i0, need, 4);
            h1[r] = cached_row(j, cache, ly[r].i1, need, 4);
        }
        if (fast) {
            rvmi_yuv420_pair q = {.plane = j->plane, .c = &yc, .rows = rows,
                                  .u = (const uint8_t *)f->planes[1] + p * f->strides[1],
                                  .v = (const uint8_t *)f->planes[2] + p * f->strides[2],
                                  .ou = o->com[1] + p * o->com_stride[1],
                                  .ov = o->com[2] + p * o->com_stride[2]};
            memcpy(q.colour, o->colour, 3);
            for (int r = 0; r < 2; r++) {
                int y = ys[r < rows ? r : 0];
                q.h0[r] = h0[r < rows ? r : 0], q.h1[r] = h1[r < rows ? r : 0];
                q.l0[r] = ly[r < rows ? r : 0].l0, q.l1[r] = ly[r < rows ? r : 0].l1;
                q.y[r] = (const uint8_t *)f->planes[0] + y * f->strides[0];
                q.bg[r] = o->bg ? o->bg + y * o->bg_stride : NULL;
                q.oy[r] = o->com[0] + ys[r] * o->com_stride[0];
                q.matte[r] = o->matte && r < rows ? o->matte + y * o->matte_stride : NULL;
            }
            fl->blend_yuv420(&q, 0, fast);
        }
        for (int x0 = fast; x0 < w; x0 += STRIP) {
            const int n = w - x0 < STRIP ? w - x0 : STRIP;
            for (int r = 0; r < rows; r++) {
                const float *x[3];
                rvmi_frame_row_part(k, f, ys[r], x0, n, xbuf, x);
                rvmi_blend_out bo = {RVM_PIXEL_U16, RVM_FGR_RGB, pha[r],
                                     o->com[0] ? fgr[r] : NULL, 0};
                k->blend_row(h0[r] + x0, h1[r] + x0, j->plane, ly[r].l0, ly[r].l1, x, n, &bo,
                             tmp);
                if (o->matte) {
                    fl->u16_to_u8(pha[r], (size_t)n, a8);
                    fl->gray_to_luma(a8, (size_t)n, o->matte + ys[r] * o->matte_stride + x0);
                }
                if (o->com[0])
                    fl->over8(fgr[r], pha[r],
                              o->bg ? o->bg + ys[r] * o->bg_stride + 3 * (ptrdiff_t)x0 : block,
                              (size_t)n, rgb[r]);
            }
            if (o->com[0]) {
                /* an odd height's last row: its luma also into the row below (the padding
                 * row of the writer's picture), as the writer's own conversion does */
                uint8_t *y0 = o->com[0] + ys[0] * o->com_stride[0] + x0;
                fl->rgb24_to_yuv420(rgb[0], rgb[rows - 1], n, y0, y0 + o->com_stride[0],
                                    o->com[1] + p * o->com_stride[1] + x0 / 2,
                                    o->com[2] + p * o->com_stride[2] + x0 / 2);
            }
        }
    }
}

int rvmi_yuv420_direct(const rvm_stream *s, const rvm_frame *f)
{
    return s->kernels->frames->blend_yuv420 && f->format == RVM_FORMAT_I420;
}

/* Rows [first, first + count) of the full-resolution output, into out (whose first rows
 * they become); or, with yuv (out NULL), the whole frame into yuv's pictures. */
static int full_resolution(rvm_stream *s, const rvm_frame *f, const rvmi_view *ab,
                           const rvm_output *out, const rvmi_yuv420_out *yuv, int first,
                           int count)
{
    const int slots = yuv ? 4 : 2;
    size_t mark = rvmi_arena_mark(&s->scratch);
    int threads = rvmi_pool_threads(s->pool);
    size_t plane = ((size_t)f->width + 15) / 16 * 16;
    /* F.interpolate by size: the coordinate step is in/out */
    const rvmi_lerp *lx = rvmi_lerp_table(s, (float)ab->w / (float)f->width, f->width, ab->w);
    row_cache *cache = (row_cache *)rvmi_arena_floats(
        &s->scratch, threads * sizeof(row_cache) / sizeof(float) + 1);
    float *rows = rvmi_arena_floats(&s->scratch, (size_t)threads * slots * 8 * plane);
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
    for (int t = 0; t < threads; t++) {
        cache[t].slots = slots;
        for (int k = 0; k < slots; k++) {
            cache[t].row[k] = -1;
            cache[t].planes[k] = rows + ((size_t)t * slots + k) * 8 * plane;
        }
    }
    tail_job j = {s, f, ab, out, (float)ab->h / (float)f->height, lx, plane, cache, tmp, x,
                  first, range,
                  out && f->format == RVM_FORMAT_RGB24 && out->type == RVM_PIXEL_U8 &&
                      out->fgr_layout == RVM_FGR_RGB,
                  yuv};
    if (yuv)
        rvmi_parallel_rows(s, (f->height + 1) / 2, yuv_pairs, &j);
    else
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
    return full_resolution(s, f, ab, out, NULL, first, count);
}

int rvmi_refine_yuv420(rvm_stream *s, const rvm_frame *f, const rvmi_view *ab,
                       const rvmi_yuv420_out *out)
{
    return full_resolution(s, f, ab, NULL, out, 0, f->height);
}
