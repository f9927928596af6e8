/* int8 1x1 convolutions, compiled once per instruction set (RVM_Q8_ISA set by the build):
 * avx512vnni (vpdpbusd on 16 int32 lanes), avxvnni (vpdpbusd on 8 lanes, the VEX form) and
 * avx2 (vpmaddubsw + vpmaddwd + vpaddd on the weights split in halves: see below); for 16-bit
 * activations vpdpwssd (AVX512-VNNI, AVX-VNNI) or vpmaddwd + vpaddd (AVX2).
 *
 * A register tile holds MR output pixels by NB blocks of 16 output channels; for each group of
 * 4 input channels a pixel's 4 activation bytes are broadcast and multiplied into the block's
 * 16x4 weights, 4 products summed per int32 lane.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <immintrin.h>
#include <string.h>

#include "kernels/int8.h"

#define ISA_AVX2 1
#define ISA_AVXVNNI 2
#define ISA_AVX512VNNI 3

#if RVM_Q8_ISA == ISA_AVX512VNNI
typedef __m512i vi;
#define VL 16
#define MR 8
#define NB 2
#define VLOADI(p) _mm512_loadu_si512((const void *)(p))
#define VSET1I(x) _mm512_set1_epi32(x)
#define VZEROI() _mm512_setzero_si512()
#define VSUBI(a, b) _mm512_sub_epi32(a, b)
#define VMULLOI(a, b) _mm512_mullo_epi32(a, b)
#define VDOT(acc, a, w) _mm512_dpbusd_epi32(acc, a, w)
#define VDOT16(acc, a, w) _mm512_dpwssd_epi32(acc, a, w)
#define MR16 12
#define NB16 2
#define VCVT(x) _mm512_cvtepi32_ps(x)
#define SET_NAME "avx512vnni"
#define SET_SYMBOL rvmi_kernels_q8_avx512vnni
#else
typedef __m256i vi;
#define VL 8
#define MR 4
#define NB 1
#define VLOADI(p) _mm256_loadu_si256((const __m256i *)(p))
#define VSET1I(x) _mm256_set1_epi32(x)
#define VZEROI() _mm256_setzero_si256()
#define VSUBI(a, b) _mm256_sub_epi32(a, b)
#define VMULLOI(a, b) _mm256_mullo_epi32(a, b)
#if RVM_Q8_ISA == ISA_AVXVNNI
#define VDOT(acc, a, w) _mm256_dpbusd_avx_epi32(acc, a, w)
#define VDOT16(acc, a, w) _mm256_dpwssd_avx_epi32(acc, a, w)
#define SET_NAME "avxvnni"
#define SET_SYMBOL rvmi_kernels_q8_avxvnni
#undef MR
#define MR 6
#else
/* AVX2 has no exact u8 x s8 dot product for the whole weight range: vpmaddubsw sums pairs of
 * products to int16 with saturation, exact only for |w| <= 64. So each weight w (|w| <= 127)
 * is split into floor(w / 2) and the rest, both within [-64, 64], and both halves go through
 * vpmaddubsw + vpmaddwd into int32: the same integers as the VNNI sets, at half their rate
 * (this set is for measuring and testing on CPUs without VNNI, which int8 is not offered on). */
#define SPLIT_WEIGHTS 1
static inline __m256i half_floor_epi8(__m256i w)
{
    /* arithmetic shift right by 1 of each byte: a 16-bit logical shift, the bit that came
     * from the neighbouring byte masked off, then the sign bit extended */
    __m256i t = _mm256_and_si256(_mm256_srli_epi16(w, 1), _mm256_set1_epi8(0x7f));
    return _mm256_sub_epi8(_mm256_xor_si256(t, _mm256_set1_epi8(0x40)), _mm256_set1_epi8(0x40));
}
#define VDOT2(acc, a, w1, w2)                                                                   \
    _mm256_add_epi32(_mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(a, w1),        \
                                                              _mm256_set1_epi16(1))),            \
                     _mm256_madd_epi16(_mm256_maddubs_epi16(a, w2), _mm256_set1_epi16(1)))
/* vpmaddwd is exact here: a pair of int16 products overflows only for -32768 * -32768 twice,
 * and neither the weights (|w| <= 127) nor the activations (|q| <= 32767) take -32768. */
