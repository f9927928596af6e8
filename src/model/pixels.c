/* Input frames of every format (rvm_frame) as the network reads them: rows of floats.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "model/pixels.h"

#include <stdint.h>
#include <stdio.h>

#include "kernels/clones.h"

typedef struct {
    int bytes;        /* per pixel */
    int r, g, b;      /* byte offsets of the channels */
} packed_layout;

static int packed(rvm_format f, packed_layout *l)
{
    switch (f) {
    case RVM_FORMAT_RGB24: *l = (packed_layout){3, 0, 1, 2}; return 1;
    case RVM_FORMAT_BGR24: *l = (packed_layout){3, 2, 1, 0}; return 1;
    case RVM_FORMAT_RGBA:
    case RVM_FORMAT_RGBX: *l = (packed_layout){4, 0, 1, 2}; return 1;
    case RVM_FORMAT_BGRA:
    case RVM_FORMAT_BGRX: *l = (packed_layout){4, 2, 1, 0}; return 1;
    default: return 0;
    }
}

int rvmi_frame_check(const rvm_frame *f, char *err, size_t errlen)
{
#define FAIL(...) return snprintf(err, errlen, __VA_ARGS__), RVM_EINVAL
    if (!f)
        FAIL("no frame");
    if (f->width < 1 || f->height < 1 || f->width > RVM_MAX_SIDE || f->height > RVM_MAX_SIDE)
        FAIL("frame size %dx%d is outside 1..%d", f->width, f->height, RVM_MAX_SIDE);
    packed_layout l;
    int planes;
    ptrdiff_t row[3];
    ptrdiff_t cw = (f->width + 1) / 2;
    if (packed(f->format, &l)) {
        planes = 1, row[0] = (ptrdiff_t)l.bytes * f->width;
    } else if (f->format == RVM_FORMAT_NV12) {
        planes = 2, row[0] = f->width, row[1] = 2 * cw;
    } else if (f->format == RVM_FORMAT_I420) {
        planes = 3, row[0] = f->width, row[1] = row[2] = cw;
    } else if (f->format == RVM_FORMAT_F32_PLANAR) {
        planes = 3, row[0] = row[1] = row[2] = (ptrdiff_t)sizeof(float) * f->width;
    } else {
        FAIL("unknown pixel format %d", (int)f->format);
    }
    if (planes > 1 && f->format != RVM_FORMAT_F32_PLANAR) {
        if (f->matrix != RVM_MATRIX_BT601 && f->matrix != RVM_MATRIX_BT709)
            FAIL("unknown YUV matrix %d", (int)f->matrix);
        if (f->range != RVM_RANGE_LIMITED && f->range != RVM_RANGE_FULL)
            FAIL("unknown YUV range %d", (int)f->range);
    }
    for (int p = 0; p < planes; p++) {
        if (!f->planes[p])
            FAIL("no data for plane %d", p);
        if (f->strides[p] < row[p])
            FAIL("plane %d: row stride %td is less than a row's %td bytes", p, f->strides[p],
                 row[p]);
        if (f->format == RVM_FORMAT_F32_PLANAR &&
            ((uintptr_t)f->planes[p] % sizeof(float) || f->strides[p] % sizeof(float)))
            FAIL("plane %d: float data or stride not aligned to 4 bytes", p);
    }
    return 0;
#undef FAIL
}

/* YUV -> RGB: R = Y + rv*V, G = Y - gu*U - gv*V, B = Y + bu*U, with Y and U, V scaled to
 * 0..1 and -0.5..0.5 by the range. */
typedef struct {
    float y_off, y_scale, c_scale;
    float rv, gu, gv, bu;
} yuv_coeffs;

