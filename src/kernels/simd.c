/* SIMD kernels, written once against the small vector vocabulary of kernels/vec.h and compiled
 * once per instruction set (RVM_ISA / RVM_VLEN set by the build): avx512 (16 floats), avx2 (8) and a
 * portable generic one (4, GCC vector extensions).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernels/kernels.h"

#define VL RVM_VLEN
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define STR_(a) #a
#define CAT_STR(a) STR_(a)

#include "kernels/vec.h"

/* What the vocabulary of vec.h lacks here: rounding and scaling by powers of two for vexp,
 * and the register tile of the convolutions (MR output pixels by NB blocks of 16 output
 * channels). */
#if VL == 16
#define VROUND(x) _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define VSCALE2(p, n) _mm512_scalef_ps(p, n) /* p * 2^n */
#define HAVE_VEXP 1
#define MR 12 /* output pixels per tile */
#define NB 2  /* 16-channel output blocks per tile */
#elif VL == 8
#define VROUND(x) _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
static inline __m256 VSCALE2(__m256 p, __m256 n)
{
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}
#define HAVE_VEXP 1
#define MR 6
#define NB 1
#else
#define MR 3
#define NB 1
#endif

#define VPB (RVM_COUT_BLOCK / VL) /* vectors per output block */
#define MT (MR / 3) /* tiles per block at the end of a row of Winograd tiles */

#ifdef HAVE_VEXP
/* exp(x) for x in [-87, 88]: x = n*ln2 + r, |r| <= ln2/2, a degree-7 polynomial (Cephes'
 * expf coefficients), then scaled by 2^n. Within 2 ulp of expf. */
static inline vf vexp(vf x)
{
    x = VMIN(VMAX(x, VSET1(-87.0f)), VSET1(88.0f));
    vf n = VROUND(VMUL(x, VSET1(1.44269504088896341f)));
    vf r = VFMA(n, VSET1(-0.693359375f), x);
    r = VFMA(n, VSET1(2.12194440e-4f), r);
    vf p = VSET1(1.9875691500e-4f);
    p = VFMA(p, r, VSET1(1.3981999507e-3f));
    p = VFMA(p, r, VSET1(8.3334519073e-3f));
    p = VFMA(p, r, VSET1(4.1665795894e-2f));
    p = VFMA(p, r, VSET1(1.6666665459e-1f));
    p = VFMA(p, r, VSET1(5.0000001201e-1f));
    p = VFMA(p, VMUL(r, r), VADD(r, VSET1(1.f)));
    return VSCALE2(p, n);
}
#endif

/* Activations that have a vector form; the others are applied after the store. */
static inline vf activate(rvmi_act act, vf v)
{
    switch (act) {
    case RVM_ACT_RELU:
        return VMAX(v, VZERO());
    case RVM_ACT_HARDSWISH:
        return VDIV(VMUL(v, VMIN(VMAX(VADD(v, VSET1(3.f)), VZERO()), VSET1(6.f))), VSET1(6.f));
    case RVM_ACT_HARDSIGMOID:
        return VDIV(VMIN(VMAX(VADD(v, VSET1(3.f)), VZERO()), VSET1(6.f)), VSET1(6.f));
#ifdef HAVE_VEXP
    case RVM_ACT_SIGMOID:
        return VDIV(VSET1(1.f), VADD(VSET1(1.f), vexp(VSUB(VZERO(), v))));
    case RVM_ACT_TANH: {
        /* tanh(x) = 1 - 2 / (exp(2x) + 1): absolute error ~1e-7, and exact saturation */
        return VSUB(VSET1(1.f), VDIV(VSET1(2.f), VADD(vexp(VADD(v, v)), VSET1(1.f))));
    }
#endif
    default:
        return v;
    }
}

#ifdef HAVE_VEXP
static inline int vector_act(rvmi_act act) { (void)act; return 1; }
#else
static inline int vector_act(rvmi_act act) { return act != RVM_ACT_SIGMOID && act != RVM_ACT_TANH; }
#endif

/* Adds bias and residual, activates, stores n (<= VL) channels at dst. */
static inline void finish(vf v, const float *bias, const float *res, float *dst, int n, rvmi_act act)
{
    v = VADD(v, VLOAD(bias));
    if (n == VL) {
        if (res)
            v = VADD(v, VLOAD(res));
        v = activate(act, v);
        VSTORE(dst, v);
    } else {
        if (res)
            v = VADD(v, load_partial(res, n));
        v = activate(act, v);
        store_partial(dst, v, n);
    }
    if (!vector_act(act))
        for (int k = 0; k < n; k++)
            dst[k] = rvmi_activate(act, dst[k]);
}

/* Finishes output pixel px's sums acc[0 .. nv), the output channels from co0 on (VL a
 * vector): bias, residual, activation, stored. The vectors past cout are left out (the last
 * block of 16 outputs may hold fewer). */
static inline __attribute__((always_inline)) void finish_pixel(const vf *acc, const int nv,
                                                               const rvmi_conv *cv, int co0,
                                                               const rvmi_view *out,
                                                               const rvmi_view *res, size_t px,
                                                               rvmi_act act)
{
    float *dst = out->data + px * out->stride;
    const float *r = res ? res->data + px * res->stride : NULL;
    for (int j = 0; j < nv; j++) {
        const int co = co0 + j * VL, n = cv->cout - co < VL ? cv->cout - co : VL;
        if (n <= 0)
            break;
        finish(acc[j], cv->bias + co, r ? r + co : NULL, dst + co, n, act);
    }
}

/* The two steps of every register tile (tile_strided_mr, tile): input channel i's weights for
 * nb blocks of 16 outputs (wblock floats apart) into registers, then one input value x times
 * them into one output pixel's sums. nb is a constant in each copy. */
static inline __attribute__((always_inline)) void tile_weights(const int nb, const float *wt,
                                                               size_t wblock, int i,
                                                               vf wv[NB * VPB])
{
#pragma GCC unroll 8
    for (int b = 0; b < nb; b++)
#pragma GCC unroll 8
        for (int v = 0; v < VPB; v++)
            wv[b * VPB + v] = VLOAD(wt + b * wblock + (size_t)i * RVM_COUT_BLOCK + v * VL);
}

static inline __attribute__((always_inline)) void tile_fma(const int nb, vf x,
                                                           const vf wv[NB * VPB],
                                                           vf acc[NB * VPB])
{
#pragma GCC unroll 8
    for (int j = 0; j < nb * VPB; j++)
        acc[j] = VFMA(x, wv[j], acc[j]);
}

/* acc[m][j] += sum over i < count of x[m * ld + i] * w[i][j]: mr (<= MR) output pixels whose
 * inputs are ld floats apart, the usual case (away from the borders). The pixels in groups of
 * three, each group from one base pointer, at base, base + ld and base + 2 ld: x86 addresses
 * those with two index registers shared by all groups. A pointer per pixel (12 in the AVX-512
 * build) left too few registers, and the compiler reloaded them from the stack at every step
 * (Winograd products of 16 output channels measured 7% slower); a pointer per pixel read
 * from memory, worse still, made the step's loads, not its FMAs, bound the speed. */
static inline __attribute__((always_inline)) void
tile_strided_mr(const int mr, const int nb, const float *x, size_t ld, int count, const float *wt,
                size_t wblock, vf acc[MR][NB * VPB])
{
    const float *xg[(MR + 2) / 3];
    for (int g = 0; g < (mr + 2) / 3; g++)
        xg[g] = x + (size_t)3 * g * ld;
    const size_t ld2 = 2 * ld;
    for (int i = 0; i < count; i++) {
        vf wv[NB * VPB];
        tile_weights(nb, wt, wblock, i, wv);
#pragma GCC unroll 32
        for (int m = 0; m < mr; m++) {
            const float *q = xg[m / 3] + i;
            tile_fma(nb, VSET1(m % 3 == 0 ? q[0] : m % 3 == 1 ? q[ld] : q[ld2]), wv, acc[m]);
        }
    }
}

static inline __attribute__((always_inline)) void tile_strided(const int nb, const float *x,
                                                               size_t ld, int count,
                                                               const float *wt, size_t wblock,
                                                               vf acc[MR][NB * VPB])
{
    tile_strided_mr(MR, nb, x, ld, count, wt, wblock, acc);
}

/* acc[m][j] += sum over taps and input channels of x[m] * w, for nb output blocks.
 * ptrs[(g*taps + t)*MR + m] points at the input pixel of output pixel m under tap t in input
 * view g (or at zeros); view g holds channels [first[g], first[g] + count[g]). ld[g*taps + t]
 * is nonzero when those MR pointers are ld floats apart. */
static inline __attribute__((always_inline)) void tile(const int nb, const float *const *ptrs,
                                                       const size_t *ld, int views,
                                                       const int *first, const int *count,
                                                       int taps, int cin, const float *w,
                                                       size_t wblock, vf acc[MR][NB * VPB])
{
    for (int gt = 0; gt < views * taps; gt++) {
        const int g = gt / taps, t = gt % taps;
        const float *const *pp = ptrs + gt * MR;
        const float *wt = w + ((size_t)t * cin + first[g]) * RVM_COUT_BLOCK;
        if (ld[gt]) {
            tile_strided(nb, pp[0], ld[gt], count[g], wt, wblock, acc);
            continue;
        }
        for (int i = 0; i < count[g]; i++) {
            vf wv[NB * VPB];
            tile_weights(nb, wt, wblock, i, wv);
#pragma GCC unroll 32
            for (int m = 0; m < MR; m++)
                tile_fma(nb, VSET1(pp[m][i]), wv, acc[m]);
        }
    }
}

/* mr (<= MR, a constant) pixels of a pointwise convolution from px0 on, every view taken as
 * one row, with activation act. Whole blocks (mr = MR) and the last pixels past them (through
 * the general path those cost a whole block of MR pixels, of which all but mr read zeros
 * through a pointer each: at 30x17, 510 pixels, the 6 left after 42 blocks) share it, so a
 * tail has the same sums in the same order as a block. */
static inline __attribute__((always_inline)) void
pointwise_block(const rvmi_conv *cv, const rvmi_inputs *in, const rvmi_view *out,
                const rvmi_view *res, size_t px0, const int mr, const rvmi_act act)
{
    const int blocks = (cv->cout + RVM_COUT_BLOCK - 1) / RVM_COUT_BLOCK;
    const size_t wblock = (size_t)cv->cin * RVM_COUT_BLOCK;
    for (int blk = 0; blk < blocks; blk += NB) {
        const int nb = blocks - blk < NB ? blocks - blk : NB;
        vf acc[MR][NB * VPB];
        for (int m = 0; m < mr; m++)
            for (int j = 0; j < NB * VPB; j++)
                acc[m][j] = VZERO();
        const float *w = cv->weight + (size_t)blk * wblock;
        for (int g = 0, c0 = 0; g < in->n; c0 += in->v[g++].c) {
            const rvmi_view *v = &in->v[g];
            const float *x = v->data + px0 * v->stride;
            const float *wt = w + (size_t)c0 * RVM_COUT_BLOCK;
            if (nb == NB)
                tile_strided_mr(mr, NB, x, v->stride, v->c, wt, wblock, acc);
            else
                tile_strided_mr(mr, 1, x, v->stride, v->c, wt, wblock, acc);
        }
        for (int m = 0; m < mr; m++)
            finish_pixel(acc[m], nb * VPB, cv, blk * RVM_COUT_BLOCK, out, res, px0 + m, act);
    }
}

/* Whole blocks of MR pixels of a pointwise convolution, pixels [p0, p1) of every view taken
 * as one row; returns the first pixel not done (the partial block is left to the caller).
 * The activation is a constant in each copy (see pointwise_blocks): with few input channels
 * the per-block set-up and epilogue, not the FMAs, are most of the time (through the general
 * path, with its pointer table and a branch on the activation per stored vector, 16->16 at
 * 120x68 measured 2x slower). */
static inline __attribute__((always_inline)) size_t
pointwise_blocks_act(const rvmi_conv *cv, const rvmi_inputs *in, const rvmi_view *out,
                     const rvmi_view *res, size_t p0, size_t p1, const rvmi_act act)
{
    size_t px0 = p0;
    for (; px0 + MR <= p1; px0 += MR)
        pointwise_block(cv, in, out, res, px0, MR, act);
    return px0;
}

/* Every activation, for the switches that call a kernel specialised (always inline, with the
 * activation a constant) for each: one list, so that a new activation reaches them all. */
#define EACH_ACT(X)                                                                             \
    X(RVM_ACT_NONE)                                                                             \
    X(RVM_ACT_RELU)                                                                             \
    X(RVM_ACT_HARDSWISH)                                                                        \
    X(RVM_ACT_HARDSIGMOID)                                                                      \
    X(RVM_ACT_SIGMOID)                                                                          \
    X(RVM_ACT_TANH)

