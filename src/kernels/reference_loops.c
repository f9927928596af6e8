/* Plain C reference of the loop kernels (rvmi_loops and rvmi_frame_loops in kernels.h): one
 * element at a time, each written as its definition reads. Built without the vectoriser
 * (CMakeLists.txt), so RVM_ISA=reference runs no vector code in these loops; loops.c and
 * frames.c are tested against them (tests/test_kernels.c).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <math.h>

#include "kernels/kernels.h"

static float *at(const rvmi_view *v, int y, int x, int k)
{
    return v->data + ((size_t)y * v->w + x) * v->stride + k;
}

static float bilinear(float a, float b, float c, float d, rvmi_lerp ly, rvmi_lerp lx)
{
    return ly.l0 * (lx.l0 * a + lx.l1 * b) + ly.l1 * (lx.l0 * c + lx.l1 * d);
}

static void ref_resize(const rvmi_view *in, const rvmi_view *out, float sy, const rvmi_lerp *lx,
                       int first, int y0, int y1)
{
    for (int y = y0; y < y1; y++) {
        rvmi_lerp ly = rvmi_lerp_at(sy, y, in->h);
        for (int x = 0; x < out->w; x++)
            for (int k = 0; k < in->c; k++)
                *at(out, y - first, x, k) = bilinear(*at(in, ly.i0, lx[x].i0, k), *at(in, ly.i0, lx[x].i1, k),
                                             *at(in, ly.i1, lx[x].i0, k), *at(in, ly.i1, lx[x].i1, k),
                                             ly, lx[x]);
    }
}

static void ref_input_rgb24(const uint8_t *rgb, ptrdiff_t stride, int height, const float *lut,
                            float sy, const rvmi_lerp *lx, const rvmi_view *out, int y0, int y1)
{
    for (int y = y0; y < y1; y++) {
        rvmi_lerp ly = lx ? rvmi_lerp_at(sy, y, height) : (rvmi_lerp){y, y, 1.f, 0.f};
        const uint8_t *r0 = rgb + (ptrdiff_t)ly.i0 * stride, *r1 = rgb + (ptrdiff_t)ly.i1 * stride;
        for (int x = 0; x < out->w; x++)
            for (int k = 0; k < 3; k++) {
                if (!lx) {
                    *at(out, y, x, k) = lut[r0[3 * x + k]];
                    continue;
                }
                int i0 = 3 * lx[x].i0 + k, i1 = 3 * lx[x].i1 + k;
                *at(out, y, x, k) = bilinear(lut[r0[i0]], lut[r0[i1]], lut[r1[i0]], lut[r1[i1]], ly, lx[x]);
            }
    }
}

static void ref_input_planes(const float *const p0[3], const float *const p1[3], float l0,
                             float l1, const rvmi_lerp *lx, const rvmi_view *out, int y)
{
    rvmi_lerp ly = {0, 0, l0, l1};
    for (int x = 0; x < out->w; x++)
        for (int k = 0; k < 3; k++)
            *at(out, y, x, k) = !lx ? p0[k][x]
                                    : bilinear(p0[k][lx[x].i0], p0[k][lx[x].i1], p1[k][lx[x].i0],
                                               p1[k][lx[x].i1], ly, lx[x]);
}

static void ref_channel_mean(const rvmi_view *in, double *sum, float *mean)
{
    for (int k = 0; k < in->c; k++) {
        sum[k] = 0;
        for (int y = 0; y < in->h; y++)
            for (int x = 0; x < in->w; x++)
                sum[k] += *at(in, y, x, k);
        mean[k] = (float)(sum[k] / ((double)in->h * in->w));
    }
}

static void ref_scale_channels(const rvmi_view *v, const float *scale, int y0, int y1)
{
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < v->w; x++)
            for (int k = 0; k < v->c; k++)
                *at(v, y, x, k) *= scale[k];
}

static void ref_copy_channels(const rvmi_view *from, const rvmi_view *to, int y0, int y1)
{
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < from->w; x++)
            for (int k = 0; k < from->c; k++)
                *at(to, y, x, k) = *at(from, y, x, k);
}

static void ref_multiply(const rvmi_view *a, const rvmi_view *b, const rvmi_view *out, int y0,
                         int y1)
{
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < b->w; x++)
            for (int k = 0; k < b->c; k++)
                *at(out, y, x, k) = *at(a, y, x, k) * *at(b, y, x, k);
}

static void ref_avgpool2(const rvmi_view *in, const rvmi_view *out, int y0, int y1)
{
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < out->w; x++) {
            int ny = 2 * y + 1 < in->h ? 2 : 1, nx = 2 * x + 1 < in->w ? 2 : 1;
            for (int k = 0; k < in->c; k++) {
                float sum = 0.f;
                for (int dy = 0; dy < ny; dy++)
                    for (int dx = 0; dx < nx; dx++)
                        sum += *at(in, 2 * y + dy, 2 * x + dx, k);
                *at(out, y, x, k) = sum / (float)(ny * nx);
            }
        }
}

static void ref_gru_update(const rvmi_view *rz, const rvmi_view *c, const rvmi_view *state,
                           const rvmi_view *out, int y0, int y1)
{
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < state->w; x++)
            for (int k = 0; k < state->c; k++) {
                float z = *at(rz, y, x, state->c + k), *h = at(state, y, x, k);
                *h = (1.f - z) * *h + z * *at(c, y, x, k);
                *at(out, y, x, k) = *h;
            }
}

static void ref_guide(const rvmi_view *rgb, const rvmi_view *proj, const rvmi_view *out, int y0,
                      int y1)
{
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < out->w; x++) {
            float g[4] = {*at(rgb, y, x, 0), *at(rgb, y, x, 1), *at(rgb, y, x, 2), 0.f};
            g[3] = (g[0] + g[1] + g[2]) / 3.f;
            for (int k = 0; k < 4; k++) {
                float p = *at(proj, y, x, k);
                *at(out, y, x, k) = g[k];
                *at(out, y, x, 4 + k) = p;
                *at(out, y, x, 8 + k) = g[k] * p;
                *at(out, y, x, 12 + k) = g[k] * g[k];
            }
        }
}

/* in at (y, x), zero outside the image */
static float padded(const rvmi_view *in, int y, int x, int k)
{
    return y < 0 || y >= in->h || x < 0 || x >= in->w ? 0.f : *at(in, y, x, k);
}

