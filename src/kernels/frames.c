/* The command's loops over 8- and 16-bit frames (rvmi_frame_loops in kernels.h), written so
 * that the compiler vectorises them: no branches in the per-sample work, integer rounding
 * where it is exact. Compiled once per instruction set, with -ffp-contract=off: no a*b + c
 * is fused, so every set writes the same bytes as the reference (reference_loops.c).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "kernels/kernels.h"

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

static void pack_rgba8(const uint16_t *restrict fgr, const uint16_t *restrict pha, size_t n,
                       uint8_t *restrict out)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t a = to8(pha[i]);
        uint8_t keep = a ? 0xff : 0; /* colour zeroed where the written alpha is 0 */
        out[4 * i] = to8(fgr[3 * i]) & keep;
        out[4 * i + 1] = to8(fgr[3 * i + 1]) & keep;
        out[4 * i + 2] = to8(fgr[3 * i + 2]) & keep;
        out[4 * i + 3] = a;
    }
}

static void pack_rgba8_from8(const uint8_t *restrict fgr, const uint8_t *restrict pha, size_t n,
                             uint8_t *restrict out)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t a = pha[i];
        uint8_t keep = a ? 0xff : 0;
        out[4 * i] = fgr[3 * i] & keep;
        out[4 * i + 1] = fgr[3 * i + 1] & keep;
        out[4 * i + 2] = fgr[3 * i + 2] & keep;
        out[4 * i + 3] = a;
    }
}

static void pack_rgba16(const uint16_t *restrict fgr, const uint16_t *restrict pha, size_t n,
                        uint16_t *restrict out)
{
    for (size_t i = 0; i < n; i++) {
        uint16_t a = pha[i];
        uint16_t keep = a ? 0xffff : 0;
        out[4 * i] = fgr[3 * i] & keep;
        out[4 * i + 1] = fgr[3 * i + 1] & keep;
        out[4 * i + 2] = fgr[3 * i + 2] & keep;
        out[4 * i + 3] = a;
    }
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
    /* Column sums of the two rows, one plane a channel, with the edge pixels repeated:
     * col[c][x + 1] for pixel x (x = -1 .. w). On the stack in blocks of pixels. */
    enum { CB = 256 }; /* chroma samples a block */
    int16_t col[3][2 * CB + 2];
    for (int i0 = 0; i0 < cw; i0 += CB) {
        int n = cw - i0 < CB ? cw - i0 : CB;
        int x0 = 2 * i0 - 1, x1 = 2 * (i0 + n) + 1; /* pixels x0 .. x1-1 */
        int lo = x0 < 0 ? 0 : x0, hi = x1 > w ? w : x1;
        for (int c = 0; c < 3; c++) {
            int16_t *restrict cc = col[c] - x0;
            for (int x = lo; x < hi; x++)
                cc[x] = (int16_t)(rgb0[3 * x + c] + rgb1[3 * x + c]);
            if (x0 < 0)
                cc[x0] = cc[0];
            for (int x = hi; x < x1; x++)
                cc[x] = cc[w - 1];
        }
        for (int i = 0; i < n; i++) {
            int32_t s[3];
            for (int c = 0; c < 3; c++)
                s[c] = col[c][2 * i] + 2 * col[c][2 * i + 1] + col[c][2 * i + 2];
            u[i0 + i] = (uint8_t)((-3298 * s[0] - 11094 * s[1] + 14392 * s[2] + (128 << 18) +
                                   (1 << 17)) >> 18);
            v[i0 + i] = (uint8_t)((14392 * s[0] - 13073 * s[1] - 1320 * s[2] + (128 << 18) +
                                   (1 << 17)) >> 18);
        }
    }
}

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
};