static size_t pointwise_blocks(const rvmi_conv *cv, const rvmi_inputs *in, const rvmi_view *out,
                               const rvmi_view *res, size_t p0, size_t p1)
{
    switch (cv->act) {
#define ACT_CASE(a)                                                                             \
    case a:                                                                                     \
        return pointwise_blocks_act(cv, in, out, res, p0, p1, a);
        EACH_ACT(ACT_CASE)
#undef ACT_CASE
    }
    return p0;
}

/* Pixels [p0, p1), fewer than MR, when there are 3 or more (fewer go one at a time, see
 * pointwise_pixels); returns the first pixel not done. */
static size_t pointwise_tail(const rvmi_conv *cv, const rvmi_inputs *in, const rvmi_view *out,
                             const rvmi_view *res, size_t p0, size_t p1)
{
    (void)cv, (void)in, (void)out, (void)res;
    switch (p1 - p0) {
#define TAIL_CASE(n)                                                                            \
    case n:                                                                                     \
        pointwise_block(cv, in, out, res, p0, n, cv->act);                                      \
        return p1;
#if MR > 3
        TAIL_CASE(3)
        TAIL_CASE(4)
        TAIL_CASE(5)
#endif
#if MR > 6
        TAIL_CASE(6)
        TAIL_CASE(7)
        TAIL_CASE(8)
        TAIL_CASE(9)
        TAIL_CASE(10)
        TAIL_CASE(11)
#endif
#undef TAIL_CASE
    }
    return p0;
}

#if VL == 16
/* A pointwise convolution with 4 output channels (the projection to fgr and pha and the deep
 * guided filter's last layer, both at the internal size), pixels [p0, p1) of every view taken
 * as one row: four pixels' four outputs in one vector, each 128-bit lane a pixel. Input
 * channels go four at a time into the lanes (lane j: pixel j's channels c..c+3), each then
 * broadcast within its lane against the weights' four outputs repeated in every lane. The
 * general path spent a 16-lane FMA on 4 useful lanes per pixel and input channel, and a masked
 * store (slow on AMD Zen) per pixel. The same sums in the same order (input channels in
 * turn, from zero, then the bias), so the same floats. Returns the first pixel not done. */
#define COUT4_MAX_CIN 64
static inline __attribute__((always_inline)) __m512 cout4_lanes(const float *p, size_t ps,
                                                                int n)
{
    if (n == 4) {
        __m512 v = _mm512_castps128_ps512(_mm_loadu_ps(p));
        v = _mm512_insertf32x4(v, _mm_loadu_ps(p + ps), 1);
        v = _mm512_insertf32x4(v, _mm_loadu_ps(p + 2 * ps), 2);
        return _mm512_insertf32x4(v, _mm_loadu_ps(p + 3 * ps), 3);
    }
    __mmask8 m = (__mmask8)((1u << n) - 1);
    __m512 v = _mm512_castps128_ps512(_mm_maskz_loadu_ps(m, p));
    v = _mm512_insertf32x4(v, _mm_maskz_loadu_ps(m, p + ps), 1);
    v = _mm512_insertf32x4(v, _mm_maskz_loadu_ps(m, p + 2 * ps), 2);
    return _mm512_insertf32x4(v, _mm_maskz_loadu_ps(m, p + 3 * ps), 3);
}

static size_t pointwise_cout4(const rvmi_conv *cv, const rvmi_inputs *in, const rvmi_view *out,
                              const rvmi_view *res, size_t p0, size_t p1)
{
    if (cv->cout != 4 || cv->cin > COUT4_MAX_CIN || !vector_act(cv->act))
        return p0;
    __m512 w[COUT4_MAX_CIN];
    for (int i = 0; i < cv->cin; i++)
        w[i] = _mm512_broadcast_f32x4(_mm_loadu_ps(cv->weight + (size_t)i * RVM_COUT_BLOCK));
    const __m512 bias = _mm512_broadcast_f32x4(_mm_loadu_ps(cv->bias));
    const size_t os = (size_t)out->stride;
    size_t px = p0;
    for (; px + 16 <= p1; px += 16) { /* four vectors of four pixels: independent sums */
        __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                         _mm512_setzero_ps()};
        for (int g = 0, c0 = 0; g < in->n; c0 += in->v[g++].c) {
            const rvmi_view *v = &in->v[g];
            const size_t ps = (size_t)v->stride;
            const float *x = v->data + px * ps;
            for (int c = 0; c < v->c; c += 4) {
                const int n = v->c - c < 4 ? v->c - c : 4;
                for (int j = 0; j < 4; j++) {
                    __m512 l = cout4_lanes(x + 4 * j * ps + c, ps, n);
                    acc[j] = _mm512_fmadd_ps(_mm512_permute_ps(l, 0x00), w[c0 + c], acc[j]);
                    if (n > 1)
                        acc[j] = _mm512_fmadd_ps(_mm512_permute_ps(l, 0x55), w[c0 + c + 1], acc[j]);
                    if (n > 2)
                        acc[j] = _mm512_fmadd_ps(_mm512_permute_ps(l, 0xaa), w[c0 + c + 2], acc[j]);
                    if (n > 3)
                        acc[j] = _mm512_fmadd_ps(_mm512_permute_ps(l, 0xff), w[c0 + c + 3], acc[j]);
                }
            }
        }
        for (int j = 0; j < 4; j++) {
            __m512 v = _mm512_add_ps(acc[j], bias);
            const size_t q = px + 4 * (size_t)j;
            if (res)
                v = _mm512_add_ps(v, cout4_lanes(res->data + q * res->stride, res->stride, 4));
            v = activate(cv->act, v);
            float *dst = out->data + q * os;
            if (os == 4) {
                _mm512_storeu_ps(dst, v);
            } else {
                _mm_storeu_ps(dst, _mm512_castps512_ps128(v));
                _mm_storeu_ps(dst + os, _mm512_extractf32x4_ps(v, 1));
                _mm_storeu_ps(dst + 2 * os, _mm512_extractf32x4_ps(v, 2));
                _mm_storeu_ps(dst + 3 * os, _mm512_extractf32x4_ps(v, 3));
            }
        }
    }
    return px;
}
#else
static size_t pointwise_cout4(const rvmi_conv *cv, const rvmi_inputs *in, const rvmi_view *out,
                              const rvmi_view *res, size_t p0, size_t p1)
{
    (void)cv, (void)in, (void)out, (void)res, (void)p1;
    return p0;
}
#endif

/* Output vectors [v0, v0 + nv) of pixel px of a pointwise convolution: nv independent sums,
 * each input channel broadcast once for all of them. nv is a constant in each copy. */
static inline __attribute__((always_inline)) void
pointwise_pixel_vectors(const rvmi_conv *cv, const rvmi_inputs *in, const rvmi_view *out,
                        const rvmi_view *res, size_t px, int v0, const int nv)
{
    const size_t wblock = (size_t)cv->cin * RVM_COUT_BLOCK;
    size_t off[8];
    vf acc[8];
    for (int j = 0; j < nv; j++) {
        off[j] = (size_t)((v0 + j) / VPB) * wblock + (size_t)((v0 + j) % VPB) * VL;
        acc[j] = VZERO();
    }
    for (int g = 0, c0 = 0; g < in->n; c0 += in->v[g++].c) {
        const rvmi_view *v = &in->v[g];
        const float *x = v->data + px * v->stride;
        const float *wt = cv->weight + (size_t)c0 * RVM_COUT_BLOCK;
        for (int i = 0; i < v->c; i++) {
            const vf xv = VSET1(x[i]);
            const float *wi = wt + (size_t)i * RVM_COUT_BLOCK;
#pragma GCC unroll 8
            for (int j = 0; j < nv; j++)
                acc[j] = VFMA(xv, VLOAD(wi + off[j]), acc[j]);
        }
    }
    float *dst = out->data + px * out->stride;
    const float *r = res ? res->data + px * res->stride : NULL;
    for (int j = 0; j < nv; j++) {
        const int co = (v0 + j) * VL, n = cv->cout - co < VL ? cv->cout - co : VL;
        finish(acc[j], cv->bias + co, r ? r + co : NULL, dst + co, n, cv->act);
    }
}

/* Pixels [p0, p1) of a pointwise convolution one at a time: for fewer pixels than a block
 * (the squeeze-and-excitation layers and the LR-ASPP's pooled branch run on one pixel), where
 * the blocks' path computed MR pixels, all but one on zeros, for each real one, and each
 * output vector's sum waited on its own FMA latency at every input channel. Eight output
 * vectors at a time, each sum in the same order as the blocks' (input channels in turn, from
 * zero, then the bias), so the same floats. */
#define POINTWISE_PIXELS 2 /* pixels left after the blocks that go one at a time */
static void pointwise_pixels(const rvmi_conv *cv, const rvmi_inputs *in, const rvmi_view *out,
                             const rvmi_view *res, size_t p0, size_t p1)
{
    const int nvec = (cv->cout + VL - 1) / VL;
    for (size_t px = p0; px < p1; px++) {
        int v = 0;
        for (; v + 8 <= nvec; v += 8)
            pointwise_pixel_vectors(cv, in, out, res, px, v, 8);
        if (v + 4 <= nvec) {
            pointwise_pixel_vectors(cv, in, out, res, px, v, 4);
            v += 4;
        }
        for (; v < nvec; v++)
            pointwise_pixel_vectors(cv, in, out, res, px, v, 1);
    }
}

/* Output pixels per strip of the stem's kernel: their sums in 24 registers. */
#define STEM_STRIP (24 / VPB)

/* np (<= STEM_STRIP) neighbouring output pixels of row oy from ox0 on, of a dense k x k
 * convolution with cin input channels packed without gaps, stride s, no dilation, at most 16
 * outputs and one input view (k, cin, s, np and `checked` are constants in each copy): every
 * tap and channel of the pixels in turn, one weight vector for all of them, each input value
 * broadcast from memory into its FMA at a constant offset from one pointer (with the pixel
 * stride a variable, the compiler kept an address per pixel, most of them on the stack).
 * `checked`: taps outside the input read zeros, as in the blocks' path. Every sum in the same
 * order as the blocks' path (taps, then channels, from zero, then the bias). */
static inline __attribute__((always_inline)) void
stem_strip(const rvmi_conv *cv, const rvmi_view *in, const rvmi_view *out, const rvmi_view *res,
           int oy, int ox0, const int k, const int cin, const int s, const int np,
           const int checked)
{
    const int pad = (k - 1) / 2, ih = in->h, iw = in->w, ps = cin;
    vf acc[STEM_STRIP][VPB];
#pragma GCC unroll 24
    for (int o = 0; o < np; o++)
#pragma GCC unroll 4
        for (int v = 0; v < VPB; v++)
            acc[o][v] = VZERO();
    /* one tap after the other, not unrolled: unrolled, the compiler interleaved the taps'
     * FMAs and ran out of registers for the sums */
#pragma GCC unroll 1
    for (int t = 0; t < k * k; t++) {
        const int ky = t / k, kx = t % k;
        const int iy = oy * s - pad + ky, row_in = iy >= 0 && iy < ih;
        const float *row = in->data + (size_t)(row_in ? iy : 0) * iw * ps;
        const float *wt = cv->weight + (size_t)t * cin * RVM_COUT_BLOCK;
        /* the strip's first pixel's input under this tap */
        const float *q = checked ? row : row + ((ptrdiff_t)ox0 * s - pad + kx) * ps;
#pragma GCC unroll 4
        for (int c = 0; c < cin; c++) {
            vf wv[VPB];
#pragma GCC unroll 4
            for (int v = 0; v < VPB; v++)
                wv[v] = VLOAD(wt + (size_t)c * RVM_COUT_BLOCK + v * VL);
#pragma GCC unroll 24
            for (int o = 0; o < np; o++) {
                const int ix = (ox0 + o) * s - pad + kx;
                vf xv;
                if (checked)
                    xv = row_in && ix >= 0 && ix < iw ? VSET1(row[(size_t)ix * ps + c]) : VZERO();
                else
                    xv = VSET1(q[o * s * ps + c]);
#pragma GCC unroll 4
                for (int v = 0; v < VPB; v++)
                    acc[o][v] = VFMA(xv, wv[v], acc[o][v]);
            }
        }
    }
    for (int o = 0; o < np; o++)
        finish_pixel(acc[o], VPB, cv, 0, out, res, (size_t)oy * out->w + ox0 + o, cv->act);
}

/* Rows [y0, y1) of the stem (3x3, 3 input channels packed, stride 2, up to 16 outputs):
 * through the blocks' path, each block of 12 pixels set up 108 tap pointers for 27 FMAs a
 * pixel, and its 9 taps' loops ran 3 steps each (0.52 ms at 480x270, a fifth of the FMA
 * peak). Strips whose taps all fall inside the input go unchecked; the first row and column
 * (the padding) and what is left of a row after the strips check every tap. Returns 0 for
 * other shapes. */