static void ref_box_horizontal(const rvmi_view *in, const rvmi_view *out, int y0, int y1)
{
    const float third = 1.f / 3.f;
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < in->w; x++)
            for (int k = 0; k < in->c; k++)
                *at(out, y, x, k) = padded(in, y, x - 1, k) * third + padded(in, y, x, k) * third +
                                    padded(in, y, x + 1, k) * third;
}

static void ref_box_vertical(const rvmi_view *in, const rvmi_view *out, int y0, int y1)
{
    const float third = 1.f / 3.f;
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < in->w; x++)
            for (int k = 0; k < in->c; k++)
                *at(out, y, x, k) = padded(in, y - 1, x, k) * third + padded(in, y, x, k) * third +
                                    padded(in, y + 1, x, k) * third;
}

/* box's channels: mean(x) 0..3, mean(y) 4..7, mean(xy) 8..11, mean(xx) 12..15 */
static float covariance(const rvmi_view *box, int y, int x, int k)
{
    return *at(box, y, x, 8 + k) - *at(box, y, x, k) * *at(box, y, x, 4 + k);
}

static float variance(const rvmi_view *box, int y, int x, int k)
{
    return *at(box, y, x, 12 + k) - *at(box, y, x, k) * *at(box, y, x, k);
}

static void ref_cov_var(const rvmi_view *box, const rvmi_view *out, int y0, int y1)
{
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < box->w; x++)
            for (int k = 0; k < 4; k++) {
                *at(out, y, x, k) = covariance(box, y, x, k);
                *at(out, y, x, 4 + k) = variance(box, y, x, k);
            }
}

