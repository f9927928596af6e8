/* The network's and the refiner's loops over float tensors (rvmi_loops in kernels.h), written
 * for the compiler's vectoriser and compiled once per instruction set (RVM_ISA set by the
 * build, with that set's -m flags): unit-stride inner loops over channels or samples, no
 * branches in the per-element work. reference_loops.c holds the scalar definitions they are
 * tested against.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <string.h>

#include "kernels/kernels.h"

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

static inline float *px(const rvmi_view *v, int y, int x)
{
    return v->data + ((size_t)y * v->w + x) * v->stride;
}

/* One output pixel of resize. Its own function with restrict pointers: inline in resize's
 * loop, the AVX-512 build took the scalar path of the alias checks' versions (5x slower than
 * the AVX2 build on the decoder's shapes). */
static inline void resize_pixel(float *restrict o, const float *restrict a,
                                const float *restrict b, const float *restrict cc,
                                const float *restrict d, int c, rvmi_lerp ly, rvmi_lerp lx)
{
    for (int k = 0; k < c; k++)
        o[k] = ly.l0 * (lx.l0 * a[k] + lx.l1 * b[k]) + ly.l1 * (lx.l0 * cc[k] + lx.l1 * d[k]);
}

/* Two output rows' pixels that read the same two input rows (y0's lerp l0, y1's l1): each
 * horizontal lerp computed once for both. The expressions are resize_pixel's, so that each
 * output is the same float (the compiler contracts them alike; test_kernels checks it exactly
 * against rows resized one at a time). */
static inline void resize_pixel2(float *restrict o0, float *restrict o1, const float *restrict a,
                                 const float *restrict b, const float *restrict cc,
                                 const float *restrict d, int c, rvmi_lerp l0, rvmi_lerp l1,
                                 rvmi_lerp lx)
{
    for (int k = 0; k < c; k++) {
        const float h0 = lx.l0 * a[k] + lx.l1 * b[k], h1 = lx.l0 * cc[k] + lx.l1 * d[k];
        o0[k] = l0.l0 * h0 + l0.l1 * h1;
        o1[k] = l1.l0 * h0 + l1.l1 * h1;
    }
}

/* An upsampling by 2 reads each pair of input rows for two output rows (2k + 1 and 2k + 2):
 * those are made together, with each input pixel's horizontal lerp once (the decoder's
 * upsampling, 480x270 from 240x135 at 32 channels, did each twice). */
static void resize(const rvmi_view *in, const rvmi_view *out, float sy, const rvmi_lerp *lxs,
                   int first, int y0, int y1)
{
    const int c = in->c;
    for (int y = y0; y < y1; y++) {
        rvmi_lerp ly = rvmi_lerp_at(sy, y, in->h);
        if (y + 1 < y1) {
            rvmi_lerp l2 = rvmi_lerp_at(sy, y + 1, in->h);
            if (l2.i0 == ly.i0 && l2.i1 == ly.i1) {
                for (int x = 0; x < out->w; x++) {
                    rvmi_lerp lx = lxs[x];
                    resize_pixel2(px(out, y - first, x), px(out, y + 1 - first, x),
                                  px(in, ly.i0, lx.i0), px(in, ly.i0, lx.i1), px(in, ly.i1, lx.i0),
                                  px(in, ly.i1, lx.i1), c, ly, l2, lx);
                }
                y++;
                continue;
            }
        }
        for (int x = 0; x < out->w; x++) {
            rvmi_lerp lx = lxs[x];
            resize_pixel(px(out, y - first, x), px(in, ly.i0, lx.i0), px(in, ly.i0, lx.i1),
                         px(in, ly.i1, lx.i0), px(in, ly.i1, lx.i1), c, ly, lx);
        }
    }
}

