/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Plain loops over whole frames, written so that the compiler vectorises them: no branches
 * in the per-sample work, integer rounding where it is exact. */
#include "io/compose.h"

#include "kernels/clones.h"

/* The frame-sized loops below are also built for AVX2 (twice as fast), picked at run time. */

/* round(x * 255 / 65535) for x in 0..65535 (65535 = 255 * 257, and 257 is odd: no ties). */
static inline uint8_t to8(uint32_t x)
{
    return (uint8_t)((x * 255u + 32895u) >> 16);
}

RVM_CLONES_AVX2 void rvmi_u16_to_u8(const uint16_t *restrict in, size_t n, uint8_t *restrict out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = to8(in[i]);
}

RVM_CLONES_AVX2 void rvmi_pack_rgba8(const uint16_t *restrict fgr, const uint16_t *restrict pha,
                           size_t n, uint8_t *restrict out)
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

RVM_CLONES_AVX2 void rvmi_pack_rgba8_from8(const uint8_t *restrict fgr, const uint8_t *restrict pha,
                                 size_t n, uint8_t *restrict out)
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

RVM_CLONES_AVX2 void rvmi_pack_rgba16(const uint16_t *restrict fgr, const uint16_t *restrict pha,
                            size_t n, uint16_t *restrict out)
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

/* f*a + bg*(1-a) on the 16-bit scale (0..65535): fgr and alpha are 16-bit samples, bg an
 * 8-bit one (x257 is the same value on the 16-bit scale). In float: the error is a few
 * thousandths of a 16-bit step, far below the rounding that follows. Blocks of pixels: the
 * alpha is first spread to one value per sample, so that the main loop runs over samples
 * with unit stride (which vectorises; a loop over pixels of three samples does not). */
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

/* bg advances with the pixels (bg_all: a picture) or is one block's pattern repeated (a
 * colour). depth 8: out is uint8_t, 16: uint16_t. */
static inline void over_frame(const uint16_t *restrict fgr, const uint16_t *restrict pha,
                              const uint8_t *restrict bg, int bg_all, size_t n, void *out,
                              int depth)
{
    float a3[3 * BLOCK];
    for (size_t p0 = 0; p0 < n; p0 += BLOCK) {
        size_t m = n - p0 < BLOCK ? n - p0 : BLOCK;
        spread_alpha(pha + p0, m, a3);
        const uint16_t *restrict f = fgr + 3 * p0;
        const uint8_t *restrict b = bg_all ? bg + 3 * p0 : bg;
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

/* A colour as one block of pixels. */
static void colour_block(const uint8_t rgb[3], uint8_t *block)
{
    for (int i = 0; i < BLOCK; i++) {
        block[3 * i] = rgb[0];
        block[3 * i + 1] = rgb[1];
        block[3 * i + 2] = rgb[2];
    }
}

RVM_CLONES_AVX2 void rvmi_compose_over8(const uint16_t *fgr, const uint16_t *pha, const uint8_t *bg,
                              size_t n, uint8_t *out)
{
    over_frame(fgr, pha, bg, 1, n, out, 8);
}

RVM_CLONES_AVX2 void rvmi_compose_over16(const uint16_t *fgr, const uint16_t *pha, const uint8_t *bg,
                               size_t n, uint16_t *out)
{
    over_frame(fgr, pha, bg, 1, n, out, 16);
}

RVM_CLONES_AVX2 void rvmi_compose_colour8(const uint16_t *fgr, const uint16_t *pha, const uint8_t rgb[3],
                                size_t n, uint8_t *out)
{
    uint8_t block[3 * BLOCK];
    colour_block(rgb, block);
    over_frame(fgr, pha, block, 0, n, out, 8);
}

RVM_CLONES_AVX2 void rvmi_compose_colour16(const uint16_t *fgr, const uint16_t *pha,
                                 const uint8_t rgb[3], size_t n, uint16_t *out)
{
    uint8_t block[3 * BLOCK];
    colour_block(rgb, block);
    over_frame(fgr, pha, block, 0, n, out, 16);
}