static int conv_stem(const rvmi_conv *cv, const rvmi_inputs *in, const rvmi_view *out,
                     const rvmi_view *res, int y0, int y1)
{
    if (in->n != 1 || cv->cin != 3 || in->v[0].stride != 3 || cv->kh != 3 || cv->kw != 3 ||
        cv->stride != 2 || cv->dilation != 1 || cv->cout > RVM_COUT_BLOCK)
        return 0;
    const rvmi_view *v = &in->v[0];
    for (int oy = y0; oy < y1; oy++) {
        const int rows_in = oy * 2 - 1 >= 0 && oy * 2 + 1 < v->h;
        int ox = 0;
        if (!rows_in) {
            for (; ox + STEM_STRIP <= out->w; ox += STEM_STRIP)
                stem_strip(cv, v, out, res, oy, ox, 3, 3, 2, STEM_STRIP, 1);
        } else {
            /* the first column reads the left padding: alone, so that the strips after it
             * need no checks */
            stem_strip(cv, v, out, res, oy, 0, 3, 3, 2, 1, 1);
            ox = 1;
            /* a strip of n from ox reads input columns up to 2 (ox + n - 1) + 1 */
#define STEM_FITS(n) (ox + (n) <= out->w && 2 * (ox + (n) - 1) + 1 < v->w)
            for (; STEM_FITS(STEM_STRIP); ox += STEM_STRIP)
                stem_strip(cv, v, out, res, oy, ox, 3, 3, 2, STEM_STRIP, 0);
#if STEM_STRIP > 16
            if (STEM_FITS(16))
                stem_strip(cv, v, out, res, oy, ox, 3, 3, 2, 16, 0), ox += 16;
#endif
#if STEM_STRIP > 8
            if (STEM_FITS(8))
                stem_strip(cv, v, out, res, oy, ox, 3, 3, 2, 8, 0), ox += 8;
#endif
            if (STEM_FITS(4))
                stem_strip(cv, v, out, res, oy, ox, 3, 3, 2, 4, 0), ox += 4;
            if (STEM_FITS(2))
                stem_strip(cv, v, out, res, oy, ox, 3, 3, 2, 2, 0), ox += 2;
#undef STEM_FITS
        }
        for (; ox < out->w; ox++)
            stem_strip(cv, v, out, res, oy, ox, 3, 3, 2, 1, 1);
    }
    return 1;
}

static void conv_dense(const rvmi_conv *cv, const rvmi_inputs *in, const rvmi_view *out,
                       const rvmi_view *res, int y0, int y1, const float *zeros)
{
    if (conv_stem(cv, in, out, res, y0, y1))
        return;
    const int taps = cv->kh * cv->kw, cin = cv->cin, views = in->n;
    const int padh = (cv->kh - 1) / 2 * cv->dilation, padw = (cv->kw - 1) / 2 * cv->dilation;
    const int blocks = (cv->cout + RVM_COUT_BLOCK - 1) / RVM_COUT_BLOCK;
    const size_t wblock = (size_t)taps * cin * RVM_COUT_BLOCK;
    const int ih = in->v[0].h, iw = in->v[0].w;
    const float *ptrs[RVM_MAX_INPUTS * 49 * MR];
    size_t ld[RVM_MAX_INPUTS * 49];
    int first[RVM_MAX_INPUTS], count[RVM_MAX_INPUTS];
    /* No layer of RVM is larger; the model builder never asks for one. */
    assert(taps <= 49 && views >= 1 && views <= RVM_MAX_INPUTS);
    for (int g = 0, c = 0; g < views; c += in->v[g++].c)
        first[g] = c, count[g] = in->v[g].c;

    /* A pointwise convolution does not care where rows end: rows [y0, y1) are one row of
     * pixels, so that only the range's last block is partial, not every row's (at 30 pixels
     * a row, a third of the blocks were). Views are row-major without gaps, so the pixel
     * addresses are the same either way. */
    int row_w = out->w, in_w = iw, skip = 0;
    if (taps == 1 && cv->stride == 1) {
        row_w = in_w = (y1 - y0) * out->w;
        size_t p0 = (size_t)y0 * out->w;
        size_t p = pointwise_cout4(cv, in, out, res, p0, p0 + (size_t)row_w);
        skip = (int)(pointwise_blocks(cv, in, out, res, p, p0 + (size_t)row_w) - p0);
        skip = (int)(pointwise_tail(cv, in, out, res, p0 + (size_t)skip, p0 + (size_t)row_w) - p0);
        if (row_w - skip <= POINTWISE_PIXELS) {
            pointwise_pixels(cv, in, out, res, p0 + (size_t)skip, p0 + (size_t)row_w);
            return;
        }
        y1 = y0 + 1;
    }
    for (int oy = y0; oy < y1; oy++) {
        for (int ox0 = skip; ox0 < row_w; ox0 += MR) {
            int mcount = row_w - ox0 < MR ? row_w - ox0 : MR;
            /* Point every (view, tap, pixel) at its input, or at zeros in the padding. */
            for (int g = 0; g < views; g++)
                for (int ky = 0; ky < cv->kh; ky++) {
                    int iy = oy * cv->stride - padh + ky * cv->dilation;
                    for (int kx = 0; kx < cv->kw; kx++) {
                        const int gt = (g * cv->kh + ky) * cv->kw + kx;
                        const float **pp = ptrs + gt * MR;
                        int inside = 1;
                        for (int m = 0; m < MR; m++) {
                            int ix = (ox0 + m) * cv->stride - padw + kx * cv->dilation;
                            int ok = m < mcount && iy >= 0 && iy < ih && ix >= 0 && ix < in_w;
                            inside &= ok;
                            pp[m] = ok ? in->v[g].data + ((size_t)iy * iw + ix) * in->v[g].stride
                                       : zeros;
                        }
                        ld[gt] = inside ? (size_t)cv->stride * in->v[g].stride : 0;
                    }
                }
            for (int blk = 0; blk < blocks; blk += NB) {
                int nb = blocks - blk < NB ? blocks - blk : NB;
                vf acc[MR][NB * VPB];
                for (int m = 0; m < MR; m++)
                    for (int j = 0; j < NB * VPB; j++)
                        acc[m][j] = VZERO();
                const float *w = cv->weight + (size_t)blk * wblock;
                if (nb == NB)
                    tile(NB, ptrs, ld, views, first, count, taps, cin, w, wblock, acc);
                else
                    tile(1, ptrs, ld, views, first, count, taps, cin, w, wblock, acc);
                for (int m = 0; m < mcount; m++)
                    finish_pixel(acc[m], nb * VPB, cv, blk * RVM_COUT_BLOCK, out, res,
                                 (size_t)oy * out->w + ox0 + m, cv->act);
            }
        }
    }
}

/* nv (a constant: 4 or 1) channel vectors from k of output pixel (oy, ox), every tap checked
 * against the borders; the last vector holds n channels (n < VL only when nv is 1). */
static inline __attribute__((always_inline)) void
depthwise_pixel_vectors(const rvmi_conv *cv, const rvmi_view *in, int oy, int ox, int cpad,
                        int k, const int nv, int n, float *dst, const float *r)
{
    const int padh = (cv->kh - 1) / 2 * cv->dilation, padw = (cv->kw - 1) / 2 * cv->dilation;
    vf acc[4];
    for (int j = 0; j < nv; j++)
        acc[j] = VZERO();
    for (int ky = 0; ky < cv->kh; ky++) {
        int iy = oy * cv->stride - padh + ky * cv->dilation;
        if (iy < 0 || iy >= in->h)
            continue;
        const float *row = in->data + (size_t)iy * in->w * in->stride;
        for (int kx = 0; kx < cv->kw; kx++) {
            int ix = ox * cv->stride - padw + kx * cv->dilation;
            if (ix < 0 || ix >= in->w)
                continue;
            const float *src = row + (size_t)ix * in->stride + k;
            const float *w = cv->weight + (size_t)(ky * cv->kw + kx) * cpad + k;
            for (int j = 0; j < nv; j++) {
                vf x = nv > 1 || n == VL ? VLOAD(src + j * VL) : load_partial(src, n);
                acc[j] = VFMA(x, VLOAD(w + j * VL), acc[j]);
            }
        }
    }
    for (int j = 0; j < nv; j++)
        finish(acc[j], cv->bias + k + j * VL, r ? r + k + j * VL : NULL, dst + k + j * VL,
               j == nv - 1 ? n : VL, cv->act);
}

/* One output pixel, every tap checked against the borders, channels [kbeg, c). Four channel
 * vectors at a time when there are that many: one accumulator alone waits out the FMA latency
 * at every tap (the 960-channel 5x5 dilated layers, most of whose pixels are near a border,
 * measured 1.5x slower). */
static inline __attribute__((always_inline)) void
depthwise_pixel(const rvmi_conv *cv, const rvmi_view *in, const rvmi_view *out,
                const rvmi_view *res, int oy, int ox, int cpad, int kbeg, int c)
{
    size_t px = (size_t)oy * out->w + ox;
    float *dst = out->data + px * out->stride;
    const float *r = res ? res->data + px * res->stride : NULL;
    int k = kbeg;
    for (; k + 4 * VL <= c; k += 4 * VL)
        depthwise_pixel_vectors(cv, in, oy, ox, cpad, k, 4, VL, dst, r);
    for (; k < c; k += VL)
        depthwise_pixel_vectors(cv, in, oy, ox, cpad, k, 1, c - k < VL ? c - k : VL, dst, r);
}

/* Four neighbouring output pixels whose taps all fall inside the input across, in rows
 * [ky0, ky1) of the kernel (the others are in the padding), channels [kbeg, c): each weight
 * vector is loaded once for the four, and no tap needs a border check. Out of line, as the
 * compiler had it before depthwise_pixel was made always inline: the same code in
 * conv_depthwise as before depthwise_pixel_vectors. */
static __attribute__((noinline)) void depthwise_quad(const rvmi_conv *cv, const rvmi_view *in,
                                                     const rvmi_view *out, const rvmi_view *res,
                                                     int oy, int ox, int cpad, int ky0, int ky1,
                                                     int kbeg, int c)
{
    const int d = cv->dilation, ps = in->stride;
    const int padh = (cv->kh - 1) / 2 * d, padw = (cv->kw - 1) / 2 * d;
    const size_t step = (size_t)cv->stride * ps;
    const int iy0 = oy * cv->stride - padh, ix0 = ox * cv->stride - padw;
    size_t px = (size_t)oy * out->w + ox;
    int k = kbeg;
    /* two channel vectors at once: eight independent sums hide the FMA latency */
    for (; k + 2 * VL <= c; k += 2 * VL) {
        vf a[8];
        for (int j = 0; j < 8; j++)
            a[j] = VZERO();
        for (int ky = ky0; ky < ky1; ky++) {
            const float *rp = in->data + ((size_t)(iy0 + ky * d) * in->w + ix0) * ps + k;
            const float *wp = cv->weight + (size_t)ky * cv->kw * cpad + k;
            for (int kx = 0; kx < cv->kw; kx++) {
                vf w0 = VLOAD(wp + (size_t)kx * cpad), w1 = VLOAD(wp + (size_t)kx * cpad + VL);
                const float *q = rp + (size_t)kx * d * ps;
                for (int j = 0; j < 4; j++) {
                    a[j] = VFMA(VLOAD(q + j * step), w0, a[j]);
                    a[4 + j] = VFMA(VLOAD(q + j * step + VL), w1, a[4 + j]);
                }
            }
        }
        for (int j = 0; j < 4; j++) {
            float *dst = out->data + (px + j) * out->stride + k;
            const float *r = res ? res->data + (px + j) * res->stride + k : NULL;
            finish(a[j], cv->bias + k, r, dst, VL, cv->act);
            finish(a[4 + j], cv->bias + k + VL, r ? r + VL : NULL, dst + VL, VL, cv->act);
        }
    }
    for (; k < c; k += VL) {
        int n = c - k < VL ? c - k : VL;
        vf a0 = VZERO(), a1 = VZERO(), a2 = VZERO(), a3 = VZERO();
        for (int ky = ky0; ky < ky1; ky++) {
            const float *rp = in->data + ((size_t)(iy0 + ky * d) * in->w + ix0) * ps + k;
            const float *wp = cv->weight + (size_t)ky * cv->kw * cpad + k;
            if (n == VL) {
                for (int kx = 0; kx < cv->kw; kx++) {
                    vf w = VLOAD(wp + (size_t)kx * cpad);
                    const float *q = rp + (size_t)kx * d * ps;
                    a0 = VFMA(VLOAD(q), w, a0);
                    a1 = VFMA(VLOAD(q + step), w, a1);
                    a2 = VFMA(VLOAD(q + 2 * step), w, a2);
                    a3 = VFMA(VLOAD(q + 3 * step), w, a3);
                }
            } else {
                for (int kx = 0; kx < cv->kw; kx++) {
                    vf w = VLOAD(wp + (size_t)kx * cpad);
                    const float *q = rp + (size_t)kx * d * ps;
                    a0 = VFMA(load_partial(q, n), w, a0);
                    a1 = VFMA(load_partial(q + step, n), w, a1);
                    a2 = VFMA(load_partial(q + 2 * step, n), w, a2);
                    a3 = VFMA(load_partial(q + 3 * step, n), w, a3);
                }
            }
        }
        vf acc[4] = {a0, a1, a2, a3};
        for (int j = 0; j < 4; j++) {
            float *dst = out->data + (px + j) * out->stride + k;
            const float *r = res ? res->data + (px + j) * res->stride + k : NULL;
            finish(acc[j], cv->bias + k, r, dst, n, cv->act);
        }
    }
}

