/* Kernels of the network. Activations are NHWC float32 "views": pixel (y, x) channel k is
 * data[(y * w + x) * stride + k], so a view can be a channel slice of a wider buffer and
 * concatenation along channels costs nothing.
 *
 * Every kernel has a plain C reference (reference.c) and, where speed matters, a SIMD version
 * (simd.c, compiled once per instruction set). dispatch.c picks the set at run time; tests
 * run each set against the reference.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_KERNELS_H
#define RVM_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "rvm.h"

typedef struct {
    float *data;
    int h, w, c;
    int stride; /* floats from one pixel to the next, >= c */
} rvmi_view;

/* A dense convolution's input: up to RVM_MAX_INPUTS views of one size whose channels are
 * concatenated, so concatenations in the network cost no copy. */
#define RVM_MAX_INPUTS 3
typedef struct {
    int n;
    rvmi_view v[RVM_MAX_INPUTS];
} rvmi_inputs;

static inline rvmi_inputs rvmi_inputs_of(const rvmi_view *v)
{
    rvmi_inputs in = {1, {*v}};
    return in;
}

typedef enum {
    RVM_ACT_NONE = 0,
    RVM_ACT_RELU,
    RVM_ACT_HARDSWISH,   /* x * relu6(x + 3) / 6 */
    RVM_ACT_HARDSIGMOID, /* relu6(x + 3) / 6 */
    RVM_ACT_SIGMOID,
    RVM_ACT_TANH,
} rvmi_act;

/* Output channels are packed in blocks of this many. */
#define RVM_COUT_BLOCK 16

/* A convolution with BatchNorm folded in. Dense weights are packed as
 * [ceil(cout/16)][kh*kw][cin][16] (zero-padded channels), depthwise ones as [kh*kw][cpad]
 * with cpad = cout rounded up to 16. bias has cpad entries. Padding is (k-1)/2*dilation. */
typedef struct {
    int cin, cout, kh, kw, stride, dilation;
    int depthwise;
    rvmi_act act;
    float *weight;
    float *bias;
    /* 3x3 stride-1 dense convolutions also carry Winograd F(4x4, 3x3) weights U = G g G^T:
     * 36 packs, one per transform point, each laid out as a 1x1 convolution's weights. */
    float *winograd;
} rvmi_conv;

/* Winograd F(4x4, 3x3): output tiles of 4x4 from input tiles of 6x6. Tiles are processed in
 * chunks of this many along a row (a multiple of every kernel's pixel block, 12, 6 and 3, so
 * that whole blocks take the fast strided path); scratch per thread: rvmi_winograd_scratch()
 * floats. */
#define RVM_WINOGRAD_CHUNK 36
static inline size_t rvmi_winograd_scratch(int cin, int cout)
{
    int cpad = (cout + RVM_COUT_BLOCK - 1) / RVM_COUT_BLOCK * RVM_COUT_BLOCK;
    return (size_t)36 * RVM_WINOGRAD_CHUNK * (size_t)(cin + cpad);
}
/* Transforms and packs OIHW 3x3 weights for the Winograd kernel; NULL on no memory. */
float *rvmi_pack_winograd(const float *oihw, int cout, int cin);

static inline int rvmi_conv_out_size(int n, int k, int stride, int dilation)
{
    int pad = (k - 1) / 2 * dilation;
    return (n + 2 * pad - dilation * (k - 1) - 1) / stride + 1;
}

/* Packs PyTorch OIHW weights (float) into the layouts above; returns NULL on no memory. */
float *rvmi_pack_dense(const float *oihw, int cout, int cin, int kh, int kw);
float *rvmi_pack_depthwise(const float *oihw, int c, int kh, int kw);

/* One instruction set's kernels. Row-ranged kernels compute output rows [y0, y1), so callers
 * can split work across threads. zeros: at least cin zero floats (stands for padding). The
 * channels of all input views add up to cv->cin. */
/* Where a refiner row's results go: one row of alpha and of the foreground (either NULL), in
 * the output's pixel type and foreground layout (rvm.h); fgr_plane: bytes between the planes
 * of RVM_FGR_PLANAR. */
typedef struct {
    rvm_pixel_type type;
    rvm_fgr_layout layout;
    void *pha, *fgr;
    ptrdiff_t fgr_plane;
} rvmi_blend_out;

typedef struct {
    const char *name;
    /* out = act(conv(in) + bias + residual); residual may be NULL. */
    void (*conv_dense)(const rvmi_conv *cv, const rvmi_inputs *in, const rvmi_view *out,
                       const rvmi_view *residual, int y0, int y1, const float *zeros);
    void (*conv_depthwise)(const rvmi_conv *cv, const rvmi_view *in, const rvmi_view *out,
                           const rvmi_view *residual, int y0, int y1);
    /* The same as conv_dense for a convolution with Winograd weights, for output tile rows
     * [ty0, ty1) (output rows 4*ty0 .. 4*ty1-1). zeros: at least max(cin, cout rounded up
     * to 16) floats. NULL in sets without it. */
    void (*conv_winograd)(const rvmi_conv *cv, const rvmi_inputs *in, const rvmi_view *out,
                          const rvmi_view *residual, int ty0, int ty1, const float *zeros,
                          float *scratch);
    /* One full-resolution output row of the refiner. h0 and h1 are the coefficient rows
     * [A0..A3, b0..b3] already upsampled horizontally to the frame's width, as 8 planes
     * `plane` floats apart; the row is l0*h0 + l1*h1. With x the input row as three planes
     * of floats (R, G, B) and grey = mean(x): fgr = clamp(A*x + b + x, 0, 1),
     * pha = clamp(A3*grey + b3, 0, 1), stored as out says. tmp: 4*width floats. */
    void (*blend_row)(const float *h0, const float *h1, size_t plane, float l0, float l1,
                      const float *const x[3], int width, const rvmi_blend_out *out,
                      float *tmp);
} rvmi_kernels;

extern const rvmi_kernels rvmi_kernels_reference;
extern const rvmi_kernels rvmi_kernels_generic;
extern const rvmi_kernels rvmi_kernels_avx2;
extern const rvmi_kernels rvmi_kernels_avx512;

/* The fastest set this CPU runs, or the one named by the RVM_ISA environment variable
 * (reference, generic, avx2, avx512) when the CPU supports it. */
const rvmi_kernels *rvmi_kernels_select(void);
/* The set by name if this CPU supports it, else NULL. */
const rvmi_kernels *rvmi_kernels_by_name(const char *name);

/* Scalar activation, shared by all sets for the transcendental ones. */
float rvmi_activate(rvmi_act act, float x);

#endif