/* Output pixels [x0, x1) of one row of input_rgb24 (rows r0 and r1, weights ly). */
static inline void input_rgb24_pixels(const uint8_t *r0, const uint8_t *r1, const float *lut,
                                      rvmi_lerp ly, const rvmi_lerp *lxs, const rvmi_view *out,
                                      int y, int x0, int x1)
{
    for (int x = x0; x < x1; x++) {
        rvmi_lerp lx = lxs[x];
        float *o = px(out, y, x);
        for (int k = 0; k < 3; k++)
            o[k] = ly.l0 * (lx.l0 * lut[r0[3 * lx.i0 + k]] + lx.l1 * lut[r0[3 * lx.i1 + k]]) +
                   ly.l1 * (lx.l0 * lut[r1[3 * lx.i0 + k]] + lx.l1 * lut[r1[3 * lx.i1 + k]]);
    }
}

#if RVM_VLEN == 16
#include <immintrin.h>
/* 16 output pixels of input_rgb24 with AVX-512, from x on; returns 0 (nothing done) where a
 * gather would read past the input row's bytes (the row's last pixel). The loop above stays
 * scalar (a table lookup per byte), 0.35 ms of a 1080p frame: here each of the four source
 * pixels of 16 outputs is one dword gather (its R, G, B and one byte more), the bytes
 * divided by 255 as the table has them, and the arithmetic is the loop's as GCC contracts
 * it (a * b + c * d is fma(a, b, c * d)), so that the bytes are the scalar loop's. */
static inline int input_rgb24_16(const uint8_t *r0, const uint8_t *r1, ptrdiff_t row_bytes,
                                 rvmi_lerp ly, const rvmi_lerp *lxs, float *o)
{
    const __m512i e0 = _mm512_loadu_si512(lxs), e1 = _mm512_loadu_si512(lxs + 4);
    const __m512i e2 = _mm512_loadu_si512(lxs + 8), e3 = _mm512_loadu_si512(lxs + 12);
    /* {i0, i1, l0, l1} x 16 -> one vector each: pixels 0-7 from e0, e1, 8-15 from e2, e3 */
    const __m512i ia = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 2, 6, 10, 14, 18, 22, 26, 30);
    const __m512i ib = _mm512_setr_epi32(1, 5, 9, 13, 17, 21, 25, 29, 3, 7, 11, 15, 19, 23, 27, 31);
    const __m512i lo = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
    const __m512i hi = _mm512_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    __m512i a01 = _mm512_permutex2var_epi32(e0, ia, e1), a23 = _mm512_permutex2var_epi32(e2, ia, e3);
    __m512i b01 = _mm512_permutex2var_epi32(e0, ib, e1), b23 = _mm512_permutex2var_epi32(e2, ib, e3);
    __m512i i0 = _mm512_permutex2var_epi32(a01, lo, a23), i1 = _mm512_permutex2var_epi32(b01, lo, b23);
    __m512 l0x = _mm512_castsi512_ps(_mm512_permutex2var_epi32(a01, hi, a23));
    __m512 l1x = _mm512_castsi512_ps(_mm512_permutex2var_epi32(b01, hi, b23));
    __m512i o0 = _mm512_add_epi32(i0, _mm512_add_epi32(i0, i0));
    __m512i o1 = _mm512_add_epi32(i1, _mm512_add_epi32(i1, i1));
    /* each gather reads 4 bytes at 3 i: the last one must stay inside the row */
    if (_mm512_reduce_max_epi32(_mm512_max_epi32(o0, o1)) + 4 > row_bytes)
        return 0;
    __m512i g[4] = {_mm512_i32gather_epi32(o0, r0, 1), _mm512_i32gather_epi32(o1, r0, 1),
                    _mm512_i32gather_epi32(o0, r1, 1), _mm512_i32gather_epi32(o1, r1, 1)};
    const __m512 c255 = _mm512_set1_ps(255.f), l0y = _mm512_set1_ps(ly.l0);
    const __m512 l1y = _mm512_set1_ps(ly.l1);
    const __m512i byte = _mm512_set1_epi32(0xff);
    __m512 c[3];
    for (int k = 0; k < 3; k++) {
        __m512 v[4];
        for (int n = 0; n < 4; n++)
            v[n] = _mm512_div_ps(
                _mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srli_epi32(g[n], 8 * k), byte)), c255);
        __m512 s0 = _mm512_fmadd_ps(l0x, v[0], _mm512_mul_ps(l1x, v[1]));
        __m512 s1 = _mm512_fmadd_ps(l0x, v[2], _mm512_mul_ps(l1x, v[3]));
        c[k] = _mm512_fmadd_ps(s0, l0y, _mm512_mul_ps(l1y, s1));
    }
    /* R, G, B planes -> 48 interleaved floats: lanes of R (0-15), G (16-31), then B put in */
    const __m512i p0 = _mm512_setr_epi32(0, 16, 0, 1, 17, 0, 2, 18, 0, 3, 19, 0, 4, 20, 0, 5);
    const __m512i q0 = _mm512_setr_epi32(0, 1, 16, 3, 4, 17, 6, 7, 18, 9, 10, 19, 12, 13, 20, 15);
    const __m512i p1 = _mm512_setr_epi32(21, 0, 6, 22, 0, 7, 23, 0, 8, 24, 0, 9, 25, 0, 10, 26);
    const __m512i q1 = _mm512_setr_epi32(0, 21, 2, 3, 22, 5, 6, 23, 8, 9, 24, 11, 12, 25, 14, 15);
    const __m512i p2 = _mm512_setr_epi32(0, 11, 27, 0, 12, 28, 0, 13, 29, 0, 14, 30, 0, 15, 31, 0);
    const __m512i q2 = _mm512_setr_epi32(26, 1, 2, 27, 4, 5, 28, 7, 8, 29, 10, 11, 30, 13, 14, 31);
    _mm512_storeu_ps(o, _mm512_permutex2var_ps(_mm512_permutex2var_ps(c[0], p0, c[1]), q0, c[2]));
    _mm512_storeu_ps(o + 16, _mm512_permutex2var_ps(_mm512_permutex2var_ps(c[0], p1, c[1]), q1, c[2]));
    _mm512_storeu_ps(o + 32, _mm512_permutex2var_ps(_mm512_permutex2var_ps(c[0], p2, c[1]), q2, c[2]));
    return 1;
}