static void ref_fast_a(const rvmi_view *box, const rvmi_view *out, int y0, int y1)
{
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < box->w; x++)
            for (int k = 0; k < 4; k++)
                *at(out, y, x, k) = covariance(box, y, x, k) / (variance(box, y, x, k) + 1e-5f);
}

static void ref_offset(const rvmi_view *box, const rvmi_view *ab, int y0, int y1)
{
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < box->w; x++)
            for (int k = 0; k < 4; k++)
                *at(ab, y, x, 4 + k) = *at(box, y, x, 4 + k) - *at(ab, y, x, k) * *at(box, y, x, k);
}

static void ref_upsample_row(const float *src, const rvmi_lerp *lx, int width, float *planes,
                             size_t plane)
{
    for (int c = 0; c < 8; c++)
        for (int x = 0; x < width; x++)
            planes[c * plane + x] = lx[x].l0 * src[8 * lx[x].i0 + c] + lx[x].l1 * src[8 * lx[x].i1 + c];
}

static float clamp01(float v) { return v < 0.f ? 0.f : v > 1.f ? 1.f : v; }

static void ref_yuv_row(const uint8_t *yr, const uint8_t *ur, const uint8_t *vr, int cstep,
                        int width, const rvmi_yuv_coeffs *c, float *r, float *g, float *b)
{
    for (int x = 0; x < width; x++) {
        float y = ((float)yr[x] - c->y_off) * c->y_scale;
        float u = ((float)ur[cstep * (x / 2)] - 128.f) * c->c_scale;
        float v = ((float)vr[cstep * (x / 2)] - 128.f) * c->c_scale;
        r[x] = clamp01(y + c->rv * v);
        g[x] = clamp01(y - c->gu * u - c->gv * v);
        b[x] = clamp01(y + c->bu * u);
    }
}

static void ref_packed_row(const uint8_t *p, int bytes, int ro, int go, int bo, int width,
                           float *r, float *g, float *b)
{
    for (int x = 0; x < width; x++) {
        r[x] = (float)p[(size_t)bytes * x + ro] / 255.f;
        g[x] = (float)p[(size_t)bytes * x + go] / 255.f;
        b[x] = (float)p[(size_t)bytes * x + bo] / 255.f;
    }
}

const rvmi_loops rvmi_loops_reference = {
    .resize = ref_resize,
    .input_rgb24 = ref_input_rgb24,
    .input_planes = ref_input_planes,
    .channel_mean = ref_channel_mean,
    .scale_channels = ref_scale_channels,
    .copy_channels = ref_copy_channels,
    .multiply = ref_multiply,
    .avgpool2 = ref_avgpool2,
    .gru_update = ref_gru_update,
    .guide = ref_guide,
    .box_horizontal = ref_box_horizontal,
    .box_vertical = ref_box_vertical,
    .cov_var = ref_cov_var,
    .fast_a = ref_fast_a,
    .offset = ref_offset,
    .upsample_row = ref_upsample_row,
    .yuv_row = ref_yuv_row,
    .packed_row = ref_packed_row,
};

/* ---- 8- and 16-bit frames ---- */

/* round(x * 255 / 65535), exactly */
static uint8_t to8(uint16_t x) { return (uint8_t)(((uint32_t)x * 255u + 32767u) / 65535u); }

static void ref_u16_to_u8(const uint16_t *in, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = to8(in[i]);
}

static void ref_gray_to_luma(const uint8_t *in, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(16 + (219 * in[i] + 127) / 255);
}