/* The kernel rows [*ky0, *ky1) of a kernel of kh rows, dilation d, whose first input row is
 * iy, that fall inside the input's h rows (the others read the padding). */
static inline void rows_inside(int iy, int kh, int d, int h, int *ky0, int *ky1)
{
    int k0 = 0, k1 = kh;
    while (k0 < k1 && iy + k0 * d < 0)
        k0++;
    while (k1 > k0 && iy + (k1 - 1) * d >= h)
        k1--;
    *ky0 = k0, *ky1 = k1;
}

/* Channels per block across a row in the wide depthwise layers (see conv_depthwise). */
#define DW_CHANNELS (4 * VL)

/* Output pixels per strip of the stride-1 depthwise kernel: its sums and a kernel row's
 * weights stay in registers (AVX-512: 16 + 5 of 32; the others: 8 + 5 of 16). */
#if VL == 16
#define DW_STRIP 16
#else
#define DW_STRIP 8
#endif
/* Channels per block of the stride-1 kernel (see depthwise_s1). */
#define DW_S1_CHANNELS 64

/* Stride 1: nn (<= DW_STRIP) neighbouring output pixels of row oy from ox0 on, channels
 * [k, k + n) (full: n == VL), kernel rows [ky0, ky1). Each input vector is loaded once and
 * added into every output of the strip that reads it (up to kw of them), instead of once per
 * output and tap: the quads' one load per FMA bound their speed (960 channels, 5x5, dilation
 * 2 at 30x17 ran at a quarter of the FMA peak). Input columns outside the picture are the
 * padding: skipped. Every output sums its taps in the same order as depthwise_pixel and the
 * reference (kernel rows, then columns, from zero), so a pixel gets the same float whichever
 * path or strip computes it. kw, d and nn are constants in each copy. */
static __attribute__((noinline)) void depthwise_finish(const vf *acc, int nn,
                                                       const rvmi_conv *cv,
                                                       const rvmi_view *out,
                                                       const rvmi_view *res, size_t px, int k,
                                                       int n)
{
    for (int o = 0; o < nn; o++) {
        float *dst = out->data + (px + o) * out->stride + k;
        const float *r = res ? res->data + (px + o) * res->stride + k : NULL;
        finish(acc[o], cv->bias + k, r, dst, n, cv->act);
    }
}

static inline __attribute__((always_inline)) void
depthwise_strip(const rvmi_conv *cv, const rvmi_view *in, const rvmi_view *out,
                const rvmi_view *res, int oy, int ox0, int cpad, int ky0, int ky1, int k, int n,
                const int kw, const int d, const int nn, const int full)
{
    const int padw = (kw - 1) / 2 * d, padh = (kw - 1) / 2 * d, iw = in->w;
    const size_t ps = (size_t)in->stride;
    /* the strip's input columns [lo, hi) (counted from its first) fall inside the picture */
    const int span = nn + (kw - 1) * d;
    const int lo = padw - ox0 > 0 ? padw - ox0 : 0;
    const int hi = iw - ox0 + padw < span ? iw - ox0 + padw : span;
    const int inside = lo == 0 && hi == span;
    vf acc[DW_STRIP];
#pragma GCC unroll 16
    for (int o = 0; o < nn; o++)
        acc[o] = VZERO();
    for (int ky = ky0; ky < ky1; ky++) {
        const float *row = in->data + ((size_t)(oy - padh + ky * d) * iw + ox0 - padw) * ps + k;
        vf w[7];
#pragma GCC unroll 7
        for (int kx = 0; kx < kw; kx++)
            w[kx] = VLOAD(cv->weight + (size_t)(ky * kw + kx) * cpad + k);
#pragma GCC unroll 32
        for (int i = 0; i < span; i++) {
            if (!inside && (i < lo || i >= hi))
                continue;
            const float *q = row + (size_t)i * ps;
            vf x = full ? VLOAD(q) : load_partial(q, n);
#pragma GCC unroll 7
            for (int kx = 0; kx < kw; kx++) {
                const int o = i - kx * d;
                if (o >= 0 && o < nn)
                    acc[o] = VFMA(x, w[kx], acc[o]);
            }
        }
    }
    /* the epilogue (bias, activation, store) out of line: inlined in every copy of the strip,
     * its switch over the activations made the code too large for the instruction cache */
    depthwise_finish(acc, nn, cv, out, res, (size_t)oy * out->w + ox0, k, full ? VL : n);
}

/* Row oy of a stride-1 depthwise convolution (kernel kw x kw, dilation d: constants), one
 * channel vector across the row and then the next, so that the vector's input rows stay in
 * L1: strips of DW_STRIP pixels, the rest of the row in halving strips. */
static inline __attribute__((always_inline)) void
depthwise_row_s1(const rvmi_conv *cv, const rvmi_view *in, const rvmi_view *out,
                 const rvmi_view *res, int oy, int cpad, int ky0, int ky1, int kb, int c,
                 const int kw, const int d)
{
    const int w = out->w;
    for (int k = kb; k < c; k += VL) {
        const int n = c - k < VL ? c - k : VL;
        int ox = 0;
#define DW_STRIPS(full)                                                                          \
        for (; ox + DW_STRIP <= w; ox += DW_STRIP)                                               \
            depthwise_strip(cv, in, out, res, oy, ox, cpad, ky0, ky1, k, n, kw, d, DW_STRIP,    \
                            full);                                                               \
        for (int nn = DW_STRIP / 2; nn >= 1; nn /= 2)                                            \
            if (w - ox >= nn) {                                                                  \
                switch (nn) {                                                                    \
                case 8:                                                                          \
                    depthwise_strip(cv, in, out, res, oy, ox, cpad, ky0, ky1, k, n, kw, d, 8,    \
                                    full);                                                       \
                    break;                                                                       \
                case 4:                                                                          \
                    depthwise_strip(cv, in, out, res, oy, ox, cpad, ky0, ky1, k, n, kw, d, 4,    \
                                    full);                                                       \
                    break;                                                                       \
                case 2:                                                                          \
                    depthwise_strip(cv, in, out, res, oy, ox, cpad, ky0, ky1, k, n, kw, d, 2,    \
                                    full);                                                       \
                    break;                                                                       \
                default:                                                                         \
                    depthwise_strip(cv, in, out, res, oy, ox, cpad, ky0, ky1, k, n, kw, d, 1,    \
                                    full);                                                       \
                }                                                                                \
                ox += nn;                                                                        \
            }
        /* rows of 30, 60 and 120 pixels (the 1080p maps at ratio 0.25) in strips of 15, not
         * of 16 then 8, 4 and 2: fewer strips, each of which reads (kw - 1) * d columns
         * beyond its pixels again and loads the weights again */
        if (DW_STRIP == 16 && w % 16 != 0 && w % 15 == 0) {
            for (; ox < w; ox += 15) {
                if (n == VL)
                    depthwise_strip(cv, in, out, res, oy, ox, cpad, ky0, ky1, k, n, kw, d, 15, 1);
                else
                    depthwise_strip(cv, in, out, res, oy, ox, cpad, ky0, ky1, k, n, kw, d, 15, 0);
            }
            continue;
        }
        if (n == VL) {
            DW_STRIPS(1)
        } else {
            DW_STRIPS(0)
        }
#undef DW_STRIPS
    }
}

/* Rows [y0, y1) of a stride-1 depthwise convolution, a block of channels at a time over all
 * the rows, so that the block's input rows are read into L2 once: row after row over all the
 * channels, the kernel's rows (9 input rows for 5x5 with dilation 2) did not fit in L2 with
 * 960 channels and came from L3 again for every output row. */
static inline __attribute__((always_inline)) void
depthwise_s1(const rvmi_conv *cv, const rvmi_view *in, const rvmi_view *out, const rvmi_view *res,
             int y0, int y1, const int kw, const int d)
{
    const int cpad = rvmi_depthwise_wstride(cv);
    const int padh = (kw - 1) / 2 * d, block = DW_S1_CHANNELS;
    for (int kb = 0; kb < cv->cout; kb += block) {
        const int kend = kb + block < cv->cout ? kb + block : cv->cout;
        for (int oy = y0; oy < y1; oy++) {
            int ky0, ky1;
            rows_inside(oy - padh, kw, d, in->h, &ky0, &ky1);
            depthwise_row_s1(cv, in, out, res, oy, cpad, ky0, ky1, kb, kend, kw, d);
        }
    }
}

/* The stride-1 shapes of the networks (3x3 and 5x5, dilation 1 and 2), each a copy with its
 * constants; 0 for others, and for 3x3 undilated with over 128 channels: there the quads
 * measured 4-10% faster (200-672 channels at 30x17: few loads to save with three taps
 * across, and a 30-pixel row leaves strips of 8, 4 and 2), elsewhere the strips 6-47%
 * (16 channels at 240x135 and at 480x6, the refiner's box: 0.20 -> 0.12 and 0.017 -> 0.009
 * ms; 120 channels 5x5 at 60x34 0.146 -> 0.105; 960 channels 5x5 dilation 2 at 30x17
 * 0.265 -> 0.236; one thread, best of 2000). */
static int depthwise_rows_s1(const rvmi_conv *cv, const rvmi_view *in, const rvmi_view *out,
                             const rvmi_view *res, int y0, int y1)
{
    if (cv->stride != 1 || cv->kh != cv->kw || (cv->kw == 3 && cv->dilation == 1 && cv->cout > 128))
        return 0;
    switch (cv->kw * 10 + cv->dilation) {
    case 31:
        depthwise_s1(cv, in, out, res, y0, y1, 3, 1);
        return 1;
    case 32:
        depthwise_s1(cv, in, out, res, y0, y1, 3, 2);
        return 1;
    case 51:
        depthwise_s1(cv, in, out, res, y0, y1, 5, 1);
        return 1;
    case 52:
        depthwise_s1(cv, in, out, res, y0, y1, 5, 2);
        return 1;
    }
    return 0;
}

static void conv_depthwise(const rvmi_conv *cv, const rvmi_view *in, const rvmi_view *out,
                           const rvmi_view *res, int y0, int y1)
{
    if (depthwise_rows_s1(cv, in, out, res, y0, y1))
        return;
    const int cpad = rvmi_depthwise_wstride(cv);
    const int s = cv->stride, d = cv->dilation;
    const int padh = (cv->kh - 1) / 2 * d, padw = (cv->kw - 1) / 2 * d;
    /* output columns [x_lo, x_hi) whose taps are all inside the input across */
    int x_lo = (padw + s - 1) / s;
    int x_hi = in->w - 1 - (cv->kw - 1) * d + padw >= 0 ? (in->w - 1 - (cv->kw - 1) * d + padw) / s + 1 : 0;
    if (x_hi > out->w)
        x_hi = out->w;
    for (int oy = y0; oy < y1; oy++) {
        /* kernel rows [ky0, ky1) fall inside the input: near the top and bottom (most rows of
         * the small dilated layers) the quads still serve, over fewer kernel rows */
        int ky0, ky1;
        rows_inside(oy * s - padh, cv->kh, d, in->h, &ky0, &ky1);
        /* Many channels: a block of them across the whole row, then the next, so that the
         * block's input rows stay in L1 from one output pixel to the next (960 channels:
         * 0.74 -> 0.59 ms at 30x17). A few hundred channels fit as they are. */
        const int block = cv->cout > 256 ? DW_CHANNELS : cv->cout;
        for (int kb = 0; kb < cv->cout; kb += block) {
            int kend = kb + block < cv->cout ? kb + block : cv->cout;
            int ox = 0;
            while (ox < out->w) {
                if (ox >= x_lo && ox + 4 <= x_hi) {
                    depthwise_quad(cv, in, out, res, oy, ox, cpad, ky0, ky1, kb, kend);
                    ox += 4;
                } else {
                    depthwise_pixel(cv, in, out, res, oy, ox, cpad, kb, kend);
                    ox++;
                }
            }
        }
    }
}

/* ---- Winograd F(4x4, 3x3) ---- */