/* Whether lut is the table input_rgb24_16 computes (byte / 255). */
static int lut_is_255(const float *lut)
{
    for (int i = 0; i < 256; i++)
        if (lut[i] != (float)i / 255.f)
            return 0;
    return 1;
}
#endif

static void input_rgb24(const uint8_t *rgb, ptrdiff_t stride, int height, const float *lut,
                        float sy, const rvmi_lerp *lxs, const rvmi_view *out, int y0, int y1)
{
#if RVM_VLEN == 16
    const int vec = lxs && out->stride == 3 && lut_is_255(lut);
    int read_max = 0; /* the last input pixel lx reads */
    for (int x = 0; vec && x < out->w; x++)
        read_max = lxs[x].i1 > read_max ? lxs[x].i1 : read_max;
#endif
    for (int y = y0; y < y1; y++) {
        if (!lxs) { /* ratio 1: the frame itself */
            const uint8_t *row = rgb + (ptrdiff_t)y * stride;
            float *o = px(out, y, 0);
            for (int x = 0; x < 3 * out->w; x++)
                o[x] = lut[row[x]];
            continue;
        }
        rvmi_lerp ly = rvmi_lerp_at(sy, y, height);
        const uint8_t *r0 = rgb + (ptrdiff_t)ly.i0 * stride;
        const uint8_t *r1 = rgb + (ptrdiff_t)ly.i1 * stride;
        int x = 0;
#if RVM_VLEN == 16
        /* A gather's fourth byte is in the next row, or past the last one's pixels: there,
         * only below the bytes of the pixels lx reads (3 (max + 1) <= 3 * the frame's width). */
        ptrdiff_t bytes = ly.i1 + 1 < height ? 2 * stride : 3 * ((ptrdiff_t)read_max + 1);
        for (; vec && x + 16 <= out->w; x += 16) {
            /* the frame comes from memory: its next bytes asked for ahead of the gathers
             * (a hint: past the row it reaches the next one's, never faults) */
            const ptrdiff_t ahead = 3 * (ptrdiff_t)lxs[x].i0 + 1024;
            for (int l = 0; l < 3; l++) {
                _mm_prefetch((const char *)r0 + ahead + 64 * l, _MM_HINT_T0);
                _mm_prefetch((const char *)r1 + ahead + 64 * l, _MM_HINT_T0);
            }
            if (!input_rgb24_16(r0, r1, bytes, ly, lxs + x, px(out, y, x)))
                break;
        }
#endif
        input_rgb24_pixels(r0, r1, lut, ly, lxs, out, y, x, out->w);
    }
}