#define VDOT16(acc, a, w) _mm256_add_epi32(acc, _mm256_madd_epi16(a, w))
#define SET_NAME "avx2"
#define SET_SYMBOL rvmi_kernels_q8_avx2
#endif
#define MR16 6
#define NB16 1
#define VCVT(x) _mm256_cvtepi32_ps(x)
#endif

/* the float vectors: the vocabulary of the other kernels */
#include "kernels/vec.h"

#define VPB (RVM_COUT_BLOCK / VL) /* vectors per block of 16 output channels */

static inline int32_t load4(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* The activations with a vector form here; the others are applied after the store. */
static inline int vector_act(rvmi_act act)
{
    return act == RVM_ACT_NONE || act == RVM_ACT_RELU || act == RVM_ACT_HARDSWISH;
}

static inline vf activate(rvmi_act act, vf v)
{
    if (act == RVM_ACT_RELU)
        return VMAX(v, VZERO());
    if (act == RVM_ACT_HARDSWISH)
        return VMUL(VMUL(v, VMIN(VMAX(VADD(v, VSET1(3.f)), VZERO()), VSET1(6.f))), VSET1(1.f / 6.f));
    return v;
}

/* acc[m][j] for mr pixels (mr <= MR, ld bytes apart from x) of nb blocks from block blk. */
static inline __attribute__((always_inline)) void tile(const int mr, const int nb,
                                                       const rvmi_conv_q8 *cv, const uint8_t *x,
                                                       const size_t ld, int blk,
                                                       vi acc[MR][NB * VPB])
{
    const int groups = cv->kpad / 4;
    const size_t wblock = (size_t)groups * RVM_COUT_BLOCK * 4;
    const int8_t *w = cv->weight + (size_t)blk * wblock;
#pragma GCC unroll 32
    for (int m = 0; m < mr; m++)
#pragma GCC unroll 8
        for (int j = 0; j < nb * VPB; j++)
            acc[m][j] = VZEROI();
    for (int g = 0; g < groups; g++) {
        vi wv[NB * VPB];
#pragma GCC unroll 8
        for (int b = 0; b < nb; b++)
#pragma GCC unroll 8
            for (int v = 0; v < VPB; v++)
                wv[b * VPB + v] = VLOADI(w + b * wblock + (size_t)g * RVM_COUT_BLOCK * 4 + v * VL * 4);
#ifdef SPLIT_WEIGHTS
        vi wh[NB * VPB];
#pragma GCC unroll 8
        for (int j = 0; j < nb * VPB; j++) {
            wh[j] = half_floor_epi8(wv[j]);
            wv[j] = _mm256_sub_epi8(wv[j], wh[j]);
        }
#endif
#pragma GCC unroll 32
        for (int m = 0; m < mr; m++) {
            vi a = VSET1I(load4(x + m * ld + 4 * g));
#pragma GCC unroll 8
            for (int j = 0; j < nb * VPB; j++)
#ifdef SPLIT_WEIGHTS
                acc[m][j] = VDOT2(acc[m][j], a, wh[j], wv[j]);
#else
                acc[m][j] = VDOT(acc[m][j], a, wv[j]);
#endif
        }
    }
}

/* One vector of pixel px's sums, output channels [co, co + n), n <= VL: back to float
 * ((sum - zero * wsum) * scale * wscale + bias, zw and sc precomputed per channel vector), the
 * residual added, activated and stored. Shared by the 8-bit and 16-bit tiles. */
static inline __attribute__((always_inline)) void store_sums(vi sum, vi zw, vf sc, vf bias,
                                                             rvmi_act act, const rvmi_view *out,
                                                             const rvmi_view *res, size_t px,
                                                             int co, int n)
{
    float *dst = out->data + px * out->stride + co;
    vf v = VFMA(VCVT(VSUBI(sum, zw)), sc, bias);
    if (n == VL) {
        if (res)
            v = VADD(v, VLOAD(res->data + px * res->stride + co));
        VSTORE(dst, activate(act, v));
    } else {
        if (res)
            v = VADD(v, VLOAD_PARTIAL(res->data + px * res->stride + co, n));
        VSTORE_PARTIAL(dst, activate(act, v), n);
    }
    if (!vector_act(act))
        for (int k = 0; k < n; k++)
            dst[k] = rvmi_activate(act, dst[k]);
}

/* Scales a tile's sums back to float, adds bias and residual, activates and stores: mr pixels
 * from px by nb blocks from block blk, pixel m's sums at acc[m * mstride], the input's
 * quantisation zero and scale read where they are (as values, the compiler kept them in
 * registers across the tile and spilled more of the sums). Shared by the 8-bit and 16-bit tiles (mr, nb and mstride are
 * constants in each copy). */
static inline __attribute__((always_inline)) void
store_tile(const int mr, const int nb, const rvmi_conv_q8 *cv, const int *zero, const float *scale,
           const rvmi_view *out, const rvmi_view *res, size_t px, int blk, const vi *acc,
           const int mstride)
{
    const rvmi_act act = cv->act;
#pragma GCC unroll 8
    for (int j = 0; j < nb * VPB; j++) {
        const int co = blk * RVM_COUT_BLOCK + j * VL;
        const int n = cv->cout - co < VL ? cv->cout - co : VL;
        if (n <= 0)
            break;
        const vi zw = VMULLOI(VSET1I(*zero), VLOADI(cv->wsum + co));
        const vf sc = VMUL(VSET1(*scale), VLOAD(cv->wscale + co));
        const vf bias = VLOAD(cv->bias + co);
#pragma GCC unroll 16
        for (int m = 0; m < mr; m++)
            store_sums(acc[m * mstride + j], zw, sc, bias, act, out, res, px + m, co, n);
    }
}

static void conv_1x1(const rvmi_conv_q8 *cv, const rvmi_qtensor *in, const rvmi_view *out,
                     const rvmi_view *res, size_t p0, size_t p1)
{
    const int blocks = (cv->cout + RVM_COUT_BLOCK - 1) / RVM_COUT_BLOCK;
    const size_t ld = in->stride;
    size_t px = p0;
    for (; px + MR <= p1; px += MR)
        for (int blk = 0; blk < blocks; blk += NB) {
            const uint8_t *x = in->data + (px - p0) * ld;
            vi acc[MR][NB * VPB];
            if (blocks - blk >= NB) {
                tile(MR, NB, cv, x, ld, blk, acc);
                store_tile(MR, NB, cv, &in->zero, &in->scale, out, res, px, blk, acc[0], NB * VPB);
            } else {
                tile(MR, 1, cv, x, ld, blk, acc);
                store_tile(MR, 1, cv, &in->zero, &in->scale, out, res, px, blk, acc[0], NB * VPB);
            }
        }
    for (; px < p1; px++) /* the last few pixels, one at a time */
        for (int blk = 0; blk < blocks; blk++) {
            vi acc[MR][NB * VPB];
            tile(1, 1, cv, in->data + (px - p0) * ld, ld, blk, acc);
            store_tile(1, 1, cv, &in->zero, &in->scale, out, res, px, blk, acc[0], NB * VPB);
        }
}

/* Plain loops the compiler vectorises for the set's instructions. Rounding: v + 0.5 is
 * non-negative after the clamp, so truncation rounds half up. */
static void quantize(const float *x, int n, float inv_scale, int zero, uint8_t *dst, int pad)
{
    const float z = (float)zero;
    for (int i = 0; i < n; i++) {
        float v = x[i] * inv_scale + z;
        v = v < 0.f ? 0.f : v > 255.f ? 255.f : v;
        dst[i] = (uint8_t)(int)(v + 0.5f);
    }
    for (int i = n; i < pad; i++)
        dst[i] = 0;
}

/* ---- 16-bit activations in one pass ----
 * A register tile of MR16 pixels by NB16 blocks of 16 output channels; for each pair of input
 * channels a pixel's two int16 activations are broadcast and multiplied into the block's 16x2
 * weights, the 2 products summed per int32 lane. The sums and the epilogue stay in one
 * function so that the accumulators never leave the registers. */
static inline __attribute__((always_inline)) void tile16(const int mr, const int nb,
                                                         const rvmi_conv_q8 *cv,
                                                         const rvmi_qtensor16 *in,
                                                         const int16_t *x, const rvmi_view *out,
                                                         const rvmi_view *res, size_t px, int blk)
{
    const int pairs = (cv->cin + 1) / 2;
    const size_t wblock = (size_t)pairs * RVM_COUT_BLOCK * 2;
    const int16_t *w = cv->weight16 + (size_t)blk * wblock;
    const size_t ld = in->stride;
    vi acc[MR16 * NB16 * VPB];
#pragma GCC unroll 48
    for (int j = 0; j < mr * nb * VPB; j++)
        acc[j] = VZEROI();
    for (int g = 0; g < pairs; g++) {
        vi wv[NB16 * VPB];
#pragma GCC unroll 8
        for (int b = 0; b < nb; b++)
#pragma GCC unroll 8
            for (int v = 0; v < VPB; v++)
                wv[b * VPB + v] = VLOADI(w + b * wblock + (size_t)g * RVM_COUT_BLOCK * 2 + v * VL * 2);
#pragma GCC unroll 16
        for (int m = 0; m < mr; m++) {
            int32_t pair;
            memcpy(&pair, x + m * ld + 2 * g, 4);
            const vi a = VSET1I(pair);
#pragma GCC unroll 8
            for (int j = 0; j < nb * VPB; j++)
                acc[m * nb * VPB + j] = VDOT16(acc[m * nb * VPB + j], a, wv[j]);
        }
    }
    store_tile(mr, nb, cv, &in->zero, &in->scale, out, res, px, blk, acc, nb * VPB);
}

static void conv_1x1_s16(const rvmi_conv_q8 *cv, const rvmi_qtensor16 *in, const rvmi_view *out,
                         const rvmi_view *res, size_t p0, size_t p1)
{
    const int blocks = (cv->cout + RVM_COUT_BLOCK - 1) / RVM_COUT_BLOCK;
    const size_t ld = in->stride;
    size_t px = p0;
    for (; px + MR16 <= p1; px += MR16) {
        const int16_t *x = in->data + (px - p0) * ld;
        int blk = 0;
        for (; blk + NB16 <= blocks; blk += NB16)
            tile16(MR16, NB16, cv, in, x, out, res, px, blk);
        for (; blk < blocks; blk++)
            tile16(MR16, 1, cv, in, x, out, res, px, blk);
    }
    for (; px < p1; px++) /* the last few pixels, one at a time */
        for (int blk = 0; blk < blocks; blk++)
            tile16(1, 1, cv, in, in->data + (px - p0) * ld, out, res, px, blk);
}

/* Rounding as quantize: v + limit + 0.5 is non-negative after the clamp. */
static void quantize_s16(const float *x, int n, float inv_scale, int zero, int limit,
                         int16_t *dst, int pad)
{
    const float z = (float)zero, lim = (float)limit, half = (float)limit + 0.5f;
    for (int i = 0; i < n; i++) {
        float v = x[i] * inv_scale + z;
        v = v < -lim ? -lim : v > lim ? lim : v;
        dst[i] = (int16_t)((int)(v + half) - limit);
    }
    for (int i = n; i < pad; i++)
        dst[i] = 0;
}

/* Explicit vectors: the plain loop of compares is not vectorised (its float min/max order). */
static void minmax(const float *x, int n, float *lo, float *hi)
{
    vf a = VSET1(*lo), b = VSET1(*hi);
    int i = 0;
    for (; i + VL <= n; i += VL) {
        vf v = VLOAD(x + i);
        a = VMIN(v, a); /* minps(v, a) keeps a where v is NaN, as the scalar compare does */
        b = VMAX(v, b);
    }
    float la[VL], hb[VL];
    VSTORE(la, a);
    VSTORE(hb, b);
    float l = la[0], h = hb[0];
    for (int k = 1; k < VL; k++) {
        l = la[k] < l ? la[k] : l;
        h = hb[k] > h ? hb[k] : h;
    }
    for (; i < n; i++) {
        l = x[i] < l ? x[i] : l;
        h = x[i] > h ? x[i] : h;
    }
    *lo = l, *hi = h;
}

const rvmi_kernels_q8 SET_SYMBOL = {SET_NAME, conv_1x1, quantize, minmax, conv_1x1_s16,
                                    quantize_s16};
