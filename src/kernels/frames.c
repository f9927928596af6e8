/* The command's loops over 8- and 16-bit frames (rvmi_frame_loops in kernels.h), written so
 * that the compiler vectorises them: no branches in the per-sample work, integer rounding
 * where it is exact. Compiled once per instruction set, with -ffp-contract=off: no a*b + c
 * is fused, so every set writes the same bytes as the reference (reference_loops.c).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "kernels/kernels.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__)
#include <immintrin.h>
#endif

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

/* round(x * 255 / 65535) for x in 0..65535 (65535 = 255 * 257, and 257 is odd: no ties). */
static inline uint8_t to8(uint32_t x)
{
    return (uint8_t)((x * 255u + 32895u) >> 16);
}

static void u16_to_u8(const uint16_t *restrict in, size_t n, uint8_t *restrict out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = to8(in[i]);
}

/* Sample i of p (depth 8: uint8_t, 16: uint16_t) at the output's depth: 16 to 8 bits rounds. */
static inline uint16_t sample_at(const void *p, size_t i, int depth, int out_depth)
{
    if (depth == 8)
        return ((const uint8_t *)p)[i];
    uint16_t x = ((const uint16_t *)p)[i];
    return out_depth == 8 ? to8(x) : x;
}

static inline void store_at(void *p, size_t i, uint16_t v, int depth)
{
    if (depth == 8)
        ((uint8_t *)p)[i] = (uint8_t)v;
    else
        ((uint16_t *)p)[i] = v;
}

/* RGBA from interleaved RGB and alpha, colour zeroed where the written alpha is 0. Called
 * with constant depths, so that each table entry's loop is compiled for its own types. */
static inline void pack_rgba(const void *restrict fgr, const void *restrict pha, size_t n,
                             int depth, int out_depth, void *restrict out)
{
    for (size_t i = 0; i < n; i++) {
        uint16_t a = sample_at(pha, i, depth, out_depth);
        uint16_t keep = a ? 0xffff : 0;
        for (int c = 0; c < 3; c++)
            store_at(out, 4 * i + c, sample_at(fgr, 3 * i + c, depth, out_depth) & keep,
                     out_depth);
        store_at(out, 4 * i + 3, a, out_depth);
    }
}

static void pack_rgba8(const uint16_t *fgr, const uint16_t *pha, size_t n, uint8_t *out)
{
    pack_rgba(fgr, pha, n, 16, 8, out);
}

static void pack_rgba8_from8(const uint8_t *fgr, const uint8_t *pha, size_t n, uint8_t *out)
{
    pack_rgba(fgr, pha, n, 8, 8, out);
}

static void pack_rgba16(const uint16_t *fgr, const uint16_t *pha, size_t n, uint16_t *out)
{
    pack_rgba(fgr, pha, n, 16, 16, out);
}

/* In 16-bit integers, which vectorise 32 samples to a 512-bit register (the table this
 * replaced, one load per sample, took ~0.6 ms a 1080p frame): x / 255 is
 * (x + (x >> 8) + 1) >> 8 for every x = 219 v + 127 (at most 55972; the test compares all
 * 256 values with the reference's division). */
static void gray_to_luma(const uint8_t *restrict in, size_t n, uint8_t *restrict out)
{
    for (size_t i = 0; i < n; i++) {
        uint16_t x = (uint16_t)(219u * in[i] + 127u);
        out[i] = (uint8_t)(16u + ((uint16_t)(x + (x >> 8) + 1u) >> 8));
    }
}

/* f*a + bg*(1-a) on the 16-bit scale (0..65535). In float: the error is a few thousandths of
 * a 16-bit step, far below the rounding that follows. Blocks of pixels: the alpha is first
 * spread to one value per sample, so that the main loop runs over samples with unit stride
 * (which vectorises; a loop over pixels of three samples does not). */
#define BLOCK 512

static inline void spread_alpha(const uint16_t *restrict pha, size_t n, float *restrict a3)
{
    const float k = 1.0f / 65535.0f;
    for (size_t i = 0; i < n; i++) {
        float a = (float)(int32_t)pha[i] * k;
        a3[3 * i] = a;
        a3[3 * i + 1] = a;
        a3[3 * i + 2] = a;
    }
}

static inline float over(uint16_t f, uint8_t bg, float a)
{
    return (float)(int32_t)f * a + (float)(int32_t)bg * 257.0f * (1.0f - a);
}