static void input_planes(const float *const p0[3], const float *const p1[3], float l0, float l1,
                         const rvmi_lerp *lxs, const rvmi_view *out, int y)
{
    if (!lxs) {
        for (int x = 0; x < out->w; x++) {
            float *o = px(out, y, x);
            for (int k = 0; k < 3; k++)
                o[k] = p0[k][x];
        }
        return;
    }
    for (int x = 0; x < out->w; x++) {
        rvmi_lerp lx = lxs[x];
        float *o = px(out, y, x);
        for (int k = 0; k < 3; k++)
            o[k] = l0 * (lx.l0 * p0[k][lx.i0] + lx.l1 * p0[k][lx.i1]) +
                   l1 * (lx.l0 * p1[k][lx.i0] + lx.l1 * p1[k][lx.i1]);
    }
}

static void channel_mean(const rvmi_view *in, double *sum, float *mean)
{
    for (int k = 0; k < in->c; k++)
        sum[k] = 0;
    for (int y = 0; y < in->h; y++)
        for (int x = 0; x < in->w; x++) {
            const float *p = px(in, y, x);
            for (int k = 0; k < in->c; k++)
                sum[k] += p[k];
        }
    for (int k = 0; k < in->c; k++)
        mean[k] = (float)(sum[k] / ((double)in->h * in->w));
}

static void scale_channels(const rvmi_view *v, const float *scale, int y0, int y1)
{
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < v->w; x++) {
            float *p = px(v, y, x);
            for (int k = 0; k < v->c; k++)
                p[k] *= scale[k];
        }
}

static void copy_channels(const rvmi_view *from, const rvmi_view *to, int y0, int y1)
{
    const int n = from->c;
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < from->w; x++) {
            const float *f = px(from, y, x);
            float *t = px(to, y, x);
            for (int k = 0; k < n; k++)
                t[k] = f[k];
        }
}

static void multiply(const rvmi_view *a, const rvmi_view *b, const rvmi_view *out, int y0, int y1)
{
    const int ch = b->c;
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < b->w; x++) {
            const float *r = px(a, y, x), *h = px(b, y, x);
            float *o = px(out, y, x);
            for (int i = 0; i < ch; i++)
                o[i] = r[i] * h[i];
        }
}

static void gru_update(const rvmi_view *rz, const rvmi_view *c, const rvmi_view *state,
                       const rvmi_view *out, int y0, int y1)
{
    const int ch = state->c;
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < state->w; x++) {
            const float *z = px(rz, y, x) + ch, *cc = px(c, y, x);
            float *h = px(state, y, x), *o = px(out, y, x);
            for (int k = 0; k < ch; k++) {
                h[k] = (1.f - z[k]) * h[k] + z[k] * cc[k];
                o[k] = h[k];
            }
        }
}

/* The means (r + g + b) / 3 of n pixels, rs floats apart; its own function with restrict
 * pointers, and rs == 3 (the network's picture) apart, so that the divisions are vector ones:
 * one at a time in the pixel loop, they and the views' fields (loaded again after every
 * store) held the loop at ~7 cycles a pixel. */
static inline void guide_means(float *restrict m, const float *restrict rgb, size_t rs, int n)
{
    if (rs == 3)
        for (int i = 0; i < n; i++)
            m[i] = (rgb[3 * i] + rgb[3 * i + 1] + rgb[3 * i + 2]) / 3.f;
    else
        for (int i = 0; i < n; i++)
            m[i] = (rgb[i * rs] + rgb[i * rs + 1] + rgb[i * rs + 2]) / 3.f;
}

#define GUIDE_RUN 64 /* pixels whose means are computed at once */

