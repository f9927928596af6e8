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
    /* Where the last frame's layers are (valid until the next frame), for tests; f, aspp
     * and x[1..3] only with keep_layers (network.c drops them otherwise). */
    struct {
        rvmi_view src_sm, f[4], aspp, x[4], x0, proj, seg, r[4];
    } layers;
    /* The guided filter's coefficients of the frame rvmi_stream_matte ran last (valid until
     * the next frame), for rvmi_stream_output_rows; ab.data is NULL before. */
    rvmi_view ab;
    int ab_width, ab_height; /* the frame's size */
    rvmi_float_range input_range; /* of a planar float frame's values, as its output was made */
    int unbanded; /* tests: MobileNetV3's blocks and the decoder's upsampling layer by layer,
                   * not in row bands */
    int keep_layers; /* tests: every layer in layers stays until the next frame */
    char err[256];
};

/* network.c: the network from the frame to the decoder's output x0 (and src_sm, the frame
 * downsampled to the internal size stream.c prepared in s). With project (a 1x1 convolution
 * of x0: project_mat or project_seg), the decoder's last stage also computes
 * proj = project(x0), band by band as it writes x0 (while x0's band is in cache: read back
 * whole from memory, the 16 -> 4 projection at 1080p, ratio 0.25, was bound by memory), unless
 * the int8 state claims the layer (it runs whole tensors): proj->data is then NULL and the
 * caller runs it. */
int rvmi_network_forward(rvm_stream *s, const rvm_frame *f, const rvmi_conv *project,
                         rvmi_view *x0, rvmi_view *src_sm, rvmi_view *proj);
/* refiner.c: the guided filter's coefficients (8 channels at the internal size, in the
 * scratch memory until the next frame) from the decoder's output and its projection proj (at
 * s->ratio 1: the projection alone)... */
int rvmi_refine_coefficients(rvm_stream *s, const rvmi_view *src_sm, const rvmi_view *x0,
                             const rvmi_view *proj, rvmi_view *ab);
/* ...applied to rows [first, first + count) of the full-resolution frame, into out (its first
 * row is the frame's row first). */
int rvmi_refine_rows(rvm_stream *s, const rvm_frame *f, const rvmi_view *ab,
                     const rvm_output *out, int first, int count);

/* The command's composition (over a background, or a colour) and alpha matte computed
 * straight into its encoders' 8-bit 4:2:0 pictures, the whole frame in one pass a pair of
 * rows at a time: the same bytes as 16-bit results (rvm_output, RVM_PIXEL_U16, RVM_FGR_RGB)
 * composited by the frame loops' over8, converted by rgb24_to_yuv420 (two rows at a time, an
 * odd height's last row paired with itself, its luma also written to the row below: com[0]
 * needs the height rounded up to even rows), and the matte by u16_to_u8 then gray_to_luma. */
typedef struct {
    const uint8_t *bg;   /* packed RGB, row y at bg + y * bg_stride; NULL: colour */
    ptrdiff_t bg_stride;
    uint8_t colour[3];
    uint8_t *com[3];     /* the composition's Y, U, V planes, or com[0] NULL */
    ptrdiff_t com_stride[3];
    uint8_t *matte;      /* the matte's luma plane, or NULL */
    ptrdiff_t matte_stride;
} rvmi_yuv420_out;
int rvmi_refine_yuv420(rvm_stream *s, const rvm_frame *f, const rvmi_view *ab,
                       const rvmi_yuv420_out *out);

/* A frame in two steps, so a caller can take the full-resolution results in bands of rows
 * (and hold no full frame of them): the network up to the guided filter's coefficients, then
 * rows [first, first + count) of the outputs into out (whose first rows they become; strides
 * and types as for rvm_stream_process_frame, checked for the frame's width). Together they
 * compute exactly what rvm_stream_process_frame does. The frame must stay the same between
 * the two. */
int rvmi_stream_matte(rvm_stream *s, const rvm_frame *in, double ratio);
int rvmi_stream_output_rows(rvm_stream *s, const rvm_frame *in, const rvm_output *out, int first,
                            int count);
/* rvmi_stream_output_rows' whole frame into 8-bit 4:2:0 pictures (rvmi_yuv420_out; frames
 * of 8-bit formats, not RVM_FORMAT_F32_PLANAR). */
int rvmi_stream_yuv420(rvm_stream *s, const rvm_frame *in, const rvmi_yuv420_out *out);
/* Whether the stream's kernels compute such frames in registers (the set's blend_yuv420,
 * I420 frames): elsewhere rvmi_stream_yuv420 runs the band route's kernels on strips, no
 * faster than the band route itself. */
int rvmi_yuv420_direct(const rvm_stream *s, const rvm_frame *f);
/* The values of the planar float frame whose outputs were made last, as the full-resolution
 * pass read every one of them: a caller can refuse values outside 0..1 without reading the
 * frame again (for a frame of another format: lo > hi). */
rvmi_float_range rvmi_stream_input_range(const rvm_stream *s);
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
