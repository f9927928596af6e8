/* What the forward pass is built from: the stream's scratch memory (a stack reset every
 * frame), views into it, loops split over the stream's threads, convolutions run on them, and
 * the tables of bilinear resampling. Internal to src/model (network.c, refiner.c,
 * stream.c).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_MODEL_SCRATCH_H
#define RVM_MODEL_SCRATCH_H

#include <stddef.h>

#include "model/network.h"

/* ---- scratch memory: a stack reset every frame (scratch.c says how it grows) ---- */

/* Makes base hold a whole frame (address space reserved once, or, after a frame that needed
 * more, a block of its peak), so frames allocate nothing but one that outgrows it. */
void rvmi_arena_reset(arena *a);
/* n floats, 64-byte aligned, or NULL when out of memory. */
float *rvmi_arena_floats(arena *a, size_t n);
/* Everything allocated after the mark is dead once released. */
static inline size_t rvmi_arena_mark(const arena *a) { return a->used; }
void rvmi_arena_release(arena *a, size_t mark);
/* Frees everything allocated after the mark except the n views, which move down to just
 * after it (their data pointers updated; their other tensors, and the layers that were above
 * the mark, are gone). Each view is a whole allocation (h * w * stride floats), given in the
 * order they were allocated. 0, or -1 when out of memory (the first frame of a size copies
 * them through a temporary buffer). */
int rvmi_arena_keep(arena *a, size_t mark, rvmi_view *const *v, int n);
void rvmi_arena_free(arena *a);

/* Sets the stream's error message; returns status. */
int rvmi_stream_fail(rvm_stream *s, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- views ---- */

#define NEW_VIEW(v, H, W, C)                                                                    \
    do {                                                                                        \
        (v) = (rvmi_view){.h = (H), .w = (W), .c = (C), .stride = (C)};                         \
        (v).data = rvmi_arena_floats(&s->scratch, (size_t)(H) * (W) * (C));                     \
        if (!(v).data)                                                                          \
            return rvmi_stream_fail(s, RVM_ENOMEM, "out of memory");                            \
    } while (0)

static inline rvmi_view channels(rvmi_view v, int first, int count)
{
    v.data += first;
    v.c = count;
    return v;
}

/* Rows [y, y + n) of v. */
static inline rvmi_view rows_of(rvmi_view v, int y, int n)
{
    v.data += (size_t)y * v.w * v.stride;
    v.h = n;
    return v;
}

static inline float *pixel(const rvmi_view *v, int y, int x)
{
    return v->data + ((size_t)y * v->w + x) * v->stride;
}

/* ---- loops over rows, split across the stream's threads ---- */

typedef void (*rows_fn)(void *ctx, int y0, int y1, int thread);
/* Rows [0, h) in tasks of `band` rows. */
void rvmi_parallel_bands(rvm_stream *s, int h, int band, rows_fn fn, void *ctx);
/* Rows [0, h) in a few tasks per thread, so uneven tasks balance. */
void rvmi_parallel_rows(rvm_stream *s, int h, rows_fn fn, void *ctx);

/* ---- convolutions on the stream's threads ---- */

/* out = act(conv(concatenation of in) + bias [+ res]); out must already have the conv's
 * output size. */
void rvmi_run_conv_cat(rvm_stream *s, const rvmi_conv *cv, const rvmi_inputs *in,
                       const rvmi_view *out, const rvmi_view *res);
void rvmi_run_conv(rvm_stream *s, const rvmi_conv *cv, const rvmi_view *in, const rvmi_view *out,
                   const rvmi_view *res);
/* rvmi_run_conv_cat for output rows [y0, y1) only (the others are neither computed nor
 * written): in and out keep the whole convolution's size, so that its padding falls at their
 * edges. y0 is a multiple of 4 (Winograd's output tiles). Runs in fp32 unless the rows are
 * all of out's. */
void rvmi_run_conv_rows(rvm_stream *s, const rvmi_conv *cv, const rvmi_inputs *in,
                        const rvmi_view *out, const rvmi_view *res, int y0, int y1);

/* Allocates the output of cv applied to in. */
#define NEW_CONV_OUT(out, cv, in)                                                               \
    NEW_VIEW(out, rvmi_conv_out_size((in).h, (cv)->kh, (cv)->stride, (cv)->dilation),           \
             rvmi_conv_out_size((in).w, (cv)->kw, (cv)->stride, (cv)->dilation), (cv)->cout)

/* Allocates the output of cv applied to in, and runs it. */
#define CONV(out, cv, in, res)                                                                  \
    do {                                                                                        \
        NEW_CONV_OUT(out, cv, in);                                                              \
        rvmi_run_conv(s, (cv), &(in), &(out), (res));                                           \
    } while (0)

/* ---- bilinear resampling (rvmi_lerp in kernels.h: PyTorch's index and weight rules) ---- */

/* The lerps of every output column of a resize, in scratch memory; NULL if out of memory. */
const rvmi_lerp *rvmi_lerp_table(rvm_stream *s, float scale, int out_size, int in_size);

#endif