/* B^T d for six vectors (one column or row of a 6x6 input tile). */
static inline void input_transform6(const vf d[6], vf r[6])
{
    vf four = VSET1(4.f), five = VSET1(5.f), two = VSET1(2.f);
    r[0] = VFMA(four, d[0], VFMA(VSET1(-5.f), d[2], d[4]));
    vf a = VFMA(VSET1(-4.f), VADD(d[1], d[2]), VADD(d[3], d[4])); /* -4d1 - 4d2 + d3 + d4 */
    vf b = VFMA(four, VSUB(d[1], d[2]), VSUB(d[4], d[3]));        /* 4d1 - 4d2 - d3 + d4 */
    r[1] = a;
    r[2] = b;
    r[3] = VFMA(two, VSUB(d[3], d[1]), VSUB(d[4], d[2])); /* -2d1 - d2 + 2d3 + d4 */
    r[4] = VFMA(two, VSUB(d[1], d[3]), VSUB(d[4], d[2])); /* 2d1 - d2 - 2d3 + d4 */
    r[5] = VFMA(four, d[1], VFMA(VSUB(VZERO(), five), d[3], d[5]));
}

/* A^T m for six vectors: four outputs. */
static inline void output_transform6(const vf m[6], vf r[4])
{
    vf s12 = VADD(m[1], m[2]), d12 = VSUB(m[1], m[2]);
    vf s34 = VADD(m[3], m[4]), d34 = VSUB(m[3], m[4]);
    r[0] = VADD(VADD(m[0], s12), s34);
    r[1] = VFMA(VSET1(2.f), d34, d12);
    r[2] = VFMA(VSET1(4.f), s34, s12);
    r[3] = VADD(VFMA(VSET1(8.f), d34, d12), m[5]);
}

/* Input tiles transformed per run of this many neighbours: their 6x6 windows overlap by two
 * columns, whose vertical transforms are done once for both. */
#define TILE_RUN 6

/* Where one vector of a transformed tile's channels comes from: lanes [lane, lane + cnt) of
 * segment s are channels [k, k + cnt) of one input view (base: the view's data at channel k).
 * A vector holds the tail of one view and the head of the next, so that a concatenation of
 * views whose channel counts are off the vector width is transformed in ceil(cin / VL)
 * vectors, not one or more per view (40 + 16 + 3 channels: 4 vectors, not 5; each lane's
 * sums are the same). */
typedef struct {
    int n;
    struct {
        const float *base;
        size_t ps;
        int lane, cnt;
    } seg[RVM_MAX_INPUTS];
} vec_src;

/* acc with lanes [lane, lane + n) loaded from p[0 .. n) (the others kept). Masked-off lanes
 * are not read (AVX-512 and AVX2 masked loads do not fault on them). */
static inline vf load_lanes(vf acc, const float *p, int lane, int n)
{
#if VL == 16
    return _mm512_mask_loadu_ps(acc, (__mmask16)(((1u << n) - 1) << lane), p - lane);
#elif VL == 8
    __m256i m = _mm256_andnot_si256(PARTIAL_MASK(lane), PARTIAL_MASK(lane + n));
    return _mm256_or_ps(acc, _mm256_maskload_ps(p - lane, m));
#else
    float tmp[VL];
    VSTORE(tmp, acc);
    memcpy(tmp + lane, p, (size_t)n * sizeof(float));
    return VLOAD(tmp);
#endif
}

/* Pixel x of row i of the pieces of a vector (see vec_src). */
static inline vf load_pieces(const float *const rows[RVM_MAX_INPUTS][6], int i, int x,
                             const size_t *ps, const int *lane, const int *cnt, int ns)
{
    vf d = VZERO();
    for (int s = 0; s < ns; s++)
        d = load_lanes(d, rows[s][i] + (size_t)x * ps[s], lane[s], cnt[s]);
    return d;
}

/* V = B^T d B for nt (<= TILE_RUN) neighbouring 6x6 input tiles whose first starts at (iy0,
 * ix0), one vector of channels (src, views h x w): point p of tile t goes to dst[t *
 * tile_stride + p * point_stride]. Pixels outside the views are zero (the convolution's
 * padding). First the vertical transform of each of the run's 4 * nt + 2 columns, then the
 * horizontal one of each tile's six. `kind` is a constant in each copy: 0 one view's whole
 * vector (no masked loads), 1 its first n < VL lanes, 2 pieces of views (vec_src). Every
 * store is a whole vector (lanes past the channels hold zeros): a masked store costs about
 * ten plain ones on AMD Zen, and dst has room for it (see conv_winograd). */
static inline __attribute__((always_inline)) void
input_run_part(const vec_src *src, int h, int w, int iy0, int ix0, int nt, float *dst,
               size_t tile_stride, size_t point_stride, const int kind)
{
    /* the sources in locals: the intrinsics' stores may alias anything, so the compiler
     * would otherwise load them again (and multiply the stride again) for every input vector */
    const int ns = kind == 2 ? src->n : 1;
    size_t ps[RVM_MAX_INPUTS];
    int lane[RVM_MAX_INPUTS], cnt[RVM_MAX_INPUTS];
    const float *rows[RVM_MAX_INPUTS][6];
    int all_rows = 1;
    for (int s = 0; s < ns; s++)
        ps[s] = src->seg[s].ps, lane[s] = src->seg[s].lane, cnt[s] = src->seg[s].cnt;
    for (int i = 0; i < 6; i++) {
        int iy = iy0 + i;
        int in = iy >= 0 && iy < h;
        all_rows &= in;
        for (int s = 0; s < ns; s++)
            rows[s][i] = in ? src->seg[s].base + (size_t)iy * w * ps[s] : NULL;
    }
    vf col[4 * TILE_RUN + 2][6];
    const int ncol = 4 * nt + 2;
    /* columns [c_lo, c_hi) of the run fall inside the views */
    const int c_lo = ix0 < 0 ? (-ix0 < ncol ? -ix0 : ncol) : 0;
    const int c_hi = w - ix0 < ncol ? (w - ix0 > c_lo ? w - ix0 : c_lo) : ncol;
    for (int c = 0; c < c_lo; c++)
        for (int i = 0; i < 6; i++)
            col[c][i] = VZERO();
    for (int c = c_hi; c < ncol; c++)
        for (int i = 0; i < 6; i++)
            col[c][i] = VZERO();
#define LOAD_PIXEL(i)                                                                           \
    (kind == 0   ? VLOAD(rows[0][i] + (size_t)(ix0 + c) * ps[0])                                \
     : kind == 1 ? load_partial(rows[0][i] + (size_t)(ix0 + c) * ps[0], cnt[0])                 \
                 : load_pieces(rows, i, ix0 + c, ps, lane, cnt, ns))
    if (all_rows) {
        for (int c = c_lo; c < c_hi; c++) {
            vf d[6];
            for (int i = 0; i < 6; i++)
                d[i] = LOAD_PIXEL(i);
            input_transform6(d, col[c]);
        }
    } else {
        for (int c = c_lo; c < c_hi; c++) {
            vf d[6];
            for (int i = 0; i < 6; i++)
                d[i] = !rows[0][i] ? VZERO() : LOAD_PIXEL(i);
            input_transform6(d, col[c]);
        }
    }
#undef LOAD_PIXEL
    for (int t = 0; t < nt; t++) {
        for (int i = 0; i < 6; i++) {
            vf d[6], r[6];
            for (int j = 0; j < 6; j++)
                d[j] = col[4 * t + j][i];
            input_transform6(d, r);
            float *q = dst + (size_t)t * tile_stride + (size_t)(i * 6) * point_stride;
            for (int j = 0; j < 6; j++)
                VSTORE(q + (size_t)j * point_stride, r[j]);
        }
    }
}

/* Every channel of the concatenation `in` (views of one size) for nt tiles from (iy0, ix0)
 * on: channel k of point p of tile t goes to dst[t * tile_stride + p * point_stride + k]. */
static void input_tiles(const rvmi_inputs *in, int iy0, int ix0, int nt, float *dst,
                        size_t tile_stride, size_t point_stride)
{
    const int h = in->v[0].h, w = in->v[0].w;
    for (int t0 = 0; t0 < nt; t0 += TILE_RUN) {
        const int run = nt - t0 < TILE_RUN ? nt - t0 : TILE_RUN, x = ix0 + 4 * t0;
        float *d = dst + (size_t)t0 * tile_stride;
        vec_src src = {0};
        int c0 = 0, lane = 0; /* the vector being filled: channels from c0, lanes [0, lane) */
        for (int g = 0; g < in->n; g++) {
            const rvmi_view *v = &in->v[g];
            int k = 0;
            if (lane == 0) /* whole vectors of this view alone */
                for (; k + VL <= v->c; k += VL, c0 += VL) {
                    vec_src one = {1, {{v->data + k, (size_t)v->stride, 0, VL}}};
                    input_run_part(&one, h, w, iy0, x, run, d + c0, tile_stride, point_stride, 0);
                }
            while (k < v->c) {
                const int n = v->c - k < VL - lane ? v->c - k : VL - lane;
                src.seg[src.n].base = v->data + k, src.seg[src.n].ps = (size_t)v->stride;
                src.seg[src.n].lane = lane, src.seg[src.n].cnt = n;
                src.n++, k += n, lane += n;
                if (lane == VL) {
                    input_run_part(&src, h, w, iy0, x, run, d + c0, tile_stride, point_stride, 2);
                    src.n = 0, lane = 0, c0 += VL;
                }
            }
        }
        if (src.n == 1) /* a view's first channels alone (lane 0) */
            input_run_part(&src, h, w, iy0, x, run, d + c0, tile_stride, point_stride, 1);
        else if (src.n)
            input_run_part(&src, h, w, iy0, x, run, d + c0, tile_stride, point_stride, 2);
    }
}

/* Y = A^T M A for the nt tiles of a chunk starting at tile (ty, tx0), then bias, residual and
 * activation: a constant in each copy (see output_tiles), as in pointwise_blocks. */
static inline __attribute__((always_inline)) void
output_tiles_act(const rvmi_conv *cv, const float *M, int cpad, int nt, int ty, int tx0,
                 const rvmi_view *out, const rvmi_view *res, const rvmi_act act)
{
    /* fields in locals: the intrinsics' stores may alias anything (see input_run_part) */
    const int oh = out->h, ow = out->w, cout = cv->cout;
    const size_t os = (size_t)out->stride, rs = res ? (size_t)res->stride : 0;
    float *const odata = out->data;
    const float *const rdata = res ? res->data : NULL, *const bias = cv->bias;
    const size_t pstride = (size_t)RVM_WINOGRAD_CHUNK * cpad; /* between transform points */
    const int oy0 = 4 * ty, rows = oh - oy0 < 4 ? oh - oy0 : 4;
    for (int t = 0; t < nt; t++) {
        const int ox0 = 4 * (tx0 + t), cols = ow - ox0 < 4 ? ow - ox0 : 4;
        const float *Mt = M + (size_t)t * cpad;
        for (int k = 0; k < cout; k += VL) {
            const int n = cout - k < VL ? cout - k : VL;
            vf tmp[4][6];
            for (int j = 0; j < 6; j++) {
                vf m[6], r[4];
                for (int i = 0; i < 6; i++)
                    m[i] = VLOAD(Mt + (size_t)(i * 6 + j) * pstride + k);
                output_transform6(m, r);
                for (int i = 0; i < 4; i++)
                    tmp[i][j] = r[i];
            }
            if (rows == 4 && cols == 4 && n == VL && !rdata) {
                /* a whole tile of whole vectors, the usual case: no bounds, no residual */
                const vf bv = VLOAD(bias + k);
                for (int i = 0; i < 4; i++) {
                    vf r[4];
                    output_transform6(tmp[i], r);
                    float *o = odata + ((size_t)(oy0 + i) * ow + ox0) * os + k;
                    for (int j = 0; j < 4; j++) {
                        VSTORE(o + (size_t)j * os, activate(act, VADD(r[j], bv)));
                        if (!vector_act(act))
                            for (int c = 0; c < VL; c++)
                                o[(size_t)j * os + c] = rvmi_activate(act, o[(size_t)j * os + c]);
                    }
                }
                continue;
            }
            for (int i = 0; i < rows; i++) {
                vf r[4];
                output_transform6(tmp[i], r);
                const size_t px = (size_t)(oy0 + i) * ow + ox0;
                for (int j = 0; j < cols; j++) {
                    const float *rp = rdata ? rdata + (px + j) * rs + k : NULL;
                    finish(r[j], bias + k, rp, odata + (px + j) * os + k, n, act);
                }
            }
        }
    }
}

static void output_tiles(const rvmi_conv *cv, const float *M, int cpad, int nt, int ty, int tx0,
                         const rvmi_view *out, const rvmi_view *res)
{
    switch (cv->act) {
#define ACT_CASE(a)                                                                             \
    case a:                                                                                     \
        output_tiles_act(cv, M, cpad, nt, ty, tx0, out, res, a);                                \
        break;
        EACH_ACT(ACT_CASE)
#undef ACT_CASE
    }
}

/* Mp[t][0..cpad) = sum over i < cin of Vp[t * ldv + i] * U[i][..] for the mr tiles from t0,
 * U packed as a 1x1 convolution's weights: the Winograd products without conv_dense's set-up,
 * bias and activation (with 16 input channels, those were about a third of each product's
 * time). */
