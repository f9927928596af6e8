/* The per-stream state of the network and the internals the tests look at.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_NETWORK_H
#define RVM_NETWORK_H

#include "kernels/kernels.h"
#include "kernels/threadpool.h"
#include "model/model.h"
#include "model/quantize.h"
#include "rvm.h"

typedef struct spill {
    struct spill *next;
    size_t at; /* the stack position it was allocated at: freed when released below it */
} spill;

/* Scratch memory, reset at every frame; a stack, so a layer's temporaries are released
 * when it is done. */
typedef struct {
    char *base;
    size_t size;
    size_t used; /* bytes in use, counting allocations that spilled outside base */
    size_t peak; /* the most used at once during this frame */
    spill *spills;
} arena;

struct rvm_stream {
    const struct rvm_model *model;
    const rvmi_kernels *kernels;
    rvmi_pool *pool;
    arena scratch;
    float *zeros; /* RVM_MAX_CIN zeros: what convolutions read in their padding */
    rvmi_q8_state *q8; /* the int8 layers (RVM_PRECISION_INT8), or NULL */
    float u8_to_float[256];
    double ratio;
    int h0, w0; /* internal (downsampled) size */
    float *state[4]; /* r1..r4, NHWC */
    int state_h[4], state_w[4];
    /* Where the last frame's layers are (valid until the next frame), for tests. */
    struct {
        rvmi_view src_sm, f[4], aspp, x[4], x0, proj, seg, r[4];
    } layers;
    char err[256];
};

/* network.c: the network from the frame to the decoder's output x0 (and src_sm, the frame
 * downsampled to the internal size stream.c prepared in s). */
int rvmi_network_forward(rvm_stream *s, const rvm_frame *f, rvmi_view *x0, rvmi_view *src_sm);
/* refiner.c: the guided filter from the decoder's output and its projection proj (at s->ratio
 * 1: the projection alone), applied to the full-resolution frame into out. */
int rvmi_refine(rvm_stream *s, const rvm_frame *f, const rvmi_view *src_sm, const rvmi_view *x0,
                const rvmi_view *proj, const rvm_output *out);

/* A layer of the last frame by its golden-dump name (src_sm, f1..f4, aspp, x4..x1, x0, proj,
 * seg, r1..r4), or NULL. */
const rvmi_view *rvmi_stream_layer(const rvm_stream *s, const char *name);
/* The internal (downsampled) size of a frame at a ratio: floor(size * ratio), as
 * F.interpolate computes it, or the frame's size at ratio 1. RVM_EINVAL for a bad size or
 * ratio, or one that leaves no pixels. */
int rvmi_internal_size(int width, int height, double ratio, int *h0, int *w0);
/* Forces a kernel set by name (reference, generic, avx2, avx512). */
int rvmi_stream_set_kernels(rvm_stream *s, const char *isa);
/* Runs the int8 mode with the int8 kernel set named (reference, avx2, avxvnni, avx512vnni),
 * also where rvm_stream_set_precision would refuse it (no VNNI): all sets compute the same
 * integers, so tests and measurements run anywhere. NULL returns to fp32. */
int rvmi_stream_set_int8(rvm_stream *s, const char *q8_isa);

#endif