/* depth 8: out is uint8_t, 16: uint16_t. */
static inline void over_frame(const uint16_t *restrict fgr, const uint16_t *restrict pha,
                              const uint8_t *restrict bg, size_t n, void *out, int depth)
{
    float a3[3 * BLOCK];
    for (size_t p0 = 0; p0 < n; p0 += BLOCK) {
        size_t m = n - p0 < BLOCK ? n - p0 : BLOCK;
        spread_alpha(pha + p0, m, a3);
        const uint16_t *restrict f = fgr + 3 * p0;
        const uint8_t *restrict b = bg + 3 * p0;
        if (depth == 8) {
            uint8_t *restrict o = (uint8_t *)out + 3 * p0;
            for (size_t j = 0; j < 3 * m; j++)
                o[j] = (uint8_t)(int32_t)(over(f[j], b[j], a3[j]) * (1.0f / 257.0f) + 0.5f);
        } else {
            uint16_t *restrict o = (uint16_t *)out + 3 * p0;
            for (size_t j = 0; j < 3 * m; j++)
                o[j] = (uint16_t)(int32_t)(over(f[j], b[j], a3[j]) + 0.5f);
        }
    }
}

static void over8(const uint16_t *fgr, const uint16_t *pha, const uint8_t *bg, size_t n,
                  uint8_t *out)
{
    over_frame(fgr, pha, bg, n, out, 8);
}

static void over16(const uint16_t *fgr, const uint16_t *pha, const uint8_t *bg, size_t n,
                   uint16_t *out)
{
    over_frame(fgr, pha, bg, n, out, 16);
}

/* Rounded to nearest and clamped to 0..255 (in integers, which vectorises). */
static inline uint8_t to_u8(float v)
{
    int32_t i = (int32_t)(v + 0.5f);
    i = i < 0 ? 0 : i;
    return (uint8_t)(i > 255 ? 255 : i);
}

/* Vertically interpolated chroma with one sample of padding each side, then full-width
 * chroma, then the three colour planes, then the packed pixels: each step a loop the
 * compiler vectorises. */
static void yuv420_row(const uint8_t *restrict yr, const uint8_t *restrict u0,
                       const uint8_t *restrict u1, const uint8_t *restrict v0,
                       const uint8_t *restrict v1, int w, const rvmi_yuv_matrix *mp,
                       uint8_t *restrict d, float *restrict tmp)
{
    const rvmi_yuv_matrix m = *mp;
    int cw = (w + 1) / 2;
    float *restrict pu = tmp, *restrict pv = pu + cw + 2, *restrict cu = pv + cw + 2;
    float *restrict cv = cu + 2 * cw, *restrict rp = cv + 2 * cw, *restrict gp = rp + w;
    float *restrict bp = gp + w;
    for (int i = 0; i < cw; i++) {
        pu[i + 1] = 0.75f * (float)(int32_t)u0[i] + 0.25f * (float)(int32_t)u1[i];
        pv[i + 1] = 0.75f * (float)(int32_t)v0[i] + 0.25f * (float)(int32_t)v1[i];
    }
    pu[0] = pu[1], pu[cw + 1] = pu[cw];
    pv[0] = pv[1], pv[cw + 1] = pv[cw];
    for (int i = 0; i < cw; i++) {
        cu[2 * i] = 0.75f * pu[i + 1] + 0.25f * pu[i];
        cu[2 * i + 1] = 0.75f * pu[i + 1] + 0.25f * pu[i + 2];
        cv[2 * i] = 0.75f * pv[i + 1] + 0.25f * pv[i];
        cv[2 * i + 1] = 0.75f * pv[i + 1] + 0.25f * pv[i + 2];
    }
    for (int x = 0; x < w; x++) {
        float yy = ((float)(int32_t)yr[x] - m.y_off) * m.y_mul;
        float u = (cu[x] - 128.0f) * m.c_mul, v = (cv[x] - 128.0f) * m.c_mul;
        rp[x] = yy + m.cr_r * v;
        gp[x] = yy + m.cb_g * u + m.cr_g * v;
        bp[x] = yy + m.cb_b * u;
    }
    for (int x = 0; x < w; x++) {
        d[3 * x] = to_u8(rp[x]);
        d[3 * x + 1] = to_u8(gp[x]);
        d[3 * x + 2] = to_u8(bp[x]);
    }
}

/* Luma per pixel, then per chroma sample the 2x2 sums of R, G, B (rows added first, so the
 * columns' 1/4, 1/2, 1/4 become sums of neighbours: no branch inside, the edges apart), then
 * the matrix: each a loop the compiler vectorises. In 32-bit integers: the largest chroma
 * sum (14392 * 8 * 255 plus the offset) is far within range. */