static inline __attribute__((always_inline)) void
products_block(const int mr, const float *Vp, size_t ldv, const float *U, int cin, int cpad,
               float *Mp, int t0)
{
    const int blocks = cpad / RVM_COUT_BLOCK;
    const size_t wblock = (size_t)cin * RVM_COUT_BLOCK;
    for (int blk = 0; blk < blocks; blk += NB) {
        const int nb = blocks - blk < NB ? blocks - blk : NB;
        vf acc[MR][NB * VPB];
        for (int m = 0; m < mr; m++)
            for (int j = 0; j < NB * VPB; j++)
                acc[m][j] = VZERO();
        const float *x = Vp + (size_t)t0 * ldv, *w = U + (size_t)blk * wblock;
        if (nb == NB)
            tile_strided_mr(mr, NB, x, ldv, cin, w, wblock, acc);
        else
            tile_strided_mr(mr, 1, x, ldv, cin, w, wblock, acc);
        for (int m = 0; m < mr; m++) {
            float *dst = Mp + (size_t)(t0 + m) * cpad + (size_t)blk * RVM_COUT_BLOCK;
            for (int j = 0; j < nb * VPB; j++)
                VSTORE(dst + j * VL, acc[m][j]);
        }
    }
}

/* The tiles the products compute for a chunk's `used` tiles: whole blocks of MR, then the
 * rest rounded up to MT, or to one block of MR / 2 (below). */
static inline int product_tiles(int used)
{
    const int nblk = (used + MT - 1) / MT * MT;
#if MR % 2 == 0 && MR / 2 > MT
    const int full = nblk / MR * MR;
    if (used - full > MT && used - full <= MR / 2)
        return full + MR / 2;
#endif
    return nblk;
}

/* The products of nt tiles (product_tiles). The rest after the blocks of MR, when more than
 * MT tiles, in one block of MR / 2 or 2 MT: blocks of MT keep too few sums in flight and each
 * reloads the weights (AVX-512, one thread: the rows of 30 tiles, 120x68, end in 6, one block
 * instead of two of 4: decode 2's 3x3 convolution 1.06 -> 0.95 ms; the rows of 8 tiles,
 * 30x17, in one block: decode 4's GRU ih 0.246 -> 0.21 ms). The sums are the same. */
static __attribute__((noinline)) void products(const float *Vp, size_t ldv, const float *U,
                                               int cin, int cpad, float *Mp, int nt)
{
    int t0 = 0;
    for (; t0 + MR <= nt; t0 += MR)
        products_block(MR, Vp, ldv, U, cin, cpad, Mp, t0);
#if MR % 2 == 0 && MR / 2 > MT
    if (nt - t0 == MR / 2) {
        products_block(MR / 2, Vp, ldv, U, cin, cpad, Mp, t0);
        return;
    }
    if (nt - t0 == 2 * MT) {
        products_block(2 * MT, Vp, ldv, U, cin, cpad, Mp, t0);
        return;
    }
#endif
    for (; t0 < nt; t0 += MT)
        products_block(MT, Vp, ldv, U, cin, cpad, Mp, t0);
}

static void conv_winograd(const rvmi_conv *cv, const rvmi_inputs *in, const rvmi_view *out,
                          const rvmi_view *res, int ty0, int ty1, const float *zeros,
                          float *scratch)
{
    const int cin = cv->cin, cout = cv->cout;
    const int cpad = (cout + RVM_COUT_BLOCK - 1) / RVM_COUT_BLOCK * RVM_COUT_BLOCK;
    const int tiles_x = (out->w + 3) / 4;
    const size_t pack = (size_t)cpad * cin; /* floats per transform point's weights */
    /* A tile's channels are ldv floats apart in V: the concatenation's channels in whole
     * vectors (input_tiles), the last one's lanes past cin (zeros) in the slack. */
    _Static_assert(VL - 1 + 15 <= RVM_WINOGRAD_SLACK, "the slack holds a vector's spill, aligned");
    _Static_assert(RVM_WINOGRAD_CHUNK % MR == 0 && MR % MT == 0, "a chunk holds whole blocks");
    (void)zeros; /* padding is read as zeros by the transform itself */
    /* the end of the last whole vector, rounded up to a cache line */
    const int end = (cin + VL - 1) / VL * VL;
    size_t ldv = (size_t)(end + 15) / 16 * 16;
    if (ldv % 128 == 0) /* 512-byte strides alias in L1: 40+67 channels measured 30% slower */
        ldv += 16;
    assert(ldv <= (size_t)cin + RVM_WINOGRAD_SLACK);
    float *V = scratch;                                           /* [36][chunk][ldv] */
    float *M = scratch + (size_t)36 * RVM_WINOGRAD_CHUNK * ldv;   /* [36][chunk][cpad] */
    for (int ty = ty0; ty < ty1; ty++) {
        for (int tx0 = 0; tx0 < tiles_x; tx0 += RVM_WINOGRAD_CHUNK) {
            int nt = tiles_x - tx0 < RVM_WINOGRAD_CHUNK ? tiles_x - tx0 : RVM_WINOGRAD_CHUNK;
            /* A chunk's tiles rounded up to whole blocks (of MT, or MR / 2: product_tiles;
             * the chunk is a multiple of MR and MT): the tiles past the picture's edge
             * transform to zeros, their products go unused, and every product takes a fast
             * path (the last blocks of the small maps went through conv_dense's set-up, 36
             * times per chunk). Not to a whole block of MR: the rows of 8 and 15 tiles (30x17
             * and 60x34) computed 12 and 24. */
            const int nblk = product_tiles(nt);
            /* V = B^T d B for every tile and channel of every input view */
            input_tiles(in, 4 * ty - 1, 4 * tx0 - 1, nblk, V, ldv, (size_t)RVM_WINOGRAD_CHUNK * ldv);
            /* M[p] = V[p] U[p]: 36 independent products, each a 1x1 convolution over tiles */
            for (int p = 0; p < 36; p++)
                products(V + (size_t)p * RVM_WINOGRAD_CHUNK * ldv, ldv, cv->winograd + p * pack,
                         cin, cpad, M + (size_t)p * RVM_WINOGRAD_CHUNK * cpad, nblk);
            output_tiles(cv, M, cpad, nt, ty, tx0, out, res);
        }
    }
}

#if VL == 16
/* The deep guided filter's per-pixel layers (24 -> 16, 16 -> 16, 16 -> 4 at the internal
 * size: 130,000 pixels a 1080p frame), 16 pixels at a time. Through conv_dense, layer by layer
 * over a band, each 16-channel result went to memory and back, and the 4-output layer used a
 * quarter of each vector; they ran at a third of the FMA peak (3.5 ms a frame, one thread).
 * Here the first layer runs as conv_dense runs it (a pixel's 16 outputs in a vector, each
 * input channel broadcast), its 16 pixels' results are transposed in registers so that a
 * vector holds one channel of the 16 pixels, and the next two layers take each weight as a
 * broadcast scalar against those vectors. Every output sums its inputs in the same order as
 * conv_dense (input channels in turn, from zero, then the bias, then the activation), so the
 * floats are the same. */

/* r[i][j] -> r[j][i] for a 16 x 16 block of floats. */
static inline __attribute__((always_inline)) void transpose16(__m512 r[16])
{
    __m512 t[16], u[16];
    for (int k = 0; k < 8; k++) {
        t[2 * k] = _mm512_unpacklo_ps(r[2 * k], r[2 * k + 1]);
        t[2 * k + 1] = _mm512_unpackhi_ps(r[2 * k], r[2 * k + 1]);
    }
    /* u[4q + k], 128-bit lane j: rows 4q .. 4q + 3 of column 4j + k */
    for (int q = 0; q < 4; q++) {
        u[4 * q] = _mm512_shuffle_ps(t[4 * q], t[4 * q + 2], 0x44);
        u[4 * q + 1] = _mm512_shuffle_ps(t[4 * q], t[4 * q + 2], 0xee);
        u[4 * q + 2] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0x44);
        u[4 * q + 3] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0xee);
    }
    /* column 4j + k: lane j of u[k], u[4 + k], u[8 + k], u[12 + k] */
    for (int k = 0; k < 4; k++) {
        __m512 v0 = _mm512_shuffle_f32x4(u[k], u[4 + k], 0x44);
        __m512 v1 = _mm512_shuffle_f32x4(u[k], u[4 + k], 0xee);
        __m512 v2 = _mm512_shuffle_f32x4(u[8 + k], u[12 + k], 0x44);
        __m512 v3 = _mm512_shuffle_f32x4(u[8 + k], u[12 + k], 0xee);
        r[k] = _mm512_shuffle_f32x4(v0, v2, 0x88);
        r[4 + k] = _mm512_shuffle_f32x4(v0, v2, 0xdd);
        r[8 + k] = _mm512_shuffle_f32x4(v1, v3, 0x88);
        r[12 + k] = _mm512_shuffle_f32x4(v1, v3, 0xdd);
    }
}

/* Pixels [px, px + 16) (see dgf_mlp); the activations act0..act2 are constants in the
 * model's copy (switched on for every vector, they cost a fifth of the time). */
static inline __attribute__((always_inline)) void
dgf_mlp16(const rvmi_conv cv[3], const rvmi_inputs *in, const rvmi_view *out, size_t px,
          const rvmi_act act0, const rvmi_act act1, const rvmi_act act2)
{
    /* the first layer: conv_dense's register tile (pointwise_block), 12 pixels then 4 */
    vf acc[MR][NB * VPB], acc4[MR][NB * VPB];
    for (int m = 0; m < MR; m++)
        acc[m][0] = acc4[m][0] = VZERO();
    for (int g = 0, c0 = 0; g < in->n; c0 += in->v[g++].c) {
        const rvmi_view *v = &in->v[g];
        const float *x = v->data + px * v->stride;
        const float *wt = cv[0].weight + (size_t)c0 * RVM_COUT_BLOCK;
        const size_t wblock = (size_t)cv[0].cin * RVM_COUT_BLOCK;
        tile_strided_mr(MR, 1, x, v->stride, v->c, wt, wblock, acc);
        tile_strided_mr(16 - MR, 1, x + (size_t)MR * v->stride, v->stride, v->c, wt, wblock, acc4);
    }
    __m512 h[16];
    const __m512 b0 = _mm512_loadu_ps(cv[0].bias);
    for (int m = 0; m < 16; m++)
        h[m] = activate(act0, _mm512_add_ps(m < MR ? acc[m][0] : acc4[m - MR][0], b0));
    transpose16(h); /* h[c]: channel c of the 16 pixels */
    /* the second layer in two halves of 8 outputs, each half's outputs then taken by the third
     * layer in turn (its sums run over the second layer's outputs in order) */
    const float *w1 = cv[1].weight, *w2 = cv[2].weight;
    __m512 a[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                   _mm512_setzero_ps()};
    for (int half = 0; half < 16; half += 8) {
        __m512 h2[8];
        for (int o = 0; o < 8; o++)
            h2[o] = _mm512_setzero_ps();
        for (int i = 0; i < 16; i++)
            for (int o = 0; o < 8; o++)
                h2[o] = _mm512_fmadd_ps(h[i], _mm512_set1_ps(w1[i * RVM_COUT_BLOCK + half + o]),
                                        h2[o]);
        for (int o = 0; o < 8; o++)
            h2[o] = activate(act1, _mm512_add_ps(h2[o], _mm512_set1_ps(cv[1].bias[half + o])));
        for (int i = 0; i < 8; i++)
            for (int o = 0; o < 4; o++)
                a[o] = _mm512_fmadd_ps(h2[i],
                                       _mm512_set1_ps(w2[(half + i) * RVM_COUT_BLOCK + o]), a[o]);
    }
    for (int o = 0; o < 4; o++)
        a[o] = activate(act2, _mm512_add_ps(a[o], _mm512_set1_ps(cv[2].bias[o])));
    /* back to pixels: 128-bit lane j of q[k] is pixel 4j + k's 4 channels */
    const __m512 lo01 = _mm512_unpacklo_ps(a[0], a[1]), hi01 = _mm512_unpackhi_ps(a[0], a[1]);
    const __m512 lo23 = _mm512_unpacklo_ps(a[2], a[3]), hi23 = _mm512_unpackhi_ps(a[2], a[3]);
    const __m512 q[4] = {_mm512_shuffle_ps(lo01, lo23, 0x44), _mm512_shuffle_ps(lo01, lo23, 0xee),
                         _mm512_shuffle_ps(hi01, hi23, 0x44), _mm512_shuffle_ps(hi01, hi23, 0xee)};
    float *dst = out->data + px * out->stride;
    const size_t os = (size_t)out->stride;
#define STORE_LANE(j)                                                                           \
    for (int k = 0; k < 4; k++)                                                                 \
        _mm_storeu_ps(dst + (size_t)(4 * (j) + k) * os, _mm512_extractf32x4_ps(q[k], j));
    STORE_LANE(0)
    STORE_LANE(1)
    STORE_LANE(2)
    STORE_LANE(3)
#undef STORE_LANE
}

