/* int8 pointwise convolutions: unsigned 8-bit activations (one scale and zero point per
 * tensor) times signed weights (one scale per output channel), summed exactly in int32, then
 * scaled back to float with the bias, residual and activation of the float convolution. Or
 * 16-bit activations (conv_1x1_s16, the default for int8 layers) times the same weights
 * widened to int16, in one pass.
 *
 * Weights are within [-127, 127] (8 bits, symmetric). The VNNI sets' vpdpbusd sums four
 * u8 * s8 products into int32 exactly; AVX2's vpmaddubsw would saturate a pair of products in
 * int16, so the AVX2 set splits each weight into two halves within [-64, 64] (int8.c). Every
 * instruction set (scalar reference, AVX2, AVX-VNNI, AVX512-VNNI) computes the same integers.
 * The float epilogue may differ in its last bits (fused multiply-adds).
 * (7-bit weights, [-64, 64], were used before: on the int8 tests' 1080p clip they added as
 * much error as the per-tensor activations and more; docs/INT8.md.)
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_KERNELS_INT8_H
#define RVM_KERNELS_INT8_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"

/* The weight range: |q| <= RVM_Q8_WMAX. */
#define RVM_Q8_WMAX 127

/* A 1x1 convolution in int8. Weights are packed as [ceil(cout/16)][kpad/4][16][4]: for each
 * block of 16 output channels and each group of 4 input channels, the 4 weights of output 0,
 * then of output 1, ... (the operand layout of vpdpbusd). Channels past cin and cout are
 * zero. Arrays with per-channel entries have cout rounded up to 16 entries. */
typedef struct {
    int cin, cout, kpad; /* kpad: cin rounded up to 4 */
    rvmi_act act;
    int8_t *weight;
    float *wscale;      /* weight scale per output channel */
    int32_t *wsum;      /* sum of the channel's quantised weights (for the zero point) */
    const float *bias;  /* the float convolution's (folded BatchNorm) */
    /* The same weights widened to 16 bits for 16-bit activations (conv_1x1_s16), packed as
     * [ceil(cout/16)][ceil(cin/2)][16][2] (the operand layout of vpdpwssd / vpmaddwd). */
    int16_t *weight16;
    int32_t wabs;       /* the largest sum of |q| over one output channel's weights */
} rvmi_conv_q8;

/* Activations of one tensor quantised: pixel p channel k is data[p * stride + k], stride a
 * multiple of 4 and >= kpad of the convolution reading it; value = scale * (q - zero). */
typedef struct {
    const uint8_t *data;
    size_t stride;
    float scale;
    int zero;
} rvmi_qtensor;

/* 16-bit activations of one tensor: value = scale * (q - zero), |q| <= the layer's
 * rvmi_q16_limit, pixel p channel k is data[p * stride + k] (stride even, >= kpad). */
typedef struct {
    const int16_t *data;
    size_t stride;
    float scale;
    int zero;
} rvmi_qtensor16;

/* One instruction set's int8 kernels. */
typedef struct {
    const char *name;
    /* Output pixels [p0, p1) of the run of pixels `out` describes (a row-major view without
     * gaps between rows, as the network's are), from in, whose first pixel is pixel p0:
     * out = act(conv + bias + residual); residual may be NULL. */
    void (*conv_1x1)(const rvmi_conv_q8 *cv, const rvmi_qtensor *in, const rvmi_view *out,
                     const rvmi_view *residual, size_t p0, size_t p1);
    /* q = clamp(round(x / scale) + zero, 0, 255) for n floats; dst[n..pad) = 0. Sets may
     * differ by one level for a value within rounding error of a boundary (fused or separate
     * multiply-add). */
    void (*quantize)(const float *x, int n, float inv_scale, int zero, uint8_t *dst, int pad);
    /* Widens [*lo, *hi] to hold n floats. */
    void (*minmax)(const float *x, int n, float *lo, float *hi);
    /* conv_1x1 on 16-bit activations in one pass: 8-bit weights (weight16) times 16-bit
     * activations summed exactly in int32 (vpdpwssd: two int16 x int16 products per lane;
     * AVX2: vpmaddwd + vpaddd), then the same epilogue as conv_1x1. */
    void (*conv_1x1_s16)(const rvmi_conv_q8 *cv, const rvmi_qtensor16 *in, const rvmi_view *out,
                         const rvmi_view *residual, size_t p0, size_t p1);
    /* q = clamp(round(x / scale) + zero, -limit, limit) for n floats; dst[n..pad) = 0. Sets
     * may differ by one level within rounding error of a boundary, as quantize. */
    void (*quantize_s16)(const float *x, int n, float inv_scale, int zero, int limit,
                         int16_t *dst, int pad);
} rvmi_kernels_q8;

extern const rvmi_kernels_q8 rvmi_kernels_q8_reference;
extern const rvmi_kernels_q8 rvmi_kernels_q8_avx2;
extern const rvmi_kernels_q8 rvmi_kernels_q8_avxvnni;
extern const rvmi_kernels_q8 rvmi_kernels_q8_avx512vnni;

/* The set by name (reference, avx2, avxvnni, avx512vnni) if this CPU runs it, else NULL. */
const rvmi_kernels_q8 *rvmi_kernels_q8_by_name(const char *name);
/* The VNNI set this CPU runs (avx512vnni, else avxvnni), or NULL: int8 is offered only
 * where it has the dot-product instructions. */
const rvmi_kernels_q8 *rvmi_kernels_q8_select(void);

/* The scale of one output channel's n weights: symmetric, |q| <= RVM_Q8_WMAX. Weights that
 * are already on a grid of at most that many steps each side of 0 keep it, so they are
 * quantised exactly: the official MobileNetV3 release is stored as 8-bit weights (TF.js,
 * per tensor, zero exact), and with its BatchNorm scale folded in, 99% of the output channels
 * of its 1x1 convolutions span at most 127 of its steps each side. Others: the largest weight
 * maps to RVM_Q8_WMAX. */
#define RVM_Q8_GRID_TOLERANCE 1e-3f /* in steps */
float rvmi_q8_weight_scale(const float *w, int n);

/* Quantises OIHW 1x1 float weights (cout x cin) into cv (weight, wscale, wsum), each output
 * channel with rvmi_q8_weight_scale; cv->cin, cout, act and bias are the caller's. Returns 0,
 * or -1 on no memory. */
int rvmi_q8_pack(rvmi_conv_q8 *cv, const float *oi);
void rvmi_q8_release(rvmi_conv_q8 *cv);

/* The scale and zero point that map [lo, hi] (widened to hold 0, so that 0 is exact) onto
 * 0..255. */
void rvmi_q8_range(float lo, float hi, float *scale, int *zero);

/* 16-bit activations in one pass: the largest |q| a layer's activations may take so that its
 * int32 sums stay exact: limit * 2 * wabs < 2^31 (the zero point's term and the difference
 * included), at most 32767. With |q| <= 127 and cin <= 960 (MobileNetV3) the limit is at
 * least 8,806 (over 14 bits of range); real weights sum to far less than 127 * cin. */
int rvmi_q16_limit(const rvmi_conv_q8 *cv);
/* The scale and zero point that map [lo, hi] (widened to hold 0, so that 0 is exact) onto
 * -limit..limit. */
void rvmi_q16_range(float lo, float hi, int limit, float *scale, int *zero);

#endif