static inline int32_t luma(int32_t r, int32_t g, int32_t b)
{
    return (((5983 * r + 20127 * g + 2032 * b + (16 << 15) + 256) >> 9) + 32) >> 6;
}

static void rgb24_to_yuv420(const uint8_t *restrict rgb0, const uint8_t *restrict rgb1, int w,
                            uint8_t *restrict y0, uint8_t *restrict y1, uint8_t *restrict u,
                            uint8_t *restrict v)
{
    for (int x = 0; x < w; x++)
        y0[x] = (uint8_t)luma(rgb0[3 * x], rgb0[3 * x + 1], rgb0[3 * x + 2]);
    for (int x = 0; x < w; x++)
        y1[x] = (uint8_t)luma(rgb1[3 * x], rgb1[3 * x + 1], rgb1[3 * x + 2]);
    int cw = (w + 1) / 2;
    /* Column sums of the two rows, one plane a channel, an odd width's last pixel repeated:
     * col[c][x] for pixel x. On the stack in blocks of pixels. */
    enum { CB = 256 }; /* chroma samples a block */
    int16_t col[3][2 * CB];
    for (int i0 = 0; i0 < cw; i0 += CB) {
        int n = cw - i0 < CB ? cw - i0 : CB;
        int x0 = 2 * i0, x1 = 2 * (i0 + n); /* pixels x0 .. x1-1 */
        int hi = x1 > w ? w : x1;
        for (int c = 0; c < 3; c++) {
            for (int x = x0; x < hi; x++)
                col[c][x - x0] = (int16_t)(rgb0[3 * x + c] + rgb1[3 * x + c]);
            for (int x = hi; x < x1; x++)
                col[c][x - x0] = col[c][w - 1 - x0];
        }
        for (int i = 0; i < n; i++) {
            int32_t s[3];
            for (int c = 0; c < 3; c++)
                s[c] = 2 * (col[c][2 * i] + col[c][2 * i + 1]);
            u[i0 + i] = (uint8_t)((-3298 * s[0] - 11094 * s[1] + 14392 * s[2] + (128 << 18) +
                                   (1 << 17)) >> 18);
            v[i0 + i] = (uint8_t)((14392 * s[0] - 13073 * s[1] - 1320 * s[2] + (128 << 18) +
                                   (1 << 17)) >> 18);
        }
    }
}

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__)
/* x^0.2f for x > 0, 8 at a time in double and rounded once to float: exp2(0.2f * log2(x)),
 * log and exp by series whose error (~1e-14) is far below a float's step, so the result is
 * the correctly rounded power, which glibc's powf also gives but for rare near-ties (where
 * the two differ by one float step: tests/test_kernels.c bounds what that does to the
 * bytes). */
static inline __m256 pow02_8(__m256 xf)
{
    __m512d x = _mm512_cvtps_pd(xf);
    /* x = mt * 2^ex, mt in [0.75, 1.5): |s| <= 0.2 below */
    __m512d mt = _mm512_getmant_pd(x, _MM_MANT_NORM_p75_1p5, _MM_MANT_SIGN_zero);
    __m512d ex = _mm512_getexp_pd(x);
    ex = _mm512_mask_add_pd(ex, _mm512_cmp_pd_mask(mt, _mm512_set1_pd(1.0), _CMP_LT_OQ), ex,
                            _mm512_set1_pd(1.0));
    /* ln(mt) = 2 atanh(s) = 2 (s + s^3/3 + s^5/5 + ...), s = (mt - 1) / (mt + 1) */
    __m512d s = _mm512_div_pd(_mm512_sub_pd(mt, _mm512_set1_pd(1.0)),
                              _mm512_add_pd(mt, _mm512_set1_pd(1.0)));
    __m512d s2 = _mm512_mul_pd(s, s);
    __m512d p = _mm512_set1_pd(1.0 / 19);
    for (int k = 17; k >= 1; k -= 2)
        p = _mm512_fmadd_pd(p, s2, _mm512_set1_pd(1.0 / k));
    __m512d ln_mt = _mm512_mul_pd(_mm512_add_pd(s, s), p);
    /* y = 0.2f * log2(x) (0.2f, the float powf is given), then 2^y = 2^n * e^(f ln 2) */
    const double a = (double)0.2f;
    __m512d y = _mm512_fmadd_pd(ln_mt, _mm512_set1_pd(a / 0.69314718055994530942),
                                _mm512_mul_pd(ex, _mm512_set1_pd(a)));
    __m512d n = _mm512_roundscale_pd(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512d t = _mm512_mul_pd(_mm512_sub_pd(y, n), _mm512_set1_pd(0.69314718055994530942));
    /* |t| <= 0.35: Taylor to t^14 */
    static const double inv_fact[15] = {1.0,
                                        1.0,
                                        1.0 / 2,
                                        1.0 / 6,
                                        1.0 / 24,
                                        1.0 / 120,
                                        1.0 / 720,
                                        1.0 / 5040,
                                        1.0 / 40320,
                                        1.0 / 362880,
                                        1.0 / 3628800,
                                        1.0 / 39916800,
                                        1.0 / 479001600,
                                        1.0 / 6227020800.0,
                                        1.0 / 87178291200.0};
    __m512d q = _mm512_set1_pd(inv_fact[14]);
    for (int k = 13; k >= 0; k--)
        q = _mm512_fmadd_pd(q, t, _mm512_set1_pd(inv_fact[k]));
    return _mm512_cvtpd_ps(_mm512_scalef_pd(q, n));
}

static __m512 pow02(__m512 x)
{
    __m256 lo = pow02_8(_mm512_castps512_ps256(x));
    __m256 hi = pow02_8(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)));
    return _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1);
}