static void guide(const rvmi_view *rgbv, const rvmi_view *proj, const rvmi_view *out, int y0,
                  int y1)
{
    const int w = out->w;
    const size_t rs = (size_t)rgbv->stride, ps = (size_t)proj->stride, os = (size_t)out->stride;
    float mean[GUIDE_RUN];
    for (int y = y0; y < y1; y++) {
        const float *restrict rgb = px(rgbv, y, 0), *restrict p = px(proj, y, 0);
        float *restrict o = px(out, y, 0);
        for (int x0 = 0; x0 < w; x0 += GUIDE_RUN) {
            const int n = w - x0 < GUIDE_RUN ? w - x0 : GUIDE_RUN;
            guide_means(mean, rgb + (size_t)x0 * rs, rs, n);
            for (int i = 0; i < n; i++) {
                const size_t x = (size_t)(x0 + i);
                const float *r = rgb + x * rs;
                float *q = o + x * os;
#if RVM_VLEN == 16
                /* one 64-byte store a pixel (AVX-512VL: the masked load reads r[0..2] alone) */
                __m128 g = _mm_insert_ps(_mm_maskz_loadu_ps(7, r), _mm_load_ss(mean + i), 0x30);
                __m128 pv = _mm_loadu_ps(p + x * ps);
                __m512 v = _mm512_castps128_ps512(g);
                v = _mm512_insertf32x4(v, pv, 1);
                v = _mm512_insertf32x4(v, _mm_mul_ps(g, pv), 2);
                v = _mm512_insertf32x4(v, _mm_mul_ps(g, g), 3);
                _mm512_storeu_ps(q, v);
#else
                /* a pixel's four-channel groups as vectors: a loop over k stayed scalar */
                typedef float f4 __attribute__((vector_size(16)));
                f4 g = {r[0], r[1], r[2], mean[i]}, pv;
                memcpy(&pv, p + x * ps, sizeof pv);
                f4 gp = g * pv, gg = g * g;
                memcpy(q, &g, sizeof g);
                memcpy(q + 4, &pv, sizeof pv);
                memcpy(q + 8, &gp, sizeof gp);
                memcpy(q + 12, &gg, sizeof gg);
#endif
            }
        }
    }
}

/* n floats of avgpool2's 2x2 means: a, b from one input row, c, d from the next (the sum
 * from 0 in the reference's order: the same floats, -0 included). */
static inline void pool4(float *restrict o, const float *restrict a, const float *restrict b,
                         const float *restrict c, const float *restrict d, int n)
{
    for (int k = 0; k < n; k++)
        o[k] = (((0.f + a[k]) + b[k]) + c[k] + d[k]) / 4.f;
}

/* Through the generic per-element loop (counts and view arithmetic per pixel and channel) the
 * pyramid's first level (480x270 -> 240x135, 3 channels) took 0.22 ms a frame. */
static void avgpool2(const rvmi_view *in, const rvmi_view *out, int y0, int y1)
{
    const int c = in->c, w2 = in->w / 2; /* output pixels with two input columns */
    const size_t is = (size_t)in->stride, os = (size_t)out->stride;
    for (int y = y0; y < y1; y++) {
        const float *r0 = px(in, 2 * y, 0);
        float *o = px(out, y, 0);
        if (2 * y + 1 < in->h) {
            const float *r1 = r0 + (size_t)in->w * is;
            int x = 0;
            if (c == 3)
                for (; x < w2; x++)
                    pool4(o + x * os, r0 + 2 * x * is, r0 + (2 * x + 1) * is, r1 + 2 * x * is,
                          r1 + (2 * x + 1) * is, 3);
            for (; x < w2; x++)
                pool4(o + x * os, r0 + 2 * x * is, r0 + (2 * x + 1) * is, r1 + 2 * x * is,
                      r1 + (2 * x + 1) * is, c);
            for (; x < out->w; x++) /* an odd width's last column: two pixels */
                for (int k = 0; k < c; k++)
                    o[x * os + k] = ((0.f + r0[2 * x * is + k]) + r1[2 * x * is + k]) / 2.f;
        } else { /* an odd height's last row: one input row */
            int x = 0;
            for (; x < w2; x++)
                for (int k = 0; k < c; k++)
                    o[x * os + k] = ((0.f + r0[2 * x * is + k]) + r0[(2 * x + 1) * is + k]) / 2.f;
            for (; x < out->w; x++)
                for (int k = 0; k < c; k++)
                    o[x * os + k] = (0.f + r0[2 * x * is + k]) / 1.f;
        }
    }
}

