/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "io/compose.h"

/* Written this way so that NaN (which fails every comparison) becomes 0. */
static inline float clamp01(float v)
{
    return v > 0.0f ? (v < 1.0f ? v : 1.0f) : 0.0f;
}

/* Round to nearest (the official converter truncates, which darkens by half a step). */
static inline uint8_t q8(float v)
{
    return (uint8_t)(clamp01(v) * 255.0f + 0.5f);
}

static inline uint16_t q16(float v)
{
    return (uint16_t)(clamp01(v) * 65535.0f + 0.5f);
}

void rvm_pack_gray8(const float *pha, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = q8(pha[i]);
}

void rvm_pack_gray16(const float *pha, size_t n, uint16_t *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = q16(pha[i]);
}

void rvm_pack_rgb8(const float *fgr, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < 3 * n; i++)
        out[i] = q8(fgr[i]);
}

void rvm_pack_rgb16(const float *fgr, size_t n, uint16_t *out)
{
    for (size_t i = 0; i < 3 * n; i++)
        out[i] = q16(fgr[i]);
}

void rvm_pack_rgba8(const float *fgr, const float *pha, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t a = q8(pha[i]);
        uint8_t *o = out + 4 * i;
        if (a == 0) {
            o[0] = o[1] = o[2] = o[3] = 0;
            continue;
        }
        o[0] = q8(fgr[3 * i]);
        o[1] = q8(fgr[3 * i + 1]);
        o[2] = q8(fgr[3 * i + 2]);
        o[3] = a;
    }
}

void rvm_pack_rgba16(const float *fgr, const float *pha, size_t n, uint16_t *out)
{
    for (size_t i = 0; i < n; i++) {
        uint16_t a = q16(pha[i]);
        uint16_t *o = out + 4 * i;
        if (a == 0) {
            o[0] = o[1] = o[2] = o[3] = 0;
            continue;
        }
        o[0] = q16(fgr[3 * i]);
        o[1] = q16(fgr[3 * i + 1]);
        o[2] = q16(fgr[3 * i + 2]);
        o[3] = a;
    }
}

void rvm_compose_over8(const float *fgr, const float *pha, const uint8_t *bg, size_t n,
                       uint8_t *out)
{
    const float k = 1.0f / 255.0f;
    for (size_t i = 0; i < n; i++) {
        float a = clamp01(pha[i]);
        for (int c = 0; c < 3; c++) {
            float f = clamp01(fgr[3 * i + c]);
            out[3 * i + c] = q8(f * a + (float)bg[3 * i + c] * k * (1.0f - a));
        }
    }
}

void rvm_compose_over16(const float *fgr, const float *pha, const uint8_t *bg, size_t n,
                        uint16_t *out)
{
    const float k = 1.0f / 255.0f;
    for (size_t i = 0; i < n; i++) {
        float a = clamp01(pha[i]);
        for (int c = 0; c < 3; c++) {
            float f = clamp01(fgr[3 * i + c]);
            out[3 * i + c] = q16(f * a + (float)bg[3 * i + c] * k * (1.0f - a));
        }
    }
}