/* 16 pixels at a time: the channels loaded from their planes or picked out of the
 * interleaved words, the tables read by gathers, the same float operations in the same order
 * as the reference. */
static void hdr_tone_row(const uint16_t *pr, const uint16_t *pg, const uint16_t *pb, int step,
                         int w, const rvmi_hdr_tone *t, uint8_t *restrict dst)
{
    if (step != 1 && !(step == 3 && pg == pr + 1 && pb == pr + 2)) {
        rvmi_hdr_tone_row_reference(pr, pg, pb, step, w, t, dst);
        return;
    }
    const __m512 zero = _mm512_setzero_ps();
    const __m512 m0 = _mm512_set1_ps(t->mx[0]), m1 = _mm512_set1_ps(t->mx[1]),
                 m2 = _mm512_set1_ps(t->mx[2]), m3 = _mm512_set1_ps(t->mx[3]),
                 m4 = _mm512_set1_ps(t->mx[4]), m5 = _mm512_set1_ps(t->mx[5]),
                 m6 = _mm512_set1_ps(t->mx[6]), m7 = _mm512_set1_ps(t->mx[7]),
                 m8 = _mm512_set1_ps(t->mx[8]);
    const float knee = t->knee, omk = 1 - knee, mm = t->m * t->m;
    const __m512 vknee = _mm512_set1_ps(knee), vomk = _mm512_set1_ps(omk),
                 vmm = _mm512_set1_ps(mm), one = _mm512_set1_ps(1.0f);
    /* word indices of R, G and B in 48 words (32 in a, 16 in b: 32 + i) */
    __m512i ir = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 45, 42, 39,
                                  36, 33, 30, 27, 24, 21, 18, 15, 12, 9, 6, 3, 0);
    __m512i ig = _mm512_add_epi16(ir, _mm512_set1_epi16(1));
    __m512i ib = _mm512_add_epi16(ir, _mm512_set1_epi16(2));
    /* bytes 0-2 of each pixel's 32-bit lane, 12 per 128-bit lane, then the lanes joined */
    const __m512i pack = _mm512_broadcast_i32x4(
        _mm_setr_epi8(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1));
    const __m512i join = _mm512_setr_epi32(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, 3, 7, 11, 15);
    for (int x = 0; x < w; x += 16) {
        int n = w - x < 16 ? w - x : 16, words = 3 * n;
        __m512i cr, cg, cb;
        if (step == 1) {
            __mmask16 k = (__mmask16)((1u << n) - 1);
            cr = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(k, pr + x));
            cg = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(k, pg + x));
            cb = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(k, pb + x));
        } else { /* packed: pg and pb follow pr */
            __mmask32 ka = words >= 32 ? 0xffffffffu : (__mmask32)((1u << words) - 1);
            __mmask32 kb = words > 32 ? (__mmask32)((1u << (words - 32)) - 1) : 0;
            __m512i a = _mm512_maskz_loadu_epi16(ka, pr + 3 * x);
            __m512i b = _mm512_maskz_loadu_epi16(kb, pr + 3 * x + 32);
            cr = _mm512_cvtepu16_epi32(
                _mm512_castsi512_si256(_mm512_permutex2var_epi16(a, ir, b)));
            cg = _mm512_cvtepu16_epi32(
                _mm512_castsi512_si256(_mm512_permutex2var_epi16(a, ig, b)));
            cb = _mm512_cvtepu16_epi32(
                _mm512_castsi512_si256(_mm512_permutex2var_epi16(a, ib, b)));
        }
        __m512 c0 = _mm512_i32gather_ps(cr, t->lin, 4);
        __m512 c1 = _mm512_i32gather_ps(cg, t->lin, 4);
        __m512 c2 = _mm512_i32gather_ps(cb, t->lin, 4);
        if (t->hlg) {
            __m512 ys = _mm512_add_ps(
                _mm512_add_ps(_mm512_mul_ps(_mm512_set1_ps(0.2627f), c0),
                              _mm512_mul_ps(_mm512_set1_ps(0.6780f), c1)),
                _mm512_mul_ps(_mm512_set1_ps(0.0593f), c2));
            __mmask16 pos = _mm512_cmp_ps_mask(ys, zero, _CMP_GT_OQ);
            __m512 pw = _mm512_maskz_mov_ps(pos, pow02(_mm512_mask_mov_ps(one, pos, ys)));
            __m512 g = _mm512_mul_ps(_mm512_set1_ps((float)(1000.0 / 203.0)), pw);
            c0 = _mm512_mul_ps(c0, g), c1 = _mm512_mul_ps(c1, g), c2 = _mm512_mul_ps(c2, g);
        }
        __m512 o0 = _mm512_max_ps(
            _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(m0, c0), _mm512_mul_ps(m1, c1)),
                          _mm512_mul_ps(m2, c2)),
            zero);
        __m512 o1 = _mm512_max_ps(
            _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(m3, c0), _mm512_mul_ps(m4, c1)),
                          _mm512_mul_ps(m5, c2)),
            zero);
        __m512 o2 = _mm512_max_ps(
            _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(m6, c0), _mm512_mul_ps(m7, c1)),
                          _mm512_mul_ps(m8, c2)),
            zero);
        __m512 top = _mm512_max_ps(o0, _mm512_max_ps(o1, o2));
        __mmask16 over = _mm512_cmp_ps_mask(top, vknee, _CMP_GT_OQ);
        if (over) {
            __m512 e = _mm512_div_ps(_mm512_sub_ps(top, vknee), vomk);
            __m512 mapped = _mm512_add_ps(
                vknee, _mm512_div_ps(_mm512_mul_ps(_mm512_mul_ps(vomk, e),
                                                   _mm512_add_ps(one, _mm512_div_ps(e, vmm))),
                                     _mm512_add_ps(one, e)));
            __m512 sc = _mm512_div_ps(_mm512_min_ps(mapped, one), top);
            o0 = _mm512_mask_mul_ps(o0, over, o0, sc);
            o1 = _mm512_mask_mul_ps(o1, over, o1, sc);
            o2 = _mm512_mask_mul_ps(o2, over, o2, sc);
        }
        const __m512 k65535 = _mm512_set1_ps(65535.0f), half = _mm512_set1_ps(0.5f);
        const __m512i lo = _mm512_setzero_si512(), hi = _mm512_set1_epi32(65535);
        __m512i q0 = _mm512_cvttps_epi32(_mm512_add_ps(_mm512_mul_ps(o0, k65535), half));
        __m512i q1 = _mm512_cvttps_epi32(_mm512_add_ps(_mm512_mul_ps(o1, k65535), half));
        __m512i q2 = _mm512_cvttps_epi32(_mm512_add_ps(_mm512_mul_ps(o2, k65535), half));
        q0 = _mm512_min_epi32(_mm512_max_epi32(q0, lo), hi);
        q1 = _mm512_min_epi32(_mm512_max_epi32(q1, lo), hi);
        q2 = _mm512_min_epi32(_mm512_max_epi32(q2, lo), hi);
        const __m512i byte = _mm512_set1_epi32(0xff);
        __m512i r8 = _mm512_and_si512(_mm512_i32gather_epi32(q0, t->oetf, 1), byte);
        __m512i g8 = _mm512_and_si512(_mm512_i32gather_epi32(q1, t->oetf, 1), byte);
        __m512i b8 = _mm512_and_si512(_mm512_i32gather_epi32(q2, t->oetf, 1), byte);
        __m512i px = _mm512_or_si512(r8, _mm512_or_si512(_mm512_slli_epi32(g8, 8),
                                                         _mm512_slli_epi32(b8, 16)));
        px = _mm512_permutexvar_epi32(join, _mm512_shuffle_epi8(px, pack));
        _mm512_mask_storeu_epi8(dst + 3 * x, ((__mmask64)1 << words) - 1, px);
    }
}
#endif

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__)
/* blend_yuv420: 16 pixels of each row at a time. The steps it stands for are compiled
 * elsewhere: yuv_row in loops.c and blend_row in simd.c with multiply-adds contracted into
 * FMAs as GCC contracted them there (checked in their code: y' = Y - y_off is multiplied by
 * y_scale inside each channel's FMA, G as (y' * y_scale - gu * u) - gv * v), the 16-bit store
 * and over8 without FMAs (this file is compiled with -ffp-contract=off, so only the
 * intrinsics below fuse). tests/test_yuv420.c compares every byte with those kernels. */