/* The box means of the guided filter, as l/3 + m/3 + r/3 (the same expression, and so the
 * same contraction into FMAs, as the per-element loops they replace: the same floats). Over
 * whole rows of pixels with restrict pointers and the zeros outside the picture in separate
 * loops: written per element with the edge tests and view arithmetic inside, the loops
 * stayed scalar or nearly so (a band of 6 rows of 480 pixels, 16 channels, AVX-512: 14.7 us
 * horizontally, 9.9 us vertically, about 1.4 ms a 1080p frame at ratio 0.25). */
static inline void box3(float *restrict o, const float *restrict l, const float *restrict m,
                        const float *restrict r, size_t n)
{
    const float third = 1.f / 3.f;
    for (size_t i = 0; i < n; i++)
        o[i] = l[i] * third + m[i] * third + r[i] * third;
}

/* box3 with l, or r, zero (the picture's edge). */
static inline void box2_left(float *restrict o, const float *restrict m, const float *restrict r,
                             size_t n)
{
    const float third = 1.f / 3.f;
    for (size_t i = 0; i < n; i++)
        o[i] = 0.f * third + m[i] * third + r[i] * third;
}
static inline void box2_right(float *restrict o, const float *restrict l, const float *restrict m,
                              size_t n)
{
    const float third = 1.f / 3.f;
    for (size_t i = 0; i < n; i++)
        o[i] = l[i] * third + m[i] * third + 0.f * third;
}
static inline void box1(float *restrict o, const float *restrict m, size_t n)
{
    const float third = 1.f / 3.f;
    for (size_t i = 0; i < n; i++)
        o[i] = 0.f * third + m[i] * third + 0.f * third;
}

/* One row: pixel x of out from pixels x - 1, x, x + 1 of in, c channels (the refiner's 16,
 * a constant there). */
static inline __attribute__((always_inline)) void
box_horizontal_row(const float *restrict in, size_t is, float *restrict out, size_t os, int w,
                   int c)
{
    if (w == 1) {
        box1(out, in, (size_t)c);
        return;
    }
    box2_left(out, in, in + is, (size_t)c);
    for (int x = 1; x + 1 < w; x++)
        box3(out + (size_t)x * os, in + (size_t)(x - 1) * is, in + (size_t)x * is,
             in + (size_t)(x + 1) * is, (size_t)c);
    box2_right(out + (size_t)(w - 1) * os, in + (size_t)(w - 2) * is, in + (size_t)(w - 1) * is,
               (size_t)c);
}

static void box_horizontal(const rvmi_view *in, const rvmi_view *out, int y0, int y1)
{
    const size_t is = (size_t)in->stride, os = (size_t)out->stride;
    for (int y = y0; y < y1; y++) {
        const float *i = px(in, y, 0);
        float *o = px(out, y, 0);
        if (in->c == 16)
            box_horizontal_row(i, is, o, os, in->w, 16);
        else
            box_horizontal_row(i, is, o, os, in->w, in->c);
    }
}

static void box_vertical(const rvmi_view *in, const rvmi_view *out, int y0, int y1)
{
    const int w = in->w, c = in->c;
    /* rows without gaps between pixels are one run of w * c floats */
    const int flat = in->stride == c && out->stride == c;
    const int runs = flat ? 1 : w;
    const size_t n = flat ? (size_t)w * c : (size_t)c;
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < runs; x++) {
            const float *m = px(in, y, x);
            const float *u = y > 0 ? px(in, y - 1, x) : NULL;
            const float *d = y + 1 < in->h ? px(in, y + 1, x) : NULL;
            float *o = px(out, y, x);
            if (u && d)
                box3(o, u, m, d, n);
            else if (d)
                box2_left(o, m, d, n);
            else if (u)
                box2_right(o, u, m, n);
            else
                box1(o, m, n);
        }
}

