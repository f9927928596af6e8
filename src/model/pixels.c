/* Input frames of every format (rvm_frame) as the network reads them: rows of floats.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "model/pixels.h"

#include <stdint.h>
#include <stdio.h>


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

/* The YUV -> RGB coefficients (rvmi_yuv_coeffs) of the frame's matrix and range. */
rvmi_yuv_coeffs rvmi_frame_coefficients(const rvm_frame *f)
{
    rvmi_yuv_coeffs c;
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

void rvmi_frame_row_part(const rvmi_kernels *k, const rvm_frame *f, int y, int x0, int n,
                         float *buf, const float *rgb[3])
{
    float *r = buf, *g = buf + n, *b = buf + 2 * (size_t)n;
    rgb[0] = r, rgb[1] = g, rgb[2] = b;
    const uint8_t *const *pl = (const uint8_t *const *)f->planes;
    packed_layout l;
    if (packed(f->format, &l)) {
        k->loops->packed_row(pl[0] + (ptrdiff_t)y * f->strides[0] + (ptrdiff_t)l.bytes * x0,
                             l.bytes, l.r, l.g, l.b, n, r, g, b);
    } else if (f->format == RVM_FORMAT_NV12) {
        const uint8_t *uv = pl[1] + (ptrdiff_t)(y / 2) * f->strides[1] + x0; /* 2 * (x0 / 2) */
        rvmi_yuv_coeffs c = rvmi_frame_coefficients(f);
        k->loops->yuv_row(pl[0] + (ptrdiff_t)y * f->strides[0] + x0, uv, uv + 1, 2, n, &c, r,
                          g, b);
    } else if (f->format == RVM_FORMAT_I420) {
        rvmi_yuv_coeffs c = rvmi_frame_coefficients(f);
        k->loops->yuv_row(pl[0] + (ptrdiff_t)y * f->strides[0] + x0,
                          pl[1] + (ptrdiff_t)(y / 2) * f->strides[1] + x0 / 2,
                          pl[2] + (ptrdiff_t)(y / 2) * f->strides[2] + x0 / 2, 1, n, &c, r, g,
                          b);
    } else { /* RVM_FORMAT_F32_PLANAR */
        for (int p = 0; p < 3; p++)
            rgb[p] = (const float *)(pl[p] + (ptrdiff_t)y * f->strides[p]) + x0;
    }
}

void rvmi_frame_row(const rvmi_kernels *k, const rvm_frame *f, int y, float *buf,
                    const float *rgb[3])
{
    rvmi_frame_row_part(k, f, y, 0, f->width, buf, rgb);
}