static inline __m512 clamp01_ps(__m512 v)
{
    /* v < 0 ? 0 : v > 1 ? 1 : v, as loops.c's clamp01 and blend's CLAMP01 (finite values) */
    return _mm512_min_ps(_mm512_set1_ps(1.f), _mm512_max_ps(_mm512_setzero_ps(), v));
}

/* (int32)(v * 65535 + 0.5), then over8's float of it */
static inline __m512i to_u16(__m512 v)
{
    return _mm512_cvttps_epi32(
        _mm512_add_ps(_mm512_mul_ps(v, _mm512_set1_ps(65535.f)), _mm512_set1_ps(0.5f)));
}

/* over8 of one channel: f * a + bg * 257 * (1 - a), times 1/257, plus 0.5, truncated */
static inline __m512i over_ch(__m512i f16, __m512 a, __m512 bg)
{
    __m512 o = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(f16), a),
                             _mm512_mul_ps(_mm512_mul_ps(bg, _mm512_set1_ps(257.f)),
                                           _mm512_sub_ps(_mm512_set1_ps(1.f), a)));
    return _mm512_cvttps_epi32(
        _mm512_add_ps(_mm512_mul_ps(o, _mm512_set1_ps(1.0f / 257.0f)), _mm512_set1_ps(0.5f)));
}