static void ref_pack_rgba8(const uint16_t *fgr, const uint16_t *pha, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t a = to8(pha[i]);
        for (int k = 0; k < 3; k++)
            out[4 * i + k] = a ? to8(fgr[3 * i + k]) : 0;
        out[4 * i + 3] = a;
    }
}

static void ref_pack_rgba16(const uint16_t *fgr, const uint16_t *pha, size_t n, uint16_t *out)
{
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < 3; k++)
            out[4 * i + k] = pha[i] ? fgr[3 * i + k] : 0;
        out[4 * i + 3] = pha[i];
    }
}

static void ref_pack_rgba8_from8(const uint8_t *fgr, const uint8_t *pha, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < 3; k++)
            out[4 * i + k] = pha[i] ? fgr[3 * i + k] : 0;
        out[4 * i + 3] = pha[i];
    }
}

/* fgr * a + bg * (1 - a) on the 16-bit scale, a = pha / 65535 (as a product with 1/65535f;
 * 8-bit results likewise take x / 257 as x * (1/257f)) */
static float over(uint16_t fgr, uint16_t pha, uint8_t bg)
{
    float a = (float)pha * (1.0f / 65535.0f);
    return (float)fgr * a + (float)bg * 257.0f * (1.0f - a);
}

static void ref_over8(const uint16_t *fgr, const uint16_t *pha, const uint8_t *bg, size_t n,
                      uint8_t *out)
{
    for (size_t i = 0; i < 3 * n; i++)
        out[i] = (uint8_t)(over(fgr[i], pha[i / 3], bg[i]) * (1.0f / 257.0f) + 0.5f);
}

static void ref_over16(const uint16_t *fgr, const uint16_t *pha, const uint8_t *bg, size_t n,
                       uint16_t *out)
{
    for (size_t i = 0; i < 3 * n; i++)
        out[i] = (uint16_t)(over(fgr[i], pha[i / 3], bg[i]) + 0.5f);
}

/* 4:2:0 chroma at pixel x of a row: vertically 3/4 of the near chroma row and 1/4 of the far
 * one, horizontally 3/4 of the sample x falls in and 1/4 of its neighbour on x's side (the
 * edge sample repeated). */
static float chroma(const uint8_t *near, const uint8_t *far, int x, int width)
{
    int cw = (width + 1) / 2, i = x / 2, j = x % 2 ? i + 1 : i - 1;
    j = j < 0 ? 0 : j >= cw ? cw - 1 : j;
    float ci = 0.75f * (float)near[i] + 0.25f * (float)far[i];
    float cj = 0.75f * (float)near[j] + 0.25f * (float)far[j];
    return 0.75f * ci + 0.25f * cj;
}

static uint8_t round_u8(float v)
{
    return v <= 0.f ? 0 : v >= 254.5f ? 255 : (uint8_t)(int32_t)(v + 0.5f);
}

static void ref_yuv420_row(const uint8_t *yr, const uint8_t *u0, const uint8_t *u1,
                           const uint8_t *v0, const uint8_t *v1, int width,
                           const rvmi_yuv_matrix *m, uint8_t *rgb, float *tmp)
{
    (void)tmp;
    for (int x = 0; x < width; x++) {
        float y = ((float)yr[x] - m->y_off) * m->y_mul;
        float u = (chroma(u0, u1, x, width) - 128.0f) * m->c_mul;
        float v = (chroma(v0, v1, x, width) - 128.0f) * m->c_mul;
        rgb[3 * x] = round_u8(y + m->cr_r * v);
        rgb[3 * x + 1] = round_u8(y + m->cb_g * u + m->cr_g * v);
        rgb[3 * x + 2] = round_u8(y + m->cb_b * u);
    }
}

/* BT.709 limited range, swscale's integer coefficients (scaled by 2^15). */
static uint8_t ref_luma(const uint8_t *p)
{
    int32_t t = (5983 * p[0] + 20127 * p[1] + 2032 * p[2] + (16 << 15) + 256) >> 9;
    return (uint8_t)((t + 32) >> 6);
}