static yuv_coeffs coefficients(const rvm_frame *f)
{
    yuv_coeffs c;
    if (f->range == RVM_RANGE_FULL)
        c.y_off = 0.f, c.y_scale = 1.f / 255.f, c.c_scale = 1.f / 255.f;
    else
        c.y_off = 16.f, c.y_scale = 1.f / 219.f, c.c_scale = 1.f / 224.f;
    /* from Kr, Kb: rv = 2(1-Kr), bu = 2(1-Kb), gu = bu*Kb/Kg, gv = rv*Kr/Kg */
    double kr = f->matrix == RVM_MATRIX_BT709 ? 0.2126 : 0.299;
    double kb = f->matrix == RVM_MATRIX_BT709 ? 0.0722 : 0.114;
    double kg = 1.0 - kr - kb;
    c.rv = (float)(2.0 * (1.0 - kr));
    c.bu = (float)(2.0 * (1.0 - kb));
    c.gu = (float)(2.0 * (1.0 - kb) * kb / kg);
    c.gv = (float)(2.0 * (1.0 - kr) * kr / kg);
    return c;
}

static inline float clamp01(float v) { return v < 0.f ? 0.f : v > 1.f ? 1.f : v; }

/* Each chroma sample serves its 2x2 block of luma pixels. */
RVM_CLONES_V4_V3 static void yuv_row(const uint8_t *restrict yr, const uint8_t *restrict ur,
                                     const uint8_t *restrict vr, int cstep, int width,
                                     yuv_coeffs c, float *restrict r, float *restrict g,
                                     float *restrict b)
{
    for (int x = 0; x < width; x++) {
        float y = ((float)yr[x] - c.y_off) * c.y_scale;
        float u = ((float)ur[cstep * (x >> 1)] - 128.f) * c.c_scale;
        float v = ((float)vr[cstep * (x >> 1)] - 128.f) * c.c_scale;
        r[x] = clamp01(y + c.rv * v);
        g[x] = clamp01(y - c.gu * u - c.gv * v);
        b[x] = clamp01(y + c.bu * u);
    }
}

RVM_CLONES_V4_V3 static void packed_row(const uint8_t *restrict p, packed_layout l, int width,
                                        float *restrict r, float *restrict g, float *restrict b)
{
    if (l.bytes == 3 && l.r == 0 && l.g == 1 && l.b == 2) {
        /* RGB24, the common case (and what the command gives): constant offsets, which the
         * compiler vectorises */
        for (int x = 0; x < width; x++) {
            r[x] = (float)p[3 * x] / 255.f;
            g[x] = (float)p[3 * x + 1] / 255.f;
            b[x] = (float)p[3 * x + 2] / 255.f;
        }
        return;
    }
    for (int x = 0; x < width; x++) {
        const uint8_t *px = p + (size_t)l.bytes * x;
        r[x] = (float)px[l.r] / 255.f;
        g[x] = (float)px[l.g] / 255.f;
        b[x] = (float)px[l.b] / 255.f;
    }
}

void rvmi_frame_row(const rvm_frame *f, int y, float *buf, const float *rgb[3])
{
    float *r = buf, *g = buf + f->width, *b = buf + 2 * (size_t)f->width;
    rgb[0] = r, rgb[1] = g, rgb[2] = b;
    const uint8_t *const *pl = (const uint8_t *const *)f->planes;
    packed_layout l;
    if (packed(f->format, &l)) {
        packed_row(pl[0] + (ptrdiff_t)y * f->strides[0], l, f->width, r, g, b);
    } else if (f->format == RVM_FORMAT_NV12) {
        const uint8_t *uv = pl[1] + (ptrdiff_t)(y / 2) * f->strides[1];
        yuv_row(pl[0] + (ptrdiff_t)y * f->strides[0], uv, uv + 1, 2, f->width, coefficients(f),
                r, g, b);
    } else if (f->format == RVM_FORMAT_I420) {
        yuv_row(pl[0] + (ptrdiff_t)y * f->strides[0], pl[1] + (ptrdiff_t)(y / 2) * f->strides[1],
                pl[2] + (ptrdiff_t)(y / 2) * f->strides[2], 1, f->width, coefficients(f), r, g,
                b);
    } else { /* RVM_FORMAT_F32_PLANAR */
        for (int k = 0; k < 3; k++)
            rgb[k] = (const float *)(pl[k] + (ptrdiff_t)y * f->strides[k]);
    }
}