static void blend_yuv420(const rvmi_yuv420_pair *p, int x0, int x1)
{
    const rvmi_yuv_coeffs c = *p->c;
    const __m512 yoff = _mm512_set1_ps(c.y_off), ys = _mm512_set1_ps(c.y_scale);
    const __m512 cs = _mm512_set1_ps(c.c_scale), m128 = _mm512_set1_ps(-128.f);
    const __m512 rv = _mm512_set1_ps(c.rv), gu = _mm512_set1_ps(c.gu);
    const __m512 gv = _mm512_set1_ps(c.gv), bu = _mm512_set1_ps(c.bu);
    const __m512 three = _mm512_set1_ps(3.f), k16 = _mm512_set1_ps(1.0f / 65535.0f);
    /* chroma sample i of the 16 pixels' 8 for pixel x: lane x / 2 */
    const __m512i dup = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 0, 0, 0, 0, 0, 0, 0, 0);
    const int rows = p->rows;
    __m512 vl0[2], vl1[2];
    for (int r = 0; r < rows; r++)
        vl0[r] = _mm512_set1_ps(p->l0[r]), vl1[r] = _mm512_set1_ps(p->l1[r]);
    /* the colour background as three vectors, and the byte shuffles of packed RGB */
    const __m512 cr = _mm512_set1_ps((float)p->colour[0] * 1.f);
    const __m512 cg = _mm512_set1_ps((float)p->colour[1] * 1.f);
    const __m512 cb = _mm512_set1_ps((float)p->colour[2] * 1.f);
    for (int x = x0; x < x1; x += 16) {
        if (!(x & 63)) {
            /* A cache line of each row 1 KB ahead (on the next pair's past the row's end):
             * without, a fifth of the kernel's time waited on the frame's luma (1080p). */
            for (int r = 0; r < 2; r++) {
                _mm_prefetch((const char *)p->y[r] + x + 1024, _MM_HINT_T0);
                __builtin_prefetch(p->oy[r] + x + 1024, 1);
                if (p->matte[r])
                    __builtin_prefetch(p->matte[r] + x + 1024, 1);
                if (p->bg[r])
                    for (int b = 0; b < 3; b++)
                        _mm_prefetch((const char *)p->bg[r] + 3 * x + 2048 + 64 * b, _MM_HINT_T0);
            }
            if (!(x & 127)) {
                _mm_prefetch((const char *)p->u + x / 2 + 512, _MM_HINT_T0);
                _mm_prefetch((const char *)p->v + x / 2 + 512, _MM_HINT_T0);
                __builtin_prefetch(p->ou + x / 2 + 512, 1);
                __builtin_prefetch(p->ov + x / 2 + 512, 1);
            }
        }
        /* u, v as yuv_row widens them: float(sample) - 128, times c_scale */
        __m512 cu = _mm512_cvtepi32_ps(_mm512_permutexvar_epi32(
            dup, _mm512_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p->u + x / 2)))));
        __m512 cv = _mm512_cvtepi32_ps(_mm512_permutexvar_epi32(
            dup, _mm512_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p->v + x / 2)))));
        __m512 u = _mm512_mul_ps(_mm512_add_ps(cu, m128), cs);
        __m512 v = _mm512_mul_ps(_mm512_add_ps(cv, m128), cs);
        __m512 rvv = _mm512_mul_ps(rv, v), guu = _mm512_mul_ps(gu, u), buu = _mm512_mul_ps(bu, u);
        __m512i s[3] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()}; /* the two rows' 8-bit composition, added: rgb24_to_yuv420's column sums */
        for (int r = 0; r < rows; r++) {
            __m512 yd = _mm512_sub_ps(
                _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p->y[r] + x)))),
                yoff);
            __m512 ir = clamp01_ps(_mm512_fmadd_ps(yd, ys, rvv));
            __m512 ig = clamp01_ps(_mm512_fnmadd_ps(gv, v, _mm512_fmsub_ps(yd, ys, guu)));
            __m512 ib = clamp01_ps(_mm512_fmadd_ps(yd, ys, buu));
            const float *h0 = p->h0[r] + x, *h1 = p->h1[r] + x;
            const size_t pl = p->plane;