static int dgf_mlp(const rvmi_conv cv[3], const rvmi_inputs *in, const rvmi_view *out, int y0,
                   int y1, const float *zeros)
{
    for (int l = 0; l < 3; l++)
        if (cv[l].kh != 1 || cv[l].kw != 1 || cv[l].stride != 1 || cv[l].depthwise)
            return 0;
    if (cv[0].cout != 16 || cv[1].cin != 16 || cv[1].cout != 16 || cv[2].cin != 16 ||
        cv[2].cout != 4 || out->c != 4)
        return 0;
    const size_t p1 = (size_t)y1 * out->w;
    size_t px = (size_t)y0 * out->w;
    if (cv[0].act == RVM_ACT_RELU && cv[1].act == RVM_ACT_RELU && cv[2].act == RVM_ACT_NONE)
        for (; px + 16 <= p1; px += 16)
            dgf_mlp16(cv, in, out, px, RVM_ACT_RELU, RVM_ACT_RELU, RVM_ACT_NONE);
    else
        for (; px + 16 <= p1; px += 16)
            dgf_mlp16(cv, in, out, px, cv[0].act, cv[1].act, cv[2].act);
    if (px == p1)
        return 1;
    /* the last pixels, fewer than 16: conv_dense layer by layer, as one row */
    const int n = (int)(p1 - px);
    _Alignas(64) float t1[16 * 16], t2[16 * 16];
    rvmi_inputs part = *in;
    for (int g = 0; g < part.n; g++)
        part.v[g].data += px * part.v[g].stride, part.v[g].h = 1, part.v[g].w = n;
    rvmi_view v1 = {t1, 1, n, 16, 16}, v2 = {t2, 1, n, 16, 16}, o = *out;
    o.data += px * out->stride, o.h = 1, o.w = n;
    rvmi_inputs i1 = rvmi_inputs_of(&v1), i2 = rvmi_inputs_of(&v2);
    conv_dense(&cv[0], &part, &v1, NULL, 0, 1, zeros);
    conv_dense(&cv[1], &i1, &v2, NULL, 0, 1, zeros);
    conv_dense(&cv[2], &i2, &o, NULL, 0, 1, zeros);
    return 1;
}
#endif

/* Stores one channel plane of a row (values in 0..1) as the output type, `step` elements apart
 * (1: a plane, 3 or 4: a channel of interleaved pixels). */
static void store_channel(rvm_pixel_type type, void *dst, int step, const float *restrict v,
                          int width)
{
    if (type == RVM_PIXEL_U8) {
        uint8_t *restrict d = dst;
        for (int x = 0; x < width; x++)
            d[step * x] = (uint8_t)(v[x] * 255.f + 0.5f);
    } else if (type == RVM_PIXEL_U16) {
        uint16_t *restrict d = dst;
        for (int x = 0; x < width; x++)
            d[step * x] = (uint16_t)(v[x] * 65535.f + 0.5f);
    } else if (step == 1) {
        memcpy(dst, v, (size_t)width * sizeof(float));
    } else {
        float *restrict d = dst;
        for (int x = 0; x < width; x++)
            d[step * x] = v[x];
    }
}

/* Interleaved 8-bit RGB, the common output: 16 pixels at a time, each channel converted as
 * store_channel does, then the three 16-byte vectors interleaved by byte shuffles. The plain
 * loop stored one byte three bytes apart at a time (3% of a 1080p frame's time at ratio 0.25). */
static void store_rgb_u8(uint8_t *dst, const float *restrict r, const float *restrict g,
                         const float *restrict b, int width)
{
    typedef uint8_t u8x16 __attribute__((vector_size(16)));
/* The lanes of R, G (16 + i) and B (16 + i) in the order of 16 output bytes: R and G first,
 * with placeholders (0) where B goes, then B put in. __builtin_shufflevector (GCC 12, clang)
 * takes its lane numbers as constants: one line per output vector. */
#define RGB_LANES(...) __VA_ARGS__
#define RGB_VECTOR(k, rg, bl) \
    (o[k] = __builtin_shufflevector(__builtin_shufflevector(R, G, rg), B, bl))
    int x = 0;
    for (; x + 16 <= width; x += 16) {
        uint8_t q[3][16];
        for (int i = 0; i < 16; i++) {
            q[0][i] = (uint8_t)(r[x + i] * 255.f + 0.5f);
            q[1][i] = (uint8_t)(g[x + i] * 255.f + 0.5f);
            q[2][i] = (uint8_t)(b[x + i] * 255.f + 0.5f);
        }
        u8x16 R, G, B;
        memcpy(&R, q[0], 16);
        memcpy(&G, q[1], 16);
        memcpy(&B, q[2], 16);
        u8x16 o[3];
        RGB_VECTOR(0, RGB_LANES(0, 16, 0, 1, 17, 0, 2, 18, 0, 3, 19, 0, 4, 20, 0, 5),
                   RGB_LANES(0, 1, 16, 3, 4, 17, 6, 7, 18, 9, 10, 19, 12, 13, 20, 15));
        RGB_VECTOR(1, RGB_LANES(21, 0, 6, 22, 0, 7, 23, 0, 8, 24, 0, 9, 25, 0, 10, 26),
                   RGB_LANES(0, 21, 2, 3, 22, 5, 6, 23, 8, 9, 24, 11, 12, 25, 14, 15));
        RGB_VECTOR(2, RGB_LANES(0, 11, 27, 0, 12, 28, 0, 13, 29, 0, 14, 30, 0, 15, 31, 0),
                   RGB_LANES(26, 1, 2, 27, 4, 5, 28, 7, 8, 29, 10, 11, 30, 13, 14, 31));
        memcpy(dst + 3 * x, o, sizeof o);
    }
    for (; x < width; x++) {
        dst[3 * x] = (uint8_t)(r[x] * 255.f + 0.5f);
        dst[3 * x + 1] = (uint8_t)(g[x] * 255.f + 0.5f);
        dst[3 * x + 2] = (uint8_t)(b[x] * 255.f + 0.5f);
    }
}
#undef RGB_VECTOR
#undef RGB_LANES

/* Interleaved 16-bit RGB, what the command's composition takes (it composites at 16 bits and
 * rounds once). Three store_channel calls stored one sample six bytes apart at a time. */
#if VL == 16
/* 16 pixels at a time: R and G in one vector of 32 samples, B in another, two two-source
 * word permutes give the 48 interleaved samples. (Generic vector shuffles of 8 samples
 * compiled to 14 permutes per 8 pixels here, slower than the scalar stores.) */
static void store_rgb_u16(uint16_t *dst, const float *restrict r, const float *restrict g,
                          const float *restrict b, int width)
{
    const __m512 scale = _mm512_set1_ps(65535.f), half = _mm512_set1_ps(0.5f);
    /* output sample k of the first 32: pixel k / 3, channel k % 3; R is lane i, G 16 + i
     * (both in rg), B lane 32 + i (bb, the second source) */
    uint16_t i0[32], i1[32];
    for (int k = 0; k < 48; k++) {
        int px = k / 3, c = k % 3;
        uint16_t lane = (uint16_t)(c == 2 ? 32 + px : 16 * c + px);
        if (k < 32)
            i0[k] = lane;
        else
            i1[k - 32] = lane, i1[k - 16] = 0;
    }
    const __m512i idx0 = _mm512_loadu_si512(i0), idx1 = _mm512_loadu_si512(i1);
    int x = 0;
    for (; x + 16 <= width; x += 16) {
        /* (uint16_t)(v * 65535 + 0.5) as store_channel: truncation of values in 0..65535.5
         * (not contracted into an FMA, as the C code is not) */
#define U16(p) _mm512_cvtepi32_epi16(_mm512_cvttps_epi32( \
            _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps((p) + x), scale), half)))
        __m512i rg = _mm512_inserti64x4(_mm512_castsi256_si512(U16(r)), U16(g), 1);
        __m512i bb = _mm512_castsi256_si512(U16(b));
#undef U16
        _mm512_storeu_si512(dst + 3 * x, _mm512_permutex2var_epi16(rg, idx0, bb));
        _mm256_storeu_si256((__m256i *)(dst + 3 * x + 32),
                            _mm512_castsi512_si256(_mm512_permutex2var_epi16(rg, idx1, bb)));
    }
    for (; x < width; x++) {
        dst[3 * x] = (uint16_t)(r[x] * 65535.f + 0.5f);
        dst[3 * x + 1] = (uint16_t)(g[x] * 65535.f + 0.5f);
        dst[3 * x + 2] = (uint16_t)(b[x] * 65535.f + 0.5f);
    }
}
#endif

/* The refiner's arithmetic on one row, into four planes. A function of its own so that its
 * pointers are restrict parameters, which GCC trusts: written inline in blend_row (restrict on
 * local copies of x[] and tmp) the loop was vectorised behind a run-time alias check, and an
 * unrelated call added after it left GCC 12 with a scalar loop only (3 times the row's time). */
static inline void blend_values(const float *restrict h0, const float *restrict h1, size_t plane,
                                float l0, float l1, const float *restrict ir,
                                const float *restrict ig, const float *restrict ib, int width,
                                float *restrict r, float *restrict g, float *restrict b,
                                float *restrict a)
{
#define ROW(c, x) (l0 * h0[(c) * plane + (x)] + l1 * h1[(c) * plane + (x)])
#define CLAMP01(v) ((v) < 0.f ? 0.f : (v) > 1.f ? 1.f : (v))
    for (int x = 0; x < width; x++) {
        float grey = (ir[x] + ig[x] + ib[x]) / 3.f;
        float pa = ROW(3, x) * grey + ROW(7, x);
        float fr = (ROW(0, x) * ir[x] + ROW(4, x)) + ir[x];
        float fg = (ROW(1, x) * ig[x] + ROW(5, x)) + ig[x];
        float fb = (ROW(2, x) * ib[x] + ROW(6, x)) + ib[x];
        a[x] = CLAMP01(pa);
        r[x] = CLAMP01(fr);
        g[x] = CLAMP01(fg);
        b[x] = CLAMP01(fb);
    }
#undef ROW
#undef CLAMP01
}

/* Whether n floats at p and at q share no byte. */
static int apart(const float *p, const float *q, int n)
{
    return (uintptr_t)(p + n) <= (uintptr_t)q || (uintptr_t)(q + n) <= (uintptr_t)p;
}

/* Plain loops over planes, which the compiler vectorises for this file's instruction set. */
static void blend_row(const float *restrict h0, const float *restrict h1, size_t plane, float l0,
                      float l1, const float *const x3[3], int width, const rvmi_blend_out *out,
                      float *restrict tmp)
{
    const float *ir = x3[0], *ig = x3[1], *ib = x3[2];
    if (out->type == RVM_PIXEL_F32 && out->layout == RVM_FGR_PLANAR && out->pha && out->fgr) {
        /* Float planes (what Python's model(src) asks for) straight into the output rows
         * when no two of the rows overlap: through tmp and a copy, 0.5 ms more CPU time a
         * 1080p frame (the full-resolution pass alone, 2 threads). */
        float *o[4] = {out->fgr, (float *)((char *)out->fgr + out->fgr_plane),
                       (float *)((char *)out->fgr + 2 * out->fgr_plane), out->pha};
        int ok = 1;
        for (int i = 0; i < 4; i++) {
            for (int k = 0; k < 3; k++)
                ok &= apart(o[i], x3[k], width);
            for (int k = 0; k < i; k++)
                ok &= apart(o[i], o[k], width);
        }
        if (ok) {
            blend_values(h0, h1, plane, l0, l1, ir, ig, ib, width, o[0], o[1], o[2], o[3]);
            return;
        }
    }
    float *r = tmp, *g = tmp + width, *b = tmp + 2 * width, *a = tmp + 3 * width;
    blend_values(h0, h1, plane, l0, l1, ir, ig, ib, width, r, g, b, a);
    rvm_pixel_type type = out->type;
    size_t size = type == RVM_PIXEL_F32 ? 4 : type == RVM_PIXEL_U16 ? 2 : 1;
    if (out->pha)
        store_channel(type, out->pha, 1, a, width);
    if (!out->fgr)
        return;
    char *f = out->fgr;
    switch (out->layout) {
    case RVM_FGR_PLANAR:
        store_channel(type, f, 1, r, width);
        store_channel(type, f + out->fgr_plane, 1, g, width);
        store_channel(type, f + 2 * out->fgr_plane, 1, b, width);
        break;
    case RVM_FGR_RGBA_PREMULTIPLIED:
        for (int x = 0; x < width; x++)
            r[x] *= a[x], g[x] *= a[x], b[x] *= a[x];
        store_channel(type, f, 4, r, width);
        store_channel(type, f + size, 4, g, width);
        store_channel(type, f + 2 * size, 4, b, width);
        store_channel(type, f + 3 * size, 4, a, width);
        break;
    default:
        if (type == RVM_PIXEL_U8) {
            store_rgb_u8((uint8_t *)f, r, g, b, width);
            break;
        }
#if VL == 16
        if (type == RVM_PIXEL_U16) {
            store_rgb_u16((uint16_t *)f, r, g, b, width);
            break;
        }
#endif
        store_channel(type, f, 3, r, width);
        store_channel(type, f + size, 3, g, width);
        store_channel(type, f + 2 * size, 3, b, width);
        break;
    }
}