static void ref_rgb24_to_yuv420(const uint8_t *rgb0, const uint8_t *rgb1, int width,
                                uint8_t *y0, uint8_t *y1, uint8_t *u, uint8_t *v)
{
    for (int x = 0; x < width; x++) {
        y0[x] = ref_luma(rgb0 + 3 * x);
        y1[x] = ref_luma(rgb1 + 3 * x);
    }
    for (int i = 0; i < (width + 1) / 2; i++) {
        int32_t s[3] = {0, 0, 0}; /* twice the sums of R, G, B over the 2x2 pixels */
        for (int d = 0; d <= 1; d++) {
            int x = 2 * i + d < width ? 2 * i + d : width - 1;
            for (int c = 0; c < 3; c++)
                s[c] += 2 * (rgb0[3 * x + c] + rgb1[3 * x + c]);
        }
        /* (sum / 8) * coefficient / 2^15 + 128, rounded: one shift by 18 */
        u[i] = (uint8_t)((-3298 * s[0] - 11094 * s[1] + 14392 * s[2] + (128 << 18) + (1 << 17)) >> 18);
        v[i] = (uint8_t)((14392 * s[0] - 13073 * s[1] - 1320 * s[2] + (128 << 18) + (1 << 17)) >> 18);
    }
}

void rvmi_hdr_tone_row_reference(const uint16_t *r, const uint16_t *g, const uint16_t *b,
                                 int step, int w, const rvmi_hdr_tone *t, uint8_t *dst)
{
    const float *mx = t->mx, knee = t->knee, m = t->m;
    for (int x = 0; x < w; x++) {
        size_t i = (size_t)x * step;
        float c[3] = {t->lin[r[i]], t->lin[g[i]], t->lin[b[i]]};
        if (t->hlg) {
            /* OOTF: display light = 1000 * Ys^0.2 * scene light (BT.2100), in units of
             * reference white (203 cd/m2). */
            float ys = 0.2627f * c[0] + 0.6780f * c[1] + 0.0593f * c[2];
            float g = (float)(1000.0 / 203.0) * (ys > 0 ? powf(ys, 0.2f) : 0);
            c[0] *= g, c[1] *= g, c[2] *= g;
        }
        float o[3];
        for (int k = 0; k < 3; k++) {
            float v = mx[3 * k] * c[0] + mx[3 * k + 1] * c[1] + mx[3 * k + 2] * c[2];
            o[k] = v > 0 ? v : 0;
        }
        float top = fmaxf(o[0], fmaxf(o[1], o[2]));
        if (top > knee) {
            /* Above the knee: an extended Reinhard curve taking the peak to 1 with slope 1
             * at the knee; the channels scale together. */
            float e = (top - knee) / (1 - knee);
            float mapped = knee + (1 - knee) * e * (1 + e / (m * m)) / (1 + e);
            float s = fminf(mapped, 1.0f) / top;
            o[0] *= s, o[1] *= s, o[2] *= s;
        }
        for (int k = 0; k < 3; k++) {
            int i = (int)(o[k] * 65535.0f + 0.5f);
            dst[3 * x + k] = t->oetf[i < 0 ? 0 : i > 65535 ? 65535 : i];
        }
    }
}

const rvmi_frame_loops rvmi_frames_reference = {
    .u16_to_u8 = ref_u16_to_u8,
    .pack_rgba8 = ref_pack_rgba8,
    .pack_rgba16 = ref_pack_rgba16,
    .pack_rgba8_from8 = ref_pack_rgba8_from8,
    .over8 = ref_over8,
    .over16 = ref_over16,
    .gray_to_luma = ref_gray_to_luma,
    .yuv420_row = ref_yuv420_row,
    .rgb24_to_yuv420 = ref_rgb24_to_yuv420,
    .hdr_tone_row = rvmi_hdr_tone_row_reference,
};