static void cov_var(const rvmi_view *box, const rvmi_view *out, int y0, int y1)
{
    typedef float f4 __attribute__((vector_size(16))); /* as in guide */
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < box->w; x++) {
            const float *b = px(box, y, x);
            float *o = px(out, y, x);
            f4 m[4];
            memcpy(m, b, sizeof m);
            f4 cov = m[2] - m[0] * m[1], var = m[3] - m[0] * m[0];
            memcpy(o, &cov, sizeof cov);
            memcpy(o + 4, &var, sizeof var);
        }
}

static void fast_a(const rvmi_view *box, const rvmi_view *out, int y0, int y1)
{
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < box->w; x++) {
            const float *b = px(box, y, x);
            float *o = px(out, y, x);
            for (int k = 0; k < 4; k++) {
                float cov = b[8 + k] - b[k] * b[4 + k];
                float var = b[12 + k] - b[k] * b[k];
                o[k] = cov / (var + 1e-5f);
            }
        }
}

static void offset(const rvmi_view *box, const rvmi_view *ab, int y0, int y1)
{
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < box->w; x++) {
            const float *b = px(box, y, x);
            float *o = px(ab, y, x);
            for (int k = 0; k < 4; k++)
                o[4 + k] = b[4 + k] - o[k] * b[k];
        }
}

/* Eight pixels' eight coefficients, each pixel's a vector, transposed into one vector per
 * plane by three rounds of shuffles (unpack, pairs, halves). The plain loop, which the compiler
 * left scalar (eight planes written one float at a time), was 3.5% of a 1080p frame; 3.6x
 * faster so with AVX2 or AVX-512, 3x slower with SSE's 4-float vectors, which keep the loop. */
typedef float f8 __attribute__((vector_size(32)));

static void upsample_row(const float *src, const rvmi_lerp *lxs, int width, float *planes,
                         size_t plane)
{
    int x = 0;
#if RVM_VLEN >= 8
    for (; x + 8 <= width; x += 8) {
        f8 r[8], t[8], u[8];
        for (int p = 0; p < 8; p++) {
            rvmi_lerp l = lxs[x + p];
            f8 a, b;
            memcpy(&a, src + 8 * l.i0, sizeof a);
            memcpy(&b, src + 8 * l.i1, sizeof b);
            r[p] = l.l0 * a + l.l1 * b;
        }
        for (int p = 0; p < 8; p += 2) {
            t[p] = __builtin_shufflevector(r[p], r[p + 1], 0, 8, 1, 9, 4, 12, 5, 13);
            t[p + 1] = __builtin_shufflevector(r[p], r[p + 1], 2, 10, 3, 11, 6, 14, 7, 15);
        }
        for (int p = 0; p < 8; p += 4)
            for (int q = 0; q < 2; q++) {
                u[p + 2 * q] =
                    __builtin_shufflevector(t[p + q], t[p + q + 2], 0, 1, 8, 9, 4, 5, 12, 13);
                u[p + 2 * q + 1] =
                    __builtin_shufflevector(t[p + q], t[p + q + 2], 2, 3, 10, 11, 6, 7, 14, 15);
            }
        for (int c = 0; c < 4; c++) {
            f8 lo = __builtin_shufflevector(u[c], u[c + 4], 0, 1, 2, 3, 8, 9, 10, 11);
            f8 hi = __builtin_shufflevector(u[c], u[c + 4], 4, 5, 6, 7, 12, 13, 14, 15);
            memcpy(planes + c * plane + x, &lo, sizeof lo);
            memcpy(planes + (c + 4) * plane + x, &hi, sizeof hi);
        }
    }
#endif
    for (; x < width; x++) {
        rvmi_lerp l = lxs[x];
        const float *a = src + 8 * l.i0, *b = src + 8 * l.i1;
        for (int c = 0; c < 8; c++)
            planes[c * plane + x] = l.l0 * a[c] + l.l1 * b[c];
    }
}

static inline float clamp01(float v) { return v < 0.f ? 0.f : v > 1.f ? 1.f : v; }

/* A chunk of chroma samples widened to one float per pixel: exact (integers), so the copies
 * specialised for I420 (cstep 1) and NV12 (cstep 2) may differ in code but not in values. */