#define ROWV(k) _mm512_fmadd_ps(vl0[r], _mm512_loadu_ps(h0 + (k) * pl), \
                                _mm512_mul_ps(vl1[r], _mm512_loadu_ps(h1 + (k) * pl)))
            __m512 grey = _mm512_div_ps(_mm512_add_ps(_mm512_add_ps(ir, ig), ib), three);
            __m512 a = clamp01_ps(_mm512_fmadd_ps(ROWV(3), grey, ROWV(7)));
            __m512 fr = clamp01_ps(_mm512_add_ps(_mm512_fmadd_ps(ROWV(0), ir, ROWV(4)), ir));
            __m512 fg = clamp01_ps(_mm512_add_ps(_mm512_fmadd_ps(ROWV(1), ig, ROWV(5)), ig));
            __m512 fb = clamp01_ps(_mm512_add_ps(_mm512_fmadd_ps(ROWV(2), ib, ROWV(6)), ib));
#undef ROWV
            __m512i a16 = to_u16(a);
            if (p->matte[r]) {
                /* u16_to_u8, then gray_to_luma, in 32-bit lanes (the same integers) */
                __m512i a8 = _mm512_srli_epi32(
                    _mm512_add_epi32(_mm512_mullo_epi32(a16, _mm512_set1_epi32(255)),
                                     _mm512_set1_epi32(32895)), 16);
                __m512i t = _mm512_add_epi32(_mm512_mullo_epi32(a8, _mm512_set1_epi32(219)),
                                             _mm512_set1_epi32(127));
                __m512i l = _mm512_add_epi32(
                    _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(t, _mm512_srli_epi32(t, 8)),
                                                       _mm512_set1_epi32(1)), 8),
                    _mm512_set1_epi32(16));
                _mm_storeu_si128((__m128i *)(p->matte[r] + x), _mm512_cvtepi32_epi8(l));
            }
            __m512 af = _mm512_mul_ps(_mm512_cvtepi32_ps(a16), k16);
            __m512 br = cr, bgc = cg, bb = cb;
            if (p->bg[r]) {
                /* 48 bytes of packed RGB to three vectors of 16 */
                const uint8_t *q = p->bg[r] + 3 * x;
                __m512i raw = _mm512_maskz_loadu_epi8(((__mmask64)1 << 48) - 1, q);
                const __m512i pr = _mm512_setr_epi32(0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 33, 36, 39, 42, 45);
                __m512i w0 = _mm512_cvtepu8_epi32(_mm512_castsi512_si128(raw));
                __m512i w1 = _mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(raw, 1));
                __m512i w2 = _mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(raw, 2));
                /* bytes 0..47 as 32-bit lanes in w0 (0-15), w1 (16-31), w2 (32-47) */
                __m512i r01 = _mm512_permutex2var_epi32(w0, pr, w1); /* lanes < 32 */
                __m512i g01 = _mm512_permutex2var_epi32(w0, _mm512_add_epi32(pr, _mm512_set1_epi32(1)), w1);
                __m512i b01 = _mm512_permutex2var_epi32(w0, _mm512_add_epi32(pr, _mm512_set1_epi32(2)), w1);
                /* indices >= 32 are in w2: lanes whose index is 32 or more take w2's */
                __m512i ri = pr, gi = _mm512_add_epi32(pr, _mm512_set1_epi32(1));
                __m512i bi = _mm512_add_epi32(pr, _mm512_set1_epi32(2));
                __m512i c32 = _mm512_set1_epi32(32);
                __mmask16 mr = _mm512_cmpge_epi32_mask(ri, c32), mg = _mm512_cmpge_epi32_mask(gi, c32);
                __mmask16 mb = _mm512_cmpge_epi32_mask(bi, c32);
                r01 = _mm512_mask_permutexvar_epi32(r01, mr, _mm512_sub_epi32(ri, c32), w2);
                g01 = _mm512_mask_permutexvar_epi32(g01, mg, _mm512_sub_epi32(gi, c32), w2);
                b01 = _mm512_mask_permutexvar_epi32(b01, mb, _mm512_sub_epi32(bi, c32), w2);
                br = _mm512_cvtepi32_ps(r01), bgc = _mm512_cvtepi32_ps(g01), bb = _mm512_cvtepi32_ps(b01);
            }
            __m512i o[3] = {over_ch(to_u16(fr), af, br), over_ch(to_u16(fg), af, bgc),
                            over_ch(to_u16(fb), af, bb)};
            /* luma: (((5983 r + 20127 g + 2032 b + (16 << 15) + 256) >> 9) + 32) >> 6 */
            __m512i lum = _mm512_add_epi32(
                _mm512_add_epi32(_mm512_mullo_epi32(o[0], _mm512_set1_epi32(5983)),
                                 _mm512_mullo_epi32(o[1], _mm512_set1_epi32(20127))),
                _mm512_add_epi32(_mm512_mullo_epi32(o[2], _mm512_set1_epi32(2032)),
                                 _mm512_set1_epi32((16 << 15) + 256)));
            lum = _mm512_srai_epi32(_mm512_add_epi32(_mm512_srai_epi32(lum, 9), _mm512_set1_epi32(32)), 6);
            __m128i l8 = _mm512_cvtepi32_epi8(lum);
            _mm_storeu_si128((__m128i *)(p->oy[r] + x), l8);
            if (rows == 1)
                _mm_storeu_si128((__m128i *)(p->oy[1] + x), l8);
            for (int k = 0; k < 3; k++)
                s[k] = r ? _mm512_add_epi32(s[k], o[k]) : o[k];
        }
        if (rows == 1)
            for (int k = 0; k < 3; k++)
                s[k] = _mm512_add_epi32(s[k], s[k]);
        /* chroma: per pair of pixels 2 * (col[2i] + col[2i + 1]), then swscale's matrix */
        __m512i q[3];
        for (int k = 0; k < 3; k++)
            q[k] = _mm512_slli_epi32(_mm512_add_epi32(_mm512_permutexvar_epi32(even, s[k]),
                                                      _mm512_permutexvar_epi32(odd, s[k])), 1);
        __m512i rnd = _mm512_set1_epi32((128 << 18) + (1 << 17));
        __m512i uu = _mm512_srai_epi32(
            _mm512_add_epi32(_mm512_add_epi32(_mm512_mullo_epi32(q[0], _mm512_set1_epi32(-3298)),
                                              _mm512_mullo_epi32(q[1], _mm512_set1_epi32(-11094))),
                             _mm512_add_epi32(_mm512_mullo_epi32(q[2], _mm512_set1_epi32(14392)), rnd)),
            18);
        __m512i vv = _mm512_srai_epi32(
            _mm512_add_epi32(_mm512_add_epi32(_mm512_mullo_epi32(q[0], _mm512_set1_epi32(14392)),
                                              _mm512_mullo_epi32(q[1], _mm512_set1_epi32(-13073))),
                             _mm512_add_epi32(_mm512_mullo_epi32(q[2], _mm512_set1_epi32(-1320)), rnd)),
            18);
        _mm_storel_epi64((__m128i *)(p->ou + x / 2), _mm512_cvtepi32_epi8(uu));
        _mm_storel_epi64((__m128i *)(p->ov + x / 2), _mm512_cvtepi32_epi8(vv));
    }
}
#endif

const rvmi_frame_loops CAT(rvmi_frames_, RVM_ISA) = {
    .u16_to_u8 = u16_to_u8,
    .pack_rgba8 = pack_rgba8,
    .pack_rgba16 = pack_rgba16,
    .pack_rgba8_from8 = pack_rgba8_from8,
    .over8 = over8,
    .over16 = over16,
    .gray_to_luma = gray_to_luma,
    .yuv420_row = yuv420_row,
    .rgb24_to_yuv420 = rgb24_to_yuv420,
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__)
    .hdr_tone_row = hdr_tone_row,
    .blend_yuv420 = blend_yuv420,
#else
    .hdr_tone_row = rvmi_hdr_tone_row_reference,
#endif
};