/* blend_row for the common 8-bit case: packed RGB in, packed RGB and alpha out, each pixel
 * read and written once. Through blend_row, the row went through three float planes of input
 * and four of results (7 floats a pixel written and read again, 53 KB at 1080p: L2, not L1). */
#if VL == 16
/* 16 pixels in registers: the 48 input bytes split into R, G, B by byte shuffles, the same
 * arithmetic as blend_values in the same order (the same bytes out), the results interleaved
 * back by byte shuffles. m: the pixels to load and store (the row's tail). */
static inline __attribute__((always_inline)) void blend16(
    const float *restrict h0, const float *restrict h1, size_t plane, __m512 vl0, __m512 vl1,
    const uint8_t *src, uint8_t *pha, uint8_t *fgr, __mmask16 m, int full)
{
#define SEL(a, b, c, d, e, f, g, h, i, j, k, l, n, o, p, q) \
    _mm_setr_epi8(a, b, c, d, e, f, g, h, i, j, k, l, n, o, p, q)
    const __m512 c255 = _mm512_set1_ps(255.f), half = _mm512_set1_ps(0.5f);
    const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.f);
    __m128i in0, in1, in2;
    if (full) {
        in0 = _mm_loadu_si128((const __m128i *)src);
        in1 = _mm_loadu_si128((const __m128i *)(src + 16));
        in2 = _mm_loadu_si128((const __m128i *)(src + 32));
    } else { /* 3 * n bytes: masks of 48 bits over three vectors */
        uint64_t bits = m == 0xffff ? ~0ull : (1ull << (3 * __builtin_popcount(m))) - 1;
        in0 = _mm_maskz_loadu_epi8((__mmask16)bits, src);
        in1 = _mm_maskz_loadu_epi8((__mmask16)(bits >> 16), src + 16);
        in2 = _mm_maskz_loadu_epi8((__mmask16)(bits >> 32), src + 32);
    }
    const char z = -1; /* a shuffle lane that gives 0 */
    __m128i r8 = _mm_or_si128(
        _mm_or_si128(_mm_shuffle_epi8(in0, SEL(0, 3, 6, 9, 12, 15, z, z, z, z, z, z, z, z, z, z)),
                     _mm_shuffle_epi8(in1, SEL(z, z, z, z, z, z, 2, 5, 8, 11, 14, z, z, z, z, z))),
        _mm_shuffle_epi8(in2, SEL(z, z, z, z, z, z, z, z, z, z, z, 1, 4, 7, 10, 13)));
    __m128i g8 = _mm_or_si128(
        _mm_or_si128(_mm_shuffle_epi8(in0, SEL(1, 4, 7, 10, 13, z, z, z, z, z, z, z, z, z, z, z)),
                     _mm_shuffle_epi8(in1, SEL(z, z, z, z, z, 0, 3, 6, 9, 12, 15, z, z, z, z, z))),
        _mm_shuffle_epi8(in2, SEL(z, z, z, z, z, z, z, z, z, z, z, 2, 5, 8, 11, 14)));
    __m128i b8 = _mm_or_si128(
        _mm_or_si128(_mm_shuffle_epi8(in0, SEL(2, 5, 8, 11, 14, z, z, z, z, z, z, z, z, z, z, z)),
                     _mm_shuffle_epi8(in1, SEL(z, z, z, z, z, 1, 4, 7, 10, 13, z, z, z, z, z, z))),
        _mm_shuffle_epi8(in2, SEL(z, z, z, z, z, z, z, z, z, z, 0, 3, 6, 9, 12, 15)));
    /* v / 255 as the input table has it (a division: v * (1/255) rounds differently) */
    __m512 ir = _mm512_div_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(r8)), c255);
    __m512 ig = _mm512_div_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(g8)), c255);
    __m512 ib = _mm512_div_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(b8)), c255);
#define H(p, c) (full ? _mm512_loadu_ps((p) + (c) * plane) : _mm512_maskz_loadu_ps(m, (p) + (c) * plane))
#define ROWV(c) _mm512_fmadd_ps(vl0, H(h0, c), _mm512_mul_ps(vl1, H(h1, c)))
    /* clamp to [0, 1] as CLAMP01 does, NaN kept: max and min return their second operand
     * when either is NaN */
#define CLAMPV(v) _mm512_min_ps(one, _mm512_max_ps(zero, v))
    __m512 grey = _mm512_div_ps(_mm512_add_ps(_mm512_add_ps(ir, ig), ib), _mm512_set1_ps(3.f));
    __m512 a = CLAMPV(_mm512_fmadd_ps(ROWV(3), grey, ROWV(7)));
    __m512 fr = CLAMPV(_mm512_add_ps(_mm512_fmadd_ps(ROWV(0), ir, ROWV(4)), ir));
    __m512 fg = CLAMPV(_mm512_add_ps(_mm512_fmadd_ps(ROWV(1), ig, ROWV(5)), ig));
    __m512 fb = CLAMPV(_mm512_add_ps(_mm512_fmadd_ps(ROWV(2), ib, ROWV(6)), ib));
#undef H
#undef ROWV
#undef CLAMPV
    /* (uint8_t)(v * 255 + 0.5): truncation, values in 0..255 */
#define TO_U8(v) _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(_mm512_fmadd_ps(v, c255, half)))
    if (pha) {
        if (full)
            _mm_storeu_si128((__m128i *)pha, TO_U8(a));
        else
            _mm_mask_storeu_epi8(pha, m, TO_U8(a));
    }
    if (!fgr)
        return;
    __m128i R = TO_U8(fr), G = TO_U8(fg), B = TO_U8(fb);
#undef TO_U8
    __m128i o0 = _mm_or_si128(
        _mm_or_si128(_mm_shuffle_epi8(R, SEL(0, z, z, 1, z, z, 2, z, z, 3, z, z, 4, z, z, 5)),
                     _mm_shuffle_epi8(G, SEL(z, 0, z, z, 1, z, z, 2, z, z, 3, z, z, 4, z, z))),
        _mm_shuffle_epi8(B, SEL(z, z, 0, z, z, 1, z, z, 2, z, z, 3, z, z, 4, z)));
    __m128i o1 = _mm_or_si128(
        _mm_or_si128(_mm_shuffle_epi8(R, SEL(z, z, 6, z, z, 7, z, z, 8, z, z, 9, z, z, 10, z)),
                     _mm_shuffle_epi8(G, SEL(5, z, z, 6, z, z, 7, z, z, 8, z, z, 9, z, z, 10))),
        _mm_shuffle_epi8(B, SEL(z, 5, z, z, 6, z, z, 7, z, z, 8, z, z, 9, z, z)));
    __m128i o2 = _mm_or_si128(
        _mm_or_si128(_mm_shuffle_epi8(R, SEL(z, 11, z, z, 12, z, z, 13, z, z, 14, z, z, 15, z, z)),
                     _mm_shuffle_epi8(G, SEL(z, z, 11, z, z, 12, z, z, 13, z, z, 14, z, z, 15, z))),
        _mm_shuffle_epi8(B, SEL(10, z, z, 11, z, z, 12, z, z, 13, z, z, 14, z, z, 15)));
#undef SEL
    if (full) {
        _mm_storeu_si128((__m128i *)fgr, o0);
        _mm_storeu_si128((__m128i *)(fgr + 16), o1);
        _mm_storeu_si128((__m128i *)(fgr + 32), o2);
    } else {
        uint64_t bits = (1ull << (3 * __builtin_popcount(m))) - 1;
        _mm_mask_storeu_epi8(fgr, (__mmask16)bits, o0);
        _mm_mask_storeu_epi8(fgr + 16, (__mmask16)(bits >> 16), o1);
        _mm_mask_storeu_epi8(fgr + 32, (__mmask16)(bits >> 32), o2);
    }
}

static void blend_rgb24(const float *restrict h0, const float *restrict h1, size_t plane,
                        float l0, float l1, const uint8_t *rgb, int width,
                        const rvmi_blend_out *out)
{
    uint8_t *pha = out->pha, *fgr = out->fgr;
    const __m512 vl0 = _mm512_set1_ps(l0), vl1 = _mm512_set1_ps(l1);
    int x = 0;
    for (; x + 16 <= width; x += 16) {
        /* The input row comes from memory (the network ran since the frame was last read):
         * without a prefetch 2 KB ahead, a third of the kernel's samples (two threads, 1080p)
         * waited on these loads; the full-resolution pass with cold caches, one thread, best
         * of 30: 2.0 -> 1.7 ms. Past the row's end it fetches the next row's start. */
        _mm_prefetch((const char *)rgb + 3 * x + 2048, _MM_HINT_T0);
        blend16(h0 + x, h1 + x, plane, vl0, vl1, rgb + 3 * x, pha ? pha + x : NULL,
                fgr ? fgr + 3 * x : NULL, 0xffff, 1);
    }
    if (x < width)
        blend16(h0 + x, h1 + x, plane, vl0, vl1, rgb + 3 * x, pha ? pha + x : NULL,
                fgr ? fgr + 3 * x : NULL, (__mmask16)((1u << (width - x)) - 1), 0);
}
#else
/* Strips of 64 pixels through blend_values, the strip's floats staying in L1. */
static void blend_rgb24(const float *restrict h0, const float *restrict h1, size_t plane,
                        float l0, float l1, const uint8_t *rgb, int width,
                        const rvmi_blend_out *out)
{
    enum { STRIP = 64 };
    float x[3][STRIP], o[4][STRIP];
    for (int x0 = 0; x0 < width; x0 += STRIP) {
        int n = width - x0 < STRIP ? width - x0 : STRIP;
        const uint8_t *p = rgb + 3 * x0;
        for (int i = 0; i < n; i++) {
            x[0][i] = (float)p[3 * i] / 255.f;
            x[1][i] = (float)p[3 * i + 1] / 255.f;
            x[2][i] = (float)p[3 * i + 2] / 255.f;
        }
        blend_values(h0 + x0, h1 + x0, plane, l0, l1, x[0], x[1], x[2], n, o[0], o[1], o[2],
                     o[3]);
        if (out->pha)
            store_channel(RVM_PIXEL_U8, (uint8_t *)out->pha + x0, 1, o[3], n);
        if (out->fgr)
            store_rgb_u8((uint8_t *)out->fgr + 3 * x0, o[0], o[1], o[2], n);
    }
}
#endif

/* Widens r by the n values at v, two vectors at a time into two sets of accumulators (one set
 * would be one chain of dependent min/max). min and max keep the accumulator when the value is
 * NaN (the x86 rule, and generic's select), and the sum of v * 0 is NaN exactly when a value
 * is NaN or infinite. */
static void float_range(const float *v, int n, rvmi_float_range *r)
{
    vf lo0 = VSET1(r->lo), hi0 = VSET1(r->hi), lo1 = lo0, hi1 = hi0;
    vf zero = VZERO(), s0 = zero, s1 = zero;
    int x = 0;
    for (; x + 2 * VL <= n; x += 2 * VL) {
        vf p = VLOAD(v + x), q = VLOAD(v + x + VL);
        lo0 = VMIN(p, lo0), hi0 = VMAX(p, hi0), s0 = VFMA(p, zero, s0);
        lo1 = VMIN(q, lo1), hi1 = VMAX(q, hi1), s1 = VFMA(q, zero, s1);
    }
    float lo[VL], hi[VL], sum[VL];
    VSTORE(lo, VMIN(lo0, lo1));
    VSTORE(hi, VMAX(hi0, hi1));
    VSTORE(sum, VADD(s0, s1));
    float l = r->lo, h = r->hi;
    int bad = 0;
    for (int k = 0; k < VL; k++) {
        l = lo[k] < l ? lo[k] : l, h = hi[k] > h ? hi[k] : h;
        bad |= sum[k] != sum[k];
    }
    for (; x < n; x++) {
        bad |= v[x] != v[x];
        l = v[x] < l ? v[x] : l, h = v[x] > h ? v[x] : h;
    }
    r->lo = l, r->hi = h;
    r->nonfinite |= bad | (h == INFINITY) | (l == -INFINITY);
}

const rvmi_kernels CAT(rvmi_kernels_, RVM_ISA) = {
    .name = CAT_STR(RVM_ISA),
    .conv_dense = conv_dense,
    .conv_depthwise = conv_depthwise,
    .blend_row = blend_row,
    .blend_rgb24 = blend_rgb24,
    .float_range = float_range,
    .conv_winograd = conv_winograd,
#if VL == 16
    .dgf_mlp = dgf_mlp,
#endif
    .loops = &CAT(rvmi_loops_, RVM_ISA),
    .frames = &CAT(rvmi_frames_, RVM_ISA),
};