static inline void widen_chroma(const uint8_t *restrict ur, const uint8_t *restrict vr, int cstep,
                                int x0, int n, float *restrict cu, float *restrict cv)
{
    const uint8_t *u = ur + cstep * (x0 / 2), *v = vr + cstep * (x0 / 2);
    for (int i = 0; i < n / 2; i++) {
        cu[2 * i] = cu[2 * i + 1] = (float)u[cstep * i];
        cv[2 * i] = cv[2 * i + 1] = (float)v[cstep * i];
    }
    if (n & 1)
        cu[n - 1] = (float)u[cstep * (n / 2)], cv[n - 1] = (float)v[cstep * (n / 2)];
}

/* The chroma of a chunk of pixels is first widened to one float per pixel (widen_chroma),
 * then one loop over contiguous floats, the same code for I420 and NV12 (which must give the
 * same bits: the compiler may contract a*b + c into an FMA differently in two copies), does
 * the arithmetic. The per-pixel index cstep * (x / 2) of a variable step did not vectorise
 * (~1.5 ns a pixel, as slow as scalar code, on the network's threads when the command hands
 * it 4:2:0 frames). x0 is even, so a chunk starts at a chroma sample. */
#define YUV_CHUNK 256
static void yuv_row(const uint8_t *restrict yr, const uint8_t *restrict ur,
                    const uint8_t *restrict vr, int cstep, int width, const rvmi_yuv_coeffs *cp,
                    float *restrict r, float *restrict g, float *restrict b)
{
    const rvmi_yuv_coeffs c = *cp;
    float cu[YUV_CHUNK], cv[YUV_CHUNK];
    for (int x0 = 0; x0 < width; x0 += YUV_CHUNK) {
        int n = width - x0 < YUV_CHUNK ? width - x0 : YUV_CHUNK;
        if (cstep == 1)
            widen_chroma(ur, vr, 1, x0, n, cu, cv);
        else
            widen_chroma(ur, vr, 2, x0, n, cu, cv);
        const uint8_t *yy = yr + x0;
        float *rr = r + x0, *gg = g + x0, *bb = b + x0;
        for (int x = 0; x < n; x++) {
            float y = ((float)yy[x] - c.y_off) * c.y_scale;
            float u = (cu[x] - 128.f) * c.c_scale;
            float v = (cv[x] - 128.f) * c.c_scale;
            rr[x] = clamp01(y + c.rv * v);
            gg[x] = clamp01(y - c.gu * u - c.gv * v);
            bb[x] = clamp01(y + c.bu * u);
        }
    }
}

static void packed_row(const uint8_t *restrict p, int bytes, int ro, int go, int bo, int width,
                       float *restrict r, float *restrict g, float *restrict b)
{
    if (bytes == 3 && ro == 0 && go == 1 && bo == 2) {
        /* RGB24, the common case: constant offsets, which the compiler vectorises */
        for (int x = 0; x < width; x++) {
            r[x] = (float)p[3 * x] / 255.f;
            g[x] = (float)p[3 * x + 1] / 255.f;
            b[x] = (float)p[3 * x + 2] / 255.f;
        }
        return;
    }
    for (int x = 0; x < width; x++) {
        const uint8_t *q = p + (size_t)bytes * x;
        r[x] = (float)q[ro] / 255.f;
        g[x] = (float)q[go] / 255.f;
        b[x] = (float)q[bo] / 255.f;
    }
}

const rvmi_loops CAT(rvmi_loops_, RVM_ISA) = {
    .resize = resize,
    .input_rgb24 = input_rgb24,
    .input_planes = input_planes,
    .channel_mean = channel_mean,
    .scale_channels = scale_channels,
    .copy_channels = copy_channels,
    .multiply = multiply,
    .avgpool2 = avgpool2,
    .gru_update = gru_update,
    .guide = guide,
    .box_horizontal = box_horizontal,
    .box_vertical = box_vertical,
    .cov_var = cov_var,
    .fast_a = fast_a,
    .offset = offset,
    .upsample_row = upsample_row,
    .yuv_row = yuv_row,
    .packed_row = packed_row,
};
